"""Supply custody for members: stock per holder, goods in transit, alerts, one lot's history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlmodel import col, or_, select

from gateway.deps import Caller, CurrentMember, ServicesDep, SessionDep
from gateway.records.custody import CustodyEvent, Lot, Transfer, quantities
from gateway.records.members import Member, names
from gateway.routers.common import Forbidden, NotFound, hex_name, with_proof

router = APIRouter(tags=["custody"])


def _member_scope(caller: Caller, member: int | None) -> int | None:
    """The member whose records are asked for; None means all (auditors and admins only)."""
    if member == caller.member_id or (member is None and not (caller.has("auditor") or caller.has("admin"))):
        return caller.member_id
    if caller.has("auditor") or caller.has("admin"):
        return member
    raise Forbidden("members see their own stock; auditors and admins see everyone's")


def lot_json(lot: Lot, who: dict[int, str]) -> dict[str, Any]:
    return {"id": lot.id, "rootLotId": lot.root_lot_id, "parentLotId": lot.parent_lot_id or None,
            "item": hex_name(lot.item_code), "unit": lot.unit, "expiry": lot.expiry,
            "holder": {"id": lot.holder_member_id, "name": who.get(lot.holder_member_id)},
            "heldSince": lot.held_since, **quantities(lot)}


@router.get("/v1/stock")
def stock(caller: CurrentMember, s: SessionDep, member: int | None = None) -> dict[str, Any]:
    """Goods held, per lot and per item (the caller's, or any member's for auditors and admins)."""
    scope = _member_scope(caller, member)
    query = select(Lot).where(Lot.held > 0)
    if scope is not None:
        query = query.where(Lot.holder_member_id == scope)
    lots = s.exec(query.order_by(col(Lot.id))).all()
    who = names(s, {lot.holder_member_id for lot in lots})
    totals: dict[tuple[int, str, str], int] = {}
    for lot in lots:
        key = (lot.holder_member_id, hex_name(lot.item_code), lot.unit)
        totals[key] = totals.get(key, 0) + lot.held
    return {"lots": [lot_json(lot, who) for lot in lots],
            "byItem": [{"holder": {"id": h, "name": who.get(h)}, "item": i, "unit": u, "held": q}
                       for (h, i, u), q in sorted(totals.items())]}


@router.get("/v1/transit")
def transit(caller: CurrentMember, s: SessionDep, member: int | None = None) -> dict[str, Any]:
    """Goods in transit from or to the member."""
    scope = _member_scope(caller, member)
    query = select(Transfer).where(Transfer.status == "InTransit")
    if scope is not None:
        query = query.where(or_(Transfer.from_member_id == scope, Transfer.to_member_id == scope))
    rows = s.exec(query.order_by(col(Transfer.id))).all()
    who = names(s, {t.from_member_id for t in rows} | {t.to_member_id for t in rows})
    return {"items": [{"transferId": t.id, "lotId": t.lot_id, "quantity": t.quantity, "sentAt": t.sent_at,
                       "from": {"id": t.from_member_id, "name": who.get(t.from_member_id)},
                       "to": {"id": t.to_member_id, "name": who.get(t.to_member_id)}} for t in rows]}


@router.get("/v1/alerts")
def alerts(caller: CurrentMember, services: ServicesDep, s: SessionDep, member: int | None = None) -> dict[str, Any]:
    """Goods in transit too long, goods sitting in a warehouse too long, losses above the
    threshold (thresholds in the gateway's settings)."""
    scope = _member_scope(caller, member)
    limits = services.settings.alerts
    now = int(services.clock())
    out: list[dict[str, Any]] = []
    transfers = select(Transfer).where(Transfer.status == "InTransit", Transfer.sent_at < now - limits.transit_seconds)
    if scope is not None:
        transfers = transfers.where(or_(Transfer.from_member_id == scope, Transfer.to_member_id == scope))
    for t in s.exec(transfers):
        out.append({"kind": "in-transit-too-long", "transferId": t.id, "lotId": t.lot_id, "quantity": t.quantity,
                    "since": t.sent_at, "seconds": now - t.sent_at, "from": t.from_member_id, "to": t.to_member_id})
    warehouses = select(Member.id).where(Member.kind == "Warehouse")
    held = select(Lot).where(Lot.held > 0, col(Lot.holder_member_id).in_(warehouses),
                             Lot.held_since < now - limits.held_seconds)
    if scope is not None:
        held = held.where(Lot.holder_member_id == scope)
    for lot in s.exec(held):
        out.append({"kind": "held-too-long", "lotId": lot.id, "quantity": lot.held, "since": lot.held_since,
                    "seconds": now - lot.held_since, "holder": lot.holder_member_id})
    lossy = select(Lot).where(Lot.losses > 0)
    if scope is not None:
        lossy = lossy.where(or_(Lot.holder_member_id == scope, Lot.charity_member_id == scope))
    for lot in s.exec(lossy):
        if lot.losses > limits.loss_ratio * lot.original:
            out.append({"kind": "loss-above-threshold", "lotId": lot.id, "losses": lot.losses,
                        "original": lot.original, "ratio": lot.losses / lot.original, "holder": lot.holder_member_id})
    return {"now": now, "thresholds": limits.model_dump(), "items": out}


@router.get("/v1/lots/{lot_id}")
def get_lot(lot_id: int, caller: CurrentMember, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """One lot and every custody event on it, each with its proof."""
    lot = s.get(Lot, lot_id)
    if lot is None:
        raise NotFound("lot", str(lot_id))
    events = s.exec(select(CustodyEvent).where(CustodyEvent.lot_id == lot_id)
                    .order_by(col(CustodyEvent.block_number), col(CustodyEvent.block_log_index))).all()
    who = names(s, {lot.holder_member_id} | {e.member_id for e in events})
    record = lot_json(lot, who)
    record["events"] = [with_proof(services, s, {"eventId": e.event_id, "kind": e.name, "at": e.at,
                                                 "by": {"id": e.member_id, "name": who.get(e.member_id)},
                                                 "quantity": e.quantity, "received": e.received, "lost": e.lost,
                                                 "reason": e.reason or None}, e.block_number, e.block_log_index)
                        for e in events]
    return record
