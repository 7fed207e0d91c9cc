"""A Kubo (go-ipfs) node as the payload store, over its RPC API (``/api/v0``).

Uploads go through ``ipfshttpclient`` 0.7.0, with its quirks handled as NOTES ("IPFS") describes:

* the client is built with ``Client(addr)``, not ``connect()``, whose version gate refuses every
  Kubo since 0.7;
* ``cid_version``, ``raw_leaves``, ``chunker=size-262144`` and ``max-file-links=174`` are always
  passed: newer Kubo profiles change the defaults, and ``cid_version=1`` alone quietly sends
  ``raw-leaves=false``;
* every call has a timeout, because a request for a CID the node lacks waits for the network.

Reads do not use ``cat``: every block is fetched with ``block/get`` and re-hashed against its CID
here (:class:`~gateway.payloads.unixfs.VerifiedReader`), so a node that serves altered bytes is
caught and named like an altered file in the embedded store. By default reads are ``offline`` (the
node answers from its own blocks and does not ask the network), so a missing payload is reported at
once instead of after the timeout; pass ``fetch_from_network=True`` to let the node fetch from its
peers.
"""

from __future__ import annotations

import contextlib
import io
import queue
import tempfile
import threading
import warnings
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from gateway.errors import (CarInvalid, PayloadError, PayloadTooLarge,
                            StoreUnavailable)
from gateway.payloads.car import read_blocks, read_header, write_car
from gateway.payloads.cids import DAG_PB, RAW, Cid, CidVersion, cid_text, normalize_cid, parse_cid, split_cid
from gateway.payloads.store import DEFAULT_MAX_SIZE, DEFAULT_TIMEOUT
from gateway.payloads.unixfs import CHUNK_SIZE, MAX_LINKS, VerifiedReader, decode_pb_node, default_workers

# ipfshttpclient 0.7.0 passes urllib3 a parameter that urllib3 2.x deprecates, on every request.
warnings.filterwarnings("ignore", message="The 'strict' parameter is no longer needed", category=FutureWarning)


def api_multiaddr(url: str) -> str:
    """The multiaddr ``ipfshttpclient`` wants for an RPC API URL (``http://HOST:PORT``); a
    multiaddr (``/ip4/…/tcp/…/http``) is returned unchanged."""
    if url.startswith("/"):
        return url
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https") or not parts.hostname or not parts.port:
        raise PayloadError(f"not an IPFS RPC API URL (http://HOST:PORT): {url!r}")
    host = parts.hostname
    proto = "ip6" if ":" in host else "ip4" if host.replace(".", "").isdigit() else "dns"
    return f"/{proto}/{host}/tcp/{parts.port}/{parts.scheme}"


class _Limited(io.RawIOBase):
    """A reader that raises ``PayloadTooLarge`` once more than ``limit`` bytes have passed."""

    def __init__(self, source: BinaryIO, limit: int) -> None:
        self._source = source
        self._limit = limit
        self.total = 0
        self.name = "payload"

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(len(buffer))
        self.total += len(data)
        if self.total > self._limit:
            raise PayloadTooLarge(self._limit)
        buffer[:len(data)] = data
        return len(data)


class KuboStore:
    """Payloads in a Kubo node reached at ``url`` (its RPC API, e.g. ``http://127.0.0.1:5001``)."""

    def __init__(self, url: str, *, timeout: float = DEFAULT_TIMEOUT, max_size: int = DEFAULT_MAX_SIZE,
                 fetch_from_network: bool = False, workers: int | None = None) -> None:
        self.url = url
        self.max_size = max_size
        self.timeout = timeout
        self._addr = api_multiaddr(url)
        self._offline = not fetch_from_network
        self._workers = workers or default_workers()
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._clients: list[Any] = []
        self._lock = threading.Lock()

    # -- clients: a requests session is not thread-safe, so each call borrows one ---------------

    @contextlib.contextmanager
    def _client(self) -> Iterator[Any]:
        try:
            client = self._idle.get_nowait()
        except queue.Empty:
            import ipfshttpclient

            client = ipfshttpclient.Client(self._addr, session=True, timeout=self.timeout, chunk_size=CHUNK_SIZE)
            with self._lock:
                self._clients.append(client)
        try:
            yield client
        finally:
            self._idle.put(client)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        import ipfshttpclient.exceptions as errors

        try:
            return fn(*args, timeout=self.timeout, **kwargs)
        except errors.TimeoutError:
            raise StoreUnavailable(self.url, f"{what}: no answer within {self.timeout:g} s") from None
        except errors.ConnectionError as exc:
            reason = "connection refused" if "refused" in str(exc.original or exc) else str(exc.original or exc)
            raise StoreUnavailable(self.url, f"{what}: cannot connect ({reason})") from None
        except errors.ErrorResponse:
            raise
        except errors.Error as exc:
            raise StoreUnavailable(self.url, f"{what}: {exc}") from None

    # -- the PayloadStore contract ----------------------------------------------------------------

    def put(self, source: bytes | BinaryIO, *, cid_version: CidVersion = 1) -> Cid:
        import ipfshttpclient.exceptions as errors

        stream: BinaryIO = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
        limited = io.BufferedReader(_Limited(stream, self.max_size), CHUNK_SIZE)
        try:
            with self._client() as client:
                answer = self._call("add", client.add, limited, cid_version=cid_version, raw_leaves=cid_version == 1,
                                    chunker=f"size-{CHUNK_SIZE}", pin=True,
                                    opts={"max-file-links": MAX_LINKS, "hash": "sha2-256"})
        except errors.ErrorResponse as exc:
            raise StoreUnavailable(self.url, f"add refused: {exc}") from None
        return normalize_cid(str(answer["Hash"]))

    def _fetch(self, cid: bytes) -> bytes | None:
        import ipfshttpclient.exceptions as errors

        try:
            with self._client() as client:
                data = self._call("block/get", client.block.get, cid_text(cid), offline=self._offline)
        except errors.ErrorResponse as exc:
            if "not found" in str(exc) or "could not find" in str(exc):
                return None
            raise StoreUnavailable(self.url, f"block/get {cid_text(cid)}: {exc}") from None
        return bytes(data)

    def stream(self, cid: str) -> Iterator[bytes]:
        return VerifiedReader(self._fetch, parse_cid(cid), workers=self._workers).chunks()

    def get(self, cid: str) -> bytes:
        return b"".join(self.stream(cid))

    def has(self, cid: str) -> bool:
        import ipfshttpclient.exceptions as errors

        name = normalize_cid(cid)
        try:
            with self._client() as client:
                answer = self._call("pin/ls", client.pin.ls, name, type="recursive", offline=True)
        except errors.ErrorResponse as exc:
            if "not pinned" in str(exc) or "not found" in str(exc):
                return False
            raise StoreUnavailable(self.url, f"pin/ls {name}: {exc}") from None
        return any(normalize_cid(key) == name for key in answer["Keys"])

    def pins(self) -> list[Cid]:
        import ipfshttpclient.exceptions as errors

        try:
            with self._client() as client:
                answer = self._call("pin/ls", client.pin.ls, type="recursive")
        except errors.ErrorResponse as exc:
            raise StoreUnavailable(self.url, f"pin/ls: {exc}") from None
        return sorted(normalize_cid(key) for key in answer["Keys"])

    def export_car(self, cid: str, out: BinaryIO) -> int:
        # Built here from verified blocks rather than with ``dag/export``, so that what leaves the
        # node is checked exactly like every other read.
        root = parse_cid(cid)
        blocks = VerifiedReader(self._fetch, root, workers=self._workers).blocks()
        first = next(blocks)
        return write_car([root], _chain(first, blocks), out)

    def import_car(self, source: BinaryIO) -> list[Cid]:
        import ipfshttpclient.exceptions as errors

        # Check every block against its CID before the node sees the file (Kubo would take a
        # well-framed CAR with a wrong block); a stream is spooled to a temporary file for that.
        spool = source if source.seekable() else _spool(source)
        start = spool.tell()
        roots = read_header(spool)
        self._check_car(roots, spool)
        spool.seek(start)
        try:
            with self._client() as client:
                answers = self._call("dag/import", client.dag.imprt, spool, opts={"pin-roots": "true"}, stream=True)
                for answer in answers:
                    root = answer.get("Root") if hasattr(answer, "get") else None
                    if root is not None and root.get("PinErrorMsg"):
                        raise CarInvalid(f"root {root['Cid']['/']}: {root['PinErrorMsg']}")
        except errors.ErrorResponse as exc:
            raise CarInvalid(f"the IPFS node refused it: {exc}") from None
        return [cid_text(root) for root in roots]

    def _check_car(self, roots: list[bytes], blocks: BinaryIO) -> None:
        """Every block matches its CID, and every block the roots reach is in the file or already
        on the node (as the embedded store checks before it pins)."""
        present: set[bytes] = set()
        links: dict[bytes, list[bytes]] = {}
        for cid, block in read_blocks(blocks, cid_text(roots[0])):
            present.add(cid)
            if split_cid(cid).codec == DAG_PB:
                try:
                    links[cid] = [link.cid for link in decode_pb_node(memoryview(block))[1]]
                except ValueError as exc:
                    raise CarInvalid(f"block {cid_text(cid)} is not valid dag-pb: {exc}") from None
        for root in roots:
            if split_cid(root).codec not in (RAW, DAG_PB):
                raise CarInvalid(f"root {cid_text(root)} is neither a raw nor a dag-pb block")
            stack, seen = [root], set()
            while stack:
                cid = stack.pop()
                if cid in seen:
                    continue
                seen.add(cid)
                if cid in present:
                    stack.extend(links.get(cid, ()))
                elif self._fetch(cid) is None:
                    what = "has no block in the file" if cid == root else f"needs block {cid_text(cid)}, which is"
                    raise CarInvalid(f"root {cid_text(root)} {what} neither in the file nor on the node"
                                     if cid != root else f"root {cid_text(root)} {what}")

    def close(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for client in clients:
            client.close()
        while not self._idle.empty():
            self._idle.get_nowait()


def _spool(source: BinaryIO) -> BinaryIO:
    spool = tempfile.TemporaryFile()
    while chunk := source.read(CHUNK_SIZE):
        spool.write(chunk)
    spool.seek(0)
    return spool


def _chain(first: tuple[bytes, bytes], rest: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    yield first
    yield from rest


