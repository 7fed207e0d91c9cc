"""The chain as a transparency log: an RFC 6962 Merkle tree over block hashes, and checkpoints.

Leaf ``i`` of the log is the hash of block ``i``; the tree after block ``h`` has ``h + 1`` leaves
(RFC 6962 section 2.1: SHA-256, leaf ``SHA-256(0x00 || block hash)``, node
``SHA-256(0x01 || left || right)``). Every block's commit also stores the roots of the perfect
subtrees it completes, so any root, inclusion proof or consistency proof is ``O(log² n)`` reads
and hashes however long the chain:

* ``cl:mt:<level (1 byte)><index (8 bytes)>`` → the root of leaves ``[index·2^level, (index+1)·2^level)``;
* ``cl:cp:<size (8 bytes)>`` → a signed checkpoint of that tree size (C2SP signed note);
* ``cl:cp:latest`` → the size of the newest checkpoint.

**Checkpoints** (C2SP ``tlog-checkpoint``): the sealer signs one in the commit of every block whose
tree size is a multiple of the genesis ``checkpointInterval`` (default 1). The note text is::

    cityledger/<chain id>/0x<genesis hash>
    <tree size>
    <base64 root>

followed by a blank line and the signature line ``— <origin> base64(key ID || sig)``: ``sig`` is the
65-byte secp256k1 signature ``r || s || v`` by the sealer key over the EIP-191 ``personal_sign``
hash of the note text, the key ID ``SHA-256(origin || 0x0A || 0xff || "cityledger/secp256k1-eip191"
|| sealer address)[:4]`` (signed-note type ``0xff``: a type it does not number). The sealer's
address is what the sealer set names, so verifiers need no other key; the audit package verifies
this with its own code (``audit/tlog.py``). Witness cosignatures are added by the gateway, never
stored here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey

from node.errors import LogRangeError

TREE_PREFIX = b"cl:mt:"
CHECKPOINT_PREFIX = b"cl:cp:"
LATEST_CHECKPOINT = b"cl:cp:latest"
#: Leaves in the tree (= blocks covered), stored so a reader knows the tree's size without the head.
TREE_SIZE = b"cl:mt:size"
SEALER_SIGNATURE_TYPE = b"\xff" + b"cityledger/secp256k1-eip191"
EMPTY_ROOT = hashlib.sha256(b"").digest()


def _node_key(level: int, index: int) -> bytes:
    return TREE_PREFIX + bytes([level]) + index.to_bytes(8, "big")


def checkpoint_key(size: int) -> bytes:
    return CHECKPOINT_PREFIX + size.to_bytes(8, "big")


def _leaf(block_hash: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + block_hash).digest()


def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two below ``n`` (n > 1): the size of the left subtree."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleLog:
    """The block-hash tree over a key-value reader (``get``), appended through ``put``."""

    def __init__(self, get: Callable[[bytes], bytes | None]) -> None:
        self._get = get

    @property
    def size(self) -> int:
        raw = self._get(TREE_SIZE)
        return 0 if raw is None else int.from_bytes(raw, "big")

    def _subtree(self, level: int, index: int, pending: Mapping[bytes, bytes] | None = None) -> bytes:
        key = _node_key(level, index)
        value = pending.get(key) if pending else None
        if value is None:
            value = self._get(key)
        if value is None:
            raise LogRangeError(f"the log holds no subtree {index} of level {level}")
        return value

    def append(self, block_hash: bytes) -> dict[bytes, bytes]:
        """The writes that add ``block_hash`` as the next leaf (to commit with its block)."""
        size = self.size
        writes: dict[bytes, bytes] = {}
        node = _leaf(block_hash)
        level, index = 0, size
        writes[_node_key(0, index)] = node
        while index & 1:  # a right child completes its parent
            node = _node(self._subtree(level, index - 1), node)
            level, index = level + 1, index >> 1
            writes[_node_key(level, index)] = node
        writes[TREE_SIZE] = (size + 1).to_bytes(8, "big")
        return writes

    def _mth(self, start: int, end: int, pending: Mapping[bytes, bytes] | None = None) -> bytes:
        """``MTH(D[start:end])``: a perfect aligned subtree is one read, others recurse."""
        n = end - start
        if n == 0:
            return EMPTY_ROOT
        if n & (n - 1) == 0 and start % n == 0:
            return self._subtree(n.bit_length() - 1, start // n, pending)
        k = _split(n)
        return _node(self._mth(start, start + k, pending), self._mth(start + k, end, pending))

    def root(self, size: int, pending: Mapping[bytes, bytes] | None = None) -> bytes:
        """The root of the tree of the first ``size`` leaves."""
        available = self.size if pending is None or TREE_SIZE not in pending else int.from_bytes(pending[TREE_SIZE], "big")
        if not 0 <= size <= available:
            raise LogRangeError(f"the log has {available} leaves, not {size}")
        return self._mth(0, size, pending)

    def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        """RFC 6962 ``PATH(index, D[size])``."""
        if not 0 <= index < size <= self.size:
            raise LogRangeError(f"leaf {index} is not in a tree of {size} of the log's {self.size} leaves")

        def path(m: int, start: int, end: int) -> list[bytes]:
            if end - start == 1:
                return []
            k = _split(end - start)
            if m < k:
                return path(m, start, start + k) + [self._mth(start + k, end)]
            return path(m - k, start + k, end) + [self._mth(start, start + k)]

        return path(index, 0, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        """RFC 6962 ``PROOF(old_size, D[new_size])``."""
        if not 0 < old_size <= new_size <= self.size:
            raise LogRangeError(f"no consistency proof from {old_size} to {new_size} leaves (the log has {self.size})")

        def subproof(m: int, start: int, end: int, complete: bool) -> list[bytes]:
            n = end - start
            if m == n:
                return [] if complete else [self._mth(start, end)]
            k = _split(n)
            if m <= k:
                return subproof(m, start, start + k, complete) + [self._mth(start + k, end)]
            return subproof(m - k, start + k, end, False) + [self._mth(start, start + k)]

        return subproof(old_size, 0, new_size, True)


@dataclass(frozen=True)
class SignedCheckpoint:
    """A checkpoint note as stored and served."""

    size: int
    note: str


def origin(chain_id: int, genesis_hash: bytes) -> str:
    """The checkpoint origin line of a chain: its chain id and genesis hash."""
    return f"cityledger/{chain_id}/0x{genesis_hash.hex()}"


def _eip191(message: bytes) -> bytes:
    return keccak(b"\x19Ethereum Signed Message:\n" + str(len(message)).encode() + message)


def sign_checkpoint(origin_line: str, size: int, root: bytes, key: PrivateKey) -> SignedCheckpoint:
    """The sealer's signed note for the tree of ``size`` leaves with ``root`` (module docstring)."""
    text = f"{origin_line}\n{size}\n{base64.b64encode(root).decode()}\n"
    address = bytes(key.public_key.to_canonical_address())
    key_id = hashlib.sha256(origin_line.encode() + b"\n" + SEALER_SIGNATURE_TYPE + address).digest()[:4]
    signature = key.sign_msg_hash(_eip191(text.encode())).to_bytes()
    line = f"\u2014 {origin_line} {base64.b64encode(key_id + signature).decode()}\n"
    return SignedCheckpoint(size, text + "\n" + line)


def checkpoint_writes(signed: SignedCheckpoint) -> dict[bytes, bytes]:
    """The writes that store ``signed`` as the newest checkpoint."""
    return {checkpoint_key(signed.size): signed.note.encode(), LATEST_CHECKPOINT: signed.size.to_bytes(8, "big")}


def stored_checkpoint(get: Callable[[bytes], bytes | None], size: int | None) -> SignedCheckpoint | None:
    """The checkpoint of tree size ``size`` (the newest when None), if one was signed."""
    if size is None:
        raw = get(LATEST_CHECKPOINT)
        if raw is None:
            return None
        size = int.from_bytes(raw, "big")
    note = get(checkpoint_key(size))
    return None if note is None else SignedCheckpoint(size, note.decode())
