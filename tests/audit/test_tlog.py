"""RFC 6962 proofs, C2SP signed notes, checkpoints, cosignatures and proofs of equivocation
(``audit/tlog.py``, ``audit/equivocation.py``), on data the tests build themselves."""

from __future__ import annotations

import hashlib

import pytest
import rlp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from eth_hash.auto import keccak
from eth_keys import keys
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import equivocation, tlog

SEALER = keccak(b"test sealer")
SEALER_ADDRESS = bytes(keys.PrivateKey(SEALER).public_key.to_canonical_address())
GENESIS = keccak(b"genesis")
ORIGIN = tlog.origin_for(17228, GENESIS)


def _leaves(n: int) -> list[bytes]:
    return [keccak(i.to_bytes(8, "big")) for i in range(n)]


def _naive_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written out by the definition."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _naive_root(leaves[:k]) + _naive_root(leaves[k:])).digest()


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=1, max_value=70), st.data())
def test_proofs_verify_and_any_changed_hash_fails(size: int, data: st.DataObject) -> None:
    leaves = _leaves(size)
    root = tlog.root(leaves)
    assert root == _naive_root(leaves)
    compact = tlog.CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    assert compact.root() == root
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = tlog.inclusion_proof(leaves, index)
    tlog.verify_inclusion(leaves[index], index, size, proof, root)
    if proof:
        bad = list(proof)
        bad[data.draw(st.integers(0, len(bad) - 1))] = b"\x00" * 32
        with pytest.raises(tlog.TreeProofError):
            tlog.verify_inclusion(leaves[index], index, size, bad, root)
    old = data.draw(st.integers(min_value=1, max_value=size))
    consistency = tlog.consistency_proof(leaves, old, size)
    tlog.verify_consistency(old, size, tlog.root(leaves[:old]), root, consistency)
    if old < size:
        other = _leaves(old - 1) + [b"\x42" * 32]
        with pytest.raises(tlog.TreeProofError):
            tlog.verify_consistency(old, size, tlog.root(other), root, consistency)


def test_a_checkpoint_signed_by_a_sealer_verifies_and_names_the_chain() -> None:
    point = tlog.Checkpoint(ORIGIN, 12, tlog.root(_leaves(12)))
    note = tlog.sign_checkpoint(point, SEALER)
    parsed = tlog.parse_note(note.render())
    assert tlog.parse_checkpoint(parsed.text) == point and point.chain == (17228, GENESIS)
    assert tlog.verify_sealer_signature(parsed, [b"\x01" * 20, SEALER_ADDRESS]) == SEALER_ADDRESS
    with pytest.raises(tlog.NoteError, match="no signature by a sealer"):
        tlog.verify_sealer_signature(parsed, [b"\x01" * 20])
    forged = tlog.Note(parsed.text.replace("12\n", "13\n"), parsed.signatures)
    with pytest.raises(tlog.NoteError, match="was made by"):
        tlog.verify_sealer_signature(forged, [SEALER_ADDRESS])


def test_cosignatures_count_only_for_witnesses() -> None:
    point = tlog.Checkpoint(ORIGIN, 5, tlog.root(_leaves(5)))
    note = tlog.sign_checkpoint(point, SEALER)
    witness_account_key, outsider_key = keccak(b"witness account"), keccak(b"outsider account")
    witness_account = bytes(keys.PrivateKey(witness_account_key).public_key.to_canonical_address())

    def key(name: str) -> tuple[Ed25519PrivateKey, tlog.WitnessKey]:
        private = Ed25519PrivateKey.generate()
        return private, tlog.WitnessKey(name, private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    (w_priv, w_key), (o_priv, o_key) = key("ngo.example/w1"), key("intruder.example/w")
    assert tlog.parse_vkey(w_key.vkey) == w_key
    bindings = [tlog.KeyBinding.make(ORIGIN, witness_account_key, w_key), tlog.KeyBinding.make(ORIGIN, outsider_key, o_key)]
    cosigned = note.with_signatures([tlog.cosign(note.text, w_key.name, w_priv, 1_700_000_000),
                                     tlog.cosign(note.text, o_key.name, o_priv, 1_700_000_001)])
    parsed = tlog.parse_note(cosigned.render())
    result = tlog.check_cosignatures(parsed, [], bindings, [witness_account], lambda line: line.name == ORIGIN)
    assert result.counted == ((w_key.name, "0x" + witness_account.hex()),)
    ((name, reason),) = result.failed
    assert name == o_key.name and "not in the registry's witness set" in reason
    # A pinned key counts without a binding; a tampered cosignature never does.
    assert len(tlog.check_cosignatures(parsed, [w_key], [], None, lambda line: line.name == ORIGIN).counted) == 1
    line = parsed.signatures[1]
    tampered = tlog.Note(parsed.text, (parsed.signatures[0], tlog.SignatureLine(line.name, line.key_id, line.signature[:-1] + b"\x00")))
    bad = tlog.check_cosignatures(tampered, [w_key], [], None, lambda line: line.name == ORIGIN)
    assert not bad.counted and "does not verify" in bad.failed[0][1]


def _sealed_header(number: int, extra: bytes, key: bytes, seal: bool = True) -> bytes:
    fields = [keccak(b"parent"), keccak(rlp.encode([])), b"\x00" * 20, keccak(b"state" + extra), keccak(b"tx"), keccak(b"r"),
              b"\x00" * 256, b"", number.to_bytes(2, "big"), b"\x01", b"", b"\x02", b"\x00" * 32, b"\x00" * 32, b"\x00" * 8, b""]
    digest = keccak(rlp.encode(fields))
    if seal:
        fields[12] = b"\x00" * 32 + keys.PrivateKey(key).sign_msg_hash(digest).to_bytes()
    return bytes(rlp.encode(fields))


def test_two_signed_headers_at_one_height_are_a_proof_of_equivocation() -> None:
    first, second = _sealed_header(7, b"a", SEALER), _sealed_header(7, b"b", SEALER)
    doc = equivocation.header_proof(17228, GENESIS, first, second, "test")
    verdict = equivocation.verify(doc, 17228, GENESIS, [SEALER_ADDRESS])
    assert verdict.ok and verdict.signers == (SEALER_ADDRESS, SEALER_ADDRESS), verdict.detail
    assert "two different blocks at height 7" in verdict.detail
    assert not equivocation.verify(equivocation.header_proof(17228, GENESIS, first, first, "test")).ok
    assert not equivocation.verify(doc, 1, GENESIS).ok  # another chain
    assert not equivocation.verify(doc, sealers=[b"\x01" * 20]).ok  # not a pinned sealer
    unsealed = _sealed_header(7, b"c", SEALER, seal=False)
    broken = {**doc, "headers": [doc["headers"][0], "0x" + unsealed.hex()]}
    assert "not sealed" in equivocation.verify(broken).detail
    other = equivocation.header_proof(17228, GENESIS, first, _sealed_header(7, b"d", keccak(b"someone else")), "test")
    assert not equivocation.verify(other).ok  # two different keys prove nothing about one sealer


def test_two_inconsistent_checkpoints_are_a_proof_of_equivocation() -> None:
    honest = _leaves(10)
    rewritten = honest[:4] + [b"\x66" * 32] + honest[5:] + _leaves(13)[10:]
    a = tlog.sign_checkpoint(tlog.Checkpoint(ORIGIN, 10, tlog.root(honest)), SEALER).render()
    b = tlog.sign_checkpoint(tlog.Checkpoint(ORIGIN, 13, tlog.root(rewritten)), SEALER).render()
    doc = equivocation.checkpoint_proof(17228, GENESIS, a, b, "test", 4, [honest[4], rewritten[4]],
                                        [tlog.inclusion_proof(honest, 4), tlog.inclusion_proof(rewritten, 4)])
    verdict = equivocation.verify(doc, 17228, GENESIS, [SEALER_ADDRESS])
    assert verdict.ok and "disagree on block 4" in verdict.detail, verdict.detail
    same_size = tlog.sign_checkpoint(tlog.Checkpoint(ORIGIN, 10, tlog.root(rewritten[:10])), SEALER).render()
    assert equivocation.verify(equivocation.checkpoint_proof(17228, GENESIS, a, same_size, "test")).ok
    # Consistent checkpoints, or a leaf proof that does not verify, prove nothing.
    c = tlog.sign_checkpoint(tlog.Checkpoint(ORIGIN, 13, tlog.root(honest + _leaves(13)[10:])), SEALER).render()
    assert not equivocation.verify(equivocation.checkpoint_proof(17228, GENESIS, a, a, "test")).ok
    wrong = equivocation.checkpoint_proof(17228, GENESIS, a, c, "test", 4, [honest[4], rewritten[4]],
                                          [tlog.inclusion_proof(honest, 4), tlog.inclusion_proof(rewritten, 4)])
    assert "inclusion proof fails" in equivocation.verify(wrong).detail
