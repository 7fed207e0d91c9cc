"""Contract storage tries updated a block at a time instead of a slot at a time.

py-evm writes every changed storage slot into a ``HexaryTrie`` one by one when a block's state
root is computed; each insert decodes, re-encodes and re-hashes the whole path to the root. For
a block of a thousand record writes (a few thousand new slots) that was about a third of block
time. Here the slots changed in a block are collected and applied in one pass over the trie
(:func:`batch_update`): each node on a changed path is read once and rewritten once.

The trie layout is the Yellow Paper's (appendix D); roots are identical to py-evm's — checked by
``tests/node/test_storage_trie.py`` against ``HexaryTrie`` for random update batches.

Only storage tries use this (their keys are all 32-byte hashes, so no key is a prefix of
another and branch nodes never carry values); the account trie keeps py-evm's code.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import rlp
from eth.abc import AccountStorageDatabaseAPI, AtomicDatabaseAPI
from eth.db.account import AccountDB
from eth.db.cache import CacheDB
from eth.db.journal import JournalDB
from eth.db.storage import AccountStorageDB, StorageLookup
from eth_hash.auto import keccak
from eth_typing import Address, Hash32
from trie import HexaryTrie

from node.ordered_trie import BLANK_ROOT, Node, _build, _reference

KEY_NIBBLES = 64


def _nibbles(key: bytes) -> bytes:
    return bytes(n for byte in key for n in (byte >> 4, byte & 0x0F))


def _decode_hex_prefix(encoded: bytes) -> tuple[bytes, bool]:
    flag = encoded[0] >> 4
    nibbles = _nibbles(encoded)
    return (nibbles[1:] if flag & 1 else nibbles[2:]), bool(flag & 2)


class _Trie:
    """Reads nodes of one trie from ``db`` and records new ones in ``nodes``."""

    def __init__(self, db: Any, nodes: dict[bytes, bytes]) -> None:
        self.db = db
        self.nodes = nodes

    def resolve(self, ref: Node) -> list[Any] | None:
        if isinstance(ref, list):
            return ref
        if ref == b"":
            return None
        encoded = self.nodes.get(ref)
        if encoded is None:
            encoded = self.db[ref]
        node = rlp.decode(encoded)
        return node if node != b"" else None

    def leaves(self, ref: Node, prefix: bytes) -> Iterator[tuple[bytes, bytes]]:
        """Every (full nibble path, value) under ``ref`` whose path starts with ``prefix``."""
        node = self.resolve(ref)
        if node is None:
            return
        if len(node) == 17:
            for nibble in range(16):
                if node[nibble] != b"":
                    yield from self.leaves(node[nibble], prefix + bytes([nibble]))
            return
        path, is_leaf = _decode_hex_prefix(node[0])
        if is_leaf:
            yield prefix + path, node[1]
        else:
            yield from self.leaves(node[1], prefix + path)

    def rebuild(self, ref: Node, ref_prefix: bytes, depth: int, items: Sequence[tuple[bytes, bytes]]) -> Node:
        """The slow, always-correct path: merge the leaves under ``ref`` (whose path so far is
        ``ref_prefix``) with ``items`` and build the subtree at ``depth`` from scratch."""
        merged = dict(self.leaves(ref, ref_prefix))
        for path, value in items:
            if value:
                merged[path] = value
            else:
                merged.pop(path, None)
        if not merged:
            return b""
        return _build(sorted(merged.items()), depth, self.nodes)

    def update(self, ref: Node, depth: int, items: Sequence[tuple[bytes, bytes]]) -> Node:
        """Apply sorted ``items`` (full nibble paths; empty value = delete) under ``ref``."""
        node = self.resolve(ref)
        prefix = items[0][0][:depth]
        if node is None:
            puts = [(p, v) for p, v in items if v]
            return _build(puts, depth, self.nodes) if puts else b""
        if len(node) == 17:
            children: list[Any] = list(node[:16])
            start = 0
            while start < len(items):
                nibble = items[start][0][depth]
                end = start
                while end < len(items) and items[end][0][depth] == nibble:
                    end += 1
                children[nibble] = self.update(children[nibble], depth + 1, items[start:end])
                start = end
            occupied = [i for i in range(16) if children[i] != b""]
            if len(occupied) >= 2:
                return _reference(children + [b""], self.nodes)
            if not occupied:
                return b""
            # One child left: the branch must collapse into its child (extension or leaf).
            only = occupied[0]
            return self.rebuild(children[only], prefix + bytes([only]), depth, ())
        path, is_leaf = _decode_hex_prefix(node[0])
        if not is_leaf:
            full = prefix + path
            if all(p.startswith(full) for p, _ in items):
                child = self.update(node[1], depth + len(path), items)
                resolved = self.resolve(child)
                if resolved is not None and len(resolved) == 17:
                    return _reference([node[0], child], self.nodes)
        return self.rebuild(ref, prefix, depth, items)


def batch_update(db: Any, root: bytes, changes: dict[bytes, bytes]) -> tuple[bytes, dict[bytes, bytes]]:
    """New root and new ``{hash: node}`` after applying ``changes`` (32-byte key → value; an empty
    value deletes) to the trie at ``root`` whose nodes are in ``db``."""
    if not changes:
        return root, {}
    nodes: dict[bytes, bytes] = {}
    trie = _Trie(db, nodes)
    items = sorted((_nibbles(k), bytes(v)) for k, v in changes.items())
    if any(len(p) != KEY_NIBBLES for p, _ in items):
        raise ValueError("batch_update handles 32-byte keys only")
    new: Node = trie.update(b"" if root == BLANK_ROOT else root, 0, items)
    if new == b"":
        return BLANK_ROOT, nodes
    if isinstance(new, list):
        encoded = rlp.encode(new)
        digest = keccak(encoded)
        nodes[digest] = encoded
        return digest, nodes
    return bytes(new), nodes


class _PendingTrie:
    """Stands in for py-evm's write ``HexaryTrie`` inside a storage lookup: writes wait in a
    dict; reading ``root_hash`` applies them in one :func:`batch_update` into ``batch_db``."""

    def __init__(self, batch_db: Any, root_hash: bytes) -> None:
        self._db = batch_db
        self._root = root_hash
        self._pending: dict[bytes, bytes] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            return self._pending[key]
        return bytes(HexaryTrie(self._db, self._root)[key])

    def __contains__(self, key: bytes) -> bool:
        return self[key] != b""

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        self._pending[key] = b""

    @property
    def root_hash(self) -> bytes:
        if self._pending:
            self._root, nodes = batch_update(self._db, self._root, self._pending)
            for digest, encoded in nodes.items():
                self._db[digest] = encoded
            self._pending = {}
        return self._root


class BatchedStorageLookup(StorageLookup):
    """py-evm's storage lookup with the per-slot trie replaced by :class:`_PendingTrie`."""

    def _get_write_trie(self) -> Any:
        if self._trie_nodes_batch is None:
            from eth.db.batch import BatchDB

            self._trie_nodes_batch = BatchDB(self._db, read_through_deletes=True)
        if self._write_trie is None:
            self._write_trie = _PendingTrie(self._trie_nodes_batch, self._starting_root_hash)
        return self._write_trie


class BatchedAccountStorageDB(AccountStorageDB):
    """py-evm's account storage, wired to :class:`BatchedStorageLookup` (same layering)."""

    def __init__(self, db: AtomicDatabaseAPI, storage_root: Hash32, address: Address) -> None:
        super().__init__(db, storage_root, address)
        self._storage_lookup = BatchedStorageLookup(db, storage_root, address)
        self._storage_cache = CacheDB(self._storage_lookup)
        self._locked_changes = JournalDB(self._storage_cache)
        self._journal_storage = JournalDB(self._locked_changes)


class BatchedAccountDB(AccountDB):
    """py-evm's account database whose per-account storage uses batched trie updates."""

    def _get_address_store(self, address: Address) -> AccountStorageDatabaseAPI:
        store = self._account_stores.get(address)
        if store is None:
            store = BatchedAccountStorageDB(self._raw_store_db, self._get_storage_root(address), address)
            self._account_stores[address] = store
        return store
