"""Credit entries (issued, superseded, revoked), issuer authorisations and batch anchors, from
``Credit`` events.

A subject's history is every entry about its USCC in chain order; a correction or revocation
names the entry it replaces (an on-chain entry id, or a batch and index). Restricted entries carry
no USCC on chain (only a salted subject tag and a commitment), so they are indexed by tag; the
gateway's restricted-content store maps them back for authorised readers.
"""

from __future__ import annotations

from sqlmodel import Field, Session, SQLModel

from gateway.credit_batches import tables as _batch_tables  # noqa: F401  (registers the batch tables)
from gateway.indexer import IndexContext, IndexedEvent
from gateway.records.enums import name_of


class CreditEntry(SQLModel, table=True):
    __tablename__ = "credit_entry"

    id: int = Field(primary_key=True)
    #: The USCC (empty for a restricted entry).
    uscc: str = Field(index=True, max_length=18)
    subject_tag: str = Field(index=True, max_length=66)
    commitment: str = Field(max_length=66)
    is_public: bool
    action: str
    category: str = Field(index=True)
    severity: int
    effective_date: int
    expiry_date: int
    amount: str
    summary_hash: str
    evidence_cid: str
    issuer_member_id: int = Field(index=True)
    issuer: str
    recorded_at: int
    refers_to: int = 0
    refers_to_batch: int = Field(default=0, index=True)
    refers_to_index: int = 0
    proposal_id: int = 0
    reason: str = ""
    replaced_by: int = 0
    block_number: int
    block_log_index: int


class IssuerAuthorization(SQLModel, table=True):
    """Which regulator may issue in which category (current state; history is in the events)."""

    __tablename__ = "issuer_authorization"

    member_id: int = Field(primary_key=True)
    category: str = Field(primary_key=True)
    authorized: bool
    proposal_id: int
    block_number: int


class CreditBatch(SQLModel, table=True):
    """An anchored batch; its entries are indexed from the batch file (``gateway.credit_batches``)."""

    __tablename__ = "credit_batch"

    id: int = Field(primary_key=True)
    issuer_member_id: int = Field(index=True)
    issuer: str
    category: str
    merkle_root: str = Field(max_length=66)
    entry_count: int
    batch_file_cid: str
    anchored_at: int
    #: "pending" until the batch file is fetched and its tree rebuilt; then "indexed", or
    #: "mismatch" / "unavailable" with ``problem`` saying why (CONTRACTS README, batch tree).
    state: str = "pending"
    problem: str = ""
    block_number: int
    block_log_index: int


def _uscc(value: str) -> str:
    raw = bytes.fromhex(value[2:])
    return "" if raw == bytes(len(raw)) else raw.decode("ascii", errors="replace")


class CreditRecords:
    EVENTS = frozenset(("Credit", e) for e in (
        "IssuerAuthorized", "IssuerDeauthorized", "EntryIssued", "EntrySuperseded", "EntryRevoked", "BatchAnchored"))

    def apply(self, s: Session, ev: IndexedEvent, ctx: IndexContext) -> None:
        a = ev.args
        where = {"block_number": ev.block_number, "block_log_index": ev.block_log_index}
        if ev.name in ("IssuerAuthorized", "IssuerDeauthorized"):
            s.merge(IssuerAuthorization(member_id=a["memberId"], category=name_of("Credit.Category", a["category"]),
                                        authorized=ev.name == "IssuerAuthorized", proposal_id=a["proposalId"],
                                        block_number=ev.block_number))
        elif ev.name == "BatchAnchored":
            s.add(CreditBatch(id=a["batchId"], issuer_member_id=a["issuerMemberId"], issuer=a["issuer"].lower(),
                              category=name_of("Credit.Category", a["category"]), merkle_root=a["merkleRoot"],
                              entry_count=int(a["entryCount"]), batch_file_cid=a["batchFileCid"],
                              anchored_at=ev.timestamp, block_number=ev.block_number,
                              block_log_index=ev.block_log_index))
        else:
            e = a["entry"]
            entry = CreditEntry(
                id=a["entryId"], uscc=_uscc(e["uscc"]), subject_tag=e["subjectTag"], commitment=e["commitment"],
                is_public=e["isPublic"], action=name_of("Credit.EntryAction", e["action"]),
                category=name_of("Credit.Category", e["category"]), severity=e["severity"],
                effective_date=int(e["effectiveDate"]), expiry_date=int(e["expiryDate"]), amount=str(e["amount"]),
                summary_hash=e["summaryHash"], evidence_cid=e["evidenceCid"], issuer_member_id=int(e["issuerMemberId"]),
                issuer=e["issuer"].lower(), recorded_at=int(e["recordedAt"]), refers_to=int(e["refersTo"]),
                refers_to_batch=int(e["refersToBatch"]), refers_to_index=int(e["refersToIndex"]),
                proposal_id=int(e["proposalId"]), reason=e["reason"], **where)
            s.add(entry)
            if entry.refers_to:
                old = s.get(CreditEntry, entry.refers_to)
                if old is not None:
                    old.replaced_by = entry.id
                    s.add(old)
