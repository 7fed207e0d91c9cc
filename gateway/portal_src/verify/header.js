// Block headers: decoded from their RLP and hashed (Yellow Paper 4.3), and the Clique-layout seal
// recovered (EIP-225): extraData is 32 bytes of vanity then a 65-byte secp256k1 signature r ‖ s ‖ v
// (v = 0 or 1) over keccak256(RLP(header with extraData cut to the vanity)). Recovery uses
// @noble/curves (audited); the address is the last 20 bytes of keccak256 of the public key.

import { secp256k1 } from "@noble/curves/secp256k1.js";
import { bytesToBigInt, keccak256, toHex } from "./bytes.js";
import { CheckFailed } from "./errors.js";
import { isBytes, rlpDecode, rlpEncode } from "./rlp.js";

const VANITY = 32;
const SEAL = 65;
const HEADER_FIELDS = 15;

export class Header {
  constructor(raw, fields) {
    this.raw = raw;
    this.fields = fields;
    this._hash = null;
  }

  get hash() {
    this._hash ??= keccak256(this.raw);
    return this._hash;
  }

  /** The block number as a Number (blocks stay far below 2^53). */
  get number() {
    return Number(bytesToBigInt(this.fields[8]));
  }

  get parentHash() { return this.fields[0]; }
  get stateRoot() { return this.fields[3]; }
  get transactionsRoot() { return this.fields[4]; }
  get receiptsRoot() { return this.fields[5]; }
  get timestamp() { return Number(bytesToBigInt(this.fields[11])); }
  get extraData() { return this.fields[12]; }

  /** The 20-byte address that sealed this header; throws CheckFailed("seal") when there is none. */
  sealer() {
    const extra = this.fields[12];
    if (extra.length !== VANITY + SEAL) {
      throw new CheckFailed("seal", `extraData is ${extra.length} bytes; a sealed header has ${VANITY + SEAL}`);
    }
    const unsealed = this.fields.slice();
    unsealed[12] = extra.subarray(0, VANITY);
    const digest = keccak256(rlpEncode(unsealed));
    const seal = extra.subarray(VANITY);
    const recovery = seal[64];
    let publicKey;
    try {
      if (recovery > 1) throw new Error(`the recovery byte is ${recovery}, not 0 or 1`);
      const signature = secp256k1.Signature.fromBytes(seal.subarray(0, 64), "compact").addRecoveryBit(recovery);
      publicKey = signature.recoverPublicKey(digest).toBytes(false);
    } catch (error) {
      throw new CheckFailed("seal", `the seal does not recover a key: ${error.message}`);
    }
    return keccak256(publicKey.subarray(1)).subarray(12);
  }
}

/** Decode a header; throws CheckFailed(check) unless it is an RLP list of at least 15 byte strings. */
export function decodeHeader(raw, check = "header-hash") {
  let fields;
  try {
    fields = rlpDecode(raw);
  } catch (error) {
    throw new CheckFailed(check, `the header is not RLP: ${error.message}`);
  }
  if (!Array.isArray(fields) || fields.length < HEADER_FIELDS || !fields.every(isBytes)) {
    throw new CheckFailed(check, `the header is not a list of at least ${HEADER_FIELDS} byte strings`);
  }
  return new Header(raw, fields);
}

export { toHex };
