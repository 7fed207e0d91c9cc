"""Building Merkle-Patricia tries: the transaction and receipt roots of a block, and proofs.

``audit.mpt`` verifies proofs someone else made; this module builds tries from their leaves, so
the audit can check that the transactions and receipts a node served are exactly those its header
commits to (Yellow Paper section 4.3: ``transactionsRoot`` and ``receiptsRoot`` are the roots of
the tries keyed by ``RLP(index)``), and cut proofs for its own findings.

Nodes follow Yellow Paper appendix D: a leaf is ``[HP(path, leaf=True), value]``, an extension
``[HP(path, leaf=False), child]``, a branch 16 children and a value; a child is referenced by
``keccak256(RLP(node))`` when that encoding is 32 bytes or longer, and embedded otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import rlp  # type: ignore[import-untyped, unused-ignore]
from eth_hash.auto import keccak

EMPTY_ROOT = keccak(rlp.encode(b""))
"""The root of the empty trie: keccak256(RLP(""))."""


def _length(size: int, offset: int) -> bytes:
    if size < 56:
        return bytes((offset + size,))
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(length),)) + length


def encode(item: Any) -> bytes:
    """RLP (Yellow Paper appendix B) of a byte string or a nested list of them: the only shapes a
    trie node has. Written out because it is the hot path of building tries."""
    if isinstance(item, (bytes, bytearray)):
        if len(item) == 1 and item[0] < 0x80:
            return bytes(item)
        return _length(len(item), 0x80) + bytes(item)
    payload = b"".join(encode(x) for x in item)
    return _length(len(payload), 0xC0) + payload


def _nibbles(key: bytes) -> tuple[int, ...]:
    out: list[int] = []
    for byte in key:
        out.extend((byte >> 4, byte & 0x0F))
    return tuple(out)


def hex_prefix(path: Sequence[int], leaf: bool) -> bytes:
    """Yellow Paper appendix C, hex-prefix encoding: a flag nibble (2 for a leaf, +1 for an odd
    length), a padding nibble when even, then the path."""
    flag = 2 if leaf else 0
    if len(path) % 2:
        nibbles = [flag + 1, *path]
    else:
        nibbles = [flag, 0, *path]
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


class Trie:
    """A trie built once from all its key/value pairs (no updates): root and proofs."""

    def __init__(self, items: Sequence[tuple[bytes, bytes]]) -> None:
        pairs = sorted((_nibbles(k), v) for k, v in items if v)
        self._encoded: dict[bytes, bytes] = {}
        self.structure: Any = self._build(pairs, 0) if pairs else None
        if self.structure is None:
            self.root = EMPTY_ROOT
        else:
            encoded = encode(self.structure)
            self.root = keccak(encoded)
            self._encoded[self.root] = encoded

    def _ref(self, node: Any) -> Any:
        encoded = encode(node)
        if len(encoded) < 32:
            return node
        digest = keccak(encoded)
        self._encoded[digest] = encoded
        return digest

    def _build(self, pairs: list[tuple[tuple[int, ...], bytes]], depth: int) -> Any:
        if len(pairs) == 1:
            path, value = pairs[0]
            return [hex_prefix(path[depth:], True), value]
        first, last = pairs[0][0], pairs[-1][0]
        common = 0
        while depth + common < min(len(first), len(last)) and first[depth + common] == last[depth + common]:
            common += 1
        if common:
            child = self._build(pairs, depth + common)
            return [hex_prefix(first[depth:depth + common], False), self._ref(child)]
        branch: list[Any] = [b""] * 17
        start = 0
        if len(pairs[0][0]) == depth:  # a key that ends here: the branch's value
            branch[16] = pairs[0][1]
            start = 1
        index = start
        while index < len(pairs):
            nibble = pairs[index][0][depth]
            end = index
            while end < len(pairs) and pairs[end][0][depth] == nibble:
                end += 1
            branch[nibble] = self._ref(self._build(pairs[index:end], depth + 1))
            index = end
        return branch

    def proof(self, key: bytes) -> list[bytes]:
        """The proof of ``key`` as EIP-1186 lists it: the root node, then each node referenced by
        hash on the way down (embedded nodes travel inside their parent)."""
        if self.structure is None:
            return []
        nibbles = _nibbles(key)
        out = [self._encoded[self.root]]
        node, depth = self.structure, 0
        while True:
            if len(node) == 17:
                if depth == len(nibbles):
                    return out
                child = node[nibbles[depth]]
                depth += 1
            else:
                flag = node[0][0] >> 4
                path = _nibbles(node[0])[2 - (flag & 1):]
                if flag & 2 or tuple(nibbles[depth:depth + len(path)]) != tuple(path):
                    return out
                depth += len(path)
                child = node[1]
            if child == b"":
                return out
            if isinstance(child, bytes) and len(child) == 32:
                out.append(self._encoded[child])
                node = rlp.decode(self._encoded[child])
            else:
                node = child


def ordered_trie(values: Sequence[bytes]) -> Trie:
    """The trie of a block's transactions or receipts: value ``i`` under key ``RLP(i)``."""
    return Trie([(rlp.encode(i), v) for i, v in enumerate(values)])
