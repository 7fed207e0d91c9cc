"""Tests of ``audit.mpt`` against proofs made by an independent producer, the ``trie`` package.

The ``trie`` package's ``HexaryTrie.get_proof`` lists every node on the path, embedded ones
included; ``eip1186_proof`` turns that into the EIP-1186 form (RLP bytes, only the root and the
hashed nodes), which is what a node's ``eth_getProof`` returns and what the verifier takes.
"""

import random
from collections.abc import Callable

import pytest
import rlp
from eth_hash.auto import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from audit.errors import (
    AuditError,
    ProofError,
    ProofIncomplete,
    ProofMalformed,
    ProofNodeHashMismatch,
    ProofValueMismatch,
)
from audit.mpt import EMPTY_TRIE_ROOT, decode_hex_prefix, verify_proof, verify_value

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# Short keys and tiny values: most nodes encode under 32 bytes and are embedded in their parent,
# keys that are prefixes of others put values in branch nodes, and the empty key is allowed.
SMALL_ITEMS = st.dictionaries(
    st.binary(min_size=0, max_size=4), st.binary(min_size=1, max_size=5), max_size=30
)
# The shape of Ethereum's secure tries: 32-byte hashed keys, values from tiny to account-sized.
SECURE_ITEMS = st.dictionaries(
    st.binary(min_size=32, max_size=32), st.binary(min_size=1, max_size=80), max_size=40
)
ANY_ITEMS = st.one_of(SMALL_ITEMS, SECURE_ITEMS)

# A published vector (ethereum/tests TrieTests, trieanyorder.json "dogs"), so the producer itself
# is checked against a known answer.
DOGS = {b"do": b"verb", b"dog": b"puppy", b"doge": b"coin", b"horse": b"stallion"}
DOGS_ROOT = bytes.fromhex("5991bb8c6514148a29db676a14ac506cd2cd5775ace63c30a4fe457715e9ac84")


def make_trie(items: dict[bytes, bytes]) -> HexaryTrie:
    trie = HexaryTrie({})
    for key, value in items.items():
        trie[key] = value
    return trie


def eip1186_proof(trie: HexaryTrie, key: bytes) -> list[bytes]:
    """The root node plus every node of 32 or more RLP bytes on ``key``'s path, as RLP."""
    encoded = [rlp.encode(node) for node in trie.get_proof(key)]
    return [node for index, node in enumerate(encoded) if index == 0 or len(node) >= 32]


def seeded_secure_items(seed: int, count: int) -> dict[bytes, bytes]:
    rng = random.Random(seed)
    return {
        rng.randbytes(32): rng.randbytes(rng.choice((1, 2, 5, 33, 70))) for _ in range(count)
    }


def flip(data: bytes, position: int, mask: int = 0x01) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


# --- what an honest proof proves ------------------------------------------------------------


@PROPERTY_SETTINGS
@given(items=ANY_ITEMS)
def test_every_present_key_verifies_to_its_value(items: dict[bytes, bytes]) -> None:
    trie = make_trie(items)
    for key, value in items.items():
        proof = eip1186_proof(trie, key)
        assert verify_proof(trie.root_hash, key, proof) == value
        verify_value(trie.root_hash, key, proof, value)


@PROPERTY_SETTINGS
@given(items=ANY_ITEMS, probes=st.lists(st.binary(min_size=0, max_size=32), max_size=10))
def test_absent_keys_are_proven_absent(items: dict[bytes, bytes], probes: list[bytes]) -> None:
    trie = make_trie(items)
    for key in probes:
        if key in items:
            continue
        proof = eip1186_proof(trie, key)
        assert verify_proof(trie.root_hash, key, proof) is None
        verify_value(trie.root_hash, key, proof, None)


@PROPERTY_SETTINGS
@given(items=ANY_ITEMS, data=st.data())
def test_a_claim_other_than_the_proven_value_is_a_value_mismatch(
    items: dict[bytes, bytes], data: st.DataObject
) -> None:
    trie = make_trie(items)
    key = data.draw(st.sampled_from(sorted(items)) if items else st.binary(max_size=4))
    actual = items.get(key)
    claim = data.draw(st.none() | st.binary(min_size=1, max_size=8))
    if claim == actual:
        claim = b"\x00" + claim if claim is not None else b"\x01"
    with pytest.raises(ProofValueMismatch) as caught:
        verify_value(trie.root_hash, key, eip1186_proof(trie, key), claim)
    assert caught.value.expected == claim
    assert caught.value.actual == actual
    assert "value check failed" in str(caught.value)


@PROPERTY_SETTINGS
@given(items=ANY_ITEMS, data=st.data())
def test_another_keys_proof_never_yields_a_wrong_value(
    items: dict[bytes, bytes], data: st.DataObject
) -> None:
    """A proof for key A offered for key B either fails or proves B's true value: when both sit
    under the same last hashed node their EIP-1186 proofs are identical, which is correct."""
    if len(items) < 2:
        return
    key_a, key_b = data.draw(st.lists(st.sampled_from(sorted(items)), min_size=2, max_size=2,
                                      unique=True))
    trie = make_trie(items)
    try:
        result = verify_proof(trie.root_hash, key_b, eip1186_proof(trie, key_a))
    except ProofError:
        return
    assert result == items[key_b]


def test_known_answer_vector_and_embedded_nodes() -> None:
    trie = make_trie(DOGS)
    assert trie.root_hash == DOGS_ROOT
    for key, value in DOGS.items():
        assert verify_proof(DOGS_ROOT, key, eip1186_proof(trie, key)) == value
    # "dog" ends in nodes under 32 bytes: the producer lists them, EIP-1186 does not.
    assert len(eip1186_proof(trie, b"dog")) < len(trie.get_proof(b"dog"))
    assert verify_proof(DOGS_ROOT, b"doe", eip1186_proof(trie, b"doe")) is None
    assert verify_proof(DOGS_ROOT, b"d", eip1186_proof(trie, b"d")) is None
    assert verify_proof(DOGS_ROOT, b"horses", eip1186_proof(trie, b"horses")) is None


def test_a_trie_whose_root_node_is_small_still_hashes_the_root() -> None:
    trie = make_trie({b"a": b"b"})
    proof = eip1186_proof(trie, b"a")
    assert len(proof) == 1 and len(proof[0]) < 32
    assert verify_proof(trie.root_hash, b"a", proof) == b"b"
    assert verify_proof(trie.root_hash, b"c", proof) is None


def test_empty_trie() -> None:
    assert EMPTY_TRIE_ROOT == keccak(rlp.encode(b"")) == HexaryTrie({}).root_hash
    assert verify_proof(EMPTY_TRIE_ROOT, b"any", []) is None
    assert verify_proof(EMPTY_TRIE_ROOT, b"any", [rlp.encode(b"")]) is None
    verify_value(EMPTY_TRIE_ROOT, keccak(b"slot"), [], None)
    with pytest.raises(ProofValueMismatch):
        verify_value(EMPTY_TRIE_ROOT, b"any", [], b"\x01")


@pytest.mark.parametrize(
    ("encoded", "nibbles", "is_leaf"),
    [
        (b"\x00\x01\x23", (0, 1, 2, 3), False),  # Yellow Paper appendix C examples
        (b"\x11\x23", (1, 2, 3), False),
        (b"\x20\x0f\x1c\xb8", (0, 0xF, 1, 0xC, 0xB, 8), True),
        (b"\x3f\x1c\xb8", (0xF, 1, 0xC, 0xB, 8), True),
        (b"\x20", (), True),
    ],
)
def test_hex_prefix_decoding(encoded: bytes, nibbles: tuple[int, ...], is_leaf: bool) -> None:
    assert decode_hex_prefix(encoded) == (nibbles, is_leaf)


@pytest.mark.parametrize("encoded", [b"", b"\x40", b"\x21\x23", b"\x02"])
def test_hex_prefix_rejects(encoded: bytes) -> None:
    with pytest.raises(ValueError):
        decode_hex_prefix(encoded)


# --- tampering ------------------------------------------------------------------------------


def tamper_cases() -> list[tuple[str, HexaryTrie, bytes]]:
    dogs = make_trie(DOGS)
    secure_items = seeded_secure_items(seed=1186, count=64)
    secure = make_trie(secure_items)
    present = sorted(secure_items)[:6]
    absent = [keccak(bytes([n])) for n in range(4)]
    return [
        *[(f"dogs/{key!r}", dogs, key) for key in (b"do", b"dog", b"doge", b"horse", b"doe")],
        *[(f"secure/present/{n}", secure, key) for n, key in enumerate(present)],
        *[(f"secure/absent/{n}", secure, key) for n, key in enumerate(absent)],
    ]


@pytest.mark.parametrize(("name", "trie", "key"), tamper_cases(), ids=lambda v: str(v)[:24])
def test_flipping_any_byte_of_any_node_is_caught_at_that_node(
    name: str, trie: HexaryTrie, key: bytes
) -> None:
    proof = eip1186_proof(trie, key)
    for index, node in enumerate(proof):
        for position in range(len(node)):
            tampered = [*proof[:index], flip(node, position), *proof[index + 1 :]]
            with pytest.raises(ProofNodeHashMismatch) as caught:
                verify_proof(trie.root_hash, key, tampered)
            assert caught.value.depth == index, name
            assert caught.value.actual == keccak(tampered[index])


@PROPERTY_SETTINGS
@given(items=ANY_ITEMS, data=st.data())
def test_random_tampering_never_returns_a_value(
    items: dict[bytes, bytes], data: st.DataObject
) -> None:
    trie = make_trie(items)
    key = data.draw(st.sampled_from(sorted(items)) if items else st.binary(max_size=4))
    proof = eip1186_proof(trie, key)
    if not proof:
        return
    index = data.draw(st.integers(0, len(proof) - 1))
    position = data.draw(st.integers(0, len(proof[index]) - 1))
    mask = data.draw(st.integers(1, 255))
    tampered = [*proof[:index], flip(proof[index], position, mask), *proof[index + 1 :]]
    with pytest.raises(ProofNodeHashMismatch):
        verify_proof(trie.root_hash, key, tampered)


def test_a_value_changed_by_the_prover_is_caught() -> None:
    """A node that rebuilds the trie with a different value produces a self-consistent proof
    whose root differs from the trusted one."""
    items = seeded_secure_items(seed=7, count=30)
    key = sorted(items)[3]
    forged = make_trie({**items, key: b"forged"})
    with pytest.raises(ProofNodeHashMismatch) as caught:
        verify_proof(make_trie(items).root_hash, key, eip1186_proof(forged, key))
    assert caught.value.depth == 0


@PROPERTY_SETTINGS
@given(items=ANY_ITEMS, data=st.data())
def test_truncated_proofs_are_incomplete(items: dict[bytes, bytes], data: st.DataObject) -> None:
    trie = make_trie(items)
    key = data.draw(st.sampled_from(sorted(items)) if items else st.binary(max_size=4))
    proof = eip1186_proof(trie, key)
    for length in range(len(proof)):
        if length == 0 and trie.root_hash == EMPTY_TRIE_ROOT:
            continue
        with pytest.raises(ProofIncomplete) as caught:
            verify_proof(trie.root_hash, key, proof[:length])
        assert caught.value.depth == length
        assert f"proof has only {length} node(s)" in str(caught.value)


def test_a_proof_with_nodes_left_over_is_malformed() -> None:
    trie = make_trie(seeded_secure_items(seed=3, count=20))
    key = keccak(b"absent")
    proof = eip1186_proof(trie, key)
    with pytest.raises(ProofMalformed, match="more node"):
        verify_proof(trie.root_hash, key, [*proof, proof[-1]])
    # The trie package's own layout lists embedded nodes too; EIP-1186 does not.
    dogs = make_trie(DOGS)
    with pytest.raises(ProofMalformed, match="embedded"):
        verify_proof(DOGS_ROOT, b"dog", [rlp.encode(node) for node in dogs.get_proof(b"dog")])


@PROPERTY_SETTINGS
@given(items=ANY_ITEMS, other_root=st.binary(min_size=32, max_size=32), key=st.binary(max_size=4))
def test_a_wrong_root_is_a_hash_mismatch_at_node_0(
    items: dict[bytes, bytes], other_root: bytes, key: bytes
) -> None:
    trie = make_trie(items)
    proof = eip1186_proof(trie, key)
    if not proof or other_root == trie.root_hash:
        return
    with pytest.raises(ProofNodeHashMismatch) as caught:
        verify_proof(other_root, key, proof)
    assert caught.value.depth == 0
    assert caught.value.expected == other_root
    assert "the trusted root is 0x" + other_root.hex() in str(caught.value)


def test_a_root_of_the_wrong_length_is_a_caller_error() -> None:
    with pytest.raises(ValueError):
        verify_proof(b"\x00" * 31, b"k", [])


# --- malformed nodes, each committed to by a correct hash so only the shape check can fail -----

SMALL_LEAF = [b"\x20", b"v"]  # leaf, empty remaining path, value "v": 4 RLP bytes
BIG_LEAF = [b"\x20", b"v" * 40]


def one_node(node: bytes) -> tuple[bytes, list[bytes]]:
    return keccak(node), [node]


def branch(**slots: object) -> list[object]:
    items: list[object] = [b""] * 17
    for name, item in slots.items():
        items[int(name[1:], 16) if name.startswith("s") else 16] = item
    return items


MALFORMED: list[tuple[str, Callable[[], tuple[bytes, list[bytes]]], bytes, str]] = [
    ("not RLP", lambda: one_node(b"\xc3\x01"), b"", "not canonical RLP"),
    ("non-canonical RLP", lambda: one_node(b"\x81\x01"), b"", "not canonical RLP"),
    ("string node", lambda: one_node(rlp.encode(b"x" * 40)), b"", "RLP string"),
    ("three items", lambda: one_node(rlp.encode([b"a", b"b", b"c"])), b"", "has 3 items"),
    ("hex-prefix flag 4", lambda: one_node(rlp.encode([b"\x41\x23", b"v"])), b"", "flag nibble"),
    ("odd padding", lambda: one_node(rlp.encode([b"\x21\x23", b"v"])), b"", "pads with nibble"),
    ("short reference", lambda: one_node(rlp.encode(branch(s0=b"12345"))), b"\x00", "5-byte"),
    ("big embedded", lambda: one_node(rlp.encode(branch(s0=BIG_LEAF))), b"\x00", "embeds a"),
    ("list branch value", lambda: one_node(rlp.encode(branch(v=[b"a"]))), b"", "is a list"),
    ("empty leaf value", lambda: one_node(rlp.encode([b"\x20", b""])), b"", "empty value"),
    ("list leaf value", lambda: one_node(rlp.encode([b"\x20", [b"a"]])), b"", "holds a list"),
    (
        "empty extension",
        lambda: one_node(rlp.encode([b"\x00", keccak(b"x")])),
        b"\x00",
        "empty path",
    ),
    (
        "extension to leaf",
        lambda: one_node(rlp.encode([b"\x00\x12", SMALL_LEAF])),
        b"\x12",
        "lead to a branch",
    ),
    (
        "small node by hash",
        lambda: (
            keccak(rlp.encode(branch(s1=keccak(rlp.encode(SMALL_LEAF))))),
            [rlp.encode(branch(s1=keccak(rlp.encode(SMALL_LEAF)))), rlp.encode(SMALL_LEAF)],
        ),
        b"\x10",
        "referenced by hash",
    ),
]


@pytest.mark.parametrize(("name", "build", "key", "message"), MALFORMED, ids=lambda v: str(v)[:20])
def test_malformed_nodes(
    name: str, build: Callable[[], tuple[bytes, list[bytes]]], key: bytes, message: str
) -> None:
    root, proof = build()
    with pytest.raises(ProofMalformed, match=message) as caught:
        verify_proof(root, key, proof)
    assert str(caught.value).startswith("proof format check failed at proof node")


def test_error_messages_name_the_check_the_node_and_the_subject() -> None:
    trie = make_trie(seeded_secure_items(seed=11, count=40))
    key = keccak(b"\x01")
    proof = eip1186_proof(trie, key)
    tampered = [proof[0], flip(proof[1], 5)]
    with pytest.raises(ProofNodeHashMismatch) as caught:
        verify_proof(trie.root_hash, key, tampered, subject="account 0xabc")
    error = caught.value
    assert isinstance(error, AuditError)
    assert (error.key, error.depth, error.subject) == (key, 1, "account 0xabc")
    assert str(error).startswith(
        f"node hash check failed at proof node 1 (account 0xabc, trie key 0x{key.hex()}): "
        f"keccak256(proof[1]) = 0x{keccak(tampered[1]).hex()} but proof node 0 references 0x"
    )
