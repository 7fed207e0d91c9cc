"""Gateway benchmark: verified answers per second and latency under 50 concurrent clients.

One run, on this machine, side by side:

* the ceiling — a constant JSON document of the same size, served by the same FastAPI/uvicorn
  setup (``scripts/bench_ceiling_app.py``: no database, no proof);
* ``GET /v1/trace/{receipt_code}`` — a donation traced through 11 custody events, each with its
  receipt proof checked by the gateway before it answers;
* ``GET /v1/credit/{uscc}`` — an enterprise's credit history with its proofs;

each twice: as served (a verified answer is kept until the index moves), and cold, from a second
gateway started with ``--answer-cache 0`` that builds and checks every answer afresh.

Load comes from ``wrk`` (Debian) in its own process, 2 threads and 50 connections for
``--seconds`` each. The public rate limit is off (``CITYLEDGER_PUBLIC_RATE_LIMIT=0``). Prints
requests per second, p50/p99 latency and each endpoint's ratio to the ceiling; asserts nothing.
Usage: ``scripts/bench-gateway [--seconds 10] [--connections 50]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the server exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)  # polling interval while the port opens
    raise RuntimeError(f"{url} did not answer")


class Member:
    """A development member signing its own transactions, sent to the node directly."""

    def __init__(self, node: str, key: str, chain_id: int, builder: Any) -> None:
        from gateway.client.transactions import Signer

        self.node, self.builder = node, builder
        self.signer = Signer(key, chain_id)

    def rpc(self, method: str, params: list[Any]) -> Any:
        answer = httpx.post(self.node, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params}, timeout=60).json()
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def send(self, contract: str, function: str, *args: Any) -> dict[str, Any]:
        to, data = self.builder.call(contract, function, list(args))
        nonce = int(self.rpc("eth_getTransactionCount", [self.signer.address, "pending"]), 16)
        tx_hash = self.rpc("eth_sendRawTransaction", ["0x" + self.signer.sign(to, data, nonce=nonce, gas=5_000_000).hex()])
        deadline = time.monotonic() + 60
        while (receipt := self.rpc("eth_getTransactionReceipt", [tx_hash])) is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no receipt for {tx_hash}")
            time.sleep(0.02)  # polling for our own receipt
        if receipt["status"] != "0x1":
            raise RuntimeError(f"{contract}.{function} reverted")
        return dict(receipt)


def scenario(node: str, keys: dict[str, Any], book_path: Path) -> tuple[str, str]:
    """A donation with 11 custody events and an enterprise with 4 credit entries; returns the
    receipt code and the USCC."""
    from eth_abi import encode as abi_encode
    from eth_hash.auto import keccak

    from gateway.client.transactions import TxBuilder
    from gateway.contracts import AddressBook, EventCodec
    from gateway.receipt_code import short_code

    book = AddressBook.load(book_path)
    builder = TxBuilder(ROOT / "contracts" / "artifacts", book)
    codec = EventCodec(ROOT / "contracts" / "artifacts", book)
    chain_id = int(keys["chainId"])
    by_name = {m["name"]: m for m in keys["members"]}

    def member(name: str) -> Member:
        return Member(node, next(m for n, m in by_name.items() if name in n)["private_key"], chain_id, builder)

    def event(receipt: dict[str, Any], name: str) -> dict[str, Any]:
        for log in receipt["logs"]:
            topics = tuple(bytes.fromhex(t[2:]) for t in log["topics"])
            abi = codec.lookup(bytes.fromhex(log["address"][2:]), topics)
            if abi is not None and abi.name == name:
                return abi.decode(topics, bytes.fromhex(log["data"][2:]))
        raise KeyError(name)

    ids = {m["name"]: m["id"] for m in keys["members"]}
    red_cross, warehouse, hospital = member("Red Cross"), member("Warehouse"), member("Hospital")
    r = red_cross.send("SupplyCustody", "registerLot", b"masks".ljust(32, b"\0"), 1000, b"box".ljust(32, b"\0"),
                       keccak(b"salt"), "Donor Co.", "bafkintake", 0)
    lot = event(r, "LotRegistered")
    code = short_code(bytes.fromhex(lot["receiptCode"][2:]))
    r = red_cross.send("SupplyCustody", "transfer", lot["lotId"], 600, ids["Central Relief Warehouse"])
    child = event(r, "LotSplit")["childLotId"]
    warehouse.send("SupplyCustody", "accept", event(r, "TransferSent")["transferId"], 590, "crushed boxes")
    r = warehouse.send("SupplyCustody", "transfer", child, 300, ids["First People's Hospital"])
    hospital.send("SupplyCustody", "refuse", event(r, "TransferSent")["transferId"], "wrong size")
    r = warehouse.send("SupplyCustody", "transfer", child, 200, ids["First People's Hospital"])
    hospital.send("SupplyCustody", "accept", event(r, "TransferSent")["transferId"], 200, "")
    hospital.send("SupplyCustody", "consume", event(r, "LotSplit")["childLotId"], 150, "bafkward")

    admins = [Member(node, a["private_key"], chain_id, builder) for a in keys["admins"][:2]]
    regulator = member("Market Supervision")
    r = admins[0].send("Credit", "propose", 0, abi_encode(["uint256", "uint8", "bool"], [ids[next(
        n for n in ids if "Market Supervision" in n)], 1, True]))
    admins[1].send("Credit", "approveProposal", event(r, "ProposalCreated")["proposalId"])
    uscc = "91350100M000100Y43"
    record = {"uscc": uscc, "category": 1, "severity": 2, "effectiveDate": 1_700_000_000, "expiryDate": 0,
              "amount": 5_000_000, "summaryHash": "0x" + keccak(b"summary").hex(), "evidenceCid": "bafkevidence"}
    for _ in range(3):
        r = regulator.send("Credit", "issue", record)
    entry = event(r, "EntryIssued")["entryId"]
    empty_leaf = {"issuerMemberId": 0, "category": 0, "indexInBatch": 0, "isPublic": False, "uscc": b"\0" * 18,
                  "severity": 0, "effectiveDate": 0, "expiryDate": 0, "amount": 0, "summaryHash": b"\0" * 32,
                  "evidenceCidHash": b"\0" * 32, "subjectTag": b"\0" * 32, "commitment": b"\0" * 32}
    regulator.send("Credit", "supersede", {"entryId": entry, "batchId": 0, "proof": [], "leaf": empty_leaf},
                   {**record, "amount": 2_000_000}, "amount reduced on review")
    return code, uscc


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                         capture_output=True, text=True, timeout=seconds + 60).stdout
    def latency(label: str) -> float:
        m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            return float("nan")
        return float(m[1]) * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[m[2]]
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if errors:
        raise RuntimeError(f"{url}: {errors[1]} error responses\n{out}")
    return {"rps": float(rps[1]) if rps else 0.0, "p50": latency("50"), "p99": latency("99")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10, help="wrk duration per endpoint")
    parser.add_argument("--connections", type=int, default=50, help="concurrent clients")
    args = parser.parse_args(argv)
    from node.genesis_init import dev_genesis

    work = Path(tempfile.mkdtemp(prefix="cityledger-bench-gw-"))
    genesis, keys = dev_genesis(ROOT / "contracts" / "artifacts")
    (work / "node").mkdir()
    genesis.dump(work / "node" / "genesis.json")
    (work / "node" / "dev-keys.json").write_text(json.dumps(keys))
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "CITYLEDGER_PUBLIC_RATE_LIMIT": "0"}
    procs: list[subprocess.Popen[bytes]] = []
    try:
        node_port = free_port()
        node = f"http://127.0.0.1:{node_port}"
        procs.append(subprocess.Popen([sys.executable, "-m", "cityledger_cli", "node", "run", "--data-dir",
                                       str(work / "node"), "--http", f"127.0.0.1:{node_port}", "--block-time", "0.05"],
                                      cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(work / "node.log", "wb")))
        wait_http(node, procs[-1])
        from scripts.deploy_contracts import Rpc, from_genesis

        book_path = work / "addressbook.json"
        book_path.write_text(json.dumps(from_genesis(Rpc(node), work / "node" / "genesis.json")))
        code, uscc = scenario(node, keys, book_path)
        head = int(Member(node, keys["admins"][0]["private_key"], 1, None).rpc("eth_blockNumber", []), 16)
        gateways = []
        for name, extra in (("gw", []), ("gw-cold", ["--answer-cache", "0"])):
            gw_port = free_port()
            url = f"http://127.0.0.1:{gw_port}"
            procs.append(subprocess.Popen([sys.executable, "-m", "cityledger_cli", "gateway", "run", "--rpc", node,
                                           "--data-dir", str(work / name), "--addressbook", str(book_path),
                                           "--listen", f"127.0.0.1:{gw_port}", *extra],
                                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                          stderr=open(work / f"{name}.log", "wb")))
            wait_http(url + "/v1/status", procs[-1])
            while httpx.get(url + "/v1/status").json()["indexedHeight"] < head:
                time.sleep(0.05)  # polling the gateway's progress
            gateways.append(url)
        gateway, cold = gateways
        trace = httpx.get(f"{gateway}/v1/trace/{code}").json()
        credit = httpx.get(f"{gateway}/v1/credit/{uscc}").json()
        assert trace["verified"] and credit["verified"], "the gateway's own check failed"
        document = work / "ceiling.json"
        document.write_text(json.dumps(trace))
        ceiling_port = free_port()
        procs.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "scripts.bench_ceiling_app:app", "--host",
                                       "127.0.0.1", "--port", str(ceiling_port), "--log-level", "warning"],
                                      cwd=ROOT, env={**env, "CITYLEDGER_CEILING_DOCUMENT": str(document)},
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        ceiling = f"http://127.0.0.1:{ceiling_port}/constant"
        wait_http(ceiling, procs[-1])
        sizes = {"ceiling": len(httpx.get(ceiling).content), "trace": len(httpx.get(f"{gateway}/v1/trace/{code}").content),
                 "credit": len(httpx.get(f"{gateway}/v1/credit/{uscc}").content)}
        results = {
            "ceiling (constant JSON)": ("ceiling", wrk(ceiling, args.seconds, args.connections)),
            f"/v1/trace/{{code}} ({len(trace['events'])} events)": ("trace", wrk(f"{gateway}/v1/trace/{code}", args.seconds, args.connections)),
            f"/v1/credit/{{uscc}} ({len(credit['entries'])} entries)": ("credit", wrk(f"{gateway}/v1/credit/{uscc}", args.seconds, args.connections)),
            "/v1/trace/{code}, cold": ("trace", wrk(f"{cold}/v1/trace/{code}", args.seconds, args.connections)),
            "/v1/credit/{uscc}, cold": ("credit", wrk(f"{cold}/v1/credit/{uscc}", args.seconds, args.connections)),
        }
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
    top = results["ceiling (constant JSON)"][1]["rps"]
    print(f"wrk -t2 -c{args.connections} -d{args.seconds}s on {os.cpu_count()} cores; public rate limit off")
    print(f"{'endpoint':<34} {'bytes':>7} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'x ceiling':>10}")
    for label, (kind, r) in results.items():
        print(f"{label:<34} {sizes[kind]:>7} {r['rps']:>8.0f} {r['p50']:>8.1f} {r['p99']:>8.1f} {r['rps'] / top:>10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
