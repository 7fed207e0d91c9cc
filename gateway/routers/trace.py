"""``GET /v1/trace/{receipt_code}``: a donor's receipt code → every handoff of the goods.

Public (no sign-in), rate-limited per client address. The answer lists the donation's lots (the
registered lot and every lot split from it), every custody event in chain order with the parties
by name, quantities, losses with reasons, refusals and recalls, and where the goods are now.
Each event carries its proof; ``receiptCodeCheck`` tells a verifier how the typed code binds to
the proven registration (the code is the prefix of the on-chain ``receiptCode``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlmodel import Session, col, select

from gateway.app import Services
from gateway.deps import PublicLimit, ServicesDep, SessionDep
from gateway.errors import GatewayError
from gateway.receipt_code import BITS, parse_code, short_code
from gateway.records.custody import CustodyEvent, Lot, Transfer, quantities
from gateway.records.members import names
from gateway.routers.payloads import payload_info
from gateway.routers.common import NotFound, cached_answer, hex_name, with_proofs

router = APIRouter(tags=["trace"])


class AmbiguousReceiptCode(GatewayError):
    """Raised when two donations share a short receipt code (the 60-bit prefix)."""

    status = 409
    slug = "ambiguous-receipt-code"

    def __init__(self, code: str) -> None:
        super().__init__(f"receipt code {code} matches more than one donation; ask the charity for the full code")


def trace(services: Services, s: Session, code: str) -> dict[str, Any]:
    """The whole trace document for ``code`` (also used by evidence bundles)."""
    canonical, prefix = parse_code(code)
    roots = s.exec(select(Lot).where(Lot.receipt_prefix == prefix, col(Lot.id) == col(Lot.root_lot_id))).all()
    if not roots:
        raise NotFound("donation with receipt code", canonical)
    if len({r.receipt_code for r in roots}) > 1:
        raise AmbiguousReceiptCode(canonical)
    root = roots[0]
    lots = s.exec(select(Lot).where(Lot.root_lot_id == root.id).order_by(col(Lot.id))).all()
    events = s.exec(select(CustodyEvent).where(CustodyEvent.root_lot_id == root.id)
                    .order_by(col(CustodyEvent.block_number), col(CustodyEvent.block_log_index))).all()
    transfers = {t.id: t for t in s.exec(select(Transfer).where(col(Transfer.lot_id).in_([lot.id for lot in lots])))}
    ids = {lot.holder_member_id for lot in lots} | {lot.charity_member_id for lot in lots}
    ids |= {e.member_id for e in events} | {e.to_member_id for e in events if e.to_member_id}
    ids |= {t.to_member_id for t in transfers.values()} | {t.from_member_id for t in transfers.values()}
    who = names(s, ids)

    def party(member_id: int) -> dict[str, Any] | None:
        return {"id": member_id, "name": who.get(member_id, f"member {member_id}")} if member_id else None

    pending: list[tuple[dict[str, Any], int, int]] = []
    for e in events:
        record: dict[str, Any] = {
            "eventId": e.event_id, "kind": e.name, "lotId": e.lot_id, "at": e.at, "by": party(e.member_id),
            "quantity": e.quantity,
        }
        if e.transfer_id:
            record["transferId"] = e.transfer_id
            transfer = transfers.get(e.transfer_id)
            if transfer is not None:
                record["from"] = party(transfer.from_member_id)
                record["to"] = party(transfer.to_member_id)
        if e.name == "TransferAccepted":
            record.update(received=e.received, lost=e.lost)
        if e.reason:
            record["reason"] = e.reason
        if e.documents_cid:
            record["documents"] = e.documents_cid
        if e.corrected_event_id:
            record.update(correctedEventId=e.corrected_event_id, correction=e.correction)
        pending.append((record, e.block_number, e.block_log_index))
    out_events = with_proofs(services, s, pending)
    documents = []
    for event in out_events:
        info = payload_info(s, event["documents"]) if event.get("documents") and event["proof"] else None
        if info is not None:
            event["proof"]["payload"] = info
            documents.append(info)
    where_now = []
    for lot in lots:
        if lot.held:
            where_now.append({"lotId": lot.id, "holder": party(lot.holder_member_id), "quantity": lot.held,
                              "state": "held", "since": lot.held_since})
        if lot.in_transit and lot.pending_transfer_id in transfers:
            t = transfers[lot.pending_transfer_id]
            where_now.append({"lotId": lot.id, "holder": party(t.to_member_id), "quantity": lot.in_transit,
                              "state": "in transit", "since": t.sent_at, "from": party(t.from_member_id)})
    verified = all(e["verified"] for e in out_events)
    return {
        "receiptCode": short_code(bytes.fromhex(root.receipt_code[2:])),
        "onChainReceiptCode": root.receipt_code,
        "receiptCodeCheck": f"the first {BITS} bits of onChainReceiptCode, proven in the LotRegistered event, "
                            "spell receiptCode (Crockford base32, then a GF(32) check character (gateway/receipt_code.py))",
        "item": hex_name(root.item_code), "unit": root.unit, "expiry": root.expiry,
        "donor": {"publicName": root.donor_public_name or None, "commitment": root.donor_commitment},
        "charity": party(root.charity_member_id), "registeredAt": root.registered_at,
        "lots": [{"id": lot.id, "parentLotId": lot.parent_lot_id or None, "holder": party(lot.holder_member_id),
                  **quantities(lot)} for lot in lots],
        "totals": {
            "donated": root.original,
            "consumed": sum(lot.consumed for lot in lots),
            "lost": sum(lot.losses for lot in lots),
            "held": sum(lot.held for lot in lots),
            "inTransit": sum(lot.in_transit for lot in lots),
        },
        "whereNow": where_now,
        "events": out_events,
        "verified": verified,
        "payloads": documents,
        "evidence": f"/v1/evidence/trace/{short_code(bytes.fromhex(root.receipt_code[2:]))}",
    }


@router.get("/v1/trace/{receipt_code}", dependencies=[PublicLimit])
async def get_trace(receipt_code: str, services: ServicesDep) -> Response:
    """Every handoff of a donation, each with its proof (public; rate-limited per address)."""
    canonical, _prefix = parse_code(receipt_code)
    return await cached_answer(services, f"trace:{canonical}", lambda s: trace(services, s, canonical))
