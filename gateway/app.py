"""``create_app(settings)``: the gateway as an ASGI application.

Everything the routes use is built here from the settings and kept in one ``Services`` object
(``request.app.state.services``), reached from routes through the ``Annotated`` aliases in
``gateway.deps``. The indexer runs as a task of the app's lifespan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine
from sqlmodel import Session

from gateway import db, problems
from gateway.chain.codec import hex_int
from gateway.chain.commit import CometGenesis
from gateway.chain.rpc import RpcClient
from gateway.contracts import AddressBook, ConfigurationInvalid, EventCodec
from gateway.indexer import Indexer
from gateway.metrics import Metrics
from gateway.payloads.store import PayloadStore, StoreSettings, open_store
from gateway.ratelimit import RateLimiter
from gateway.records import MODULES
from gateway.records.genesis_seed import read_genesis_records
from gateway.sealers import prove_sealers, sealer_slot, sealers_from_state
from gateway.settings import Settings

log = logging.getLogger("cityledger.gateway")
VERSION = "0.1.0"


@dataclass
class Services:
    """What the routes and the indexer share; one per app."""

    settings: Settings
    engine: Engine
    rpc: RpcClient
    book: AddressBook
    codec: EventCodec
    metrics: Metrics
    limiter: RateLimiter
    indexer: Indexer
    poa: bool
    #: Documents, batch files and encrypted payloads (embedded store, or Kubo by URL).
    payloads: PayloadStore
    extras: dict[str, Any] = field(default_factory=dict)
    #: Wall clock for "now" in alerts; injected, never slept on (tests replace it).
    clock: Callable[[], float] = time.time
    #: ``cityledger-poa`` (seals), ``cometbft`` (commits) or ``none`` (anvil, any other EVM chain).
    consensus: str = "none"
    #: On a CometBFT chain, the pinned CometBFT genesis (validator set) every commit is checked against.
    comet: CometGenesis | None = None


def consensus_of(settings: Settings) -> str:
    """How the chain's blocks are certified, from the operator's configuration (no guessing from
    the node): a CometBFT genesis given (``--cometbft-genesis``) means ``cometbft``; otherwise the
    address book's ``consensus``; otherwise a chain deployed at genesis by CityLedger's node seals
    its headers (``cityledger-poa``) and any other chain has no consensus proof (``none``). At
    start the gateway asks the node ``cityledger_getCommit`` and refuses to run a CometBFT chain
    as a sealed one (``check_consensus``)."""
    import json

    doc = json.loads(settings.addressbook.read_text())
    consensus = doc.get("consensus")
    if settings.cometbft_genesis is not None:
        if consensus not in (None, "cometbft"):
            raise ConfigurationInvalid(f"a CometBFT genesis was given but the address book says consensus {consensus!r}")
        return "cometbft"
    if consensus == "cometbft":
        raise ConfigurationInvalid("the address book says consensus cometbft: pin the validator set with "
                                   "--cometbft-genesis FILE (the network's CometBFT genesis.json)")
    if consensus is not None:
        return str(consensus)
    return "cityledger-poa" if int(doc.get("deployment", {}).get("block", -1)) == 0 else "none"


async def check_consensus(consensus: str, rpc: RpcClient) -> None:
    """A node that answers ``cityledger_getCommit`` with a commit (or "not committed yet") is a
    CometBFT validator; a proof-of-authority node answers that it seals blocks itself. Refuses to
    read a validator's blocks as sealed ones (``consensus`` from ``consensus_of``)."""
    from gateway.errors import UpstreamRpcError

    if consensus != "cityledger-poa":
        return
    try:
        await rpc.call("cityledger_getCommit", ["0x1"])
    except UpstreamRpcError as exc:
        if "CometBFT-committed" not in exc.message:
            return
    raise ConfigurationInvalid("the node is a CometBFT validator (it serves cityledger_getCommit): its blocks carry "
                               "commits, not seals; run the gateway with --cometbft-genesis FILE")


def build_services(settings: Settings) -> Services:
    """Construct every service from ``settings`` (no network I/O yet)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(settings.resolved_database_url)
    db.create_schema(engine, rebuild_outdated=settings.rebuild_outdated_index)
    rpc = RpcClient(settings.rpc_url)
    book = AddressBook.load(settings.addressbook)
    codec = EventCodec(settings.artifacts, book)
    metrics = Metrics()
    consensus = consensus_of(settings)
    poa = consensus == "cityledger-poa"
    comet = CometGenesis.load(settings.cometbft_genesis) if settings.cometbft_genesis is not None else None
    if comet is not None and book.deployment_block == 0 and comet.app_hash and comet.app_hash != book.deployment_hash:
        raise ConfigurationInvalid(f"the CometBFT genesis starts from app hash 0x{comet.app_hash.hex()}, the address "
                                   f"book's genesis block is 0x{book.deployment_hash.hex()}")
    base_slot = sealer_slot(settings.artifacts)

    async def genesis_sealers() -> list[bytes]:
        proof = await prove_sealers(rpc, book.chain_id, book.addresses["MemberRegistry"], base_slot,
                                    book.deployment_block)
        if proof.block_hash != book.deployment_hash:
            raise ConfigurationInvalid(
                f"the node's block {book.deployment_block} is 0x{proof.block_hash.hex()}, the address book "
                f"pins 0x{book.deployment_hash.hex()}")
        return sealers_from_state(proof, base_slot)

    def on_block(height: int, seconds: float) -> None:
        metrics.indexed_height.set(height)
        metrics.index_seconds.observe(seconds)

    async def genesis_seed() -> Callable[[Session], None]:
        return await read_genesis_records(rpc, book.addresses["MemberRegistry"], book.deployment_block)

    indexer = Indexer(engine, rpc, codec, MODULES, chain_id=book.chain_id, poa=poa, comet=comet,
                      genesis_sealers=genesis_sealers, batch_blocks=settings.index_batch_blocks,
                      poll_interval=settings.poll_interval, start_block=book.deployment_block,
                      seed=genesis_seed if book.deployment_block == 0 else None, on_block=on_block)
    payloads = open_store(StoreSettings(
        store_dir=None if settings.ipfs_url else settings.data_dir / "payloads", ipfs_url=settings.ipfs_url,
        max_size=settings.max_upload_bytes))
    services = Services(settings, engine, rpc, book, codec, metrics, RateLimiter(settings.public_rate_limit),
                        indexer, poa, payloads, consensus=consensus, comet=comet)
    from gateway.credit_batches.service import attach

    attach(services)
    return services


class _Measure:
    """Requests and latency by route template and status (a plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs more than a cached answer does)."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_and_note(message: Any) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", "unmatched")
            self.metrics.requests.labels(scope["method"], template, str(status[0])).inc()
            self.metrics.latency.labels(scope["method"], template).observe(time.perf_counter() - started)


def create_app(settings: Settings) -> FastAPI:
    """The gateway application for ``settings``."""
    services = build_services(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        chain_id = hex_int(await services.rpc.call("eth_chainId"), "eth_chainId")
        if chain_id != services.book.chain_id:
            raise ConfigurationInvalid(f"the node serves chain {chain_id}, the address book is for chain "
                                       f"{services.book.chain_id}")
        await check_consensus(services.consensus, services.rpc)
        from gateway.credit_batches.service import of as credit_batches

        batches = credit_batches(services)
        task = asyncio.create_task(services.indexer.run(), name="indexer")
        worker = asyncio.create_task(batches.worker.run(), name="credit-batches")
        try:
            yield
        finally:
            for running in (task, worker):
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await running
            await services.rpc.close()
            services.payloads.close()
            batches.close()
            services.engine.dispose()

    app = FastAPI(
        title="CityLedger gateway", version=VERSION, lifespan=lifespan,
        description="Verified queries over CityLedger's chain: every record carries the proof a client "
                    "needs to check it without trusting this gateway.")
    app.state.services = services
    problems.install(app)

    app.add_middleware(_Measure, metrics=services.metrics)

    from gateway.routers import ROUTERS

    for router in ROUTERS:
        app.include_router(router)
    return app
