"""The member directory (public) and governance proposals (members)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from sqlmodel import col, select

from gateway.deps import CurrentMember, PublicLimit, SessionDep
from gateway.records.members import Member, Proposal, RoleSet, accounts_of
from gateway.routers.common import NotFound

router = APIRouter(tags=["members"])


def member_json(m: Member, accounts: list[str] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": m.id, "name": m.name, "kind": m.kind, "level": m.level, "status": m.status,
                           "encryptionKey": m.encryption_key or None}
    if accounts is not None:
        out["accounts"] = accounts
    return out


@router.get("/v1/members", dependencies=[PublicLimit])
def list_members(s: SessionDep, kind: str | None = None) -> dict[str, Any]:
    """Every member of the consortium (public: names, kinds, levels, status, encryption keys)."""
    query = select(Member).order_by(col(Member.id))
    if kind:
        query = query.where(Member.kind == kind)
    return {"items": [member_json(m) for m in s.exec(query)]}


@router.get("/v1/members/{member_id}", dependencies=[PublicLimit])
def get_member(member_id: int, s: SessionDep) -> dict[str, Any]:
    member = s.get(Member, member_id)
    if member is None:
        raise NotFound("member", str(member_id))
    return member_json(member, accounts_of(s, member_id))


@router.get("/v1/roles", dependencies=[PublicLimit])
def roles(s: SessionDep) -> dict[str, Any]:
    """The current sealer, witness and admin sets (and the admin threshold)."""
    out: dict[str, Any] = {}
    for role in ("sealers", "witnesses", "admins"):
        row = s.exec(select(RoleSet).where(RoleSet.role == role)
                     .order_by(col(RoleSet.block_number).desc(), col(RoleSet.block_log_index).desc()).limit(1)).first()
        out[role] = json.loads(row.accounts) if row else []
        if role == "admins" and row is not None:
            out["threshold"] = row.threshold
    return out


@router.get("/v1/proposals")
def proposals(caller: CurrentMember, s: SessionDep, pending: bool = False) -> dict[str, Any]:
    """Governance proposals of every governed contract (members only)."""
    query = select(Proposal).order_by(col(Proposal.created_block).desc())
    if pending:
        query = query.where(Proposal.executed == False)  # noqa: E712
    return {"items": [{"contract": p.contract, "id": p.proposal_id, "action": p.action, "payload": p.payload,
                       "proposer": {"memberId": p.proposer_member_id, "account": p.proposer}, "epoch": p.epoch,
                       "approvals": p.approvals, "threshold": p.threshold, "approvers": json.loads(p.approvers),
                       "executed": p.executed, "createdAt": p.created_at} for p in s.exec(query)]}
