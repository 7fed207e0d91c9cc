"""``GET /v1/status``, ``GET /v1/contracts`` (the address book members' clients build their
transactions with) and ``GET /metrics``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel

from gateway.deps import ServicesDep

router = APIRouter(tags=["status"])


class Status(BaseModel):
    """Where the gateway stands."""

    chainId: int
    consensus: str
    head: int
    indexedHeight: int
    lag: int
    database: str
    indexerError: dict[str, Any] | None
    sealers: list[str]


@router.get("/v1/status", response_model=Status)
async def status(services: ServicesDep) -> Status:
    """The chain the gateway serves, how far it has indexed it, and the database it uses."""
    indexer = services.indexer
    error = indexer.error
    return Status(
        chainId=services.book.chain_id,
        consensus=services.consensus,
        head=indexer.chain_head, indexedHeight=indexer.indexed,
        lag=max(0, indexer.chain_head - indexer.indexed),
        database=services.settings.database_kind,
        indexerError=None if error is None else {"type": error.slug, "detail": str(error)},
        sealers=["0x" + s.hex() for s in getattr(indexer, "sealers", [])] if services.poa else [],
    )


@router.get("/v1/contracts")
async def contracts(services: ServicesDep) -> dict[str, Any]:
    """The address book this gateway serves (``cityledger-addressbook/1``: chain id, the deployment
    block and its hash, the four contracts' addresses). Clients that must not take the gateway's
    word pin their own copy (``cityledger client --addressbook``) and compare."""
    doc = services.book.to_json(services.consensus)
    if services.comet is not None:
        # On a CometBFT chain: the genesis validator set, which certifies blocks by its commits.
        doc["cometbft"] = services.comet.anchor()
    return doc


@router.get("/metrics", include_in_schema=False)
async def metrics(services: ServicesDep) -> Response:
    m = services.metrics
    m.chain_head.set(services.indexer.chain_head)
    m.indexer_lag.set(max(0, services.indexer.chain_head - services.indexer.indexed))
    return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)
