// Credit batches (contracts/README.md "Batch leaves" and "Batch tree: positional"): the leaf hash
// of an entry (OpenZeppelin StandardMerkleTree style: keccak256(keccak256(abi.encode(13 words))))
// and the positional tree: depth ceil(log2(n)), zero-padded positions, inner node
// keccak256(left ‖ right) with no sorting, and a proof of index i as the siblings from the leaf up.

import { bigIntToBytes, concatBytes, equalBytes, keccak256, parseHex, pyStr, toHex } from "./bytes.js";
import { CheckFailed } from "./errors.js";
import { pyEqual } from "./abi.js";

const ZERO = new Uint8Array(32);

function uintWord(value) {
  const v = BigInt(value);
  if (v < 0n || v >= 1n << 256n) throw new RangeError(`${value} does not fit a uint256`);
  return bigIntToBytes(v, 32);
}

function leftWord(hex, size) {
  const bytes = typeof hex === "string" ? parseHex(hex) : hex;
  if (bytes === null || bytes.length !== size) throw new RangeError(`expected ${size} bytes`);
  const word = new Uint8Array(32);
  word.set(bytes);
  return word;
}

/** uscc as bytes18: the 18 ASCII characters, or 0x-hex of 18 bytes. */
function usccWord(uscc) {
  if (typeof uscc === "string" && !uscc.startsWith("0x")) return leftWord(new TextEncoder().encode(uscc), 18);
  return leftWord(uscc, 18);
}

/** The leaf hash of a batch entry (fields named as the BatchLeaf struct). */
export function batchLeafHash(leaf) {
  const encoded = concatBytes(
    uintWord(leaf.issuerMemberId), uintWord(leaf.category), uintWord(leaf.indexInBatch), uintWord(leaf.isPublic ? 1 : 0),
    usccWord(leaf.uscc), uintWord(leaf.severity), uintWord(leaf.effectiveDate), uintWord(leaf.expiryDate),
    uintWord(leaf.amount), leftWord(leaf.summaryHash, 32), leftWord(leaf.evidenceCidHash, 32),
    leftWord(leaf.subjectTag, 32), leftWord(leaf.commitment, 32),
  );
  return keccak256(keccak256(encoded));
}

const pair = (left, right) => keccak256(concatBytes(left, right));

/** The positional root over leaf hashes (README example: root(a,b,c) = H(H(a‖b) ‖ H(c‖0))). */
export function batchRoot(leaves) {
  if (!leaves.length) throw new RangeError("a batch has at least one entry");
  let level = leaves.slice();
  let width = 1;
  while (width < level.length) width *= 2;
  while (level.length < width) level.push(ZERO);
  while (level.length > 1) {
    const next = [];
    for (let i = 0; i < level.length; i += 2) next.push(pair(level[i], level[i + 1]));
    level = next;
  }
  return level[0];
}

/** The siblings of position `index`, leaf level first. */
export function batchPath(leaves, index) {
  let level = leaves.slice();
  let width = 1;
  while (width < level.length) width *= 2;
  while (level.length < width) level.push(ZERO);
  const path = [];
  let i = index;
  while (level.length > 1) {
    path.push(level[i ^ 1]);
    const next = [];
    for (let j = 0; j < level.length; j += 2) next.push(pair(level[j], level[j + 1]));
    level = next;
    i >>= 1;
  }
  return path;
}

/** Whether `path` leads from `leaf` at position `index` to `root`. */
export function verifyBatchPath(leaf, index, path, root) {
  if (index >= 2 ** path.length) return false;
  let node = leaf;
  path.forEach((sibling, k) => {
    node = ((index >> k) & 1) === 0 ? pair(node, sibling) : pair(sibling, node);
  });
  return equalBytes(node, root);
}

// ------------------------------------------------------------------ a bundle's batch entries
// audit/credit_batch.py `verify_entry`, check for check: an entry of a bundle's `batchEntries`
// verifies against the decoded arguments of its proven BatchAnchored event.

const LEAF_FIELDS = [["issuerMemberId", "uint256"], ["category", "uint8"], ["indexInBatch", "uint256"],
  ["isPublic", "bool"], ["uscc", "bytes18"], ["severity", "uint8"], ["effectiveDate", "uint64"],
  ["expiryDate", "uint64"], ["amount", "uint256"], ["summaryHash", "bytes32"], ["evidenceCidHash", "bytes32"],
  ["subjectTag", "bytes32"], ["commitment", "bytes32"]];
const USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
const ZERO32 = "0x" + "00".repeat(32);
const ZERO18 = "0x" + "00".repeat(18);

/** A leaf field's value as audit reads it (bytes as exact-length 0x-hex, integers non-negative). */
function leafValue(kind, value) {
  const shown = typeof value === "string" ? value.slice(0, 80) : JSON.stringify(value);
  if (kind === "bool") {
    if (typeof value !== "boolean") throw new CheckFailed("format", `expected true or false, got ${shown}`);
    return value;
  }
  if (kind.startsWith("bytes")) {
    const size = Number(kind.slice(5));
    const bytes = typeof value === "string" && value.startsWith("0x") && value.length === 2 + 2 * size ? parseHex(value) : null;
    if (bytes === null) throw new CheckFailed("format", `expected 0x and ${2 * size} hex digits, got ${shown}`);
    return bytes;
  }
  let parsed = -1n;
  if ((typeof value === "number" && Number.isInteger(value)) || (typeof value === "string" && /^\s*[+-]?[0-9]+\s*$/.test(value))) {
    parsed = BigInt(typeof value === "string" ? value.trim() : value);
  }
  const bits = BigInt(kind.slice(4));
  if (parsed < 0n || parsed >= 1n << bits) throw new CheckFailed("format", `expected a non-negative ${kind}, got ${shown}`);
  return parsed;
}

function usccValid(bytes) {
  const text = Array.from(bytes, (b) => (b < 128 ? String.fromCharCode(b) : "\uFFFD")).join("");
  if (text.length !== 18 || [...text].some((c) => !USCC_ALPHABET.includes(c))) return false;
  let total = 0;
  let weight = 1;
  for (let i = 0; i < 17; i++) {
    total += USCC_ALPHABET.indexOf(text[i]) * weight;
    weight = (weight * 3) % 31;
  }
  return USCC_ALPHABET[(31 - (total % 31)) % 31] === text[17];
}

const depthOf = (count) => (count <= 1n ? 0 : (count - 1n).toString(2).length);

/**
 * Check `entry` ({batchId, index, leaf, path}) against `anchored`, the decoded arguments of its
 * proven Credit.BatchAnchored event. Returns a summary; throws CheckFailed naming `format`,
 * `batch-anchor`, `batch-leaf` or `batch-path`.
 */
export function verifyBatchEntry(entry, anchored) {
  const leaf = entry.leaf;
  if (leaf === null || typeof leaf !== "object" || Array.isArray(leaf)) throw new CheckFailed("format", "the batch entry has no leaf");
  const names = Object.keys(leaf);
  if (names.length !== LEAF_FIELDS.length || !LEAF_FIELDS.every(([name]) => Object.hasOwn(leaf, name))) {
    throw new CheckFailed("format", "a leaf needs exactly the 13 BatchLeaf fields");
  }
  const values = Object.fromEntries(LEAF_FIELDS.map(([name, kind]) => [name, leafValue(kind, leaf[name])]));
  const computed = batchLeafHash(leaf);
  const count = BigInt(anchored.entryCount);
  const index = values.indexInBatch;
  if (values.issuerMemberId !== BigInt(anchored.issuerMemberId) || values.category !== BigInt(anchored.category)) {
    throw new CheckFailed("batch-anchor", `the leaf is issuer ${values.issuerMemberId} category ${values.category}; the batch was anchored by ${anchored.issuerMemberId} for category ${anchored.category}`);
  }
  if (!pyEqual(entry.batchId, anchored.batchId) || !pyEqual(entry.index, Number(index)) || index >= count) {
    throw new CheckFailed("batch-anchor", `entry ${pyStr(entry.batchId)}/${pyStr(entry.index)} with leaf index ${index} is not an entry of batch ${anchored.batchId} (${count} entries)`);
  }
  if (values.isPublic) {
    const expiry = values.expiryDate;
    if (!usccValid(values.uscc) || leaf.subjectTag !== ZERO32 || leaf.commitment !== ZERO32
        || (expiry !== 0n && expiry <= values.effectiveDate)) {
      throw new CheckFailed("batch-leaf", "the public leaf is not well formed (USCC, hashes or dates)");
    }
  } else if (leaf.subjectTag === ZERO32 || leaf.commitment === ZERO32 || leaf.uscc !== ZERO18) {
    throw new CheckFailed("batch-leaf", "the restricted leaf is not well formed");
  }
  const depth = depthOf(count);
  if (!Array.isArray(entry.path) || entry.path.length !== depth) {
    throw new CheckFailed("batch-path", `a batch of ${count} entries needs a path of ${depth} siblings`);
  }
  const path = entry.path.map((sibling) => leafValue("bytes32", sibling));
  let node = computed;
  let position = index;
  for (const sibling of path) {
    node = (position & 1n) === 0n ? pair(node, sibling) : pair(sibling, node);
    position >>= 1n;
  }
  if (toHex(node) !== String(anchored.merkleRoot)) {
    throw new CheckFailed("batch-path", `the leaf and path lead to ${toHex(node)}, the anchored root is ${anchored.merkleRoot}`);
  }
  return `leaf ${toHex(computed).slice(0, 18)}… at index ${index} of ${count} leads to the anchored root`;
}
