"""Lookups for verifiers: the events of a transaction, and the events that name a payload.

Public and rate-limited like the evidence bundles they point to (any indexed event's bundle is
already public at ``/v1/evidence/event/{block}/{position}``): ``GET /v1/lookup/tx/{hash}`` lists the
events of one transaction, ``GET /v1/lookup/payload?cid=…&sha256=…`` the events whose arguments
name that CID or that content hash (a document's ``documentsCid``/``schemaCid``/``evidenceCid``, a
delivery's ``cid`` and ``ciphertextHash``, a batch's ``batchFileCid``). Each event carries its proof
and evidence link; the portal checks them in the browser and compares the CID and SHA-256 it
computed itself from a dropped file with what the proven event says.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query
from sqlmodel import col, or_, select

from gateway import db
from gateway.deps import PublicLimit, ServicesDep, SessionDep
from gateway.errors import GatewayError
from gateway.routers.common import with_proofs

router = APIRouter(tags=["lookup"])
#: The most events one lookup returns (newest last); a CID named more often is a document, not evidence.
MAX_EVENTS = 100
_TX_HASH = re.compile(r"^0x[0-9a-fA-F]{64}$")
_CID = re.compile(r"^[A-Za-z0-9]{8,128}$")
_SHA256 = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


@dataclass
class LookupInvalid(GatewayError):
    """Raised when a lookup key is not a transaction hash, a CID or a SHA-256 digest."""

    field: str
    value: str
    status = 422
    slug = "lookup-invalid"

    def __str__(self) -> str:
        return f"{self.field} {self.value!r} is not a valid {self.field}"


def _answer(services: Any, s: Any, rows: list[db.ChainEvent]) -> dict[str, Any]:
    items = with_proofs(services, s, [({"contract": e.contract, "event": e.name, "args": json.loads(e.args),
                                        "txHash": e.tx_hash, "blockNumber": e.block_number}, e.block_number,
                                       e.block_log_index) for e in rows])
    return {"items": items, "verified": all(i["verified"] for i in items)}


@router.get("/v1/lookup/tx/{tx_hash}", dependencies=[PublicLimit])
def by_transaction(tx_hash: str, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """Every indexed event of transaction ``tx_hash``, in log order, each with its proof."""
    if not _TX_HASH.match(tx_hash):
        raise LookupInvalid("transaction hash", tx_hash)
    rows = s.exec(select(db.ChainEvent).where(db.ChainEvent.tx_hash == tx_hash.lower())
                  .order_by(col(db.ChainEvent.block_log_index)).limit(MAX_EVENTS)).all()
    return {"txHash": tx_hash.lower(), **_answer(services, s, list(rows))}


@router.get("/v1/lookup/payload", dependencies=[PublicLimit])
def by_payload(services: ServicesDep, s: SessionDep, cid: str | None = Query(None, max_length=128),
               sha256: str | None = Query(None, max_length=66)) -> dict[str, Any]:
    """The events that name a payload by CID or by SHA-256 (at most 100, oldest first)."""
    needles: list[str] = []
    if cid:
        if not _CID.match(cid):
            raise LookupInvalid("cid", cid)
        needles.append(cid)
        try:
            from gateway.payloads.cids import normalize_cid

            normal = str(normalize_cid(cid))
            if normal != cid:
                needles.append(normal)
        except Exception:  # not a parseable CID: matched as the text the event carries
            pass
    if sha256:
        if not _SHA256.match(sha256):
            raise LookupInvalid("sha256", sha256)
        needles.append("0x" + sha256.lower().removeprefix("0x"))
    if not needles:
        raise LookupInvalid("cid", "")
    # Each needle is alphanumeric (checked above), so it cannot carry LIKE wildcards; the quotes
    # make it match a whole JSON string value.
    found = or_(*(col(db.ChainEvent.args).like(f'%"{needle}"%') for needle in needles))
    rows = s.exec(select(db.ChainEvent).where(found)
                  .order_by(col(db.ChainEvent.block_number), col(db.ChainEvent.block_log_index)).limit(MAX_EVENTS)).all()
    return {"cid": cid, "sha256": sha256, **_answer(services, s, list(rows))}
