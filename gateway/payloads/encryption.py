"""Payloads encrypted to a member's X25519 key, in the age format (C2SP age-encryption.org/v1).

Why age: it is a published, versioned format (https://age-encryption.org/v1) with audited
implementations on both sides we need — ``pyrage`` (Python bindings of the Rust ``rage`` crate)
and npm ``age-encryption`` (typage, by age's author; X25519 through WebCrypto where the browser
has it, ``@noble/curves`` otherwise) — and both stream: a 1 GiB payload is encrypted and decrypted
in 64 KiB pieces in bounded memory (measured: ~10 MiB resident in Python, ~95 MiB in Node.js, for
any size). An age X25519 recipient *is* a raw 32-byte X25519 public key, exactly what
MemberRegistry stores, so no second key per member is needed. The alternative considered was HPKE
(RFC 9180) sealing a per-payload key plus a chunked AES-GCM body of our own framing; age already is
that construction, specified and interoperable, so we add no framing of our own.

**Keys.** MemberRegistry stores a member's encryption key as ``bytes32``: the raw 32-byte X25519
public key (RFC 7748 u-coordinate, little-endian, as ``X25519PublicKey.public_bytes_raw()`` gives
it). The age recipient string is its Bech32 encoding (BIP 173 checksum, no length limit) with the
human-readable part ``age``: ``age1`` + 58 characters. The member's secret is an age identity:
Bech32 of the 32-byte X25519 private scalar with the part ``AGE-SECRET-KEY-``, upper case. A key
file (``cityledger payload keygen``) is age's own key file format — ``#`` comment lines, then the
identity — so ``age -d -i KEYFILE`` opens the same payloads.

**Format** (age-encryption.org/v1, summarised; the spec is normative):

* header, text: ``age-encryption.org/v1``; one stanza per recipient ``-> X25519 <ephemeral share,
  base64>`` whose body is the 16-byte file key wrapped with ChaCha20-Poly1305 under
  HKDF-SHA-256(salt = ephemeral share || recipient, info = ``age-encryption.org/v1/X25519``) of the
  X25519 shared secret; then ``--- <HMAC-SHA-256 of the header, base64>``, the MAC keyed by
  HKDF(file key, info = ``header``);
* payload: a 16-byte random nonce, then the STREAM construction: the plaintext in 64 KiB chunks,
  each sealed with ChaCha20-Poly1305 under HKDF-SHA-256(salt = nonce, ikm = file key,
  info = ``payload``), the 12-byte chunk nonce being an 11-byte big-endian chunk counter and a
  final byte 0x01 for the last chunk, 0x00 otherwise. A changed byte fails that chunk's tag; a
  reordered or dropped chunk fails because its counter differs; a truncated file fails because no
  chunk carries the last-chunk flag; bytes appended after the last chunk are refused.

Decryption writes plaintext only to a temporary file that is renamed into place once the whole
ciphertext has been authenticated; on failure it is removed, so nothing unauthenticated is left.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from gateway.errors import DecryptionFailed, InvalidKey, PayloadError
from gateway.payloads.files import atomic_output

RECIPIENT_HRP = "age"
IDENTITY_HRP = "age-secret-key-"


def _bech32_encode(hrp: str, data: bytes) -> str:
    import bech32

    words = bech32.convertbits(data, 8, 5)
    assert words is not None
    return bech32.bech32_encode(hrp, words)


def _bech32_decode(text: str, hrp: str) -> bytes:
    import bech32

    found, words = bech32.bech32_decode(text.strip())
    if found != hrp or words is None:
        raise InvalidKey(f"not a Bech32 string with prefix {hrp!r}: {text[:24]!r}…")
    data = bech32.convertbits(words, 5, 8, False)
    if data is None or len(data) != 32:
        raise InvalidKey(f"{hrp!r} string does not hold 32 bytes")
    return bytes(data)


def parse_public_key(text: str | bytes) -> bytes:
    """A member's X25519 public key (32 bytes) from its raw bytes, hex (``0x`` optional, as a
    ``bytes32`` reads from MemberRegistry) or an age recipient string (``age1…``)."""
    if isinstance(text, bytes):
        key = text
    elif text.strip().lower().startswith("age1"):
        key = _bech32_decode(text.strip(), RECIPIENT_HRP)
    else:
        try:
            key = bytes.fromhex(text.strip().removeprefix("0x").removeprefix("0X"))
        except ValueError:
            raise InvalidKey(f"expected 64 hex digits or an age1… recipient, got {text[:24]!r}") from None
    if len(key) != 32:
        raise InvalidKey(f"an X25519 public key is 32 bytes, got {len(key)}")
    if key == bytes(32):
        raise InvalidKey("the all-zero X25519 public key (an unset MemberRegistry key)")
    return key


def recipient_for(public_key: bytes | str) -> str:
    """The age recipient (``age1…``) of a member's X25519 public key."""
    return _bech32_encode(RECIPIENT_HRP, parse_public_key(public_key))


@dataclass(frozen=True)
class KeyPair:
    """A member's encryption key pair: the age identity (secret) and the public key for
    MemberRegistry."""

    identity: str
    public_key: bytes

    @property
    def recipient(self) -> str:
        return recipient_for(self.public_key)

    def key_file(self) -> str:
        """The key file text: age's ``age-keygen`` format plus the MemberRegistry ``bytes32``."""
        created = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
        return (f"# created: {created}\n# public key: {self.recipient}\n"
                f"# MemberRegistry encryption key (bytes32): 0x{self.public_key.hex()}\n{self.identity}\n")


def generate_key_pair() -> KeyPair:
    """A new random X25519 key pair (from ``pyrage``, i.e. rage's key generation)."""
    from pyrage import x25519

    identity = x25519.Identity.generate()
    return KeyPair(str(identity), _bech32_decode(str(identity.to_public()), RECIPIENT_HRP))


def key_pair_from_private_key(private_key: bytes | str) -> KeyPair:
    """The key pair of a raw 32-byte X25519 private key (RFC 7748), as the development keys file
    and other X25519 tools hold it: age's identity is that scalar, bech32-encoded."""
    raw = bytes.fromhex(private_key[2:] if private_key.startswith("0x") else private_key) \
        if isinstance(private_key, str) else private_key
    if len(raw) != 32:
        raise InvalidKey(f"an X25519 private key is 32 bytes, got {len(raw)}")
    return key_pair_of(_bech32_encode(IDENTITY_HRP, raw).upper())


def key_pair_of(identity: str) -> KeyPair:
    """The key pair of an age identity string (``AGE-SECRET-KEY-1…``)."""
    import pyrage
    from pyrage import x25519

    try:
        parsed = x25519.Identity.from_str(identity.strip())
    except pyrage.IdentityError as exc:
        raise InvalidKey(f"not an age X25519 identity: {exc}") from None
    return KeyPair(identity.strip(), _bech32_decode(str(parsed.to_public()), RECIPIENT_HRP))


def read_key_file(path: Path) -> KeyPair:
    """The key pair in an age key file (the first ``AGE-SECRET-KEY-1…`` line)."""
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidKey(f"cannot read key file {path}: {exc}") from None
    for line in lines:
        if line.strip().upper().startswith("AGE-SECRET-KEY-1"):
            return key_pair_of(line)
    raise InvalidKey(f"no AGE-SECRET-KEY-1… line in {path}")


def write_key_file(pair: KeyPair, path: Path) -> None:
    """Write a new key file readable by its owner only; never overwrite one."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise PayloadError(f"{path} exists; not overwriting a key file") from None
    except OSError as exc:
        raise PayloadError(f"cannot write {path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "w") as out:
        out.write(pair.key_file())


def _recipients(public_key: bytes | str) -> list[object]:
    from pyrage import x25519

    return [x25519.Recipient.from_str(recipient_for(public_key))]


def encrypt_stream(source: BinaryIO, out: BinaryIO, public_key: bytes | str) -> None:
    """Encrypt ``source`` to the holder of ``public_key`` (raw, hex or ``age1…``), writing the age
    file to ``out`` as it goes."""
    import pyrage

    pyrage.encrypt_io(source, out, _recipients(public_key))  # type: ignore[arg-type]


def encrypt_file(source: Path, out: Path, public_key: bytes | str) -> None:
    """Encrypt the file ``source`` into ``out`` (written to a temporary file, then renamed)."""
    import pyrage

    recipients = _recipients(public_key)
    with atomic_output(out) as temp:
        try:
            pyrage.encrypt_file(str(source), str(temp), recipients)  # type: ignore[arg-type]
        except OSError as exc:
            raise PayloadError(f"cannot encrypt {source}: {exc}") from None


def _identities(identity: str | KeyPair) -> list[object]:
    import pyrage
    from pyrage import x25519

    text = identity.identity if isinstance(identity, KeyPair) else identity
    try:
        return [x25519.Identity.from_str(text.strip())]
    except pyrage.IdentityError as exc:
        raise InvalidKey(f"not an age X25519 identity: {exc}") from None


AGE_MAGIC = b"age-encryption.org/v1\n"


def _explain(exc: Exception, plaintext_bytes: int | None, age_header: bool) -> DecryptionFailed:
    """Turn rage's terse errors into a sentence a member can act on.

    rage reports a first chunk that fails authentication as "Unknown age format" (it reads that
    chunk while it opens the file); a file that does start with the age header is then an altered
    one, not an unknown format.
    """
    text = str(exc)
    where = "" if not plaintext_bytes else f" after {plaintext_bytes} authenticated plaintext bytes"
    altered = ("a ciphertext chunk failed authentication: the file was altered or cut short "
               f"(a changed byte; a reordered, dropped or truncated chunk){where}")
    if "No matching keys" in text:
        return DecryptionFailed("the file is not encrypted to this key (or its header was altered)")
    if "truncated" in text:
        return DecryptionFailed(f"the ciphertext is truncated: its last chunk is missing{where}")
    if "decryption error" in text:
        return DecryptionFailed(altered)
    if "Unknown age format" in text and age_header:
        return DecryptionFailed(altered)
    if not age_header:
        return DecryptionFailed("not an age-encrypted file (no age-encryption.org/v1 header)")
    return DecryptionFailed(f"the age header is damaged ({text.splitlines()[0]})")


def decrypt_stream(source: BinaryIO, out: BinaryIO, identity: str | KeyPair) -> None:
    """Decrypt an age file from ``source`` into ``out``.

    On :class:`~gateway.errors.DecryptionFailed`, ``out`` may hold a prefix of authenticated
    plaintext: discard it (:func:`decrypt_file` does that for files).
    """
    import pyrage

    identities = _identities(identity)
    peek = getattr(source, "peek", None)
    age_header = bytes(peek(len(AGE_MAGIC))[:len(AGE_MAGIC)]) == AGE_MAGIC if peek is not None else True
    try:
        pyrage.decrypt_io(source, out, identities)  # type: ignore[arg-type]
    except (pyrage.DecryptError, OSError, ValueError) as exc:
        raise _explain(exc, None, age_header) from None


def decrypt_file(source: Path, out: Path, identity: str | KeyPair) -> None:
    """Decrypt the age file ``source`` into ``out``; ``out`` appears only if the whole file
    authenticates."""
    import pyrage

    identities = _identities(identity)
    with atomic_output(out) as temp:
        try:
            pyrage.decrypt_file(str(source), str(temp), identities)  # type: ignore[arg-type]
        except FileNotFoundError as exc:
            raise PayloadError(f"cannot read {source}: {exc.strerror}") from None
        except (pyrage.DecryptError, OSError, ValueError) as exc:
            with open(source, "rb") as head:
                age_header = head.read(len(AGE_MAGIC)) == AGE_MAGIC
            raise _explain(exc, temp.stat().st_size if temp.exists() else None, age_header) from None

