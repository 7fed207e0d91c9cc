"""Verifying replicas: catch up from genesis, follow live, survive restarts and upstream outages,
and refuse blocks with a forged seal, an altered state root or a non-member's transaction."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth.abc import BlockHeaderAPI, ComputationAPI, ReceiptAPI, SignedTransactionAPI
from eth.chains.base import Chain
from eth.vm.forks.prague import PragueVM
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak, to_checksum_address

from conftest import DevNet, NodeProcess, artifact, free_port, replica_process, sealer_process
from node.chain import LedgerChain
from node.consensus import CityLedgerVM, seal_header
from node.genesis import load_genesis
from node.kv import MemoryKV


def wait_for(condition: Callable[[], Any], timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)  # polling interval of a bounded wait, not synchronisation by sleeping
    raise AssertionError(f"timed out waiting for {what}")


def send_records(node: NodeProcess, devnet: DevNet, count: int, via: NodeProcess | None = None) -> list[str]:
    """Deploy (first call) or reuse a Recorder and send ``count`` record transactions."""
    member = devnet.member(2)
    target = via or node
    nonce = int(node.rpc("eth_getTransactionCount", [member["address"], "pending"]), 16)
    hashes = []
    for i in range(count):
        tx: dict[str, Any] = {"gas": 1_000_000, "gasPrice": 0, "value": 0, "nonce": nonce + i,
                              "chainId": devnet.chain_id}
        if nonce + i == 0:
            tx["data"] = artifact("Recorder")["bytecode"]
        else:
            contract = to_checksum_address(keccak(rlp.encode([bytes.fromhex(member["address"][2:]), 0]))[12:])
            tx["to"] = contract
            tx["data"] = (keccak(text="record(bytes32,bytes32,uint256)")[:4]
                          + (nonce + i).to_bytes(32, "big") + b"\x01" * 32 + (nonce + i).to_bytes(32, "big"))
        raw = Account.sign_transaction(tx, member["private_key"]).raw_transaction
        hashes.append(target.rpc("eth_sendRawTransaction", ["0x" + raw.hex()]))
    wait_for(lambda: node.rpc("eth_getTransactionReceipt", [hashes[-1]]), what="receipt")
    return hashes


def same_chain(a: NodeProcess, b: NodeProcess) -> bool:
    head = int(a.rpc("eth_blockNumber"), 16)
    if int(b.rpc("eth_blockNumber"), 16) != head:
        return False
    ba = a.rpc("eth_getBlockByNumber", [hex(head), False])
    bb = b.rpc("eth_getBlockByNumber", [hex(head), False])
    return bool(ba["hash"] == bb["hash"] and ba["stateRoot"] == bb["stateRoot"])


@pytest.mark.slow
def test_replica_catches_up_follows_live_and_survives_outages(devnet: DevNet, tmp_path: Path) -> None:
    sealer = sealer_process(devnet, block_time=0.1, ws=False).start()
    replica = replica_process(devnet, tmp_path / "replica", sealer.url)
    try:
        send_records(sealer, devnet, 1)
        send_records(sealer, devnet, 20)
        replica.start()
        wait_for(lambda: same_chain(sealer, replica), what="replica to catch up from genesis")
        # Live: writes sent to the replica are forwarded upstream and come back verified.
        hashes = send_records(sealer, devnet, 5, via=replica)
        wait_for(lambda: replica.rpc("eth_getTransactionReceipt", [hashes[-1]]), what="forwarded tx")
        receipt = replica.rpc("eth_getTransactionReceipt", [hashes[-1]])
        assert receipt == sealer.rpc("eth_getTransactionReceipt", [hashes[-1]])
        # Restart: the replica resumes from its own disk and catches up what it missed.
        replica.stop()
        send_records(sealer, devnet, 5)
        replica.start()
        wait_for(lambda: same_chain(sealer, replica), what="replica to catch up after restart")
        # Upstream outage: the replica keeps serving what it verified, then catches up.
        sealer.stop()
        head = int(replica.rpc("eth_blockNumber"), 16)
        assert replica.rpc("eth_getBlockByNumber", [hex(head), False]) is not None
        status = wait_for(lambda: replica.rpc("cityledger_status")["upstreamError"] and replica.rpc("cityledger_status"),
                          what="replica to notice the outage")
        assert status["role"] == "replica"
        sealer.start()
        send_records(sealer, devnet, 3)
        wait_for(lambda: same_chain(sealer, replica), what="replica to catch up after the outage")
        assert replica.rpc("cityledger_status")["upstreamError"] is None
    finally:
        replica.stop()
        sealer.stop()


class FakeUpstream:
    """A JSON-RPC server that serves raw blocks the test crafted: the replica under test is real,
    only its upstream is replaced so that it can be handed bad blocks."""

    def __init__(self, blocks: list[bytes]) -> None:
        self.blocks = blocks  # blocks[i] is block number i + 1
        self.port = free_port()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                requests = body if isinstance(body, list) else [body]
                answers = [outer.answer(r) for r in requests]
                data = json.dumps(answers if isinstance(body, list) else answers[0]).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        method, params = request["method"], request.get("params", [])
        if method == "eth_blockNumber":
            result: Any = hex(len(self.blocks))
        elif method == "debug_getRawBlock":
            number = int(params[0], 16)
            result = "0x" + self.blocks[number - 1].hex() if 1 <= number <= len(self.blocks) else None
        else:
            return {"jsonrpc": "2.0", "id": request["id"], "error": {"code": -32601, "message": method}}
        return {"jsonrpc": "2.0", "id": request["id"], "result": result}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PermissiveVM(CityLedgerVM):
    """A VM for a *malicious* sealer: it skips the membership check when building."""

    def apply_transaction(
        self, header: BlockHeaderAPI, transaction: SignedTransactionAPI
    ) -> tuple[ReceiptAPI, ComputationAPI]:
        return PragueVM.apply_transaction(self, header, transaction)  # type: ignore[no-any-return]


def _signed(devnet: DevNet, key: str, nonce: int, data: bytes) -> SignedTransactionAPI:
    raw = Account.sign_transaction({"data": data, "gas": 1_000_000, "gasPrice": 0, "value": 0,
                                    "nonce": nonce, "chainId": devnet.chain_id}, key).raw_transaction
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder

    return PragueTransactionBuilder.decode(bytes(raw))


@pytest.fixture
def honest_block(devnet: DevNet) -> tuple[LedgerChain, bytes]:
    """Block 1 of the devnet built in memory (MemoryKV: an in-memory store, for this test only)."""
    chain = LedgerChain(MemoryKV(), load_genesis(devnet.genesis_path))
    sealer = keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:]))
    tx = _signed(devnet, devnet.member(0)["private_key"], 0, bytes.fromhex(artifact("Recorder")["bytecode"][2:]))
    built = chain.build_block([tx], int(time.time()), sealer)
    return chain, bytes(rlp.encode(built.block))


def _reseal(chain: LedgerChain, raw: bytes, key: keys.PrivateKey, **changes: Any) -> bytes:
    block = chain.decode_block(raw)
    header = block.header.copy(extra_data=block.header.extra_data[:32], **changes)
    return bytes(rlp.encode(block.copy(header=seal_header(header, key))))


def _malicious_block(devnet: DevNet) -> bytes:
    chain = LedgerChain(MemoryKV(), load_genesis(devnet.genesis_path))
    vm_class = PermissiveVM.configure(__name__="PermissiveVM", registry_address=chain.genesis.registry.address)
    chain.vm_class = vm_class
    chain.chain_class = Chain.configure(vm_configuration=((0, vm_class),), chain_id=devnet.chain_id)
    stranger = Account.create()
    tx = _signed(devnet, stranger.key.hex(), 0, bytes.fromhex(artifact("Recorder")["bytecode"][2:]))
    sealer = keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:]))
    built = chain.build_block([tx], int(time.time()), sealer)
    assert len(built.block.transactions) == 1  # the malicious sealer did include it
    return bytes(rlp.encode(built.block))


@pytest.fixture
def replica_on_fake(devnet: DevNet, tmp_path: Path) -> Iterator[tuple[FakeUpstream, NodeProcess]]:
    upstream = FakeUpstream([])
    replica = replica_process(devnet, tmp_path / "replica", upstream.url).start()
    try:
        yield upstream, replica
    finally:
        replica.stop()
        upstream.close()


def _refusal(replica: NodeProcess) -> dict[str, Any]:
    status = wait_for(lambda: replica.rpc("cityledger_status")["rejected"] and replica.rpc("cityledger_status"),
                      what="the replica to refuse the block")
    assert status["head"] == 0
    return status["rejected"]  # type: ignore[no-any-return]


@pytest.mark.parametrize("case", ["forged seal", "altered state root", "non-member transaction"])
def test_replica_refuses_bad_blocks_and_accepts_the_honest_one(
    case: str, devnet: DevNet, honest_block: tuple[LedgerChain, bytes],
    replica_on_fake: tuple[FakeUpstream, NodeProcess],
) -> None:
    chain, good = honest_block
    upstream, replica = replica_on_fake
    sealer = keys.PrivateKey(bytes.fromhex(devnet.sealer_key[2:]))
    if case == "forged seal":
        bad, check = _reseal(chain, good, keys.PrivateKey(b"\x42" * 32)), "seal"
    elif case == "altered state root":
        bad, check = _reseal(chain, good, sealer, state_root=b"\x13" * 32), "state root"
    else:
        bad, check = _malicious_block(devnet), "sender membership"
    upstream.blocks = [bad]
    rejected = _refusal(replica)
    assert rejected["number"] == 1 and rejected["check"] == check
    assert f"REFUSED block 1: {check}" in replica.log()
    assert replica.rpc("eth_getBlockByNumber", ["0x1", False]) is None
    # Once the upstream serves the honest block, the replica verifies and accepts it.
    upstream.blocks = [good]
    wait_for(lambda: int(replica.rpc("eth_blockNumber"), 16) == 1, what="the honest block")
    assert replica.rpc("eth_getBlockByNumber", ["0x1", False])["hash"] == "0x" + keccak(
        rlp.encode(chain.decode_block(good).header)).hex()
    assert replica.rpc("cityledger_status")["rejected"] is None
