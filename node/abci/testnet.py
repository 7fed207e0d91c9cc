"""A CometBFT network of CityLedger validators on loopback (``scripts/testnet``).

``init DIR`` writes a development chain (``DIR/genesis.json``, ``DIR/dev-keys.json``, as
``node init --dev``) unless one is there, then for each validator ``DIR/nodeI/`` with the same
genesis and a CometBFT home ``DIR/nodeI/cometbft`` (``cometbft init`` for its keys, then one
shared CometBFT genesis and per-node ports on 127.0.0.1), and ``DIR/testnet.json`` listing the
nodes and their ports. ``start DIR`` runs every ``cityledger node run --consensus cometbft`` in
the background (pids in ``DIR/nodeI/node.pid``, logs beside them) and waits for their JSON-RPC;
``stop DIR`` stops them.

The CometBFT genesis is derived from ours: its ``app_hash`` is our genesis block's hash (what
``InitChain`` answers), and its ``app_state`` names that hash and maps each validator's address to
the Ethereum address that becomes its coinbase (validator 0: the development sealer; 1..: the
development admins, accounts of admin-kind members in the registry). Every validator has the same
voting power, so any 3 of 4 make a quorum (> 2/3).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
COMETBFT_CHAIN_ID = "cityledger-testnet"


@dataclass(frozen=True)
class TestnetNode:
    """One validator of the network and where it listens."""

    index: int
    data_dir: str
    home: str
    http_port: int
    rpc_port: int
    p2p_port: int
    abci_port: int
    validator_address: str
    coinbase: str
    node_id: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def run_args(self) -> list[str]:
        """``cityledger`` arguments that run this validator."""
        return ["node", "run", "--consensus", "cometbft", "--data-dir", self.data_dir, "--cometbft-home",
                self.home, "--http", f"127.0.0.1:{self.http_port}"]


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def cometbft_binary() -> Path:
    local = ROOT / ".tools" / "bin" / "cometbft"
    found = local if local.exists() else shutil.which("cometbft")
    if found is None:
        raise SystemExit("no cometbft binary: run scripts/build-cometbft")
    return Path(found)


def _set(config: str, section: str | None, key: str, value: str) -> str:
    """Replace ``key = …`` in ``[section]`` (None: the top, before any section) of config.toml."""
    start = 0
    if section is not None:
        match = re.search(rf"^\[{re.escape(section)}\]$", config, re.M)
        if match is None:
            raise ValueError(f"config.toml has no [{section}]")
        start = match.end()
    following = re.search(r"^\[", config[start:], re.M)
    end = start + following.start() if following else len(config)
    body, count = re.subn(rf"^{re.escape(key)} = .*$", f"{key} = {value}", config[start:end], count=1, flags=re.M)
    if count != 1:
        raise ValueError(f"config.toml has no {key} in [{section}]")
    return config[:start] + body + config[end:]


def init_testnet(root: Path, validators: int = 4, *, timeout_commit: str = "200ms",
                 timeout_propose: str = "1s", binary: Path | None = None) -> list[TestnetNode]:
    """Write the network's files under ``root`` (see the module docstring); returns its nodes."""
    from node.chain import build_genesis_header
    from node.consensus import CityLedgerVM
    from node.genesis import load_genesis

    binary = binary or cometbft_binary()
    root.mkdir(parents=True, exist_ok=True)
    genesis_path = root / "genesis.json"
    if not genesis_path.exists():
        from node.genesis_init import dev_genesis

        genesis, dev_keys = dev_genesis(ROOT / "contracts" / "artifacts")
        genesis.dump(genesis_path)
        fd = os.open(root / "dev-keys.json", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(dev_keys, fh, indent=2)
    genesis = load_genesis(genesis_path)
    vm_class = CityLedgerVM.configure(__name__="CityLedgerVM", registry_address=genesis.registry.address)
    genesis_hash = bytes(build_genesis_header(genesis, vm_class).hash)
    coinbases: list[str] = []
    keys_path = root / "dev-keys.json"
    if keys_path.exists():
        doc = json.loads(keys_path.read_text())
        coinbases = [doc["sealer"]["address"]] + [a["address"] for a in doc.get("admins", [])]

    nodes: list[TestnetNode] = []
    pubkeys: list[dict[str, Any]] = []
    for i in range(validators):
        data_dir = root / f"node{i}"
        home = data_dir / "cometbft"
        if home.exists():
            shutil.rmtree(home)
        data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(genesis_path, data_dir / "genesis.json")
        subprocess.run([str(binary), "init", "--home", str(home)], check=True, capture_output=True)
        key = json.loads((home / "config" / "priv_validator_key.json").read_text())
        node_id = subprocess.run([str(binary), "show-node-id", "--home", str(home)], check=True,
                                 capture_output=True, text=True).stdout.strip()
        http_port, rpc_port, p2p_port, abci_port = free_ports(4)
        coinbase = coinbases[i] if i < len(coinbases) else "0x" + "00" * 20
        nodes.append(TestnetNode(i, str(data_dir), str(home), http_port, rpc_port, p2p_port, abci_port,
                                 key["address"], coinbase, node_id))
        pubkeys.append(key["pub_key"])

    template = json.loads((Path(nodes[0].home) / "config" / "genesis.json").read_text())
    cometbft_genesis = {
        "genesis_time": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "chain_id": COMETBFT_CHAIN_ID,
        "initial_height": "1",
        "consensus_params": template["consensus_params"],
        "validators": [{"address": n.validator_address, "pub_key": pk, "power": "10", "name": f"node{n.index}"}
                       for n, pk in zip(nodes, pubkeys)],
        "app_hash": genesis_hash.hex().upper(),
        "app_state": {"genesisHash": "0x" + genesis_hash.hex(),
                      "proposers": {n.validator_address: n.coinbase for n in nodes}},
    }
    peers = ",".join(f"{n.node_id}@127.0.0.1:{n.p2p_port}" for n in nodes)
    for n in nodes:
        config_dir = Path(n.home) / "config"
        (config_dir / "genesis.json").write_text(json.dumps(cometbft_genesis, indent=2))
        config = (config_dir / "config.toml").read_text()
        for section, key, value in [
            (None, "proxy_app", f'"tcp://127.0.0.1:{n.abci_port}"'),
            (None, "moniker", f'"node{n.index}"'),
            ("rpc", "laddr", f'"tcp://127.0.0.1:{n.rpc_port}"'),
            ("p2p", "laddr", f'"tcp://127.0.0.1:{n.p2p_port}"'),
            ("p2p", "persistent_peers", f'"{peers}"'),
            ("p2p", "addr_book_strict", "false"),
            ("p2p", "allow_duplicate_ip", "true"),
            ("mempool", "size", "50000"),
            ("consensus", "timeout_commit", f'"{timeout_commit}"'),
            ("consensus", "timeout_propose", f'"{timeout_propose}"'),
            # A block as soon as transactions wait, else an empty one after at most a second (no
            # Ethereum block for it). With create_empty_blocks = false a validator whose mempool
            # missed a transaction (gossip is off while it syncs after a start) waits for one in
            # NewRound and never prevotes: a network with two such validators stalled in the bench.
            ("consensus", "create_empty_blocks", "true"),
            ("consensus", "create_empty_blocks_interval", '"1s"'),
            ("tx_index", "indexer", '"null"'),
        ]:
            config = _set(config, section, key, value)
        (config_dir / "config.toml").write_text(config)
    (root / "testnet.json").write_text(json.dumps({"cometbftChainId": COMETBFT_CHAIN_ID,
                                                    "nodes": [asdict(n) for n in nodes]}, indent=2))
    return nodes


def load_testnet(root: Path) -> list[TestnetNode]:
    doc = json.loads((root / "testnet.json").read_text())
    return [TestnetNode(**n) for n in doc["nodes"]]


def _ready(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url + "/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def start(root: Path, timeout: float = 120.0) -> None:
    nodes = load_testnet(root)
    for n in nodes:
        log = (Path(n.data_dir) / "node.log").open("ab")
        proc = subprocess.Popen([sys.executable, "-m", "cityledger_cli", *n.run_args()], stdout=log,
                                stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
        (Path(n.data_dir) / "node.pid").write_text(str(proc.pid))
    deadline = time.monotonic() + timeout
    waiting = list(nodes)
    while waiting and time.monotonic() < deadline:
        waiting = [n for n in waiting if not _ready(n.url)]
        if waiting:
            time.sleep(0.2)  # polling the JSON-RPC ports with a deadline
    if waiting:
        raise SystemExit(f"not ready after {timeout:.0f} s: " + ", ".join(f"node{n.index}" for n in waiting))
    for n in nodes:
        print(f"node{n.index}: JSON-RPC {n.url}  CometBFT RPC http://127.0.0.1:{n.rpc_port}  "
              f"validator {n.validator_address}  coinbase {n.coinbase}")


def stop(root: Path) -> None:
    for n in load_testnet(root):
        pid_file = Path(n.data_dir) / "node.pid"
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        pid_file.unlink()
        print(f"node{n.index}: stopped (pid {pid})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/testnet", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    init_parser = sub.add_parser("init", help="write DIR/nodeI/ for each validator")
    init_parser.add_argument("dir", type=Path)
    init_parser.add_argument("--validators", type=int, default=4)
    for name in ("start", "stop"):
        sub.add_parser(name).add_argument("dir", type=Path)
    args = parser.parse_args(argv)
    if args.command == "init":
        for n in init_testnet(args.dir, args.validators):
            print(f"node{n.index}: {n.data_dir} JSON-RPC 127.0.0.1:{n.http_port}")
    elif args.command == "start":
        start(args.dir)
    else:
        stop(args.dir)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("ETH_HASH_BACKEND", "pysha3")
    sys.exit(main())
