"""The audit's trie builder (``audit/trie.py``) against the ``trie`` package, and its proofs
against the audit's own verifier (``audit/mpt.py``)."""

from __future__ import annotations

import rlp
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

from audit.mpt import verify_proof
from audit.trie import EMPTY_ROOT, Trie, ordered_trie

values = st.lists(st.binary(min_size=1, max_size=80), max_size=140)


@settings(max_examples=60, deadline=None)
@given(values)
def test_ordered_roots_and_proofs(items: list[bytes]) -> None:
    reference = HexaryTrie({})
    for i, v in enumerate(items):
        reference[rlp.encode(i)] = v
    built = ordered_trie(items)
    assert built.root == reference.root_hash
    for i, v in enumerate(items):
        assert verify_proof(built.root, rlp.encode(i), built.proof(rlp.encode(i))) == v
    absent = rlp.encode(len(items))
    assert verify_proof(built.root, absent, built.proof(absent)) is None


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.binary(min_size=0, max_size=6), st.binary(min_size=1, max_size=40), max_size=40))
def test_arbitrary_keys(items: dict[bytes, bytes]) -> None:
    reference = HexaryTrie({})
    for k, v in items.items():
        reference[k] = v
    built = Trie(list(items.items()))
    assert built.root == reference.root_hash
    for k, v in items.items():
        assert verify_proof(built.root, k, built.proof(k)) == v


def test_empty() -> None:
    assert ordered_trie([]).root == EMPTY_ROOT == HexaryTrie({}).root_hash
