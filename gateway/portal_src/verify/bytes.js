// Byte helpers shared by the verifier: strict 0x-hex parsing, comparison, concatenation, and
// integer conversions. Hashes come from @noble/hashes (audited); nothing cryptographic is written here.

import { keccak_256 } from "@noble/hashes/sha3.js";

export const keccak256 = (data) => keccak_256(data);

const HEX = /^[0-9a-fA-F]*$/;

/** Parse hex (with or without 0x) into bytes; returns null for odd length or non-hex digits. */
export function parseHex(text) {
  if (typeof text !== "string") return null;
  const digits = text.startsWith("0x") || text.startsWith("0X") ? text.slice(2) : text;
  if (digits.length % 2 || !HEX.test(digits)) return null;
  const out = new Uint8Array(digits.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(digits.substr(2 * i, 2), 16);
  return out;
}

export function toHex(bytes) {
  let out = "0x";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}

export function equalBytes(a, b) {
  if (!(a instanceof Uint8Array) || !(b instanceof Uint8Array) || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

export function concatBytes(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Big-endian unsigned integer of a byte string, as a BigInt. */
export function bytesToBigInt(bytes) {
  let value = 0n;
  for (const b of bytes) value = (value << 8n) | BigInt(b);
  return value;
}

/** A non-negative BigInt as exactly `length` big-endian bytes (truncating high bytes, like a cast). */
export function bigIntToBytes(value, length) {
  const out = new Uint8Array(length);
  let v = value;
  for (let i = length - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Minimal big-endian bytes of a non-negative integer (RLP scalar form: 0 is empty). */
export function minimalBytes(value) {
  let v = BigInt(value);
  const out = [];
  while (v > 0n) {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  return Uint8Array.from(out);
}

export const utf8 = (text) => new TextEncoder().encode(text);

/** EIP-55 mixed-case checksum encoding of a 20-byte address. */
export function checksumAddress(address) {
  const lower = toHex(address).slice(2);
  const hash = toHex(keccak256(utf8(lower))).slice(2);
  let out = "0x";
  for (let i = 0; i < lower.length; i++) {
    out += parseInt(hash[i], 16) >= 8 ? lower[i].toUpperCase() : lower[i];
  }
  return out;
}

/** Python's str() of a JSON value, for subjects and details that must read as audit's do. */
export function pyStr(value) {
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return JSON.stringify(value);
}
