"""UnixFS files as Kubo's ``ipfs add`` builds them, and the verified walk that reads them back.

Import parameters, pinned because CIDs depend on every one of them (NOTES "IPFS"):

* sha2-256 for every block;
* fixed-size chunks of 256 KiB (Kubo ``--chunker=size-262144``);
* the balanced layout with at most 174 links per node (Kubo ``--max-file-links=174``,
  go ``boxo/ipld/unixfs/importer/balanced``);
* CIDv1: leaves are ``raw`` blocks (``bafk…``), interior nodes dag-pb (``bafy…``); a file of one
  chunk or less *is* its raw leaf. CIDv0: every block is dag-pb (``Qm…``), leaves are UnixFS
  ``File`` nodes carrying the chunk.

Encodings (dag-pb spec https://ipld.io/specs/codecs/dag-pb/spec/ and UnixFS
https://github.com/ipfs/specs/blob/main/UNIXFS.md, protobuf wire format): a dag-pb node is
``PBNode { repeated PBLink Links = 2; optional bytes Data = 1; }`` written Links first;
``PBLink { bytes Hash = 1; string Name = 2; uint64 Tsize = 3; }`` with ``Name`` present and empty,
``Tsize`` the total size of the blocks under the link; UnixFS ``Data { Type = 1; Data = 2;
filesize = 3; repeated blocksizes = 4 }`` with ``Type = File (2)``, ``blocksizes`` one per child
(the file bytes under it). The field order and the empty ``Name`` are what Kubo writes;
``tests/gateway/payloads`` compares every shape with a real Kubo and with ``aleph-cid``.

Speed: leaves are hashed (and written, when storing) in worker threads; ``hashlib`` releases the GIL
on large buffers and so do ``os.preadv`` and ``os.write``, so two cores hash two chunks at once.
Regular files are read with ``preadv`` into one reused buffer per thread; other streams with
``readinto`` into a small ring of reused buffers, so memory does not grow with the input.

This module is on ``cityledger payload cid``'s start-up path: standard library only.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from dataclasses import dataclass
from typing import BinaryIO, TypeVar

from gateway.errors import BlockCorrupted, BlockMissing, MalformedBlock, PayloadError, PayloadNotFound, PayloadTooLarge
from gateway.payloads.cids import (DAG_PB, RAW, SHA2_256, CidVersion, cid_text, read_varint, sha256_cid,
                                   split_cid, varint)

CHUNK_SIZE = 256 * 1024
MAX_LINKS = 174
#: UnixFS ``Data.DataType`` values (UNIXFS.md).
UNIXFS_RAW, UNIXFS_DIRECTORY, UNIXFS_FILE = 0, 1, 2
#: Deeper than any balanced DAG of a file that fits on a disk (174**12 chunks); bounds recursion.
MAX_DEPTH = 12

Buffer = bytes | bytearray | memoryview
#: Receives each new block: its binary CID and its bytes in one or more pieces, to be written in order.
BlockSink = Callable[[bytes, Sequence[Buffer]], None]
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class Link:
    """A block of the file DAG as its parent links to it."""

    cid: bytes
    #: ``PBLink.Tsize``: the bytes of this block and of every block under it.
    tsize: int
    #: The file bytes under it (an entry of the parent's UnixFS ``blocksizes``).
    filesize: int


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


# --- encoding ---------------------------------------------------------------------------------


def _v0_leaf_frame(size: int) -> tuple[bytes, bytes]:
    """Bytes before and after a chunk of ``size`` bytes in its CIDv0 leaf:
    ``PBNode{Data: UnixFS{Type: File, Data: chunk, filesize: size}}``. An empty file's leaf has no
    ``Data`` field, as Kubo writes it."""
    if size == 0:
        unixfs = b"\x08\x02\x18\x00"
        return b"\x0a" + varint(len(unixfs)) + unixfs, b""
    head = b"\x08\x02\x12" + varint(size)
    tail = b"\x18" + varint(size)
    return b"\x0a" + varint(len(head) + size + len(tail)) + head, tail


def encode_file_node(children: Sequence[Link]) -> bytes:
    """An interior dag-pb node of a UnixFS file over ``children`` (in file order)."""
    parts: list[bytes] = []
    for child in children:
        link = b"\x0a" + varint(len(child.cid)) + child.cid + b"\x12\x00\x18" + varint(child.tsize)
        parts.append(b"\x12" + varint(len(link)) + link)
    unixfs = b"".join([b"\x08\x02\x18", varint(sum(c.filesize for c in children)),
                       *(b"\x20" + varint(c.filesize) for c in children)])
    parts.append(b"\x0a" + varint(len(unixfs)) + unixfs)
    return b"".join(parts)


class _Builder:
    """Makes leaves (called from worker threads) and interior nodes (from the calling thread)."""

    def __init__(self, version: CidVersion, sink: BlockSink | None) -> None:
        self.version = version
        self.sink = sink

    def leaf(self, chunk: memoryview) -> Link:
        size = len(chunk)
        if self.version == 1:
            cid = sha256_cid(1, RAW, hashlib.sha256(chunk).digest())
            if self.sink is not None:
                self.sink(cid, (chunk,))
            return Link(cid, size, size)
        head, tail = _v0_leaf_frame(size)
        digest = hashlib.sha256(head)
        digest.update(chunk)
        digest.update(tail)
        cid = sha256_cid(0, DAG_PB, digest.digest())
        if self.sink is not None:
            self.sink(cid, (head, chunk, tail))
        return Link(cid, len(head) + size + len(tail), size)

    def node(self, children: Sequence[Link]) -> Link:
        block = encode_file_node(children)
        cid = sha256_cid(self.version, DAG_PB, hashlib.sha256(block).digest())
        if self.sink is not None:
            self.sink(cid, (block,))
        return Link(cid, len(block) + sum(c.tsize for c in children), sum(c.filesize for c in children))


class _Lookahead:
    """An iterator with one item of lookahead: the balanced layout must know whether more data
    follows before it decides to grow the tree (go-unixfs ``DagBuilderHelper.Done``)."""

    _END = object()

    def __init__(self, items: Iterator[Link]) -> None:
        self._items = items
        self._next: object = next(items, self._END)

    def more(self) -> bool:
        return self._next is not self._END

    def take(self) -> Link:
        item = self._next
        assert isinstance(item, Link)
        self._next = next(self._items, self._END)
        return item


def _balanced(leaves: _Lookahead, builder: _Builder, max_links: int) -> Link:
    """The balanced layout of go-unixfs (``importer/balanced/builder.go``): the first leaf is the
    root; while data remains, the root becomes the first child of a new root one level deeper,
    which is then filled depth-first up to ``max_links`` children per node."""

    def fill(children: list[Link], depth: int) -> Link:
        while len(children) < max_links and leaves.more():
            children.append(leaves.take() if depth == 1 else fill([], depth - 1))
        return builder.node(children)

    root = leaves.take()
    depth = 1
    while leaves.more():
        root = fill([root], depth)
        depth += 1
    return root


# --- leaves, hashed in parallel ---------------------------------------------------------------


def _ordered(pool: ThreadPoolExecutor, fn: Callable[[T], R], items: Iterable[T],
             window: int) -> Generator[R, None, None]:
    """``pool.map`` with at most ``window`` tasks in flight, results in order. On early exit (an
    error, a closed generator) the queued tasks are cancelled and running ones awaited, so no worker
    touches a buffer or a file after the caller has moved on."""
    pending: deque[Future[R]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fn, item))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        for future in pending:
            future.cancel()
        wait_futures(pending)


def _leaves_from_fd(fd: int, start: int, size: int, builder: _Builder, pool: ThreadPoolExecutor,
                    window: int, chunk_size: int) -> Generator[Link, None, None]:
    local = threading.local()

    def task(offset: int) -> Link:
        buf: bytearray | None = getattr(local, "buf", None)
        if buf is None:
            buf = local.buf = bytearray(chunk_size)
        want = min(chunk_size, start + size - offset)
        view = memoryview(buf)[:want]
        got = 0
        while got < want:
            n = os.preadv(fd, [view[got:]], offset + got)
            if n == 0:
                raise PayloadError(f"the file shrank while it was read (at byte {offset + got - start})")
            got += n
        return builder.leaf(view)

    return _ordered(pool, task, range(start, start + size, chunk_size), window)


def _leaves_from_stream(stream: BinaryIO, builder: _Builder, pool: ThreadPoolExecutor, window: int,
                        chunk_size: int, limit: int | None) -> Generator[Link, None, None]:
    # A ring of ``window`` buffers: buffer i % window is refilled only after the task that used it
    # has returned (``_ordered`` yields results in order, and at most ``window`` are in flight).
    ring = [memoryview(bytearray(chunk_size)) for _ in range(window)]
    readinto = getattr(stream, "readinto", None)

    def chunks() -> Iterator[memoryview]:
        total = 0
        for index in range(2**62):
            view = ring[index % window]
            got = 0
            while got < chunk_size:
                if readinto is not None:
                    n = readinto(view[got:]) or 0
                else:
                    data = stream.read(chunk_size - got)
                    n = len(data)
                    view[got:got + n] = data
                if n == 0:
                    break
                got += n
            total += got
            if limit is not None and total > limit:
                raise PayloadTooLarge(limit)
            if got == 0:
                return
            yield view[:got]
            if got < chunk_size:
                return

    return _ordered(pool, builder.leaf, chunks(), window)


def _with_empty_leaf(leaves: Iterator[Link], builder: _Builder) -> Iterator[Link]:
    """An empty file is one empty leaf (go-unixfs ``balanced.Layout`` when the input is empty)."""
    first = next(leaves, None)
    if first is None:
        yield builder.leaf(memoryview(b""))
        return
    yield first
    yield from leaves


def _regular_file(stream: object) -> tuple[int, int, int] | None:
    """``(fd, position, remaining bytes)`` when ``stream`` is a seekable regular file."""
    try:
        fd = stream.fileno()  # type: ignore[attr-defined]
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not stream.seekable():  # type: ignore[attr-defined]
            return None
        position = int(stream.tell())  # type: ignore[attr-defined]
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None
    return fd, position, max(0, info.st_size - position)


def import_stream(stream: BinaryIO, *, cid_version: CidVersion = 1, sink: BlockSink | None = None,
                  limit: int | None = None, workers: int | None = None, chunk_size: int = CHUNK_SIZE,
                  max_links: int = MAX_LINKS) -> Link:
    """Chunk, hash and link ``stream`` as Kubo's ``ipfs add`` does; return the root.

    Every new block goes to ``sink`` (leaves from worker threads, so ``sink`` must be thread-safe);
    without a sink nothing is kept (``ipfs add --only-hash``). More than ``limit`` bytes raise
    :class:`~gateway.errors.PayloadTooLarge`. ``chunk_size`` and ``max_links`` exist for tests
    that compare deep trees with Kubo on small files; stores use the pinned defaults.
    """
    builder = _Builder(cid_version, sink)
    workers = workers or default_workers()
    window = 2 * workers + 2
    regular = _regular_file(stream)
    with ThreadPoolExecutor(workers, thread_name_prefix="unixfs") as pool:
        if regular is not None:
            fd, position, size = regular
            if limit is not None and size > limit:
                raise PayloadTooLarge(limit)
            leaves = _leaves_from_fd(fd, position, size, builder, pool, window, chunk_size)
        else:
            leaves = _leaves_from_stream(stream, builder, pool, window, chunk_size, limit)
        try:
            root = _balanced(_Lookahead(_with_empty_leaf(leaves, builder)), builder, max_links)
        finally:
            leaves.close()
    if regular is not None:
        stream.seek(regular[1] + regular[2])
    return root


def import_bytes(data: bytes, *, cid_version: CidVersion = 1, sink: BlockSink | None = None,
                 limit: int | None = None, workers: int | None = None, chunk_size: int = CHUNK_SIZE,
                 max_links: int = MAX_LINKS) -> Link:
    """:func:`import_stream` over bytes in memory."""
    return import_stream(io.BytesIO(data), cid_version=cid_version, sink=sink, limit=limit, workers=workers,
                         chunk_size=chunk_size, max_links=max_links)


def file_cid(path: str | os.PathLike[str], cid_version: CidVersion = 1) -> str:
    """The CID Kubo gives ``path`` with the pinned parameters, storing nothing."""
    with open(path, "rb", buffering=0) as stream:
        return cid_text(import_stream(stream, cid_version=cid_version).cid)


# --- decoding ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PBLink:
    cid: bytes
    name: str
    tsize: int | None


def _fields(data: memoryview) -> Iterator[tuple[int, int, int | memoryview]]:
    """Protobuf wire-format fields: ``(number, wire type, value)`` for varint and length-delimited
    fields; fixed-width fields are skipped. Raises ``ValueError`` on malformed input."""
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = read_varint(data, pos)
            yield number, wire, value
        elif wire == 2:
            length, pos = read_varint(data, pos)
            if pos + length > end:
                raise ValueError(f"field {number} runs past the end of the block")
            yield number, wire, data[pos:pos + length]
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        if pos > end:
            raise ValueError("block ends inside a field")


def decode_pb_node(block: memoryview) -> tuple[memoryview | None, list[PBLink]]:
    """Split a dag-pb block into its ``Data`` and its links (in order)."""
    data: memoryview | None = None
    links: list[PBLink] = []
    for number, wire, value in _fields(block):
        if number == 1 and isinstance(value, memoryview):
            data = value
        elif number == 2 and isinstance(value, memoryview):
            cid, name, tsize = b"", "", None
            for n, _, v in _fields(value):
                if n == 1 and isinstance(v, memoryview):
                    cid = bytes(v)
                elif n == 2 and isinstance(v, memoryview):
                    name = bytes(v).decode("utf-8", "replace")
                elif n == 3 and isinstance(v, int):
                    tsize = v
            if not cid:
                raise ValueError("a link has no Hash")
            links.append(PBLink(cid, name, tsize))
        else:
            raise ValueError(f"unexpected PBNode field {number} (wire type {wire})")
    return data, links


def decode_unixfs(data: memoryview) -> tuple[int, memoryview | None]:
    """UnixFS ``Data``: its ``Type`` and its ``Data`` (file bytes held by this node)."""
    kind: int | None = None
    content: memoryview | None = None
    for number, _, value in _fields(data):
        if number == 1 and isinstance(value, int):
            kind = value
        elif number == 2 and isinstance(value, memoryview):
            content = value
    if kind is None:
        raise ValueError("UnixFS Data has no Type")
    return kind, content


# --- verified reading -------------------------------------------------------------------------

#: Returns a block's bytes, or ``None`` when the store does not have it.
BlockFetch = Callable[[bytes], "bytes | None"]


class VerifiedReader:
    """Reads a payload's blocks through ``fetch`` and checks each against its CID before use.

    ``root`` names the payload in errors. A block whose sha2-256 differs from its CID raises
    :class:`~gateway.errors.BlockCorrupted` naming the payload and the block; nothing after the
    last verified block is returned. Blocks are fetched and hashed ``workers`` at a time.
    """

    def __init__(self, fetch: BlockFetch, root: bytes, *, workers: int | None = None) -> None:
        self._fetch = fetch
        self.root = root
        self.root_text = cid_text(root)
        self._workers = workers or default_workers()

    def block(self, cid: bytes) -> bytes:
        """Fetch one block and check that it hashes to ``cid``."""
        try:
            parts = split_cid(cid)
        except ValueError as exc:
            raise MalformedBlock(self.root_text, cid.hex(), f"a link is not a CID: {exc}") from None
        if parts.hash_code != SHA2_256:
            raise MalformedBlock(self.root_text, cid_text(cid), f"hash function 0x{parts.hash_code:x} is not sha2-256")
        data = self._fetch(cid)
        if data is None:
            if cid == self.root:
                raise PayloadNotFound(self.root_text)
            raise BlockMissing(self.root_text, cid_text(cid))
        actual = hashlib.sha256(data).digest()
        if actual != parts.digest:
            raise BlockCorrupted(self.root_text, cid_text(cid), parts.digest.hex(), actual.hex())
        return data

    def chunks(self) -> Iterator[bytes]:
        """The payload's bytes, in file order, one verified piece (a leaf's data) at a time.

        The root block is fetched and verified before this returns, so a missing payload or a
        corrupt root raises here, before a caller (an HTTP response) has committed to anything.
        """
        root_block = self.block(self.root)
        return self._chunks(root_block)

    def _chunks(self, root_block: bytes) -> Iterator[bytes]:
        with ThreadPoolExecutor(self._workers, thread_name_prefix="verify") as pool:
            yield from self._file(self.root, root_block, pool, 0)

    def _file(self, cid: bytes, block: bytes, pool: ThreadPoolExecutor, depth: int) -> Iterator[bytes]:
        codec = split_cid(cid).codec
        if codec == RAW:
            yield block
            return
        if codec != DAG_PB:
            raise MalformedBlock(self.root_text, cid_text(cid), f"codec 0x{codec:x} is neither raw nor dag-pb")
        if depth > MAX_DEPTH:
            raise MalformedBlock(self.root_text, cid_text(cid), f"the DAG is deeper than {MAX_DEPTH} levels")
        try:
            data, links = decode_pb_node(memoryview(block))
            if data is None:
                raise ValueError("no UnixFS Data")
            kind, content = decode_unixfs(data)
        except ValueError as exc:
            raise MalformedBlock(self.root_text, cid_text(cid), str(exc)) from None
        if kind not in (UNIXFS_FILE, UNIXFS_RAW):
            raise MalformedBlock(self.root_text, cid_text(cid), f"UnixFS type {kind} is not a file")
        if content is not None and len(content):
            yield bytes(content)
        children = _ordered(pool, lambda link: (link.cid, self.block(link.cid)), links, 2 * self._workers + 2)
        try:
            for child, child_block in children:
                yield from self._file(child, child_block, pool, depth + 1)
        finally:
            children.close()

    def blocks(self) -> Iterator[tuple[bytes, bytes]]:
        """Every block of the DAG once, as ``(cid, bytes)``, depth-first in link order (the order
        ``ipfs dag export`` writes a CAR in), each verified."""
        seen: set[bytes] = set()
        stack = [self.root]
        while stack:
            cid = stack.pop()
            if cid in seen:
                continue
            seen.add(cid)
            block = self.block(cid)
            yield cid, block
            if split_cid(cid).codec == DAG_PB:
                try:
                    _, links = decode_pb_node(memoryview(block))
                except ValueError as exc:
                    raise MalformedBlock(self.root_text, cid_text(cid), str(exc)) from None
                stack.extend(link.cid for link in reversed(links))
