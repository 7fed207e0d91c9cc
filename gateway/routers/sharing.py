"""Data sharing for members: the dataset catalogue, requests and grants to and from a member,
and who accessed a dataset, when and why (owner, supervisor, auditors and admins)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query
from sqlmodel import Session, col, or_, select

from gateway.app import Services
from gateway.deps import Caller, CurrentMember, ServicesDep, SessionDep
from gateway.records.members import names
from gateway.records.sharing import Access, Dataset, SharingEvent, ShareRequest
from gateway.routers.common import MAX_PAGE, Forbidden, NotFound, decode_cursor, encode_cursor, with_proof

router = APIRouter(tags=["data sharing"])
OVERSIGHT = ("auditor", "admin")


def _oversees(caller: Caller) -> bool:
    return any(caller.has(role) for role in OVERSIGHT)


def dataset_json(services: Services, s: Session, d: Dataset, who: dict[int, str]) -> dict[str, Any]:
    record = {"id": d.id, "title": d.title, "classification": d.classification, "schemaCid": d.schema_cid,
              "owner": {"id": d.owner_member_id, "name": who.get(d.owner_member_id)},
              "supervisor": ({"id": d.supervisor_member_id, "name": who.get(d.supervisor_member_id)}
                             if d.supervisor_member_id else None),
              "registeredAt": d.registered_at}
    return with_proof(services, s, record, d.block_number, d.block_log_index)


def request_json(services: Services, s: Session, r: ShareRequest, who: dict[int, str]) -> dict[str, Any]:
    request = json.loads(r.request)
    record: dict[str, Any] = {
        "id": r.id, "datasetId": r.dataset_id, "status": r.status,
        "requester": {"id": r.requester_member_id, "name": who.get(r.requester_member_id), "account": r.requester},
        "purpose": request["purpose"], "legalBasis": request["legalBasis"], "requestedFields": request["fields"],
        "fields": json.loads(r.fields), "validFrom": r.valid_from, "validUntil": r.valid_until,
        "maxAccesses": r.max_accesses, "accessCount": r.access_count,
        "supervisor": {"id": r.supervisor_member_id, "name": who.get(r.supervisor_member_id)} if r.supervisor_member_id else None,
        "decisionReason": r.decision_reason or None, "submittedAt": r.submitted_at,
        "signedRequest": {"message": request, "digest": r.digest, "signature": r.signature},
        "delivery": ({"cid": r.delivered_cid, "ciphertextHash": r.ciphertext_hash,
                      "plaintextCommitment": r.plaintext_commitment} if r.delivered_cid else None),
    }
    record = with_proof(services, s, record, r.block_number, r.block_log_index)
    history = s.exec(select(SharingEvent).where(SharingEvent.request_id == r.id)
                     .order_by(col(SharingEvent.block_number), col(SharingEvent.block_log_index))).all()
    record["history"] = [with_proof(services, s, {"event": h.name}, h.block_number, h.block_log_index)
                         for h in history]
    for item in record["history"]:
        if item["event"] == "PayloadDelivered" and item["proof"]:
            # The ciphertext's SHA-256 is on chain (PayloadDelivered.ciphertextHash).
            item["proof"]["payload"] = {"cid": r.delivered_cid, "sha256": r.ciphertext_hash}
    return record


@router.get("/v1/datasets")
def list_datasets(caller: CurrentMember, services: ServicesDep, s: SessionDep, owner: int | None = None) -> dict[str, Any]:
    """The catalogue of datasets members may request (metadata only; payloads stay with owners)."""
    query = select(Dataset).order_by(col(Dataset.id))
    if owner is not None:
        query = query.where(Dataset.owner_member_id == owner)
    rows = s.exec(query).all()
    who = names(s, {d.owner_member_id for d in rows} | {d.supervisor_member_id for d in rows})
    return {"items": [dataset_json(services, s, d, who) for d in rows]}


@router.get("/v1/datasets/{dataset_id}")
def get_dataset(dataset_id: int, caller: CurrentMember, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    d = s.get(Dataset, dataset_id)
    if d is None:
        raise NotFound("dataset", str(dataset_id))
    return dataset_json(services, s, d, names(s, {d.owner_member_id, d.supervisor_member_id}))


@router.get("/v1/datasets/{dataset_id}/accesses")
def dataset_accesses(dataset_id: int, caller: CurrentMember, services: ServicesDep, s: SessionDep,
                     cursor: str | None = None, limit: int = Query(100, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
    """Who accessed this dataset, when and why — accesses and refusals, each with its proof
    (the owner, the dataset's supervisor, auditors and admins)."""
    d = s.get(Dataset, dataset_id)
    if d is None:
        raise NotFound("dataset", str(dataset_id))
    if caller.member_id not in (d.owner_member_id, d.supervisor_member_id) and not _oversees(caller):
        raise Forbidden("only the dataset's owner, its supervisor, auditors and admins see its access log")
    query = select(Access).where(Access.dataset_id == dataset_id)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(or_(col(Access.block_number) > after[0],
                                (col(Access.block_number) == after[0]) & (col(Access.block_log_index) > after[1])))
    rows = s.exec(query.order_by(col(Access.block_number), col(Access.block_log_index)).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    who = names(s, {a.member_id for a in page})
    items = [with_proof(services, s, {
        "grantId": a.grant_id, "member": {"id": a.member_id, "name": who.get(a.member_id), "account": a.account},
        "refused": a.refused, "state": a.state, "accessCount": a.access_count, "reason": a.reason, "at": a.at},
        a.block_number, a.block_log_index) for a in page]
    return {"items": items,
            "next": encode_cursor([page[-1].block_number, page[-1].block_log_index]) if more and page else None}


@router.get("/v1/requests")
def list_requests(caller: CurrentMember, services: ServicesDep, s: SessionDep,
                  direction: str = Query("all", pattern="^(incoming|outgoing|all)$"), status: str | None = None,
                  cursor: str | None = None, limit: int = Query(100, ge=1, le=MAX_PAGE)) -> dict[str, Any]:
    """Requests from the caller (outgoing), to the caller's datasets or supervision (incoming)."""
    me = caller.member_id
    own = select(Dataset.id).where(or_(Dataset.owner_member_id == me, Dataset.supervisor_member_id == me))
    incoming = col(ShareRequest.dataset_id).in_(own)
    outgoing = ShareRequest.requester_member_id == me
    query = select(ShareRequest).where(incoming if direction == "incoming" else outgoing if direction == "outgoing"
                                       else or_(incoming, outgoing))
    if status:
        query = query.where(ShareRequest.status == status)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(col(ShareRequest.id) > int(after))
    rows = s.exec(query.order_by(col(ShareRequest.id)).limit(limit + 1)).all()
    page, more = rows[:limit], len(rows) > limit
    who = names(s, {r.requester_member_id for r in page} | {r.supervisor_member_id for r in page})
    return {"items": [request_json(services, s, r, who) for r in page],
            "next": encode_cursor(page[-1].id) if more and page else None}


@router.get("/v1/requests/{request_id}")
def get_request(request_id: int, caller: CurrentMember, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """One request (grant) with its whole history, to its parties, auditors and admins."""
    r = s.get(ShareRequest, request_id)
    if r is None:
        raise NotFound("request", str(request_id))
    d = s.get(Dataset, r.dataset_id)
    parties = {r.requester_member_id, r.supervisor_member_id} | ({d.owner_member_id, d.supervisor_member_id} if d else set())
    if caller.member_id not in parties and not _oversees(caller):
        raise Forbidden("only the request's parties, auditors and admins see it")
    return request_json(services, s, r, names(s, parties))
