"""The embedded store against a real Kubo node: the same CIDs and the same bytes through both stores
from an empty file to 50 MiB (a multi-level DAG), deep trees on small files with Kubo's own
chunker and link limit, CAR files going both ways, and a block altered inside Kubo's repository
caught by the reader."""

from __future__ import annotations

import random
import socket
import time
from pathlib import Path

import pytest

from conftest import free_port
from gateway.errors import BlockCorrupted, StoreUnavailable
from gateway.payloads.cids import cid_text, parse_cid
from gateway.payloads.embedded import EmbeddedStore, block_key
from gateway.payloads.kubo import KuboStore
from gateway.payloads.unixfs import CHUNK_SIZE, MAX_LINKS, import_bytes
from kubo_harness import KuboNode, kubo  # noqa: F401

SIZES = [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1, 2 * CHUNK_SIZE, MAX_LINKS * CHUNK_SIZE,
         MAX_LINKS * CHUNK_SIZE + 1, 50 * 2**20 + 12_345]


@pytest.fixture(scope="module")
def sample() -> bytes:
    return random.Random(50).randbytes(SIZES[-1])


@pytest.fixture(scope="module")
def stores(kubo: KuboNode, tmp_path_factory: pytest.TempPathFactory) -> tuple[EmbeddedStore, KuboStore]:
    return (EmbeddedStore(tmp_path_factory.mktemp("embedded"), durable=False),
            KuboStore(kubo.url, timeout=60))


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("version", [0, 1])
def test_both_stores_give_the_same_cid_and_bytes(stores: tuple[EmbeddedStore, KuboStore], sample: bytes,
                                                 size: int, version: int) -> None:
    embedded, node = stores
    data = sample[:size]
    cid = embedded.put(data, cid_version=version)  # type: ignore[arg-type]
    assert node.put(data, cid_version=version) == cid  # type: ignore[arg-type]
    assert node.get(cid) == data
    assert embedded.get(cid) == data


def test_the_kubo_command_line_agrees_on_the_reference_cids(kubo: KuboNode, tmp_path: Path) -> None:
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello world\n")
    assert kubo.ipfs("add", "-Q", "--only-hash", "--cid-version=0", str(path)).decode().strip() == \
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    assert kubo.ipfs("add", "-Q", "--only-hash", "--cid-version=1", "--raw-leaves", str(path)).decode().strip() == \
        "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


@pytest.mark.parametrize("size,chunk,links", [(1000, 10, 4), (5000, 16, 3), (777, 7, 5), (4096, 100, 2),
                                              (30_000, 64, 174)])
@pytest.mark.parametrize("version", [0, 1])
def test_deep_trees_match_kubo(kubo: KuboNode, tmp_path: Path, size: int, chunk: int, links: int,
                               version: int) -> None:
    # Small chunks and few links give three to ten levels on a small file: the balanced layout's
    # every branch, compared with Kubo's own importer (--chunker / --max-file-links).
    data = random.Random(size + chunk).randbytes(size)
    path = tmp_path / "deep.bin"
    path.write_bytes(data)
    flags = [f"--cid-version={version}", f"--chunker=size-{chunk}", f"--max-file-links={links}"]
    if version == 1:
        flags.append("--raw-leaves")
    theirs = kubo.ipfs("add", "-Q", "--only-hash", *flags, str(path)).decode().strip()
    ours = cid_text(import_bytes(data, cid_version=version, chunk_size=chunk, max_links=links).cid)
    assert ours == theirs


@pytest.mark.parametrize("version", [0, 1])
def test_a_car_from_the_embedded_store_imports_into_kubo(kubo: KuboNode, tmp_path: Path, version: int) -> None:
    data = random.Random(version).randbytes(MAX_LINKS * CHUNK_SIZE + 5000)  # two levels
    embedded = EmbeddedStore(tmp_path / "embedded")
    cid = embedded.put(data, cid_version=version)  # type: ignore[arg-type]
    car = tmp_path / "payload.car"
    with car.open("wb") as out:
        embedded.export_car(cid, out)
    imported = kubo.ipfs("dag", "import", "--pin-roots", str(car)).decode()
    assert f"Pinned root\t{cid}\tsuccess" in imported
    assert kubo.ipfs("cat", cid) == data
    assert cid in kubo.ipfs("pin", "ls", "--type=recursive", "-q").decode().split()


def test_a_car_from_kubo_imports_into_the_embedded_store(kubo: KuboNode, tmp_path: Path) -> None:
    data = random.Random(3).randbytes(3 * CHUNK_SIZE + 3)
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    cid = kubo.ipfs("add", "-Q", "--cid-version=1", "--raw-leaves", f"--chunker=size-{CHUNK_SIZE}",
                    str(path)).decode().strip()
    car = tmp_path / "from-kubo.car"
    car.write_bytes(kubo.ipfs("dag", "export", cid))
    embedded = EmbeddedStore(tmp_path / "embedded")
    with car.open("rb") as source:
        assert embedded.import_car(source) == [cid]
    assert embedded.get(cid) == data


def test_a_block_altered_inside_kubo_is_caught(kubo: KuboNode, tmp_path: Path) -> None:
    node = KuboStore(kubo.url, timeout=30)
    data = random.Random(77).randbytes(3 * CHUNK_SIZE)
    cid = node.put(data)
    leaf = import_bytes(data[CHUNK_SIZE:2 * CHUNK_SIZE]).cid  # the second leaf (a raw block)
    # Kubo's flatfs keeps blocks as blocks/<next-to-last two chars>/<base32 multihash>.data, the
    # layout the embedded store copies; Kubo does not re-hash blocks it reads (HashOnRead is off).
    key = block_key(leaf)
    path = kubo.repo / "blocks" / key[-3:-1] / f"{key}.data"
    block = bytearray(path.read_bytes())
    block[5] ^= 0xFF
    path.write_bytes(block)
    with pytest.raises(BlockCorrupted) as caught:
        node.get(cid)
    assert (caught.value.cid, caught.value.block_cid) == (cid, cid_text(leaf))
    assert parse_cid(caught.value.block_cid) == leaf


def test_an_unreachable_or_silent_node_is_reported_within_the_timeout() -> None:
    with pytest.raises(StoreUnavailable, match="cannot connect"):
        KuboStore(f"http://127.0.0.1:{free_port()}", timeout=5).pins()
    with socket.socket() as silent:  # accepts connections (the kernel's backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        store = KuboStore(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(StoreUnavailable, match="no answer within 0.5 s"):
            store.get("bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4")
        assert time.monotonic() - started < 10
