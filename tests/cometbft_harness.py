"""A four-validator CometBFT network of CityLedger nodes on loopback (``node.abci.testnet``), as
real processes, for the tests that need one (tests/node/test_cometbft.py, the gateway's and the
audit's evidence over a validator). Every wait polls with a deadline."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth_account import Account

from conftest import ROOT, NodeProcess

COMETBFT = ROOT / ".tools" / "bin" / "cometbft"
if not COMETBFT.exists():  # scripts/install builds it; a missing build fails the run, it is never skipped
    raise RuntimeError(f"CometBFT is not built at {COMETBFT}: run scripts/install (scripts/build-cometbft)")


class Network:
    def __init__(self, root: Path) -> None:
        from node.abci.testnet import init_testnet

        self.root = root
        self.specs = init_testnet(root, 4, timeout_commit="100ms", timeout_propose="1s", binary=COMETBFT)
        self.keys = json.loads((root / "dev-keys.json").read_text())
        #: The CometBFT genesis every validator shares: the trust anchor of commits.
        self.cometbft_genesis_path = Path(self.specs[0].home) / "config" / "genesis.json"
        self.cometbft_genesis = json.loads(self.cometbft_genesis_path.read_text())
        self.nodes = [NodeProcess(spec.run_args(), spec.http_port, None, root / f"node{spec.index}.log")
                      for spec in self.specs]
        self.nonces: dict[str, int] = {}

    def start_all(self) -> None:
        for node in self.nodes:
            node.start(timeout=120)

    def restart(self, index: int, extra: list[str] | None = None) -> None:
        node = self.nodes[index]
        node.stop()
        node.args = self.specs[index].run_args() + (extra or [])
        node.start(timeout=120)

    def stop_all(self) -> None:
        """SIGTERM to every node at once, then wait for each (``stop`` kills one that hangs)."""
        import signal

        for node in self.nodes:
            if node.proc is not None and node.proc.poll() is None:
                node.proc.send_signal(signal.SIGTERM)
        for node in self.nodes:
            node.stop()

    def chain_id(self) -> int:
        return int(self.keys["chainId"])

    def sign(self, member: int, count: int) -> list[bytes]:
        """``count`` signed transactions of member ``member`` with its next nonces."""
        account = Account.from_key(self.keys["members"][member]["private_key"])
        nonce = self.nonces.get(account.address)
        if nonce is None:
            nonce = int(self.nodes[0].rpc("eth_getTransactionCount", [account.address, "latest"]), 16)
        self.nonces[account.address] = nonce + count
        return [bytes(account.sign_transaction({
            "chainId": self.chain_id(), "nonce": nonce + i, "to": account.address, "value": 0, "gas": 21_000,
            "gasPrice": 0, "data": b""}).raw_transaction) for i in range(count)]

    @staticmethod
    def send(node: NodeProcess, raws: list[bytes]) -> list[str]:
        """One JSON-RPC batch (the node relays it to CometBFT in batches of 10)."""
        import httpx

        answers = httpx.post(node.url, json=[
            {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": ["0x" + raw.hex()]}
            for i, raw in enumerate(raws)], timeout=60).json()
        if isinstance(answers, dict):
            answers = [answers]
        by_id = {a["id"]: a for a in answers}
        assert all("result" in by_id[i] for i in range(len(raws))), answers
        return [str(by_id[i]["result"]) for i in range(len(raws))]


def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)  # polling interval, bounded by the deadline
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def receipts_on(nodes: list[NodeProcess], hashes: list[str]) -> bool:
    return all(node.rpc("eth_getTransactionReceipt", [hashes[-1]]) is not None for node in nodes) and all(
        nodes[0].rpc("eth_getTransactionReceipt", [h]) is not None for h in hashes)


def head(node: NodeProcess) -> int:
    return int(node.rpc("eth_blockNumber"), 16)


def block(node: NodeProcess, number: int) -> dict[str, Any]:
    found = node.rpc("eth_getBlockByNumber", [hex(number), False])
    assert found is not None, f"{node.url} has no block {number}"
    return dict(found)


def assert_identical(nodes: list[NodeProcess], up_to: int | None = None) -> int:
    """Every node holds the same blocks (hash and stateRoot) up to ``up_to`` (their common head)."""
    top = min(head(n) for n in nodes) if up_to is None else up_to
    for number in range(top + 1):
        seen = {(b["hash"], b["stateRoot"]) for b in (block(n, number) for n in nodes)}
        assert len(seen) == 1, f"nodes disagree at block {number}: {seen}"
    return top


@contextmanager
def running_network(root: Path) -> Iterator[Network]:
    """A started network under ``root``, stopped on exit."""
    network = Network(root)
    try:
        network.start_all()
        yield network
    finally:
        network.stop_all()
