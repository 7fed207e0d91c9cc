"""`cityledger payload ...` through the real command line, in a subprocess: CIDs, both stores, CAR
files, a corrupt block failing `get` with exit code 1, and encryption to a member's key."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess
import sys
from pathlib import Path

import aleph_cid
import click

from conftest import ROOT
from gateway.payloads.cids import RAW, cid_text, sha256_cid
from gateway.payloads.embedded import EmbeddedStore
from gateway.payloads.unixfs import CHUNK_SIZE
from kubo_harness import KuboNode, kubo  # noqa: F401


def cli(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "cityledger_cli", "payload", *map(str, args)], cwd=cwd,
                          capture_output=True, timeout=120)


def out(result: subprocess.CompletedProcess[bytes]) -> str:
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().strip()


def test_help_lists_the_group_and_documents_every_option() -> None:
    top = subprocess.run([sys.executable, "-m", "cityledger_cli", "--help"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert top.returncode == 0 and "payload" in top.stdout
    from gateway.payloads.cli import app

    assert isinstance(app, click.Group)
    assert {"cid", "add", "get", "export-car", "import-car", "encrypt", "decrypt", "keygen", "pins"} <= set(app.commands)
    for name, command in app.commands.items():
        assert command.help, f"payload {name} has no help text"
        for param in command.params:
            if isinstance(param, click.Option):
                assert param.help, f"payload {name} {param.opts} has no help text"


def test_cid_prints_kubo_cids(tmp_path: Path) -> None:
    hello = tmp_path / "hello.txt"
    hello.write_bytes(b"hello world\n")
    assert out(cli("cid", hello)) == "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
    assert out(cli("cid", hello, "--cid-version", "0")) == "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
    big = tmp_path / "big.bin"
    big.write_bytes(random.Random(1).randbytes(180 * CHUNK_SIZE + 5))
    assert out(cli("cid", big, "--cid-version", "0")) == aleph_cid.compute_cid(big.read_bytes())


def test_cid_starts_without_the_stores_libraries() -> None:
    probe = ("import sys; from cityledger_cli import main; main(['payload', 'cid', 'README.md']);"
             "heavy = {'multiformats', 'pyrage', 'ipfshttpclient', 'requests', 'httpx', 'web3', 'eth', 'fastapi',"
             " 'dag_cbor', 'cryptography', 'node', 'audit'} & {m.split('.')[0] for m in sys.modules}; print(sorted(heavy))")
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_add_get_and_a_corrupt_block(tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = random.Random(2).randbytes(3 * CHUNK_SIZE + 9)
    (tmp_path / "in.bin").write_bytes(data)
    cid = out(cli("add", tmp_path / "in.bin", "--store", store))
    assert cid == out(cli("cid", tmp_path / "in.bin"))
    assert out(cli("pins", "--store", store)) == cid
    assert cli("get", cid, "--store", store).stdout == data
    out(cli("get", cid, "--store", store, "--out", tmp_path / "copy.bin"))
    assert (tmp_path / "copy.bin").read_bytes() == data

    piped = subprocess.run([sys.executable, "-m", "cityledger_cli", "payload", "add", "-", "--store", str(store),
                            "--cid-version", "0"], input=data, cwd=ROOT, capture_output=True, timeout=60)
    assert out(piped) == aleph_cid.compute_cid(data)

    leaf = cid_text(sha256_cid(1, RAW, hashlib.sha256(data[CHUNK_SIZE:2 * CHUNK_SIZE]).digest()))
    block = EmbeddedStore(store).block_path(leaf)
    altered = bytearray(block.read_bytes())
    altered[7] ^= 0x40
    block.write_bytes(altered)
    result = cli("get", cid, "--store", store, "--out", tmp_path / "bad.bin")
    assert result.returncode == 1
    message = result.stderr.decode()
    assert cid in message and leaf in message and "corrupted" in message
    assert not (tmp_path / "bad.bin").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy.bin", "in.bin", "store"]
    assert cli("get", cid, "--store", store).returncode == 1
    assert cli("export-car", cid, tmp_path / "bad.car", "--store", store).returncode == 1


def test_car_files_between_stores_and_kubo(tmp_path: Path, kubo: KuboNode) -> None:
    data = random.Random(3).randbytes(2 * CHUNK_SIZE + 1)
    (tmp_path / "in.bin").write_bytes(data)
    first, second = tmp_path / "first", tmp_path / "second"
    cid = out(cli("add", tmp_path / "in.bin", "--store", first))
    cli("export-car", cid, tmp_path / "payload.car", "--store", first)
    assert aleph_cid.read_carv1_root(tmp_path / "payload.car") == cid
    assert out(cli("import-car", tmp_path / "payload.car", "--store", second)) == cid
    assert cli("get", cid, "--store", second).stdout == data

    assert out(cli("import-car", tmp_path / "payload.car", "--ipfs", kubo.url)) == cid
    assert cli("get", cid, "--ipfs", kubo.url).stdout == data
    assert kubo.ipfs("cat", cid) == data
    assert out(cli("add", tmp_path / "in.bin", "--ipfs", kubo.url, "--cid-version", "0")) == \
        out(cli("add", tmp_path / "in.bin", "--store", first, "--cid-version", "0"))
    assert cid in out(cli("pins", "--ipfs", kubo.url)).split()


def test_keygen_encrypt_decrypt(tmp_path: Path) -> None:
    lines = out(cli("keygen", "--out", tmp_path / "member.key")).splitlines()
    public_hex, recipient = lines
    assert public_hex.startswith("0x") and len(public_hex) == 66 and recipient.startswith("age1")
    assert (tmp_path / "member.key").stat().st_mode & 0o077 == 0
    assert cli("keygen", "--out", tmp_path / "member.key").returncode == 2  # never overwritten
    plain = os.urandom(300_000)
    (tmp_path / "plain").write_bytes(plain)
    out(cli("encrypt", "--to", public_hex, tmp_path / "plain", tmp_path / "sealed.age"))
    out(cli("decrypt", "--key", tmp_path / "member.key", tmp_path / "sealed.age", tmp_path / "opened"))
    assert (tmp_path / "opened").read_bytes() == plain
    out(cli("encrypt", "--to", recipient, tmp_path / "plain", tmp_path / "sealed2.age"))

    cli("keygen", "--out", tmp_path / "other.key")
    wrong = cli("decrypt", "--key", tmp_path / "other.key", tmp_path / "sealed.age", tmp_path / "nope")
    assert wrong.returncode == 1 and b"not encrypted to this key" in wrong.stderr
    sealed = bytearray((tmp_path / "sealed.age").read_bytes())
    sealed[-1000] ^= 1
    (tmp_path / "tampered.age").write_bytes(sealed)
    tampered = cli("decrypt", "--key", tmp_path / "member.key", tmp_path / "tampered.age", tmp_path / "nope")
    assert tampered.returncode == 1 and b"failed authentication" in tampered.stderr
    assert not (tmp_path / "nope").exists()
    assert cli("encrypt", "--to", "0x1234", tmp_path / "plain", tmp_path / "x.age").returncode == 2


def test_bad_input_exits_2(tmp_path: Path) -> None:
    (tmp_path / "in.bin").write_bytes(b"x")
    assert cli("cid", tmp_path / "missing").returncode == 2
    assert cli("cid", tmp_path / "in.bin", "--cid-version", "2").returncode == 2
    assert cli("add", tmp_path / "in.bin", "--store", tmp_path / "s", "--ipfs", "http://127.0.0.1:1").returncode == 2
    assert cli("get", "not-a-cid", "--store", tmp_path / "s").returncode == 2
    result = cli("add", tmp_path / "in.bin", "--store", tmp_path / "s", "--max-size", "0")
    assert result.returncode == 2
    missing = cid_text(sha256_cid(1, RAW, hashlib.sha256(b"never stored").digest()))
    result = cli("get", missing, "--store", tmp_path / "s")
    assert result.returncode == 2 and b"not found" in result.stderr
