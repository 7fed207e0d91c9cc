// RLP (Yellow Paper appendix B) through @ethereumjs/rlp, whose decoder refuses non-canonical
// encodings (a single byte below 0x80 with a prefix, lengths with leading zeros, trailing bytes).

import { RLP } from "@ethereumjs/rlp";

/** Decode one RLP item (Uint8Array or nested arrays); throws on any malformed input. */
export function rlpDecode(bytes) {
  return RLP.decode(bytes);
}

export function rlpEncode(item) {
  return RLP.encode(item);
}

export const isBytes = (item) => item instanceof Uint8Array;
