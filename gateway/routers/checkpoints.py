"""``/v1/checkpoints``: the sealer's signed checkpoints with the witnesses' cosignatures
(``gateway.records.checkpoints``).

* ``GET /v1/checkpoints/latest`` — the node's newest checkpoint (fetched, checked, stored) with
  every cosignature stored for it;
* ``GET /v1/checkpoints/{size}`` — the checkpoint of that tree size;
* ``POST /v1/checkpoints/{size}/cosignatures`` — a witness submits ``{"cosignature": "— name
  base64…\\n", "binding": {origin, account, vkey, signature}}``; stored only when the binding's
  account is in the registry's witness set and the cosignature verifies.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from gateway.deps import PublicLimit, ServicesDep, SessionDep
from gateway.records import checkpoints

router = APIRouter(tags=["checkpoints"])


class CosignatureIn(BaseModel):
    """A witness's cosignature line and the binding of its key to its witness account."""

    cosignature: str
    binding: dict[str, Any]


@router.get("/v1/checkpoints/latest", dependencies=[PublicLimit])
async def latest(services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """The newest checkpoint, with its witness cosignatures."""
    stored = await checkpoints.fetch(services.rpc, s, None)
    if stored is None:
        raise checkpoints.CheckpointNotFound(None)
    latest_stored = checkpoints._stored(s, None) or stored
    return checkpoints.document(s, latest_stored)


@router.get("/v1/checkpoints/{size}", dependencies=[PublicLimit])
async def by_size(size: int, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """The checkpoint of tree size ``size`` (blocks 0 to size − 1), with its cosignatures."""
    stored = await checkpoints.fetch(services.rpc, s, size)
    if stored is None:
        raise checkpoints.CheckpointNotFound(size)
    return checkpoints.document(s, stored)


@router.post("/v1/checkpoints/{size}/cosignatures", status_code=201)
async def cosign(size: int, body: CosignatureIn, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """A witness's cosignature of checkpoint ``size``."""
    stored = await checkpoints.fetch(services.rpc, s, size)
    if stored is None:
        raise checkpoints.CheckpointNotFound(size)
    return checkpoints.add_cosignature(s, stored, body.cosignature, body.binding)
