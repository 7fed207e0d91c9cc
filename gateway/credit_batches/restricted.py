"""Restricted credit entries: their content, kept encrypted by the gateway and opened only to
authorised members, each time with the check that it matches the commitment on chain.

The chain holds a restricted entry's category, subject tag and commitment only (contracts/README.md,
"Restricted credit entries")::

    subjectTag = keccak256(abi.encode(bytes18 uscc, bytes32 subjectSalt))
    commitment = keccak256(abi.encode(RESTRICTED_ENTRY_TYPEHASH, subjectTag, uint8 category,
        uint8 severity, uint64 effectiveDate, uint64 expiryDate, uint256 amount, bytes32 summaryHash,
        bytes32 evidenceCidHash, bytes32 salt))

The issuing regulator hands the gateway the content and both salts (``POST /v1/credit/restricted``
for an entry on chain or about to be, or inside a batch upload); the gateway recomputes both hashes
and refuses content that does not produce them (or, for an entry already on chain, whose
commitment, category or issuer differ), then stores it **encrypted** to the gateway's own age key.

Storage: under ``DATA_DIR/restricted/`` — not in the SQL index, which is a cache of the chain that
``reindex`` drops and rebuilds, while this content exists nowhere on chain:

* ``gateway.key`` — the gateway's age X25519 identity (created on first start, mode 0600);
* ``store.sqlite`` — one row per entry: ``commitment``, ``subject`` = HMAC-SHA-256(k, uscc) with
  ``k`` derived from the gateway key (so the file does not name the enterprises that have
  restricted entries), the issuer member, and the content as JSON age-encrypted to the gateway key.
  A batch upload's restricted rows are written in one transaction.

Who may read (``GET /v1/credit/{uscc}/restricted``, signed in): the member that issued the entry,
and Active members of kind Regulator, Auditor or Admin (regulators act on each other's records,
auditors verify, admins correct a gone issuer's entries by governance). Everyone else gets 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.credit_batches.leaves import UINT64_MAX, UINT256_MAX, ZERO32, keccak256, restricted_commitment
from gateway.credit_batches.usccfast import uscc_valid
from gateway.errors import GatewayError
from gateway.payloads.encryption import KeyPair, generate_key_pair, read_key_file, write_key_file

#: Member kinds (besides the issuer) that may open restricted entries.
READER_KINDS = frozenset({"regulator", "auditor", "admin"})


@dataclass
class RestrictedContentInvalid(GatewayError):
    """Raised when uploaded restricted content is malformed or does not open the commitment it is
    given for."""

    field: str
    detail: str
    status = 422
    slug = "restricted-content-invalid"

    def __str__(self) -> str:
        return f"{self.field}: {self.detail}"


@dataclass(frozen=True)
class RestrictedContent:
    """What a restricted entry's commitment opens to (``Credit.RestrictedContent`` plus the texts)."""

    uscc: str
    subject_salt: bytes
    category: int
    severity: int
    effective_date: int
    expiry_date: int
    amount: int
    summary: str
    evidence_cid: str
    salt: bytes

    def hashes(self) -> tuple[bytes, bytes]:
        """``(subjectTag, commitment)`` recomputed from the content (contracts/README.md)."""
        return restricted_commitment(self.uscc.encode("ascii"), self.subject_salt, self.category, self.severity,
                                     self.effective_date, self.expiry_date, self.amount,
                                     keccak256(self.summary.encode("utf-8")),
                                     keccak256(self.evidence_cid.encode("utf-8")), self.salt)

    def to_json(self) -> dict[str, Any]:
        return {"uscc": self.uscc, "subjectSalt": "0x" + self.subject_salt.hex(), "category": self.category,
                "severity": self.severity, "effectiveDate": self.effective_date, "expiryDate": self.expiry_date,
                "amount": str(self.amount), "summary": self.summary,
                "summaryHash": "0x" + keccak256(self.summary.encode("utf-8")).hex(),
                "evidenceCid": self.evidence_cid,
                "evidenceCidHash": "0x" + keccak256(self.evidence_cid.encode("utf-8")).hex(),
                "salt": "0x" + self.salt.hex()}

    @classmethod
    def from_json(cls, doc: Any) -> RestrictedContent:
        """Parse and validate (raises :class:`RestrictedContentInvalid` naming the field)."""
        if not isinstance(doc, dict):
            raise RestrictedContentInvalid("body", "expected a JSON object")

        def need(key: str) -> Any:
            if key not in doc:
                raise RestrictedContentInvalid(key, "missing")
            return doc[key]

        def uint(key: str, maximum: int) -> int:
            value = need(key)
            if isinstance(value, str) and value.isdigit() and value.isascii():
                value = int(value)
            if type(value) is not int or not 0 <= value <= maximum:
                raise RestrictedContentInvalid(key, f"must be an integer from 0 to {maximum}")
            return value

        def b32(key: str) -> bytes:
            value = need(key)
            try:
                raw = bytes.fromhex(value[2:]) if isinstance(value, str) and value.startswith("0x") else b""
            except ValueError:
                raw = b""
            if len(raw) != 32 or raw == ZERO32:
                raise RestrictedContentInvalid(key, "must be 0x and 64 hex digits, not zero")
            return raw

        uscc = need("uscc")
        if not isinstance(uscc, str) or not uscc_valid(uscc):
            from gateway.uscc import InvalidUscc, parse_uscc
            try:
                parse_uscc(str(uscc))
            except InvalidUscc as exc:
                raise RestrictedContentInvalid("uscc", exc.reason) from None
            raise RestrictedContentInvalid("uscc", "write the code in upper case without spaces")
        effective, expiry = uint("effectiveDate", UINT64_MAX), uint("expiryDate", UINT64_MAX)
        if expiry and expiry <= effective:
            raise RestrictedContentInvalid("expiryDate", "must be 0 (open-ended) or after effectiveDate")
        summary, evidence = need("summary"), doc.get("evidenceCid", "")
        if not isinstance(summary, str) or not isinstance(evidence, str):
            raise RestrictedContentInvalid("summary", "summary and evidenceCid must be text")
        return cls(uscc, b32("subjectSalt"), uint("category", 255), uint("severity", 255), effective, expiry,
                   uint("amount", UINT256_MAX), summary, evidence, b32("salt"))


#: From this many contents on (a batch upload), they are encrypted on every core.
SEAL_PARALLEL_MIN = 2000


def seal(docs: list[bytes], recipient: str) -> list[bytes]:
    """Each document age-encrypted to ``recipient`` (~80 µs each: one X25519 agreement apiece)."""
    import pyrage
    from pyrage import x25519

    key = x25519.Recipient.from_str(recipient)
    return [pyrage.encrypt(doc, [key]) for doc in docs]


class RestrictedStore:
    """Encrypted restricted contents under ``root`` (see the module docstring)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        key_file = root / "gateway.key"
        if not key_file.exists():
            try:
                write_key_file(generate_key_pair(), key_file)
            except GatewayError:
                pass  # another process created it first
        self.keys: KeyPair = read_key_file(key_file)
        self._subject_key = hmac.new(hashlib.sha256(self.keys.identity.encode()).digest(),
                                     b"cityledger restricted subjects", hashlib.sha256).digest()
        self._lock = threading.Lock()
        self._db = sqlite3.connect(root / "store.sqlite", check_same_thread=False, timeout=30,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS restricted_content (commitment TEXT PRIMARY KEY, "
                         "subject TEXT NOT NULL, issuer_member_id INTEGER NOT NULL, sealed BLOB NOT NULL)")
        self._db.execute("CREATE INDEX IF NOT EXISTS restricted_subject ON restricted_content (subject)")

    def subject_tag(self, uscc: str) -> str:
        return hmac.new(self._subject_key, uscc.encode("ascii"), hashlib.sha256).hexdigest()

    def put(self, content: RestrictedContent, issuer_member_id: int) -> tuple[bytes, bytes]:
        """Store ``content`` (as issued by member ``issuer_member_id``); returns its hashes."""
        return self.put_many([content], issuer_member_id)[0]

    def put_many(self, contents: list[RestrictedContent], issuer_member_id: int) -> list[tuple[bytes, bytes]]:
        """Store several contents in one transaction; returns their ``(subjectTag, commitment)``."""
        docs = []
        out = []
        for content in contents:
            tag, commitment = content.hashes()
            doc = {**content.to_json(), "issuerMemberId": issuer_member_id, "subjectTag": "0x" + tag.hex(),
                   "commitment": "0x" + commitment.hex()}
            docs.append(json.dumps(doc, ensure_ascii=False).encode("utf-8"))
            out.append((tag, commitment))
        if len(docs) >= SEAL_PARALLEL_MIN:
            from gateway.credit_batches import parallel

            step = max(1, len(docs) // (parallel.workers() * 2))
            pieces = [docs[i:i + step] for i in range(0, len(docs), step)]
            sealed = [c for part in parallel.pool().map(seal, pieces, [self.keys.recipient] * len(pieces)) for c in part]
        else:
            sealed = seal(docs, self.keys.recipient)
        rows = [("0x" + commitment.hex(), self.subject_tag(content.uscc), issuer_member_id, box)
                for content, (_tag, commitment), box in zip(contents, out, sealed)]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO restricted_content VALUES (?, ?, ?, ?)", rows)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return out

    def commitments_of(self, uscc: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT commitment FROM restricted_content WHERE subject = ? ORDER BY rowid",
                                    (self.subject_tag(uscc),)).fetchall()
        return [str(r[0]) for r in rows]

    def get(self, commitment: bytes) -> dict[str, Any] | None:
        """The stored document of ``commitment`` (decrypted), or None."""
        import pyrage
        from pyrage import x25519

        with self._lock:
            row = self._db.execute("SELECT sealed FROM restricted_content WHERE commitment = ?",
                                   ("0x" + commitment.hex(),)).fetchone()
        if row is None:
            return None
        identity = x25519.Identity.from_str(self.keys.identity)
        doc: dict[str, Any] = json.loads(pyrage.decrypt(bytes(row[0]), [identity]))
        return doc

    def close(self) -> None:
        self._db.close()
