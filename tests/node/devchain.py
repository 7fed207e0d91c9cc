"""An in-process development chain behind the real JSON-RPC app, for tests.

The chain is real and on disk (LMDB in a temporary directory); the sealing loop runs in a thread
of the test process with the same socket protocol it speaks as a separate process in production
(``SealerThread``); requests go through ``httpx.ASGITransport`` into ``create_rpc_app(...)``,
with its lifespan entered, so filters and subscriptions see blocks. The app's event loop runs in
a background thread; tests call it synchronously.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from eth_account import Account
from eth_keys import keys

from conftest import DevNet
from node.chain import LedgerChain
from node.genesis import load_genesis
from node.kv import LmdbKV
from node.rpc.server import create_rpc_app
from node.service import SealerService, SealerThread

T = TypeVar("T")


@dataclass
class DevChain:
    """A running in-process node: ``rpc`` / ``post`` talk to its JSON-RPC app."""

    devnet: DevNet
    service: SealerService
    app: Any
    loop: asyncio.AbstractEventLoop
    client: httpx.AsyncClient

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def post(self, payload: Any = None, *, content: bytes | None = None) -> httpx.Response:
        if content is not None:
            return self.run(self.client.post("/", content=content, headers={"content-type": "application/json"}))
        return self.run(self.client.post("/", json=payload))

    def call(self, method: str, params: list[Any] | None = None) -> dict[str, Any]:
        """One request; the whole answer (result or error)."""
        answer: dict[str, Any] = self.post({"jsonrpc": "2.0", "id": 1, "method": method,
                                            "params": params or []}).json()
        return answer

    def rpc(self, method: str, params: list[Any] | None = None) -> Any:
        answer = self.call(method, params)
        assert "error" not in answer, answer
        return answer["result"]

    def send(self, member: dict[str, Any], **tx: Any) -> str:
        """Sign ``tx`` (legacy, zero gas price, the member's next pending nonce) and send it."""
        body = {"gas": 300_000, "gasPrice": 0, "value": 0, "chainId": self.devnet.chain_id, "data": b"", **tx}
        if "nonce" not in body:
            body["nonce"] = int(self.rpc("eth_getTransactionCount", [member["address"], "pending"]), 16)
        raw = Account.sign_transaction(body, member["private_key"]).raw_transaction
        return str(self.rpc("eth_sendRawTransaction", ["0x" + bytes(raw).hex()]))

    def receipt(self, tx_hash: str, timeout: float = 30) -> dict[str, Any]:
        return wait_for(lambda: self.rpc("eth_getTransactionReceipt", [tx_hash]), timeout, f"receipt {tx_hash}")


def wait_for(condition: Callable[[], T], timeout: float = 30, what: str = "condition") -> T:
    """Poll ``condition`` until it is truthy or the deadline passes (a condition with a deadline,
    not a sleep used as synchronisation)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def start_devchain(devnet: DevNet, block_time: float = 0.1) -> tuple[DevChain, Callable[[], None]]:
    """Start the node; returns it and a function that stops it."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="devchain-loop", daemon=True)
    thread.start()
    genesis = load_genesis(devnet.genesis_path)
    store = LmdbKV(devnet.data_dir / "chaindata")
    writer = LedgerChain(store, genesis)
    reader = LedgerChain(store, genesis, writable=False)
    key = keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:]))
    service = SealerService(reader, SealerThread(writer, key, block_time),
                            key.public_key.to_canonical_address())
    app = create_rpc_app(service, "CityLedger/test")
    lifespan = app.router.lifespan_context(app)

    async def start() -> httpx.AsyncClient:
        await lifespan.__aenter__()
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://node", timeout=60)

    client = asyncio.run_coroutine_threadsafe(start(), loop).result(60)
    chain = DevChain(devnet, service, app, loop, client)

    def stop() -> None:
        async def shutdown() -> None:
            await client.aclose()
            await lifespan.__aexit__(None, None, None)

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        writer.close()

    return chain, stop
