"""Benchmark: payload CIDs, stores and encryption, in MiB/s, side by side with the yardsticks.

1. CID of a >= 1 GiB file as a user runs it, process start included, in the same run and in turn
   (A B C A B C …): ``cityledger payload cid FILE`` vs ``openssl dgst -sha256 FILE`` (the sha2-256
   limit of this machine) vs Kubo ``ipfs add --only-hash`` with the same CID parameters. The CIDs of
   ours and Kubo's are compared.
2. Store and read back (every block verified) through the embedded store (fsync per block) and
   through a Kubo node (offline, loopback) via ``KuboStore``; Kubo's own ``ipfs cat`` (which our
   reader does not replace: it re-hashes nothing) for reference.
3. Encryption to an X25519 key (age): pyrage (Python) and the portal module under Node.js.

Medians of ``--runs`` runs. The file is page-cached before timing (a warm-up run), so the figures
are CPU-bound, as ``openssl`` is. Prints figures; asserts nothing.

    scripts/bench-payloads [--size-mib 1024] [--store-mib 256] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.payloads.embedded import EmbeddedStore  # noqa: E402
from gateway.payloads.encryption import decrypt_file, encrypt_file, generate_key_pair, write_key_file  # noqa: E402
from gateway.payloads.kubo import KuboStore  # noqa: E402

CLI = ROOT / ".venv" / "bin" / "cityledger"
KUBO = ROOT / ".tools" / "bin" / "ipfs"
NODE_HARNESS = ROOT / "tests" / "gateway" / "payloads" / "payload_crypto_node.mjs"
BENCH_DIR = ROOT / ".bench" / "payloads"
KUBO_FLAGS = ["--cid-version=1", "--raw-leaves", "--chunker=size-262144", "--max-file-links=174", "--hash=sha2-256"]


def make_file(path: Path, size: int) -> Path:
    if path.exists() and path.stat().st_size == size:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            block = os.urandom(min(left, 8 << 20))
            out.write(block)
            left -= len(block)
    return path


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return time.perf_counter() - start, result.stdout.strip()


def median_rate(seconds: list[float], mib: float) -> tuple[float, float]:
    med = statistics.median(seconds)
    return med, mib / med


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubo_repo(where: Path, port: int | None = None) -> dict[str, str]:
    env = {**os.environ, "IPFS_PATH": str(where)}
    subprocess.run([str(KUBO), "init", "--profile", "test", "--empty-repo"], env=env, check=True, capture_output=True)
    config = json.loads((where / "config").read_text())
    config["Addresses"].update({"API": f"/ip4/127.0.0.1/tcp/{port or 0}", "Gateway": [], "Swarm": []})
    config["Bootstrap"] = []
    (where / "config").write_text(json.dumps(config))
    return env


def bench_cid(path: Path, runs: int) -> None:
    mib = path.stat().st_size / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        env = kubo_repo(Path(tmp) / "repo")
        commands: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "cityledger payload cid": ([str(CLI), "payload", "cid", str(path)], None),
            "openssl dgst -sha256": (["openssl", "dgst", "-sha256", str(path)], None),
            f"ipfs add --only-hash (Kubo {kubo_version()})": (
                [str(KUBO), "add", "-Q", "--only-hash", *KUBO_FLAGS, str(path)], env),
        }
        times: dict[str, list[float]] = {name: [] for name in commands}
        outputs: dict[str, str] = {}
        for name, (command, cmd_env) in commands.items():  # warm-up: page cache, binaries
            outputs[name] = timed(command, cmd_env)[1]
        for _ in range(runs):
            for name, (command, cmd_env) in commands.items():
                times[name].append(timed(command, cmd_env)[0])
    ours, _, kubo = outputs.values()
    print(f"\n### CID of a {mib:,.0f} MiB file, whole process, median of {runs} (A B C in turn)\n")
    print(f"CIDs: ours {ours}, Kubo {kubo}: {'identical' if ours == kubo else 'DIFFERENT'}\n")
    print("| command | median s | MiB/s | vs openssl |")
    print("|---|---|---|---|")
    openssl = statistics.median(times["openssl dgst -sha256"])
    for name, seconds in times.items():
        med, rate = median_rate(seconds, mib)
        print(f"| `{name}` | {med:.3f} | {rate:,.0f} | {openssl / med:.2f}x |")


def bench_calls(label: str, mib: float, runs: int, calls: list[tuple[str, Callable[[], object]]]) -> None:
    times: dict[str, list[float]] = {name: [] for name, _ in calls}
    for _ in range(runs):
        for name, call in calls:
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    print(f"\n### {label} ({mib:,.0f} MiB, median of {runs})\n")
    print("| operation | median s | MiB/s |")
    print("|---|---|---|")
    for name, seconds in times.items():
        med, rate = median_rate(seconds, mib)
        print(f"| {name} | {med:.3f} | {rate:,.0f} |")


def bench_stores(path: Path, runs: int) -> None:
    size = path.stat().st_size
    mib = size / 2**20
    with tempfile.TemporaryDirectory(dir=BENCH_DIR) as tmp:
        port = free_port()
        env = kubo_repo(Path(tmp) / "repo", port)
        log = open(Path(tmp) / "kubo.log", "wb")
        daemon = subprocess.Popen([str(KUBO), "daemon", "--offline"], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            node = KuboStore(f"http://127.0.0.1:{port}", timeout=300, max_size=size)
            deadline = time.monotonic() + 60
            while True:
                try:
                    node.pins()
                    break
                except Exception:
                    if time.monotonic() > deadline or daemon.poll() is not None:
                        raise
                    time.sleep(0.05)  # polling for the daemon's API to open
            stores = Path(tmp) / "embedded"

            def embedded_put() -> None:
                shutil.rmtree(stores, ignore_errors=True)
                with path.open("rb") as source:
                    state["embedded"] = EmbeddedStore(stores, max_size=size).put(source)

            def embedded_get() -> None:
                for _ in EmbeddedStore(stores, max_size=size).stream(state["embedded"]):
                    pass

            def kubo_put() -> None:
                with path.open("rb") as source:
                    state["kubo"] = node.put(source)

            def kubo_get() -> None:
                for _ in node.stream(state["kubo"]):
                    pass

            def kubo_cat() -> None:
                subprocess.run([str(KUBO), "cat", state["kubo"]], env=env, stdout=subprocess.DEVNULL, check=True)

            state: dict[str, str] = {}
            embedded_put()
            kubo_put()
            bench_calls("Store and read back", mib, runs, [
                ("embedded `put` (staged, fsync per block, renamed)", embedded_put),
                ("embedded `stream` (every block re-hashed)", embedded_get),
                ("Kubo `put` (`KuboStore`, RPC `add`)", kubo_put),
                ("Kubo `stream` (`KuboStore`: `block/get` per block, re-hashed)", kubo_get),
                ("Kubo `ipfs cat` (reference: Kubo's own reader, no re-hash by us)", kubo_cat),
            ])
            print(f"\nSame CID through both stores: {state['embedded'] == state['kubo']}")
            node.close()
        finally:
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            log.close()


def bench_encryption(path: Path, runs: int) -> None:
    mib = path.stat().st_size / 2**20
    with tempfile.TemporaryDirectory(dir=BENCH_DIR) as tmp:
        work = Path(tmp)
        pair = generate_key_pair()
        write_key_file(pair, work / "member.key")
        node = ["node", str(NODE_HARNESS)]
        calls: list[tuple[str, Callable[[], object]]] = [
            ("encrypt, Python (pyrage `encrypt_file`)", lambda: encrypt_file(path, work / "py.age", pair.public_key)),
            ("decrypt, Python (pyrage `decrypt_file`, to a temp file, renamed)",
             lambda: decrypt_file(work / "py.age", work / "py.out", pair)),
        ]
        if shutil.which("node"):
            calls += [
                ("encrypt, Node.js (`payload-crypto.mjs`, streams; process start included)",
                 lambda: subprocess.run([*node, "encrypt", pair.public_key.hex(), str(path), str(work / "js.age")],
                                        check=True)),
                ("decrypt, Node.js (`payload-crypto.mjs`, streams; process start included)",
                 lambda: subprocess.run([*node, "decrypt", str(work / "member.key"), str(work / "js.age"),
                                         str(work / "js.out")], check=True)),
            ]
        encrypt_file(path, work / "py.age", pair.public_key)
        bench_calls("Encryption to an X25519 key (age)", mib, runs, calls)


def kubo_version() -> str:
    return subprocess.run([str(KUBO), "version", "-n"], capture_output=True, text=True).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="size of the CID benchmark file (MiB)")
    parser.add_argument("--store-mib", type=int, default=256, help="size of the store and encryption file (MiB)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (medians)")
    args = parser.parse_args()
    if not KUBO.exists():
        sys.exit(f"{KUBO} is missing: run scripts/install (it builds Kubo)")
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    print(f"payload benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, Kubo {kubo_version()}, "
          f"{subprocess.run(['openssl', 'version'], capture_output=True, text=True).stdout.strip()}")
    big = make_file(BENCH_DIR / f"random-{args.size_mib}MiB.bin", args.size_mib * 2**20)
    bench_cid(big, args.runs)
    small = make_file(BENCH_DIR / f"random-{args.store_mib}MiB.bin", args.store_mib * 2**20)
    bench_stores(small, max(1, min(args.runs, 3)))
    bench_encryption(small, max(1, min(args.runs, 3)))


if __name__ == "__main__":
    main()
