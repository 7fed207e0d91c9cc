"""``cityledger node ...``: init, run (the sealing node) and follow (a verifying replica).

Heavy imports (py-evm, uvicorn) happen inside the commands, so ``--help`` answers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from node.errors import GenesisError, NodeError

if TYPE_CHECKING:
    from eth_keys.datatypes import PrivateKey
    from eth_typing import Address

    from node.chain import LedgerChain

log = logging.getLogger("cityledger.node")
VERSION = "CityLedger/0.1.0/py-evm-0.12"
DEFAULT_ARTIFACTS = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"
F = TypeVar("F", bound=Callable[..., Any])


@click.group(name="node", context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Run a CityLedger chain node: write a genesis, run the sealer, or follow a sealer as a
    verifying replica."""


@dataclass(frozen=True)
class Endpoint:
    """A ``HOST:PORT`` listen address."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise click.BadParameter(f"expected HOST:PORT, got {text!r}")
        return cls(host or "127.0.0.1", int(port))


@dataclass(frozen=True)
class RunSettings:
    """Validated settings of ``node run`` / ``node follow``, built once in the entry point."""

    data_dir: Path
    genesis_path: Path
    http: Endpoint
    ws: Endpoint | None
    block_time: float = 1.0
    upstream: str | None = None
    sealer_keystore: Path | None = None
    password_file: Path | None = None
    metrics: Endpoint | None = None
    #: "poa" (the single sealer, default) or "cometbft" (a validator of a CometBFT network).
    consensus: str = "poa"
    cometbft_home: Path | None = None
    cometbft_binary: Path | None = None
    #: Test only: raw transactions a Byzantine validator injects into its proposals.
    byzantine_txs: Path | None = None
    #: Test only: where the ABCI application kills the node (``node.abci.app.LedgerApp.kill_at``).
    kill_at: str | None = None


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)


def _endpoint(ctx: click.Context, param: click.Parameter, value: str | None) -> Endpoint | None:
    return None if value is None else Endpoint.parse(value)


_data_dir = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                         help="Directory holding genesis.json and the chain data.")


def _http(default: str) -> Callable[[F], F]:
    return click.option("--http", default=default, show_default=True, callback=_endpoint, metavar="HOST:PORT",
                        help="Listen address for JSON-RPC over HTTP.")


_ws = click.option("--ws", default=None, callback=_endpoint, metavar="HOST:PORT",
                   help="Listen address for JSON-RPC over WebSocket (eth_subscribe); off when not given.")
_metrics = click.option("--metrics", default=None, callback=_endpoint, metavar="HOST:PORT",
                        help="Serve Prometheus metrics (text format) on http://HOST:PORT/metrics; off when "
                             "not given.")


@app.command()
@_data_dir
@click.option("--dev", is_flag=True,
              help="A development chain: generate keys for a sealer, admins and members and write "
                   "them (DEVELOPMENT ONLY) to DIR/dev-keys.json.")
@click.option("--consortium", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Production consortium description (JSON with addresses or keystore files; no "
                   "private key is written).")
@click.option("--artifacts", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_ARTIFACTS,
              show_default="contracts/artifacts", help="Compiled contract artifacts deployed at genesis.")
@click.option("--force", is_flag=True, help="Overwrite an existing genesis.json (the chain data is kept).")
def init(data_dir: Path, dev: bool, consortium: Path | None, artifacts: Path, force: bool) -> None:
    """Write DIR/genesis.json: the chain id, the member registry and the contracts at block 0."""
    from node.genesis_init import consortium_genesis, dev_genesis

    if dev == (consortium is not None):
        raise click.UsageError("give exactly one of --dev and --consortium")
    genesis_path = data_dir / "genesis.json"
    if genesis_path.exists() and not force:
        raise GenesisError(f"{genesis_path} exists; use --force to overwrite (the chain data is kept)")
    data_dir.mkdir(parents=True, exist_ok=True)
    if dev:
        genesis, dev_keys = dev_genesis(artifacts)
        keys_path = data_dir / "dev-keys.json"
        fd = os.open(keys_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(dev_keys, fh, indent=2)
            fh.write("\n")
        click.echo(f"wrote {keys_path} (DEVELOPMENT ONLY keys)")
    else:
        assert consortium is not None
        genesis = consortium_genesis(consortium, artifacts)
    genesis.dump(genesis_path)
    click.echo(f"wrote {genesis_path} (chain id {genesis.chain_id})")


@app.command()
@_data_dir
@_http("127.0.0.1:8545")
@_ws
@_metrics
@click.option("--block-time", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="Seal at most one block every this many seconds (only while transactions are pending).")
@click.option("--sealer-keystore", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Encrypted Ethereum keystore of the sealer account (a development chain reads "
                   "DIR/dev-keys.json instead).")
@click.option("--password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File holding the keystore's password.")
@click.option("--consensus", type=click.Choice(["poa", "cometbft"]), default="poa", show_default=True,
              help="poa: this node seals every block with its sealer key. cometbft: this node is one "
                   "validator of a CometBFT network (see scripts/testnet); blocks are ordered and "
                   "certified by CometBFT and executed here.")
@click.option("--cometbft-home", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="CometBFT's home directory (config/, data/) for --consensus cometbft; default DIR/cometbft.")
@click.option("--cometbft-bin", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The cometbft binary; default .tools/bin/cometbft (scripts/build-cometbft), else PATH.")
@click.option("--test-byzantine-txs", type=click.Path(dir_okay=False, path_type=Path), default=None, hidden=True,
              help="TEST ONLY: make this validator Byzantine: it prepends these raw transactions (hex, one "
                   "per line) to every proposal and accepts every proposal unchecked.")
@click.option("--test-kill-at", type=click.Choice(["finalize", "commit", "committed"]), default=None, hidden=True,
              help="TEST ONLY: SIGKILL this node at this point of the first non-empty block.")
def run(data_dir: Path, http: Endpoint, ws: Endpoint | None, metrics: Endpoint | None, block_time: float,
        sealer_keystore: Path | None, password_file: Path | None, consensus: str, cometbft_home: Path | None,
        cometbft_bin: Path | None, test_byzantine_txs: Path | None, test_kill_at: str | None) -> None:
    """Run the node: admit members' transactions and seal proof-of-authority blocks, or (with
    --consensus cometbft) run as one validator of a CometBFT network."""
    binary: Path | None = None
    if consensus == "cometbft":
        import shutil

        local = Path(__file__).resolve().parents[1] / ".tools" / "bin" / "cometbft"
        found = cometbft_bin or (local if local.exists() else None) or shutil.which("cometbft")
        if found is None:
            raise NodeError("no cometbft binary: run scripts/build-cometbft or pass --cometbft-bin")
        binary = Path(found)
        cometbft_home = cometbft_home or data_dir / "cometbft"
        if not (cometbft_home / "config" / "config.toml").exists():
            raise NodeError(f"{cometbft_home} holds no CometBFT configuration (scripts/testnet init writes one)")
    settings = RunSettings(data_dir, data_dir / "genesis.json", http, ws, block_time=block_time,
                           sealer_keystore=sealer_keystore, password_file=password_file, metrics=metrics,
                           consensus=consensus, cometbft_home=cometbft_home, cometbft_binary=binary,
                           byzantine_txs=test_byzantine_txs, kill_at=test_kill_at)
    _logging()
    asyncio.run(_serve(settings))


@app.command()
@_data_dir
@click.option("--genesis", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The chain's genesis.json.")
@click.option("--upstream", required=True, metavar="URL", help="JSON-RPC URL of the node to follow.")
@_http("127.0.0.1:8546")
@_ws
@_metrics
def follow(data_dir: Path, genesis: Path, upstream: str, http: Endpoint, ws: Endpoint | None,
           metrics: Endpoint | None) -> None:
    """Run a verifying replica: fetch every block, check its seal, re-execute it, serve JSON-RPC."""
    settings = RunSettings(data_dir, genesis, http, ws, upstream=upstream, metrics=metrics)
    _logging()
    asyncio.run(_serve(settings))


def _sealer_key(settings: RunSettings, development: bool) -> PrivateKey:
    from eth_keys import keys

    if settings.sealer_keystore is not None:
        from eth_account import Account

        if settings.password_file is None:
            raise NodeError("--sealer-keystore needs --password-file")
        try:
            secret = Account.decrypt(json.loads(settings.sealer_keystore.read_text()),
                                     settings.password_file.read_text().rstrip("\n"))
        except (OSError, ValueError) as exc:
            raise NodeError(f"cannot unlock {settings.sealer_keystore}: {exc}") from exc
        return keys.PrivateKey(bytes(secret))
    dev_keys = settings.data_dir / "dev-keys.json"
    if development and dev_keys.exists():
        doc = json.loads(dev_keys.read_text())
        return keys.PrivateKey(bytes.fromhex(doc["sealer"]["private_key"][2:]))
    raise NodeError("no sealer key: pass --sealer-keystore and --password-file")


def open_chain(data_dir: Path, genesis_path: Path, *, writable: bool = True) -> LedgerChain:
    from node.chain import LedgerChain
    from node.genesis import load_genesis
    from node.kv import LmdbKV

    genesis = load_genesis(genesis_path)
    return LedgerChain(LmdbKV(data_dir / "chaindata", readonly=not writable), genesis, writable=writable)


async def _serve(settings: RunSettings) -> None:
    import uvicorn
    from eth_typing import Address

    from node.metrics import NodeMetrics, metrics_app
    from node.rpc.server import create_rpc_app
    from node.service import ChainService, SealerProcess, SealerService

    class _Server(uvicorn.Server):
        """A uvicorn server that leaves SIGINT/SIGTERM to ``_serve``: with an HTTP and a WebSocket
        listener, uvicorn's own capture would re-raise the signal into the other server and cut
        its graceful shutdown short."""

        @contextlib.contextmanager
        def capture_signals(self) -> Generator[None, None, None]:
            yield

    from node.genesis import load_genesis

    metrics = NodeMetrics()
    service: ChainService
    if settings.consensus == "cometbft":
        from node.abci.service import open_validator

        assert settings.cometbft_home is not None and settings.cometbft_binary is not None
        service = await open_validator(settings.data_dir, settings.genesis_path, settings.cometbft_home,
                                       settings.cometbft_binary, metrics, settings.byzantine_txs,
                                       settings.kill_at)
        chain = service._chain
    elif settings.upstream is None:
        genesis = load_genesis(settings.genesis_path)
        key = _sealer_key(settings, genesis.development)
        # The sealing loop (the chain's only writer) runs in its own process; this process serves
        # JSON-RPC from a reader of the same store, opened once the sealer has initialised it.
        sealer = SealerProcess(settings.data_dir, settings.genesis_path, key, settings.block_time)
        try:
            await sealer.open()
        except NodeError:
            await sealer.close()
            raise
        chain = open_chain(settings.data_dir, settings.genesis_path, writable=False)
        service = SealerService(chain, sealer, Address(key.public_key.to_canonical_address()), metrics)
    else:
        from node.follower import FollowerService

        chain = open_chain(settings.data_dir, settings.genesis_path)
        service = FollowerService(chain, settings.upstream, metrics=metrics)
    rpc_app = create_rpc_app(service, VERSION)
    endpoints = [settings.http] + ([settings.ws] if settings.ws and settings.ws != settings.http else [])
    servers = [
        _Server(uvicorn.Config(rpc_app, host=e.host, port=e.port, log_level="warning",
                               ws="websockets-sansio", lifespan="on" if i == 0 else "off",
                               ws_max_size=5 * 1024 * 1024))
        for i, e in enumerate(endpoints)
    ]
    if settings.metrics is not None:
        servers.append(_Server(uvicorn.Config(metrics_app(metrics), host=settings.metrics.host,
                                              port=settings.metrics.port, log_level="warning", lifespan="off")))
    head = chain.head
    log.info("%s %s chain %d at block %d; JSON-RPC on http://%s:%d%s", service.role, VERSION,
             chain.chain_id, head.block_number, settings.http.host, settings.http.port,
             f", ws://{settings.ws.host}:{settings.ws.port}" if settings.ws else "")

    def stop_servers() -> None:
        for s in servers:
            s.should_exit = True

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop_servers)
    await asyncio.gather(*(s.serve() for s in servers))
