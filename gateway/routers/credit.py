"""Credit lookups: ``GET /v1/credit/{uscc}`` (public entries, each with its proof) and, for
signed-in members, the same with restricted entries they may read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from sqlmodel import Session, col, select

from gateway.app import Services
from gateway.deps import PublicLimit, ServicesDep, SessionDep
from gateway.records.credit import CreditBatch, CreditEntry
from gateway.records.members import names
from gateway.routers.common import NotFound, cached_answer, with_proof, with_proofs
from gateway.uscc import parse_uscc

router = APIRouter(tags=["credit"])


def entry_record(e: CreditEntry, who: dict[int, str]) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": e.id, "uscc": e.uscc or None, "action": e.action, "category": e.category, "severity": e.severity,
        "effectiveDate": e.effective_date, "expiryDate": e.expiry_date or None, "amount": e.amount,
        "summaryHash": e.summary_hash, "evidenceCid": e.evidence_cid or None, "isPublic": e.is_public,
        "issuer": {"id": e.issuer_member_id, "name": who.get(e.issuer_member_id), "account": e.issuer},
        "recordedAt": e.recorded_at, "replacedBy": e.replaced_by or None,
    }
    if e.refers_to or e.refers_to_batch:
        record["replaces"] = ({"entryId": e.refers_to} if e.refers_to
                              else {"batchId": e.refers_to_batch, "index": e.refers_to_index})
        record["reason"] = e.reason
    if e.proposal_id:
        record["proposalId"] = e.proposal_id
    if not e.is_public:
        record.update(subjectTag=e.subject_tag, commitment=e.commitment)
    record["evidence"] = f"/v1/evidence/credit-entry/{e.id}"
    return record


def entry_json(services: Services, s: Session, e: CreditEntry, who: dict[int, str]) -> dict[str, Any]:
    return with_proofs(services, s, [(entry_record(e, who), e.block_number, e.block_log_index)])[0]


def history(services: Services, s: Session, uscc: str) -> dict[str, Any]:
    code = parse_uscc(uscc)
    entries = s.exec(select(CreditEntry).where(CreditEntry.uscc == code)
                     .order_by(col(CreditEntry.block_number), col(CreditEntry.block_log_index))).all()
    who = names(s, {e.issuer_member_id for e in entries})
    proven = with_proofs(services, s, [(entry_record(e, who), e.block_number, e.block_log_index) for e in entries])
    on_chain = [((e.block_number, e.block_log_index, 0), {"source": "chain", **record})
                for e, record in zip(entries, proven)]
    from gateway.routers.credit_batches import batch_history

    # Batch entries about the subject (public ones: the USCC is in the batch file), merged in chain
    # order: a batch's entries sit at its BatchAnchored event, in index order.
    merged = sorted(on_chain + batch_history(services, s, code), key=lambda item: item[0])
    items = [item for _, item in merged]
    current = [i for i in items if i["replacedBy"] is None and i["action"] != "Revoke"]
    return {"uscc": code, "entries": items, "current": [i["id"] for i in current if i["source"] == "chain"],
            "currentBatchEntries": [{"batchId": i["batchId"], "index": i["index"]} for i in current
                                    if i["source"] == "batch"],
            "verified": all(i["verified"] for i in items)}


@router.get("/v1/credit/{uscc}", dependencies=[PublicLimit])
async def get_credit(uscc: str, services: ServicesDep) -> Response:
    """The public credit entries of an enterprise, corrections and revocations in chain order
    (an invalid USCC is a 422 naming the bad character)."""
    code = parse_uscc(uscc)
    return await cached_answer(services, f"credit:{code}", lambda s: history(services, s, code))


@router.get("/v1/credit/entries/{entry_id}", dependencies=[PublicLimit])
def get_entry(entry_id: int, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    entry = s.get(CreditEntry, entry_id)
    if entry is None or not entry.is_public:
        raise NotFound("public credit entry", str(entry_id))
    return entry_json(services, s, entry, names(s, {entry.issuer_member_id}))


@router.get("/v1/credit/batches/{batch_id}", dependencies=[PublicLimit])
def get_batch(batch_id: int, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    batch = s.get(CreditBatch, batch_id)
    if batch is None:
        raise NotFound("credit batch", str(batch_id))
    record = {"id": batch.id, "issuer": {"id": batch.issuer_member_id, "account": batch.issuer},
              "category": batch.category, "merkleRoot": batch.merkle_root, "entryCount": batch.entry_count,
              "batchFileCid": batch.batch_file_cid, "anchoredAt": batch.anchored_at, "state": batch.state,
              "problem": batch.problem or None}
    return with_proof(services, s, record, batch.block_number, batch.block_log_index)
