"""Dashboard figures for the portal's pictures: totals from the index, not records with proofs.

* ``GET /v1/dashboard/custody`` (public, rate-limited): goods flowing between the city's holders
  (sent, received, lost, refused, in transit per pair), stock per holder and item, losses by
  receiver and reason, consumption per holder. Donations are public by design (a donor's trace
  names every party and quantity); these are the same facts summed over all donations.
* ``GET /v1/dashboard/sharing`` (members): share requests counted by the owning department, the
  requesting department and status — every request for auditors and admins, the requests a member
  is party to for everyone else. Counts only: no purposes, fields or subjects.

Each figure is a sum over indexed rows; the records behind it carry their proofs on the record
routes (trace, requests), where the portal verifies them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import case, func
from sqlmodel import col, or_, select

from gateway.deps import CurrentMember, PublicLimit, SessionDep
from gateway.records.custody import Lot, Transfer
from gateway.records.members import Member
from gateway.records.sharing import Dataset, ShareRequest
from gateway.routers.common import hex_name

router = APIRouter(tags=["dashboard"])


def _members(s: Any, ids: set[int]) -> list[dict[str, Any]]:
    if not ids:
        return []
    rows = s.exec(select(Member).where(col(Member.id).in_(sorted(ids))).order_by(col(Member.id))).all()
    return [{"id": m.id, "name": m.name, "kind": m.kind} for m in rows]


@router.get("/v1/dashboard/custody", dependencies=[PublicLimit])
def custody(s: SessionDep) -> dict[str, Any]:
    """Flows between holders, stock, losses and consumption, summed over every donation."""
    status = col(Transfer.status)
    accepted = status == "Accepted"
    pairs = s.exec(select(  # type: ignore[call-overload]  # sqlmodel types select() for up to 4 columns
        Transfer.from_member_id, Transfer.to_member_id, func.count(),
        func.sum(Transfer.quantity),
        func.sum(case((accepted, Transfer.received), else_=0)),
        func.sum(case((accepted, Transfer.quantity - Transfer.received), else_=0)),
        func.sum(case((status == "Refused", Transfer.quantity), else_=0)),
        func.sum(case((status == "InTransit", Transfer.quantity), else_=0)),
    ).group_by(col(Transfer.from_member_id), col(Transfer.to_member_id))
        .order_by(col(Transfer.from_member_id), col(Transfer.to_member_id))).all()
    flows = [{"from": f, "to": t, "transfers": int(n), "sent": int(sent or 0), "received": int(received or 0),
              "lost": int(lost or 0), "refused": int(refused or 0), "inTransit": int(transit or 0)}
             for f, t, n, sent, received, lost, refused, transit in pairs]
    stock_rows = s.exec(select(Lot.holder_member_id, Lot.item_code, Lot.unit, func.sum(Lot.held))
                        .where(Lot.held > 0).group_by(col(Lot.holder_member_id), col(Lot.item_code), col(Lot.unit))
                        .order_by(col(Lot.holder_member_id), col(Lot.item_code))).all()
    stock = [{"holder": h, "item": hex_name(i), "unit": hex_name(u), "held": int(q)} for h, i, u, q in stock_rows]
    loss_rows = s.exec(select(Transfer.to_member_id, Transfer.reason, func.sum(Transfer.quantity - Transfer.received))
                       .where(accepted, Transfer.received < Transfer.quantity)
                       .group_by(col(Transfer.to_member_id), col(Transfer.reason))
                       .order_by(col(Transfer.to_member_id), col(Transfer.reason))).all()
    losses = [{"receiver": r, "reason": reason, "quantity": int(q)} for r, reason, q in loss_rows]
    consumed_rows = s.exec(select(Lot.holder_member_id, func.sum(Lot.consumed)).where(Lot.consumed > 0)
                           .group_by(col(Lot.holder_member_id)).order_by(col(Lot.holder_member_id))).all()
    consumed = [{"holder": h, "quantity": int(q)} for h, q in consumed_rows]
    totals = s.exec(select(func.coalesce(func.sum(Lot.original), 0)).where(col(Lot.parent_lot_id) == 0)).one()
    ids = ({int(f) for f, *_ in pairs} | {int(t) for _, t, *_ in pairs} | {int(h) for h, *_ in stock_rows}
           | {int(r) for r, *_ in loss_rows} | {int(h) for h, _ in consumed_rows})
    return {"members": _members(s, ids), "flows": flows, "stock": stock, "losses": losses, "consumed": consumed,
            "donated": int(totals)}


@router.get("/v1/dashboard/sharing")
def sharing(caller: CurrentMember, s: SessionDep) -> dict[str, Any]:
    """Share requests by owning department, requesting department and status (counts only)."""
    query = (select(Dataset.owner_member_id, ShareRequest.requester_member_id, ShareRequest.status, func.count())
             .join(Dataset, col(Dataset.id) == col(ShareRequest.dataset_id)))
    everyone = caller.has("auditor") or caller.has("admin")
    if not everyone:
        me = caller.member_id
        query = query.where(or_(Dataset.owner_member_id == me, Dataset.supervisor_member_id == me,
                                ShareRequest.requester_member_id == me))
    rows = s.exec(query.group_by(col(Dataset.owner_member_id), col(ShareRequest.requester_member_id),
                                 col(ShareRequest.status))
                  .order_by(col(Dataset.owner_member_id), col(ShareRequest.requester_member_id),
                            col(ShareRequest.status))).all()
    counts = [{"owner": o, "requester": r, "status": st, "count": int(n)} for o, r, st, n in rows]
    ids = {int(o) for o, *_ in rows} | {int(r) for _, r, *_ in rows}
    return {"scope": "all" if everyone else "own", "members": _members(s, ids), "counts": counts}
