"""Leaves, commitments and the positional tree against independent references: ``eth_abi`` and
the contract driver's plain implementation (``scripts/contract_driver.py``), for every tree shape
up to a few tiles and for tile boundaries. (On-chain agreement — ``batchLeafHash`` and
``verifyBatchEntry`` — is checked in ``test_credit_batches_api.py`` against a real node.)"""

from __future__ import annotations

import os
import random

import pytest
from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.credit_batches.leaves import (RESTRICTED_ENTRY_TYPEHASH, BatchLeaf, LeafEncoder, keccak256,
                                           restricted_commitment, subject_tag)
from gateway.credit_batches.tree import TILE_WIDTH, ZERO_HASHES, build, path, process_path, tiles, tree_depth
from scripts.contract_driver import (LEAF_TYPES, Leaf, PositionalTree, RestrictedContent, leaf_hash,
                                     restricted_commitment as reference_commitment)

u8 = st.integers(0, 255)
u64 = st.integers(0, 2**64 - 1)
u256 = st.integers(0, 2**256 - 1)
b32 = st.binary(min_size=32, max_size=32)


@settings(max_examples=200, deadline=None)
@given(u256, u8, u256, st.booleans(), st.binary(min_size=18, max_size=18), u8, u64, u64, u256, b32, b32, b32, b32)
def test_hand_rolled_leaf_encoding_is_abi_encode(issuer: int, category: int, index: int, public: bool, uscc: bytes,
                                                 severity: int, effective: int, expiry: int, amount: int, summary: bytes,
                                                 evidence: bytes, tag: bytes, commitment: bytes) -> None:
    leaf = BatchLeaf(issuer, category, index, public, uscc, severity, effective, expiry, amount, summary, evidence,
                     tag, commitment)
    expected = abi_encode(list(LEAF_TYPES), list(leaf.as_abi()))
    assert len(expected) == 416 and leaf.encode() == expected
    assert leaf.hash() == leaf_hash(Leaf(*leaf.as_abi())) == keccak256(keccak256(expected))


def test_fast_paths_hash_as_the_general_encoder() -> None:
    encoder = LeafEncoder(7, 1)
    public = BatchLeaf(7, 1, 5, True, b"91350100M000100Y43", 2, 1_700_000_000, 0, 5_000_00, keccak256(b"s"),
                       keccak256(b"bafk"))
    assert encoder.public_hash(5, public.uscc, 2, 1_700_000_000, 0, 5_000_00, public.summary_hash,
                               public.evidence_cid_hash) == public.hash()
    restricted = BatchLeaf(7, 1, 6, False, subject_tag=b"\x01" * 32, commitment=b"\x02" * 32)
    assert encoder.restricted_hash(6, b"\x01" * 32, b"\x02" * 32) == restricted.hash()
    assert public.well_formed() and restricted.well_formed()
    assert not BatchLeaf(7, 1, 0, True, effective_date=5, expiry_date=5).well_formed()


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=18, max_size=18), b32, u8, u8, u64, u64, u256, b32, b32, b32)
def test_restricted_commitment_matches_the_reference(uscc: bytes, subject_salt: bytes, category: int, severity: int,
                                                      effective: int, expiry: int, amount: int, summary: bytes,
                                                      evidence: bytes, salt: bytes) -> None:
    ours = restricted_commitment(uscc, subject_salt, category, severity, effective, expiry, amount, summary, evidence,
                                 salt)
    assert ours == reference_commitment(RestrictedContent(uscc, subject_salt, category, severity, effective, expiry,
                                                          amount, summary, evidence, salt))
    assert ours[0] == subject_tag(uscc, subject_salt)
    assert RESTRICTED_ENTRY_TYPEHASH == keccak256(b"RestrictedCreditEntry(bytes32 subjectTag,uint8 category,uint8 "
                                                  b"severity,uint64 effectiveDate,uint64 expiryDate,uint256 amount,"
                                                  b"bytes32 summaryHash,bytes32 evidenceCidHash,bytes32 salt)")


def _read_tiles(leaf_hashes: bytes) -> tuple[bytes, dict[tuple[int, int], bytes]]:
    root, rows = build(leaf_hashes)
    return root, {(band, t): h for band, row in enumerate(rows) for t, h in tiles(row)}


COUNTS = [1, 2, 3, 4, 5, 7, 8, 9, 255, 256, 257, 511, 512, 513, 1000, 65_535, 65_536, 65_537]


@pytest.mark.parametrize("count", COUNTS)
def test_root_and_paths_from_tiles_match_the_reference_tree(count: int) -> None:
    hashes = [os.urandom(32) for _ in range(count)]
    root, stored = _read_tiles(b"".join(hashes))
    rng = random.Random(count)
    if count <= 1000:
        reference = PositionalTree.build(hashes)
        assert root == reference.root
        probe = range(count) if count <= 300 else rng.sample(range(count), 40)
        for i in probe:
            siblings = path(i, count, lambda band, t: stored.get((band, t)))
            assert siblings == reference.proof(i) and len(siblings) == tree_depth(count)
    for i in {0, count - 1, count // 2, *rng.sample(range(count), min(count, 20))}:
        siblings = path(i, count, lambda band, t: stored.get((band, t)))
        assert process_path(hashes[i], i, siblings) == root
        if siblings:
            wrong = list(siblings)
            wrong[-1] = bytes(32) if wrong[-1] != bytes(32) else b"\x01" * 32
            assert process_path(hashes[i], i, wrong) != root
            # A leaf proves only at its own position.
            assert process_path(hashes[i], i ^ 1, siblings) != root
    # Only real nodes are stored: a band's tiles hold ceil(count / 2^(8 band)) hashes.
    assert sum(len(h) for (band, _t), h in stored.items() if band == 0) == (32 * count if count > 1 else 0)
    assert all(len(h) <= 32 * TILE_WIDTH for h in stored.values())


def test_the_contract_readme_example() -> None:
    a, b, c = (keccak256(bytes([i])) for i in range(3))
    root, stored = _read_tiles(a + b + c)
    assert root == keccak256(keccak256(a + b) + keccak256(c + bytes(32)))
    assert path(2, 3, lambda band, t: stored.get((band, t))) == [bytes(32), keccak256(a + b)]
    assert ZERO_HASHES[1] == keccak256(bytes(64))
