"""One conformance suite for every PayloadStore (STYLE 3): the embedded block store on disk and a
real Kubo node over its RPC API pass the same tests."""

from __future__ import annotations

import hashlib
import io
import os
import random
from collections.abc import Callable, Iterator
from pathlib import Path

import aleph_cid
import pytest

from gateway.errors import BlockCorrupted, CarInvalid, InvalidCid, PayloadNotFound, PayloadTooLarge
from gateway.payloads.car import write_car
from gateway.payloads.cids import RAW, cid_text, parse_cid, sha256_cid
from gateway.payloads.embedded import EmbeddedStore
from gateway.payloads.kubo import KuboStore
from gateway.payloads.store import DEFAULT_MAX_SIZE, PayloadStore
from gateway.payloads.unixfs import CHUNK_SIZE, import_bytes
from kubo_harness import KuboNode, kubo  # noqa: F401

StoreFactory = Callable[..., PayloadStore]


@pytest.fixture(params=["embedded", "kubo"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """Opens stores of one kind; each call may set its own ``max_size``. Kubo stores share one node."""
    opened: list[PayloadStore] = []

    def make(max_size: int = DEFAULT_MAX_SIZE) -> PayloadStore:
        store: PayloadStore
        if request.param == "embedded":
            store = EmbeddedStore(tmp_path / "store", max_size=max_size)
        else:
            node: KuboNode = request.getfixturevalue("kubo")
            store = KuboStore(node.url, timeout=30, max_size=max_size)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> PayloadStore:
    return make_store()


def expected_cid(data: bytes, version: int) -> str:
    return cid_text(import_bytes(data, cid_version=version).cid)  # type: ignore[arg-type]


def random_bytes(size: int, seed: int = 1) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.mark.parametrize("size", [0, 12, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * CHUNK_SIZE + 7])
@pytest.mark.parametrize("version", [0, 1])
def test_put_returns_kubo_cid_and_get_returns_the_bytes(store: PayloadStore, size: int, version: int) -> None:
    data = random_bytes(size, seed=size)
    cid = store.put(data, cid_version=version)  # type: ignore[arg-type]
    assert cid == expected_cid(data, version)
    assert cid.startswith("Qm" if version == 0 else ("bafk" if size <= CHUNK_SIZE else "bafy"))
    assert store.get(cid) == data
    assert b"".join(store.stream(cid)) == data
    assert store.has(cid)
    assert cid in store.pins()


def test_published_reference_cids(store: PayloadStore) -> None:
    assert store.put(b"hello world\n", cid_version=0) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    assert store.put(b"hello world\n") == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def test_put_streams_from_files_and_pipes(store: PayloadStore, tmp_path: Path) -> None:
    data = random_bytes(2 * CHUNK_SIZE + 5, seed=7)
    path = tmp_path / "in.bin"
    path.write_bytes(data)
    with path.open("rb") as source:
        from_file = store.put(source)
    read_fd, write_fd = os.pipe()
    with os.fdopen(write_fd, "wb") as writer:
        writer.write(data[:60_000])  # fits the pipe buffer; the rest comes from a BytesIO below
    with os.fdopen(read_fd, "rb") as reader:
        class Joined(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
                chunk = reader.read(len(buffer)) or rest.read(len(buffer))
                buffer[:len(chunk)] = chunk
                return len(chunk)

        rest = io.BytesIO(data[60_000:])
        from_pipe = store.put(Joined())  # type: ignore[arg-type]
    assert from_file == from_pipe == expected_cid(data, 1)


def test_a_cid_in_another_multibase_names_the_same_payload(store: PayloadStore) -> None:
    from multiformats import CID

    data = b"payload named in base58"
    cid = store.put(data)
    assert store.get(CID.decode(cid).encode("base58btc")) == data
    assert store.has(CID.decode(cid).encode("base36"))


def test_unknown_payload_is_not_found(store: PayloadStore) -> None:
    missing = cid_text(sha256_cid(1, RAW, hashlib.sha256(os.urandom(16)).digest()))
    assert not store.has(missing)
    assert missing not in store.pins()
    with pytest.raises(PayloadNotFound) as caught:
        store.get(missing)
    assert caught.value.cid == missing and missing in str(caught.value)
    with pytest.raises(PayloadNotFound):
        store.stream(missing)  # at the call, before any iteration


def test_garbage_cid_is_refused(store: PayloadStore) -> None:
    with pytest.raises(InvalidCid):
        store.get("not-a-cid")
    with pytest.raises(InvalidCid):
        store.has("Qm000")


def test_size_limit_refuses_and_keeps_nothing(make_store: StoreFactory) -> None:
    store = make_store(max_size=CHUNK_SIZE + 10)
    data = random_bytes(2 * CHUNK_SIZE, seed=99)
    with pytest.raises(PayloadTooLarge) as caught:
        store.put(io.BytesIO(data))
    assert caught.value.limit == CHUNK_SIZE + 10
    assert not store.has(expected_cid(data, 1))
    assert store.put(data[:CHUNK_SIZE + 10]) == expected_cid(data[:CHUNK_SIZE + 10], 1)


@pytest.mark.parametrize("version", [0, 1])
def test_car_export_and_import_round_trip(make_store: StoreFactory, tmp_path: Path, version: int) -> None:
    store = make_store()
    data = random_bytes(5 * CHUNK_SIZE + 77, seed=version)
    cid = store.put(data, cid_version=version)  # type: ignore[arg-type]
    car = tmp_path / "out.car"
    with car.open("wb") as out:
        size = store.export_car(cid, out)
    assert size == car.stat().st_size
    assert aleph_cid.read_carv1_root(car) == cid
    other = EmbeddedStore(tmp_path / "other")
    with car.open("rb") as source:
        assert other.import_car(source) == [cid]
    assert other.get(cid) == data and other.has(cid)
    # and back into a store of this kind
    with car.open("rb") as source:
        assert store.import_car(source) == [cid]
    assert store.get(cid) == data


def _car_of(data: bytes) -> tuple[str, list[tuple[bytes, bytes]]]:
    store_blocks: dict[bytes, bytes] = {}  # an in-memory sink: the blocks of a hand-made CAR

    def sink(cid: bytes, parts: object) -> None:
        store_blocks[cid] = b"".join(bytes(p) for p in parts)  # type: ignore[attr-defined]

    root = import_bytes(data, cid_version=1, sink=sink)
    ordered = [(root.cid, store_blocks.pop(root.cid)), *store_blocks.items()]
    return cid_text(root.cid), ordered


def test_import_refuses_a_car_with_an_altered_block(store: PayloadStore) -> None:
    cid, blocks = _car_of(random_bytes(3 * CHUNK_SIZE, seed=5))
    victim, block = blocks[2]
    blocks[2] = (victim, block[:-1] + bytes([block[-1] ^ 1]))
    out = io.BytesIO()
    write_car([parse_cid(cid)], blocks, out)
    with pytest.raises(BlockCorrupted) as caught:
        store.import_car(io.BytesIO(out.getvalue()))
    assert caught.value.block_cid == cid_text(victim) and cid_text(victim) in str(caught.value)
    assert not store.has(cid)


def test_import_refuses_truncated_and_incomplete_cars(store: PayloadStore) -> None:
    cid, blocks = _car_of(random_bytes(3 * CHUNK_SIZE, seed=6))
    out = io.BytesIO()
    write_car([parse_cid(cid)], blocks, out)
    with pytest.raises(CarInvalid, match="ends inside"):
        store.import_car(io.BytesIO(out.getvalue()[:-100]))
    out = io.BytesIO()
    write_car([parse_cid(cid)], blocks[:-1], out)  # a leaf missing
    with pytest.raises(CarInvalid):
        store.import_car(io.BytesIO(out.getvalue()))
    assert not store.has(cid)
    with pytest.raises(CarInvalid):
        store.import_car(io.BytesIO(b"\x05hello"))
