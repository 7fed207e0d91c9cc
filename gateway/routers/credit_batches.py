"""Credit batches and restricted entries over HTTP.

* ``POST /v1/credit/batches?category=…`` (signed-in regulator) — a CSV or JSON Lines batch:
  validated, its batch file stored, its root built; answers with the unsigned ``anchorBatch``
  calldata the regulator signs with its own key (the gateway holds no member key).
* ``GET /v1/credit/batches/{id}/entries/{index}`` (public) — one entry with its ``batch`` proof.
* ``GET /v1/evidence/credit-batch-entry/{id}/{index}`` (public) — its evidence bundle.
* ``POST /v1/credit/restricted`` (signed-in issuer) — a restricted entry's content and salts.
* ``GET /v1/credit/{uscc}/restricted`` (signed-in Regulator, Auditor or Admin member) — the
  restricted entries about a USCC, opened, each with the commitment check and its proof.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel import Session, col, select

from gateway.credit_batches import serving
from gateway.credit_batches.intake import build_batch, sniff_kind
from gateway.credit_batches.restricted import READER_KINDS, RestrictedContent, RestrictedContentInvalid
from gateway.credit_batches.service import of as credit_batches
from gateway.deps import Caller, CurrentMember, PublicLimit, ServicesDep, SessionDep
from gateway.errors import GatewayError, PayloadTooLarge
from gateway.evidence import bundle, strip_proofs
from gateway.records.credit import CreditEntry
from gateway.records.enums import enums
from gateway.records.members import names
from gateway.routers.common import Forbidden, NotFound, with_proof

router = APIRouter(tags=["credit"])


@dataclass
class CategoryInvalid(GatewayError):
    """Raised when a request names a credit category that does not exist."""

    category: str
    categories: list[str]
    status = 422
    slug = "invalid-category"

    def __str__(self) -> str:
        return f"{self.category!r} is not a credit category ({', '.join(self.categories)})"


def _category(text: str) -> tuple[int, str]:
    values = enums()["Credit.Category"]
    if text.isdigit() and int(text) < len(values):
        return int(text), values[int(text)]
    for i, name in enumerate(values):
        if name.lower() == text.strip().lower():
            return i, name
    raise CategoryInvalid(text, list(values))


def _require_issuer(caller: Caller, category: str) -> None:
    if caller.member.kind.lower() != "regulator" or not caller.has(f"issuer:{category}"):
        raise Forbidden(f"member {caller.member_id} ({caller.member.name}) is not a regulator authorised to issue "
                        f"{category} entries")


async def _spool_body(request: Request, directory: Path, limit: int) -> Path:
    """The request body streamed to a file under ``directory``; 413 past ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(limit)
    directory.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=directory, prefix="upload-")
    path = Path(name)
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(limit)
                out.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@router.post("/v1/credit/batches", status_code=201)
async def upload_batch(request: Request, category: str, caller: CurrentMember, services: ServicesDep) -> dict[str, Any]:
    """Validate a regulator's batch (CSV with a header row, or JSON Lines; ``Content-Type``
    ``text/csv`` or ``application/x-ndjson``), store its batch file and return the root, count and
    the unsigned ``anchorBatch`` call to sign. Any rejected row refuses the whole file (422, every
    rejected row named by line, the first 100 listed); nothing is stored then."""
    value, name = _category(category)
    _require_issuer(caller, name)
    batches = credit_batches(services)
    spool = services.settings.data_dir / "spool"
    source = await _spool_body(request, spool, services.settings.max_batch_upload_bytes)
    out = source.with_suffix(".batch.jsonl")
    try:
        with open(source, "rb") as head:
            kind = sniff_kind(head.read(64), request.headers.get("content-type"))
        built = await asyncio.to_thread(build_batch, source, kind, caller.member_id, value, out,
                                        max_entries=services.settings.max_batch_entries)

        def store() -> str:
            with open(out, "rb") as f:
                cid = str(batches.store.put(f))
            batches.restricted.put_many([RestrictedContent(
                row.uscc, row.subject_salt, value, row.severity, row.effective_date, row.expiry_date, row.amount,
                row.summary, row.evidence_cid, row.salt) for row in built.restricted], caller.member_id)
            batches.prepared.save(cid, caller.member_id, value, built.hashes, built.usccs,
                                  built.commitments)
            return cid

        cid = await asyncio.to_thread(store)
        size = out.stat().st_size
    finally:
        source.unlink(missing_ok=True)
        out.unlink(missing_ok=True)
    to, data = batches.builder.call("Credit", "anchorBatch", [built.root, built.count, value, cid])
    root = "0x" + built.root.hex()
    return {
        "entryCount": built.count, "category": name, "depth": built.depth, "merkleRoot": root,
        "batchFileCid": cid, "batchFileSize": size, "restrictedEntries": len(built.restricted),
        "issuer": {"id": caller.member_id, "account": caller.account},
        "anchor": {"to": "0x" + to.hex(), "data": "0x" + data.hex(),
                   "function": "anchorBatch(bytes32,uint256,uint8,string)",
                   "args": {"merkleRoot": root, "entryCount": built.count, "category": value, "batchFileCid": cid}},
    }


@router.get("/v1/credit/batches/{batch_id}/entries/{index}", dependencies=[PublicLimit])
def get_batch_entry(batch_id: int, index: int, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """Entry ``index`` of an indexed batch with its ``batch`` proof (leaf, path, root, and the
    receipt proof of the anchoring ``BatchAnchored`` event), checked by the gateway."""
    batch = serving.indexed_batch(s, batch_id)
    if not 0 <= index < batch.entry_count:
        raise NotFound(f"entry of batch {batch_id} (it has {batch.entry_count})", str(index))
    replaced = serving.replacements(s, [(batch_id, index)]).get((batch_id, index))
    return serving.entry_json(services, s, batch, index, names(s, {batch.issuer_member_id}), replaced)


@router.get("/v1/evidence/credit-batch-entry/{batch_id}/{index}", dependencies=[PublicLimit])
async def batch_entry_evidence(batch_id: int, index: int, services: ServicesDep, s: SessionDep) -> JSONResponse:
    """Everything needed to verify a batch entry offline: the anchor's receipt proof (in
    ``events``) and the entry's leaf fields, leaf hash and path (in ``batchEntries``)."""
    batch = serving.indexed_batch(s, batch_id)
    if not 0 <= index < batch.entry_count:
        raise NotFound(f"entry of batch {batch_id}", str(index))
    served = serving.serve(services, s, batch, index)
    if not served.verified or served.entry is None:
        from gateway.evidence import EvidenceUnavailable

        raise EvidenceUnavailable(f"entry {index} of batch {batch_id} fails the gateway's own check "
                                  f"({served.failed_check}); it is not served as evidence")
    record = serving.entry_json(services, s, batch, index, {}, None)
    doc = await bundle(services, s, "credit-batch-entry", f"{batch_id}/{index}", strip_proofs(record),
                       [(batch.block_number, batch.block_log_index)])
    doc["batchEntries"] = [{
        "batchId": batch_id, "index": index, "leaf": served.entry.leaf.to_json(),
        "leafHash": served.proof["leaf"], "path": served.proof["path"], "root": served.proof["root"],
        "anchorEvent": 0,
    }]
    doc["checks"] = list(doc["checks"]) + list(serving.BATCH_CHECKS)
    return JSONResponse(doc, headers={"Content-Disposition":
                                      f'attachment; filename="credit-batch-entry-{batch_id}-{index}.evidence.json"'})


def batch_history(services: Any, s: Session, uscc: str) -> list[tuple[tuple[int, int, int], dict[str, Any]]]:
    """The indexed batch entries about ``uscc`` as ``(chain position, answer)`` pairs."""
    found = serving.subject_entries(s, uscc)
    if not found:
        return []
    replaced = serving.replacements(s, [(b.id, i) for b, i in found])
    who = names(s, {b.issuer_member_id for b, _ in found})
    return [((b.block_number, b.block_log_index, i),
             {"source": "batch", "id": None, "action": "Issue",
              **serving.entry_json(services, s, b, i, who, replaced.get((b.id, i)))})
            for b, i in found]


# ------------------------------------------------------------------------------ restricted entries
@router.post("/v1/credit/restricted", status_code=201)
async def upload_restricted(request: Request, caller: CurrentMember, services: ServicesDep,
                            s: SessionDep) -> dict[str, Any]:
    """The issuing regulator hands over a restricted entry's content and salts (JSON: ``uscc``,
    ``subjectSalt``, ``category``, ``severity``, ``effectiveDate``, ``expiryDate``, ``amount``,
    ``summary``, ``evidenceCid``, ``salt``; optionally ``entryId`` of the entry on chain). The
    gateway recomputes subject tag and commitment, checks them against the chain when the entry is
    there (same commitment, tag, category and issuer), and keeps the content encrypted."""
    try:
        body = await request.json()
    except ValueError:
        raise RestrictedContentInvalid("body", "not JSON") from None
    content = RestrictedContent.from_json(body)
    category = enums()["Credit.Category"]
    if content.category >= len(category):
        raise RestrictedContentInvalid("category", f"{content.category} is not a credit category")
    if caller.member.kind.lower() != "regulator":
        raise Forbidden("only the issuing regulator hands over a restricted entry's content")
    tag, commitment = content.hashes()
    commitment_hex = "0x" + commitment.hex()
    entry_id = body.get("entryId") if isinstance(body, dict) else None
    on_chain = s.exec(select(CreditEntry).where(CreditEntry.commitment == commitment_hex)).all()
    if entry_id is not None:
        entry = s.get(CreditEntry, entry_id)
        if entry is None or entry.is_public:
            raise NotFound("restricted credit entry", str(entry_id))
        if entry.commitment != commitment_hex or entry.subject_tag != "0x" + tag.hex():
            raise RestrictedContentInvalid("commitment", f"the content hashes to commitment {commitment_hex} and tag "
                                                         f"0x{tag.hex()}; entry {entry_id} holds {entry.commitment} "
                                                         f"and {entry.subject_tag}")
        on_chain = [entry]
    for entry in on_chain:
        if entry.category != category[content.category]:
            raise RestrictedContentInvalid("category", f"entry {entry.id} is {entry.category}, not "
                                                       f"{category[content.category]}")
        if entry.issuer_member_id != caller.member_id:
            raise Forbidden(f"entry {entry.id} was issued by member {entry.issuer_member_id}; only it hands over "
                            "its content")
    batch_rows = serving.commitment_entries(s, commitment_hex)
    for batch, _index in batch_rows:
        if batch.issuer_member_id != caller.member_id:
            raise Forbidden(f"batch {batch.id} was anchored by member {batch.issuer_member_id}")
    await asyncio.to_thread(credit_batches(services).restricted.put, content, caller.member_id)
    return {"subjectTag": "0x" + tag.hex(), "commitment": commitment_hex,
            "onChain": [{"entryId": e.id} for e in on_chain] + [{"batchId": b.id, "index": i} for b, i in batch_rows]}


def _may_read_restricted(caller: Caller) -> bool:
    return caller.member.kind.lower() in READER_KINDS


@router.get("/v1/credit/{uscc}/restricted")
def get_restricted(uscc: str, caller: CurrentMember, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """The restricted entries about ``uscc`` that the gateway holds content for, opened, each with
    the recomputed subject tag and commitment (``commitmentCheck``) and the proof of the entry that
    carries them on chain. Signed-in Regulator, Auditor and Admin members only."""
    from gateway.uscc import parse_uscc

    code = parse_uscc(uscc)
    if not _may_read_restricted(caller):
        raise Forbidden(f"restricted credit entries are open to regulators, auditors and admins; member "
                        f"{caller.member_id} is {caller.member.kind}")
    store = credit_batches(services).restricted
    items: list[tuple[tuple[int, int, int], dict[str, Any]]] = []
    pending: list[dict[str, Any]] = []
    for commitment_hex in store.commitments_of(code):
        doc = store.get(bytes.fromhex(commitment_hex[2:]))
        if doc is None:
            continue
        content = RestrictedContent.from_json(doc)
        tag, commitment = content.hashes()
        check = {"subjectTag": "0x" + tag.hex(), "commitment": "0x" + commitment.hex(),
                 "matches": "0x" + commitment.hex() == commitment_hex and content.uscc == code}
        issuer = int(doc.get("issuerMemberId", 0))
        found = False
        for entry in s.exec(select(CreditEntry).where(CreditEntry.commitment == commitment_hex)
                            .order_by(col(CreditEntry.block_number), col(CreditEntry.block_log_index))):
            found = True
            from gateway.routers.credit import entry_json

            record = entry_json(services, s, entry, names(s, {entry.issuer_member_id}))
            ok = check["matches"] and entry.subject_tag == check["subjectTag"] and entry.issuer_member_id == issuer
            items.append(((entry.block_number, entry.block_log_index, 0),
                          {"content": content.to_json(), "commitmentCheck": {**check, "matches": ok},
                           "source": "chain", **record}))
        for batch, index in serving.commitment_entries(s, commitment_hex):
            found = True
            record = serving.entry_json(services, s, batch, index, names(s, {batch.issuer_member_id}),
                                        serving.replacements(s, [(batch.id, index)]).get((batch.id, index)))
            ok = check["matches"] and record.get("subjectTag") == check["subjectTag"] and batch.issuer_member_id == issuer
            items.append(((batch.block_number, batch.block_log_index, index),
                          {"content": content.to_json(), "commitmentCheck": {**check, "matches": ok},
                           "source": "batch", **record}))
        if not found and issuer == caller.member_id:
            pending.append({"content": content.to_json(), "commitmentCheck": check, "onChain": None})
    items.sort(key=lambda item: item[0])
    entries = [item for _, item in items]
    return {"uscc": code, "entries": entries, "pending": pending,
            "verified": all(e["verified"] and e["commitmentCheck"]["matches"] for e in entries)}

