"""The JSON-RPC side of a CometBFT validator (``node run --consensus cometbft``).

Three processes make one validator: this one (JSON-RPC, a reader of the store), the ABCI
application (``node.abci.main``, the store's only writer) and CometBFT itself
(``cometbft start``). Both children get ``SIGKILL`` when this process dies, even by ``kill -9``
(``PR_SET_PDEATHSIG``), so a killed validator is killed whole and restarts whole.

``eth_sendRawTransaction`` checks the transaction statelessly here (decoding, chain id, signature)
and hands it to the local CometBFT's mempool (``broadcast_tx_sync``), whose ``CheckTx`` runs the
application's admission rules; a refusal comes back as the same ``TransactionRejected`` the PoA
node raises.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import httpx
from eth_typing import Address

from node.abci.app import CODESPACE, REASONS, number_key
from node.chain import LedgerChain
from node.errors import NodeError, ResourceNotFound, SealerUnavailable, TransactionRejected
from node.metrics import NodeMetrics
from node.sealer import SealedInfo
from node.service import ChainService, NodeStatus, SealerLink
from node.txpool import decode_transaction

log = logging.getLogger("cityledger.node")
#: Seconds ``eth_sendRawTransaction`` waits for a CometBFT that is catching up with its peers.
CATCH_UP_WAIT = 30.0
#: Requests per JSON-RPC batch to CometBFT: its default ``rpc.max_request_batch_size`` (a larger
#: batch is refused whole, with one error object).
BROADCAST_BATCH = 10


class CometBftUnavailable(SealerUnavailable):
    """Raised when the local CometBFT's RPC does not answer or answers with an error."""


def _pdeathsig() -> None:
    """In the child, before exec: SIGKILL when the parent dies (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)


class AppProcess:
    """The ABCI application in a child process, on a socket pair (``node.abci.main``)."""

    def __init__(self, data_dir: Path, genesis_path: Path, abci_address: str,
                 byzantine_txs: Path | None = None, kill_at: str | None = None) -> None:
        ours, theirs = socket.socketpair()
        self.link = SealerLink(ours)
        command = [sys.executable, "-m", "node.abci.main", "--fd", str(theirs.fileno()),
                   "--parent", str(os.getpid()), "--data-dir", str(data_dir), "--genesis", str(genesis_path),
                   "--abci", abci_address]
        if byzantine_txs is not None:
            command += ["--test-byzantine-txs", str(byzantine_txs)]
        if kill_at is not None:
            command += ["--test-kill-at", kill_at]
        self._proc = subprocess.Popen(command, pass_fds=[theirs.fileno()],
                                      env={**os.environ, "PYTHONUNBUFFERED": "1"})
        theirs.close()

    async def open(self) -> int:
        return await self.link.open()

    async def close(self) -> None:
        await self.link.close()
        await asyncio.get_running_loop().run_in_executor(None, self._wait)

    def _wait(self) -> None:
        try:
            self._proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


class CometBftProcess:
    """``cometbft start --home HOME``, its output in ``HOME/cometbft.log``."""

    def __init__(self, binary: Path, home: Path) -> None:
        self.home = home
        config = tomllib.loads((home / "config" / "config.toml").read_text())
        laddr = str(config["rpc"]["laddr"])
        self.rpc_url = "http://" + laddr.removeprefix("tcp://")
        self.proxy_app = str(config["proxy_app"])
        self._binary = binary
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log_file = (self.home / "cometbft.log").open("ab")
        self._proc = subprocess.Popen([str(self._binary), "start", "--home", str(self.home)],
                                      stdout=log_file, stderr=subprocess.STDOUT, preexec_fn=_pdeathsig)
        log_file.close()

    async def stop(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)

        def wait() -> None:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        await asyncio.get_running_loop().run_in_executor(None, wait)


class CometService(ChainService):
    """A validator's JSON-RPC facade: reads from the store, writes through CometBFT."""

    role = "validator"

    def __init__(self, chain: LedgerChain, app: AppProcess, cometbft: CometBftProcess,
                 metrics: NodeMetrics | None = None) -> None:
        super().__init__(chain, metrics)
        self.app = app
        self.cometbft = cometbft
        self._http = httpx.AsyncClient(base_url=cometbft.rpc_url, timeout=30.0)
        #: Next nonce per sender from what this node relayed since the head last moved past it
        #: (CometBFT's mempool cannot be asked per sender cheaply).
        self._relayed: dict[Address, int] = {}
        self._broadcasts: list[tuple[str, asyncio.Future[Any]]] = []
        app.link.on_sealed = self._on_sealed

    async def stop(self) -> None:
        await self.cometbft.stop()
        await self.app.close()
        await self._http.aclose()
        await super().stop()

    async def _on_sealed(self, info: SealedInfo) -> None:
        self.metrics.sealed_transactions.inc(info.transactions)
        await self._publish_number(info.number)

    async def cometbft_rpc(self, method: str, **params: Any) -> Any:
        """One call to the local CometBFT's JSON-RPC (``/`` with a JSON-RPC 2.0 body)."""
        try:
            response = await self._http.post("/", json={"jsonrpc": "2.0", "id": 1, "method": method,
                                                        "params": params})
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise CometBftUnavailable(f"CometBFT RPC {method} failed: {exc}") from exc
        if "error" in answer:
            error = answer["error"]
            raise CometBftUnavailable(f"CometBFT RPC {method}: {error.get('message')} {error.get('data', '')}".strip())
        return answer["result"]

    async def _broadcast(self, encoded: str) -> Any:
        """``broadcast_tx_sync`` of one transaction; those queued in the same event-loop turn (a
        JSON-RPC batch from a client) go to CometBFT as one JSON-RPC batch, one HTTP request."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._broadcasts:
            loop.call_soon(lambda: self._tasks.append(asyncio.ensure_future(self._flush_broadcasts())))
        self._broadcasts.append((encoded, future))
        return await future

    async def _flush_broadcasts(self) -> None:
        queued, self._broadcasts = self._broadcasts, []
        self._tasks[:] = [t for t in self._tasks if not t.done()]
        await asyncio.gather(*(self._broadcast_batch(queued[i:i + BROADCAST_BATCH])
                               for i in range(0, len(queued), BROADCAST_BATCH)))

    async def _broadcast_batch(self, batch: list[tuple[str, asyncio.Future[Any]]]) -> None:
        payload = [{"jsonrpc": "2.0", "id": i, "method": "broadcast_tx_sync", "params": {"tx": encoded}}
                   for i, (encoded, _future) in enumerate(batch)]
        try:
            answers = (await self._http.post("/", json=payload)).json()
        except (httpx.HTTPError, ValueError) as exc:
            for _encoded, future in batch:
                if not future.done():
                    future.set_exception(CometBftUnavailable(f"CometBFT RPC broadcast_tx_sync failed: {exc}"))
            return
        if isinstance(answers, dict):
            answers = [answers]  # CometBFT answers a batch of one with a single object
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)} if isinstance(answers, list) else {}
        for i, (_encoded, future) in enumerate(batch):
            answer = by_id.get(i)
            if future.done():
                continue
            if answer is None:
                future.set_exception(CometBftUnavailable("CometBFT RPC broadcast_tx_sync: no answer"))
            elif "error" in answer:
                error = answer["error"]
                future.set_exception(CometBftUnavailable(
                    f"CometBFT RPC broadcast_tx_sync: {error.get('message')} {error.get('data', '')}".strip()))
            else:
                future.set_result(answer["result"])

    async def send_raw_transaction(self, raw: bytes) -> bytes:
        tx = decode_transaction(raw, self.chain_id)  # stateless checks; the sender recovered once
        encoded = base64.b64encode(raw).decode()
        deadline = asyncio.get_running_loop().time() + CATCH_UP_WAIT
        while True:
            try:
                result = await self._broadcast(encoded)
                break
            except CometBftUnavailable as exc:
                if "already exists in cache" in str(exc) or "tx already exists" in str(exc):
                    raise TransactionRejected("known", f"already known: 0x{bytes(tx.hash).hex()}") from exc
                # CometBFT closes its mempool while it syncs blocks from its peers (just after a
                # start, or when behind): wait for it, a bounded time, rather than fail the client.
                if "catching up" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)
        code = int(result.get("code", 0))
        if code != 0:
            reason = REASONS.get(code, "rejected") if result.get("codespace") == CODESPACE else "rejected"
            raise TransactionRejected(reason, str(result.get("log") or f"refused with code {code}"))
        sender = Address(tx.sender)
        self._relayed[sender] = max(self._relayed.get(sender, 0), tx.nonce + 1)
        return bytes(tx.hash)

    async def pending_nonce(self, account: Address) -> int | None:
        state_nonce = await self._on_chain(lambda: self._chain.state_at(self._chain.head).get_nonce(account))
        relayed = self._relayed.get(account, 0)
        if relayed <= state_nonce:
            self._relayed.pop(account, None)
        return max(state_nonce, relayed)

    async def status(self) -> NodeStatus:
        head = await self.head()
        return NodeStatus(self.role, self.chain_id, head.block_number, bytes(head.hash), pending=0)

    async def commit(self, number: int) -> dict[str, Any] | None:
        """The CometBFT commit certifying Ethereum block ``number``: the signed header of the
        CometBFT block after the one that made it (its ``app_hash`` is the Ethereum block's hash)
        and the validator set that signed it. None while that header is not committed yet."""
        def locate() -> tuple[int, bytes] | None:
            header = self._chain.header_by_number(number)
            raw = self._chain.store.get(number_key(number))
            if header is None or raw is None:
                return None
            return int.from_bytes(raw, "big"), bytes(header.hash)

        found = await self._on_chain(locate)
        if found is None:
            if number == 0:
                raise ResourceNotFound("block 0 is the genesis: certified by the CometBFT genesis, not a commit")
            raise ResourceNotFound(f"no CometBFT-committed block {number}")
        height, block_hash = found
        try:
            commit = await self.cometbft_rpc("commit", height=str(height + 1))
            validators = await self.cometbft_rpc("validators", height=str(height + 1), per_page="100")
        except CometBftUnavailable as exc:
            if "must be less than or equal to the current blockchain height" in str(exc):
                return None
            raise
        return {"number": number, "blockHash": "0x" + block_hash.hex(), "height": height,
                "signedHeader": commit["signed_header"], "canonical": commit.get("canonical", False),
                "validators": validators["validators"]}


async def open_validator(data_dir: Path, genesis_path: Path, cometbft_home: Path, cometbft_binary: Path,
                         metrics: NodeMetrics, byzantine_txs: Path | None = None,
                         kill_at: str | None = None) -> CometService:
    """Start the ABCI application, then CometBFT (which connects to it at once), then return the
    JSON-RPC service over a reader of the store."""
    from node.cli import open_chain

    cometbft = CometBftProcess(cometbft_binary, cometbft_home)
    app = AppProcess(data_dir, genesis_path, cometbft.proxy_app, byzantine_txs, kill_at)
    try:
        await app.open()
    except NodeError:
        await app.close()
        raise
    cometbft.start()
    chain = open_chain(data_dir, genesis_path, writable=False)
    return CometService(chain, app, cometbft, metrics)
