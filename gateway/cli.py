"""``cityledger gateway run|reindex``: the gateway's entry point, where its settings are built.

The address book comes from ``scripts/deploy`` (``--addressbook``), or from a CityLedger genesis
document (``--genesis``), whose contracts live at fixed addresses; the genesis block's hash is then
read from the node once and pinned in ``DIR/addressbook.json``, so a later start against another
chain is refused.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click

from gateway.errors import GatewayError

DEFAULT_LISTEN = "127.0.0.1:8080"


class StartRefused(GatewayError):
    """Raised when the gateway cannot start with the options it was given."""

    status = 500
    slug = "start-refused"


def _book_from_genesis(genesis: Path, rpc_url: str, out: Path, consensus: str = "cityledger-poa") -> Path:
    import httpx

    doc = json.loads(genesis.read_text())
    answer = httpx.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockByNumber",
                                       "params": ["0x0", False]}, timeout=30).json()
    if "result" not in answer or answer["result"] is None:
        raise StartRefused(f"the node at {rpc_url} did not return block 0: {answer.get('error')}")
    contracts = {"MemberRegistry": {"address": doc["registry"]["address"]}}
    for c in doc.get("contracts", []):
        contracts[c["name"]] = {"address": c["address"]}
    book = {"format": "cityledger-addressbook/1", "chainId": doc["chainId"], "consensus": consensus,
            "deployment": {"block": 0, "blockHash": answer["result"]["hash"]}, "contracts": contracts}
    if out.exists():
        pinned = json.loads(out.read_text())
        if pinned["deployment"]["blockHash"] != book["deployment"]["blockHash"]:
            raise StartRefused(f"{out} pins genesis {pinned['deployment']['blockHash']}, the node serves "
                               f"{book['deployment']['blockHash']}: this data directory belongs to another chain")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(book, indent=2) + "\n")
    return out


def build_settings(opts: dict[str, Any]) -> Any:
    """Settings from the command line and the one environment variable the entry point reads."""
    from gateway.settings import Settings

    data_dir: Path = opts["data_dir"]
    if (opts["addressbook"] is None) == (opts["genesis"] is None):
        raise click.UsageError("give exactly one of --addressbook and --genesis")
    comet = opts.get("cometbft_genesis")
    book = opts["addressbook"] or _book_from_genesis(opts["genesis"], opts["rpc"], data_dir / "addressbook.json",
                                                     "cometbft" if comet is not None else "cityledger-poa")
    extra: dict[str, Any] = {}
    limit = os.environ.get("CITYLEDGER_PUBLIC_RATE_LIMIT")
    if limit is not None:
        extra["public_rate_limit"] = int(limit)
    if opts.get("rate_limit") is not None:
        extra["public_rate_limit"] = opts["rate_limit"]
    if opts.get("answer_cache") is not None:
        extra["answer_cache_entries"] = opts["answer_cache"]
    if opts.get("rebuild_outdated_index"):
        extra["rebuild_outdated_index"] = True
    return Settings(rpc_url=opts["rpc"], data_dir=data_dir, database_url=opts["db"], addressbook=book,
                    ipfs_url=opts["ipfs"], public_url=opts["public_url"] or f"http://{opts['listen']}",
                    index_batch_blocks=opts["index_batch"], cometbft_genesis=comet, **extra)


def _common(fn: Any) -> Any:
    options = [
        click.option("--rpc", required=True, metavar="URL", help="JSON-RPC URL of a chain node."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
                     help="Where the gateway keeps its index (SQLite by default), payloads and pinned address book."),
        click.option("--db", default=None, metavar="URL",
                     help="SQLAlchemy URL of the index (default: SQLite in DIR; PostgreSQL: postgresql+psycopg://…)."),
        click.option("--addressbook", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="Address book written by scripts/deploy."),
        click.option("--genesis", type=click.Path(dir_okay=False, path_type=Path), default=None,
                     help="A CityLedger genesis.json (contracts at their genesis addresses) instead of an address book."),
        click.option("--cometbft-genesis", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                     help="On a network of CometBFT validators: its CometBFT genesis.json, whose validator set "
                          "every block's commit is checked against (consensus cometbft)."),
        click.option("--ipfs", default=None, metavar="URL",
                     help="Kubo RPC API URL for payloads (default: the embedded store in DIR)."),
        click.option("--index-batch", type=click.IntRange(min=1), default=200, show_default=True,
                     help="Most blocks indexed in one database transaction."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


@click.group(name="gateway", context_settings={"help_option_names": ["-h", "--help"]})
def app() -> None:
    """Run the gateway: verified queries, the chain index, payloads and the portal."""


@app.command()
@_common
@click.option("--listen", default=DEFAULT_LISTEN, show_default=True, metavar="HOST:PORT",
              help="Address the HTTP server listens on.")
@click.option("--public-url", default=None, metavar="URL",
              help="URL members reach the gateway at (sign-in messages name its host); default http://LISTEN.")
@click.option("--rate-limit", type=click.IntRange(min=0), default=None,
              help="Public requests per minute per client address (0: off; env CITYLEDGER_PUBLIC_RATE_LIMIT).")
@click.option("--answer-cache", type=click.IntRange(min=0), default=10_000, show_default=True,
              help="Verified public answers kept until the index moves (0: build and check every answer afresh).")
@click.option("--rebuild-outdated-index", is_flag=True,
              help="An index of another table layout (after an upgrade) is dropped and rebuilt from the chain "
                   "instead of refused.")
def run(**opts: Any) -> None:
    """Serve the gateway and follow the chain into the index."""
    import logging

    import uvicorn

    from gateway.app import create_app

    settings = build_settings(opts)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per JSON-RPC call to the node
    host, _, port = opts["listen"].rpartition(":")
    uvicorn.run(create_app(settings), host=host or "127.0.0.1", port=int(port), log_level="warning",
                timeout_graceful_shutdown=10)


@app.command()
@_common
@click.option("--yes", is_flag=True, help="Do not ask before dropping the current index.")
def reindex(yes: bool, **opts: Any) -> None:
    """Drop the index and rebuild it from the deployment block up to the current head."""
    import asyncio

    from gateway import db
    from gateway.app import build_services, check_consensus, consensus_of
    from gateway.chain.rpc import RpcClient

    opts.setdefault("public_url", None)
    opts["listen"] = DEFAULT_LISTEN
    settings = build_settings(opts)

    async def refuse_wrong_consensus() -> None:  # before anything is dropped
        rpc = RpcClient(settings.rpc_url)
        try:
            await check_consensus(consensus_of(settings), rpc)
        finally:
            await rpc.close()

    asyncio.run(refuse_wrong_consensus())
    if not yes:
        click.confirm(f"Drop the index at {settings.resolved_database_url} and rebuild it?", abort=True)
    engine = db.make_engine(settings.resolved_database_url)
    db.drop_schema(engine)
    engine.dispose()
    services = build_services(settings)

    async def rebuild() -> int:
        indexer = services.indexer
        await indexer.load_state()
        try:
            while await indexer.step():
                click.echo(f"indexed up to block {indexer.indexed} of {indexer.chain_head}", err=True)
        finally:
            await services.rpc.close()
        return indexer.indexed

    height = asyncio.run(rebuild())
    click.echo(f"reindexed up to block {height}")
