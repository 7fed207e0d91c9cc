"""One conformance suite for every KeyValueStore (MemoryKV is the in-memory unit-test store)."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from node.errors import StorageError
from node.kv import BlockWriteBuffer, KeyValueStore, LmdbKV, MemoryKV


@pytest.fixture(params=["memory", "lmdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyValueStore]:
    kv: KeyValueStore = MemoryKV() if request.param == "memory" else LmdbKV(tmp_path / "kv")
    yield kv
    kv.close()


def test_missing_key_reads_none(store: KeyValueStore) -> None:
    assert store.get(b"absent") is None


def test_commit_puts_and_deletes(store: KeyValueStore) -> None:
    store.commit({b"a": b"1", b"b": b"2"})
    store.commit({b"a": None, b"c": b"3"})
    assert store.get(b"a") is None
    assert store.get(b"b") == b"2"
    assert store.get(b"c") == b"3"


def test_delete_of_missing_key_is_harmless(store: KeyValueStore) -> None:
    store.commit({b"ghost": None})
    assert store.get(b"ghost") is None


def test_commit_is_all_or_nothing(store: KeyValueStore) -> None:
    store.commit({b"kept": b"old"})
    with pytest.raises(Exception):
        store.commit({b"kept": b"new", b"bad": "not bytes"})  # type: ignore[dict-item]
    assert store.get(b"kept") == b"old"
    assert store.get(b"bad") is None


def test_closed_store_refuses(store: KeyValueStore) -> None:
    store.close()
    with pytest.raises(StorageError):
        store.get(b"a")
    with pytest.raises(StorageError):
        store.commit({b"a": b"1"})


def test_large_values_round_trip(store: KeyValueStore) -> None:
    blob = bytes(range(256)) * 4096
    store.commit({b"big": blob})
    assert store.get(b"big") == blob


def _read_in_child(path: str, key: bytes, out: "multiprocessing.Queue[bytes | None]") -> None:
    kv = LmdbKV(Path(path))
    out.put(kv.get(key))
    kv.close()


def test_lmdb_survives_reopen_and_serves_other_processes(tmp_path: Path) -> None:
    kv = LmdbKV(tmp_path / "kv")
    kv.commit({b"k": b"v"})
    kv.close()
    reopened = LmdbKV(tmp_path / "kv")
    assert reopened.get(b"k") == b"v"
    ctx = multiprocessing.get_context("spawn")
    queue: multiprocessing.Queue[bytes | None] = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(str(tmp_path / "kv"), b"k", queue))
    child.start()
    assert queue.get(timeout=30) == b"v"
    child.join(timeout=30)
    reopened.close()


@pytest.mark.parametrize("make", [MemoryKV, None], ids=["memory", "lmdb"])
def test_buffer_reaches_store_only_on_flush(make: Callable[[], KeyValueStore] | None, tmp_path: Path) -> None:
    kv = make() if make else LmdbKV(tmp_path / "kv")
    kv.commit({b"old": b"1"})
    buf = BlockWriteBuffer(kv)
    buf[b"new"] = b"2"
    del buf[b"old"]
    assert buf[b"new"] == b"2" and b"old" not in buf
    assert kv.get(b"new") is None and kv.get(b"old") == b"1"
    buf.discard()
    assert b"new" not in buf and buf[b"old"] == b"1"
    buf[b"new"] = b"3"
    del buf[b"old"]
    buf.flush()
    assert kv.get(b"new") == b"3" and kv.get(b"old") is None
    assert not buf.dirty
    with pytest.raises(KeyError):
        del buf[b"never"]
