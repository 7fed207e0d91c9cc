"""Every JSON-RPC method's happy path and every error code, in process.

One development chain serves the module (``devchain.py``: a real chain on disk, the sealing loop
in a thread, requests through ``httpx.ASGITransport`` into ``create_rpc_app``). The module deploys
a ``Recorder`` and writes two records; each test then reads what it needs. Tests that write more
use members of their own, so they do not disturb each other's nonces.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from conftest import DevNet, artifact, make_devnet
from devchain import DevChain, start_devchain, wait_for
from node.rpc.server import MAX_BATCH, MAX_BODY_BYTES

RECORDER = artifact("Recorder")
RECORD = keccak(text="record(bytes32,bytes32,uint256)")[:4]
RECORDED = "0x" + keccak(text="Recorded(bytes32,address,bytes32,uint256)").hex()


@dataclass
class World:
    node: DevChain
    devnet: DevNet
    recorder: str
    deploy: dict[str, Any]
    records: list[dict[str, Any]]


def record_data(key: int, amount: int) -> str:
    return "0x" + (RECORD + key.to_bytes(32, "big") + keccak(bytes([key])) + amount.to_bytes(32, "big")).hex()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    devnet = make_devnet(tmp_path_factory.mktemp("rpc-methods") / "node")
    node, stop = start_devchain(devnet)
    try:
        member = devnet.member(0)
        deploy = node.receipt(node.send(member, data=RECORDER["bytecode"], gas=2_000_000))
        recorder = deploy["contractAddress"]
        records = [node.receipt(node.send(member, to=recorder, data=record_data(k, 10 + k))) for k in (1, 2)]
        yield World(node, devnet, recorder, deploy, records)
    finally:
        stop()


def test_chain_identity_and_fees(world: World) -> None:
    node = world.node
    assert node.rpc("eth_chainId") == hex(world.devnet.chain_id)
    assert node.rpc("net_version") == str(world.devnet.chain_id)
    assert node.rpc("net_listening") is True
    assert node.rpc("net_peerCount") == "0x0"
    assert node.rpc("web3_clientVersion") == "CityLedger/test"
    assert node.rpc("web3_sha3", ["0x68656c6c6f"]) == "0x" + keccak(b"hello").hex()
    for method in ("eth_gasPrice", "eth_maxPriorityFeePerGas", "eth_blobBaseFee"):
        assert node.rpc(method) == "0x0"
    assert node.rpc("eth_accounts") == []
    assert node.rpc("eth_syncing") is False
    head = int(node.rpc("eth_blockNumber"), 16)
    assert head >= 3
    history = node.rpc("eth_feeHistory", ["0x2", "latest", [50]])
    assert int(history["oldestBlock"], 16) == head - 1 and history["reward"] == [["0x0"], ["0x0"]]


def test_blocks_by_number_and_hash(world: World) -> None:
    node, receipt = world.node, world.records[0]
    number, block_hash = receipt["blockNumber"], receipt["blockHash"]
    by_number = node.rpc("eth_getBlockByNumber", [number, False])
    assert by_number["hash"] == block_hash and by_number["transactions"] == [receipt["transactionHash"]]
    full = node.rpc("eth_getBlockByHash", [block_hash, True])
    assert full["transactions"][0]["hash"] == receipt["transactionHash"]
    assert full["transactions"][0]["from"] == world.devnet.member(0)["address"]
    assert int(full["size"], 16) == len(bytes.fromhex(node.rpc("debug_getRawBlock", [number])[2:]))
    assert node.rpc("eth_getBlockTransactionCountByNumber", [number]) == "0x1"
    assert node.rpc("eth_getBlockTransactionCountByHash", [block_hash]) == "0x1"
    assert node.rpc("eth_getBlockByNumber", ["0xffff", False]) is None
    assert node.rpc("eth_getBlockByHash", ["0x" + "00" * 32, False]) is None
    assert node.rpc("eth_getBlockByNumber", ["earliest", False])["number"] == "0x0"


def test_transactions_and_receipts(world: World) -> None:
    node, receipt = world.node, world.records[1]
    tx_hash = receipt["transactionHash"]
    tx = node.rpc("eth_getTransactionByHash", [tx_hash])
    assert tx["blockHash"] == receipt["blockHash"] and tx["to"].lower() == world.recorder.lower()
    assert node.rpc("eth_getTransactionByBlockNumberAndIndex", [receipt["blockNumber"], "0x0"]) == tx
    assert node.rpc("eth_getTransactionByBlockHashAndIndex", [receipt["blockHash"], "0x0"]) == tx
    assert node.rpc("eth_getTransactionByBlockNumberAndIndex", [receipt["blockNumber"], "0x5"]) is None
    assert node.rpc("eth_getTransactionReceipt", [tx_hash]) == receipt
    assert receipt["status"] == "0x1" and receipt["logs"][0]["topics"][0] == RECORDED
    assert world.deploy["contractAddress"] is not None and world.deploy["to"] is None
    assert node.rpc("eth_getTransactionReceipt", ["0x" + "ab" * 32]) is None
    assert node.rpc("eth_getTransactionByHash", ["0x" + "ab" * 32]) is None


def test_state_reads(world: World) -> None:
    node, member = world.node, world.devnet.member(0)
    assert node.rpc("eth_getBalance", [member["address"], "latest"]) == "0x0"
    assert node.rpc("eth_getCode", [world.recorder, "latest"]) == RECORDER["deployedBytecode"]
    assert int(node.rpc("eth_getTransactionCount", [member["address"], "latest"]), 16) == 3
    assert int(node.rpc("eth_getTransactionCount", [member["address"], "0x0"]), 16) == 0
    # Record 1 lives at keccak(key . slot 0) + 2 (author/at, digest, amount).
    base = int.from_bytes(keccak((1).to_bytes(32, "big") + (0).to_bytes(32, "big")), "big")
    assert int(node.rpc("eth_getStorageAt", [world.recorder, hex(base + 2), "latest"]), 16) == 11
    proof = node.rpc("eth_getProof", [world.recorder, [hex(base + 2)], "latest"])
    assert proof["storageProof"][0]["value"] == "0xb" and proof["accountProof"]
    assert node.rpc("cityledger_sealers", ["latest"]) == [world.devnet.keys["sealer"]["address"]]
    status = node.rpc("cityledger_status")
    assert status["role"] == "sealer" and status["head"] >= 3


def test_call_and_estimate(world: World) -> None:
    node = world.node
    get = "0x" + (keccak(text="get(bytes32)")[:4] + (2).to_bytes(32, "big")).hex()
    output = node.rpc("eth_call", [{"to": world.recorder, "data": get}, "latest"])
    assert int(output[-64:], 16) == 12
    estimate = node.rpc("eth_estimateGas", [{"from": world.devnet.member(0)["address"], "to": world.recorder,
                                             "data": record_data(7, 1)}])
    assert int(estimate, 16) > 21_000


def test_logs_and_filters(world: World) -> None:
    node = world.node
    first, second = world.records
    logs = node.rpc("eth_getLogs", [{"fromBlock": first["blockNumber"], "toBlock": second["blockNumber"],
                                     "address": world.recorder, "topics": [RECORDED]}])
    assert logs == first["logs"] + second["logs"]
    assert node.rpc("eth_getLogs", [{"blockHash": second["blockHash"]}]) == second["logs"]
    assert node.rpc("eth_getLogs", [{"fromBlock": "0x0", "toBlock": "latest",
                                     "topics": [None, "0x" + "00" * 32]}]) == []
    log_filter = node.rpc("eth_newFilter", [{"address": world.recorder}])
    block_filter = node.rpc("eth_newBlockFilter")
    assert node.rpc("eth_getFilterChanges", [log_filter]) == []
    member = world.devnet.member(1)
    receipt = node.receipt(node.send(member, to=world.recorder, data=record_data(9, 9)))
    changes = wait_for(lambda: node.rpc("eth_getFilterChanges", [log_filter]), what="filter changes")
    assert changes == receipt["logs"]
    assert receipt["blockHash"] in node.rpc("eth_getFilterChanges", [block_filter])
    every = node.rpc("eth_getFilterLogs", [log_filter])
    assert every[-1] == receipt["logs"][0]
    assert node.rpc("eth_uninstallFilter", [log_filter]) is True
    assert node.rpc("eth_uninstallFilter", [log_filter]) is False


def test_raw_forms(world: World) -> None:
    node, receipt = world.node, world.records[0]
    number = receipt["blockNumber"]
    raw_header = bytes.fromhex(node.rpc("debug_getRawHeader", [number])[2:])
    assert "0x" + keccak(raw_header).hex() == receipt["blockHash"]
    raw_block = rlp.decode(bytes.fromhex(node.rpc("debug_getRawBlock", [number])[2:]))
    assert rlp.encode(raw_block[0]) == raw_header
    (raw_receipt,) = node.rpc("debug_getRawReceipts", [number])
    status, cumulative, _bloom, logs = rlp.decode(bytes.fromhex(raw_receipt[2:]))
    assert status == b"\x01" and len(logs) == 1
    raw_tx = node.rpc("debug_getRawTransaction", [receipt["transactionHash"]])
    assert "0x" + keccak(bytes.fromhex(raw_tx[2:])).hex() == receipt["transactionHash"]


def test_pending_transaction_then_mined(world: World) -> None:
    node, member = world.node, world.devnet.member(2)
    nonce = int(node.rpc("eth_getTransactionCount", [member["address"], "pending"]), 16)
    held = node.send(member, to=world.recorder, data=record_data(20, 1), nonce=nonce + 1)  # waits on a gap
    pending = node.rpc("eth_getTransactionByHash", [held])
    assert pending["blockHash"] is None and pending["from"] == member["address"]
    assert node.rpc("debug_getRawTransaction", [held]) is not None
    node.send(member, to=world.recorder, data=record_data(21, 1), nonce=nonce)
    assert node.receipt(held)["status"] == "0x1"
    assert int(node.rpc("eth_getTransactionCount", [member["address"], "pending"]), 16) == nonce + 2


# ------------------------------------------------------------------------------- error codes
def test_parse_error_32700(world: World) -> None:
    answer = world.node.post(content=b'{"jsonrpc": "2.0", "method": ').json()
    assert answer["error"]["code"] == -32700 and answer["id"] is None


def test_invalid_request_32600(world: World) -> None:
    assert world.node.post({"id": 1, "method": "eth_chainId"}).json()["error"]["code"] == -32600
    assert world.node.post([]).json()["error"]["code"] == -32600


def test_method_not_found_32601(world: World) -> None:
    assert world.node.call("eth_noSuchMethod")["error"]["code"] == -32601
    assert world.node.call("__init__")["error"]["code"] == -32601


def test_invalid_params_32602(world: World) -> None:
    error = world.node.call("eth_getBalance", ["0x1234", "latest"])["error"]
    assert error["code"] == -32602 and error["message"].startswith("invalid params: address")
    assert world.node.call("eth_getTransactionByBlockNumberAndIndex", ["latest", "7"])["error"]["code"] == -32602


def test_resource_not_found_32001(world: World) -> None:
    assert world.node.call("eth_getFilterChanges", ["0x1234"])["error"] == {
        "code": -32001, "message": "filter not found: 0x1234"}
    assert world.node.call("eth_getBalance", [world.recorder, "0xffffff"])["error"]["code"] == -32001


def test_transaction_rejected_32003(world: World) -> None:
    stranger = Account.create()
    raw = Account.sign_transaction({"to": world.recorder, "gas": 100_000, "gasPrice": 0, "value": 0, "nonce": 0,
                                    "chainId": world.devnet.chain_id}, stranger.key).raw_transaction
    error = world.node.call("eth_sendRawTransaction", ["0x" + bytes(raw).hex()])["error"]
    assert error["code"] == -32003 and error["data"] == {"reason": "not_member"}


def test_limit_exceeded_32005(world: World) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(MAX_BATCH + 1)]
    assert world.node.post(batch).json()["error"]["code"] == -32005
    error = world.node.call("eth_getLogs", [{"fromBlock": "0x0", "toBlock": hex(20_000)}])["error"]
    assert error["code"] in (-32005, -32001)  # beyond the head is "not found" first
    error = world.node.call("eth_getProof", [world.recorder, ["0x1"] * 1001, "latest"])["error"]
    assert error["code"] == -32005


def test_too_many_filters_is_a_limit_32005(world: World) -> None:
    from node.rpc.filters import MAX_FILTERS

    installed: list[str] = []
    try:
        for _ in range(MAX_FILTERS + 1):
            answer = world.node.call("eth_newBlockFilter")
            if "error" in answer:
                break
            installed.append(answer["result"])
        error = answer["error"]
        assert error["code"] == -32005 and "too many filters" in error["message"]
    finally:
        for filter_id in installed:
            world.node.rpc("eth_uninstallFilter", [filter_id])


def test_execution_reverted_3(world: World) -> None:
    fail = "0x" + (keccak(text="fail(string)")[:4] + abi_encode(["string"], ["nope"])).hex()
    error = world.node.call("eth_call", [{"to": world.recorder, "data": fail}])["error"]
    assert error["code"] == 3 and error["data"].startswith("0x" + keccak(text="RecorderFailed(string)")[:4].hex())


def test_oversized_body_413(world: World) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "pad": "x" * MAX_BODY_BYTES}).encode()
    response = world.node.post(content=body)
    assert response.status_code == 413 and response.json()["error"]["code"] == -32005


def test_batches_answer_in_order(world: World) -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(5)]
    batch.append({"jsonrpc": "2.0", "method": "eth_chainId"})  # a notification: no answer
    answers = world.node.post(batch).json()
    assert [a["id"] for a in answers] == [0, 1, 2, 3, 4]


def test_metrics_count_requests_by_method_and_code(world: World) -> None:
    world.node.call("eth_noSuchMethod")
    body, _type = world.node.service.metrics.exposition()
    text = body.decode()
    assert 'cityledger_rpc_requests_total{code="0",method="eth_chainId"}' in text
    assert 'code="-32601"' in text
    assert "cityledger_sealed_transactions_total" in text and "cityledger_head_block" in text


def test_health(world: World, tmp_path: Path) -> None:
    response = world.node.run(world.node.client.get("/health"))
    assert response.status_code == 200 and response.json()["role"] == "sealer"
