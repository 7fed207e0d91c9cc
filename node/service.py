"""The running node's service layer: the one owner of chain state, behind an async facade.

``ChainService`` owns a ``LedgerChain`` and a single "chain thread"; every method of the facade
runs its work there (py-evm and the store are not thread-safe), so the asyncio loop only parses
requests and formats answers, and never reads chain state itself. Answers and events are domain
objects (headers, ``node.index`` records, dataclasses below); JSON lives in ``node.rpc`` alone.

* ``ChainService``: read-only facade (the base of the two roles).
* ``SealerService``: the sealing node. Its chain is a reader of the store; the single writer is
  the sealing loop (``node.sealer``), in its own process (or, in tests, its own thread), reached
  through :class:`SealerLink`. Transactions are decoded and their senders recovered here, once,
  and shipped to the sealer as ``(raw bytes, sender)``.
* ``node.follower.FollowerService``: a verifying replica; its chain thread is also the writer.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, Union

from eth.abc import BlockHeaderAPI
from eth_keys.datatypes import PrivateKey
from eth_typing import Address

from node.chain import BlockView, LedgerChain
from node.checkpoints import SignedCheckpoint
from node.errors import LimitExceeded, NodeError, ResourceNotFound, SealerUnavailable, TransactionRejected
from node.index import IndexedReceipt, IndexedTransaction, LogEntry, LogFilter
from node.metrics import NodeMetrics
from node.sealer import SealedInfo, SealingLoop, decode_messages, encode_message, serve
from node.txpool import decode_transaction

log = logging.getLogger("cityledger.node")
T = TypeVar("T")

#: A block reference: a tag (``latest``, ``earliest``, ``pending``, ``safe``, ``finalized``), a
#: number, or a block hash (EIP-1898).
BlockRef = Union[str, int, bytes]
MAX_LOG_RANGE = 10_000
MAX_LOGS = 50_000
MAX_FEE_HISTORY = 1_024


@dataclass(frozen=True)
class NewBlock:
    """What subscribers hear about each block added to the canonical chain."""

    header: BlockHeaderAPI
    logs: tuple[LogEntry, ...]
    transaction_count: int


@dataclass(frozen=True)
class SyncStatus:
    """A replica behind its upstream (execution-apis ``eth_syncing``)."""

    starting_block: int
    current_block: int
    highest_block: int


@dataclass(frozen=True)
class NodeStatus:
    """``cityledger_status``: the node's role and where it stands."""

    role: str
    chain_id: int
    head: int
    head_hash: bytes
    sealer: bytes | None = None
    pending: int | None = None
    upstream: str | None = None
    upstream_head: int | None = None
    starting_block: int | None = None
    rejected: tuple[int, str, str] | None = None
    upstream_error: str | None = None


@dataclass(frozen=True)
class FeeHistory:
    """``eth_feeHistory`` on a chain whose base fee and tips are always zero."""

    oldest_block: int
    gas_used_ratio: tuple[float, ...]


Listener = Callable[[NewBlock], Awaitable[None]]


def resolve(chain: LedgerChain, ref: BlockRef) -> BlockHeaderAPI | None:
    """A block reference to a canonical header, or None when the chain has no such block.

    ``pending``, ``safe`` and ``finalized`` resolve to the head: a block is final once sealed by
    the single authority (checkpoint witnesses come on top of that)."""
    if isinstance(ref, bytes):
        return chain.header_by_hash(ref)
    if ref == "earliest":
        return chain.header_by_number(0)
    if isinstance(ref, str):
        return chain.head
    return chain.header_by_number(ref)


def require(chain: LedgerChain, ref: BlockRef) -> BlockHeaderAPI:
    header = resolve(chain, ref)
    if header is None:
        shown = "0x" + ref.hex() if isinstance(ref, bytes) else ref
        raise ResourceNotFound(f"header not found: {shown}")
    return header


class ChainService:
    """The async facade over one chain; shared by the sealing node and the verifying replica."""

    role = "node"

    def __init__(self, chain: LedgerChain, metrics: NodeMetrics | None = None) -> None:
        self._chain = chain
        self.chain_id = chain.chain_id
        self.metrics = metrics or NodeMetrics()
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="chain")
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def _on_chain(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the chain thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    # ------------------------------------------------------------------ events
    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def publish(self, new_block: NewBlock) -> None:
        self.metrics.head.set(new_block.header.block_number)
        for listener in list(self._listeners):
            try:
                await listener(new_block)
            except Exception:  # a broken subscriber must not stop the chain
                log.exception("block listener failed")

    async def _publish_number(self, number: int) -> None:
        """Publish block ``number`` (committed by the writer) as a :class:`NewBlock`."""
        def load() -> NewBlock | None:
            header = self._chain.header_by_number(number)
            if header is None:
                return None
            view = self._chain.block_view(header)
            return NewBlock(header, view.logs, len(view.transaction_hashes))

        new_block = await self._on_chain(load)
        if new_block is not None:
            await self.publish(new_block)

    # ------------------------------------------------------------------ blocks
    async def head(self) -> BlockHeaderAPI:
        return await self._on_chain(lambda: self._chain.head)

    async def header(self, ref: BlockRef) -> BlockHeaderAPI | None:
        return await self._on_chain(resolve, self._chain, ref)

    async def block(self, ref: BlockRef) -> BlockView | None:
        def work() -> BlockView | None:
            header = resolve(self._chain, ref)
            return None if header is None else self._chain.block_view(header)
        return await self._on_chain(work)

    async def block_with_transactions(self, ref: BlockRef) -> tuple[BlockView, list[IndexedTransaction]] | None:
        def work() -> tuple[BlockView, list[IndexedTransaction]] | None:
            header = resolve(self._chain, ref)
            if header is None:
                return None
            view = self._chain.block_view(header)
            txs = [self._chain.transaction(h) for h in view.transaction_hashes]
            return view, [tx for tx in txs if tx is not None]
        return await self._on_chain(work)

    async def fee_history(self, count: int, newest: BlockRef) -> FeeHistory:
        def work() -> FeeHistory:
            last = require(self._chain, newest)
            n = max(0, min(count, MAX_FEE_HISTORY, last.block_number + 1))
            oldest = last.block_number - n + 1
            headers = [self._chain.header_by_number(i) for i in range(oldest, last.block_number + 1)]
            return FeeHistory(max(oldest, 0), tuple(h.gas_used / h.gas_limit if h else 0.0 for h in headers))
        return await self._on_chain(work)

    # ------------------------------------------------------------------ transactions
    async def transaction(self, tx_hash: bytes) -> IndexedTransaction | None:
        """A canonical transaction, else a pending one, else None."""
        found = await self._on_chain(self._chain.transaction, tx_hash)
        return found if found is not None else await self.pending_transaction(tx_hash)

    async def transaction_at(self, ref: BlockRef, index: int) -> IndexedTransaction | None:
        def work() -> IndexedTransaction | None:
            header = resolve(self._chain, ref)
            return None if header is None else self._chain.transaction_at(header, index)
        return await self._on_chain(work)

    async def receipt(self, tx_hash: bytes) -> IndexedReceipt | None:
        return await self._on_chain(self._chain.receipt, tx_hash)

    async def pending_transaction(self, tx_hash: bytes) -> IndexedTransaction | None:
        return None

    async def pending_nonce(self, account: Address) -> int | None:
        """The next nonce counting pending transactions; None where nothing is pending here."""
        return None

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        raise NotImplementedError

    # ------------------------------------------------------------------ logs
    async def logs(self, query: LogFilter) -> list[LogEntry]:
        """Logs matching ``query`` (execution-apis ``eth_getLogs``), from the index, blocks
        skipped by their header bloom."""
        def work() -> list[LogEntry]:
            chain = self._chain
            if query.block_hash is not None:
                header = chain.header_by_hash(query.block_hash)
                if header is None:
                    raise ResourceNotFound(f"unknown block 0x{query.block_hash.hex()}")
                headers = [header]
            else:
                start = require(chain, query.from_block).block_number
                end = require(chain, query.to_block).block_number
                if end < start:
                    return []
                if end - start + 1 > MAX_LOG_RANGE:
                    raise LimitExceeded(f"block range {end - start + 1} exceeds the limit of {MAX_LOG_RANGE}")
                headers = [h for h in (chain.header_by_number(n) for n in range(start, end + 1)) if h]
            out: list[LogEntry] = []
            for header in headers:
                if not query.bloom_may_match(header.bloom):
                    continue
                out.extend(entry for entry in chain.block_view(header).logs if query.matches(entry))
                if len(out) > MAX_LOGS:
                    raise LimitExceeded(f"query returned more than {MAX_LOGS} logs; narrow the range")
            return out
        return await self._on_chain(work)

    # ------------------------------------------------------------------ state
    async def balance(self, account: Address, ref: BlockRef) -> int:
        return await self._on_chain(lambda: self._state(ref).get_balance(account))

    async def code(self, account: Address, ref: BlockRef) -> bytes:
        return await self._on_chain(lambda: bytes(self._state(ref).get_code(account)))

    async def storage_at(self, account: Address, slot: int, ref: BlockRef) -> int:
        return await self._on_chain(lambda: self._state(ref).get_storage(account, slot))

    async def nonce(self, account: Address, ref: BlockRef) -> int:
        if ref == "pending":
            pending = await self.pending_nonce(account)
            if pending is not None:
                return pending
        return await self._on_chain(lambda: self._state(ref).get_nonce(account))

    def _state(self, ref: BlockRef) -> Any:
        return self._chain.state_at(require(self._chain, ref))

    async def call(self, call: dict[str, Any], ref: BlockRef) -> bytes:
        return await self._on_chain(lambda: self._chain.call(call, require(self._chain, ref)))

    async def estimate_gas(self, call: dict[str, Any], ref: BlockRef) -> int:
        return await self._on_chain(lambda: self._chain.estimate_gas(call, require(self._chain, ref)))

    async def proof(self, account: Address, slots: Sequence[int], ref: BlockRef) -> dict[str, Any]:
        return await self._on_chain(lambda: self._chain.get_proof(account, slots, require(self._chain, ref)))

    async def sealers(self, ref: BlockRef) -> tuple[Address, ...]:
        return await self._on_chain(lambda: self._chain.sealers_at(require(self._chain, ref)))

    # ------------------------------------------------------------------ block-hash log
    async def checkpoint(self, size: int | None) -> SignedCheckpoint | None:
        """The sealer's signed checkpoint of tree ``size`` (the newest when None)."""
        return await self._on_chain(self._chain.checkpoint, size)

    async def log_size(self) -> int:
        return await self._on_chain(lambda: self._chain.log.size)

    async def inclusion_proof(self, index: int, size: int) -> tuple[bytes, list[bytes]]:
        """Block ``index``'s hash and its RFC 6962 audit path in the tree of ``size`` leaves."""
        def work() -> tuple[bytes, list[bytes]]:
            proof = self._chain.log.inclusion_proof(index, size)
            header = self._chain.header_by_number(index)
            assert header is not None, "the log holds a leaf only for a committed block"
            return bytes(header.hash), proof
        return await self._on_chain(work)

    async def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        return await self._on_chain(self._chain.log.consistency_proof, old_size, new_size)

    async def genesis_document(self) -> dict[str, Any]:
        """The genesis document this chain was built from (``node.genesis``)."""
        return self._chain.genesis.to_json()

    async def commit(self, number: int) -> dict[str, Any] | None:
        """The consensus commit certifying block ``number`` (``cityledger_getCommit``); only a
        CometBFT validator has one (``node.abci.service``)."""
        raise ResourceNotFound("this node seals blocks itself (proof of authority): blocks carry "
                               "seals, not CometBFT commits; see cityledger_sealers")

    # ------------------------------------------------------------------ raw forms
    async def raw_header(self, ref: BlockRef) -> bytes | None:
        import rlp

        header = await self.header(ref)
        return None if header is None else bytes(rlp.encode(header))

    async def raw_block(self, ref: BlockRef) -> bytes | None:
        def work() -> bytes | None:
            header = resolve(self._chain, ref)
            return None if header is None else self._chain.raw_block(header)
        return await self._on_chain(work)

    async def raw_receipts(self, ref: BlockRef) -> list[bytes] | None:
        def work() -> list[bytes] | None:
            header = resolve(self._chain, ref)
            return None if header is None else self._chain.raw_receipts(header)
        return await self._on_chain(work)

    # ------------------------------------------------------------------ status
    async def status(self) -> NodeStatus:
        head = await self.head()
        return NodeStatus(self.role, self.chain_id, head.block_number, bytes(head.hash))

    async def sync_status(self) -> SyncStatus | None:
        """None when in sync (a sealer always is)."""
        return None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Start background tasks (none for a plain read-only node)."""
        head = await self.head()
        self.metrics.head.set(head.block_number)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        await self._on_chain(self._chain.close)
        self._executor.shutdown(wait=True)


class SealerLink:
    """The JSON-RPC side of the socket to the sealing loop: requests with replies, coalesced
    admissions, and ``sealed`` notifications."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Any]] = {}
        self._admissions: list[tuple[bytes, Address, asyncio.Future[Any]]] = []
        self._writer: asyncio.StreamWriter | None = None
        self._reader_task: asyncio.Task[None] | None = None
        self.ready: asyncio.Future[int] | None = None
        self.on_sealed: Callable[[SealedInfo], Awaitable[None]] | None = None
        self.failure: str | None = None
        self._closed = False

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        reader, self._writer = await asyncio.open_connection(sock=self._sock)
        self._reader_task = asyncio.create_task(self._read(reader), name="sealer-link")

    async def open(self) -> int:
        """Connect; returns the head number once the sealer reports ready."""
        await self.connect()
        assert self.ready is not None
        return await self.ready

    def send(self, message: Any) -> None:
        if self._writer is None or self._writer.is_closing() or self._closed:
            raise SealerUnavailable(self.failure or "the sealer is not running")
        self._writer.write(encode_message(message))

    async def request(self, kind: str, *args: Any) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future
        self.send((kind, request_id, *args))
        return await future

    async def admit(self, raw: bytes, sender: Address) -> bytes:
        """Queue one admission; all admissions queued in the same event-loop turn (a JSON-RPC
        batch) go to the sealer as one message."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if not self._admissions:
            asyncio.get_running_loop().call_soon(self._flush_admissions)
        self._admissions.append((raw, sender, future))
        result = await future
        if isinstance(result, TransactionRejected):
            raise result
        return bytes(result)

    def _flush_admissions(self) -> None:
        batch, self._admissions = self._admissions, []
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = future

        def deliver(done: asyncio.Future[Any]) -> None:
            failure = done.exception()
            results = [failure] * len(batch) if failure is not None else done.result()
            for (_raw, _sender, item), result in zip(batch, results):
                if item.done():
                    continue
                if isinstance(result, BaseException) and not isinstance(result, TransactionRejected):
                    item.set_exception(result)
                else:
                    item.set_result(result)

        future.add_done_callback(deliver)
        try:
            self.send(("admit", request_id, [(raw, sender) for raw, sender, _ in batch]))
        except SealerUnavailable as exc:
            self._waiting.pop(request_id, None)
            future.set_exception(exc)

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buffer = bytearray()
        try:
            while True:
                chunk = await reader.read(1 << 20)
                if not chunk:
                    break
                buffer.extend(chunk)
                for message in decode_messages(buffer):
                    try:
                        await self._dispatch(message)
                    except Exception:  # one bad event must not cut the node off its sealer
                        log.exception("handling a message from the sealer failed")
        finally:
            self._closed = True
            failure = SealerUnavailable(self.failure or "the sealer stopped")
            if self.ready is not None and not self.ready.done():
                self.ready.set_exception(failure)
            for future in self._waiting.values():
                if not future.done():
                    future.set_exception(failure)
            self._waiting.clear()

    async def _dispatch(self, message: Any) -> None:
        kind = message[0]
        if kind == "reply":
            _kind, request_id, ok, value = message
            future = self._waiting.pop(request_id, None)
            if future is not None and not future.done():
                future.set_result(value) if ok else future.set_exception(value)
        elif kind == "sealed":
            if self.on_sealed is not None:
                await self.on_sealed(message[1])
        elif kind == "ready":
            assert self.ready is not None
            self.ready.set_result(int(message[1]))
        elif kind == "failed":
            self.failure = str(message[1])
            log.error("sealer failed: %s", self.failure)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except (ConnectionError, OSError):
                pass
        if self._reader_task is not None:
            self._reader_task.cancel()
            try:
                await self._reader_task
            except (asyncio.CancelledError, Exception):
                pass


class SealerProcess:
    """The sealing loop in a child process (``python -m node.sealer``) on a socket pair."""

    def __init__(self, data_dir: Path, genesis_path: Path, sealer_key: PrivateKey, block_time: float) -> None:
        ours, theirs = socket.socketpair()
        self.link = SealerLink(ours)
        self._key = sealer_key
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "node.sealer", "--fd", str(theirs.fileno()), "--parent", str(os.getpid()),
             "--data-dir", str(data_dir), "--genesis", str(genesis_path), "--block-time", str(block_time)],
            pass_fds=[theirs.fileno()], env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        theirs.close()

    async def open(self) -> int:
        await self.link.connect()
        self.link.send(("key", self._key.to_bytes()))
        assert self.link.ready is not None
        return await self.link.ready

    async def close(self) -> None:
        await self.link.close()
        await asyncio.get_running_loop().run_in_executor(None, self._wait)

    def _wait(self) -> None:
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class SealerThread:
    """The same sealing loop and socket protocol in a thread of this process (in-process tests:
    the loop's chain shares the store with the service's reader chain)."""

    def __init__(self, chain: LedgerChain, sealer_key: PrivateKey, block_time: float,
                 clock: Callable[[], float] = time.time) -> None:
        ours, theirs = socket.socketpair()
        self.link = SealerLink(ours)
        self.loop = SealingLoop(chain, sealer_key, block_time=block_time)
        self._thread = threading.Thread(target=self._run, args=(theirs, clock), name="sealer", daemon=True)

    def _run(self, sock: socket.socket, clock: Callable[[], float]) -> None:
        try:
            serve(sock, self.loop, clock)
        except OSError:
            pass  # the service closed its end
        finally:
            sock.close()

    async def open(self) -> int:
        self._thread.start()
        return await self.link.open()

    async def close(self) -> None:
        await self.link.close()
        await asyncio.get_running_loop().run_in_executor(None, self._thread.join, 30)


class SealerService(ChainService):
    """The authority node: admits transactions (decoded and sender-recovered here) and hands them
    to the sealing loop, which owns the pool and writes every block."""

    role = "sealer"

    def __init__(self, chain: LedgerChain, sealer: SealerProcess | SealerThread,
                 sealer_address: Address, metrics: NodeMetrics | None = None) -> None:
        super().__init__(chain, metrics)
        self.sealer = sealer
        self.sealer_address = sealer_address
        sealer.link.on_sealed = self._on_sealed

    async def start(self) -> None:
        await super().start()
        if self.sealer.link.ready is None:
            await self.sealer.open()

    async def stop(self) -> None:
        await self.sealer.close()
        await super().stop()

    async def _on_sealed(self, info: SealedInfo) -> None:
        self.metrics.sealed_transactions.inc(info.transactions)
        self.metrics.seal_seconds.observe(info.seal_seconds)
        self.metrics.pool_size.set(info.pending)
        await self._publish_number(info.number)

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        tx = decode_transaction(raw, self.chain_id)  # stateless checks; the sender recovered once
        return await self.sealer.link.admit(raw, Address(tx.sender))

    async def pending_transaction(self, tx_hash: bytes) -> IndexedTransaction | None:
        found = await self.sealer.link.request("pending_transaction", tx_hash)
        return None if found is None else IndexedTransaction(found[0], found[1], tx_hash)

    async def pending_nonce(self, account: Address) -> int | None:
        return int(await self.sealer.link.request("pending_nonce", account))

    async def status(self) -> NodeStatus:
        head = await self.head()
        loop_status = await self.sealer.link.request("status")
        self.metrics.pool_size.set(loop_status["pending"])
        return NodeStatus(self.role, self.chain_id, head.block_number, bytes(head.hash),
                          sealer=self.sealer_address, pending=loop_status["pending"])
