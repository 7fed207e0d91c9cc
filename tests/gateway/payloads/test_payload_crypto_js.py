"""The portal's JavaScript module (gateway/portal_src/payload-crypto.mjs, npm ``age-encryption``)
and the Python side (pyrage) open each other's ciphertexts: run under Node.js, streaming files."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT
from gateway.payloads.encryption import (decrypt_file, encrypt_file, generate_key_pair, key_pair_of, recipient_for,
                                         write_key_file)

HARNESS = Path(__file__).with_name("payload_crypto_node.mjs")
SIZE = 2 * 2**20 + 12_345  # 33 STREAM chunks, the last one short


def node(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(HARNESS), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    path = tmp_path / "plain.bin"
    path.write_bytes(os.urandom(SIZE))
    return path


def test_python_encrypts_and_the_browser_module_decrypts(tmp_path: Path, plain: Path) -> None:
    pair = generate_key_pair()
    write_key_file(pair, tmp_path / "member.key")
    encrypt_file(plain, tmp_path / "sealed.age", pair.public_key)
    result = node("decrypt", tmp_path / "member.key", tmp_path / "sealed.age", tmp_path / "opened")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "opened").read_bytes() == plain.read_bytes()


def test_the_browser_module_encrypts_to_a_registry_key_and_python_decrypts(tmp_path: Path, plain: Path) -> None:
    pair = generate_key_pair()
    result = node("encrypt", "0x" + pair.public_key.hex(), plain, tmp_path / "sealed.age")
    assert result.returncode == 0, result.stderr
    decrypt_file(tmp_path / "sealed.age", tmp_path / "opened", pair)
    assert (tmp_path / "opened").read_bytes() == plain.read_bytes()


def test_keys_made_in_the_browser_module_work_in_python(tmp_path: Path, plain: Path) -> None:
    made = json.loads(node("keygen").stdout)
    pair = key_pair_of(made["identity"])
    assert "0x" + pair.public_key.hex() == made["publicKeyHex"]
    assert pair.recipient == made["recipient"] == recipient_for(made["publicKeyHex"])
    assert node("recipient", made["publicKeyHex"]).stdout.strip() == made["recipient"]
    encrypt_file(plain, tmp_path / "sealed.age", made["publicKeyHex"])
    (tmp_path / "member.key").write_text(made["identity"] + "\n")
    assert node("decrypt", tmp_path / "member.key", tmp_path / "sealed.age", tmp_path / "opened").returncode == 0
    assert (tmp_path / "opened").read_bytes() == plain.read_bytes()


def test_the_browser_module_refuses_tampering_and_wrong_keys(tmp_path: Path, plain: Path) -> None:
    pair = generate_key_pair()
    write_key_file(pair, tmp_path / "member.key")
    encrypt_file(plain, tmp_path / "sealed.age", pair.public_key)
    sealed = bytearray((tmp_path / "sealed.age").read_bytes())
    sealed[-70_000] ^= 0x01
    (tmp_path / "tampered.age").write_bytes(sealed)
    result = node("decrypt", tmp_path / "member.key", tmp_path / "tampered.age", tmp_path / "opened")
    assert result.returncode == 1 and "DecryptionFailed" in result.stderr and "authentication" in result.stderr
    (tmp_path / "truncated.age").write_bytes((tmp_path / "sealed.age").read_bytes()[:-1000])
    result = node("decrypt", tmp_path / "member.key", tmp_path / "truncated.age", tmp_path / "opened")
    assert result.returncode == 1 and "DecryptionFailed" in result.stderr
    write_key_file(generate_key_pair(), tmp_path / "other.key")
    result = node("decrypt", tmp_path / "other.key", tmp_path / "sealed.age", tmp_path / "opened")
    assert result.returncode == 1 and "not encrypted to this key" in result.stderr
    assert not (tmp_path / "opened").exists() and not (tmp_path / "opened.partial").exists()
