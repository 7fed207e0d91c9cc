// Merkle-Patricia-trie proofs (Yellow Paper appendix D; the proof list of EIP-1186), walked with
// the same rules as audit/mpt.py so that the browser and `cityledger audit` reach the same verdict
// on every proof, valid or not: each hashed reference must equal keccak256 of the next listed node,
// nodes under 32 bytes are embedded (never listed), an extension always leads to a branch, and the
// walk must use every listed node. Written here rather than taken from @ethereumjs/mpt because its
// verifyMerkleProof is more lenient on those shape rules (and pulls in @ethereumjs/util), and a
// verifier that accepts what the audit refuses would break the "same verdicts" contract.

import { equalBytes, keccak256, parseHex, toHex } from "./bytes.js";
import { ProofError } from "./errors.js";
import { isBytes, rlpDecode, rlpEncode } from "./rlp.js";

export const EMPTY_TRIE_ROOT = parseHex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421");
const HASH_LENGTH = 32;
const BRANCH_WIDTH = 17;

function nibbles(bytes) {
  const out = [];
  for (const b of bytes) out.push(b >> 4, b & 0x0f);
  return out;
}

/** Hex-prefix decoding (Yellow Paper appendix C): [nibbles, isLeaf]. */
export function decodeHexPrefix(encoded) {
  if (!encoded.length) throw new Error("hex-prefix path is empty; appendix C always writes a flag byte");
  const flag = encoded[0] >> 4;
  const low = encoded[0] & 0x0f;
  if (flag > 3) throw new Error(`hex-prefix flag nibble is ${flag}; appendix C allows only 0 to 3`);
  const rest = nibbles(encoded.subarray(1));
  if (flag & 1) return [[low, ...rest], Boolean(flag & 2)];
  if (low !== 0) throw new Error(`even-length hex-prefix path pads with nibble ${low}; appendix C pads with 0`);
  return [rest, Boolean(flag & 2)];
}

const FOUND = Symbol("found");

class Walk {
  constructor(root, key, proof) {
    this.root = root;
    this.proof = proof;
    this.path = nibbles(key);
    this.offset = 0;
    this.index = -1;
  }

  get depth() {
    return Math.max(this.index, 0);
  }

  malformed(reason) {
    return new ProofError(`proof node ${this.depth}: ${reason}`);
  }

  fetch(reference) {
    this.index += 1;
    if (this.index >= this.proof.length) {
      throw new ProofError(`the walk needs node ${toHex(reference)} after ${this.offset} of ${this.path.length} key nibbles, but the proof has only ${this.proof.length} node(s)`);
    }
    const encoded = this.proof[this.index];
    const actual = keccak256(encoded);
    if (!equalBytes(actual, reference)) {
      const referrer = this.index === 0 ? "the trusted root is" : `proof node ${this.index - 1} references`;
      throw new ProofError(`keccak256(proof[${this.index}]) = ${toHex(actual)} but ${referrer} ${toHex(reference)}`);
    }
    if (this.index > 0 && encoded.length < HASH_LENGTH) {
      throw this.malformed(`proof[${this.index}] is ${encoded.length} bytes yet referenced by hash; appendix D embeds nodes under ${HASH_LENGTH} bytes in their parent`);
    }
    try {
      return rlpDecode(encoded);
    } catch (error) {
      throw this.malformed(`proof[${this.index}] is not canonical RLP (${error.message})`);
    }
  }

  checkReference(item, where, allowEmpty) {
    if (!isBytes(item)) {
      const size = rlpEncode(item).length;
      if (size >= HASH_LENGTH) throw this.malformed(`${where} embeds a ${size}-byte node; appendix D embeds only nodes under ${HASH_LENGTH} bytes`);
    } else if (!(item.length === HASH_LENGTH || (allowEmpty && item.length === 0))) {
      throw this.malformed(`${where} is a ${item.length}-byte string; a child reference is a ${HASH_LENGTH}-byte hash or an embedded node`);
    }
  }

  run() {
    if (!isBytes(this.root) || this.root.length !== HASH_LENGTH) {
      throw new ProofError(`a trie root is ${HASH_LENGTH} bytes, got ${this.root?.length}`);
    }
    if (!this.proof.length && equalBytes(this.root, EMPTY_TRIE_ROOT)) return null;
    let node = this.fetch(this.root);
    if (isBytes(node) && node.length === 0) return this.finish(null);
    let afterExtension = false;
    for (;;) {
      if (isBytes(node)) throw this.malformed(`node in proof[${this.depth}] is an RLP string; appendix D nodes are lists`);
      let reference;
      if (node.length === BRANCH_WIDTH) {
        reference = this.branch(node);
        afterExtension = false;
      } else if (node.length === 2) {
        if (afterExtension) throw this.malformed(`an extension in proof[${this.depth}] leads to another extension or a leaf`);
        [reference, afterExtension] = this.shortNode(node);
      } else {
        throw this.malformed(`node in proof[${this.depth}] has ${node.length} items; appendix D nodes have 2 or ${BRANCH_WIDTH}`);
      }
      if (reference && reference[FOUND]) return this.finish(reference.value);
      node = isBytes(reference) ? this.fetch(reference) : reference;
    }
  }

  branch(node) {
    for (let nibble = 0; nibble < 16; nibble++) {
      this.checkReference(node[nibble], `branch slot ${nibble.toString(16)} in proof[${this.depth}]`, true);
    }
    const value = node[16];
    if (!isBytes(value)) throw this.malformed(`branch value in proof[${this.depth}] is a list, not a byte string`);
    if (this.offset === this.path.length) return { [FOUND]: true, value: value.length ? value : null };
    const child = node[this.path[this.offset]];
    this.offset += 1;
    if (isBytes(child) && child.length === 0) return { [FOUND]: true, value: null };
    return child;
  }

  shortNode(node) {
    const [encodedPath, second] = node;
    if (!isBytes(encodedPath)) throw this.malformed(`path of the 2-item node in proof[${this.depth}] is a list`);
    let path;
    let isLeaf;
    try {
      [path, isLeaf] = decodeHexPrefix(encodedPath);
    } catch (error) {
      throw this.malformed(`node in proof[${this.depth}]: ${error.message}`);
    }
    const rest = this.path.slice(this.offset);
    if (isLeaf) {
      if (!isBytes(second) || !second.length) throw this.malformed(`leaf in proof[${this.depth}] holds no byte string`);
      this.offset = this.path.length;
      const match = rest.length === path.length && rest.every((n, i) => n === path[i]);
      return [{ [FOUND]: true, value: match ? second : null }, false];
    }
    if (!path.length) throw this.malformed(`extension in proof[${this.depth}] has an empty path`);
    this.checkReference(second, `extension child in proof[${this.depth}]`, false);
    const prefix = rest.slice(0, path.length);
    if (prefix.length !== path.length || !prefix.every((n, i) => n === path[i])) return [{ [FOUND]: true, value: null }, true];
    this.offset += path.length;
    return [second, true];
  }

  finish(value) {
    const unused = this.proof.length - (this.index + 1);
    if (unused > 0) throw this.malformed(`the walk ended at proof node ${this.depth} but the proof has ${unused} more node(s)`);
    return value;
  }
}

/**
 * The value stored under `key` in the trie whose root is `root`, as `proof` (RLP nodes, root
 * first) proves it, or null when the proof shows the key absent. Throws ProofError otherwise.
 */
export function verifyProof(root, key, proof) {
  return new Walk(root, key, proof).run();
}
