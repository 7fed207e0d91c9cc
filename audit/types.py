"""Domain types of the audit toolkit (NewTypes for hashes and addresses, STYLE rule 11)."""

from typing import NewType

Hash32 = NewType("Hash32", bytes)
"""A 32-byte Keccak-256 digest: a trie root, a node reference or a code hash."""

Address = NewType("Address", bytes)
"""A 20-byte account address (Yellow Paper section 4.1)."""
