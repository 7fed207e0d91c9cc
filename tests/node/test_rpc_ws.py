"""JSON-RPC over WebSocket with web3.py v8's ``AsyncWeb3(WebSocketProvider(...))``: subscriptions
(``newHeads``, ``logs``), ``eth_unsubscribe``, ordinary requests, and the same endpoint on the
HTTP port.

The sealer only seals when transactions are ready, so the blocks a test sees are exactly the ones
its own transactions produced. Within one block the server notifies subscriptions in the order they
were made; a test that subscribes to ``logs`` before ``newHeads`` therefore knows that once the
header of block N has arrived, every log of blocks up to N has arrived too. That is how "exactly
these logs, no others" is checked without waiting for silence.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from conftest import DevNet, NodeProcess, artifact
from eth_account import Account
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import AsyncWeb3, Web3, WebSocketProvider
from web3.exceptions import Web3RPCError
from web3.middleware import ExtraDataToPOAMiddleware
from websockets.asyncio.client import connect

RECORDER = artifact("Recorder")
RECORDED_TOPIC = keccak(text="Recorded(bytes32,address,bytes32,uint256)")
TIMEOUT = 30


# --------------------------------------------------------------------------------------- helpers
def ws_client(url: str, **provider_kwargs: Any) -> AsyncWeb3[Any]:
    client = AsyncWeb3(WebSocketProvider(url, **provider_kwargs))
    client.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return client


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


def key_of(label: str) -> bytes:
    return keccak(text=f"key:{label}")


def record_input(key: bytes, digest: bytes, amount: int) -> str:
    return str(Web3().eth.contract(abi=RECORDER["abi"]).encode_abi("record", args=[key, digest, amount]))


def signed_tx(member: dict[str, Any], chain_id: int, nonce: int, *, to: str | None, data: str | bytes,
              gas: int = 300_000) -> Any:
    tx: dict[str, Any] = {"type": 2, "nonce": nonce, "gas": gas, "value": 0, "data": data,
                          "chainId": chain_id, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0}
    if to is not None:
        tx["to"] = to
    return Account.sign_transaction(tx, member["private_key"])


def deploy_recorder(w3: Web3, devnet: DevNet, member: dict[str, Any]) -> str:
    nonce = w3.eth.get_transaction_count(member["address"], "pending")
    signed = signed_tx(member, devnet.chain_id, nonce, to=None, data=RECORDER["bytecode"], gas=2_000_000)
    receipt = w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction),
                                                  timeout=TIMEOUT)
    assert receipt["status"] == 1
    return str(receipt["contractAddress"])


async def record(aw3: AsyncWeb3[Any], devnet: DevNet, member: dict[str, Any], recorder: str, key: bytes,
                 amount: int) -> Any:
    """Send ``record`` over the WebSocket connection itself and wait for its receipt there."""
    nonce = await aw3.eth.get_transaction_count(member["address"], "pending")
    signed = signed_tx(member, devnet.chain_id, nonce, to=recorder,
                       data=record_input(key, keccak(amount.to_bytes(32, "big")), amount))
    tx_hash = await aw3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == HexBytes(signed.hash)
    receipt = await aw3.eth.wait_for_transaction_receipt(tx_hash, timeout=TIMEOUT)
    assert receipt["status"] == 1
    return receipt


async def collect(aw3: AsyncWeb3[Any], until: Callable[[list[Any]], bool]) -> list[Any]:
    """Subscription messages, in arrival order, until ``until(messages)`` holds (with a deadline)."""
    got: list[Any] = []
    async with asyncio.timeout(TIMEOUT):
        async for message in aw3.socket.process_subscriptions():
            got.append(message)
            if until(got):
                return got
    raise AssertionError(f"subscription stream ended early after {got!r}")


async def rpc_error(aw3: AsyncWeb3[Any], method: str, params: list[Any]) -> dict[str, Any]:
    """The error object the server answers ``method`` with over this connection."""
    with pytest.raises(Web3RPCError) as raised:
        await aw3.manager.socket_request(method, params)  # type: ignore[arg-type]
    assert raised.value.rpc_response is not None
    error: dict[str, Any] = raised.value.rpc_response["error"]
    return error


def http_block(node: NodeProcess, number: int) -> dict[str, Any]:
    answer = httpx.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                                        "params": [hex(number), False]}, timeout=30).json()
    block: dict[str, Any] = answer["result"]
    return block


# ---------------------------------------------------------------------------------------- tests
@pytest.mark.parametrize("text_frames", [False, True], ids=["binary-frames", "text-frames"])
def test_ordinary_requests_over_ws(node: NodeProcess, devnet: DevNet, w3: Web3, text_frames: bool) -> None:
    """web3.py sends binary frames by default; the server must answer them like text frames."""
    recorder = deploy_recorder(w3, devnet, devnet.member(0))

    async def scenario() -> None:
        async with ws_client(node.ws_url, use_text_frames=text_frames) as aw3:
            assert await aw3.eth.chain_id == devnet.chain_id
            assert await aw3.net.version == str(devnet.chain_id)
            assert (await aw3.client_version).startswith("CityLedger/")
            # Deploy over the WebSocket connection too.
            deployer = devnet.member(2)
            nonce = await aw3.eth.get_transaction_count(deployer["address"], "pending")
            signed = signed_tx(deployer, devnet.chain_id, nonce, to=None, data=RECORDER["bytecode"], gas=2_000_000)
            deployed = await aw3.eth.wait_for_transaction_receipt(
                await aw3.eth.send_raw_transaction(signed.raw_transaction), timeout=TIMEOUT)
            assert deployed["status"] == 1
            assert await aw3.eth.get_code(deployed["contractAddress"]) == HexBytes(RECORDER["deployedBytecode"])
            receipt = await record(aw3, devnet, devnet.member(1), recorder, key_of("ws"), 42)
            assert await aw3.eth.block_number == receipt["blockNumber"]
            block = await aw3.eth.get_block(receipt["blockNumber"])
            assert block["hash"] == receipt["blockHash"]
            assert block["transactions"] == [receipt["transactionHash"]]
            contract = aw3.eth.contract(address=recorder, abi=RECORDER["abi"])
            stored = await contract.functions.get(key_of("ws")).call()
            assert stored[0] == devnet.member(1)["address"] and stored[3] == 42
            logs = await aw3.eth.get_logs({"address": recorder, "fromBlock": 0, "toBlock": "latest"})
            assert logs == receipt["logs"]
            # An error answer over WS is an error object, and the connection stays usable.
            error = await rpc_error(aw3, "eth_getBalance", ["0x1234", "latest"])
            assert error["code"] == -32602
            assert error["message"].startswith("invalid params: address:")
            assert await aw3.eth.get_transaction_count(devnet.member(1)["address"]) == 1

    run(scenario())
    assert w3.eth.get_block(w3.eth.block_number)["hash"] == w3.eth.get_block("latest")["hash"]


def test_new_heads_follow_the_blocks_our_transactions_make(node: NodeProcess, devnet: DevNet, w3: Web3) -> None:
    recorder = deploy_recorder(w3, devnet, devnet.member(0))

    async def scenario() -> tuple[list[Any], list[Any], str]:
        async with ws_client(node.ws_url) as aw3:
            sub_id = await aw3.eth.subscribe("newHeads")
            receipts = [await record(aw3, devnet, devnet.member(i), recorder, key_of(f"h{i}"), i)
                        for i in range(3)]
            messages = await collect(aw3, lambda got: len(got) >= len(receipts))
            return receipts, messages, sub_id

    receipts, messages, sub_id = run(scenario())
    assert all(m["subscription"] == sub_id for m in messages)
    headers = [m["result"] for m in messages]
    numbers = [h["number"] for h in headers]
    assert numbers == [r["blockNumber"] for r in receipts]
    assert numbers == sorted(set(numbers))
    for header in headers:
        over_http = http_block(node, header["number"])
        assert HexBytes(over_http["hash"]) == header["hash"]
        assert HexBytes(over_http["parentHash"]) == header["parentHash"]
        assert HexBytes(over_http["stateRoot"]) == header["stateRoot"]
        assert int(over_http["gasUsed"], 16) == header["gasUsed"]
        assert "transactions" not in header  # a header, not a block


def test_logs_subscription_delivers_exactly_the_matching_logs(node: NodeProcess, devnet: DevNet,
                                                              w3: Web3) -> None:
    recorder = deploy_recorder(w3, devnet, devnet.member(0))
    other = deploy_recorder(w3, devnet, devnet.member(0))
    wanted, unwanted = key_of("wanted"), key_of("unwanted")
    alice, bob = devnet.member(1), devnet.member(2)

    async def scenario() -> tuple[list[Any], list[Any], str, str]:
        async with ws_client(node.ws_url) as aw3:
            logs_id = await aw3.eth.subscribe(
                "logs", {"address": recorder, "topics": ["0x" + RECORDED_TOPIC.hex(), "0x" + wanted.hex()]})
            heads_id = await aw3.eth.subscribe("newHeads")
            receipts = [
                await record(aw3, devnet, alice, recorder, wanted, 1),   # matches
                await record(aw3, devnet, alice, recorder, unwanted, 2),  # other key
                await record(aw3, devnet, bob, other, wanted, 3),        # other contract
                await record(aw3, devnet, bob, recorder, wanted, 4),     # matches
                await record(aw3, devnet, alice, other, unwanted, 5),    # neither
            ]
            last = receipts[-1]["blockNumber"]
            messages = await collect(aw3, lambda got: any(
                m["subscription"] == heads_id and m["result"]["number"] == last for m in got))
            return receipts, messages, logs_id, heads_id

    receipts, messages, logs_id, heads_id = run(scenario())
    logs = [m["result"] for m in messages if m["subscription"] == logs_id]
    heads = [m["result"] for m in messages if m["subscription"] == heads_id]
    assert len(logs) + len(heads) == len(messages)
    assert [h["number"] for h in heads] == [r["blockNumber"] for r in receipts]
    expected = [receipts[0]["logs"][0], receipts[3]["logs"][0]]
    assert [log["transactionHash"] for log in logs] == [e["transactionHash"] for e in expected]
    for log, want in zip(logs, expected, strict=True):
        assert log["address"] == recorder
        assert log["topics"] == want["topics"]
        assert log["data"] == want["data"]
        assert log["blockHash"] == want["blockHash"]
        assert log["blockNumber"] == want["blockNumber"]
        assert log["logIndex"] == want["logIndex"]
        assert log["removed"] is False


def test_unsubscribe_with_web3(node: NodeProcess, devnet: DevNet, w3: Web3) -> None:
    recorder = deploy_recorder(w3, devnet, devnet.member(0))

    async def scenario() -> tuple[list[Any], str]:
        async with ws_client(node.ws_url) as aw3:
            dropped = await aw3.eth.subscribe("newHeads")
            kept = await aw3.eth.subscribe("logs", {"address": recorder})
            assert await aw3.eth.unsubscribe(dropped) is True
            assert set(aw3.socket.subscriptions) == {kept}
            receipt = await record(aw3, devnet, devnet.member(1), recorder, key_of("u"), 1)
            messages = await collect(aw3, lambda got: len(got) >= 1)
            assert messages[0]["result"]["transactionHash"] == receipt["transactionHash"]
            return messages, kept

    messages, kept = run(scenario())
    assert [m["subscription"] for m in messages] == [kept]


def test_unsubscribe_stops_notifications_on_the_wire(node: NodeProcess, devnet: DevNet, w3: Web3) -> None:
    """web3.py drops notifications for subscriptions it has forgotten, so what the server sends
    after ``eth_unsubscribe`` is checked on a plain WebSocket."""
    member = devnet.member(3)
    signed = signed_tx(member, devnet.chain_id, 0, to=member["address"], data=b"", gas=21_000)

    async def scenario() -> tuple[str, str, list[dict[str, Any]]]:
        async with connect(node.ws_url) as socket:
            async def call(request_id: int, method: str, params: list[Any]) -> Any:
                await socket.send(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method,
                                              "params": params}))
                while True:  # notifications may interleave; answers carry our id
                    message = json.loads(await socket.recv())
                    if message.get("id") == request_id:
                        return message
                    seen.append(message)

            seen: list[dict[str, Any]] = []
            first = (await call(1, "eth_subscribe", ["newHeads"]))["result"]
            second = (await call(2, "eth_subscribe", ["newHeads"]))["result"]
            assert first != second
            assert (await call(3, "eth_unsubscribe", [first]))["result"] is True
            assert (await call(4, "eth_unsubscribe", [first]))["result"] is False
            sent = await call(5, "eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])
            assert sent["result"] == "0x" + bytes(signed.hash).hex()
            async with asyncio.timeout(TIMEOUT):
                while not any(m["params"]["subscription"] == second for m in seen):
                    seen.append(json.loads(await socket.recv()))
            return first, second, seen

    first, second, seen = run(scenario())
    assert all(m["method"] == "eth_subscription" for m in seen)
    # Had the first subscription survived, its header would have come first (subscription order).
    assert [m["params"]["subscription"] for m in seen] == [second]
    receipt = w3.eth.get_transaction_receipt(signed.hash)
    assert seen[0]["params"]["result"]["hash"] == receipt["blockHash"].to_0x_hex()


def test_invalid_subscriptions_are_invalid_params(node: NodeProcess, devnet: DevNet) -> None:
    async def scenario() -> None:
        async with ws_client(node.ws_url) as aw3:
            assert await rpc_error(aw3, "eth_subscribe", ["bogus"]) == {
                "code": -32602,
                "message": "invalid params: eth_subscribe: unsupported subscription type 'bogus' (newHeads, logs)"}
            error = await rpc_error(aw3, "eth_subscribe", ["logs", {"blockHash": "0x" + "00" * 32}])
            assert error["code"] == -32602
            assert "blockHash is not allowed" in error["message"]
            assert await rpc_error(aw3, "eth_subscribe", []) == {
                "code": -32602, "message": "invalid params: eth_subscribe: subscription type required"}
            # A standard type this node does not offer surfaces in web3.py as an RPC error.
            with pytest.raises(Web3RPCError) as raised:
                await aw3.eth.subscribe("newPendingTransactions")
            assert raised.value.rpc_response is not None
            assert raised.value.rpc_response["error"]["code"] == -32602
            assert aw3.socket.subscriptions == {}
            # eth_subscribe is a WebSocket method only; over WS everything else keeps working.
            assert await aw3.eth.chain_id == devnet.chain_id

    run(scenario())
    answer = httpx.post(node.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",
                                        "params": ["newHeads"]}, timeout=30).json()
    assert answer["error"]["code"] == -32601


def test_websocket_on_the_http_port(node: NodeProcess, devnet: DevNet, w3: Web3) -> None:
    recorder = deploy_recorder(w3, devnet, devnet.member(0))
    url = f"ws://127.0.0.1:{node.port}"
    assert node.ws_port is not None and node.ws_port != node.port

    async def scenario() -> tuple[Any, list[Any], str]:
        async with ws_client(url) as aw3:
            assert await aw3.eth.chain_id == devnet.chain_id
            sub_id = await aw3.eth.subscribe("newHeads")
            receipt = await record(aw3, devnet, devnet.member(4), recorder, key_of("port"), 7)
            messages = await collect(aw3, lambda got: len(got) >= 1)
            return receipt, messages, sub_id

    receipt, messages, sub_id = run(scenario())
    assert messages[0]["subscription"] == sub_id
    assert messages[0]["result"]["hash"] == receipt["blockHash"]
    assert messages[0]["result"]["number"] == receipt["blockNumber"]
