"""The one-pass ordered trie gives exactly py-evm's root and stores every node py-evm stores."""

from __future__ import annotations

from eth.db.trie import _make_trie_root_and_nodes
from hypothesis import given, settings
from hypothesis import strategies as st
from trie import HexaryTrie

import rlp

from node.ordered_trie import ordered_trie_root_and_nodes

values = st.lists(st.binary(min_size=1, max_size=80), min_size=0, max_size=300)


@settings(max_examples=150, deadline=None)
@given(values)
def test_root_and_nodes_match_py_evm(items: list[bytes]) -> None:
    expected_root, expected_nodes = _make_trie_root_and_nodes(tuple(items))
    root, nodes = ordered_trie_root_and_nodes(items)
    assert root == expected_root
    assert set(expected_nodes) <= set(nodes)
    # Every value can be read back from the nodes we produced alone.
    trie = HexaryTrie(nodes, root)
    for index, value in enumerate(items):
        assert trie[rlp.encode(index)] == value


def test_published_empty_root() -> None:
    root, _ = ordered_trie_root_and_nodes([])
    assert root.hex() == "56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
