// The chain as a transparency log, checked in the browser as audit/tlog.py checks it (a port, with
// the same rules and check names; its module docstring has the formats):
// * RFC 6962 trees over block hashes (leaf i = hash of block i), inclusion proofs verified with
//   RFC 9162 section 2.1.3.2;
// * checkpoints (C2SP tlog-checkpoint) in signed notes (C2SP signed-note), signed by a sealer with
//   secp256k1 over the EIP-191 hash of the note text, key type 0xff "cityledger/secp256k1-eip191";
// * witness cosignatures (C2SP tlog-cosignature, Ed25519 cosignature/v1), counted when the key is
//   pinned by the auditor or bound (a statement the account signs, EIP-191) to an account of the
//   registry's witness set at the checkpoint.

import { sha256 } from "@noble/hashes/sha2.js";
import { ed25519 } from "@noble/curves/ed25519.js";
import { secp256k1 } from "@noble/curves/secp256k1.js";
import { base64 } from "@scure/base";
import { concatBytes, equalBytes, keccak256, parseHex, toHex, utf8 } from "./bytes.js";

export const SEALER_SIGNATURE_TYPE = concatBytes(Uint8Array.of(0xff), utf8("cityledger/secp256k1-eip191"));
export const COSIGNATURE_TYPE = Uint8Array.of(0x04);
export const BINDING_HEADER = "cityledger-witness-key/v1";
const EM_DASH = "\u2014 ";

/** A signed note, checkpoint, cosignature, vkey or key binding that is malformed or does not verify. */
export class NoteError extends Error {
  constructor(check, reason) {
    super(`${check}: ${reason}`);
    this.name = "NoteError";
    this.check = check;
    this.reason = reason;
  }
}

/** An RFC 6962 proof that does not verify; kind "inclusion". */
export class TreeProofError extends Error {
  constructor(kind, reason) {
    super(`${kind} proof: ${reason}`);
    this.name = "TreeProofError";
    this.kind = kind;
    this.reason = reason;
  }
}

const b64 = (bytes) => base64.encode(bytes);

function unb64(text, what, check) {
  try {
    return base64.decode(text);
  } catch (error) {
    throw new NoteError(check, `${what} is not base64: ${error.message}`);
  }
}

// ----------------------------------------------------------------------------------- RFC 6962
export const leafHash = (leaf) => sha256(concatBytes(Uint8Array.of(0), leaf));
export const nodeHash = (left, right) => sha256(concatBytes(Uint8Array.of(1), left, right));

/** RFC 9162 2.1.3.2: `leaf` is leaf `index` of the tree of `size` leaves with root `root`. */
export function verifyInclusion(leaf, index, size, proof, root) {
  if (!(index >= 0 && index < size)) throw new TreeProofError("inclusion", `leaf index ${index} is not below the tree size ${size}`);
  let fn = BigInt(index);
  let sn = BigInt(size - 1);
  let r = leafHash(leaf);
  for (const p of proof) {
    if (sn === 0n) throw new TreeProofError("inclusion", `the proof has ${proof.length} hashes, more than a tree of ${size} needs`);
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1n) === 0n) {
        while ((fn & 1n) === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new TreeProofError("inclusion", `the proof has ${proof.length} hashes, fewer than a tree of ${size} needs`);
  if (!equalBytes(r, root)) throw new TreeProofError("inclusion", `the path leads to root ${b64(r)}, the checkpoint's root is ${b64(root)}`);
}

// ---------------------------------------------------------------------------- signed notes
export function eip191Hash(message) {
  return keccak256(concatBytes(utf8(`\x19Ethereum Signed Message:\n${message.length}`), message));
}

/** The address that made `signature` (r ‖ s ‖ v, v in {0, 1, 27, 28}) over the EIP-191 hash of `message`. */
export function recoverEip191(message, signature) {
  if (signature.length !== 65) throw new Error(`a secp256k1 signature is 65 bytes, got ${signature.length}`);
  let v = signature[64];
  if (v >= 27) v -= 27;
  if (v > 1) throw new Error(`the recovery byte is ${signature[64]}`);
  let publicKey;
  try {
    publicKey = secp256k1.Signature.fromBytes(signature.subarray(0, 64), "compact").addRecoveryBit(v)
      .recoverPublicKey(eip191Hash(message)).toBytes(false);
  } catch (error) {
    throw new Error(`the signature recovers no key: ${error.message}`);
  }
  return keccak256(publicKey.subarray(1)).subarray(12);
}

/** Parse a signed note: text (ending in a newline), a blank line, signature lines "— name base64". */
export function parseNote(wire, check = "checkpoint") {
  if (typeof wire !== "string") wire = String(wire ?? "");
  for (const c of wire) {
    if (c.codePointAt(0) < 0x20 && c !== "\n") throw new NoteError(check, "a signed note contains no control characters other than newline");
  }
  const cut = wire.lastIndexOf("\n\n");
  if (cut < 0) throw new NoteError(check, "a signed note has a blank line between its text and its signatures");
  const text = wire.slice(0, cut + 1);
  const lines = wire.slice(cut + 2);
  if (!lines.endsWith("\n") || !lines.trim()) throw new NoteError(check, "a signed note has at least one signature line, each ending in a newline");
  const signatures = [];
  for (const line of lines.slice(0, -1).split("\n")) {
    if (!line.startsWith(EM_DASH)) throw new NoteError(check, `a signature line starts with an em dash and a space: ${line.slice(0, 40)}`);
    const rest = line.slice(EM_DASH.length);
    const space = rest.indexOf(" ");
    const name = space < 0 ? rest : rest.slice(0, space);
    const encoded = space < 0 ? "" : rest.slice(space + 1);
    if (!name || encoded.includes(" ") || !encoded) throw new NoteError(check, `a signature line is '— <key name> <base64>': ${line.slice(0, 60)}`);
    const raw = unb64(encoded, `the signature of ${name}`, check);
    if (raw.length < 5) throw new NoteError(check, `the signature of ${name} is shorter than a key ID and a signature`);
    signatures.push({ name, keyId: raw.subarray(0, 4), signature: raw.subarray(4) });
  }
  if (signatures.length > 100) throw new NoteError(check, `${signatures.length} signatures; at most 100 are accepted`);
  return { text, signatures };
}

/** signed-note's key ID: SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4]. */
export const keyId = (name, type, publicKey) => sha256(concatBytes(utf8(name + "\n"), type, publicKey)).subarray(0, 4);

/** A checkpoint's note text: origin, tree size, base64 root (tlog-checkpoint "Note text"). */
export function parseCheckpoint(text) {
  const lines = text.split("\n");
  if (lines.length < 4 || lines[lines.length - 1] !== "" || lines.slice(0, -1).some((l) => !l)) {
    throw new NoteError("checkpoint", "a checkpoint is at least three non-empty lines, each ending in a newline");
  }
  const [origin, sizeText, rootText] = lines;
  if (origin.includes(" ") || origin.includes("+")) throw new NoteError("checkpoint", `the origin ${origin} contains a space or a plus`);
  if (!/^[0-9]+$/.test(sizeText) || (sizeText !== "0" && sizeText.startsWith("0"))) {
    throw new NoteError("checkpoint", `the tree size ${sizeText} is not a decimal without leading zeroes`);
  }
  const root = unb64(rootText, "the root hash", "checkpoint");
  if (root.length !== 32) throw new NoteError("checkpoint", `the root hash is ${root.length} bytes, not 32`);
  return { origin, size: Number(sizeText), root };
}

/** (chainId, genesis hash) of a CityLedger origin "cityledger/<chain id>/0x<genesis hash>". */
export function originChain(origin) {
  const parts = origin.split("/");
  const hash = parts.length === 3 && parts[2].startsWith("0x") && parts[2].length === 66 ? parseHex(parts[2].slice(2)) : null;
  if (parts[0] !== "cityledger" || hash === null || !/^[+-]?[0-9]+$/.test(parts[1] ?? "")) {
    throw new NoteError("checkpoint", `the origin ${origin} is not cityledger/<chain id>/0x<genesis hash>`);
  }
  return { chainId: Number(parts[1]), genesisHash: hash };
}

export const sealerKeyId = (origin, address) => keyId(origin, SEALER_SIGNATURE_TYPE, address);

/** The sealer (of `sealers`) whose signature on the note verifies; NoteError("checkpoint") if none. */
export function verifySealerSignature(note, sealers) {
  const point = parseCheckpoint(note.text);
  const known = new Map(sealers.map((s) => [toHex(sealerKeyId(point.origin, s)), s]));
  let verified = null;
  for (const line of note.signatures) {
    const sealer = known.get(toHex(line.keyId));
    if (line.name !== point.origin || !sealer) continue;
    let signer;
    try {
      signer = recoverEip191(utf8(note.text), line.signature);
    } catch (error) {
      throw new NoteError("checkpoint", `the signature for sealer ${toHex(sealer)} is malformed: ${error.message}`);
    }
    if (!equalBytes(signer, sealer)) throw new NoteError("checkpoint", `the signature with the key ID of sealer ${toHex(sealer)} was made by ${toHex(signer)}`);
    verified = sealer;
  }
  if (verified === null) {
    throw new NoteError("checkpoint", `no signature by a sealer in force (${sealers.map(toHex).join(", ") || "none"}) on the checkpoint of size ${point.size}`);
  }
  return verified;
}

// --------------------------------------------------------------------------- cosignatures
/** A witness key from a vkey "<name>+<hex key ID>+<base64(0x04 ‖ Ed25519 key)>". */
export function parseVkey(text) {
  const trimmed = String(text).trim();
  const first = trimmed.indexOf("+");
  const second = first < 0 ? -1 : trimmed.indexOf("+", first + 1);
  const parts = second < 0 ? [trimmed] : [trimmed.slice(0, first), trimmed.slice(first + 1, second), trimmed.slice(second + 1)];
  if (parts.length !== 3 || !parts[0] || /\s/.test(parts[0])) throw new NoteError("cosignature", `a witness vkey is <name>+<key ID>+<base64 key>: ${trimmed.slice(0, 60)}`);
  const raw = unb64(parts[2], "the vkey's key", "cosignature");
  if (raw.length !== 33 || raw[0] !== 0x04) throw new NoteError("cosignature", "a witness vkey holds type 0x04 and a 32-byte Ed25519 key");
  const key = witnessKey(parts[0], raw.subarray(1));
  if (parts[1].toLowerCase() !== toHex(key.keyId).slice(2)) throw new NoteError("cosignature", `the vkey's key ID ${parts[1]} is not ${toHex(key.keyId).slice(2)}`);
  return key;
}

function witnessKey(name, publicKey) {
  const id = keyId(name, COSIGNATURE_TYPE, publicKey);
  return { name, publicKey, keyId: id, vkey: `${name}+${toHex(id).slice(2)}+${b64(concatBytes(COSIGNATURE_TYPE, publicKey))}` };
}

export const cosignedMessage = (noteText, timestamp) => utf8(`cosignature/v1\ntime ${timestamp}\n${noteText}`);

/** Check a cosignature line made with `key`; returns its timestamp. */
export function verifyCosignature(noteText, line, key) {
  if (line.name !== key.name || !equalBytes(line.keyId, key.keyId)) throw new NoteError("cosignature", `the line of ${line.name} is not by the key ${key.vkey}`);
  if (line.signature.length !== 72) throw new NoteError("cosignature", `a cosignature is 8 + 64 bytes, got ${line.signature.length}`);
  let timestamp = 0n;
  for (const b of line.signature.subarray(0, 8)) timestamp = (timestamp << 8n) | BigInt(b);
  if (timestamp >= 2n ** 63n) throw new NoteError("cosignature", "the cosignature's timestamp exceeds 2^63 - 1");
  let ok = false;
  try {
    ok = ed25519.verify(line.signature.subarray(8), cosignedMessage(noteText, timestamp), key.publicKey, { zip215: false });
  } catch {
    ok = false;
  }
  if (!ok) throw new NoteError("cosignature", `the cosignature of ${key.name} does not verify`);
  return timestamp;
}

/** A witness account's signed statement binding its cosigning key on an origin. */
export function parseBinding(doc) {
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new NoteError("cosignature", "a key binding is an object {origin, account, vkey, signature}");
  for (const field of ["origin", "account", "vkey", "signature"]) {
    if (!(field in doc)) throw new NoteError("cosignature", `a key binding is an object {origin, account, vkey, signature}: no ${field}`);
  }
  const account = parseHex(String(doc.account).slice(2));
  const signature = parseHex(String(doc.signature).slice(2));
  if (account === null || signature === null) throw new NoteError("cosignature", "a key binding is an object {origin, account, vkey, signature}: not hex");
  return { origin: String(doc.origin), account, key: parseVkey(String(doc.vkey)), signature };
}

const bindingStatement = (b) => `${BINDING_HEADER}\norigin ${b.origin}\naccount ${toHex(b.account)}\nkey ${b.key.vkey}\n`;

function verifyBinding(binding) {
  let signer;
  try {
    signer = recoverEip191(utf8(bindingStatement(binding)), binding.signature);
  } catch (error) {
    throw new NoteError("cosignature", `the key binding of ${binding.key.name} is malformed: ${error.message}`);
  }
  if (!equalBytes(signer, binding.account)) {
    throw new NoteError("cosignature", `the key binding of ${binding.key.name} is signed by ${toHex(signer)}, not by the account ${toHex(binding.account)} it names`);
  }
}

/**
 * Classify every non-sealer line of a checkpoint note (audit/tlog.py check_cosignatures): counted
 * when it verifies with a pinned key or a key bound to an account of `witnessAccounts`; each
 * witness counts once. Returns {counted: [[name, who]], failed: [[name, reason]]}.
 */
export function checkCosignatures(note, pinned, bindings, witnessAccounts, isSealerLine) {
  const origin = parseCheckpoint(note.text).origin;
  const ident = (name, id) => `${name} ${toHex(id)}`;
  const byId = new Map(pinned.map((k) => [ident(k.name, k.keyId), ["pinned", k]]));
  const rejected = new Map();
  for (const binding of bindings) {
    const id = ident(binding.key.name, binding.key.keyId);
    try {
      if (binding.origin !== origin) throw new NoteError("cosignature", `the key binding of ${binding.key.name} is for ${binding.origin}, not ${origin}`);
      verifyBinding(binding);
    } catch (error) {
      if (!(error instanceof NoteError)) throw error;
      rejected.set(id, error.reason);
      continue;
    }
    if (witnessAccounts !== null && !witnessAccounts.some((a) => equalBytes(a, binding.account))) {
      if (!rejected.has(id)) rejected.set(id, `the key of ${binding.key.name} is bound to ${toHex(binding.account)}, which is not in the registry's witness set at the checkpoint`);
      continue;
    }
    if (!byId.has(id)) byId.set(id, [toHex(binding.account), binding.key]);
  }
  const counted = new Map();
  const failed = [];
  for (const line of note.signatures) {
    if (isSealerLine(line)) continue;
    const id = ident(line.name, line.keyId);
    if (!byId.has(id)) {
      failed.push([line.name, rejected.get(id) ?? `the key of ${line.name} is neither pinned nor bound to a witness`]);
      continue;
    }
    const [who, key] = byId.get(id);
    try {
      verifyCosignature(note.text, line, key);
    } catch (error) {
      if (!(error instanceof NoteError)) throw error;
      failed.push([line.name, error.reason]);
      continue;
    }
    const slot = who !== "pinned" ? who : key.vkey;
    if (!counted.has(slot)) counted.set(slot, [line.name, who]);
  }
  return { counted: [...counted.values()], failed };
}
