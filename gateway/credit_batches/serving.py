"""Serving batch entries: the entry from its line tile, its path from the tree tiles, and the
``batch`` proof, checked by the gateway before it is served.

The proof (``gateway/schemas/proof.schema.json``, ``batch``)::

    {"type": "batch", "chainId": 17228, "batchId": 3, "index": 41,
     "leaf": "0x<leafHash>", "path": ["0x<sibling>", …], "root": "0x<merkleRoot>",
     "anchor": {<receipt proof of the BatchAnchored log>}}

A verifier recomputes ``leaf`` from the entry's fields (``contracts/README.md``, "Batch leaves"),
walks ``path`` from position ``index`` (left child when bit k of ``index`` is 0) to ``root``, checks
that ``path`` has ``ceil(log2(entryCount))`` siblings, and that the anchor proof proves a
``BatchAnchored`` log whose ``merkleRoot``, ``issuerMemberId``, ``category`` and ``entryCount`` are
the leaf's and the root's. The gateway runs the same checks (``batch-leaf``, ``batch-path``,
``batch-anchor``, then the receipt checks of the anchor through ``ProofService``); a failed check is
served with ``"verified": false`` and ``failedCheck``, never as verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from gateway import db
from gateway.credit_batches.batchfile import FileEntry, LineInvalid, LineParser, entry_of
from gateway.credit_batches.tree import TILE_HEIGHT, path, process_path, tree_depth
from gateway.errors import GatewayError
from gateway.records.credit import CreditBatch
from gateway.records.enums import value_of

BATCH_CHECKS = ("batch-leaf", "batch-path", "batch-anchor")


@dataclass
class BatchNotIndexed(GatewayError):
    """Raised when a batch's entries are asked for before the batch is indexed, or when its file
    did not match its anchor (``state`` says which; ``problem`` why)."""

    batch_id: int
    state: str
    problem: str
    status = 409
    slug = "batch-not-indexed"

    def __str__(self) -> str:
        why = f": {self.problem}" if self.problem else ""
        return f"batch {self.batch_id} is {self.state}{why}"


@dataclass
class ServedEntry:
    """A batch entry as read from the index, with its proof and the gateway's verdict."""

    batch: CreditBatch
    index: int
    entry: FileEntry | None
    line: bytes
    proof: dict[str, Any]
    verified: bool
    failed_check: str | None = None
    detail: str | None = None


def read_line(s: Session, batch_id: int, index: int) -> bytes | None:
    row = s.connection().execute(text("SELECT lines FROM credit_batch_data WHERE batch_id = :b AND tile = :t"),
                                 {"b": batch_id, "t": index >> TILE_HEIGHT}).first()
    if row is None:
        return None
    lines = bytes(row[0]).split(b"\n")
    position = index & ((1 << TILE_HEIGHT) - 1)
    return lines[position] if position < len(lines) - 1 else None


def read_path(s: Session, batch: CreditBatch, index: int) -> list[bytes]:
    conn = s.connection()

    def read_tile(band: int, tile: int) -> bytes | None:
        row = conn.execute(text("SELECT hashes FROM credit_batch_tile WHERE batch_id = :b AND band = :band "
                                "AND tile = :t"), {"b": batch.id, "band": band, "t": tile}).first()
        return None if row is None else bytes(row[0])

    return path(index, batch.entry_count, read_tile)


def serve(services: Any, s: Session, batch: CreditBatch, index: int) -> ServedEntry:
    """Entry ``index`` of ``batch`` with its proof, checked."""
    from gateway.routers.common import proofs  # the one ProofService of the app

    line = read_line(s, batch.id, index)
    if line is None:
        raise BatchNotIndexed(batch.id, batch.state, f"entry {index} is missing from the index")
    siblings = read_path(s, batch, index)
    anchor, verdict = proofs(services).receipt_proof(s, batch.block_number, batch.block_log_index)
    event = s.get(db.ChainEvent, (batch.block_number, batch.block_log_index))
    anchored = json.loads(event.args) if event is not None else {}
    category = value_of("Credit.Category", batch.category)
    entry: FileEntry | None = None
    failed: tuple[str, str] | None = None
    leaf_hash = b""
    try:
        leaf_hash, doc = LineParser(batch.issuer_member_id, category).leaf_hash(line, index)
        entry = entry_of(doc)
    except LineInvalid as exc:
        failed = ("batch-leaf", f"entry {index} is not a leaf of this batch: {exc}")
    root = process_path(leaf_hash, index, siblings) if leaf_hash else b""
    proof = {"type": "batch", "chainId": services.book.chain_id, "batchId": batch.id, "index": index,
             "leaf": "0x" + leaf_hash.hex(), "path": ["0x" + h.hex() for h in siblings],
             "root": "0x" + root.hex(), "anchor": anchor}
    if failed is None and len(siblings) != tree_depth(batch.entry_count):
        failed = ("batch-path", f"the path has {len(siblings)} siblings, a batch of {batch.entry_count} needs "
                                f"{tree_depth(batch.entry_count)}")
    if failed is None and "0x" + root.hex() != anchored.get("merkleRoot"):
        failed = ("batch-path", f"the path leads to 0x{root.hex()}, the anchored root is {anchored.get('merkleRoot')}")
    if failed is None and (anchored.get("issuerMemberId") != batch.issuer_member_id
                           or anchored.get("category") != category
                           or int(anchored.get("entryCount", -1)) != batch.entry_count
                           or anchored.get("batchId") != batch.id):
        failed = ("batch-anchor", "the anchoring event is not this batch's (id, issuer, category or count differ)")
    if failed is None and not verdict.verified:
        failed = (verdict.failed_check or "receipt-proof", verdict.detail or "the anchor's receipt proof failed")
    if failed is not None:
        services.metrics.proof_failures.labels(failed[0]).inc()
        return ServedEntry(batch, index, entry, line, proof, False, failed[0], failed[1])
    return ServedEntry(batch, index, entry, line, proof, True)


def entry_json(services: Any, s: Session, batch: CreditBatch, index: int, who: dict[int, str],
               replaced_by: int | None) -> dict[str, Any]:
    """The public answer for a batch entry: its fields, proof, verdict and evidence link."""
    served = serve(services, s, batch, index)
    record: dict[str, Any] = {"batchId": batch.id, "index": index, "category": batch.category,
                              "issuer": {"id": batch.issuer_member_id, "name": who.get(batch.issuer_member_id),
                                         "account": batch.issuer},
                              "anchoredAt": batch.anchored_at, "replacedBy": replaced_by}
    if served.entry is not None:
        leaf = served.entry.leaf
        record["isPublic"] = leaf.is_public
        if leaf.is_public:
            record.update(uscc=leaf.uscc.decode("ascii"), severity=leaf.severity, effectiveDate=leaf.effective_date,
                          expiryDate=leaf.expiry_date or None, amount=str(leaf.amount), summary=served.entry.summary,
                          summaryHash="0x" + leaf.summary_hash.hex(), evidenceCid=served.entry.evidence_cid or None,
                          evidenceCidHash="0x" + leaf.evidence_cid_hash.hex())
        else:
            record.update(subjectTag="0x" + leaf.subject_tag.hex(), commitment="0x" + leaf.commitment.hex())
    record["proof"] = served.proof
    record["verified"] = served.verified
    if not served.verified:
        record["failedCheck"] = served.failed_check
        record["failedDetail"] = served.detail
    record["evidence"] = f"/v1/evidence/credit-batch-entry/{batch.id}/{index}"
    return record


def indexed_batch(s: Session, batch_id: int) -> CreditBatch:
    from gateway.routers.common import NotFound

    batch = s.get(CreditBatch, batch_id)
    if batch is None:
        raise NotFound("credit batch", str(batch_id))
    if batch.state != "indexed":
        raise BatchNotIndexed(batch.id, batch.state, batch.problem)
    return batch


def replacements(s: Session, pairs: list[tuple[int, int]]) -> dict[tuple[int, int], int]:
    """The on-chain entry that superseded or revoked each (batch, index), where one did."""
    out: dict[tuple[int, int], int] = {}
    conn = s.connection()
    for batch_id in {b for b, _ in pairs}:
        wanted = [i for b, i in pairs if b == batch_id]
        for start in range(0, len(wanted), 500):
            part = wanted[start:start + 500]
            names = ", ".join(f":i{k}" for k in range(len(part)))
            rows = conn.execute(text(f"SELECT refers_to_index, id FROM credit_entry WHERE refers_to_batch = :b "
                                     f"AND refers_to_index IN ({names})"),
                                {"b": batch_id, **{f"i{k}": v for k, v in enumerate(part)}}).fetchall()
            for index, entry_id in rows:
                out[(batch_id, int(index))] = int(entry_id)
    return out


def subject_entries(s: Session, uscc: str) -> list[tuple[CreditBatch, int]]:
    """The indexed batch entries about ``uscc``, in chain order: one seek of the USCC index (keyed
    by batch, then USCC) per indexed batch."""
    rows = s.connection().execute(text(
        "SELECT x.batch_id, x.idx FROM credit_batch_subject x WHERE x.uscc = :u AND x.batch_id IN "
        "(SELECT id FROM credit_batch WHERE state = 'indexed')"), {"u": uscc}).fetchall()
    batches: dict[int, CreditBatch] = {}
    out = []
    for batch_id, index in rows:
        batch = batches.get(batch_id) or s.get(CreditBatch, batch_id)
        assert batch is not None
        batches[batch_id] = batch
        out.append((batch, int(index)))
    out.sort(key=lambda entry: (entry[0].block_number, entry[0].block_log_index, entry[1]))
    return out


def commitment_entries(s: Session, commitment: str) -> list[tuple[CreditBatch, int]]:
    """The indexed restricted batch entries carrying ``commitment``."""
    rows = s.connection().execute(text(
        "SELECT b.id, x.idx FROM credit_batch_commitment x JOIN credit_batch b ON b.id = x.batch_id "
        "WHERE x.commitment = :c AND b.state = 'indexed' ORDER BY b.id, x.idx"), {"c": commitment}).fetchall()
    out = []
    for batch_id, index in rows:
        batch = s.get(CreditBatch, batch_id)
        assert batch is not None
        out.append((batch, int(index)))
    return out
