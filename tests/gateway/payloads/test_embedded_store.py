"""The embedded store on disk: an altered block file is refused by name, a killed upload leaves no
partial block visible, uploads stream in bounded memory, and the size limit keeps nothing."""

from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest

from conftest import ROOT
from gateway.errors import BlockCorrupted, BlockMissing, PayloadTooLarge
from gateway.payloads.cids import RAW, cid_text, sha256_cid
from gateway.payloads.embedded import EmbeddedStore, block_key
from gateway.payloads.unixfs import CHUNK_SIZE


def leaf_cid(chunk: bytes) -> str:
    return cid_text(sha256_cid(1, RAW, hashlib.sha256(chunk).digest()))


def three_chunks() -> bytes:
    return os.urandom(2 * CHUNK_SIZE) + b"tail"


def test_an_altered_block_file_is_refused_by_cid_and_block(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    data = three_chunks()
    cid = store.put(data)
    second = leaf_cid(data[CHUNK_SIZE:2 * CHUNK_SIZE])
    path = store.block_path(second)
    altered = bytearray(path.read_bytes())
    altered[1000] ^= 0x01
    path.write_bytes(altered)

    with pytest.raises(BlockCorrupted) as caught:
        store.get(cid)
    error = caught.value
    assert (error.cid, error.block_cid) == (cid, second)
    assert error.actual == hashlib.sha256(altered).hexdigest()
    assert cid in str(error) and second in str(error)

    pieces = []
    with pytest.raises(BlockCorrupted):
        for piece in store.stream(cid):
            pieces.append(piece)
    assert b"".join(pieces) == data[:CHUNK_SIZE]  # only what was verified before the altered block

    # the CAR export refuses it too, before writing the altered block
    with pytest.raises(BlockCorrupted):
        store.export_car(cid, io.BytesIO())


def test_an_altered_root_and_a_missing_block_are_named(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    data = three_chunks()
    cid = store.put(data)
    root_path = store.block_path(cid)
    root_path.write_bytes(root_path.read_bytes() + b"\0")
    with pytest.raises(BlockCorrupted) as caught:
        store.get(cid)
    assert caught.value.block_cid == cid

    cid = store.put(data, cid_version=0)
    first = store.put(data[:CHUNK_SIZE], cid_version=0)  # the v0 leaf of the first chunk is this file's root
    store.block_path(first).unlink()
    with pytest.raises(BlockMissing) as missing:
        store.get(cid)
    assert (missing.value.cid, missing.value.block_cid) == (cid, first)


class Generated(io.RawIOBase):
    """``size`` pseudo-random bytes made on the fly, never held in memory at once."""

    def __init__(self, size: int) -> None:
        self._left = size
        self._counter = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._left, 65536)
        block = hashlib.sha256(self._counter.to_bytes(8, "big")).digest() * 2048
        buffer[:n] = block[:n]
        self._counter += 1
        self._left -= n
        return n


def test_a_64_mib_upload_streams_in_bounded_memory(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store", durable=False)
    size = 64 * 2**20
    tracemalloc.start()
    try:
        cid = store.put(Generated(size))  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB for a 64 MiB upload"
    total = 0
    tracemalloc.start()
    try:
        for piece in store.stream(cid):
            total += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == size
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB reading a 64 MiB payload"


def test_a_refused_upload_leaves_no_block_and_no_staging(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store", max_size=3 * CHUNK_SIZE)
    with pytest.raises(PayloadTooLarge):
        store.put(Generated(5 * CHUNK_SIZE))  # type: ignore[arg-type]
    assert list((tmp_path / "store" / "blocks").iterdir()) == []
    assert list((tmp_path / "store" / "tmp").iterdir()) == []
    assert store.pins() == []


UPLOADER = """
import sys
from gateway.payloads.embedded import EmbeddedStore
EmbeddedStore(sys.argv[1]).put(sys.stdin.buffer)
"""


def test_a_killed_upload_leaves_only_whole_blocks_and_is_cleaned_up(tmp_path: Path) -> None:
    root = tmp_path / "store"
    EmbeddedStore(root).put(b"an earlier payload")
    before = {p.name for p in (root / "blocks").rglob("*.data")}
    proc = subprocess.Popen([sys.executable, "-c", UPLOADER, str(root)], stdin=subprocess.PIPE, cwd=ROOT)
    assert proc.stdin is not None
    proc.stdin.write(os.urandom(9 * CHUNK_SIZE))  # the upload is then left waiting for more input
    proc.stdin.flush()
    staging = root / "tmp"
    deadline = time.monotonic() + 30
    while not any(d.is_dir() and len(list(d.iterdir())) >= 5 for d in staging.iterdir()):
        assert time.monotonic() < deadline, "the upload never staged its blocks"
        assert proc.poll() is None
        time.sleep(0.02)  # polling for a condition on disk, not a synchronisation sleep
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdin.close()

    # Nothing of the killed upload is visible: no new block, no pin; every block file is whole.
    assert {p.name for p in (root / "blocks").rglob("*.data")} == before
    store = EmbeddedStore(root)  # opening the store removes the dead process's staging directory
    assert list(staging.iterdir()) == []
    assert len(store.pins()) == 1
    for path in (root / "blocks").rglob("*.data"):
        digest = hashlib.sha256(path.read_bytes()).digest()
        assert block_key(sha256_cid(1, RAW, digest)) == path.stem  # the key is the multihash of the bytes


def test_staging_of_a_live_process_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "store"
    EmbeddedStore(root)
    live = root / "tmp" / f"put-{os.getpid()}-x"
    live.mkdir()
    EmbeddedStore(root)
    assert live.exists()
