"""A verifying replica: follows a sealer over JSON-RPC and re-checks every block.

For each block the replica fetches the raw RLP (``debug_getRawBlock``), then ``LedgerChain``
checks the seal against the sealer set valid at the parent, applies the fork's header rules,
re-executes every transaction (refusing non-member senders) and compares transaction, receipt
and state roots. A block that fails is refused and reported with its number and the failed
check; the replica keeps serving what it verified and retries, so a repaired upstream is picked
up again. Upstream outages are retried with backoff. Writes (``eth_sendRawTransaction``) are
forwarded to the upstream.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import httpx
from eth_utils import encode_hex

from node.chain import LedgerChain
from node.errors import BlockRejected, UpstreamError, UpstreamUnavailable
from node.metrics import NodeMetrics
from node.service import ChainService, NewBlock, NodeStatus, SyncStatus

log = logging.getLogger("cityledger.follower")

FETCH_BATCH = 32


class FollowerService(ChainService):
    role = "replica"

    def __init__(
        self,
        chain: LedgerChain,
        upstream: str,
        *,
        poll_interval: float = 0.5,
        max_backoff: float = 10.0,
        client: httpx.AsyncClient | None = None,
        metrics: NodeMetrics | None = None,
    ) -> None:
        super().__init__(chain, metrics)
        self.upstream = upstream
        self.poll_interval = poll_interval
        self.max_backoff = max_backoff
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0))
        self._ids = itertools.count(1)
        self.upstream_head: int | None = None
        self.starting_block = chain.head.block_number
        self.rejection: BlockRejected | None = None
        self.upstream_error: str | None = None
        self._woken = asyncio.Event()

    async def start(self) -> None:
        await super().start()
        self._tasks.append(asyncio.create_task(self._follow(), name="follower"))

    async def stop(self) -> None:
        await super().stop()
        await self._client.aclose()

    async def status(self) -> NodeStatus:
        head = await self.head()
        rejected = self.rejection
        return NodeStatus(
            self.role, self.chain_id, head.block_number, bytes(head.hash), upstream=self.upstream,
            upstream_head=self.upstream_head, starting_block=self.starting_block,
            rejected=None if rejected is None else (rejected.number, rejected.check, rejected.detail),
            upstream_error=self.upstream_error)

    async def sync_status(self) -> SyncStatus | None:
        """Behind the upstream's last known head: the replica's progress (read on the chain
        thread, like every other chain read)."""
        head = await self.head()
        if self.upstream_head is not None and self.upstream_head > head.block_number:
            return SyncStatus(self.starting_block, head.block_number, self.upstream_head)
        return None

    async def rpc(self, method: str, params: list[Any]) -> Any:
        return (await self.rpc_batch([(method, params)]))[0]

    async def rpc_batch(self, calls: list[tuple[str, list[Any]]]) -> list[Any]:
        """Call the upstream; returns results in order, raising on the first error object."""
        payload = [{"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p} for m, p in calls]
        try:
            response = await self._client.post(self.upstream, json=payload)
            response.raise_for_status()
            answers = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise UpstreamUnavailable(self.upstream, f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(answers, list):
            raise UpstreamUnavailable(self.upstream, f"unexpected answer {str(answers)[:200]}")
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        results = []
        for request in payload:
            answer = by_id.get(request["id"])
            if answer is None:
                raise UpstreamUnavailable(self.upstream, "answer missing from batch response")
            if "error" in answer:
                err = answer["error"]
                raise UpstreamError(int(err.get("code", -32603)), str(err.get("message", "")), err.get("data"))
            results.append(answer.get("result"))
        return results

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        result = await self.rpc("eth_sendRawTransaction", ["0x" + raw.hex()])
        self._woken.set()
        return bytes.fromhex(str(result)[2:])

    async def _follow(self) -> None:
        backoff = self.poll_interval
        while True:
            try:
                progressed = await self._sync_once()
                if self.upstream_error is not None:
                    log.info("upstream %s reachable again", self.upstream)
                self.upstream_error = None
                if progressed:
                    backoff = self.poll_interval
                    continue
                # A refused block is fetched and re-checked again later (the upstream may be
                # repaired), backing off so a bad block does not keep the replica busy.
                backoff = min(backoff * 2, self.max_backoff) if self.rejection else self.poll_interval
            except UpstreamUnavailable as exc:
                if self.upstream_error is None:
                    log.warning("upstream unavailable, will retry: %s", exc.detail)
                self.upstream_error = exc.detail
                backoff = min(backoff * 2, self.max_backoff)
            except UpstreamError as exc:
                if self.upstream_error != exc.message:
                    log.warning("upstream error: %s", exc.message)
                self.upstream_error = exc.message
                backoff = min(backoff * 2, self.max_backoff)
            self._woken.clear()
            try:
                await asyncio.wait_for(self._woken.wait(), timeout=backoff)
            except TimeoutError:
                pass

    async def _sync_once(self) -> bool:
        """Fetch and import what the upstream has beyond our head; True if we advanced."""
        head_hex = await self.rpc("eth_blockNumber", [])
        self.upstream_head = int(head_hex, 16)
        local = (await self.head()).block_number
        self.metrics.replica_lag.set(max(0, self.upstream_head - local))
        if self.upstream_head <= local:
            return False
        last = min(self.upstream_head, local + FETCH_BATCH)
        raws = await self.rpc_batch([("debug_getRawBlock", [hex(n)]) for n in range(local + 1, last + 1)])
        advanced = False
        for number, raw in zip(range(local + 1, last + 1), raws):
            if raw is None:
                break
            started = time.perf_counter()
            try:
                new_block = await self._on_chain(self._import, bytes.fromhex(raw[2:]))
            except BlockRejected as exc:
                if self.rejection is None or (self.rejection.number, self.rejection.check) != (exc.number, exc.check):
                    log.error("REFUSED block %d: %s: %s", exc.number, exc.check, exc.detail)
                    self.metrics.refused_blocks.labels(exc.check).inc()
                self.rejection = exc
                return False
            self.metrics.import_seconds.observe(time.perf_counter() - started)
            self.metrics.replica_lag.set(max(0, self.upstream_head - number))
            self.rejection = None
            advanced = True
            await self.publish(new_block)
        return advanced

    def _import(self, raw: bytes) -> NewBlock:
        """On the chain thread: decode, verify and commit one block (the replica's only writer)."""
        chain = self._chain
        try:
            block = chain.decode_block(raw)
        except Exception as exc:
            number = chain.head.block_number + 1
            raise BlockRejected(number, "encoding", f"cannot decode block: {exc}") from exc
        chain.import_block(block)
        header = block.header
        log.info("verified block %d hash=%s txs=%d", header.block_number, encode_hex(header.hash),
                 len(block.transactions))
        view = chain.block_view(header)
        return NewBlock(header, view.logs, len(view.transaction_hashes))
