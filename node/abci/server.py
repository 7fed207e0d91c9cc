"""CometBFT's ABCI socket protocol, served for one application.

CometBFT (the "socket" ABCI client, ``abci = "socket"``) opens four connections to the
application — consensus, mempool, query and snapshot — and sends on each a stream of
``tendermint.abci.Request`` messages, each prefixed by its length as an unsigned varint
(``protoio.NewDelimitedWriter``, CometBFT ≥ 0.38); the application answers every request on the
same connection, in order, with a length-prefixed ``tendermint.abci.Response`` whose ``value``
is the request's kind. ``Flush`` asks for everything written so far to be sent.

Each connection is served by its own thread, and every request runs under one lock: the
application is one chain with one writer, and CometBFT itself never needs two requests to run
at once (it serialises the consensus connection and locks the mempool around ``Commit``).
A request the application fails on is answered with ``ResponseException``, which CometBFT treats
as fatal for the consensus connection: a node must stop rather than sign a state it cannot
compute.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from node.abci.pb.tendermint.abci import types_pb2 as abci

log = logging.getLogger("cityledger.abci")

#: A request of this many bytes or more is refused (CometBFT's own reader limit is 100 MiB…; a
#: block of transactions here is far smaller).
MAX_MESSAGE = 64 * 1024 * 1024


class Application(Protocol):
    """What the server needs from the application: one method per request kind, named after
    the request's ``oneof`` field (``info``, ``check_tx``, ``finalize_block``…), taking the
    request message and returning the response message; unknown kinds get empty answers."""

    def handle(self, kind: str, request: Any) -> Any: ...


def encode_uvarint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_uvarint(read: Callable[[int], bytes]) -> int | None:
    """Read an unsigned varint byte by byte; None at a clean end of stream."""
    shift = value = 0
    while True:
        byte = read(1)
        if not byte:
            if shift == 0:
                return None
            raise ConnectionError("stream ended inside a length prefix")
        value |= (byte[0] & 0x7F) << shift
        if not byte[0] & 0x80:
            return value
        shift += 7
        if shift > 63:
            raise ConnectionError("length prefix longer than 64 bits")


def frame(message: Any) -> bytes:
    body: bytes = message.SerializeToString()
    return encode_uvarint(len(body)) + body


class AbciServer:
    """Accepts CometBFT's connections on a Unix socket (``unix://PATH``) or TCP (``tcp://H:P``)
    and serves each in a thread."""

    def __init__(self, app: Application, address: str) -> None:
        self.app = app
        self.address = address
        self.lock = threading.Lock()
        self._sock = self._listen(address)
        self._threads: list[threading.Thread] = []
        self.stopped = threading.Event()

    @staticmethod
    def _listen(address: str) -> socket.socket:
        if address.startswith("unix://"):
            path = Path(address[len("unix://"):])
            if path.exists():
                path.unlink()  # left by a killed node; CometBFT reconnects to the new one
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.bind(str(path))
        elif address.startswith("tcp://"):
            host, _, port = address[len("tcp://"):].rpartition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, int(port)))
        else:
            raise ValueError(f"ABCI address must be unix://PATH or tcp://HOST:PORT, got {address!r}")
        sock.listen(8)
        return sock

    def serve_forever(self) -> None:
        """Accept connections until :meth:`close`."""
        while not self.stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True, name="abci-conn")
            thread.start()
            self._threads.append(thread)

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, daemon=True, name="abci-accept").start()

    def close(self) -> None:
        self.stopped.set()
        self._sock.close()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb", buffering=1 << 16)
        try:
            while True:
                size = read_uvarint(reader.read)
                if size is None:
                    return
                if size > MAX_MESSAGE:
                    raise ConnectionError(f"ABCI message of {size} bytes exceeds {MAX_MESSAGE}")
                body = reader.read(size)
                if len(body) != size:
                    raise ConnectionError("stream ended inside a message")
                request = abci.Request.FromString(body)
                kind = request.WhichOneof("value")
                # Answered at once, not held for the next Flush: CometBFT's asynchronous CheckTx
                # calls need not be followed by one.
                conn.sendall(frame(self._answer(kind, request)))
        except (ConnectionError, OSError) as exc:
            if not self.stopped.is_set():
                log.warning("ABCI connection closed: %s", exc)
        finally:
            conn.close()

    def _answer(self, kind: str | None, request: Any) -> Any:
        if kind == "flush":
            return abci.Response(flush=abci.ResponseFlush())
        if kind == "echo":
            return abci.Response(echo=abci.ResponseEcho(message=request.echo.message))
        if kind is None:
            return abci.Response(exception=abci.ResponseException(error="empty request"))
        try:
            with self.lock:
                answer = self.app.handle(kind, getattr(request, kind))
        except Exception as exc:
            log.exception("ABCI %s failed", kind)
            return abci.Response(exception=abci.ResponseException(error=f"{kind}: {type(exc).__name__}: {exc}"))
        return abci.Response(**{kind: answer})


def remove_socket(address: str) -> None:
    if address.startswith("unix://"):
        try:
            os.unlink(address[len("unix://"):])
        except FileNotFoundError:
            pass
