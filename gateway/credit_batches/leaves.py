"""Batch leaves and restricted-entry commitments, encoded exactly as ``contracts/README.md``
("Batch leaves", "Restricted credit entries") and ``Credit.sol`` define them.

A leaf is the 13-word ``Credit.BatchLeaf``::

    leafHash = keccak256(keccak256(abi.encode(
        uint256 issuerMemberId, uint8 category, uint256 indexInBatch, bool isPublic,
        bytes18 uscc, uint8 severity, uint64 effectiveDate, uint64 expiryDate, uint256 amount,
        bytes32 summaryHash, bytes32 evidenceCidHash, bytes32 subjectTag, bytes32 commitment)))

Every member is static, so ``abi.encode`` is 13 32-byte words (416 bytes): integers and ``bool``
right-aligned, ``bytes18`` left-aligned. The encoding is written by hand with one precompiled
``struct`` layout (a generic ABI encoder per row costs ~40 µs; this costs ~0.5 µs), and tested
against ``eth_abi`` and against the contract's own ``batchLeafHash``/``verifyBatchEntry``.
Keccak is eth-hash's (pysha3 backend when ``ETH_HASH_BACKEND=pysha3``, as the entry point sets).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak as _keccak

ZERO32 = bytes(32)
ZERO18 = bytes(18)
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1

_keccak(b"")  # eth-hash binds its backend on the first call; then ``hasher`` is the backend itself
#: keccak256 as a plain function (eth-hash's backend, skipping its per-call dispatch).
keccak256: Callable[[bytes | bytearray | memoryview], bytes] = getattr(_keccak, "hasher")

#: ``abi.encode`` of a BatchLeaf, in contract order: issuer and category (one 64-byte prefix per
#: batch), index (uint256, as 32 bytes), isPublic, uscc (bytes18, 14 bytes of padding), severity (uint8), effective and
#: expiry dates (uint64), amount (uint256, as 32 bytes), summaryHash, evidenceCidHash, then
#: subjectTag and commitment (64 bytes).
_LEAF = struct.Struct(">64s32s32s18s14x31xB24xQ24xQ32s32s32s64s")
assert _LEAF.size == 416
_TRUE = (1).to_bytes(32, "big")
_FALSE = ZERO32
_ZERO64 = bytes(64)

RESTRICTED_ENTRY_TYPE = (
    "RestrictedCreditEntry(bytes32 subjectTag,uint8 category,uint8 severity,uint64 effectiveDate,"
    "uint64 expiryDate,uint256 amount,bytes32 summaryHash,bytes32 evidenceCidHash,bytes32 salt)")
RESTRICTED_ENTRY_TYPEHASH: bytes = keccak256(RESTRICTED_ENTRY_TYPE.encode())
_COMMITMENT = struct.Struct(">32s32s31xB31xB24xQ24xQ32s32s32s32s")
assert _COMMITMENT.size == 320


@dataclass(frozen=True, slots=True)
class BatchLeaf:
    """``Credit.BatchLeaf``: the thirteen values a leaf hashes, in contract order."""

    issuer_member_id: int
    category: int
    index_in_batch: int
    is_public: bool
    uscc: bytes = ZERO18
    severity: int = 0
    effective_date: int = 0
    expiry_date: int = 0
    amount: int = 0
    summary_hash: bytes = ZERO32
    evidence_cid_hash: bytes = ZERO32
    subject_tag: bytes = ZERO32
    commitment: bytes = ZERO32

    def encode(self) -> bytes:
        """``abi.encode`` of the leaf (416 bytes)."""
        return LeafEncoder(self.issuer_member_id, self.category).encode(
            self.index_in_batch, self.is_public, self.uscc, self.severity, self.effective_date, self.expiry_date,
            self.amount, self.summary_hash, self.evidence_cid_hash, self.subject_tag, self.commitment)

    def hash(self) -> bytes:
        """The leaf hash: keccak256 of keccak256 of the encoding."""
        return keccak256(keccak256(self.encode()))

    def well_formed(self) -> bool:
        """What ``Credit._wellFormed`` requires: a public leaf has no hashes and valid dates; a
        restricted leaf has its two hashes and nothing readable."""
        if self.is_public:
            return (self.subject_tag == ZERO32 and self.commitment == ZERO32
                    and (self.expiry_date == 0 or self.expiry_date > self.effective_date))
        return (self.uscc == ZERO18 and self.severity == 0 and self.effective_date == 0 and self.expiry_date == 0
                and self.amount == 0 and self.summary_hash == ZERO32 and self.evidence_cid_hash == ZERO32
                and self.subject_tag != ZERO32 and self.commitment != ZERO32)

    def as_abi(self) -> tuple[Any, ...]:
        """The tuple ``eth_abi``/``TxBuilder`` take for a ``BatchLeaf`` argument."""
        return (self.issuer_member_id, self.category, self.index_in_batch, self.is_public, self.uscc, self.severity,
                self.effective_date, self.expiry_date, self.amount, self.summary_hash, self.evidence_cid_hash,
                self.subject_tag, self.commitment)

    def to_json(self) -> dict[str, Any]:
        """The leaf's fields under the contract's names (bytes as 0x-hex, amount as a decimal string)."""
        return {
            "issuerMemberId": self.issuer_member_id, "category": self.category, "indexInBatch": self.index_in_batch,
            "isPublic": self.is_public, "uscc": "0x" + self.uscc.hex(), "severity": self.severity,
            "effectiveDate": self.effective_date, "expiryDate": self.expiry_date, "amount": str(self.amount),
            "summaryHash": "0x" + self.summary_hash.hex(), "evidenceCidHash": "0x" + self.evidence_cid_hash.hex(),
            "subjectTag": "0x" + self.subject_tag.hex(), "commitment": "0x" + self.commitment.hex(),
        }


class LeafEncoder:
    """Leaf encodings of one batch: the issuer and category words are computed once."""

    __slots__ = ("_prefix",)

    def __init__(self, issuer_member_id: int, category: int) -> None:
        self._prefix = issuer_member_id.to_bytes(32, "big") + category.to_bytes(32, "big")

    def encode(self, index: int, is_public: bool, uscc: bytes, severity: int, effective: int, expiry: int,
               amount: int, summary_hash: bytes, evidence_cid_hash: bytes, subject_tag: bytes,
               commitment: bytes) -> bytes:
        return _LEAF.pack(self._prefix, index.to_bytes(32, "big"), _TRUE if is_public else _FALSE, uscc, severity,
                          effective, expiry, amount.to_bytes(32, "big"), summary_hash, evidence_cid_hash,
                          subject_tag + commitment)

    def public_hash(self, index: int, uscc: bytes, severity: int, effective: int, expiry: int, amount: int,
                    summary_hash: bytes, evidence_cid_hash: bytes) -> bytes:
        """The leaf hash of a public entry (the hot path of building and indexing a batch)."""
        return keccak256(keccak256(_LEAF.pack(self._prefix, index.to_bytes(32, "big"), _TRUE, uscc, severity,
                                              effective, expiry, amount.to_bytes(32, "big"), summary_hash,
                                              evidence_cid_hash, _ZERO64)))

    def restricted_hash(self, index: int, subject_tag: bytes, commitment: bytes) -> bytes:
        return keccak256(keccak256(_LEAF.pack(self._prefix, index.to_bytes(32, "big"), _FALSE, ZERO18, 0, 0, 0,
                                              ZERO32, ZERO32, ZERO32, subject_tag + commitment)))


def subject_tag(uscc: bytes, subject_salt: bytes) -> bytes:
    """``keccak256(abi.encode(bytes18 uscc, bytes32 subjectSalt))``."""
    return keccak256(uscc.ljust(32, b"\0") + subject_salt)


def restricted_commitment(uscc: bytes, subject_salt: bytes, category: int, severity: int, effective_date: int,
                          expiry_date: int, amount: int, summary_hash: bytes, evidence_cid_hash: bytes,
                          salt: bytes) -> tuple[bytes, bytes]:
    """``(subjectTag, commitment)`` of a restricted entry, as ``Credit.restrictedCommitment``."""
    tag = subject_tag(uscc, subject_salt)
    encoded = _COMMITMENT.pack(RESTRICTED_ENTRY_TYPEHASH, tag, category, severity, effective_date, expiry_date,
                               amount.to_bytes(32, "big"), summary_hash, evidence_cid_hash, salt)
    return tag, keccak256(encoded)


def text_hash(text: str) -> bytes:
    """``keccak256(utf8(text))`` (summaryHash, evidenceCidHash)."""
    return keccak256(text.encode("utf-8"))
