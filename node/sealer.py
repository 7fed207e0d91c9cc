"""The sealer: the transaction pool and the block being built, in a loop of its own.

``SealingLoop`` holds the chain's single writer. Admitted transactions are executed into the open
block as soon as their nonce is next (so execution overlaps the wait between blocks); the block
is sealed and committed once ``block_time`` has passed since the previous seal, the loop has
caught up with every executable transaction and no transaction arrived for a short quiet spell
(``block_time / 10``, at most 100 ms: a burst that straddles the timer goes into one block instead
of leaving a stub for the next period) — or as soon as the block is full, and in any case after
``2 × block_time``, so a sustained overload still gets a block at least that often. The loop takes the time as
an argument (an injected clock), so tests drive it without sleeping.

The node runs the loop in its own process (``python -m node.sealer``), talking to the JSON-RPC
process over a socket: JSON-RPC parsing, transaction decoding and sender recovery use one core,
execution the other, and neither waits for the other's GIL. Messages are length-prefixed pickles
between two halves of the same node (never exposed to a network):

* request ``(kind, request_id, *args)`` → reply ``("reply", request_id, ok, value)``, kinds
  ``admit`` (``[(raw, sender), ...]`` → per item a hash or a ``TransactionRejected``),
  ``pending_transaction``, ``pending_nonce``, ``status``;
* unsolicited ``("sealed", SealedInfo)`` after each commit, ``("ready", head number)`` at start.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import logging
import os
import pickle
import select
import signal
import socket
import struct
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth.abc import SignedTransactionAPI, StateAPI
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_keys.datatypes import PrivateKey
from eth_typing import Address
from eth_utils import encode_hex

from node.chain import FULL, INCLUDED, BlockBuilder, LedgerChain
from node.consensus import is_active_member, mark_validated
from node.errors import NodeError, StorageError, TransactionRejected
from node.txpool import TxPool

log = logging.getLogger("cityledger.sealer")

#: Transactions executed between two looks at the socket (~30 ms of work at most).
CHUNK = 48


@dataclass(frozen=True)
class SealedInfo:
    """What the JSON-RPC side hears about each block the sealer commits."""

    number: int
    hash: bytes
    transactions: int
    #: Seconds spent finalising, sealing and committing (not executing) the block.
    seal_seconds: float
    pending: int
    dropped: int


class SealingLoop:
    """The pool and the open block. Not thread-safe: one thread drives it."""

    def __init__(
        self,
        chain: LedgerChain,
        sealer_key: PrivateKey,
        *,
        block_time: float = 1.0,
        max_block_txs: int = 5_000,
        vanity: bytes = b"cityledger",
    ) -> None:
        self.chain = chain
        self.sealer_key = sealer_key
        self.block_time = block_time
        self.max_block_txs = max_block_txs
        self.vanity = vanity
        self.pool = TxPool()
        self.builder: BlockBuilder | None = None
        self.last_seal = float("-inf")
        self.last_admission = float("-inf")
        self.quiet = min(0.1, block_time / 10)
        self.opened_at = float("-inf")
        self._full = False
        self._dropped = 0
        self._head_state: tuple[bytes, StateAPI] | None = None

    # ------------------------------------------------------------------ state views
    def _committed_state(self) -> StateAPI:
        head = self.chain.head
        if self._head_state is None or self._head_state[0] != head.hash:
            self._head_state = (head.hash, self.chain.state_at(head))
        return self._head_state[1]

    def pending_state(self) -> StateAPI:
        """The state after the open block's transactions (the head's when none is open)."""
        return self.builder.state if self.builder is not None else self._committed_state()

    # ------------------------------------------------------------------ requests
    def admit(self, raw: bytes, sender: Address, now: float | None = None) -> bytes:
        """Admit a transaction decoded and signature-checked by the JSON-RPC side (``sender``
        recovered there, once); raises :class:`TransactionRejected`. ``now`` (the loop's clock)
        marks the flow of transactions as still running."""
        if now is not None:
            self.last_admission = now
        tx: SignedTransactionAPI = PragueTransactionBuilder.decode(raw)
        tx.__dict__["sender"] = sender
        mark_validated(tx)
        tx_hash = bytes(tx.hash)
        if self.builder is not None and tx_hash in self.builder:
            raise TransactionRejected("known", f"already known: {encode_hex(tx_hash)}")
        state = self.pending_state()
        self.pool.admit(
            tx,
            state_nonce=state.get_nonce(sender),
            balance=state.get_balance(sender),
            is_member=is_active_member(state, self.chain.genesis.registry.address, sender),
            block_gas_limit=self.chain.head.gas_limit,
        )
        return tx_hash

    def pending_transaction(self, tx_hash: bytes) -> tuple[bytes, Address] | None:
        tx = self.pool.get(tx_hash)
        if tx is None and self.builder is not None:
            tx = self.builder.get(tx_hash)
        return None if tx is None else (bytes(tx.encode()), Address(tx.sender))

    def pending_nonce(self, account: Address) -> int:
        return self.pool.pending_nonce(account, self.pending_state().get_nonce(account))

    def status(self) -> dict[str, Any]:
        return {"sealer": encode_hex(self.sealer_key.public_key.to_canonical_address()),
                "pending": len(self.pool) + (len(self.builder.included) if self.builder else 0)}

    # ------------------------------------------------------------------ the loop
    def _executable(self, limit: int) -> list[SignedTransactionAPI]:
        return self.pool.ready(self.pending_state().get_nonce, limit)

    def _due(self, now: float, executable: bool) -> bool:
        if self.builder is None or not self.builder.included:
            return False
        if now < self.last_seal + self.block_time:
            return False
        quiet = now >= self.last_admission + self.quiet
        return ((not executable and quiet) or self._full or len(self.builder.included) >= self.max_block_txs
                or now >= self._latest_seal())

    def _latest_seal(self) -> float:
        """When the open block is sealed at the latest, transactions still arriving or not."""
        return max(self.last_seal + 2 * self.block_time, self.opened_at + self.block_time)

    def next_wake(self, now: float) -> float | None:
        """When :meth:`step` has work next: ``now`` or earlier for at once, None when idle."""
        executable = bool(self._executable(1)) and not self._full
        if executable and (self.builder is None or len(self.builder.included) < self.max_block_txs):
            return now
        if self.builder is not None and self.builder.included:
            if self._due(now, executable):
                return now
            return min(max(now, self.last_seal + self.block_time, self.last_admission + self.quiet),
                       self._latest_seal())
        return None

    def step(self, now: float) -> SealedInfo | None:
        """One unit of work: execute up to :data:`CHUNK` executable transactions into the open
        block, then seal it if it is due. Returns what was sealed, if anything."""
        if not self._full:
            included = 0 if self.builder is None else len(self.builder.included)
            room = min(CHUNK, self.max_block_txs - included)
            ready = self._executable(room) if room > 0 else []
            if ready and self.builder is None:
                self.builder = self.chain.open_block(int(now), self.sealer_key, self.vanity)
                self.opened_at = now
            for tx in ready:
                assert self.builder is not None
                outcome = self.builder.add(tx)
                if outcome == FULL:
                    self._full = True
                    break
                self.pool.remove([tx])
                if outcome != INCLUDED:
                    self._dropped += 1
                    log.warning("dropped transaction %s: %s", encode_hex(tx.hash), outcome)
        if not self._due(now, bool(self._executable(1)) and not self._full):
            return None
        return self._seal(now)

    def _seal(self, now: float) -> SealedInfo:
        assert self.builder is not None
        started = time.perf_counter()
        sealed = self.builder.seal()
        seconds = time.perf_counter() - started
        self.builder = None
        self._full = False
        self.last_seal = now
        self.pool.prune(self._committed_state().get_nonce)
        header = sealed.block.header
        dropped, self._dropped = self._dropped, 0
        log.info("sealed block %d hash=%s txs=%d gas=%d pending=%d in %.0f ms", header.block_number,
                 encode_hex(header.hash), len(sealed.block.transactions), header.gas_used, len(self.pool),
                 seconds * 1000)
        return SealedInfo(header.block_number, bytes(header.hash), len(sealed.block.transactions), seconds,
                          len(self.pool), dropped)


# ---------------------------------------------------------------------- wire framing
_LENGTH = struct.Struct(">I")


def encode_message(message: Any) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


def decode_messages(buffer: bytearray) -> Iterator[Any]:
    """Yield every complete message in ``buffer`` and remove it from the buffer."""
    while len(buffer) >= _LENGTH.size:
        (size,) = _LENGTH.unpack_from(buffer)
        if len(buffer) < _LENGTH.size + size:
            return
        body = bytes(buffer[_LENGTH.size:_LENGTH.size + size])
        del buffer[:_LENGTH.size + size]
        yield pickle.loads(body)  # noqa: S301 - both ends are this node


def serve(sock: socket.socket, loop: SealingLoop, clock: Callable[[], float] = time.time) -> None:
    """Drive ``loop`` and answer requests on ``sock`` until the other end closes it. ``clock`` is
    wall-clock time: it paces blocks and gives their timestamps (Yellow Paper: seconds since the
    Unix epoch)."""
    sock.setblocking(True)
    sock.sendall(encode_message(("ready", loop.chain.head.block_number)))
    buffer = bytearray()
    while True:
        wake = loop.next_wake(clock())
        timeout = None if wake is None else max(0.0, wake - clock())
        readable, _, _ = select.select([sock], [], [], timeout)
        if readable:
            chunk = sock.recv(1 << 20)
            if not chunk:
                return
            buffer.extend(chunk)
            replies = [_answer(loop, message, clock()) for message in decode_messages(buffer)]
            if replies:
                sock.sendall(b"".join(encode_message(r) for r in replies))
        sealed = loop.step(clock())
        if sealed is not None:
            sock.sendall(encode_message(("sealed", sealed)))


def _answer(loop: SealingLoop, message: Any, now: float) -> Any:
    kind, request_id, *args = message
    try:
        if kind == "admit":
            results: list[bytes | TransactionRejected] = []
            for raw, sender in args[0]:
                try:
                    results.append(loop.admit(raw, sender, now))
                except TransactionRejected as exc:
                    results.append(exc)
            value: Any = results
        elif kind == "pending_transaction":
            value = loop.pending_transaction(args[0])
        elif kind == "pending_nonce":
            value = loop.pending_nonce(args[0])
        elif kind == "status":
            value = loop.status()
        else:
            raise NodeError(f"unknown sealer request {kind!r}")
    except NodeError as exc:
        return ("reply", request_id, False, exc)
    except Exception as exc:  # a bad request must not stop the sealer
        log.exception("sealer request %s failed", kind)
        return ("reply", request_id, False, NodeError(f"sealer request {kind} failed: {type(exc).__name__}"))
    return ("reply", request_id, True, value)


# ---------------------------------------------------------------------- process entry
@contextlib.contextmanager
def writer_lock(data_dir: Path, timeout: float = 30.0) -> Iterator[None]:
    """One writer per data directory: a killed node's sealer may take a moment to exit, and a
    new one must not write beside it. The kernel drops the lock when its holder dies."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with open(data_dir / "writer.lock", "wb") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise StorageError(f"another node is writing to {data_dir}") from None
                time.sleep(0.05)  # polling a lock held by an exiting process, with a deadline
        yield


def _die_with_parent(parent: int) -> None:
    """Linux: get SIGKILL when the JSON-RPC process dies, even by ``kill -9``."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="CityLedger sealer process (started by `node run`).")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--genesis", type=Path, required=True)
    parser.add_argument("--block-time", type=float, required=True)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    from eth_keys import keys

    from node.genesis import load_genesis
    from node.kv import LmdbKV

    sock = socket.socket(fileno=args.fd)
    sock.setblocking(True)
    buffer = bytearray()
    # The first message carries the sealer key (never on the command line).
    while True:
        messages = list(decode_messages(buffer))
        if messages:
            break
        chunk = sock.recv(1 << 16)
        if not chunk:
            return 1
        buffer.extend(chunk)
    (kind, key_bytes) = messages[0]
    assert kind == "key"
    try:
        with writer_lock(args.data_dir):
            chain = LedgerChain(LmdbKV(args.data_dir / "chaindata"), load_genesis(args.genesis))
            loop = SealingLoop(chain, keys.PrivateKey(key_bytes), block_time=args.block_time)
            serve(sock, loop)
            chain.close()
    except NodeError as exc:
        sock.sendall(encode_message(("failed", str(exc))))
        return 2
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    # Run the imported module's main, not this ``__main__`` copy: objects sent to the JSON-RPC
    # process must pickle as ``node.sealer.*``, which that process can import.
    from node.sealer import main as sealer_main

    sys.exit(sealer_main())
