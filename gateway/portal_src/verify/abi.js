// Event logs decoded with the Solidity ABI (docs.soliditylang.org "Contract ABI Specification"):
// static words, dynamic bytes/strings, arrays (T[] and T[k]) and tuples, head/tail layout, with
// the strictness of eth_abi (zero padding, bool 0/1, UTF-8 strings) so that audit and browser agree.
// Values are rendered in the bundle's JSON convention (gateway/schemas/evidence.schema.json):
// checksummed addresses (EIP-55), 0x-hex bytes, integers as numbers strictly between -2^53 and
// 2^53 and decimal strings beyond, tuples as objects by component name.

import { bytesToBigInt, checksumAddress, equalBytes, keccak256, toHex, utf8 } from "./bytes.js";

const SAFE = 2n ** 53n;
const WORD = 32;

/** The canonical type string of an ABI parameter (tuples spelled out), as in event signatures. */
export function abiType(param) {
  const kind = param.type;
  if (typeof kind !== "string") throw new TypeError("an ABI parameter needs a type");
  if (kind.startsWith("tuple")) {
    if (!Array.isArray(param.components)) throw new TypeError("a tuple parameter needs components");
    return `(${param.components.map(abiType).join(",")})${kind.slice(5)}`;
  }
  return kind;
}

/** Whether an indexed parameter of this type is stored as a hash in its topic. */
export function indexedAsHash(param) {
  const kind = param.type;
  return kind === "string" || kind === "bytes" || kind.endsWith("]") || kind.startsWith("tuple");
}

class AbiError extends Error {}

function arrayParts(kind) {
  // "T[3]" -> ["T", 3]; "T[]" -> ["T", null]; else null
  if (!kind.endsWith("]")) return null;
  const open = kind.lastIndexOf("[");
  const size = kind.slice(open + 1, -1);
  if (size !== "" && !/^[0-9]+$/.test(size)) throw new AbiError(`bad array type ${kind}`);
  return [kind.slice(0, open), size === "" ? null : Number(size)];
}

const inner = (param, kind) => ({ ...param, type: kind });

function isDynamic(param) {
  const kind = param.type;
  const array = arrayParts(kind);
  if (array) return array[1] === null || isDynamic(inner(param, array[0]));
  if (kind === "string" || kind === "bytes") return true;
  if (kind === "tuple") return param.components.some(isDynamic);
  return false;
}

function headSize(param) {
  if (isDynamic(param)) return WORD;
  const array = arrayParts(param.type);
  if (array) return array[1] * headSize(inner(param, array[0]));
  if (param.type === "tuple") return param.components.reduce((n, c) => n + headSize(c), 0);
  return WORD;
}

function word(buf, at) {
  if (at < 0 || at + WORD > buf.length) throw new AbiError(`needs 32 bytes at ${at}, the data has ${buf.length}`);
  return buf.subarray(at, at + WORD);
}

function allZero(bytes) {
  return bytes.every((b) => b === 0);
}

function decodeStatic(kind, w) {
  let m;
  if ((m = /^uint([0-9]*)$/.exec(kind))) {
    const bits = BigInt(m[1] || 256);
    const value = bytesToBigInt(w);
    if (value >> bits) throw new AbiError(`${kind} value has non-zero padding`);
    return value;
  }
  if ((m = /^int([0-9]*)$/.exec(kind))) {
    const bits = BigInt(m[1] || 256);
    let value = bytesToBigInt(w);
    if (value >> 255n) value -= 1n << 256n;
    const limit = 1n << (bits - 1n);
    if (value < -limit || value >= limit) throw new AbiError(`${kind} value is not sign-extended`);
    return value;
  }
  if (kind === "address") {
    if (!allZero(w.subarray(0, 12))) throw new AbiError("address has non-zero padding");
    return { address: w.slice(12) };
  }
  if (kind === "bool") {
    if (!allZero(w.subarray(0, 31)) || w[31] > 1) throw new AbiError("bool is neither 0 nor 1");
    return w[31] === 1;
  }
  if ((m = /^bytes([0-9]+)$/.exec(kind))) {
    const size = Number(m[1]);
    if (size < 1 || size > 32) throw new AbiError(`bad type ${kind}`);
    if (!allZero(w.subarray(size))) throw new AbiError(`${kind} has non-zero padding`);
    return { bytes: w.slice(0, size) };
  }
  throw new AbiError(`unsupported ABI type ${kind}`);
}

function decodeTuple(params, buf) {
  const out = [];
  let at = 0;
  for (const param of params) {
    if (isDynamic(param)) {
      const offset = bytesToBigInt(word(buf, at));
      if (offset > BigInt(buf.length)) throw new AbiError(`offset ${offset} points past the data`);
      out.push(decodeValue(param, buf.subarray(Number(offset))));
    } else {
      out.push(decodeValue(param, buf.subarray(at)));
    }
    at += headSize(param);
  }
  return out;
}

function decodeValue(param, buf) {
  const kind = param.type;
  const array = arrayParts(kind);
  if (array) {
    const [element, fixed] = array;
    let count = fixed;
    let body = buf;
    if (count === null) {
      const n = bytesToBigInt(word(buf, 0));
      if (n > BigInt(buf.length)) throw new AbiError(`array length ${n} exceeds the data`);
      count = Number(n);
      body = buf.subarray(WORD);
    }
    return decodeTuple(Array.from({ length: count }, () => inner(param, element)), body);
  }
  if (kind === "tuple") return decodeTuple(param.components, buf);
  if (kind === "bytes" || kind === "string") {
    const length = bytesToBigInt(word(buf, 0));
    if (length > BigInt(buf.length)) throw new AbiError(`${kind} length ${length} exceeds the data`);
    const n = Number(length);
    const padded = Math.ceil(n / WORD) * WORD;
    if (WORD + padded > buf.length) throw new AbiError(`${kind} runs past the data`);
    if (!allZero(buf.subarray(WORD + n, WORD + padded))) throw new AbiError(`${kind} has non-zero padding`);
    const content = buf.slice(WORD, WORD + n);
    if (kind === "bytes") return { bytes: content };
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(content);
    } catch {
      throw new AbiError("string is not UTF-8");
    }
  }
  return decodeStatic(kind, word(buf, 0));
}

/** A decoded value in the bundle's JSON convention (see the module comment). */
export function jsonValue(param, value) {
  const kind = param.type;
  if (kind.endsWith("]")) {
    const element = inner(param, kind.slice(0, kind.lastIndexOf("[")));
    return value.map((v) => jsonValue(element, v));
  }
  if (kind === "tuple") {
    const out = {};
    param.components.forEach((c, i) => { out[c.name] = jsonValue(c, value[i]); });
    return out;
  }
  if (kind === "address") return checksumAddress(value.address);
  if (kind.startsWith("bytes")) return toHex(value.bytes);
  if (kind.startsWith("uint") || kind.startsWith("int")) return -SAFE < value && value < SAFE ? Number(value) : value.toString();
  return value;
}

/** Decode the non-indexed parameters from log data; throws AbiError on data the ABI does not fit. */
export function decodeData(params, data) {
  return decodeTuple(params, data);
}

export function decodeTopic(param, topic) {
  return decodeValue(param, topic);
}

export { AbiError };

/** Equality as Python's == sees JSON values (True == 1, key order ignored), as audit compares args. */
export function pyEqual(a, b) {
  const numeric = (v) => typeof v === "number" || typeof v === "boolean";
  if (numeric(a) && numeric(b)) return Number(a) === Number(b);
  if (a === null || b === null || a === undefined || b === undefined) return (a ?? null) === (b ?? null);
  if (typeof a === "string" || typeof b === "string") return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => pyEqual(x, b[i]));
  }
  if (typeof a === "object" && typeof b === "object") {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && pyEqual(a[k], b[k]));
  }
  return false;
}

/** keccak256 of an event signature: its topic0. */
export const topicOf = (signature) => keccak256(utf8(signature));
export { equalBytes };
