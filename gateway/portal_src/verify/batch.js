// Credit batches (contracts/README.md "Batch leaves" and "Batch tree: positional"): the leaf hash
// of an entry (OpenZeppelin StandardMerkleTree style: keccak256(keccak256(abi.encode(13 words))))
// and the positional tree: depth ceil(log2(n)), zero-padded positions, inner node
// keccak256(left ‖ right) with no sorting, and a proof of index i as the siblings from the leaf up.

import { bigIntToBytes, concatBytes, equalBytes, keccak256, parseHex } from "./bytes.js";

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
