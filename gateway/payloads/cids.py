"""CIDs: the text a person or another node hands us, and the binary form inside our blocks.

A CID (https://github.com/multiformats/cid) is ``<version><codec><multihash>``; CIDv0 is a bare
sha2-256 multihash of a dag-pb block, written in base58btc (``Qm…``); CIDv1 is written in
multibase, and we write it in base32 (``bafy…`` for dag-pb, ``bafk…`` for raw), as Kubo does.

Text from outside (a user, a URL, an IPFS node, a CAR header) is parsed and normalised with the
maintained ``multiformats`` library (:func:`parse_cid`, :func:`normalize_cid`) — any multibase,
v0 or v1. The binary CIDs that our own importer builds and that links inside dag-pb blocks carry are
split with the few varint reads below (:func:`split_cid`), and CIDs we build are written out with
the standard library (:func:`cid_text`): ``cityledger payload cid`` is timed with its process start,
and importing ``multiformats`` alone costs ~40 ms. ``tests/gateway/payloads/test_cids.py`` checks
both against ``multiformats`` on every kind of CID we make.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Literal, NewType

from gateway.errors import InvalidCid

#: A CID in its normal text form: CIDv1 in lowercase base32, CIDv0 in base58btc.
Cid = NewType("Cid", str)
CidVersion = Literal[0, 1]

#: multicodec codes (https://github.com/multiformats/multicodec/blob/master/table.csv)
RAW = 0x55
DAG_PB = 0x70
SHA2_256 = 0x12
SHA2_256_LENGTH = 32

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def varint(value: int) -> bytes:
    """Unsigned LEB128, as used by multiformats and protobuf."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def read_varint(data: bytes | bytearray | memoryview, pos: int) -> tuple[int, int]:
    """Decode an unsigned varint at ``pos``; return ``(value, next position)``.

    Raises ``ValueError`` when the varint runs past the end or is longer than 9 bytes (the
    multiformats limit, https://github.com/multiformats/unsigned-varint).
    """
    value = shift = 0
    for i in range(pos, min(pos + 9, len(data))):
        byte = data[i]
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i + 1
        shift += 7
    raise ValueError("truncated or overlong varint")


def sha256_cid(version: CidVersion, codec: int, digest: bytes) -> bytes:
    """The binary CID of a block whose sha2-256 digest is ``digest``. CIDv0 exists only for dag-pb."""
    if version == 0:
        if codec != DAG_PB:
            raise ValueError("CIDv0 names dag-pb blocks only")
        return bytes((SHA2_256, SHA2_256_LENGTH)) + digest
    return bytes((1,)) + varint(codec) + bytes((SHA2_256, SHA2_256_LENGTH)) + digest


@dataclass(frozen=True, slots=True)
class CidParts:
    """A binary CID taken apart: version, codec, hash function code and digest."""

    version: int
    codec: int
    hash_code: int
    digest: bytes

    @property
    def multihash(self) -> bytes:
        return varint(self.hash_code) + varint(len(self.digest)) + self.digest


def split_cid(binary: bytes) -> CidParts:
    """Take a binary CID apart (CIDv0: a 34-byte sha2-256 multihash; CIDv1: varints then multihash).

    Raises ``ValueError`` on anything else; callers turn that into a domain error naming the block.
    """
    if len(binary) == 34 and binary[0] == SHA2_256 and binary[1] == SHA2_256_LENGTH:
        return CidParts(0, DAG_PB, SHA2_256, binary[2:])
    version, pos = read_varint(binary, 0)
    if version != 1:
        raise ValueError(f"unknown CID version {version}")
    codec, pos = read_varint(binary, pos)
    hash_code, pos = read_varint(binary, pos)
    length, pos = read_varint(binary, pos)
    if len(binary) - pos != length:
        raise ValueError("multihash length does not match its digest")
    return CidParts(1, codec, hash_code, binary[pos:])


def _base58btc(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = []
    while number:
        number, rem = divmod(number, 58)
        out.append(_B58[rem])
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + "".join(reversed(out))


def cid_text(binary: bytes) -> Cid:
    """The normal text form of a binary CID: base58btc for v0, ``b`` + lowercase base32 for v1."""
    if len(binary) == 34 and binary[0] == SHA2_256:
        return Cid(_base58btc(binary))
    return Cid("b" + base64.b32encode(binary).decode("ascii").rstrip("=").lower())


def parse_cid(text: str) -> bytes:
    """Parse a CID in any multibase (or a bare CIDv0) and return its binary form.

    Only sha2-256 CIDs of raw or dag-pb blocks are usable here: anything else raises
    :class:`~gateway.errors.InvalidCid` saying why.
    """
    from multiformats import CID  # a maintained parser for text from outside; see the module doc

    text = text.strip()
    try:
        cid = CID.decode(text.removeprefix("/ipfs/"))
    except (ValueError, KeyError) as exc:
        raise InvalidCid(text, str(exc.args[0]) if exc.args else type(exc).__name__) from None
    if cid.hashfun.code != SHA2_256:
        raise InvalidCid(text, f"hash function {cid.hashfun.name} (only sha2-256 is used here)")
    if cid.codec.code not in (RAW, DAG_PB):
        raise InvalidCid(text, f"codec {cid.codec.name} (only raw and dag-pb blocks are used here)")
    return bytes(cid)


def normalize_cid(text: str) -> Cid:
    """The normal text form (see :data:`Cid`) of a CID given in any multibase."""
    return cid_text(parse_cid(text))
