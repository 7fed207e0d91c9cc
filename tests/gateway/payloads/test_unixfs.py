"""The importer reproduces Kubo's CIDs: the published reference values (NOTES "IPFS") and, on every
shape of DAG, ``aleph-cid`` (an independent Rust implementation). The same CIDs come out whichever
way the bytes arrive (memory, a regular file read in parallel, a pipe with short reads).
Comparisons with a real Kubo are in ``test_kubo_interop.py``."""

from __future__ import annotations

import io
import os
import random
from pathlib import Path

import aleph_cid
import pytest

from gateway.errors import PayloadTooLarge
from gateway.payloads.cids import cid_text, split_cid
from gateway.payloads.unixfs import (CHUNK_SIZE, MAX_LINKS, Link, decode_pb_node, decode_unixfs, encode_file_node,
                                     file_cid, import_bytes, import_stream)

HELLO = b"hello world\n"


def oracle(data: bytes, version: int) -> str:
    hasher = aleph_cid.CidHasher.for_ipfs() if version == 0 else aleph_cid.CidHasher.for_ipfs_v1_raw_leaves()
    for start in range(0, len(data), 1 << 20):
        hasher.update(data[start:start + (1 << 20)])
    return hasher.finalize()


def cid_of(data: bytes, version: int, **options: object) -> str:
    return cid_text(import_bytes(data, cid_version=version, **options).cid)


def test_published_reference_cids_of_hello_world() -> None:
    assert cid_of(HELLO, 0) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    assert cid_of(HELLO, 1) == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


SIZES = [0, 1, 12, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7, 10 * CHUNK_SIZE,
         MAX_LINKS * CHUNK_SIZE, MAX_LINKS * CHUNK_SIZE + 1, (MAX_LINKS + 26) * CHUNK_SIZE + 12_345]


@pytest.fixture(scope="module")
def sample() -> bytes:
    return random.Random(8).randbytes(SIZES[-1])


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("version", [0, 1])
def test_importer_matches_aleph_cid(sample: bytes, size: int, version: int) -> None:
    data = sample[:size]
    assert cid_of(data, version) == oracle(data, version)


def test_multi_level_dag_shape(sample: bytes) -> None:
    # 201 chunks > 174 links: the root links to a full node of 174 leaves and a node of the other 27
    # (the balanced layout). The blocks are caught in a dict: an in-memory sink, for this unit test.
    blocks: dict[bytes, bytes] = {}

    def sink(cid: bytes, parts: object) -> None:
        blocks[cid] = b"".join(bytes(p) for p in parts)  # type: ignore[attr-defined]

    root = import_bytes(sample, cid_version=1, sink=sink)
    assert root.filesize == len(sample)
    _, top = decode_pb_node(memoryview(blocks[root.cid]))
    assert len(top) == 2
    counts = [len(decode_pb_node(memoryview(blocks[link.cid]))[1]) for link in top]
    assert counts == [MAX_LINKS, 201 - MAX_LINKS]
    assert root.tsize == len(blocks[root.cid]) + sum(link.tsize or 0 for link in top)
    assert sum(len(b) for b in blocks.values()) == root.tsize  # no block repeats in random data


def test_repeated_chunks_give_kubo_cids(tmp_path: Path) -> None:
    data = bytes(5 * CHUNK_SIZE + 3)  # zeros: every full leaf is the same block
    for version in (0, 1):
        assert cid_of(data, version) == oracle(data, version)


class ShortReads(io.RawIOBase):
    """A non-seekable stream that returns at most ``step`` bytes per read, like a pipe or socket."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data = memoryview(data)
        self._pos = 0
        self._step = step

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self._step, len(self._data) - self._pos)
        buffer[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


class ReadOnly:
    """A stream with ``read`` and nothing else."""

    def __init__(self, data: bytes) -> None:
        self._stream = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(min(size, 100_000))


def test_every_way_of_reading_gives_the_same_cid(tmp_path: Path, sample: bytes) -> None:
    data = sample[:7 * CHUNK_SIZE + 99]
    path = tmp_path / "payload.bin"
    path.write_bytes(b"prefix" + data)
    expected = oracle(data, 1)
    assert cid_of(data, 1) == expected
    assert cid_text(import_stream(ShortReads(data, 10_007), cid_version=1).cid) == expected  # type: ignore[arg-type]
    assert cid_text(import_stream(ReadOnly(data), cid_version=1).cid) == expected  # type: ignore[arg-type]
    with path.open("rb") as stream:  # a regular file, read from its current position with preadv
        stream.read(6)
        assert cid_text(import_stream(stream, cid_version=1).cid) == expected
        assert stream.read() == b""
    with path.open("rb") as stream:
        stream.seek(6)
        for workers in (1, 2, 5):
            stream.seek(6)
            assert cid_text(import_stream(stream, cid_version=1, workers=workers).cid) == expected
    path.write_bytes(data)
    assert file_cid(path, 1) == expected
    assert file_cid(path, 0) == oracle(data, 0)


def test_the_size_limit_stops_streams_and_files(tmp_path: Path) -> None:
    data = os.urandom(3 * CHUNK_SIZE)
    assert import_bytes(data, limit=len(data)).filesize == len(data)
    with pytest.raises(PayloadTooLarge) as caught:
        import_stream(ShortReads(data, 50_000), limit=len(data) - 1)  # type: ignore[arg-type]
    assert caught.value.limit == len(data) - 1
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    with path.open("rb") as stream, pytest.raises(PayloadTooLarge):
        import_stream(stream, limit=CHUNK_SIZE)


def test_interior_nodes_decode_back_to_their_links() -> None:
    children = [Link(b"\x01\x55\x12\x20" + os.urandom(32), CHUNK_SIZE, CHUNK_SIZE) for _ in range(3)]
    block = encode_file_node(children)
    data, links = decode_pb_node(memoryview(block))
    assert [link.cid for link in links] == [c.cid for c in children]
    assert [link.tsize for link in links] == [CHUNK_SIZE] * 3 and {link.name for link in links} == {""}
    assert data is not None
    kind, content = decode_unixfs(data)
    assert kind == 2 and content is None
    for child in children:
        assert split_cid(child.cid).version == 1


@pytest.mark.parametrize("block", [b"\x0a", b"\x12\x05\x0a\x01", b"\x0f\x00", b"\x0a\x10abc"])
def test_malformed_protobuf_is_refused(block: bytes) -> None:
    with pytest.raises(ValueError):
        decode_pb_node(memoryview(block))
