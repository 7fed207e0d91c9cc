"""The running node: one chain, one worker thread, a transaction pool and a block producer.

All chain access runs on a single worker thread (py-evm and the write buffer are not thread-safe),
so readers see either the state before a block or after its atomic commit, never half a block.
The asyncio loop only parses requests, formats answers and paces block production.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from eth.abc import BlockAPI, ReceiptAPI, SignedTransactionAPI
from eth_keys.datatypes import PrivateKey
from eth_typing import Address
from eth_utils import encode_hex

from node.chain import LedgerChain
from node.consensus import is_active_member
from node.rpc.formatters import header_json, logs_of_block
from node.txpool import TxPool, decode_transaction

log = logging.getLogger("cityledger.node")
T = TypeVar("T")


@dataclass(frozen=True)
class NewBlock:
    """What subscribers hear about each block added to the canonical chain."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    header: dict[str, Any]
    logs: list[dict[str, Any]]


Listener = Callable[[NewBlock], Awaitable[None]]


class ChainService:
    """Shared by the sealing node and the verifying replica."""

    role = "node"

    def __init__(self, chain: LedgerChain) -> None:
        self.chain = chain
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="chain")
        self._listeners: list[Listener] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the chain worker thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def publish(self, new_block: NewBlock) -> None:
        for listener in list(self._listeners):
            try:
                await listener(new_block)
            except Exception:  # a broken subscriber must not stop the chain
                log.exception("block listener failed")

    def describe_block(self, block: BlockAPI, receipts: tuple[ReceiptAPI, ...]) -> NewBlock:
        return NewBlock(block, receipts, header_json(block.header), logs_of_block(block, receipts))

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        raise NotImplementedError

    def pending_transaction(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        return None

    def pending_nonce(self, account: Address, state_nonce: int) -> int:
        return state_nonce

    def status(self) -> dict[str, Any]:
        head = self.chain.head
        return {"role": self.role, "chainId": self.chain.chain_id, "head": head.block_number,
                "headHash": encode_hex(head.hash)}

    async def start(self) -> None:
        """Start background tasks (none for a plain read-only node)."""

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        self._tasks.clear()
        await self.run(self.chain.close)
        self._executor.shutdown(wait=True)


class SealerService(ChainService):
    """The authority node: admits transactions and seals a block from the pool when any are
    pending, at most once every ``block_time`` seconds."""

    role = "sealer"

    def __init__(
        self,
        chain: LedgerChain,
        sealer_key: PrivateKey,
        *,
        block_time: float = 1.0,
        max_block_txs: int = 5_000,
        clock: Callable[[], float] = time.time,
        vanity: bytes = b"cityledger",
    ) -> None:
        super().__init__(chain)
        self.pool = TxPool()
        self.sealer_key = sealer_key
        self.block_time = block_time
        self.max_block_txs = max_block_txs
        self.clock = clock
        self.vanity = vanity
        self._wake = asyncio.Event()
        self._last_seal = 0.0
        # Admission reads nonces, balances and membership from one cached view of the head state.
        self._head_state: tuple[bytes, Any] | None = None

    @property
    def sealer_address(self) -> Address:
        return Address(self.sealer_key.public_key.to_canonical_address())

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._produce(), name="producer"))

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        tx = await self.run(self._admit, raw)
        self._wake.set()
        return bytes(tx.hash)

    def _admit(self, raw: bytes) -> SignedTransactionAPI:
        tx = decode_transaction(raw, self.chain.chain_id)
        head = self.chain.head
        if self._head_state is None or self._head_state[0] != head.hash:
            self._head_state = (head.hash, self.chain.state_at(head))
        state = self._head_state[1]
        sender = tx.sender
        self.pool.admit(
            tx,
            state_nonce=state.get_nonce(sender),
            balance=state.get_balance(sender),
            is_member=is_active_member(state, self.chain.genesis.registry.address, sender),
            block_gas_limit=head.gas_limit,
        )
        return tx

    def pending_transaction(self, tx_hash: bytes) -> SignedTransactionAPI | None:
        return self.pool.get(tx_hash)

    def pending_nonce(self, account: Address, state_nonce: int) -> int:
        return self.pool.pending_nonce(account, state_nonce)

    def status(self) -> dict[str, Any]:
        out = super().status()
        out.update(sealer=encode_hex(self.sealer_address), pending=len(self.pool))
        return out

    async def _produce(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wake.wait()
            delay = self._last_seal + self.block_time - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self._wake.clear()
            self._last_seal = loop.time()
            try:
                new_block, more = await self.run(self._seal_once)
            except Exception:
                log.exception("sealing failed; the block was discarded and nothing was written")
                self._wake.set()
                await asyncio.sleep(self.block_time)
                continue
            if new_block is not None:
                await self.publish(new_block)
            if more:
                self._wake.set()

    def _seal_once(self) -> tuple[NewBlock | None, bool]:
        started = time.perf_counter()
        chain = self.chain
        state = chain.state_at(chain.head)
        nonces: dict[Address, int] = {}

        def nonce_of(account: Address) -> int:
            if account not in nonces:
                nonces[account] = state.get_nonce(account)
            return nonces[account]

        candidates = self.pool.ready(nonce_of, self.max_block_txs)
        if not candidates:
            return None, False
        built = chain.build_block(candidates, int(self.clock()), self.sealer_key, self.vanity)
        for tx, reason in built.dropped:
            log.warning("dropped transaction %s: %s", encode_hex(tx.hash), reason)
        self.pool.remove(tx for tx, _ in built.dropped)
        if built.block is None:
            return None, bool(self.pool.ready(nonce_of, 1))
        self.pool.remove(built.block.transactions)
        after = chain.state_at(built.block.header)
        self.pool.prune(after.get_nonce)
        header = built.block.header
        log.info(
            "sealed block %d hash=%s txs=%d gas=%d pending=%d in %.0f ms",
            header.block_number, encode_hex(header.hash), len(built.block.transactions),
            header.gas_used, len(self.pool), (time.perf_counter() - started) * 1000,
        )
        more = bool(built.deferred) or bool(self.pool.ready(after.get_nonce, 1))
        return self.describe_block(built.block, built.receipts), more

