"""CAR v1 files (https://ipld.io/specs/transport/car/carv1/): how blocks travel between IPFS nodes.

A CAR v1 file is a header — ``varint(len) || dag-cbor {"roots": [CID, …], "version": 1}`` — then
sections ``varint(len(cid) + len(block)) || cid || block``. ``ipfs dag import`` takes one and pins
its roots; ``ipfs dag export`` writes one, depth-first in link order, each block once, as
:meth:`~gateway.payloads.unixfs.VerifiedReader.blocks` does.

Reading is streaming: sections are read one at a time, each block's sha2-256 is checked against
its CID as it is read, and a section longer than :data:`MAX_SECTION` is refused (Kubo's own block
limit is 2 MiB), so memory does not grow with the file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from gateway.errors import BlockCorrupted, CarInvalid
from gateway.payloads.cids import SHA2_256, cid_text, read_varint, split_cid, varint

#: Largest section accepted: Kubo's hard block-size limit plus room for the CID.
MAX_SECTION = 2 * 2**20 + 256
MAX_HEADER = 64 * 1024


def write_car(roots: list[bytes], blocks: Iterable[tuple[bytes, bytes]], out: BinaryIO) -> int:
    """Write a CAR v1 file of ``blocks`` (binary CID, bytes) naming ``roots``; return its size."""
    import dag_cbor
    from multiformats import CID

    header = dag_cbor.encode({"roots": [CID.decode(root) for root in roots], "version": 1})
    written = out.write(varint(len(header)) + header)
    for cid, block in blocks:
        written += out.write(varint(len(cid) + len(block)) + cid)
        written += out.write(block)
    return written


def _read_varint(stream: BinaryIO, what: str) -> int | None:
    """A varint read byte by byte; ``None`` at a clean end of file."""
    raw = bytearray()
    while True:
        byte = stream.read(1)
        if not byte:
            if raw:
                raise CarInvalid(f"file ends inside the length of {what}")
            return None
        raw += byte
        if not byte[0] & 0x80:
            return read_varint(raw, 0)[0]
        if len(raw) >= 9:
            raise CarInvalid(f"overlong varint in the length of {what}")


def _read_exactly(stream: BinaryIO, size: int, what: str) -> bytes:
    data = stream.read(size)
    if len(data) != size:
        raise CarInvalid(f"file ends inside {what} ({len(data)} of {size} bytes)")
    return data


def read_header(stream: BinaryIO) -> list[bytes]:
    """Read a CAR v1 header and return its roots (binary CIDs)."""
    import dag_cbor
    from dag_cbor.encoding.err import CBORError
    from multiformats import CID

    size = _read_varint(stream, "the header")
    if size is None:
        raise CarInvalid("empty file")
    if not 0 < size <= MAX_HEADER:
        raise CarInvalid(f"header length {size} out of range")
    try:
        header = dag_cbor.decode(_read_exactly(stream, size, "the header"))
    except (CBORError, ValueError, TypeError) as exc:
        raise CarInvalid(f"header is not DAG-CBOR: {str(exc).splitlines()[0]}") from None
    if not isinstance(header, dict) or header.get("version") != 1:
        raise CarInvalid("not a CAR version 1 header")
    roots = header.get("roots")
    if not isinstance(roots, list) or not roots or not all(isinstance(root, CID) for root in roots):
        raise CarInvalid("the header's roots are not a non-empty list of CIDs")
    return [bytes(root) for root in roots if isinstance(root, CID)]


def _section_cid(section: bytes) -> bytes:
    """The CID at the start of a section (CIDv0: a bare 34-byte multihash)."""
    if section[:2] == bytes((SHA2_256, 32)):
        return section[:34]
    pos = 0
    for _ in range(3):  # version, codec, hash function
        _, pos = read_varint(section, pos)
    length, pos = read_varint(section, pos)
    return section[:pos + length]


def read_blocks(stream: BinaryIO, name: str) -> Iterator[tuple[bytes, bytes]]:
    """The sections after the header, as ``(cid, block)``, each checked against its CID.

    ``name`` names the payload (a root CID) in a :class:`~gateway.errors.BlockCorrupted`.
    """
    index = 0
    while (size := _read_varint(stream, f"section {index}")) is not None:
        if not 0 < size <= MAX_SECTION:
            raise CarInvalid(f"section {index} is {size} bytes (limit {MAX_SECTION})")
        section = _read_exactly(stream, size, f"section {index}")
        try:
            cid = _section_cid(section)
            parts = split_cid(cid)
        except (ValueError, IndexError) as exc:
            raise CarInvalid(f"section {index} does not start with a CID: {exc}") from None
        if parts.hash_code != SHA2_256 or len(parts.digest) != 32:
            raise CarInvalid(f"block {cid_text(cid)} (section {index}) is not hashed with sha2-256")
        block = section[len(cid):]
        actual = hashlib.sha256(block).digest()
        if actual != parts.digest:
            raise BlockCorrupted(name, cid_text(cid), parts.digest.hex(), actual.hex())
        yield cid, block
        index += 1
