"""Fetching the payloads the chain's events name, and re-hashing every block against its CID.

A CID (multiformats: CIDv0 ``Qm…`` base58btc, or CIDv1 in multibase base32 ``b…``: version,
codec, multihash) names its root block by the hash of the block's bytes. The audit reads each
block from a Kubo node (``/api/v0/block/get``) or from an embedded store directory (Kubo's flatfs
layout: ``blocks/<next-to-last two characters>/<base32 multihash>.data``), checks its SHA-256
against the CID, and walks UnixFS files (dag-pb nodes: ``PBNode`` links in field 2, ``Data`` in
field 1; UnixFS ``Data`` holds the bytes of a leaf in field 2) down to raw leaves, so the content it
reassembles is the content the CID commits to. A delivery's ``ciphertextHash`` is then compared
with the SHA-256 of that content.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audit.errors import AuditError

RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
MAX_BLOCKS = 100_000


class PayloadCheckFailed(AuditError):
    """Raised when a payload cannot be checked or does not match its CID. ``cid`` names the
    payload; ``kind`` is ``unavailable`` (not a CID this reader handles, or not in the store: a
    warning), or ``corrupt`` (a block whose bytes do not hash to its CID, or a malformed DAG: a
    violation); ``reason`` says which block and what was found."""

    cid: str
    kind: str
    reason: str

    def __init__(self, cid: str, kind: str, reason: str) -> None:
        self.cid = cid
        self.kind = kind
        self.reason = reason
        super().__init__(f"payload {cid}: {reason}")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _b58decode(text: str) -> bytes:
    number = 0
    for char in text:
        number = number * 58 + _B58.index(char)
    raw = number.to_bytes((number.bit_length() + 7) // 8, "big")
    return b"\0" * (len(text) - len(text.lstrip("1"))) + raw


@dataclass(frozen=True)
class Cid:
    """A parsed CID: codec and the SHA-256 digest of its block."""

    text: str
    codec: int
    digest: bytes
    binary: bytes

    @property
    def multihash(self) -> bytes:
        return bytes([SHA2_256, 32]) + self.digest


def parse_cid(text: str) -> Cid:
    """CIDv0 (base58btc sha2-256 multihash) or CIDv1 in base32; raises ``ValueError``."""
    if text.startswith("Qm") and len(text) == 46:
        binary = _b58decode(text)
        codec, multihash = DAG_PB, binary
    elif text.startswith("b"):
        body = text[1:].upper()
        binary = base64.b32decode(body + "=" * (-len(body) % 8))
        version, pos = _varint(binary, 0)
        if version != 1:
            raise ValueError(f"CID version {version}")
        codec, pos = _varint(binary, pos)
        multihash = binary[pos:]
    else:
        raise ValueError("neither CIDv0 (Qm…) nor CIDv1 in base32 (b…)")
    code, pos = _varint(multihash, 0)
    length, pos = _varint(multihash, pos)
    if code != SHA2_256 or length != 32 or len(multihash) != pos + 32:
        raise ValueError("only sha2-256 multihashes are used here")
    if codec not in (RAW, DAG_PB):
        raise ValueError(f"codec 0x{codec:x} is neither raw nor dag-pb")
    return Cid(text, codec, multihash[pos:], binary)


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """Protocol-buffer fields (varint and length-delimited wire types) of a message."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            length, pos = _varint(data, pos)
            out.append((number, data[pos:pos + length]))
            pos += length
        else:
            raise ValueError(f"wire type {wire}")
    return out


def _cid_from_binary(binary: bytes) -> Cid:
    if binary[:2] == bytes([SHA2_256, 32]):
        return Cid("", DAG_PB, binary[2:], binary)
    version, pos = _varint(binary, 0)
    codec, pos = _varint(binary, pos)
    if version != 1 or binary[pos:pos + 2] != bytes([SHA2_256, 32]):
        raise ValueError("a link names a CID this reader does not handle")
    return Cid("", codec, binary[pos + 2:], binary)


class PayloadReader:
    """Reads and verifies payloads from a Kubo node or an embedded store directory."""

    def __init__(self, ipfs_url: str | None = None, store: Path | None = None, timeout: float = 30.0) -> None:
        self.ipfs_url = ipfs_url
        self.store = store
        if ipfs_url:
            import httpx  # only when a node is named: the import is not free

            self._client: Any = httpx.Client(timeout=timeout)
        else:
            self._client = None

    @property
    def configured(self) -> bool:
        return self.ipfs_url is not None or self.store is not None

    def _block(self, cid: Cid, root: str) -> bytes:
        if self._client is not None:
            import httpx

            try:
                response = self._client.post(f"{self.ipfs_url}/api/v0/block/get", params={"arg": _cid_text(cid)})
            except httpx.HTTPError as exc:
                raise PayloadCheckFailed(root, "unavailable", f"the IPFS node is unreachable: {exc}") from exc
            if response.status_code != 200:
                raise PayloadCheckFailed(root, "unavailable", f"the IPFS node does not serve block {_cid_text(cid)}")
            data = bytes(response.content)
        else:
            assert self.store is not None
            key = base64.b32encode(cid.multihash).decode().rstrip("=")
            path = self.store / "blocks" / key[-3:-1] / f"{key}.data"
            if not path.exists():
                raise PayloadCheckFailed(root, "unavailable", f"block {_cid_text(cid)} is not in {self.store}")
            data = path.read_bytes()
        actual = hashlib.sha256(data).digest()
        if actual != cid.digest:
            raise PayloadCheckFailed(root, "corrupt", f"block {_cid_text(cid)} hashes to sha2-256 {actual.hex()}, "
                                                      f"its CID names {cid.digest.hex()}")
        return data

    def read(self, text: str) -> bytes:
        """The verified content of the payload ``text``."""
        try:
            root = parse_cid(text)
        except (ValueError, IndexError) as exc:
            raise PayloadCheckFailed(text, "unavailable", f"not a CID the audit can check: {exc}") from exc
        out = bytearray()
        stack = [root]
        seen = 0
        while stack:
            cid = stack.pop()
            seen += 1
            if seen > MAX_BLOCKS:
                raise PayloadCheckFailed(text, "corrupt", f"more than {MAX_BLOCKS} blocks")
            data = self._block(cid, text)
            if cid.codec == RAW:
                out += data
                continue
            try:
                fields = _fields(data)
                links = [_cid_from_binary(next(v for n, v in _fields(link) if n == 1))  # type: ignore[arg-type]
                         for n, link in fields if n == 2 and isinstance(link, bytes)]
                unixfs = next((v for n, v in fields if n == 1 and isinstance(v, bytes)), b"")
                leaf = next((v for n, v in _fields(unixfs) if n == 2 and isinstance(v, bytes)), b"")
            except (ValueError, StopIteration) as exc:
                raise PayloadCheckFailed(text, "corrupt", f"block {_cid_text(cid)} is not a UnixFS dag-pb node: {exc}") from exc
            out += leaf
            stack.extend(reversed(links))
        return bytes(out)


def _cid_text(cid: Cid) -> str:
    if cid.text:
        return cid.text
    if cid.binary[:2] == bytes([SHA2_256, 32]):
        number = int.from_bytes(cid.binary, "big")
        chars = ""
        while number:
            number, rest = divmod(number, 58)
            chars = _B58[rest] + chars
        return chars
    return "b" + base64.b32encode(cid.binary).decode().lower().rstrip("=")
