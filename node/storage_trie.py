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

Reads: the first read of a slot in a block walks the storage trie from its root. py-evm decodes
every node on the path again for every slot (``HexaryTrie.get``); a contract written a thousand
times per block re-decodes its top nodes a thousand times. :func:`trie_get` walks the same path
through a bounded cache of decoded nodes. Nodes are keyed by their hash, so a cached node can
never be stale.
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

from node.ordered_trie import _HEX_NIBBLES, BLANK_ROOT, Node, _build, _reference, encode_node

KEY_NIBBLES = 64


def _nibbles(key: bytes) -> bytes:
    return key.hex().encode().translate(_HEX_NIBBLES)


def _decode_hex_prefix(encoded: bytes) -> tuple[bytes, bool]:
    flag = encoded[0] >> 4
    nibbles = _nibbles(encoded)
    return (nibbles[1:] if flag & 1 else nibbles[2:]), bool(flag & 2)


#: Decoded trie nodes by hash (content-addressed, so never stale). Bounded: cleared when full.
_NODE_CACHE: dict[bytes, Any] = {}
_NODE_CACHE_LIMIT = 200_000
#: Hex-prefix paths decoded once (there are few distinct ones near the root).
_PATH_CACHE: dict[bytes, tuple[bytes, bool]] = {}


def _cached_node(db: Any, ref: bytes) -> Any:
    node = _NODE_CACHE.get(ref)
    if node is None:
        node = rlp.decode(db[ref])
        if len(_NODE_CACHE) >= _NODE_CACHE_LIMIT:
            _NODE_CACHE.clear()
        _NODE_CACHE[ref] = node
    return node


def _path_of(encoded: bytes) -> tuple[bytes, bool]:
    found = _PATH_CACHE.get(encoded)
    if found is None:
        found = _decode_hex_prefix(encoded)
        if len(_PATH_CACHE) >= _NODE_CACHE_LIMIT:
            _PATH_CACHE.clear()
        _PATH_CACHE[encoded] = found
    return found


def trie_get(db: Any, root: bytes, key: bytes) -> bytes:
    """The value under ``key`` in the trie at ``root`` (``b""`` when absent), as
    ``HexaryTrie(db, root)[key]`` answers, reading nodes through the decoded-node cache."""
    if root == BLANK_ROOT:
        return b""
    path = _nibbles(key)
    depth = 0
    node: Any = _cached_node(db, root)
    while True:
        if node == b"":
            return b""
        if len(node) == 17:
            if depth == len(path):
                return bytes(node[16])
            child = node[path[depth]]
            depth += 1
        else:
            segment, is_leaf = _path_of(node[0])
            if is_leaf:
                return bytes(node[1]) if path[depth:] == segment else b""
            if path[depth:depth + len(segment)] != segment:
                return b""
            depth += len(segment)
            child = node[1]
        if isinstance(child, list):
            node = child
        elif child == b"":
            return b""
        else:
            node = _cached_node(db, child)


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
        node = _NODE_CACHE.get(ref)
        if node is None:
            encoded = self.nodes.get(ref)
            node = rlp.decode(encoded) if encoded is not None else _cached_node(self.db, ref)
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
        encoded = encode_node(new)
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
        return trie_get(self._db, self._root, key)

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
    """py-evm's storage lookup with the per-slot trie replaced by :class:`_PendingTrie` and
    reads going through :func:`trie_get`."""

    def __getitem__(self, key: bytes) -> bytes:
        hashed_slot = self._decode_key(key)
        if self._write_trie is not None:
            return bytes(self._write_trie[hashed_slot])
        return trie_get(self._db, self._starting_root_hash, hashed_slot)

    def _exists(self, key: bytes) -> bool:
        return self[key] != b""

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
