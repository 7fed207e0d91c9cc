// Payload checks for a file a user drops: its SHA-256 and its Kubo-compatible CIDv1, computed in
// the browser with the import settings of gateway/payloads/unixfs.py (NOTES "IPFS"): sha2-256,
// fixed 256 KiB chunks as raw leaves, the balanced layout of go-unixfs with at most 174 links per
// node, interior nodes dag-pb with UnixFS File data (links first, an empty Name, Tsize; then
// Data{Type=File, filesize, blocksizes}). A file of one chunk or less is its raw leaf (bafk…).
// Files are streamed (File.stream(), or any ReadableStream / async iterable of Uint8Array), so
// memory holds one chunk plus one ~40-byte link per chunk.

import { sha256 } from "@noble/hashes/sha2.js";
import { concatBytes, equalBytes, parseHex, toHex } from "./bytes.js";

export const CHUNK_SIZE = 256 * 1024;
export const MAX_LINKS = 174;
const RAW = 0x55;
const DAG_PB = 0x70;
const SHA2_256 = 0x12;

export function varint(value) {
  const out = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return Uint8Array.from(out);
}

const cidOf = (codec, digest) => concatBytes(Uint8Array.of(1), varint(codec), Uint8Array.of(SHA2_256, 32), digest);

const B32 = "abcdefghijklmnopqrstuvwxyz234567";

/** RFC 4648 base32, lower case, no padding (multibase "b"). */
export function base32(bytes) {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

export const cidText = (binary) => "b" + base32(binary);

function fileNode(children) {
  const parts = [];
  for (const child of children) {
    const link = concatBytes(Uint8Array.of(0x0a), varint(child.cid.length), child.cid, Uint8Array.of(0x12, 0x00, 0x18), varint(child.tsize));
    parts.push(Uint8Array.of(0x12), varint(link.length), link);
  }
  const unixfs = concatBytes(Uint8Array.of(0x08, 0x02, 0x18), varint(children.reduce((n, c) => n + c.filesize, 0)),
    ...children.map((c) => concatBytes(Uint8Array.of(0x20), varint(c.filesize))));
  parts.push(Uint8Array.of(0x0a), varint(unixfs.length), unixfs);
  return concatBytes(...parts);
}

function node(children) {
  const block = fileNode(children);
  return {
    cid: cidOf(DAG_PB, sha256(block)),
    tsize: block.length + children.reduce((n, c) => n + c.tsize, 0),
    filesize: children.reduce((n, c) => n + c.filesize, 0),
  };
}

/** The balanced layout (go-unixfs importer/balanced) over leaf links, in file order. */
export function balancedRoot(leaves, maxLinks = MAX_LINKS) {
  let at = 0;
  const more = () => at < leaves.length;
  const fill = (children, depth) => {
    while (children.length < maxLinks && more()) children.push(depth === 1 ? leaves[at++] : fill([], depth - 1));
    return node(children);
  };
  let root = leaves[at++];
  let depth = 1;
  while (more()) {
    root = fill([root], depth);
    depth += 1;
  }
  return root;
}

async function* chunksOf(source) {
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  const stream = typeof source?.stream === "function" ? source.stream() : source;
  if (stream && typeof stream.getReader === "function") {
    const reader = stream.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        yield value;
      }
    } finally {
      reader.releaseLock();
    }
  }
  yield* stream;
}

/**
 * Hash a file or stream: {size, sha256: "0x…", cid: "bafk…|bafy…"}. `onProgress(bytes)` is called
 * after each chunk; `chunkSize`/`maxLinks` exist for tests of deep trees on small inputs.
 */
export async function hashPayload(source, { onProgress, chunkSize = CHUNK_SIZE, maxLinks = MAX_LINKS } = {}) {
  const whole = sha256.create();
  const leaves = [];
  const buffer = new Uint8Array(chunkSize);
  let filled = 0;
  let size = 0;
  // Leaves are hashed by WebCrypto where there is one (native, off the main loop: about twice as
  // fast overall, since the whole-file SHA-256 must stream through @noble/hashes), a few at a time.
  const subtle = globalThis.crypto?.subtle;
  const pending = [];
  const settle = async (limit) => {
    while (pending.length > limit) {
      const [index, digest] = await pending.shift();
      leaves[index].cid = cidOf(RAW, new Uint8Array(digest));
    }
  };
  const leaf = async (bytes) => {
    const index = leaves.push({ cid: null, tsize: bytes.length, filesize: bytes.length }) - 1;
    if (!subtle) {
      leaves[index].cid = cidOf(RAW, sha256(bytes));
      return;
    }
    pending.push(subtle.digest("SHA-256", bytes.slice()).then((digest) => [index, digest]));
    await settle(8);
  };
  for await (const piece of chunksOf(source)) {
    whole.update(piece);
    size += piece.length;
    let offset = 0;
    while (offset < piece.length) {
      const take = Math.min(chunkSize - filled, piece.length - offset);
      buffer.set(piece.subarray(offset, offset + take), filled);
      filled += take;
      offset += take;
      if (filled === chunkSize) {
        await leaf(buffer);
        filled = 0;
      }
    }
    onProgress?.(size);
  }
  if (filled > 0 || leaves.length === 0) await leaf(buffer.subarray(0, filled));
  await settle(0);
  return { size, sha256: toHex(whole.digest()), cid: cidText(balancedRoot(leaves, maxLinks).cid) };
}

/**
 * The `payload` check of a dropped file against what the ledger states ({cid?, sha256?}):
 * {check: "payload", subject, ok, detail, computed}.
 */
export async function verifyPayload(source, expected, { subject = "payload", ...options } = {}) {
  const computed = await hashPayload(source, options);
  const problems = [];
  if (expected.sha256 !== undefined) {
    const want = parseHex(String(expected.sha256).replace(/^0x/i, ""));
    if (want === null || !equalBytes(want, parseHex(computed.sha256.slice(2)))) problems.push(`SHA-256 is ${computed.sha256}, the ledger states ${expected.sha256}`);
  }
  if (expected.cid !== undefined) {
    const want = String(expected.cid).trim();
    if (!want.startsWith("b")) problems.push(`the ledger states ${want}, which is not a CIDv1 in base32; the file's CID is ${computed.cid}`);
    else if (want.toLowerCase() !== computed.cid) problems.push(`CID is ${computed.cid}, the ledger states ${want}`);
  }
  if (expected.sha256 === undefined && expected.cid === undefined) problems.push("nothing to compare with: the ledger states neither a CID nor a SHA-256");
  return { check: "payload", subject, ok: problems.length === 0, detail: problems.join("; ") || `CID ${computed.cid}, SHA-256 ${computed.sha256}`, computed };
}
