"""Benchmark: ``cityledger audit run`` (every block re-executed by go-ethereum's ``evm t8n``, every
rule re-checked) side by side with the node's own verifying replica (``cityledger node follow``,
py-evm) on the same chain, in the same run.

Two chains, each sealed by a real node from pre-signed transactions of the development members:

* **demo-like**: governance (an issuer authorised by two admins), datasets, a donated lot split,
  sent, accepted short, refused, accepted and consumed, credit entries — a few dozen transactions;
* **large**: at least 10,000 transactions (lots registered by the charity, datasets by two
  departments, credit entries by the regulator), sent in batches so blocks hold hundreds.

For each chain, once the sealer is idle: the audit's wall time (process start included) and the
replica's (process start to the head verified), as blocks and transactions per second, and their
ratio. Usage::

    scripts/bench-audit [--large 10000] [--block-time 1]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_utils import keccak, to_checksum_address

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scripts.contract_driver import CREDIT, CUSTODY, DATA, REGISTRY, payload  # noqa: E402

REGISTRY_ADDRESS = "0x00000000000000000000000000000000c1700001"
DATA_ADDRESS = "0x00000000000000000000000000000000c1700002"
CUSTODY_ADDRESS = "0x00000000000000000000000000000000c1700003"
CREDIT_ADDRESS = "0x00000000000000000000000000000000c1700004"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Chain:
    """A development node process and a JSON-RPC client."""

    def __init__(self, workdir: Path, block_time: float) -> None:
        from node.genesis_init import dev_genesis

        self.workdir = workdir
        genesis, self.keys = dev_genesis(ROOT / "contracts" / "artifacts")
        genesis.dump(workdir / "genesis.json")
        (workdir / "dev-keys.json").write_text(json.dumps(self.keys))
        self.chain_id = genesis.chain_id
        self.url = f"http://127.0.0.1:{free_port()}"
        self.proc = subprocess.Popen([sys.executable, "-m", "cityledger_cli", "node", "run", "--data-dir", str(workdir),
                                      "--http", self.url[7:], "--block-time", str(block_time)], cwd=ROOT,
                                     stdout=subprocess.DEVNULL, stderr=open(workdir / "node.log", "wb"))
        self.client = httpx.Client(timeout=120)
        wait_ready(self.url, self.proc)
        self.nonces: dict[str, int] = {}

    def rpc(self, method: str, params: list[Any]) -> Any:
        answer = self.client.post(self.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def member(self, kind: str) -> dict[str, Any]:
        return next(m for m in self.keys["members"] if m["kind"] == kind)

    def sign(self, key: str, to: str, data: bytes, gas: int = 3_000_000) -> tuple[str, str]:
        address = Account.from_key(key).address
        if address not in self.nonces:
            self.nonces[address] = int(self.rpc("eth_getTransactionCount", [address, "pending"]), 16)
        nonce = self.nonces[address]
        self.nonces[address] += 1
        signed = Account.sign_transaction({"type": 2, "chainId": self.chain_id, "nonce": nonce, "to": to_checksum_address(to),
                                           "data": data, "value": 0, "gas": gas, "maxFeePerGas": 0,
                                           "maxPriorityFeePerGas": 0}, key)
        return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()

    def send(self, key: str, to: str, data: bytes) -> dict[str, Any]:
        raw, tx_hash = self.sign(key, to, data)
        self.rpc("eth_sendRawTransaction", [raw])
        deadline = time.monotonic() + 60
        while (receipt := self.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(tx_hash)
            time.sleep(0.01)  # polling for our own receipt, with a deadline
        assert receipt["status"] == "0x1", receipt
        return dict(receipt)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the node exited")
        try:
            httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)  # polling while the port opens, with a deadline
    raise RuntimeError("the node did not start")


def _b32(text: str) -> bytes:
    return text.encode().ljust(32, b"\0")


def demo_workload(chain: Chain) -> None:
    """Governance, data sharing, a custody flow with a short delivery, credit entries."""
    admins = chain.keys["admins"]
    regulator, charity = chain.member("regulator"), chain.member("charity")
    warehouse, hospital = chain.member("warehouse"), chain.member("hospital")
    departments = [m for m in chain.keys["members"] if m["kind"] == "department"]
    chain.send(admins[0]["private_key"], CREDIT_ADDRESS,
               CREDIT.encode("propose", 0, payload(["uint256", "uint8", "bool"], regulator["id"], 1, True)))
    chain.send(admins[1]["private_key"], CREDIT_ADDRESS, CREDIT.encode("approveProposal", 1))
    for department in departments:
        chain.send(department["private_key"], DATA_ADDRESS, DATA.encode("registerDataset", "Travel records", 1, "bafkschema"))
    chain.send(charity["private_key"], CUSTODY_ADDRESS, CUSTODY.encode(
        "registerLot", _b32("GTIN:06901234567892"), 1000, _b32("piece"), keccak(b"salt|Donor"), "Donor Co.", "bafkintake", 1_900_000_000))
    chain.send(charity["private_key"], CUSTODY_ADDRESS, CUSTODY.encode("transfer", 1, 600, warehouse["id"]))
    chain.send(warehouse["private_key"], CUSTODY_ADDRESS, CUSTODY.encode("accept", 1, 590, "10 boxes crushed"))
    chain.send(warehouse["private_key"], CUSTODY_ADDRESS, CUSTODY.encode("transfer", 2, 300, hospital["id"]))
    chain.send(hospital["private_key"], CUSTODY_ADDRESS, CUSTODY.encode("refuse", 2, "Wrong size"))
    chain.send(warehouse["private_key"], CUSTODY_ADDRESS, CUSTODY.encode("transfer", 2, 200, hospital["id"]))
    chain.send(hospital["private_key"], CUSTODY_ADDRESS, CUSTODY.encode("accept", 3, 200, ""))
    chain.send(hospital["private_key"], CUSTODY_ADDRESS, CUSTODY.encode("consume", 4, 150, "bafkward"))
    for i in range(3):
        chain.send(regulator["private_key"], CREDIT_ADDRESS, CREDIT.encode("issue", _entry(i)))


def _entry(i: int) -> dict[str, Any]:
    return {"uscc": "91350100M000100Y43", "category": 1, "severity": 2, "effectiveDate": 1_700_000_000 + i,
            "expiryDate": 0, "amount": 1000 + i, "summaryHash": keccak(f"summary {i}".encode()), "evidenceCid": "bafkevidence"}


def large_workload(chain: Chain, total: int) -> None:
    """About ``total`` transactions from the charity, every department and the regulator at once,
    pre-signed, sent in batches of 200."""
    charity, regulator = chain.member("charity"), chain.member("regulator")
    departments = [m for m in chain.keys["members"] if m["kind"] == "department"]
    per = total // (len(departments) + 2) + 1  # one stream per department, the charity's and the regulator's
    streams = [[chain.sign(charity["private_key"], CUSTODY_ADDRESS, CUSTODY.encode(
        "registerLot", _b32("GTIN:06901234567892"), 100 + i, _b32("piece"), keccak(i.to_bytes(8, "big")), "", "bafkintake",
        1_900_000_000)) for i in range(per)]]
    for department in departments:
        streams.append([chain.sign(department["private_key"], DATA_ADDRESS, DATA.encode("registerDataset", f"Dataset {i}", 1, "bafkschema"))
                        for i in range(per)])
    streams.append([chain.sign(regulator["private_key"], CREDIT_ADDRESS, CREDIT.encode("issue", _entry(i))) for i in range(per)])

    def send(stream: list[tuple[str, str]]) -> None:
        client = httpx.Client(timeout=300)
        for i in range(0, len(stream), 200):
            answers = client.post(chain.url, json=[{"jsonrpc": "2.0", "id": j, "method": "eth_sendRawTransaction", "params": [raw]}
                                                   for j, (raw, _) in enumerate(stream[i:i + 200])]).json()
            errors = [a["error"] for a in answers if "error" in a]
            if errors:
                raise RuntimeError(errors[:3])

    threads = [threading.Thread(target=send, args=(s,)) for s in streams]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    last = [s[-1][1] for s in streams]
    deadline = time.monotonic() + 1800
    while not all(chain.rpc("eth_getTransactionReceipt", [h]) for h in last):
        if time.monotonic() > deadline:
            raise TimeoutError("the workload was not sealed")
        time.sleep(0.5)  # polling the sealer's progress, with a deadline


def time_audit(chain: Chain, out: Path) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    process = subprocess.run([sys.executable, "-m", "cityledger_cli", "audit", "run", "--rpc", chain.url, "--out", str(out),
                              "--quiet"], cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    report = json.loads((out / "report.json").read_text())
    if process.returncode != 0:
        raise RuntimeError(process.stdout + process.stderr)
    return elapsed, report


def time_replica(chain: Chain, workdir: Path, head: int) -> float:
    data = workdir / "replica"
    data.mkdir()
    url = f"http://127.0.0.1:{free_port()}"
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "cityledger_cli", "node", "follow", "--data-dir", str(data), "--genesis",
                             str(chain.workdir / "genesis.json"), "--upstream", chain.url, "--http", url[7:]], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=open(workdir / "replica.log", "wb"))
    try:
        client = httpx.Client(timeout=10)
        while True:
            try:
                reached = int(client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}).json()["result"], 16)
            except (httpx.HTTPError, KeyError, ValueError):
                reached = -1
            if reached >= head:
                return time.perf_counter() - started
            if proc.poll() is not None:
                raise RuntimeError("the replica exited")
            time.sleep(0.02)  # polling the replica's head; the measured interval ends at the first answer at head
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def bench(name: str, build: Any, block_time: float) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"cityledger-bench-audit-{name}-"))
    (workdir / "node").mkdir()
    chain = Chain(workdir / "node", block_time)
    try:
        build(chain)
        head = int(chain.rpc("eth_blockNumber", []), 16)
        audit_seconds, report = time_audit(chain, workdir / "audit")
        replica_seconds = time_replica(chain, workdir, head)
    finally:
        chain.stop()
    txs = report["chain"]["transactions"]
    return {"chain": name, "blocks": head, "transactions": txs, "audit_s": audit_seconds, "replica_s": replica_seconds,
            "executor": report["executor"]["name"], "violations": report["summary"]["violations"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", type=int, default=10_000, help="transactions on the large chain")
    parser.add_argument("--block-time", type=float, default=1.0, help="the sealer's block time for the large chain")
    args = parser.parse_args(argv)
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    rows = [bench("demo-like", demo_workload, 0.05), bench("large", lambda c: large_workload(c, args.large), args.block_time)]
    print("| chain | blocks | txs | audit s | audit blocks/s | audit tx/s | replica s | replica blocks/s | replica tx/s | audit / replica |")
    print("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        print(f"| {r['chain']} | {r['blocks']:,} | {r['transactions']:,} | {r['audit_s']:.2f} | {r['blocks'] / r['audit_s']:.1f} | "
              f"{r['transactions'] / r['audit_s']:,.0f} | {r['replica_s']:.2f} | {r['blocks'] / r['replica_s']:.1f} | "
              f"{r['transactions'] / r['replica_s']:,.0f} | {r['replica_s'] / r['audit_s']:.2f}× |")
    print(f"executor: {rows[0]['executor']}; violations found: {[r['violations'] for r in rows]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
