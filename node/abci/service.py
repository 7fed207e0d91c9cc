"""The JSON-RPC side of a CometBFT validator (``node run --consensus cometbft``).

Three processes make one validator: this one (JSON-RPC, a reader of the store), the ABCI
application (``node.abci.main``, the store's only writer) and CometBFT itself
(``cometbft start``). Both children get ``SIGKILL`` when this process dies, even by ``kill -9``
(``PR_SET_PDEATHSIG``), so a killed validator is killed whole and restarts whole.

``eth_sendRawTransaction`` checks the transaction statelessly here (decoding, chain id, signature)
and hands it to the local CometBFT's mempool (``broadcast_tx_sync``), whose ``CheckTx`` runs the
application's admission rules; a refusal comes back as the same ``TransactionRejected`` the PoA
node raises.

A transaction whose nonce is ahead of its sender's next one (a nonce gap) is admitted the same way
(CometBFT's ``check_tx``, which runs ``CheckTx`` without adding to the mempool) but held here, as
go-ethereum holds "queued" transactions, and relayed once the nonces before it are relayed or on
chain. In CometBFT's mempool it could not be proposed, yet it would keep the mempool non-empty, and
CometBFT proposes a block at every height while transactions wait: empty blocks as fast as
``timeout_commit`` allows, for as long as the gap lasts. Held transactions live in this process's
memory only, like a mempool's.
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
from eth.abc import SignedTransactionAPI
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
#: Most transactions held for a nonce gap (all senders); more are refused as ``pool_full``.
MAX_HELD = 4096


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
        #: Transactions waiting for a nonce gap to close: sender → nonce → (hash, base64 bytes).
        self._held: dict[Address, dict[int, tuple[bytes, str]]] = {}
        #: Relay rounds run one at a time (``_relay_round``), over what was submitted meanwhile.
        self._relaying = asyncio.Lock()
        self._submissions: list[tuple[SignedTransactionAPI, str, asyncio.Future[Any]]] = []
        app.link.on_sealed = self._on_sealed

    async def stop(self) -> None:
        await self.cometbft.stop()
        await self.app.close()
        await self._http.aclose()
        await super().stop()

    async def _on_sealed(self, info: SealedInfo) -> None:
        self.metrics.sealed_transactions.inc(info.transactions)
        await self._publish_number(info.number)
        if self._held:  # a block may have closed a gap (its filler relayed by another validator)
            self._spawn(self._relay_round())

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

    # ------------------------------------------------------------------ relaying transactions
    async def send_raw_transaction(self, raw: bytes) -> bytes:
        tx = decode_transaction(raw, self.chain_id)  # stateless checks; the sender recovered once
        encoded = base64.b64encode(raw).decode()
        tx_hash = bytes(tx.hash)
        deadline = asyncio.get_running_loop().time() + CATCH_UP_WAIT
        while True:
            try:
                result = await self._submit(tx, encoded)
                break
            except CometBftUnavailable as exc:
                if "already exists in cache" in str(exc) or "tx already exists" in str(exc):
                    raise TransactionRejected("known", f"already known: 0x{tx_hash.hex()}") from exc
                # CometBFT closes its mempool while it syncs blocks from its peers (just after a
                # start, or when behind): wait for it, a bounded time, rather than fail the client.
                if "catching up" not in str(exc) or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)
        refused = _refusal(result)
        if refused is not None:
            raise refused
        return tx_hash

    def _submit(self, tx: SignedTransactionAPI, encoded: str) -> asyncio.Future[Any]:
        """Queue ``tx`` for the next relay round; those queued in the same event-loop turn (a
        JSON-RPC batch from a client) are decided together and reach CometBFT as JSON-RPC batches.
        The future holds CometBFT's ``CheckTx`` result, or an exception."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self._submissions:
            loop.call_soon(self._spawn, self._relay_round())
        self._submissions.append((tx, encoded, future))
        return future

    def _spawn(self, coro: Any) -> None:
        self._tasks[:] = [t for t in self._tasks if not t.done()]
        self._tasks.append(asyncio.ensure_future(coro))

    async def _relay_round(self) -> None:
        """One round, rounds one after another: read the senders' state nonces once; relay each
        sender's transactions that continue its nonces (``broadcast_tx_sync``); admit those after
        a gap with ``check_tx`` and hold them here (module docstring); then relay held ones whose
        gap has closed."""
        async with self._relaying:
            queued, self._submissions = self._submissions, []
            try:
                await self._decide_and_relay(queued)
            except Exception as exc:  # no caller is left waiting on a round that failed
                log.exception("relay round failed")
                for _tx, _encoded, future in queued:
                    _settle(future, CometBftUnavailable(f"relaying failed: {exc}"))

    async def _decide_and_relay(self, queued: list[tuple[SignedTransactionAPI, str, asyncio.Future[Any]]]) -> None:
        senders = {Address(tx.sender) for tx, _encoded, _future in queued} | set(self._held)
        head_nonces = await self._on_chain(self._state_nonces, senders)
        relay: list[tuple[SignedTransactionAPI, str, asyncio.Future[Any]]] = []
        check: list[tuple[SignedTransactionAPI, str, asyncio.Future[Any]]] = []
        expected = {s: max(head_nonces[s], self._relayed.get(s, 0)) for s in senders}
        for tx, encoded, future in sorted(queued, key=lambda q: (bytes(q[0].sender), q[0].nonce)):
            sender = Address(tx.sender)
            if tx.nonce > expected[sender]:
                check.append((tx, encoded, future))
                continue
            relay.append((tx, encoded, future))
            if tx.nonce == expected[sender]:
                expected[sender] += 1
        relayed, checked = await asyncio.gather(self._cometbft_batch("broadcast_tx_sync", [e for _t, e, _f in relay]),
                                                self._cometbft_batch("check_tx", [e for _t, e, _f in check]))
        for (tx, _encoded, future), answer in zip(relay, relayed):
            if not isinstance(answer, BaseException) and int(answer.get("code", 0)) == 0:
                sender = Address(tx.sender)
                self._relayed[sender] = max(self._relayed.get(sender, 0), tx.nonce + 1)
            _settle(future, answer)
        for (tx, encoded, future), answer in zip(check, checked):
            if not isinstance(answer, BaseException) and int(answer.get("code", 0)) == 0:
                try:
                    self._hold(Address(tx.sender), tx.nonce, bytes(tx.hash), encoded)
                except TransactionRejected as exc:
                    answer = exc
            _settle(future, answer)
        await self._release(head_nonces)

    def _state_nonces(self, senders: set[Address]) -> dict[Address, int]:
        state = self._chain.state_at(self._chain.head)
        return {sender: state.get_nonce(sender) for sender in senders}

    async def _cometbft_batch(self, method: str, encoded: list[str]) -> list[Any]:
        """``method(tx=…)`` for each transaction, as JSON-RPC batches of ``BROADCAST_BATCH`` to the
        local CometBFT; each answer is its result or a ``CometBftUnavailable``."""
        chunks = [encoded[i:i + BROADCAST_BATCH] for i in range(0, len(encoded), BROADCAST_BATCH)]
        answers = await asyncio.gather(*(self._cometbft_chunk(method, chunk) for chunk in chunks))
        return [answer for chunk in answers for answer in chunk]

    async def _cometbft_chunk(self, method: str, chunk: list[str]) -> list[Any]:
        payload = [{"jsonrpc": "2.0", "id": i, "method": method, "params": {"tx": tx}} for i, tx in enumerate(chunk)]
        try:
            answers = (await self._http.post("/", json=payload)).json()
        except (httpx.HTTPError, ValueError) as exc:
            return [CometBftUnavailable(f"CometBFT RPC {method} failed: {exc}")] * len(chunk)
        if isinstance(answers, dict):
            answers = [answers]  # CometBFT answers a batch of one with a single object
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)} if isinstance(answers, list) else {}
        out: list[Any] = []
        for i in range(len(chunk)):
            answer = by_id.get(i)
            if answer is None:
                out.append(CometBftUnavailable(f"CometBFT RPC {method}: no answer"))
            elif "error" in answer:
                error = answer["error"]
                out.append(CometBftUnavailable(
                    f"CometBFT RPC {method}: {error.get('message')} {error.get('data', '')}".strip()))
            else:
                out.append(answer["result"])
        return out

    def _hold(self, sender: Address, nonce: int, tx_hash: bytes, encoded: str) -> None:
        """Keep an admitted transaction with a nonce gap until the gap closes (module docstring)."""
        held = self._held.setdefault(sender, {})
        if nonce in held:
            if held[nonce][0] == tx_hash:
                raise TransactionRejected("known", f"already known: 0x{tx_hash.hex()}")
            raise TransactionRejected("replacement", f"replacement transaction underpriced: nonce {nonce} is "
                                                     "already waiting for its gap to close")
        if sum(len(h) for h in self._held.values()) >= MAX_HELD:
            raise TransactionRejected("pool_full", f"txpool is full: {MAX_HELD} transactions wait for nonce gaps")
        held[nonce] = (tx_hash, encoded)
        log.info("holding 0x%s (sender 0x%s nonce %d) until the nonces before it are relayed", tx_hash.hex(),
                 bytes(sender).hex(), nonce)

    async def _release(self, head_nonces: dict[Address, int]) -> None:
        """Relay held transactions whose gap has closed, each sender's in nonce order. One that
        ``CheckTx`` now refuses is dropped (with those after it, which can never run, unless it
        was only behind the chain); one CometBFT cannot take now waits for the next round."""
        while True:
            ready: list[tuple[Address, int, bytes, str]] = []
            for sender, held in list(self._held.items()):
                expected = max(head_nonces.get(sender, 0), self._relayed.get(sender, 0))
                for stale in [n for n in held if n < expected]:  # on chain, or replaced there
                    held.pop(stale)
                if expected in held:
                    ready.append((sender, expected, *held[expected]))
                if not held:
                    self._held.pop(sender)
            if not ready:
                return
            answers = await self._cometbft_batch("broadcast_tx_sync", [encoded for *_rest, encoded in ready])
            for (sender, nonce, tx_hash, _encoded), answer in zip(ready, answers):
                if isinstance(answer, BaseException):
                    if "already exists" not in str(answer):
                        log.warning("relaying held 0x%s later: %s", tx_hash.hex(), answer)
                        return
                else:
                    refused = _refusal(answer)
                    if refused is not None:
                        held = self._held.get(sender, {})
                        held.pop(nonce, None)
                        if refused.reason != "nonce_too_low":
                            log.warning("dropping held 0x%s and %d after it: %s", tx_hash.hex(), len(held), refused)
                            held.clear()
                        continue
                self._held.get(sender, {}).pop(nonce, None)
                self._relayed[sender] = max(self._relayed.get(sender, 0), nonce + 1)

    async def pending_nonce(self, account: Address) -> int | None:
        """The sender's next nonce: its state nonce, or past what this node relayed (transactions
        held for a nonce gap do not count, as go-ethereum's queued ones do not)."""
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


def _settle(future: asyncio.Future[Any], answer: Any) -> None:
    if future.done():
        return
    if isinstance(answer, BaseException):
        future.set_exception(answer)
    else:
        future.set_result(answer)


def _refusal(result: dict[str, Any]) -> TransactionRejected | None:
    """The ``TransactionRejected`` a ``CheckTx`` result stands for (None: admitted)."""
    code = int(result.get("code", 0))
    if code == 0:
        return None
    reason = REASONS.get(code, "rejected") if result.get("codespace") == CODESPACE else "rejected"
    return TransactionRejected(reason, str(result.get("log") or f"refused with code {code}"))


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
