"""Members, their accounts and keys, the sealer/witness/admin sets, and governance proposals.

Rows come from ``MemberRegistry`` events (and the ``AdminApprovals`` events of every governed
contract). Members admitted at genesis emitted their events in the registry's constructor, which
no receipt holds; the gateway seeds them from the registry's views at the deployment block
(``seed_from_registry``) — on a chain where the registry was deployed by a transaction, those
events are in its receipt and are indexed like any other.
"""

from __future__ import annotations

import json
from typing import Any

from sqlmodel import Field, Session, SQLModel, select

from gateway.indexer import IndexContext, IndexedEvent
from gateway.records.enums import name_of


class Member(SQLModel, table=True):
    __tablename__ = "member"

    id: int = Field(primary_key=True)
    name: str
    kind: str = Field(index=True)
    level: str
    status: str = Field(index=True)
    encryption_key: str = ""
    suspension_reason: str = ""
    admitted_block: int = 0
    updated_block: int = 0


class MemberAccount(SQLModel, table=True):
    """An account and the member it belongs (or belonged) to."""

    __tablename__ = "member_account"

    account: str = Field(primary_key=True, max_length=42)
    member_id: int = Field(index=True)
    added_block: int = 0
    removed_block: int | None = None


class RoleSet(SQLModel, table=True):
    """The sealer, witness or admin set from ``block`` on (history: one row per change)."""

    __tablename__ = "role_set"

    role: str = Field(primary_key=True, max_length=16)
    block_number: int = Field(primary_key=True)
    block_log_index: int = Field(primary_key=True)
    accounts: str  # JSON list of lower-case hex addresses
    threshold: int | None = None
    epoch: int | None = None


class Proposal(SQLModel, table=True):
    """An M-of-N governance proposal of one of the governed contracts."""

    __tablename__ = "proposal"

    contract: str = Field(primary_key=True, max_length=32)
    proposal_id: int = Field(primary_key=True)
    action: str
    payload: str
    proposer_member_id: int
    proposer: str
    epoch: int
    approvals: int = 0
    threshold: int = 0
    approvers: str = "[]"  # JSON list of {memberId, account, block}
    executed: bool = False
    created_block: int = 0
    created_at: int = 0
    executed_block: int | None = None


def _addr(value: str) -> str:
    return value.lower()


class MemberRecords:
    """Applies registry and governance events."""

    EVENTS = frozenset({
        ("MemberRegistry", "MemberAdmitted"), ("MemberRegistry", "AccountAdded"),
        ("MemberRegistry", "AccountRemoved"), ("MemberRegistry", "EncryptionKeySet"),
        ("MemberRegistry", "MemberSuspended"), ("MemberRegistry", "MemberReinstated"),
        ("MemberRegistry", "SealersChanged"), ("MemberRegistry", "WitnessesChanged"),
        ("MemberRegistry", "AdminsChanged"),
        *((c, e) for c in ("MemberRegistry", "DataSharing", "Credit")
          for e in ("ProposalCreated", "ProposalApproved", "ProposalExecuted")),
    })

    def apply(self, s: Session, ev: IndexedEvent, ctx: IndexContext) -> None:
        a = ev.args
        n = ev.block_number
        if ev.name == "MemberAdmitted":
            s.merge(Member(id=a["memberId"], name=a["name"], kind=name_of("MemberRegistry.MemberKind", a["kind"]),
                           level=name_of("MemberRegistry.Level", a["level"]), status="Active",
                           admitted_block=n, updated_block=n))
        elif ev.name == "AccountAdded":
            s.merge(MemberAccount(account=_addr(a["account"]), member_id=a["memberId"], added_block=n))
        elif ev.name == "AccountRemoved":
            row = s.get(MemberAccount, _addr(a["account"]))
            if row is not None:
                row.removed_block = n
                s.add(row)
        elif ev.name in ("EncryptionKeySet", "MemberSuspended", "MemberReinstated"):
            member = s.get(Member, a["memberId"])
            if member is not None:
                if ev.name == "EncryptionKeySet":
                    member.encryption_key = a["key"]
                elif ev.name == "MemberSuspended":
                    member.status, member.suspension_reason = "Suspended", a["reason"]
                else:
                    member.status, member.suspension_reason = "Active", ""
                member.updated_block = n
                s.add(member)
        elif ev.name in ("SealersChanged", "WitnessesChanged", "AdminsChanged"):
            role = {"SealersChanged": "sealers", "WitnessesChanged": "witnesses", "AdminsChanged": "admins"}[ev.name]
            accounts = [_addr(x) for x in a.get("sealers", a.get("witnesses", a.get("admins", [])))]
            s.add(RoleSet(role=role, block_number=n, block_log_index=ev.block_log_index,
                          accounts=json.dumps(accounts), threshold=a.get("threshold"), epoch=a.get("epoch")))
            if role == "sealers":
                ctx.sealer_changes.append((n, [bytes.fromhex(x[2:]) for x in accounts]))
        elif ev.name == "ProposalCreated":
            s.add(Proposal(contract=ev.contract, proposal_id=a["proposalId"],
                           action=name_of(f"{ev.contract}.Action", a["action"]), payload=a["payload"],
                           proposer_member_id=a["proposerMemberId"], proposer=_addr(a["proposer"]),
                           epoch=a["epoch"], created_block=n, created_at=ev.timestamp))
        elif ev.name == "ProposalApproved":
            proposal = s.get(Proposal, (ev.contract, a["proposalId"]))
            if proposal is not None:
                approvers = json.loads(proposal.approvers)
                approvers.append({"memberId": a["approverMemberId"], "account": _addr(a["approver"]), "block": n})
                proposal.approvers = json.dumps(approvers)
                proposal.approvals, proposal.threshold = a["approvals"], a["threshold"]
                s.add(proposal)
        elif ev.name == "ProposalExecuted":
            proposal = s.get(Proposal, (ev.contract, a["proposalId"]))
            if proposal is not None:
                proposal.executed, proposal.executed_block = True, n
                s.add(proposal)


def seed_from_registry(s: Session, members: list[dict[str, Any]], block: int) -> None:
    """Members that exist at the deployment block (from ``getMember`` at that block)."""
    for m in members:
        s.merge(Member(id=m["id"], name=m["name"], kind=name_of("MemberRegistry.MemberKind", m["kind"]),
                       level=name_of("MemberRegistry.Level", m["level"]),
                       status=name_of("MemberRegistry.Status", m["status"]),
                       encryption_key=m["encryptionKey"], admitted_block=block, updated_block=block))
        for account in m["accounts"]:
            s.merge(MemberAccount(account=_addr(account), member_id=m["id"], added_block=block))


def member_of(s: Session, account: str) -> Member | None:
    """The member an account currently belongs to (None when it belongs to nobody)."""
    row = s.get(MemberAccount, account.lower())
    if row is None or row.removed_block is not None:
        return None
    return s.get(Member, row.member_id)


def accounts_of(s: Session, member_id: int) -> list[str]:
    rows = s.exec(select(MemberAccount).where(MemberAccount.member_id == member_id,
                                              MemberAccount.removed_block.is_(None)))  # type: ignore[union-attr]
    return [r.account for r in rows]


def names(s: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = s.exec(select(Member).where(Member.id.in_(ids)))  # type: ignore[attr-defined]
    return {m.id: m.name for m in rows}
