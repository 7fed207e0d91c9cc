"""``cityledger node ...``: init, run (the sealing node) and follow (a verifying replica)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from collections.abc import Generator
from pathlib import Path

import uvicorn

from eth_keys import keys
from eth_keys.datatypes import PrivateKey

from node.chain import LedgerChain
from node.errors import GenesisError, NodeError
from node.genesis import load_genesis
from node.init import consortium_genesis, dev_genesis
from node.kv import LmdbKV
from node.rpc.server import create_rpc_app
from node.service import ChainService, SealerService

log = logging.getLogger("cityledger.node")
VERSION = "CityLedger/0.1.0/py-evm-0.12"
DEFAULT_ARTIFACTS = Path(__file__).resolve().parents[1] / "contracts" / "artifacts"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Endpoint:
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
            raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cityledger node", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    init = sub.add_parser("init", help="write DIR/genesis.json (and dev keys with --dev)")
    init.add_argument("--data-dir", type=Path, required=True)
    mode = init.add_mutually_exclusive_group(required=True)
    mode.add_argument("--dev", action="store_true", help="development chain with generated keys")
    mode.add_argument("--consortium", type=Path, help="production consortium description (JSON)")
    init.add_argument("--artifacts", type=Path, default=DEFAULT_ARTIFACTS)
    init.add_argument("--force", action="store_true", help="overwrite an existing genesis.json")

    run = sub.add_parser("run", help="run the sealing node")
    run.add_argument("--data-dir", type=Path, required=True)
    run.add_argument("--http", type=Endpoint.parse, default=Endpoint("127.0.0.1", 8545))
    run.add_argument("--ws", type=Endpoint.parse, default=None)
    run.add_argument("--block-time", type=float, default=1.0)
    run.add_argument("--sealer-keystore", type=Path, default=None)
    run.add_argument("--password-file", type=Path, default=None)

    follow = sub.add_parser("follow", help="run a verifying replica of an upstream node")
    follow.add_argument("--data-dir", type=Path, required=True)
    follow.add_argument("--genesis", type=Path, required=True)
    follow.add_argument("--upstream", required=True)
    follow.add_argument("--http", type=Endpoint.parse, default=Endpoint("127.0.0.1", 8546))
    follow.add_argument("--ws", type=Endpoint.parse, default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        if args.command == "init":
            return _init(args)
        if args.command == "run":
            settings = RunSettings(args.data_dir, args.data_dir / "genesis.json", args.http, args.ws,
                                   block_time=args.block_time, sealer_keystore=args.sealer_keystore,
                                   password_file=args.password_file)
            if settings.block_time <= 0:
                raise NodeError("--block-time must be positive")
            asyncio.run(_serve(settings))
            return 0
        settings = RunSettings(args.data_dir, args.genesis, args.http, args.ws, upstream=args.upstream)
        asyncio.run(_serve(settings))
        return 0
    except NodeError as exc:
        print(f"cityledger node: error: {exc}", file=sys.stderr)
        return 2


def _init(args: argparse.Namespace) -> int:
    data_dir: Path = args.data_dir
    genesis_path = data_dir / "genesis.json"
    if genesis_path.exists() and not args.force:
        raise GenesisError(f"{genesis_path} exists; use --force to overwrite (the chain data is kept)")
    data_dir.mkdir(parents=True, exist_ok=True)
    if args.dev:
        genesis, dev_keys = dev_genesis(args.artifacts)
        keys_path = data_dir / "dev-keys.json"
        fd = os.open(keys_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(dev_keys, fh, indent=2)
            fh.write("\n")
        print(f"wrote {keys_path} (DEVELOPMENT ONLY keys)")
    else:
        genesis = consortium_genesis(args.consortium, args.artifacts)
    genesis.dump(genesis_path)
    print(f"wrote {genesis_path} (chain id {genesis.chain_id})")
    return 0


def _sealer_key(settings: RunSettings, development: bool) -> PrivateKey:
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


def open_chain(data_dir: Path, genesis_path: Path) -> LedgerChain:
    genesis = load_genesis(genesis_path)
    return LedgerChain(LmdbKV(data_dir / "chaindata"), genesis)


class _Server(uvicorn.Server):
    """A uvicorn server that leaves SIGINT/SIGTERM to ``_serve``: with an HTTP and a WebSocket
    listener, uvicorn's own capture would re-raise the signal into the other server and cut its
    graceful shutdown short."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def _serve(settings: RunSettings) -> None:
    chain = open_chain(settings.data_dir, settings.genesis_path)
    service: ChainService
    if settings.upstream is None:
        service = SealerService(chain, _sealer_key(settings, chain.genesis.development),
                                block_time=settings.block_time)
    else:
        from node.follower import FollowerService

        service = FollowerService(chain, settings.upstream)
    app = create_rpc_app(service, VERSION)
    endpoints = [settings.http] + ([settings.ws] if settings.ws and settings.ws != settings.http else [])
    servers = [
        _Server(uvicorn.Config(app, host=e.host, port=e.port, log_level="warning",
                                      ws="websockets-sansio", lifespan="on" if i == 0 else "off",
                                      ws_max_size=5 * 1024 * 1024))
        for i, e in enumerate(endpoints)
    ]
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
