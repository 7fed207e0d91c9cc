"""Index-keyed Merkle-Patricia tries (transactions, receipts) and their proofs.

Built with the ``trie`` package (a library, not the node's code). A proof is the EIP-1186 list
form: RLP-encoded nodes from the root down, omitting nodes shorter than 32 bytes, which are
embedded in their parent (Yellow Paper appendix D).
"""

from __future__ import annotations

from collections.abc import Sequence

import rlp
from trie import HexaryTrie
from trie.exceptions import BadTrieProof

from gateway.errors import ProofInvalid


def ordered_trie(values: Sequence[bytes]) -> HexaryTrie:
    """The trie mapping ``rlp(i)`` to ``values[i]`` (transactions or receipts of a block)."""
    trie = HexaryTrie({})
    with trie.squash_changes() as batch:
        for index, value in enumerate(values):
            batch[rlp.encode(index)] = value
    return trie


def proof_of(trie: HexaryTrie, index: int) -> list[bytes]:
    """The proof of ``rlp(index)`` in ``trie``, root node first."""
    nodes = [bytes(rlp.encode(node)) for node in trie.get_proof(rlp.encode(index))]
    return [node for i, node in enumerate(nodes) if i == 0 or len(node) >= 32]


def read_proof(root: bytes, index: int, proof: Sequence[bytes], check: str) -> bytes:
    """The value a proof shows under ``rlp(index)`` in the trie with ``root``; ``ProofInvalid``
    named ``check`` when a node does not hash into its parent or the key is absent."""
    try:
        nodes = [rlp.decode(node) for node in proof]
        value = HexaryTrie.get_from_proof(root, rlp.encode(index), nodes)
    except (BadTrieProof, rlp.DecodingError, rlp.DeserializationError, ValueError, TypeError, KeyError) as exc:
        raise ProofInvalid(check, f"the proof does not lead from root 0x{root.hex()} to index {index}: {exc}") from exc
    if not value:
        raise ProofInvalid(check, f"the proof shows no value at index {index} under root 0x{root.hex()}")
    return bytes(value)
