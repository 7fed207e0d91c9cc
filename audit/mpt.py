"""An independent verifier of Merkle-Patricia-trie proofs (Ethereum Yellow Paper, appendix D).

A proof is the list of RLP-encoded trie nodes met on the way from the root to a key, in that
order, as ``eth_getProof`` returns them (EIP-1186). Only nodes referenced by hash appear in the
list: a node whose RLP encoding is shorter than 32 bytes is embedded in its parent (appendix D, the
node composition function ``c``) and is read from there. The verifier walks the key's nibbles from
the trusted root, checks that every hashed reference equals keccak256 of the next proof node, and
returns the value the walk ends at, or ``None`` when the proof shows the key is absent.

Written from the specification, not from py-evm or the ``trie`` package, so that a bug there is not
repeated here; the tests compare the two.
"""

from collections.abc import Sequence
from typing import Union

import rlp  # type: ignore[import-untyped, unused-ignore]
from eth_hash.auto import keccak

from audit.errors import (
    ProofIncomplete,
    ProofMalformed,
    ProofNodeHashMismatch,
    ProofValueMismatch,
)
from audit.types import Hash32

RLPItem = Union[bytes, list["RLPItem"]]
"""A decoded RLP item (Yellow Paper appendix B): a byte string or a list of items."""

EMPTY_TRIE_ROOT = Hash32(
    bytes.fromhex("56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421")
)
"""Root of the empty trie: keccak256(RLP(b"")) (Yellow Paper appendix D, equation for TRIE(∅))."""

_HASH_LENGTH = 32
"""Appendix D: a node is referenced by its keccak256 iff its RLP encoding is >= 32 bytes."""

_BRANCH_WIDTH = 17
"""Appendix D: a branch node is 16 child references (one per nibble) plus a value."""


def bytes_to_nibbles(data: bytes) -> tuple[int, ...]:
    """Split bytes into 4-bit nibbles, high nibble first (Yellow Paper appendix D, the key
    sequence is read "as a sequence of nibbles")."""
    return tuple(n for byte in data for n in (byte >> 4, byte & 0x0F))


def decode_hex_prefix(encoded: bytes) -> tuple[tuple[int, ...], bool]:
    """Decode a hex-prefix-encoded path into (nibbles, is_leaf) (Yellow Paper appendix C).

    The high nibble of the first byte is the flag: bit 1 set marks a leaf (t = 1), bit 0 set marks
    an odd number of nibbles, in which case the low nibble of the first byte is the first nibble of
    the path; for an even number the low nibble is padding and must be 0.

    Raises ``ValueError`` on an empty input, a flag above 3 or non-zero padding.
    """
    if not encoded:
        raise ValueError("hex-prefix path is empty; appendix C always writes a flag byte")
    flag, low = encoded[0] >> 4, encoded[0] & 0x0F
    if flag > 3:
        raise ValueError(f"hex-prefix flag nibble is {flag}; appendix C allows only 0 to 3")
    is_leaf = bool(flag & 2)
    rest = bytes_to_nibbles(encoded[1:])
    if flag & 1:
        return (low, *rest), is_leaf
    if low != 0:
        raise ValueError(
            f"even-length hex-prefix path pads with nibble {low}; appendix C pads with 0"
        )
    return rest, is_leaf


class _Walk:
    """State of one walk down the trie: the key, the proof, and how far both have been read.

    Each check raises the error for the proof node at ``index`` (the last one read), which is where
    an embedded node lives too.
    """

    def __init__(self, root: bytes, key: bytes, proof: Sequence[bytes], subject: str) -> None:
        self.root = root
        self.key = key
        self.proof = proof
        self.subject = subject
        self.path = bytes_to_nibbles(key)
        self.offset = 0
        """Nibbles of the path consumed so far."""
        self.index = -1
        """Index of the last proof node read; -1 before the root node is read."""

    @property
    def depth(self) -> int:
        """The proof-node index to report: the last node read, or 0 before any."""
        return max(self.index, 0)

    def malformed(self, reason: str) -> ProofMalformed:
        """Build the error for a node that is not a well-formed appendix D node."""
        return ProofMalformed(self.key, self.depth, reason, subject=self.subject)

    def fetch(self, reference: bytes) -> RLPItem:
        """Read the next proof node, check keccak256(node) == ``reference`` and decode it.

        Appendix D: every node of 32 or more RLP bytes is referenced by its keccak256, and the
        root is always hashed (TRIE(J) = KEC(RLP(c(J, 0)))) even when shorter. A non-root node
        under 32 bytes must be embedded in its parent, so meeting one here means the proof is not
        canonical.
        """
        self.index += 1
        if self.index >= len(self.proof):
            referrer = "the trusted root" if self.index == 0 else f"proof node {self.index - 1}"
            raise ProofIncomplete(
                self.key,
                self.index,
                f"the walk needs node 0x{reference.hex()} (referenced by {referrer}) after "
                f"{self.offset} of {len(self.path)} key nibbles, but the proof has only "
                f"{len(self.proof)} node(s)",
                missing=reference,
                subject=self.subject,
            )
        encoded = bytes(self.proof[self.index])
        actual = keccak(encoded)
        if actual != reference:
            if self.index == 0:
                referrer = "the trusted root is"
            else:
                referrer = f"proof node {self.index - 1} references"
            raise ProofNodeHashMismatch(
                self.key,
                self.index,
                f"keccak256(proof[{self.index}]) = 0x{actual.hex()} but {referrer} "
                f"0x{reference.hex()}",
                expected=reference,
                actual=actual,
                subject=self.subject,
            )
        if self.index > 0 and len(encoded) < _HASH_LENGTH:
            raise self.malformed(
                f"proof[{self.index}] is {len(encoded)} bytes yet referenced by hash; appendix D "
                f"embeds nodes under {_HASH_LENGTH} bytes in their parent"
            )
        try:
            node: RLPItem = rlp.decode(encoded, strict=True)
        except rlp.DecodingError as exc:
            raise self.malformed(f"proof[{self.index}] is not canonical RLP ({exc})") from exc
        return node

    def check_reference(self, item: RLPItem, where: str, *, allow_empty: bool) -> None:
        """Check that ``item`` is a child reference as appendix D's ``c`` produces it: a 32-byte
        keccak256, a node under 32 bytes embedded as an RLP list, or (in a branch slot only) the
        empty string for "no child"."""
        if isinstance(item, list):
            size = len(rlp.encode(item))
            if size >= _HASH_LENGTH:
                raise self.malformed(
                    f"{where} embeds a {size}-byte node; appendix D embeds only nodes under "
                    f"{_HASH_LENGTH} bytes and hashes the rest"
                )
        elif not (len(item) == _HASH_LENGTH or (allow_empty and len(item) == 0)):
            raise self.malformed(
                f"{where} is a {len(item)}-byte string; a child reference is a {_HASH_LENGTH}-byte "
                f"hash or an embedded node"
            )

    def run(self) -> bytes | None:
        """Walk from the root along the key and return the value found, or ``None`` for a proven
        absence (Yellow Paper appendix D; the proof layout of EIP-1186)."""
        if len(self.root) != _HASH_LENGTH:
            raise ValueError(f"a trie root is {_HASH_LENGTH} bytes, got {len(self.root)}")
        if not self.proof and self.root == EMPTY_TRIE_ROOT:
            # The empty trie holds nothing; clients prove that with an empty list (geth) or with
            # the single node RLP(b"") whose hash is the root (handled just below).
            return None
        node = self.fetch(self.root)
        if node == b"":
            return self.finish(None)  # the root node RLP(b""): the empty trie
        after_extension = False
        while True:
            if isinstance(node, bytes):
                raise self.malformed(
                    f"node in proof[{self.depth}] is an RLP string; appendix D nodes are lists"
                )
            if len(node) == _BRANCH_WIDTH:
                reference = self.branch(node)
                after_extension = False
            elif len(node) == 2:
                if after_extension:
                    raise self.malformed(
                        f"an extension in proof[{self.depth}] leads to another extension or a "
                        "leaf; appendix D extensions always lead to a branch"
                    )
                reference, after_extension = self.short_node(node)
            else:
                raise self.malformed(
                    f"node in proof[{self.depth}] has {len(node)} items; appendix D nodes have 2 "
                    f"(leaf, extension) or {_BRANCH_WIDTH} (branch)"
                )
            if isinstance(reference, _Found):
                return self.finish(reference.value)
            # An embedded node sits inside a node whose hash was already checked; a hashed one is
            # fetched and checked (a non-root empty node, RLP b"\x80", fails fetch's size check).
            node = reference if isinstance(reference, list) else self.fetch(reference)

    def branch(self, node: list[RLPItem]) -> "RLPItem | _Found":
        """Step through a branch node: the next nibble picks one of 16 children; at the end of
        the key the 17th item is the value (empty = absent)."""
        for nibble in range(16):
            self.check_reference(
                node[nibble], f"branch slot {nibble:x} in proof[{self.depth}]", allow_empty=True
            )
        value = node[16]
        if not isinstance(value, bytes):
            raise self.malformed(
                f"branch value in proof[{self.depth}] is a list, not a byte string"
            )
        if self.offset == len(self.path):
            return _Found(value or None)
        child = node[self.path[self.offset]]
        self.offset += 1
        if child == b"":
            return _Found(None)
        return child

    def short_node(self, node: list[RLPItem]) -> "tuple[RLPItem | _Found, bool]":
        """Step through a leaf or an extension node (appendix D: [HP(path, t), value or child]).

        A leaf matches only when its path equals the rest of the key; an extension only when its
        path is a prefix of the rest. Otherwise the key is absent: the trie has no other place it
        could be. Returns the next reference (or the result) and whether the node was an extension.
        """
        encoded_path, second = node
        if not isinstance(encoded_path, bytes):
            raise self.malformed(f"path of the 2-item node in proof[{self.depth}] is a list")
        try:
            nibbles, is_leaf = decode_hex_prefix(encoded_path)
        except ValueError as exc:
            raise self.malformed(f"node in proof[{self.depth}]: {exc}") from exc
        rest = self.path[self.offset :]
        if is_leaf:
            if not isinstance(second, bytes) or not second:
                raise self.malformed(
                    f"leaf in proof[{self.depth}] holds "
                    f"{'a list' if isinstance(second, list) else 'an empty value'}; "
                    "a leaf holds a non-empty byte string"
                )
            self.offset = len(self.path)
            return _Found(second if rest == nibbles else None), False
        if not nibbles:
            raise self.malformed(
                f"extension in proof[{self.depth}] has an empty path; appendix D extensions "
                "share at least one nibble"
            )
        self.check_reference(second, f"extension child in proof[{self.depth}]", allow_empty=False)
        if rest[: len(nibbles)] != nibbles:
            return _Found(None), True
        self.offset += len(nibbles)
        return second, True

    def finish(self, value: bytes | None) -> bytes | None:
        """End the walk: every proof node must have been used (EIP-1186 lists exactly the nodes
        on the path, from the root)."""
        unused = len(self.proof) - (self.index + 1)
        if unused > 0:
            raise self.malformed(
                f"the walk ended at proof node {self.depth} but the proof has {unused} more "
                f"node(s); EIP-1186 lists only the hashed nodes on the key's path (nodes under "
                f"{_HASH_LENGTH} bytes are embedded in their parent, not listed)"
            )
        return value


class _Found:
    """The walk's result: the value at the key, or ``None`` when the key is proven absent."""

    __slots__ = ("value",)

    def __init__(self, value: bytes | None) -> None:
        self.value = value


def verify_proof(
    root: bytes, key: bytes, proof: Sequence[bytes], *, subject: str = ""
) -> bytes | None:
    """Return the value stored under ``key`` in the trie with root ``root``, as ``proof`` proves
    it, or ``None`` if the proof shows the key is absent (Yellow Paper appendix D; EIP-1186).

    ``key`` is the trie path itself: for the secure tries of Ethereum state and storage pass
    keccak256(address) or keccak256(slot as 32 bytes). ``proof`` lists the RLP-encoded nodes from
    the root along the path; an empty list proves the empty trie. ``subject`` names the key in
    error messages (for example ``"account 0x…"``).

    Raises ``ProofNodeHashMismatch`` when a node is not the one its parent (or the root) commits
    to, ``ProofIncomplete`` when the proof stops early, ``ProofMalformed`` when a node or the
    proof's shape breaks the spec, and ``ValueError`` when ``root`` is not 32 bytes.
    """
    return _Walk(root, key, proof, subject).run()


def verify_value(
    root: bytes,
    key: bytes,
    proof: Sequence[bytes],
    expected: bytes | None,
    *,
    subject: str = "",
) -> None:
    """Check that ``proof`` proves ``key`` holds ``expected`` in the trie with root ``root``
    (``None``: that the key is absent), per Yellow Paper appendix D.

    Raises ``ProofValueMismatch`` when the proof is valid but proves another value, and every
    error ``verify_proof`` raises when it is not valid.
    """
    actual = verify_proof(root, key, proof, subject=subject)
    if actual != expected:
        raise ProofValueMismatch(
            key,
            max(len(proof) - 1, 0),
            f"expected {_describe(expected)} but the proof proves {_describe(actual)}",
            expected=expected,
            actual=actual,
            subject=subject,
        )


def _describe(value: bytes | None) -> str:
    """Render a trie value for a message: 0x-hex, or "the key is absent"."""
    return "the key is absent" if value is None else f"value 0x{value.hex()}"
