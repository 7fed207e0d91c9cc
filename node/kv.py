"""Key-value storage behind one narrow interface, and the per-block write buffer over it.

Every implementation of :class:`KeyValueStore` passes the same conformance suite
(``tests/node/test_kv.py``). The chain never writes to the store directly: py-evm writes into a
:class:`BlockWriteBuffer`, and the buffer reaches the store in one atomic ``commit`` per sealed or
imported block. py-evm's own ``AtomicDB`` writes a batch key by key, which is not atomic on disk; a
process killed between two keys would leave half a block. LMDB commits a write transaction
atomically and durably (copy-on-write B+tree, fsync on commit), so ``kill -9`` at any moment leaves
either the whole block or none of it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Protocol

import lmdb
from eth.db.backends.base import BaseDB

from node.errors import StorageError


class KeyValueStore(Protocol):
    """The node's storage contract: point reads and atomic multi-key commits."""

    def get(self, key: bytes) -> bytes | None:
        """Return the value stored under ``key``, or ``None``."""

    def commit(self, writes: Mapping[bytes, bytes | None]) -> None:
        """Apply all ``writes`` (``None`` deletes) atomically: all become visible, or none."""

    def close(self) -> None:
        """Release the store; further calls are errors."""


class MemoryKV:
    """An in-memory store. For unit tests only: it forgets everything when the process ends."""

    def __init__(self) -> None:
        self._data: dict[bytes, bytes] = {}
        self._closed = False

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        return self._data.get(key)

    def commit(self, writes: Mapping[bytes, bytes | None]) -> None:
        self._check_open()
        staged = dict(self._data)
        for key, value in writes.items():
            if value is None:
                staged.pop(key, None)
            else:
                staged[key] = bytes(value)
        self._data = staged

    def close(self) -> None:
        self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("store is closed")


class LmdbKV:
    """The default on-disk store: one LMDB environment in ``path``.

    LMDB allows one writer process and many reader processes (the node's JSON-RPC process reads
    what its sealer process commits). ``map_size`` is a reservation of address space, not of disk.
    """

    def __init__(self, path: Path, map_size: int = 1 << 40, *, readonly: bool = False) -> None:
        if not readonly:
            path.mkdir(parents=True, exist_ok=True)
        try:
            self._env = lmdb.open(
                str(path), map_size=map_size, subdir=True, sync=True, metasync=True,
                max_dbs=0, lock=True, readonly=readonly,
            )
        except lmdb.Error as exc:
            raise StorageError(f"cannot open store at {path}: {exc}") from exc
        self._closed = False

    def get(self, key: bytes) -> bytes | None:
        self._check_open()
        with self._env.begin(buffers=False) as txn:
            value = txn.get(key)
        return None if value is None else bytes(value)

    def commit(self, writes: Mapping[bytes, bytes | None]) -> None:
        self._check_open()
        try:
            with self._env.begin(write=True) as txn:
                for key, value in writes.items():
                    if value is None:
                        txn.delete(key)
                    else:
                        txn.put(key, value)
        except lmdb.Error as exc:
            raise StorageError(f"commit failed, nothing was written: {exc}") from exc

    def close(self) -> None:
        if not self._closed:
            self._env.close()
            self._closed = True

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("store is closed")


_DELETED = None


class BlockWriteBuffer(BaseDB):
    """py-evm's database view of a store: reads fall through, writes wait for :meth:`flush`.

    Between two flushes the buffer holds exactly one block's writes (state trie nodes, header,
    body, receipts, canonical pointers). ``flush`` hands them to the store as one atomic commit;
    ``discard`` drops them when building or importing a block fails half way.
    """

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store
        self._pending: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._pending:
            value = self._pending[key]
            if value is None:
                raise KeyError(key)
            return value
        stored = self._store.get(key)
        if stored is None:
            raise KeyError(key)
        return stored

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._pending[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[bytes]:
        raise NotImplementedError("the block buffer cannot be iterated")

    @property
    def dirty(self) -> bool:
        """True while writes are waiting for a flush."""
        return bool(self._pending)

    def flush(self) -> None:
        """Commit every pending write to the store atomically, then start a new buffer."""
        if self._pending:
            self._store.commit(self._pending)
            self._pending = {}

    def discard(self) -> None:
        """Forget every pending write."""
        self._pending = {}
