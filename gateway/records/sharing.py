"""Datasets, share requests (grants), deliveries and accesses, from ``DataSharing`` events.

A grant's id is its request's id. The request row keeps the signed EIP-712 request exactly as it
was signed (portable evidence) and the terms in force after approval; accesses and refusals are
rows of their own, so "who accessed this dataset, when, why" is one indexed query.
"""

from __future__ import annotations

import json

from sqlmodel import Field, Session, SQLModel

from gateway.indexer import IndexContext, IndexedEvent
from gateway.records.enums import name_of


class Dataset(SQLModel, table=True):
    __tablename__ = "dataset"

    id: int = Field(primary_key=True)
    owner_member_id: int = Field(index=True)
    owner_account: str
    title: str
    classification: str
    schema_cid: str
    supervisor_member_id: int = 0
    registered_block: int
    registered_at: int
    #: The event that created the row: (block, position in block), for its proof.
    block_number: int
    block_log_index: int


class ShareRequest(SQLModel, table=True):
    """A request and, once approved, its grant."""

    __tablename__ = "share_request"

    id: int = Field(primary_key=True)
    dataset_id: int = Field(index=True)
    requester_member_id: int = Field(index=True)
    requester: str
    relayer: str
    digest: str
    #: The signed ShareRequest (EIP-712 message) as JSON, and the signature.
    request: str
    signature: str
    status: str = Field(index=True)
    #: Terms in force (after approval: narrowed fields, validity and cap).
    fields: str = "[]"
    valid_from: int = 0
    valid_until: int = 0
    max_accesses: int = 0
    supervisor_member_id: int = 0
    access_count: int = 0
    decided_by_member_id: int = 0
    decision_reason: str = ""
    delivered_cid: str = ""
    ciphertext_hash: str = ""
    plaintext_commitment: str = ""
    submitted_block: int
    submitted_at: int
    updated_block: int
    block_number: int
    block_log_index: int


class Access(SQLModel, table=True):
    """One recorded access to a grant's payload, or a refusal."""

    __tablename__ = "access"

    block_number: int = Field(primary_key=True)
    block_log_index: int = Field(primary_key=True)
    grant_id: int = Field(index=True)
    dataset_id: int = Field(index=True)
    member_id: int
    account: str
    refused: bool
    state: str = ""
    access_count: int = 0
    reason: str
    at: int


class SharingEvent(SQLModel, table=True):
    """Every DataSharing event of a request, in order (its history, each with a proof)."""

    __tablename__ = "sharing_event"

    block_number: int = Field(primary_key=True)
    block_log_index: int = Field(primary_key=True)
    request_id: int = Field(index=True)
    dataset_id: int = Field(index=True)
    name: str


class SharingRecords:
    EVENTS = frozenset(("DataSharing", e) for e in (
        "DatasetRegistered", "SupervisorAssigned", "RequestSubmitted", "NonceCancelled", "RequestApproved",
        "SupervisorApproved", "RequestRejected", "RequestWithdrawn", "PayloadDelivered", "AccessRecorded",
        "AccessRefused", "GrantRevoked"))

    def apply(self, s: Session, ev: IndexedEvent, ctx: IndexContext) -> None:
        a = ev.args
        n = ev.block_number
        where = {"block_number": n, "block_log_index": ev.block_log_index}
        if ev.name == "DatasetRegistered":
            s.add(Dataset(id=a["datasetId"], owner_member_id=a["ownerMemberId"], owner_account=a["account"].lower(),
                          title=a["title"], classification=name_of("DataSharing.Classification", a["classification"]),
                          schema_cid=a["schemaCid"], registered_block=n, registered_at=ev.timestamp, **where))
            return
        if ev.name == "SupervisorAssigned":
            dataset = s.get(Dataset, a["datasetId"])
            if dataset is not None:
                dataset.supervisor_member_id = a["supervisorMemberId"]
                s.add(dataset)
            return
        if ev.name == "NonceCancelled":
            return
        request_id = int(a["requestId"] if "requestId" in a else a["grantId"])
        if ev.name == "RequestSubmitted":
            req = a["request"]
            s.add(ShareRequest(
                id=request_id, dataset_id=a["datasetId"], requester_member_id=a["requesterMemberId"],
                requester=req["requester"].lower(), relayer=a["relayer"].lower(), digest=a["digest"],
                request=json.dumps(req), signature=a["signature"], status="Pending",
                fields=json.dumps(req["fields"]), valid_from=int(req["validFrom"]), valid_until=int(req["validUntil"]),
                max_accesses=int(req["maxAccesses"]), submitted_block=n, submitted_at=ev.timestamp, updated_block=n,
                block_number=n, block_log_index=ev.block_log_index))
        else:
            row = s.get(ShareRequest, request_id)
            if row is None:
                return
            if ev.name == "RequestApproved":
                row.status = name_of("DataSharing.RequestStatus", a["status"])
                row.fields = json.dumps(a["fields"])
                row.valid_until, row.max_accesses = int(a["validUntil"]), int(a["maxAccesses"])
                row.supervisor_member_id = a["supervisorMemberId"]
                row.decided_by_member_id = a["ownerMemberId"]
            elif ev.name == "SupervisorApproved":
                row.status = "Granted"
            elif ev.name in ("RequestRejected", "RequestWithdrawn", "GrantRevoked"):
                row.status = {"RequestRejected": "Rejected", "RequestWithdrawn": "Withdrawn", "GrantRevoked": "Revoked"}[ev.name]
                row.decided_by_member_id = a.get("memberId", a.get("requesterMemberId", a.get("ownerMemberId", 0)))
                row.decision_reason = a["reason"]
            elif ev.name == "PayloadDelivered":
                row.delivered_cid, row.ciphertext_hash = a["cid"], a["ciphertextHash"]
                row.plaintext_commitment = a["plaintextCommitment"]
            elif ev.name in ("AccessRecorded", "AccessRefused"):
                refused = ev.name == "AccessRefused"
                if not refused:
                    row.access_count = int(a["accessCount"])
                s.add(Access(grant_id=request_id, dataset_id=a["datasetId"], member_id=a["memberId"],
                             account=a["account"].lower(), refused=refused,
                             state=name_of("DataSharing.GrantState", a["state"]) if refused else "Active",
                             access_count=int(a.get("accessCount", row.access_count)), reason=a["reason"],
                             at=ev.timestamp, **where))
            row.updated_block = n
            s.add(row)
        s.add(SharingEvent(request_id=request_id, dataset_id=a["datasetId"], name=ev.name, **where))
