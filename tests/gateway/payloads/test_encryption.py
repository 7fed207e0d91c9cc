"""Encryption to a member's X25519 key (age format): round trips, the key format MemberRegistry
stores, and every kind of tampering failing with a clear error and no plaintext left behind."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import bech32
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from conftest import ROOT
from gateway.errors import DecryptionFailed, InvalidKey
from gateway.payloads.encryption import (KeyPair, decrypt_file, decrypt_stream, encrypt_file, encrypt_stream,
                                         generate_key_pair, key_pair_of, parse_public_key, read_key_file,
                                         recipient_for, write_key_file)

CHUNK = 64 * 1024  # age's STREAM chunk
SEALED = CHUNK + 16  # a chunk with its Poly1305 tag


def test_the_registry_key_is_the_raw_x25519_public_key(tmp_path: Path) -> None:
    pair = generate_key_pair()
    assert len(pair.public_key) == 32
    hrp, words = bech32.bech32_decode(pair.identity)
    assert hrp == "age-secret-key-" and words is not None
    secret = bytes(bech32.convertbits(words, 5, 8, False) or [])
    derived = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    assert derived == pair.public_key  # RFC 7748 X25519(secret, 9), as cryptography computes it
    assert pair.recipient.startswith("age1") and len(pair.recipient) == 62
    for form in (pair.public_key, pair.public_key.hex(), "0x" + pair.public_key.hex(), pair.recipient):
        assert parse_public_key(form) == pair.public_key
        assert recipient_for(form) == pair.recipient

    key_file = tmp_path / "member.key"
    write_key_file(pair, key_file)
    assert key_file.stat().st_mode & 0o077 == 0
    text = key_file.read_text()
    assert f"0x{pair.public_key.hex()}" in text and f"# public key: {pair.recipient}" in text
    assert read_key_file(key_file) == pair == key_pair_of(pair.identity)


@pytest.mark.parametrize("bad", ["", "00" * 31, "00" * 32, "zz" * 32, "age1qqqq", "0x" + "11" * 33])
def test_unusable_public_keys_are_refused(bad: str) -> None:
    with pytest.raises(InvalidKey):
        parse_public_key(bad)


def test_unusable_identities_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidKey):
        key_pair_of("AGE-SECRET-KEY-1NOPE")
    (tmp_path / "empty.key").write_text("# nothing here\n")
    with pytest.raises(InvalidKey, match="no AGE-SECRET-KEY"):
        read_key_file(tmp_path / "empty.key")


@pytest.fixture(scope="module")
def pair() -> KeyPair:
    return generate_key_pair()


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 1_000_003])
def test_files_round_trip(tmp_path: Path, pair: KeyPair, size: int) -> None:
    plain = os.urandom(size)
    (tmp_path / "plain").write_bytes(plain)
    encrypt_file(tmp_path / "plain", tmp_path / "sealed.age", pair.public_key.hex())
    sealed = (tmp_path / "sealed.age").read_bytes()
    assert sealed.startswith(b"age-encryption.org/v1\n-> X25519 ")
    assert size < 16 or plain[:64] not in sealed
    decrypt_file(tmp_path / "sealed.age", tmp_path / "opened", pair)
    assert (tmp_path / "opened").read_bytes() == plain


def test_streams_round_trip(pair: KeyPair) -> None:
    plain = os.urandom(5 * CHUNK + 123)
    sealed, opened = io.BytesIO(), io.BytesIO()
    encrypt_stream(io.BytesIO(plain), sealed, pair.recipient)
    sealed.seek(0)
    decrypt_stream(sealed, opened, pair.identity)
    assert opened.getvalue() == plain


def split(sealed: bytes) -> tuple[bytes, bytes, list[bytes]]:
    """An age file's header (through the MAC line), payload nonce and sealed chunks."""
    end = sealed.index(b"\n", sealed.index(b"\n---")) + 1
    header, nonce, body = sealed[:end], sealed[end:end + 16], sealed[end + 16:]
    return header, nonce, [body[i:i + SEALED] for i in range(0, len(body), SEALED)]


def flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def _reorder(h: bytes, n: bytes, c: list[bytes]) -> bytes:
    return h + n + c[1] + c[0] + b"".join(c[2:])


TAMPERING: dict[str, Callable[[bytes, bytes, list[bytes]], bytes]] = {
    "flipped byte in a chunk": lambda h, n, c: h + n + c[0] + flip(c[1], 100) + b"".join(c[2:]),
    "flipped tag byte": lambda h, n, c: h + n + flip(c[0], SEALED - 1) + b"".join(c[1:]),
    "flipped byte in the header": lambda h, n, c: flip(h, 40) + n + b"".join(c),
    "flipped payload nonce": lambda h, n, c: h + flip(n, 0) + b"".join(c),
    "reordered chunks": _reorder,
    "dropped chunk": lambda h, n, c: h + n + c[0] + b"".join(c[2:]),
    "dropped last chunk": lambda h, n, c: h + n + b"".join(c[:-1]),
    "truncated inside a chunk": lambda h, n, c: (h + n + b"".join(c))[:-7],
    "truncated at a chunk boundary": lambda h, n, c: h + n + c[0] + c[1],
    "bytes appended": lambda h, n, c: h + n + b"".join(c) + b"\0",
    "header only": lambda h, n, c: h,
}


@pytest.mark.parametrize("how", sorted(TAMPERING))
def test_tampering_fails_clearly_and_leaves_no_plaintext(tmp_path: Path, pair: KeyPair, how: str) -> None:
    plain = os.urandom(3 * CHUNK + 500)  # four chunks, the last one short
    (tmp_path / "plain").write_bytes(plain)
    encrypt_file(tmp_path / "plain", tmp_path / "sealed.age", pair.public_key)
    header, nonce, chunks = split((tmp_path / "sealed.age").read_bytes())
    assert len(chunks) == 4
    (tmp_path / "tampered.age").write_bytes(TAMPERING[how](header, nonce, chunks))
    with pytest.raises(DecryptionFailed) as caught:
        decrypt_file(tmp_path / "tampered.age", tmp_path / "opened", pair)
    message = str(caught.value)
    assert message.startswith("decryption failed: ")
    assert any(word in message for word in ("altered", "cut short", "truncated", "header", "not encrypted"))
    assert not (tmp_path / "opened").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "sealed.age", "tampered.age"]


def test_a_wrong_key_fails_clearly(tmp_path: Path, pair: KeyPair) -> None:
    (tmp_path / "plain").write_bytes(b"for the requester only")
    encrypt_file(tmp_path / "plain", tmp_path / "sealed.age", pair.public_key)
    with pytest.raises(DecryptionFailed, match="not encrypted to this key"):
        decrypt_file(tmp_path / "sealed.age", tmp_path / "opened", generate_key_pair())
    assert not (tmp_path / "opened").exists()
    with pytest.raises(DecryptionFailed, match="not encrypted to this key"):
        decrypt_stream(io.BytesIO((tmp_path / "sealed.age").read_bytes()), io.BytesIO(), generate_key_pair())


MEASURE = """
import resource, sys
from pathlib import Path
from gateway.payloads.encryption import decrypt_file, encrypt_file, key_pair_of
pair = key_pair_of(sys.argv[1])
encrypt_file(Path(sys.argv[2]), Path(sys.argv[3]), pair.public_key)
decrypt_file(Path(sys.argv[3]), Path(sys.argv[4]), pair)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_a_large_payload_never_sits_in_memory(tmp_path: Path, pair: KeyPair) -> None:
    size = 192 * 2**20
    with (tmp_path / "plain").open("wb") as out:
        block = os.urandom(2**20)
        for _ in range(size // len(block)):
            out.write(block)
    baseline = subprocess.run([sys.executable, "-c", "import resource, gateway.payloads.encryption, pyrage;"
                               "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"],
                              cwd=ROOT, capture_output=True, text=True, check=True)
    result = subprocess.run([sys.executable, "-c", MEASURE, pair.identity, str(tmp_path / "plain"),
                             str(tmp_path / "sealed.age"), str(tmp_path / "opened")],
                            cwd=ROOT, capture_output=True, text=True, check=True)
    grown_kib = int(result.stdout) - int(baseline.stdout)
    assert grown_kib < 32 * 1024, f"encrypting and decrypting {size >> 20} MiB grew the process by {grown_kib} KiB"
    assert (tmp_path / "opened").stat().st_size == size

