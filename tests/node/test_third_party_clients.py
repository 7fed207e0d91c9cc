"""Third-party Ethereum clients against a real ``cityledger node run`` process.

Foundry's ``cast`` (Rust, alloy) and ethers v6 (JavaScript) were written by other people to the
public JSON-RPC spec; if they deploy, send, read receipts, call, filter logs and read blocks with a
97-byte Clique extraData, the node speaks standard Ethereum JSON-RPC.

Fees: members hold no ether and the base fee is pinned to 0, so a transaction must offer 0 wei per
gas. cast's default EIP-1559 estimator (alloy) floors the priority fee at 1 wei, which makes the
sender need ``gas * 1`` wei; the node refuses that at admission exactly as go-ethereum would
(balance must cover ``gas * maxFeePerGas + value``). cast therefore needs
``--gas-price 0 --priority-gas-price 0`` (EIP-1559) or ``--legacy --gas-price 0``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
from eth_hash.auto import keccak

from conftest import ARTIFACTS, ROOT, DevNet, NodeProcess, artifact

# The npm wrapper node_modules/.bin/cast (a Node script) spawns this binary but always exits 0, even
# when cast fails, and a timeout would kill only the wrapper. Run the platform binary it wraps.
CAST = ROOT / "node_modules" / "@foundry-rs" / "cast-linux-amd64" / "bin" / "cast"
ETHERS_CLIENT = Path(__file__).with_name("ethers_client.mjs")
TIMEOUT = 60  # seconds, for every client subprocess

RECORDED_SIG = "Recorded(bytes32,address,bytes32,uint256)"
RECORDED_TOPIC = "0x" + keccak(RECORDED_SIG.encode()).hex()
RECORDED_EVENT = "Recorded(bytes32 indexed key, address indexed author, bytes32 digest, uint256 amount)"
ZERO_FEES = ["--gas-price", "0", "--priority-gas-price", "0"]  # EIP-1559 with 0 max and 0 tip


def word(byte: int) -> str:
    return "0x" + bytes([byte]).hex() * 32


def topic_of(address: str) -> str:
    return "0x" + "0" * 24 + address[2:].lower()


def data_of(digest: str, amount: int) -> str:
    return digest + amount.to_bytes(32, "big").hex()


def run_cast(*args: str, cwd: Path) -> str:
    proc = subprocess.run([str(CAST), *args], capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd,
                          env={**os.environ, "FOUNDRY_DISABLE_NIGHTLY_WARNING": "1"})
    assert proc.returncode == 0, f"cast {args[0]} failed ({proc.returncode}):\n{proc.stderr}"
    return proc.stdout.strip()


def cast_json(*args: str, cwd: Path) -> Any:
    return json.loads(run_cast(*args, "--json", cwd=cwd))


def raw_rpc(url: str, method: str, params: list[Any]) -> Any:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 7, "method": method, "params": params},
                        timeout=30).json()
    assert "error" not in answer, answer
    return answer["result"]


def test_foundry_cast_round_trip(devnet: DevNet, node: NodeProcess, tmp_path: Path) -> None:
    assert CAST.is_file(), f"cast binary missing at {CAST} (npm install @foundry-rs/cast)"
    member = devnet.member(0)
    author, key = member["address"], member["private_key"]
    rpc = ["--rpc-url", node.url]
    signer = [*rpc, "--private-key", key]
    recorder = artifact("Recorder")

    assert int(run_cast("chain-id", *rpc, cwd=tmp_path)) == devnet.chain_id
    start_nonce = int(run_cast("nonce", *rpc, author, cwd=tmp_path))
    assert start_nonce == int(node.rpc("eth_getTransactionCount", [author, "latest"]), 16)

    # cast's default fees (tip floored at 1 wei) need ether a member does not have: refused at
    # admission, so the nonce does not move.
    default = subprocess.run([str(CAST), "send", *signer, "--create", recorder["bytecode"]],
                             capture_output=True, text=True, timeout=TIMEOUT, cwd=tmp_path)
    assert default.returncode != 0
    assert "insufficient funds for gas * price + value: balance 0" in default.stderr

    # Deploy with a plain EIP-1559 (type 2) transaction offering zero fees.
    deployed = cast_json("send", *signer, *ZERO_FEES, "--create", recorder["bytecode"], cwd=tmp_path)
    assert deployed["status"] == "0x1" and deployed["type"] == "0x2"
    assert deployed["from"].lower() == author.lower() and deployed["to"] is None
    address = deployed["contractAddress"]
    assert run_cast("code", *rpc, address, cwd=tmp_path) == recorder["deployedBytecode"]

    key1, key2, digest = word(0xA1), word(0xB2), word(0xCD)
    amount1, amount2 = 2**200 + 5, 12345
    sent1 = cast_json("send", *signer, *ZERO_FEES, address, "record(bytes32,bytes32,uint256)",
                      key1, digest, str(amount1), cwd=tmp_path)
    # The same call as a legacy (type 0) transaction with gas price 0.
    sent2 = cast_json("send", *signer, "--legacy", "--gas-price", "0", address,
                      "record(bytes32,bytes32,uint256)", key2, digest, str(amount2), cwd=tmp_path)
    assert (sent1["status"], sent1["type"]) == ("0x1", "0x2")
    assert (sent2["status"], sent2["type"]) == ("0x1", "0x0")
    hash1, hash2 = sent1["transactionHash"], sent2["transactionHash"]

    receipt = cast_json("receipt", *rpc, hash1, cwd=tmp_path)
    assert receipt["status"] == "0x1"
    assert receipt["transactionHash"] == hash1
    assert receipt["blockHash"] == sent1["blockHash"] and receipt["blockNumber"] == sent1["blockNumber"]
    assert receipt["to"].lower() == address.lower() and receipt["effectiveGasPrice"] == "0x0"
    [log] = receipt["logs"]
    assert log["address"].lower() == address.lower()
    assert log["topics"] == [RECORDED_TOPIC, key1, topic_of(author)]
    assert log["data"] == data_of(digest, amount1)
    assert log["transactionHash"] == hash1 and log["removed"] is False

    block1 = cast_json("block", *rpc, str(int(receipt["blockNumber"], 16)), cwd=tmp_path)
    assert block1["hash"] == receipt["blockHash"]
    assert hash1 in block1["transactions"]

    got_author, got_at, got_digest, got_amount = cast_json(
        "call", *rpc, address, "get(bytes32)(address,uint64,bytes32,uint256)", key1, cwd=tmp_path)
    assert got_author == author
    assert int(got_at) == int(block1["timestamp"], 16)
    assert got_digest == digest
    assert int(got_amount) == amount1  # cast --json prints a uint beyond 2**64 as a string
    assert [int(v, 16) if isinstance(v, str) and v.startswith("0x") else int(v) for v in cast_json(
        "call", *rpc, address, "get(bytes32)(address,uint64,bytes32,uint256)", word(0x01),
        cwd=tmp_path)] == [0, 0, 0, 0]

    every = cast_json("logs", *rpc, "--from-block", "0", "--address", address, RECORDED_EVENT,
                      cwd=tmp_path)
    assert [entry["transactionHash"] for entry in every] == [hash1, hash2]
    assert [entry["topics"][1] for entry in every] == [key1, key2]
    assert every[1]["data"] == data_of(digest, amount2)
    only_key2 = cast_json("logs", *rpc, "--from-block", "0", "--address", address, RECORDED_EVENT,
                          key2, cwd=tmp_path)
    assert [entry["transactionHash"] for entry in only_key2] == [hash2]

    latest = cast_json("block", "latest", *rpc, cwd=tmp_path)
    assert int(latest["number"], 16) >= int(sent2["blockNumber"], 16)
    assert len(bytes.fromhex(latest["extraData"][2:])) == 97  # 32 vanity + 65 seal
    assert latest["baseFeePerGas"] == "0x0"

    assert int(run_cast("nonce", *rpc, author, cwd=tmp_path)) == start_nonce + 3


def test_ethers_v6_round_trip(devnet: DevNet, node: NodeProcess) -> None:
    node_js = shutil.which("node")
    assert node_js is not None, "Node.js is required for the ethers client"
    member = devnet.member(1)
    recorder = artifact("Recorder")
    key, other_key, digest = word(0x11), word(0x33), word(0x22)
    amount = 2**130 + 7

    proc = subprocess.run(
        [node_js, str(ETHERS_CLIENT), node.url, member["private_key"], str(ARTIFACTS / "Recorder.json"),
         key, digest, str(amount), other_key],
        capture_output=True, text=True, timeout=TIMEOUT * 2, cwd=ROOT)
    assert proc.returncode == 0, f"ethers client failed:\n{proc.stderr}\n{proc.stdout}"
    out = json.loads(proc.stdout)

    wallet = member["address"]
    assert int(out["chainId"]) == devnet.chain_id
    assert out["wallet"] == wallet
    assert out["feeData"]["gasPrice"] == "0"
    contract = out["contract"]
    assert out["deploy"]["status"] == 1 and out["deploy"]["contractAddress"] == contract
    assert out["deployedCodeLength"] == len(bytes.fromhex(recorder["deployedBytecode"][2:]))

    rec = out["record"]
    assert rec["status"] == 1 and rec["from"] == wallet and rec["to"] == contract
    assert rec["topics"] == [[RECORDED_TOPIC, key, topic_of(wallet)]]
    assert rec["events"] == [{"name": "Recorded", "key": key, "author": wallet, "digest": digest,
                              "amount": str(amount)}]
    assert out["other"]["status"] == 1 and out["other"]["type"] == 2
    assert out["other"]["maxFeePerGas"] == "0"

    assert out["get"] == {"author": wallet, "at": str(out["recordBlock"]["timestamp"]),
                          "digest": digest, "amount": str(amount)}
    assert out["getMissing"] == {"author": "0x" + "0" * 40, "at": "0", "digest": word(0),
                                 "amount": "0"}

    assert out["filtered"] == [{"txHash": rec["hash"], "blockNumber": rec["blockNumber"], "logIndex": 0,
                                "name": "Recorded", "key": key, "author": wallet, "digest": digest,
                                "amount": str(amount)}]
    assert out["allCount"] == 2
    assert out["nonceAfter"] == 3

    record_block = out["recordBlock"]
    assert record_block["number"] == rec["blockNumber"] and record_block["hash"] == rec["blockHash"]
    assert rec["hash"] in record_block["transactions"]
    latest = out["latest"]
    assert latest["number"] >= out["other"]["blockNumber"]
    assert len(bytes.fromhex(latest["extraData"][2:])) == 97
    assert latest["baseFeePerGas"] == "0"

    # The same receipts, read with a bare JSON-RPC call instead of ethers. Addresses are compared
    # case-insensitively: the node answers with EIP-55 checksummed addresses, geth with lowercase.
    raw = raw_rpc(node.url, "eth_getTransactionReceipt", [rec["hash"]])
    assert raw["status"] == "0x1"
    assert raw["transactionHash"] == rec["hash"]
    assert raw["blockHash"] == rec["blockHash"] and int(raw["blockNumber"], 16) == rec["blockNumber"]
    assert raw["from"].lower() == wallet.lower() and raw["to"].lower() == contract.lower()
    assert int(raw["gasUsed"], 16) == int(rec["gasUsed"])
    assert raw["effectiveGasPrice"] == "0x0"
    [log] = raw["logs"]
    assert log["address"].lower() == contract.lower()
    assert log["topics"] == [RECORDED_TOPIC, key, topic_of(wallet)]
    assert log["data"] == data_of(digest, amount)
    raw_deploy = raw_rpc(node.url, "eth_getTransactionReceipt", [out["deploy"]["hash"]])
    assert raw_deploy["status"] == "0x1" and raw_deploy["contractAddress"].lower() == contract.lower()
    assert raw_deploy["to"] is None
