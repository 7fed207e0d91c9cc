"""The standard Ethereum JSON-RPC over HTTP, driven with web3.py against a real node process.

Every test gets its own development chain and ``cityledger node run`` process (conftest ``node``),
so block contents are fully determined by what the test sends: the sealer only seals a block when
transactions are ready.

To put several transactions into one block without racing the 0.2 s block timer, a test sends the
later nonces first: they wait in the pool (a nonce gap is never sealed) until the lowest nonce
arrives, and then the whole contiguous run is sealed together.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import rlp
from conftest import DevNet, NodeProcess, artifact
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_checksum_address
from hexbytes import HexBytes
from trie import HexaryTrie
from web3 import Web3
from web3.utils.address import get_create_address

RECORDER = artifact("Recorder")
RECORDED_TOPIC = keccak(text="Recorded(bytes32,address,bytes32,uint256)")
RECORDER_FAILED_SELECTOR = keccak(text="RecorderFailed(string)")[:4]
ERROR_STRING_SELECTOR = keccak(text="Error(string)")[:4]
#: EIP-225 (Clique) seal layout at the end of ``extraData``.
SEAL_BYTES = 65
#: Position of ``extraData`` in the RLP list of an execution header (Yellow Paper order).
EXTRA_DATA_FIELD = 12
RECEIPT_TIMEOUT = 30


# --------------------------------------------------------------------------------------- helpers
def rpc_call(url: str, method: str, params: list[Any] | None = None) -> dict[str, Any]:
    """One raw JSON-RPC request; the whole response object (result or error) is returned."""
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or []}
    response = httpx.post(url, json=body, timeout=30)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    assert answer["jsonrpc"] == "2.0" and answer["id"] == 7
    return answer


def rpc_result(url: str, method: str, params: list[Any] | None = None) -> Any:
    answer = rpc_call(url, method, params)
    assert "error" not in answer, answer
    return answer["result"]


def poll_until(fn: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 20.0) -> Any:
    """Call ``fn`` until ``done(result)`` holds or the deadline passes (a condition with a
    deadline, not a sleep used as synchronisation)."""
    deadline = time.monotonic() + timeout
    while True:
        result = fn()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached within {timeout} s; last result {result!r}")
        time.sleep(0.05)


def word(value: bytes | int) -> bytes:
    return value.rjust(32, b"\0") if isinstance(value, bytes) else value.to_bytes(32, "big")


def key_of(label: str) -> bytes:
    return keccak(text=f"key:{label}")


def record_input(w3: Web3, key: bytes, digest: bytes, amount: int) -> str:
    contract = w3.eth.contract(abi=RECORDER["abi"])
    return str(contract.encode_abi("record", args=[key, digest, amount]))


def sign(
    account: dict[str, Any], chain_id: int, nonce: int, *, tx_type: int = 2, to: str | None = None,
    data: str | bytes = b"", gas: int = 300_000, access_list: list[dict[str, Any]] | None = None,
) -> Any:
    """A signed transaction of ``tx_type`` (0 with EIP-155, 1 with an access list, 2 EIP-1559)."""
    tx: dict[str, Any] = {"nonce": nonce, "gas": gas, "value": 0, "data": data, "chainId": chain_id}
    if to is not None:
        tx["to"] = to
    if tx_type == 2:
        tx.update(type=2, maxFeePerGas=0, maxPriorityFeePerGas=0)
    elif tx_type == 1:
        tx.update(type=1, gasPrice=0, accessList=access_list or [])
    else:
        tx.update(gasPrice=0)
    return Account.sign_transaction(tx, account["private_key"])


def send(w3: Web3, signed: Any) -> HexBytes:
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    assert tx_hash == HexBytes(signed.hash)
    return tx_hash


def mined(w3: Web3, tx_hash: bytes) -> Any:
    return w3.eth.wait_for_transaction_receipt(tx_hash, timeout=RECEIPT_TIMEOUT)


def nonce_of(w3: Web3, address: str) -> int:
    return int(w3.eth.get_transaction_count(address, "pending"))


def expected_log_data(digest: bytes, amount: int) -> bytes:
    return digest + word(amount)


def recover_seal(raw_header: bytes) -> str:
    """Re-implementation of the EIP-225 seal check, independent of the node's code: the sealer
    signs keccak256(rlp(header)) where extraData has the 65-byte seal cut off."""
    fields = rlp.decode(raw_header)
    extra = fields[EXTRA_DATA_FIELD]
    assert len(extra) >= 32 + SEAL_BYTES, f"extraData of {len(extra)} bytes carries no seal"
    seal = extra[-SEAL_BYTES:]
    unsealed = list(fields)
    unsealed[EXTRA_DATA_FIELD] = extra[:-SEAL_BYTES]
    digest = keccak(rlp.encode(unsealed))
    r, s, v = int.from_bytes(seal[:32], "big"), int.from_bytes(seal[32:64], "big"), seal[64]
    signature = keys.Signature(vrs=(v, r, s))
    return str(signature.recover_public_key_from_msg_hash(digest).to_checksum_address())


@dataclass
class Deployed:
    address: str
    receipt: Any
    deployer: dict[str, Any]
    deploy_nonce: int


@pytest.fixture
def recorder(w3: Web3, devnet: DevNet) -> Deployed:
    deployer = devnet.member(0)
    nonce = nonce_of(w3, deployer["address"])
    signed = sign(deployer, devnet.chain_id, nonce, data=RECORDER["bytecode"], gas=2_000_000)
    receipt = mined(w3, send(w3, signed))
    assert receipt["status"] == 1, receipt
    return Deployed(receipt["contractAddress"], receipt, deployer, nonce)


def send_record(w3: Web3, devnet: DevNet, recorder: Deployed, member: dict[str, Any], key: bytes,
                digest: bytes, amount: int, tx_type: int = 2) -> Any:
    nonce = nonce_of(w3, member["address"])
    signed = sign(member, devnet.chain_id, nonce, tx_type=tx_type, to=recorder.address,
                  data=record_input(w3, key, digest, amount))
    receipt = mined(w3, send(w3, signed))
    assert receipt["status"] == 1, receipt
    return receipt


# ------------------------------------------------------------------------------ chain identity
def test_identity_and_fee_answers(w3: Web3, node: NodeProcess, devnet: DevNet) -> None:
    assert w3.eth.chain_id == devnet.chain_id
    assert rpc_result(node.url, "eth_chainId") == hex(devnet.chain_id)
    assert w3.net.version == str(devnet.chain_id)
    assert w3.net.listening is True
    assert w3.eth.syncing is False
    version = w3.client_version
    assert version.startswith("CityLedger/"), version
    assert w3.eth.gas_price == 0
    assert w3.eth.max_priority_fee == 0
    assert rpc_result(node.url, "eth_gasPrice") == "0x0"
    assert rpc_result(node.url, "eth_maxPriorityFeePerGas") == "0x0"
    assert w3.eth.block_number == 0
    assert w3.eth.accounts == []


def test_fee_history_shape(w3: Web3, node: NodeProcess, devnet: DevNet, recorder: Deployed) -> None:
    send_record(w3, devnet, recorder, devnet.member(1), key_of("fee"), keccak(b"d"), 1)
    head = w3.eth.block_number
    assert head == 2  # the deployment block and the record block
    history = rpc_result(node.url, "eth_feeHistory", ["0x2", "latest", [25, 75]])
    assert int(history["oldestBlock"], 16) == head - 1
    assert history["baseFeePerGas"] == ["0x0"] * 3
    assert history["reward"] == [["0x0", "0x0"]] * 2
    blocks = [w3.eth.get_block(n) for n in (head - 1, head)]
    assert history["gasUsedRatio"] == [b["gasUsed"] / b["gasLimit"] for b in blocks]
    assert all(0 < ratio < 1 for ratio in history["gasUsedRatio"])
    # Asking for more blocks than exist gives the whole chain, from genesis.
    whole = w3.eth.fee_history(1000, "latest")
    assert whole["oldestBlock"] == 0
    assert len(whole["gasUsedRatio"]) == head + 1
    assert len(whole["baseFeePerGas"]) == head + 2
    assert whole["reward"] == [[]] * (head + 1)  # web3.py asks with no percentiles


# ------------------------------------------------------------------- transactions and receipts
def test_deployment_receipt_and_code(w3: Web3, recorder: Deployed) -> None:
    receipt = recorder.receipt
    expected = get_create_address(recorder.deployer["address"], recorder.deploy_nonce)
    assert receipt["contractAddress"] == expected
    assert receipt["to"] is None
    assert receipt["from"] == recorder.deployer["address"]
    assert receipt["logs"] == []
    assert receipt["type"] == 2
    assert receipt["effectiveGasPrice"] == 0
    assert receipt["gasUsed"] == receipt["cumulativeGasUsed"] > 53_000  # creation costs 53000 + code
    assert w3.eth.get_code(expected) == HexBytes(RECORDER["deployedBytecode"])
    assert w3.eth.get_code(recorder.deployer["address"]) == HexBytes(b"")
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    assert tx["to"] is None
    assert tx["input"] == HexBytes(RECORDER["bytecode"])


def test_three_transaction_types_in_one_block(w3: Web3, node: NodeProcess, devnet: DevNet,
                                              recorder: Deployed) -> None:
    member = devnet.member(1)
    nonce = nonce_of(w3, member["address"])
    keys_ = [key_of(f"typed-{i}") for i in range(3)]
    digests = [keccak(text=f"digest-{i}") for i in range(3)]
    access_list = [{"address": recorder.address, "storageKeys": ["0x" + "00" * 31 + "01"]}]
    txs = [
        sign(member, devnet.chain_id, nonce, tx_type=2, to=recorder.address,
             data=record_input(w3, keys_[0], digests[0], 100)),
        sign(member, devnet.chain_id, nonce + 1, tx_type=0, to=recorder.address,
             data=record_input(w3, keys_[1], digests[1], 101)),
        sign(member, devnet.chain_id, nonce + 2, tx_type=1, to=recorder.address,
             data=record_input(w3, keys_[2], digests[2], 102), access_list=access_list),
    ]
    # Highest nonce first: the run becomes ready only when the lowest nonce arrives.
    hashes = [send(w3, tx) for tx in reversed(txs)][::-1]
    receipts = [mined(w3, h) for h in hashes]

    block_hash = receipts[0]["blockHash"]
    assert all(r["blockHash"] == block_hash for r in receipts)
    assert [r["type"] for r in receipts] == [2, 0, 1]
    assert [r["status"] for r in receipts] == [1, 1, 1]
    assert [r["transactionIndex"] for r in receipts] == [0, 1, 2]
    running = 0
    for i, receipt in enumerate(receipts):
        running += receipt["gasUsed"]
        assert receipt["cumulativeGasUsed"] == running
        assert receipt["to"] == recorder.address
        assert receipt["contractAddress"] is None
        (log,) = receipt["logs"]
        assert log["address"] == recorder.address
        assert log["logIndex"] == i  # log indexes are block-wide
        assert log["transactionIndex"] == i
        assert log["transactionHash"] == hashes[i]
        assert log["blockHash"] == block_hash
        assert log["topics"] == [HexBytes(RECORDED_TOPIC), HexBytes(keys_[i]),
                                 HexBytes(word(bytes.fromhex(member["address"][2:])))]
        assert log["data"] == HexBytes(expected_log_data(digests[i], 100 + i))
    block = w3.eth.get_block(block_hash)
    assert block["gasUsed"] == running
    assert block["transactions"] == hashes
    assert w3.eth.get_block_transaction_count(block_hash) == 3
    assert w3.eth.get_block_transaction_count(receipts[0]["blockNumber"]) == 3
    assert rpc_result(node.url, "eth_getBlockTransactionCountByNumber",
                      [hex(receipts[0]["blockNumber"])]) == "0x3"

    dynamic, legacy, access = (w3.eth.get_transaction(h) for h in hashes)
    assert dynamic["type"] == 2 and dynamic["maxFeePerGas"] == 0 and dynamic["maxPriorityFeePerGas"] == 0
    assert dynamic["chainId"] == devnet.chain_id
    assert legacy["type"] == 0 and legacy["gasPrice"] == 0
    assert legacy["v"] in (devnet.chain_id * 2 + 35, devnet.chain_id * 2 + 36)  # EIP-155
    assert access["type"] == 1 and access["chainId"] == devnet.chain_id
    assert [dict(e) for e in access["accessList"]] == [
        {"address": recorder.address, "storageKeys": ["0x" + "00" * 31 + "01"]}]
    for tx, signed in zip((dynamic, legacy, access), txs, strict=True):
        assert tx["from"] == member["address"]
        assert tx["blockHash"] == block_hash
        # r and s are QUANTITY (uint256, no leading zeros) in the execution-API spec.
        assert (int.from_bytes(tx["r"], "big"), int.from_bytes(tx["s"], "big")) == (signed.r, signed.s)


def test_pending_then_mined_transaction(w3: Web3, node: NodeProcess, devnet: DevNet,
                                        recorder: Deployed) -> None:
    member = devnet.member(2)
    nonce = w3.eth.get_transaction_count(member["address"], "latest")
    first = sign(member, devnet.chain_id, nonce, to=recorder.address,
                 data=record_input(w3, key_of("p0"), keccak(b"0"), 0))
    second = sign(member, devnet.chain_id, nonce + 1, to=recorder.address,
                  data=record_input(w3, key_of("p1"), keccak(b"1"), 1))

    held = send(w3, second)  # nonce gap: waits in the pool
    pending = w3.eth.get_transaction(held)
    assert pending["hash"] == held
    assert pending["blockHash"] is None
    assert pending["blockNumber"] is None
    assert pending["transactionIndex"] is None
    assert pending["from"] == member["address"]
    assert pending["nonce"] == nonce + 1
    assert pending["to"] == recorder.address
    assert rpc_result(node.url, "eth_getTransactionReceipt", [held.to_0x_hex()]) is None
    raw = rpc_result(node.url, "debug_getRawTransaction", [held.to_0x_hex()])
    assert HexBytes(raw) == HexBytes(second.raw_transaction)
    # A nonce gap does not count as pending: the next usable nonce is still the state nonce.
    assert w3.eth.get_transaction_count(member["address"], "pending") == nonce
    assert w3.eth.get_transaction_count(member["address"], "latest") == nonce

    first_hash = send(w3, first)
    # Both are now admitted, mined or not: the pending count covers the contiguous run.
    assert w3.eth.get_transaction_count(member["address"], "pending") == nonce + 2
    assert w3.eth.get_transaction_count(member["address"], "latest") in (nonce, nonce + 2)
    receipt_first, receipt_second = mined(w3, first_hash), mined(w3, held)
    assert receipt_first["blockNumber"] == receipt_second["blockNumber"]
    assert w3.eth.get_transaction_count(member["address"], "latest") == nonce + 2
    assert w3.eth.get_transaction_count(member["address"], receipt_first["blockNumber"] - 1) == nonce

    done = w3.eth.get_transaction(held)
    assert done["blockHash"] == receipt_second["blockHash"]
    assert done["blockNumber"] == receipt_second["blockNumber"]
    assert done["transactionIndex"] == 1
    assert w3.eth.get_transaction(first_hash)["transactionIndex"] == 0


# ------------------------------------------------------------------------------------ blocks
def test_block_tags_numbers_and_unknown_blocks(w3: Web3, node: NodeProcess, devnet: DevNet,
                                               recorder: Deployed) -> None:
    receipt = send_record(w3, devnet, recorder, devnet.member(0), key_of("tags"), keccak(b"t"), 9)
    head = w3.eth.block_number
    assert head == receipt["blockNumber"] == 2
    latest = rpc_result(node.url, "eth_getBlockByNumber", ["latest", False])
    assert latest["hash"] == receipt["blockHash"].to_0x_hex()
    assert latest["number"] == hex(head)
    # This chain has one authority and no pending block: every head tag names the sealed head.
    for tag in ("pending", "safe", "finalized"):
        assert rpc_result(node.url, "eth_getBlockByNumber", [tag, False]) == latest, tag
    assert rpc_result(node.url, "eth_getBlockByNumber", [hex(head), False]) == latest

    earliest = w3.eth.get_block("earliest")
    assert earliest["number"] == 0
    assert earliest["parentHash"] == HexBytes(b"\0" * 32)
    assert earliest["transactions"] == []
    assert w3.eth.get_block(0)["hash"] == earliest["hash"]
    assert w3.eth.get_block(1)["parentHash"] == earliest["hash"]
    assert w3.eth.get_block(2)["parentHash"] == w3.eth.get_block(1)["hash"]
    assert w3.eth.get_block_transaction_count("earliest") == 0

    missing_number = hex(head + 1000)
    assert rpc_result(node.url, "eth_getBlockByNumber", [missing_number, True]) is None
    assert rpc_result(node.url, "eth_getBlockTransactionCountByNumber", [missing_number]) is None
    missing_hash = "0x" + keccak(b"no such block").hex()
    assert rpc_result(node.url, "eth_getBlockByHash", [missing_hash, False]) is None
    assert rpc_result(node.url, "eth_getBlockTransactionCountByHash", [missing_hash]) is None


def test_block_by_hash_full_and_hashes(w3: Web3, node: NodeProcess, devnet: DevNet,
                                       recorder: Deployed) -> None:
    member = devnet.member(3)
    receipt = send_record(w3, devnet, recorder, member, key_of("full"), keccak(b"f"), 5)
    block_hash = receipt["blockHash"].to_0x_hex()
    tx_hash = receipt["transactionHash"].to_0x_hex()

    hashes_only = rpc_result(node.url, "eth_getBlockByHash", [block_hash, False])
    assert hashes_only["transactions"] == [tx_hash]
    assert hashes_only["hash"] == block_hash
    assert hashes_only["number"] == hex(receipt["blockNumber"])
    assert hashes_only["gasUsed"] == hex(receipt["gasUsed"])
    assert hashes_only["baseFeePerGas"] == "0x0"
    assert hashes_only["uncles"] == []
    assert hashes_only["miner"] == to_checksum_address(devnet.keys["sealer"]["address"])
    assert int(hashes_only["size"], 16) == len(
        HexBytes(rpc_result(node.url, "debug_getRawBlock", [hex(receipt["blockNumber"])])))

    full = rpc_result(node.url, "eth_getBlockByHash", [block_hash, True])
    (tx,) = full["transactions"]
    assert tx["hash"] == tx_hash
    assert tx["from"] == member["address"]
    assert tx["blockHash"] == block_hash
    assert tx["blockNumber"] == hex(receipt["blockNumber"])
    assert tx["transactionIndex"] == "0x0"
    assert tx == rpc_result(node.url, "eth_getTransactionByHash", [tx_hash])
    assert {k: v for k, v in full.items() if k != "transactions"} == \
        {k: v for k, v in hashes_only.items() if k != "transactions"}
    assert rpc_result(node.url, "eth_getBlockByNumber", [hex(receipt["blockNumber"]), True]) == full
    assert rpc_result(node.url, "eth_getBlockTransactionCountByHash", [block_hash]) == "0x1"


# ------------------------------------------------------------------------------------- state
def test_state_reads_at_head_and_history(w3: Web3, devnet: DevNet, recorder: Deployed) -> None:
    member = devnet.member(4)
    key, digest, amount = key_of("state"), keccak(b"state digest"), 123_456
    receipt = send_record(w3, devnet, recorder, member, key, digest, amount)
    block = w3.eth.get_block(receipt["blockNumber"])
    before = receipt["blockNumber"] - 1

    assert w3.eth.get_balance(member["address"]) == 0  # fees are zero; members hold no ether
    assert w3.eth.get_transaction_count(member["address"]) == 1
    assert w3.eth.get_transaction_count(member["address"], before) == 0
    assert w3.eth.get_code(recorder.address, before) == HexBytes(RECORDER["deployedBytecode"])
    assert w3.eth.get_code(recorder.address, 0) == HexBytes(b"")

    # Solidity layout: _records at slot 0; the struct at keccak(key . 0), fields in order, with
    # author (20 bytes) and at (uint64) packed into the first slot.
    base = int.from_bytes(keccak(key + word(0)), "big")
    packed = w3.eth.get_storage_at(recorder.address, base)
    assert packed[-20:] == HexBytes(member["address"])
    assert int.from_bytes(packed[4:12], "big") == block["timestamp"]
    assert w3.eth.get_storage_at(recorder.address, base + 1) == HexBytes(digest)
    assert int.from_bytes(w3.eth.get_storage_at(recorder.address, base + 2), "big") == amount
    assert w3.eth.get_storage_at(recorder.address, base + 2, before) == HexBytes(word(0))


def test_eth_call_decodes_results_at_blocks(w3: Web3, devnet: DevNet, recorder: Deployed) -> None:
    member = devnet.member(5)
    key, digest = key_of("call"), keccak(b"call digest")
    receipt = send_record(w3, devnet, recorder, member, key, digest, 77)
    contract = w3.eth.contract(address=recorder.address, abi=RECORDER["abi"])
    timestamp = w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert contract.functions.get(key).call() == (member["address"], timestamp, digest, 77)
    assert contract.functions.get(key).call(block_identifier=receipt["blockNumber"] - 1) == \
        ("0x" + "00" * 20, 0, b"\0" * 32, 0)
    assert contract.functions.get(key_of("never written")).call()[3] == 0


def test_eth_call_custom_error_revert(node: NodeProcess, recorder: Deployed) -> None:
    data = RECORDER_FAILED_SELECTOR + abi_encode(["string"], ["bad input 42"])
    call_input = "0x" + (keccak(text="fail(string)")[:4] + abi_encode(["string"], ["bad input 42"])).hex()
    answer = rpc_call(node.url, "eth_call", [{"to": recorder.address, "input": call_input}, "latest"])
    assert "result" not in answer
    assert answer["error"]["code"] == 3
    assert answer["error"]["message"] == "execution reverted"
    assert HexBytes(answer["error"]["data"]) == HexBytes(data)


def test_eth_call_reason_string_revert(w3: Web3, node: NodeProcess, recorder: Deployed) -> None:
    call_input = "0x" + keccak(text="failWithReason()")[:4].hex()
    answer = rpc_call(node.url, "eth_call", [{"to": recorder.address, "data": call_input}])
    error = answer["error"]
    assert error["code"] == 3
    assert "recorder says no" in error["message"]
    assert HexBytes(error["data"]) == HexBytes(
        ERROR_STRING_SELECTOR + abi_encode(["string"], ["recorder says no"]))
    # web3.py surfaces the reason from the same error object.
    from web3.exceptions import ContractLogicError

    contract = w3.eth.contract(address=recorder.address, abi=RECORDER["abi"])
    with pytest.raises(ContractLogicError, match="recorder says no"):
        contract.functions.failWithReason().call()


def test_estimate_gas_matches_execution(w3: Web3, node: NodeProcess, devnet: DevNet,
                                        recorder: Deployed) -> None:
    member = devnet.member(6)
    data = record_input(w3, key_of("estimate"), keccak(b"e"), 2**200)
    estimate = w3.eth.estimate_gas({"from": member["address"], "to": recorder.address, "data": data})
    signed = sign(member, devnet.chain_id, nonce_of(w3, member["address"]), to=recorder.address,
                  data=data, gas=estimate)
    receipt = mined(w3, send(w3, signed))
    assert receipt["status"] == 1, "a transaction given exactly the estimate must succeed"
    # py-evm's binary search stops within the intrinsic gas (21000 + calldata) of the minimum.
    assert receipt["gasUsed"] <= estimate <= receipt["gasUsed"] + 25_000

    for signature, args in (("fail(string)", ["no"]), ("failWithReason()", None)):
        selector = keccak(text=signature)[:4]
        call_input = "0x" + (selector + (abi_encode(["string"], args) if args else b"")).hex()
        answer = rpc_call(node.url, "eth_estimateGas",
                          [{"from": member["address"], "to": recorder.address, "input": call_input}])
        assert answer["error"]["code"] == 3, signature
        assert HexBytes(answer["error"]["data"])[:4] == HexBytes(
            RECORDER_FAILED_SELECTOR if args else ERROR_STRING_SELECTOR)


# -------------------------------------------------------------------------------------- logs
def test_get_logs_by_address_topics_range_and_block_hash(w3: Web3, devnet: DevNet,
                                                         recorder: Deployed) -> None:
    alice, bob = devnet.member(0), devnet.member(1)
    key_a, key_b = key_of("A"), key_of("B")
    # A second Recorder, so that address filtering has something to exclude.
    other_nonce = nonce_of(w3, bob["address"])
    other = mined(w3, send(w3, sign(bob, devnet.chain_id, other_nonce, data=RECORDER["bytecode"],
                                    gas=2_000_000)))["contractAddress"]
    other_deployed = Deployed(other, None, bob, other_nonce)
    r1 = send_record(w3, devnet, recorder, alice, key_a, keccak(b"1"), 1)
    r2 = send_record(w3, devnet, recorder, bob, key_b, keccak(b"2"), 2)
    r3 = send_record(w3, devnet, other_deployed, alice, key_a, keccak(b"3"), 3)
    r4 = send_record(w3, devnet, recorder, bob, key_a, keccak(b"4"), 4)
    logs = {i: r["logs"][0] for i, r in enumerate((r1, r2, r3, r4), start=1)}
    start, end = r1["blockNumber"], r4["blockNumber"]
    span = {"fromBlock": start, "toBlock": end}

    def get(**criteria: Any) -> list[Any]:
        return list(w3.eth.get_logs({**span, **criteria}))

    assert get() == [logs[1], logs[2], logs[3], logs[4]]
    assert get(address=recorder.address) == [logs[1], logs[2], logs[4]]
    assert get(address=[recorder.address, other]) == [logs[1], logs[2], logs[3], logs[4]]
    assert get(topics=[RECORDED_TOPIC, key_a]) == [logs[1], logs[3], logs[4]]
    assert get(topics=[None, [key_a, key_b]], address=recorder.address) == [logs[1], logs[2], logs[4]]
    assert get(topics=[None, None, word(bytes.fromhex(bob["address"][2:]))]) == [logs[2], logs[4]]
    assert get(topics=[keccak(text="Other(bytes32)")]) == []
    # Block range bounds are inclusive and exclude everything outside.
    assert list(w3.eth.get_logs({"fromBlock": r2["blockNumber"], "toBlock": r3["blockNumber"]})) == \
        [logs[2], logs[3]]
    assert list(w3.eth.get_logs({"fromBlock": 0, "toBlock": start - 1})) == []
    assert list(w3.eth.get_logs({"blockHash": r3["blockHash"]})) == [logs[3]]
    assert list(w3.eth.get_logs({"blockHash": r3["blockHash"], "address": recorder.address})) == []


def test_log_filter_returns_only_new_logs(w3: Web3, node: NodeProcess, devnet: DevNet,
                                          recorder: Deployed) -> None:
    member = devnet.member(7)
    from_block = hex(w3.eth.block_number + 1)
    filter_id = rpc_result(node.url, "eth_newFilter", [
        {"address": recorder.address, "topics": ["0x" + RECORDED_TOPIC.hex()], "fromBlock": from_block}])
    assert rpc_result(node.url, "eth_getFilterChanges", [filter_id]) == []

    def changes_until(count: int) -> list[Any]:
        seen: list[Any] = []
        poll_until(lambda: seen.extend(rpc_result(node.url, "eth_getFilterChanges", [filter_id])) or seen,
                   lambda got: len(got) >= count)
        return seen

    first = send_record(w3, devnet, recorder, member, key_of("f1"), keccak(b"1"), 1)
    got = changes_until(1)
    assert [HexBytes(log["transactionHash"]) for log in got] == [first["transactionHash"]]
    assert got[0]["logIndex"] == "0x0" and got[0]["removed"] is False
    assert rpc_result(node.url, "eth_getFilterChanges", [filter_id]) == []

    second = send_record(w3, devnet, recorder, member, key_of("f2"), keccak(b"2"), 2)
    got = changes_until(1)
    assert [HexBytes(log["transactionHash"]) for log in got] == [second["transactionHash"]]

    every = rpc_result(node.url, "eth_getFilterLogs", [filter_id])
    assert [HexBytes(log["transactionHash"]) for log in every] == \
        [first["transactionHash"], second["transactionHash"]]
    assert every == rpc_result(node.url, "eth_getLogs", [
        {"address": recorder.address, "fromBlock": from_block, "toBlock": "latest"}])

    assert rpc_result(node.url, "eth_uninstallFilter", [filter_id]) is True
    answer = rpc_call(node.url, "eth_getFilterChanges", [filter_id])
    assert answer["error"]["code"] == -32001
    assert "filter not found" in answer["error"]["message"]


def test_block_filter_and_uninstall(w3: Web3, node: NodeProcess, devnet: DevNet,
                                    recorder: Deployed) -> None:
    filter_id = rpc_result(node.url, "eth_newBlockFilter")
    assert rpc_result(node.url, "eth_getFilterChanges", [filter_id]) == []
    receipt = send_record(w3, devnet, recorder, devnet.admin(0), key_of("bf"), keccak(b"b"), 1)
    seen: list[str] = []
    poll_until(lambda: seen.extend(rpc_result(node.url, "eth_getFilterChanges", [filter_id])) or seen,
               lambda got: len(got) >= 1)
    assert seen == [receipt["blockHash"].to_0x_hex()]
    assert rpc_result(node.url, "eth_getFilterChanges", [filter_id]) == []

    assert rpc_result(node.url, "eth_uninstallFilter", [filter_id]) is True
    assert rpc_result(node.url, "eth_uninstallFilter", [filter_id]) is False
    for method in ("eth_getFilterChanges", "eth_getFilterLogs"):
        answer = rpc_call(node.url, method, [filter_id])
        assert answer["error"] == {"code": -32001, "message": f"filter not found: {filter_id}"}
    assert w3.eth.block_number == receipt["blockNumber"]


# ----------------------------------------------------------------------------------- debug_*
def _trie_root(items: list[bytes]) -> bytes:
    trie = HexaryTrie({})
    for index, item in enumerate(items):
        trie[rlp.encode(index)] = item
    return bytes(trie.root_hash)


def test_debug_raw_forms_hash_to_what_the_json_says(w3: Web3, node: NodeProcess, devnet: DevNet,
                                                    recorder: Deployed) -> None:
    member = devnet.admin(1)
    nonce = nonce_of(w3, member["address"])
    dynamic = sign(member, devnet.chain_id, nonce, to=recorder.address,
                   data=record_input(w3, key_of("raw0"), keccak(b"0"), 0))
    legacy = sign(member, devnet.chain_id, nonce + 1, tx_type=0, to=recorder.address,
                  data=record_input(w3, key_of("raw1"), keccak(b"1"), 1))
    send(w3, legacy)
    receipts = [mined(w3, send(w3, dynamic)), mined(w3, HexBytes(legacy.hash))]
    number = receipts[0]["blockNumber"]
    assert receipts[1]["blockNumber"] == number
    block = rpc_result(node.url, "eth_getBlockByNumber", [hex(number), False])

    raw_header = HexBytes(rpc_result(node.url, "debug_getRawHeader", [hex(number)]))
    assert keccak(raw_header) == HexBytes(block["hash"])
    assert HexBytes(rpc_result(node.url, "debug_getRawHeader", [block["hash"]])) == raw_header

    raw_block = HexBytes(rpc_result(node.url, "debug_getRawBlock", [hex(number)]))
    header_fields, tx_items, uncles, withdrawals = rlp.decode(raw_block)
    assert rlp.encode(header_fields) == raw_header
    assert uncles == [] and withdrawals == []
    # EIP-2718: typed transactions sit in the block as byte strings, legacy ones as RLP lists.
    encoded_txs = [item if isinstance(item, bytes) else rlp.encode(item) for item in tx_items]
    assert [HexBytes(keccak(tx)).to_0x_hex() for tx in encoded_txs] == block["transactions"]
    assert encoded_txs == [bytes(dynamic.raw_transaction), bytes(legacy.raw_transaction)]
    assert isinstance(tx_items[0], bytes) and isinstance(tx_items[1], list)
    assert _trie_root(encoded_txs) == HexBytes(block["transactionsRoot"])

    raw_receipts = [HexBytes(r) for r in rpc_result(node.url, "debug_getRawReceipts", [hex(number)])]
    assert len(raw_receipts) == 2
    assert raw_receipts[0][0] == 2  # typed receipt: type byte || rlp
    assert rlp.decode(raw_receipts[1])[0] == b"\x01"  # legacy receipt: status 1 first
    assert _trie_root([bytes(r) for r in raw_receipts]) == HexBytes(block["receiptsRoot"])
    status, cumulative, _bloom, logs = rlp.decode(raw_receipts[0][1:])
    assert int.from_bytes(cumulative, "big") == receipts[0]["cumulativeGasUsed"]
    assert status == b"\x01" and len(logs) == 1

    for signed in (dynamic, legacy):
        raw_tx = HexBytes(rpc_result(node.url, "debug_getRawTransaction", [HexBytes(signed.hash).to_0x_hex()]))
        assert keccak(raw_tx) == signed.hash
        assert raw_tx == HexBytes(signed.raw_transaction)
    assert rpc_result(node.url, "debug_getRawTransaction", ["0x" + "ab" * 32]) is None
    assert rpc_result(node.url, "debug_getRawHeader", [hex(number + 100)]) is None


def test_seal_recovers_to_the_sealer(w3: Web3, node: NodeProcess, devnet: DevNet,
                                     recorder: Deployed) -> None:
    send_record(w3, devnet, recorder, devnet.member(0), key_of("seal"), keccak(b"s"), 1)
    sealer = to_checksum_address(devnet.keys["sealer"]["address"])
    head = w3.eth.block_number
    assert head >= 2
    for number in range(1, head + 1):
        raw_header = HexBytes(rpc_result(node.url, "debug_getRawHeader", [hex(number)]))
        signer = recover_seal(raw_header)
        assert signer == sealer, number
        assert rpc_result(node.url, "cityledger_sealers", [hex(number - 1)]) == [signer]
        assert w3.eth.get_block(number)["miner"] == signer
    # The genesis header is not sealed: its extraData is the 32-byte vanity alone.
    genesis_fields = rlp.decode(HexBytes(rpc_result(node.url, "debug_getRawHeader", ["0x0"])))
    assert len(genesis_fields[EXTRA_DATA_FIELD]) == 32
    # A flipped bit in the header recovers someone else (or nothing): the seal binds the header.
    fields = rlp.decode(HexBytes(rpc_result(node.url, "debug_getRawHeader", ["latest"])))
    fields[11] = (int.from_bytes(fields[11], "big") + 1).to_bytes(8, "big").lstrip(b"\0")
    try:
        forged_signer = recover_seal(rlp.encode(fields))
    except Exception:  # an unrecoverable signature is just as good a rejection
        forged_signer = None
    assert forged_signer != sealer


# ------------------------------------------------------------------------------------ batches
def test_batch_mixed_valid_and_invalid_items(node: NodeProcess, devnet: DevNet) -> None:
    batch = [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
        {"jsonrpc": "2.0", "id": "two", "method": "eth_noSuchMethod", "params": []},
        42,
        {"jsonrpc": "2.0", "method": "eth_blockNumber", "params": []},  # notification: no answer
        {"jsonrpc": "2.0", "id": 5, "method": "eth_getBalance", "params": ["0x1234"]},
        {"jsonrpc": "1.0", "id": 6, "method": "eth_chainId"},
        {"jsonrpc": "2.0", "id": 7, "method": "net_version"},
    ]
    response = httpx.post(node.url, json=batch, timeout=30)
    assert response.status_code == 200
    answers = response.json()
    assert [a["id"] for a in answers] == [1, "two", None, 5, 6, 7]
    assert answers[0]["result"] == hex(devnet.chain_id)
    assert answers[1]["error"]["code"] == -32601
    assert "eth_noSuchMethod" in answers[1]["error"]["message"]
    assert answers[2]["error"]["code"] == -32600
    assert answers[3]["error"]["code"] == -32602
    assert answers[4]["error"]["code"] == -32600
    assert answers[5]["result"] == str(devnet.chain_id)
    assert all(a["jsonrpc"] == "2.0" for a in answers)
    assert all(("result" in a) != ("error" in a) for a in answers)
