"""The indexer: follows sealed blocks into SQL, building proofs as it goes.

Per batch of blocks:

1. headers of every block in the range (batched ``eth_getBlockByNumber``), each re-encoded and
   hashed, linked to the previous indexed block by ``parentHash`` and — on a proof-of-authority
   chain — its seal checked against the sealer set valid at its parent;
2. the blocks that may hold the contracts' logs: those ``eth_getLogs`` names **and** those whose
   header bloom admits one of the contracts' addresses, so a node that leaves logs out of
   ``eth_getLogs`` cannot make the index skip them;
3. those blocks fetched in full and verified (``gateway.chain.blocks``); each log of the contracts
   is decoded, its transaction's proofs cut once, and the record modules derive their rows;
4. on a CometBFT chain, the commit certifying each of those blocks (``cityledger_getCommit``),
   checked against the pinned validator set (``gateway.chain.commit``) and stored with the
   block's proofs; a block's commit exists once the next CometBFT height is committed, so the
   batch ends before the first log-bearing block that is not certified yet;
5. all of it, and the cursor, written in one database transaction.

A block hash that differs from the one indexed at that height stops the indexer with
``IndexDiverged`` (the chain under the index changed; on a single-sealer chain that is a sealer
equivocating, which the audit toolkit turns into evidence). Nothing indexed is overwritten.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_hash.auto import keccak
from sqlalchemy import Engine
from sqlmodel import Session

from gateway import db
from gateway.chain.blocks import VerifiedBlock, fetch_blocks
from gateway.chain.codec import Header, encode_header, hex_bytes, hex_int
from gateway.chain.commit import CometGenesis, verify_commit
from gateway.chain.rpc import RpcClient
from gateway.contracts import EventCodec
from gateway.errors import ChainDataInvalid, GatewayError, ProofInvalid
from gateway.proofs import verify_seal

log = logging.getLogger("cityledger.indexer")

#: Blocks fetched in full per JSON-RPC batch.
FULL_BLOCKS_PER_FETCH = 20


@dataclass
class IndexDiverged(GatewayError):
    """Raised when the chain's block at an indexed height is not the block that was indexed."""

    number: int
    indexed_hash: str
    chain_hash: str
    status = 503
    slug = "index-diverged"

    def __str__(self) -> str:
        return (f"block {self.number} was indexed as {self.indexed_hash} but the node now serves "
                f"{self.chain_hash}; indexing stopped")


@dataclass
class IndexerFailed(GatewayError):
    """Raised (reported in ``/v1/status``) when indexing failed for a reason outside the chain's
    data, such as the database; the indexer retries."""

    kind: str
    detail: str
    status = 503
    slug = "indexer-failed"

    def __str__(self) -> str:
        return f"{self.kind}: {self.detail}"


@dataclass(frozen=True)
class IndexedEvent:
    """A decoded contract event with its place on the chain."""

    contract: str
    name: str
    args: dict[str, Any]
    block_number: int
    block_log_index: int
    tx_index: int
    log_index: int
    tx_hash: str
    sender: str
    timestamp: int


class RecordModule(Protocol):
    """A record kind (member, sharing, custody, credit): derives its rows from events."""

    #: ``(contract, event name)`` pairs this module applies.
    EVENTS: frozenset[tuple[str, str]]

    def apply(self, s: Session, event: IndexedEvent, ctx: IndexContext) -> None: ...


@dataclass
class IndexContext:
    """State the record modules may read and change while a batch is applied."""

    chain_id: int
    sealers: list[bytes]
    #: Blocks whose sealer set changed in this batch, and the new set (applies from the next block).
    sealer_changes: list[tuple[int, list[bytes]]] = field(default_factory=list)


def _bloom_has(bloom: bytes, item: bytes) -> bool:
    """EIP-2 / Yellow Paper 4.3.1 bloom membership: three 11-bit indexes from keccak256(item)."""
    digest = keccak(item)
    value = int.from_bytes(bloom, "big")
    for i in (0, 2, 4):
        bit = ((digest[i] << 8) | digest[i + 1]) & 2047
        if not value >> bit & 1:
            return False
    return True


class Indexer:
    """Follows the chain into the index; one instance per gateway process."""

    def __init__(self, engine: Engine, rpc: RpcClient, codec: EventCodec, modules: Sequence[RecordModule],
                 *, chain_id: int, poa: bool, genesis_sealers: Callable[[], Any],
                 comet: CometGenesis | None = None,
                 batch_blocks: int = 200, poll_interval: float = 0.5,
                 start_block: int = 0,
                 seed: Callable[[], Awaitable[Callable[[Session], None]]] | None = None,
                 on_block: Callable[[int, float], None] | None = None) -> None:
        self.engine = engine
        self.rpc = rpc
        self.codec = codec
        self.modules = list(modules)
        self.chain_id = chain_id
        self.poa = poa
        self.comet = comet
        self._genesis_sealers = genesis_sealers
        self.batch_blocks = batch_blocks
        self.poll_interval = poll_interval
        self.on_block = on_block
        self.start_block = start_block
        self._seed = seed
        self._pending_seed: Callable[[Session], None] | None = None
        self.error: GatewayError | None = None
        self.chain_head = -1
        self.indexed = -1
        self._handlers: dict[tuple[str, str], list[RecordModule]] = {}
        for module in self.modules:
            for key in module.EVENTS:
                self._handlers.setdefault(key, []).append(module)
        self._wake = asyncio.Event()
        self.caught_up = asyncio.Event()

    # ---------------------------------------------------------------- loop
    async def run(self) -> None:
        """Index until cancelled. Errors that need an operator stop the loop (and show in
        ``/v1/status``); a node that is briefly unreachable is retried."""
        await self.load_state()
        while True:
            try:
                advanced = await self.step()
            except (IndexDiverged, ChainDataInvalid, ProofInvalid) as exc:
                log.error("indexing stopped: %s", exc)
                self.error = exc
                return
            except GatewayError as exc:
                log.warning("indexer: %s; retrying", exc)
                self.error = exc
                advanced = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database or library failure: report it, retry, never die
                log.exception("indexer failed; retrying in %.1f s", self.poll_interval)
                self.error = IndexerFailed(type(exc).__name__, str(exc)[:500])
                advanced = False
            else:
                if self.error is not None and not isinstance(self.error, (IndexDiverged, ChainDataInvalid)):
                    self.error = None
            if not advanced:
                self.caught_up.set()
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
                except TimeoutError:
                    pass

    def wake(self) -> None:
        """Look for new blocks now (the gateway calls this after relaying a transaction)."""
        self._wake.set()

    async def load_state(self) -> None:
        def load() -> tuple[int, list[bytes] | None]:
            with db.session(self.engine) as s:
                cursor = db.get_state(s, "cursor")
                sealers = db.get_state(s, "sealers")
                return (-1 if cursor is None else int(cursor),
                        None if sealers is None else [bytes.fromhex(a[2:]) for a in sealers])

        self.indexed, sealers = await asyncio.to_thread(load)
        if self.indexed < 0:
            self.indexed = self.start_block - 1
            if self._seed is not None:
                self._pending_seed = await self._seed()
        if sealers is None and self.poa:
            sealers = list(await self._genesis_sealers())
        self.sealers: list[bytes] = sealers or []

    async def wait_for(self, number: int, timeout: float = 30.0) -> None:
        """Until block ``number`` is indexed (used after relaying a transaction)."""
        deadline = time.monotonic() + timeout
        while self.indexed < number:
            if self.error is not None and isinstance(self.error, (IndexDiverged, ChainDataInvalid, ProofInvalid)):
                raise self.error
            if time.monotonic() > deadline:
                raise TimeoutError(f"block {number} not indexed within {timeout} s")
            self.wake()
            await asyncio.sleep(0.02)  # polling the indexer's progress with a deadline

    # ---------------------------------------------------------------- one batch
    async def step(self) -> bool:
        """Index the next batch of blocks; False when there was nothing new."""
        self.chain_head = hex_int(await self.rpc.call("eth_blockNumber"), "eth_blockNumber")
        start = self.indexed + 1
        if start > self.chain_head:
            return False
        end = min(self.chain_head, start + self.batch_blocks - 1)
        started = time.perf_counter()
        numbers = list(range(start, end + 1))
        headers_json = await self.rpc.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        headers: list[Header] = []
        for n, block in zip(numbers, headers_json):
            if block is None:
                raise ChainDataInvalid(f"block {n}", "the node announced it but does not serve it")
            headers.append(Header.decode(encode_header(block)))
        previous = await asyncio.to_thread(self._stored_hash, start - 1)
        for header in headers:
            if previous is not None and header.parent_hash != previous:
                raise IndexDiverged(header.number - 1, "0x" + previous.hex(), "0x" + header.parent_hash.hex())
            previous = header.hash
        wanted = await self._blocks_with_logs(start, end, headers)
        commits: dict[int, Any] = {}
        if self.comet is not None and wanted:
            answers = await self.rpc.batch([("cityledger_getCommit", [hex(n)]) for n in wanted])
            for number, certificate in zip(wanted, answers):
                if certificate is None:  # certified by the next CometBFT height, not committed yet
                    end = number - 1
                    break
                commits[number] = certificate
            if end < start:
                return False
            headers = headers[:end - start + 1]
            wanted = [n for n in wanted if n <= end]
        full: dict[int, VerifiedBlock] = {}
        for i in range(0, len(wanted), FULL_BLOCKS_PER_FETCH):
            for vb in await fetch_blocks(self.rpc, wanted[i:i + FULL_BLOCKS_PER_FETCH]):
                full[vb.number] = vb
        for header in headers:
            if header.number in full and full[header.number].hash != header.hash:
                raise IndexDiverged(header.number, "0x" + header.hash.hex(), "0x" + full[header.number].hash.hex())
        for number in wanted:
            if self.comet is not None:
                verify_commit(commits[number], headers[number - start].hash, self.comet)
        await asyncio.to_thread(self._write, headers, full, commits)
        self.indexed = end
        if self.on_block is not None:
            self.on_block(end, time.perf_counter() - started)
        return True

    def _stored_hash(self, number: int) -> bytes | None:
        if number < 0:
            return None
        with db.session(self.engine) as s:
            row = db.block_at(s, number)
            return None if row is None else bytes.fromhex(row.hash[2:])

    async def _blocks_with_logs(self, start: int, end: int, headers: Sequence[Header]) -> list[int]:
        addresses = self.codec.addresses
        logs = await self.rpc.call("eth_getLogs", [{"fromBlock": hex(start), "toBlock": hex(end),
                                                    "address": ["0x" + a.hex() for a in addresses]}])
        named = {hex_int(entry["blockNumber"], "log.blockNumber") for entry in logs or []}
        for header in headers:
            bloom = header.fields[6]
            if any(_bloom_has(bloom, a) for a in addresses):
                named.add(header.number)
        return sorted(named)

    # ---------------------------------------------------------------- writing
    def _write(self, headers: Sequence[Header], full: dict[int, VerifiedBlock], commits: dict[int, Any]) -> None:
        ctx = IndexContext(self.chain_id, list(self.sealers))
        with db.session(self.engine) as s:
            if self._pending_seed is not None:
                self._pending_seed(s)
            for header in headers:
                sealer = b""
                if self.poa and header.number > 0:
                    sealer = verify_seal(header, ctx.sealers) or b""
                block = full.get(header.number)
                s.add(db.IndexedBlock(
                    number=header.number, hash="0x" + header.hash.hex(), parent_hash="0x" + header.parent_hash.hex(),
                    timestamp=header.timestamp, header="0x" + header.raw.hex() if block is not None else "",
                    sealer="0x" + sealer.hex() if sealer else ""))
                if block is not None:
                    if header.number in commits:
                        s.add(db.BlockCommit(number=header.number, certificate=json.dumps(commits[header.number])))
                    self._apply_block(s, block, ctx)
                for changed_at, new_set in ctx.sealer_changes:
                    if changed_at == header.number:
                        ctx.sealers = list(new_set)
                ctx.sealer_changes = [c for c in ctx.sealer_changes if c[0] > header.number]
            db.set_state(s, "cursor", headers[-1].number)
            db.set_state(s, "sealers", ["0x" + a.hex() for a in ctx.sealers])
            s.commit()
        self._pending_seed = None
        self.sealers = ctx.sealers

    def _apply_block(self, s: Session, block: VerifiedBlock, ctx: IndexContext) -> None:
        proven: set[int] = set()
        for chain_log in block.logs:
            abi = self.codec.lookup(chain_log.address, chain_log.topics)
            if abi is None or block.statuses[chain_log.tx_index] != 1:
                continue
            try:
                args = abi.decode(chain_log.topics, chain_log.data)
            except Exception as exc:  # eth_abi raises several types for malformed data
                raise ChainDataInvalid(f"block {block.number} log {chain_log.block_log_index}",
                                       f"cannot decode {abi.name}: {exc}") from exc
            if chain_log.tx_index not in proven:
                proven.add(chain_log.tx_index)
                s.add(db.TxProof(
                    block_number=block.number, tx_index=chain_log.tx_index,
                    tx_hash="0x" + chain_log.tx_hash.hex(),
                    sender="0x" + block.senders[chain_log.tx_index].hex(),
                    receipt_proof=json.dumps(["0x" + n.hex() for n in block.receipt_proof(chain_log.tx_index)]),
                    tx_proof=json.dumps(["0x" + n.hex() for n in block.tx_proof(chain_log.tx_index)])))
            event = IndexedEvent(
                contract=abi.contract, name=abi.name, args=args, block_number=block.number,
                block_log_index=chain_log.block_log_index, tx_index=chain_log.tx_index,
                log_index=chain_log.log_index, tx_hash="0x" + chain_log.tx_hash.hex(),
                sender="0x" + block.senders[chain_log.tx_index].hex(), timestamp=block.header.timestamp)
            s.add(db.ChainEvent(
                block_number=block.number, block_log_index=chain_log.block_log_index, tx_index=chain_log.tx_index,
                log_index=chain_log.log_index, tx_hash=event.tx_hash, contract=abi.contract, name=abi.name,
                args=json.dumps(args), timestamp=event.timestamp))
            for module in self._handlers.get((abi.contract, abi.name), ()):
                module.apply(s, event, ctx)


def hex_address(value: str) -> bytes:
    return hex_bytes(value, "address")
