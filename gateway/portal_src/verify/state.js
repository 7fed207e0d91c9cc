// EIP-1186 account and storage proofs against a trusted state root, with the rules of
// audit/state_proof.py: the account leaf is RLP [nonce, balance, storageRoot, codeHash] (Yellow
// Paper 4.1) and must equal the claimed fields (an absent account is the empty account); each
// storage slot is walked under keccak256(slot as 32 bytes) from the proven storage root and holds
// RLP of a non-zero integer without leading zeros (zero is absence).

import { bigIntToBytes, bytesToBigInt, equalBytes, keccak256, parseHex, toHex } from "./bytes.js";
import { ProofError } from "./errors.js";
import { EMPTY_TRIE_ROOT, verifyProof } from "./mpt.js";
import { isBytes, rlpDecode } from "./rlp.js";

const EMPTY_CODE_HASH = keccak256(new Uint8Array());

function field(doc, name) {
  if (doc === null || typeof doc !== "object" || !(name in doc)) throw new ProofError(`${name} is missing (EIP-1186 requires it)`);
  return doc[name];
}

function data(value, name, length) {
  if (typeof value !== "string" || !/^0[xX]/.test(value)) throw new ProofError(`${name} must be 0x-hex DATA`);
  const bytes = parseHex(value.slice(2));
  if (bytes === null) throw new ProofError(`${name} is not hex`);
  if (length !== undefined && bytes.length !== length) throw new ProofError(`${name} must be ${length} bytes, got ${bytes.length}`);
  return bytes;
}

function quantity(value, name) {
  if (typeof value === "number" && Number.isInteger(value) && value >= 0) return BigInt(value);
  if (typeof value === "string" && /^0[xX][0-9a-fA-F]+$/.test(value)) return BigInt("0x" + value.slice(2));
  throw new ProofError(`${name} must be a 0x-hex QUANTITY`);
}

function slotKey(value, name) {
  let number;
  if (typeof value === "number" && Number.isInteger(value)) number = BigInt(value);
  else if (typeof value === "string" && /^0[xX][0-9a-fA-F]{1,64}$/.test(value)) number = BigInt("0x" + value.slice(2));
  else throw new ProofError(`${name} is not a hex word of 1 to 32 bytes`);
  if (number < 0n || number >= 1n << 256n) throw new ProofError(`${name} is not a 256-bit storage slot`);
  return bigIntToBytes(number, 32);
}

function nodes(value, name) {
  if (!Array.isArray(value)) throw new ProofError(`${name} must be a list of 0x-hex RLP-encoded trie nodes`);
  return value.map((node, i) => data(node, `${name}[${i}]`));
}

function scalar(bytes, name) {
  if (bytes.length && bytes[0] === 0) throw new ProofError(`the account ${name} has leading zero bytes`);
  return bytesToBigInt(bytes);
}

/**
 * Verify an eth_getProof answer against `stateRoot`; returns {address, exists, storage: Map(slotHex -> BigInt)}.
 * Throws ProofError for a malformed answer or a claim the proof does not support.
 */
export function verifyAccountProof(stateRoot, response) {
  if (!isBytes(stateRoot) || stateRoot.length !== 32) throw new ProofError(`a state root is 32 bytes, got ${stateRoot?.length}`);
  const address = data(field(response, "address"), "address", 20);
  const claimed = [
    quantity(field(response, "nonce"), "nonce"),
    quantity(field(response, "balance"), "balance"),
    data(field(response, "storageHash"), "storageHash", 32),
    data(field(response, "codeHash"), "codeHash", 32),
  ];
  const accountProof = nodes(field(response, "accountProof"), "accountProof");
  const entries = field(response, "storageProof");
  if (!Array.isArray(entries)) throw new ProofError("storageProof must be a list of {key, value, proof} objects");
  const proven = verifyProof(stateRoot, keccak256(address), accountProof);
  let fact;
  if (proven === null) {
    fact = [0n, 0n, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH];
  } else {
    let items;
    try {
      items = rlpDecode(proven);
    } catch (error) {
      throw new ProofError(`the account leaf is not canonical RLP (${error.message})`);
    }
    if (!Array.isArray(items) || items.length !== 4 || !items.every(isBytes)) {
      throw new ProofError("the account leaf is not a list of 4 byte strings [nonce, balance, storageRoot, codeHash]");
    }
    const [nonce, balance, storageRoot, codeHash] = items;
    if (storageRoot.length !== 32 || codeHash.length !== 32) throw new ProofError("the account's storageRoot or codeHash is not 32 bytes");
    fact = [scalar(nonce, "nonce"), scalar(balance, "balance"), storageRoot, codeHash];
  }
  const names = ["nonce", "balance", "storageHash", "codeHash"];
  const differences = names.filter((name, i) => (typeof fact[i] === "bigint" ? fact[i] !== claimed[i] : !equalBytes(fact[i], claimed[i])));
  if (differences.length) throw new ProofError(`the response claims ${differences.join(", ")} the proof does not prove (EIP-1186, Yellow Paper 4.1)`);

  const storage = new Map();
  entries.forEach((entry, i) => {
    const name = `storageProof[${i}]`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) throw new ProofError(`${name} must be an object with key, value and proof`);
    const slot = slotKey(field(entry, "key"), `${name}.key`);
    const value = quantity(field(entry, "value"), `${name}.value`);
    const proof = nodes(field(entry, "proof"), `${name}.proof`);
    if (value >= 1n << 256n) throw new ProofError(`${name}.value exceeds 256 bits`);
    const leaf = verifyProof(claimed[2], keccak256(slot), proof);
    let provenValue = 0n;
    if (leaf !== null) {
      let item;
      try {
        item = rlpDecode(leaf);
      } catch (error) {
        throw new ProofError(`the storage leaf is not canonical RLP (${error.message})`);
      }
      if (!isBytes(item) || !item.length || item[0] === 0 || item.length > 32) {
        throw new ProofError(`the storage leaf ${toHex(leaf)} is not RLP of a non-zero 256-bit integer`);
      }
      provenValue = bytesToBigInt(item);
    }
    if (provenValue !== value) throw new ProofError(`${name}: the response claims ${value} where the proof proves ${provenValue}`);
    storage.set(toHex(slot), value);
  });
  return { address, exists: proven !== null, storage };
}

/** The proven value of `slot` (a BigInt); throws ProofError when the answer did not prove it. */
export function slotValue(account, slot) {
  const key = toHex(bigIntToBytes(slot, 32));
  if (!account.storage.has(key)) throw new ProofError(`slot ${key} was not in the verified response`);
  return account.storage.get(key);
}
