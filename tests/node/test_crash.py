"""Crash safety: a sealing node killed with SIGKILL keeps every acknowledged block.

A client streams transactions so the node is sealing nearly all the time; each round waits until
the node acknowledges new receipts, then kills the process at once, restarts it and checks that
every block and receipt acknowledged before any kill is still there, unchanged, and that the node
keeps sealing. Receipts are served from the lookup index written in each block's own commit: after
every restart, every transaction of every block on disk has its receipt, equal to what was served
before the kill.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx
from eth_account import Account
from eth_utils import keccak

from conftest import DevNet, artifact, sealer_process

ROUNDS = 5


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                        timeout=30).json()
    if "error" in answer:
        raise RuntimeError(answer["error"])
    return answer["result"]


def _batch(url: str, method: str, params: list[list[Any]]) -> list[Any]:
    """One JSON-RPC batch of ``method`` calls (at most 1000 per request); results in order."""
    out: list[Any] = []
    for start in range(0, len(params), 1000):
        chunk = params[start:start + 1000]
        answers = httpx.post(url, json=[{"jsonrpc": "2.0", "id": i, "method": method, "params": p}
                                        for i, p in enumerate(chunk)], timeout=60).json()
        out += [a["result"] for a in sorted(answers, key=lambda a: a["id"])]
    return out


def _wait_receipt(url: str, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = _rpc(url, "eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return receipt  # type: ignore[no-any-return]
    raise AssertionError(f"no receipt for {tx_hash}")


class Streamer(threading.Thread):
    """Sends `record` transactions back to back until stopped or the node dies."""

    def __init__(self, url: str, key: str, chain_id: int, contract: str, start_nonce: int) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.chain_id, self.contract = url, key, chain_id, contract
        self.nonce = start_nonce
        self.sent: list[tuple[int, str]] = []
        self.halt = threading.Event()

    def run(self) -> None:
        selector = keccak(text="record(bytes32,bytes32,uint256)")[:4]
        with httpx.Client(timeout=5) as client:
            while not self.halt.is_set():
                data = selector + self.nonce.to_bytes(32, "big") + b"\x22" * 32 + self.nonce.to_bytes(32, "big")
                tx = {"to": self.contract, "data": data, "gas": 150_000, "gasPrice": 0,
                      "nonce": self.nonce, "chainId": self.chain_id, "value": 0}
                raw = Account.sign_transaction(tx, self.key).raw_transaction
                try:
                    answer = client.post(self.url, json={"jsonrpc": "2.0", "id": 1,
                                                         "method": "eth_sendRawTransaction",
                                                         "params": ["0x" + raw.hex()]}).json()
                except httpx.HTTPError:
                    return  # the node was killed
                if "result" in answer:
                    self.sent.append((self.nonce, answer["result"]))
                    self.nonce += 1


def test_sigkill_during_sealing_loses_no_acknowledged_block(devnet: DevNet) -> None:
    member = devnet.member(0)
    node = sealer_process(devnet, block_time=0.05, ws=False).start()
    try:
        recorder = artifact("Recorder")
        deploy = Account.sign_transaction(
            {"data": recorder["bytecode"], "gas": 1_000_000, "gasPrice": 0, "nonce": 0,
             "chainId": devnet.chain_id, "value": 0}, member["private_key"])
        contract = _wait_receipt(node.url, _rpc(node.url, "eth_sendRawTransaction",
                                                ["0x" + deploy.raw_transaction.hex()]))["contractAddress"]
        acknowledged_blocks: dict[int, str] = {}
        acknowledged_txs: dict[str, tuple[str, int]] = {}
        served_receipts: dict[str, dict[str, Any]] = {}
        checked_up_to = 0
        for _ in range(ROUNDS):
            nonce = int(_rpc(node.url, "eth_getTransactionCount", [member["address"], "latest"]), 16)
            streamer = Streamer(node.url, member["private_key"], devnet.chain_id, contract, nonce)
            streamer.start()
            # Wait for receipts of transactions sent in this round: the node is now sealing.
            while len(streamer.sent) < 30:
                pass
            receipt = _wait_receipt(node.url, streamer.sent[20][1])
            head = int(_rpc(node.url, "eth_blockNumber", []), 16)
            blocks = _batch(node.url, "eth_getBlockByNumber", [[hex(n), False] for n in range(head + 1)])
            for number, block in enumerate(blocks):
                acknowledged_blocks[number] = block["hash"]
            for _nonce, tx_hash in streamer.sent[:21]:
                r = _rpc(node.url, "eth_getTransactionReceipt", [tx_hash])
                if r is not None:
                    acknowledged_txs[tx_hash] = (r["blockHash"], int(r["blockNumber"], 16))
                    served_receipts[tx_hash] = r
            assert receipt["status"] == "0x1"
            node.kill()  # SIGKILL while the streamer keeps the node busy sealing
            streamer.halt.set()
            streamer.join(timeout=30)
            node.start()
            numbers = sorted(acknowledged_blocks)
            blocks = _batch(node.url, "eth_getBlockByNumber", [[hex(n), False] for n in numbers])
            for number, block in zip(numbers, blocks):
                assert block is not None and block["hash"] == acknowledged_blocks[number], f"block {number} changed"
            hashes = list(acknowledged_txs)
            for tx_hash, r in zip(hashes, _batch(node.url, "eth_getTransactionReceipt", [[h] for h in hashes])):
                block_hash, number = acknowledged_txs[tx_hash]
                assert r is not None and r["blockHash"] == block_hash and int(r["blockNumber"], 16) == number
                assert r == served_receipts[tx_hash]
            # No block on disk lacks its index, whatever the moment of the kill: the blocks
            # committed after the last acknowledged one (the last of them possibly just before
            # the kill) serve every receipt.
            head = int(_rpc(node.url, "eth_blockNumber", []), 16)
            for number in range(max(checked_up_to, max(acknowledged_blocks)) + 1, head + 1):
                block = _rpc(node.url, "eth_getBlockByNumber", [hex(number), False])
                raw_receipts = _rpc(node.url, "debug_getRawReceipts", [hex(number)])
                assert len(raw_receipts) == len(block["transactions"])
                receipts = _batch(node.url, "eth_getTransactionReceipt", [[h] for h in block["transactions"]])
                assert [r["blockHash"] for r in receipts] == [block["hash"]] * len(receipts)
            checked_up_to = head
        # After all the kills the node still seals, and state written before the kills is intact.
        nonce = int(_rpc(node.url, "eth_getTransactionCount", [member["address"], "latest"]), 16)
        selector = keccak(text="get(bytes32)")[:4]
        first_key = (1).to_bytes(32, "big")
        stored = _rpc(node.url, "eth_call", [{"to": contract, "data": "0x" + (selector + first_key).hex()}, "latest"])
        assert int(stored[-64:], 16) == 1  # amount field of record #1
        final = Account.sign_transaction(
            {"to": contract, "data": keccak(text="record(bytes32,bytes32,uint256)")[:4] + b"\x01" * 96,
             "gas": 150_000, "gasPrice": 0, "nonce": nonce, "chainId": devnet.chain_id, "value": 0},
            member["private_key"])
        r = _wait_receipt(node.url, _rpc(node.url, "eth_sendRawTransaction", ["0x" + final.raw_transaction.hex()]))
        assert r["status"] == "0x1"
        assert int(r["blockNumber"], 16) > max(acknowledged_blocks)
        assert node.starts == ROUNDS + 1
    finally:
        node.stop()
