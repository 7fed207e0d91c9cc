"""``GET /v1/evidence/...``: evidence bundles (``gateway.evidence``), public and rate-limited like
the records they prove."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from gateway.deps import PublicLimit, ServicesDep, SessionDep
from gateway.evidence import bundle, strip_proofs
from gateway.receipt_code import parse_code
from gateway.records.credit import CreditEntry
from gateway.records.custody import CustodyEvent, Lot
from gateway.routers.common import NotFound
from gateway.routers.credit import entry_json
from gateway.routers.trace import trace

router = APIRouter(tags=["evidence"])


def _download(doc: dict[str, Any], name: str) -> JSONResponse:
    return JSONResponse(doc, headers={"Content-Disposition": f'attachment; filename="{name}.evidence.json"'})


@router.get("/v1/evidence/trace/{receipt_code}", dependencies=[PublicLimit])
async def trace_evidence(receipt_code: str, services: ServicesDep, s: SessionDep) -> JSONResponse:
    """Everything needed to verify a donation's trace offline."""
    record = trace(services, s, receipt_code)
    _canonical, prefix = parse_code(receipt_code)
    root = s.exec(select(Lot).where(Lot.receipt_prefix == prefix, col(Lot.id) == col(Lot.root_lot_id))).first()
    assert root is not None
    positions = [(e.block_number, e.block_log_index) for e in
                 s.exec(select(CustodyEvent).where(CustodyEvent.root_lot_id == root.id))]
    doc = await bundle(services, s, "trace", record["receiptCode"], strip_proofs(record), positions,
                       record.get("payloads"))
    return _download(doc, f"trace-{record['receiptCode']}")


@router.get("/v1/evidence/credit-entry/{entry_id}", dependencies=[PublicLimit])
async def credit_evidence(entry_id: int, services: ServicesDep, s: SessionDep) -> JSONResponse:
    entry = s.get(CreditEntry, entry_id)
    if entry is None or not entry.is_public:
        raise NotFound("public credit entry", str(entry_id))
    record = entry_json(services, s, entry, {})
    doc = await bundle(services, s, "credit-entry", str(entry_id), strip_proofs(record),
                       [(entry.block_number, entry.block_log_index)])
    return _download(doc, f"credit-entry-{entry_id}")


@router.get("/v1/evidence/event/{block_number}/{block_log_index}", dependencies=[PublicLimit])
async def event_bundle(block_number: int, block_log_index: int, services: ServicesDep, s: SessionDep) -> JSONResponse:
    """The bundle of any one indexed event (the ``evidence`` link of records without a kind of their own)."""
    doc = await bundle(services, s, "event", f"{block_number}/{block_log_index}", {},
                       [(block_number, block_log_index)])
    return _download(doc, f"event-{block_number}-{block_log_index}")
