"""Benchmark: sustained sealed transactions per second through JSON-RPC, side by side with anvil.

Workload (identical for both nodes): N ``Recorder.record`` transactions (one struct written to
storage, one event), pre-signed by 8 member accounts, sent over JSON-RPC by 8 concurrent clients in
batches, with 1-second block time on both nodes. Reports, per node: sustained tx/s from the first
submission to the last transaction seen in a block, p50/p99 time from submission to inclusion, and
receipts per second: every receipt of the run fetched with ``eth_getTransactionReceipt`` in
JSON-RPC batches of 100 (what an indexer or a wallet waiting for receipts does).
CityLedger persists every block to disk (LMDB, fsync per block); anvil keeps state in memory.

With ``--cometbft`` the same workload also runs against a four-validator CometBFT network
(``scripts/testnet`` on loopback, every validator on this machine), sent to and observed on
validator 0: there a block seen on a node is final (committed by > 2/3 of the validators), so the
submission-to-inclusion times are times to finality.

    scripts/bench [--txs 3000] [--block-time 1] [--skip-anvil] [--cometbft]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from eth_account import Account
from eth_utils import keccak, to_checksum_address
import rlp

ROOT = Path(__file__).resolve().parents[1]
ANVIL = ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
SENDERS = 8
BATCH = 50
RECEIPT_BATCH = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Result:
    name: str
    txs: int
    seconds: float
    latencies: list[float]
    blocks: int
    receipts_per_second: float = 0.0

    @property
    def tps(self) -> float:
        return self.txs / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def rpc(client: httpx.AsyncClient, url: str, method: str, params: list[Any]) -> Any:
    answer = (await client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})).json()
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error']}")
    return answer["result"]


async def wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(timeout=2) as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"node exited with {proc.returncode}")
            try:
                await rpc(client, url, "eth_blockNumber", [])
                return
            except (httpx.HTTPError, RuntimeError):
                await asyncio.sleep(0.1)
    raise RuntimeError("node not ready")


def sign_workload(keys: list[str], chain_id: int, contract: str, total: int, first_nonce: dict[str, int]) -> list[list[tuple[str, str]]]:
    selector = keccak(text="record(bytes32,bytes32,uint256)")[:4]
    per_sender: list[list[tuple[str, str]]] = []
    for s, key in enumerate(keys):
        account = Account.from_key(key)
        txs = []
        for i in range(total // len(keys)):
            nonce = first_nonce[account.address] + i
            data = selector + (s * 1_000_000 + i).to_bytes(32, "big") + keccak(nonce.to_bytes(8, "big")) + i.to_bytes(32, "big")
            signed = Account.sign_transaction({"to": to_checksum_address(contract), "data": data, "gas": 150_000, "gasPrice": 0,
                                               "nonce": nonce, "chainId": chain_id, "value": 0}, key)
            txs.append(("0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()))
        per_sender.append(txs)
    return per_sender


async def deploy(url: str, key: str, chain_id: int) -> str:
    art = json.loads((ROOT / "contracts" / "artifacts" / "Recorder.json").read_text())
    account = Account.from_key(key)
    async with httpx.AsyncClient(timeout=30) as client:
        nonce = int(await rpc(client, url, "eth_getTransactionCount", [account.address, "pending"]), 16)
        signed = Account.sign_transaction({"data": art["bytecode"], "gas": 1_000_000, "gasPrice": 0, "nonce": nonce,
                                           "chainId": chain_id, "value": 0}, key)
        tx_hash = await rpc(client, url, "eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()])
        while (receipt := await rpc(client, url, "eth_getTransactionReceipt", [tx_hash])) is None:
            await asyncio.sleep(0.05)
        return str(receipt["contractAddress"])


async def run_workload(name: str, url: str, keys: list[str], chain_id: int, total: int) -> Result:
    contract = await deploy(url, keys[0], chain_id)
    async with httpx.AsyncClient(timeout=60) as client:
        nonces = {}
        for key in keys:
            address = Account.from_key(key).address
            nonces[address] = int(await rpc(client, url, "eth_getTransactionCount", [address, "pending"]), 16)
        start_block = int(await rpc(client, url, "eth_blockNumber", []), 16)
    workload = sign_workload(keys, chain_id, contract, total, nonces)
    sent_at: dict[str, float] = {}
    included_at: dict[str, float] = {}
    expected = sum(len(w) for w in workload)
    done = asyncio.Event()
    blocks_seen = 0

    async def sender(txs: list[tuple[str, str]]) -> None:
        async with httpx.AsyncClient(timeout=120) as client:
            for i in range(0, len(txs), BATCH):
                chunk = txs[i:i + BATCH]
                payload = [{"jsonrpc": "2.0", "id": j, "method": "eth_sendRawTransaction", "params": [raw]}
                           for j, (raw, _h) in enumerate(chunk)]
                now = time.perf_counter()
                for _raw, tx_hash in chunk:
                    sent_at[tx_hash] = now
                answers = (await client.post(url, json=payload)).json()
                errors = [a["error"] for a in answers if "error" in a]
                if errors:
                    raise RuntimeError(f"{name} refused transactions: {errors[:3]}")

    async def observer() -> None:
        nonlocal blocks_seen
        seen = start_block
        async with httpx.AsyncClient(timeout=60) as client:
            while len(included_at) < expected:
                head = int(await rpc(client, url, "eth_blockNumber", []), 16)
                for number in range(seen + 1, head + 1):
                    block = await rpc(client, url, "eth_getBlockByNumber", [hex(number), False])
                    now = time.perf_counter()
                    for tx_hash in block["transactions"]:
                        included_at.setdefault(tx_hash.lower(), now)
                    blocks_seen += 1
                seen = head
                await asyncio.sleep(0.02)
        done.set()

    t0 = time.perf_counter()
    obs = asyncio.create_task(observer())
    await asyncio.gather(*(sender(txs) for txs in workload))
    await asyncio.wait_for(obs, timeout=600)
    last = max(included_at.values())
    latencies = [included_at[h.lower()] - sent_at[h] for h in sent_at]
    result = Result(name, expected, last - t0, latencies, blocks_seen)
    result.receipts_per_second = await fetch_receipts(url, list(sent_at))
    return result


async def fetch_receipts(url: str, tx_hashes: list[str]) -> float:
    """Receipts per second: every receipt of the run, in JSON-RPC batches of 100, one client."""
    async with httpx.AsyncClient(timeout=600) as client:
        started = time.perf_counter()
        for i in range(0, len(tx_hashes), RECEIPT_BATCH):
            chunk = tx_hashes[i:i + RECEIPT_BATCH]
            answers = (await client.post(url, json=[
                {"jsonrpc": "2.0", "id": j, "method": "eth_getTransactionReceipt", "params": [h]}
                for j, h in enumerate(chunk)])).json()
            missing = [a for a in answers if not a.get("result")]
            if missing:
                raise RuntimeError(f"receipts missing: {missing[:3]}")
        return len(tx_hashes) / (time.perf_counter() - started)


async def bench_cityledger(total: int, block_time: float) -> Result:
    sys.path.insert(0, str(ROOT))
    from node.genesis_init import dev_genesis

    workdir = Path(tempfile.mkdtemp(prefix="cityledger-bench-"))
    genesis, dev_keys = dev_genesis(ROOT / "contracts" / "artifacts")
    genesis.dump(workdir / "genesis.json")
    (workdir / "dev-keys.json").write_text(json.dumps(dev_keys))
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "cityledger_cli", "node", "run", "--data-dir", str(workdir),
                             "--http", f"127.0.0.1:{port}", "--block-time", str(block_time)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=open(workdir / "node.log", "wb"))
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, proc)
        keys = [m["private_key"] for m in dev_keys["members"]][:SENDERS]
        return await run_workload("cityledger", url, keys, genesis.chain_id, total)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


async def bench_cometbft(total: int) -> Result:
    """The workload against validator 0 of a four-validator network (node.abci.testnet)."""
    sys.path.insert(0, str(ROOT))
    from node.abci.testnet import init_testnet, start, stop

    workdir = Path(tempfile.mkdtemp(prefix="cityledger-bench-bft-"))
    nodes = init_testnet(workdir, 4)
    try:
        start(workdir)
        dev_keys = json.loads((workdir / "dev-keys.json").read_text())
        keys = [m["private_key"] for m in dev_keys["members"]][:SENDERS]
        before = cpu_by_process(workdir)
        result = await run_workload("cityledger-bft4", nodes[0].url, keys, int(dev_keys["chainId"]), total)
        after = cpu_by_process(workdir)
        lines = [f"CPU seconds on the four validators during the run ({result.seconds:.1f} s on "
                 f"{os.cpu_count()} cores), by process kind:"]
        lines += [f"  {after[k] - before.get(k, 0.0):7.1f} s  {k}" for k in sorted(after, key=lambda k: before.get(k, 0.0) - after[k])]
        print("\n".join(lines), file=sys.stderr)
        return result
    finally:
        stop(workdir)


def cpu_by_process(workdir: Path) -> dict[str, float]:
    """Where the time goes on the network: CPU seconds (user + system) used so far by each kind
    of process of the four validators, read from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    totals: dict[str, float] = {}

    def walk(pid: int) -> None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            children = [int(c) for task in Path(f"/proc/{pid}/task").iterdir()
                        for c in (task / "children").read_text().split()]
        except OSError:
            return
        kind = ("ABCI application (CheckTx, proposals, execution, commit)" if "node.abci.main" in cmdline
                else "cometbft (consensus, p2p, mempool)" if "cometbft" in cmdline.split(" ")[0]
                else "JSON-RPC process (decode, sender recovery, broadcast_tx_sync)")
        totals[kind] = totals.get(kind, 0.0) + (int(stat[11]) + int(stat[12])) / ticks
        for child in children:
            walk(child)

    for pid_file in sorted(workdir.glob("node*/node.pid")):
        walk(int(pid_file.read_text()))
    return totals


async def bench_anvil(total: int, block_time: float) -> Result:
    port = free_port()
    proc = subprocess.Popen([str(ANVIL), "--port", str(port), "--block-time", str(int(max(1, block_time))),
                             "--gas-limit", "1000000000", "--hardfork", "prague", "--base-fee", "0",
                             "--chain-id", "31337", "--silent"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        await wait_ready(url, proc)
        keys = ["0x" + keccak(text=f"bench-sender-{i}").hex() for i in range(SENDERS)]
        return await run_workload("anvil", url, keys, 31337, total)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def report(results: list[Result]) -> str:
    lines = [f"{'node':<16} {'txs':>6} {'blocks':>6} {'tx/s':>8} {'p50 s':>7} {'p99 s':>7} {'receipts/s':>11}"]
    for r in results:
        lines.append(f"{r.name:<16} {r.txs:>6} {r.blocks:>6} {r.tps:>8.0f} {r.pct(50):>7.2f} {r.pct(99):>7.2f} "
                     f"{r.receipts_per_second:>11.0f}")
    by_name = {r.name: r for r in results}
    if "cityledger-bft4" in by_name and "cityledger" in by_name:
        bft, poa = by_name["cityledger-bft4"], by_name["cityledger"]
        lines.append(f"ratio bft4/single sealer: throughput {bft.tps / poa.tps:.2f}, "
                     f"p50 latency {bft.pct(50) / poa.pct(50):.2f}")
    if "anvil" in by_name and "cityledger" in by_name:
        ours, anvil = by_name["cityledger"], by_name["anvil"]
        lines.append(f"ratio cityledger/anvil: throughput {ours.tps / anvil.tps:.2f}, "
                     f"p50 latency {ours.pct(50) / anvil.pct(50):.2f}, "
                     f"receipts/s {ours.receipts_per_second / anvil.receipts_per_second:.2f}")
    return "\n".join(lines)


def main() -> int:
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--txs", type=int, default=3000)
    parser.add_argument("--block-time", type=float, default=1.0)
    parser.add_argument("--skip-anvil", action="store_true")
    parser.add_argument("--cometbft", action="store_true",
                        help="also run the workload on a four-validator CometBFT network (scripts/testnet)")
    args = parser.parse_args()
    results = [asyncio.run(bench_cityledger(args.txs, args.block_time))]
    if args.cometbft:
        results.append(asyncio.run(bench_cometbft(args.txs)))
    if not args.skip_anvil:
        results.append(asyncio.run(bench_anvil(args.txs, args.block_time)))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
