"""Root (and nodes) of an index-keyed Merkle-Patricia trie, built in one pass.

Blocks commit to their transactions, receipts and withdrawals with a trie keyed by
``rlp(index)`` (Yellow Paper section 4.3, appendix D). py-evm inserts items one at a time into a
``HexaryTrie``, decoding and re-encoding nodes on every insert; for a block of a thousand
transactions that was about 40 % of block-building time. Because all keys are known up front,
the trie can be built bottom-up from the sorted keys instead, like go-ethereum's StackTrie.
The result is identical (``tests/node/test_ordered_trie.py`` checks it against py-evm).

Trie nodes are lists of byte strings (and nested lists); :func:`encode_node` is the RLP encoding
(Yellow Paper appendix B) of exactly that shape, several times faster than ``rlp.encode``, which
infers a serializer for every item.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, Union

import rlp
from eth_hash.auto import keccak

Node = Union[list[Any], bytes]
BLANK_ROOT = keccak(rlp.encode(b""))


def _length_prefix(length: int, offset: int) -> bytes:
    if length < 56:
        return bytes((offset + length,))
    encoded = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes((offset + 55 + len(encoded),)) + encoded


def encode_bytes(value: bytes) -> bytes:
    """RLP of one byte string (Yellow Paper appendix B, R_b)."""
    if len(value) == 1 and value[0] < 0x80:
        return value
    return _length_prefix(len(value), 0x80) + value


def encode_node(node: Node) -> bytes:
    """RLP of a byte string or a (nested) list of byte strings; equals ``rlp.encode(node)``."""
    if isinstance(node, bytes):
        return encode_bytes(node)
    payload = b"".join([encode_node(item) for item in node])
    return _length_prefix(len(payload), 0xC0) + payload


#: Maps the ASCII hex digits of ``bytes.hex()`` to nibble values 0-15.
_HEX_NIBBLES = bytes.maketrans(b"0123456789abcdef", bytes(range(16)))


def _nibbles(key: bytes) -> bytes:
    return key.hex().encode().translate(_HEX_NIBBLES)


def _hex_prefix(nibbles: bytes, leaf: bool) -> bytes:
    """Hex-prefix encoding (Yellow Paper appendix C)."""
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        nibbles = bytes([flag + 1]) + nibbles
    else:
        nibbles = bytes([flag, 0]) + nibbles
    return bytes((nibbles[i] << 4) | nibbles[i + 1] for i in range(0, len(nibbles), 2))


def _build(pairs: list[tuple[bytes, bytes]], depth: int, nodes: dict[bytes, bytes]) -> Node:
    """The node for ``pairs`` (sorted by path, all sharing ``path[:depth]``), as the structure
    its parent embeds: the node itself when its encoding is under 32 bytes, else its hash."""
    if len(pairs) == 1:
        path, value = pairs[0]
        return _reference([_hex_prefix(path[depth:], True), value], nodes)
    first, last = pairs[0][0], pairs[-1][0]
    common = 0
    limit = min(len(first), len(last)) - depth
    while common < limit and first[depth + common] == last[depth + common]:
        common += 1
    if common:
        child = _build(pairs, depth + common, nodes)
        return _reference([_hex_prefix(first[depth:depth + common], False), child], nodes)
    branch: list[Any] = [b""] * 17
    start = 0
    if len(pairs[0][0]) == depth:  # a key that ends here keeps its value in the branch
        branch[16] = pairs[0][1]
        start = 1
    i = start
    while i < len(pairs):
        nibble = pairs[i][0][depth]
        j = i
        while j < len(pairs) and pairs[j][0][depth] == nibble:
            j += 1
        branch[nibble] = _build(pairs[i:j], depth + 1, nodes)
        i = j
    return _reference(branch, nodes)


def _reference(node: list[Any], nodes: dict[bytes, bytes]) -> Node:
    encoded = encode_node(node)
    if len(encoded) < 32:
        return node
    digest = keccak(encoded)
    nodes[digest] = encoded
    return digest


def ordered_trie_root_and_nodes(values: Sequence[bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """Root hash and ``{hash: node}`` for the trie mapping ``rlp(i)`` to ``values[i]``."""
    nodes: dict[bytes, bytes] = {}
    if not values:
        return BLANK_ROOT, {BLANK_ROOT: rlp.encode(b"")}
    pairs = sorted((_nibbles(encode_node(i.to_bytes((i.bit_length() + 7) // 8, "big"))), bytes(v))
                   for i, v in enumerate(values))
    root = _build(pairs, 0, nodes)
    if isinstance(root, list):  # a root under 32 bytes is still stored by its hash
        encoded = encode_node(root)
        digest = keccak(encoded)
        nodes[digest] = encoded
        return digest, nodes
    return root, nodes


def make_trie_root_and_nodes(items: Sequence[Any]) -> tuple[bytes, dict[bytes, bytes]]:
    """Same result as ``eth.db.trie.make_trie_root_and_nodes`` (items with ``.encode()``).

    Cached like py-evm's: importing a block computes the same roots twice (apply, validate)."""
    return _cached_root_and_nodes(tuple(item.encode() for item in items))


@functools.lru_cache(maxsize=16)
def _cached_root_and_nodes(values: tuple[bytes, ...]) -> tuple[bytes, dict[bytes, bytes]]:
    return ordered_trie_root_and_nodes(values)
