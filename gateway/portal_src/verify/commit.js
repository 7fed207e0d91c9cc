// CometBFT finality in the browser (audit/commit.py and gateway/chain/commit.py, a third
// implementation judged by the same vectors): a commit certifies an Ethereum block when the
// CometBFT header of the next height hashes (RFC 6962 Merkle root of its 14 protobuf-encoded
// fields, CometBFT `types.Header.Hash`) to the block id the commit signs, its app hash is the
// block's hash, the validator set hashes to its validators_hash and equals the pinned genesis
// set, and valid Ed25519 precommits (`CanonicalVote` sign bytes, RFC 8032) carry more than 2/3 of
// the voting power. SHA-256 and Ed25519 come from @noble (audited); only encodings are written here.

import { sha256 } from "@noble/hashes/sha2.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { base64 } from "@scure/base";
import { concatBytes, equalBytes, toHex, utf8 } from "./bytes.js";
import { CheckFailed } from "./errors.js";

const PRECOMMIT = 2n;
const FLAG_COMMIT = 2;
const MASK64 = (1n << 64n) - 1n;

/** CommitError's sub-check (header, validators, signature, quorum, app-hash, format) and reason. */
const fail = (check, reason) => new CheckFailed("commit", `${check}: ${reason}`);

function uvarint(value) {
  let v = BigInt(value);
  const out = [];
  for (;;) {
    const byte = Number(v & 0x7fn);
    v >>= 7n;
    out.push(byte | (v ? 0x80 : 0));
    if (!v) return Uint8Array.from(out);
  }
}

const varintField = (n, value) => (BigInt(value) === 0n ? new Uint8Array() : concatBytes(uvarint(n << 3), uvarint(BigInt(value) & MASK64)));
const bytesField = (n, value, always = false) => (!value.length && !always ? new Uint8Array() : concatBytes(uvarint((n << 3) | 2), uvarint(value.length), value));

function sfixed64Field(n, value) {
  const v = BigInt(value) & MASK64;
  if (v === 0n) return new Uint8Array();
  const le = new Uint8Array(8);
  for (let i = 0; i < 8; i++) le[i] = Number((v >> BigInt(8 * i)) & 0xffn);
  return concatBytes(uvarint((n << 3) | 1), le);
}

function hexBytes(value) {
  if (!value) return new Uint8Array();
  const text = String(value);
  if (!/^([0-9a-fA-F]{2})*$/.test(text)) throw fail("format", `not hex: ${text.slice(0, 40)}`);
  return Uint8Array.from(text.match(/../g) ?? [], (h) => parseInt(h, 16));
}

function timestamp(text) {
  const match = /^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z$/.exec(String(text));
  if (!match) throw fail("header", `time ${String(text)} is not RFC 3339 UTC`);
  const [, y, mo, d, h, mi, s, frac] = match;
  const seconds = BigInt(Date.UTC(+y, +mo - 1, +d, +h, +mi, +s) / 1000);
  const nanos = frac ? BigInt((frac + "000000000").slice(0, 9)) : 0n;
  return concatBytes(varintField(1, seconds), varintField(2, nanos));
}

function blockId(id) {
  const parts = id?.parts ?? {};
  return concatBytes(bytesField(1, hexBytes(id?.hash)),
    bytesField(2, concatBytes(varintField(1, BigInt(parts.total ?? 0)), bytesField(2, hexBytes(parts.hash))), true));
}

export function merkleRoot(items) {
  if (!items.length) return sha256(new Uint8Array());
  if (items.length === 1) return sha256(concatBytes(Uint8Array.of(0), items[0]));
  let split = 1;
  while (split * 2 < items.length) split *= 2;
  return sha256(concatBytes(Uint8Array.of(1), merkleRoot(items.slice(0, split)), merkleRoot(items.slice(split))));
}

export function headerHash(header) {
  const version = header.version ?? {};
  const fields = [
    concatBytes(varintField(1, BigInt(version.block ?? 0)), varintField(2, BigInt(version.app ?? 0))),
    bytesField(1, utf8(String(header.chain_id))),
    varintField(1, BigInt(header.height)),
    timestamp(header.time),
    blockId(header.last_block_id ?? {}),
    ...["last_commit_hash", "data_hash", "validators_hash", "next_validators_hash", "consensus_hash", "app_hash",
      "last_results_hash", "evidence_hash", "proposer_address"].map((name) => bytesField(1, hexBytes(header[name]))),
  ];
  return merkleRoot(fields);
}

/** Validators from CometBFT JSON (genesis `power` or /validators `voting_power`). */
export function parseValidators(entries) {
  if (!Array.isArray(entries)) throw fail("validators", "expected a list of validators");
  return entries.map((entry) => {
    const key = entry?.pub_key;
    if (key?.type !== "tendermint/PubKeyEd25519") throw fail("validators", `unsupported validator key type ${String(key?.type)}`);
    let publicKey;
    try {
      publicKey = base64.decode(String(key.value));
    } catch {
      throw fail("validators", "a validator key is not base64");
    }
    const address = sha256(publicKey).slice(0, 20);
    if (entry.address && !equalBytes(hexBytes(entry.address), address)) {
      throw fail("validators", `validator ${entry.address} is not the address of its key`);
    }
    return { address, publicKey, power: BigInt(entry.voting_power ?? entry.power ?? 0) };
  });
}

export function validatorSetHash(validators) {
  return merkleRoot(validators.map((v) => concatBytes(bytesField(1, bytesField(1, v.publicKey)), varintField(2, v.power))));
}

/** The same (key, power) pairs: the set a commit names against the set the verifier pinned. */
export function sameValidators(a, b) {
  const key = (v) => `${toHex(v.publicKey)}:${v.power}`;
  const left = new Set(a.map(key));
  const right = new Set(b.map(key));
  return left.size === right.size && [...left].every((k) => right.has(k));
}

function signBytes(chainId, height, round, id, time) {
  const body = concatBytes(varintField(1, PRECOMMIT), sfixed64Field(2, height), sfixed64Field(3, round),
    bytesField(4, blockId(id), true), bytesField(5, timestamp(time), true), bytesField(6, utf8(chainId)));
  return concatBytes(uvarint(body.length), body);
}

/**
 * Check that `certificate` (cityledger_getCommit's answer) certifies the block `blockHash` under
 * the pinned `trusted` validators; returns {height, signedPower, totalPower, signers}. Throws
 * CheckFailed("commit", "<sub-check>: reason").
 */
export function verifyCommit(certificate, blockHash, trusted) {
  const signed = certificate?.signedHeader;
  const header = signed?.header;
  const commit = signed?.commit;
  if (!header || !commit) throw fail("format", "the proof carries no CometBFT commit");
  const computed = headerHash(header);
  if (!equalBytes(hexBytes(commit.block_id?.hash), computed)) {
    throw fail("header", `the commit signs block 0x${String(commit.block_id?.hash)}, the header hashes to ${toHex(computed)}`);
  }
  const height = BigInt(header.height);
  if (BigInt(commit.height) !== height) throw fail("header", `the commit is for height ${commit.height}, the header ${height}`);
  const appHash = hexBytes(header.app_hash);
  if (!equalBytes(appHash, blockHash)) throw fail("app-hash", `the header's app hash is ${toHex(appHash)}, the block's hash ${toHex(blockHash)}`);
  const validators = parseValidators(certificate.validators);
  if (!equalBytes(validatorSetHash(validators), hexBytes(header.validators_hash))) {
    throw fail("validators", "the validator set does not hash to the header's validators_hash");
  }
  if (trusted && !sameValidators(validators, trusted)) throw fail("validators", "the validator set differs from the trusted (genesis) set");
  const byAddress = new Map(validators.map((v) => [toHex(v.address), v]));
  const total = validators.reduce((sum, v) => sum + v.power, 0n);
  let signedPower = 0n;
  const signers = [];
  (commit.signatures ?? []).forEach((sig, index) => {
    if (Number(sig.block_id_flag ?? 0) !== FLAG_COMMIT) return;
    const address = toHex(hexBytes(sig.validator_address));
    const validator = byAddress.get(address);
    if (!validator) throw fail("signature", `signature ${index} is by ${address}, not a validator`);
    if (signers.includes(address)) throw fail("signature", `validator ${address} signed twice`);
    const message = signBytes(String(header.chain_id), height, BigInt(commit.round ?? 0), commit.block_id, sig.timestamp);
    let ok = false;
    try {
      ok = ed25519.verify(base64.decode(String(sig.signature ?? "")), message, validator.publicKey);
    } catch {
      ok = false;
    }
    if (!ok) throw fail("signature", `signature ${index} by validator ${address} does not verify`);
    signedPower += validator.power;
    signers.push(address);
  });
  if (3n * signedPower <= 2n * total) throw fail("quorum", `signatures carry ${signedPower} of ${total} voting power; more than 2/3 is needed`);
  return { height: Number(height), signedPower: Number(signedPower), totalPower: Number(total), signers };
}
