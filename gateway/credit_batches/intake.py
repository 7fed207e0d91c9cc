"""A regulator's batch as it arrives: CSV or JSON Lines of entries, validated row by row, turned
into the canonical batch file (``gateway.credit_batches.batchfile``) and its tree root.

Input columns (CSV header or JSON Lines keys, any order):

==================  =============================================================================
``uscc``            the enterprise's 18-character USCC; the check character is verified (GB 32100)
``severity``        integer 0–255 (the issuer's published scale)
``effective_date``  ``YYYY-MM-DD`` (UTC midnight) or Unix seconds
``expiry_date``     the same, or empty for open-ended; must be after ``effective_date``
``amount``          integer ≥ 0 in the smallest unit (fen), below 2^256
``summary``         text; ``summaryHash = keccak256(utf8(summary))``
``evidence_cid``    the evidence's CID (letters and digits, at most 128), or empty
``visibility``      ``public`` or ``restricted``
``subject_salt``,   optional, restricted rows only: 0x + 64 hex digits each. When absent, fresh
``salt``            random salts are drawn (``secrets``), one pair per row (contracts/README.md)
==================  =============================================================================

Every row is checked and every rejected row is reported with its line number (the file's line
where the row starts, header = line 1) and the reason; a file with any rejected row is refused
whole. A restricted row becomes a leaf carrying only its subject tag and commitment; its content
and salts are returned for the gateway to keep encrypted.
"""

from __future__ import annotations

import csv
import datetime
import io
import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from gateway.credit_batches.batchfile import public_line, restricted_line
from gateway.credit_batches.leaves import UINT64_MAX, UINT256_MAX, LeafEncoder, keccak256, restricted_commitment
from gateway.credit_batches.tree import build, tree_depth
from gateway.credit_batches.usccfast import uscc_valid
from gateway.errors import GatewayError
from gateway.uscc import InvalidUscc, parse_uscc

REQUIRED = ("uscc", "severity", "effective_date", "expiry_date", "amount", "summary", "evidence_cid", "visibility")
OPTIONAL = ("subject_salt", "salt")
#: Rejected rows listed in a refusal (the count of all of them is always given).
MAX_LISTED = 100
_EPOCH = datetime.date(1970, 1, 1).toordinal()
_CID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")


@dataclass
class BatchRejected(GatewayError):
    """Raised when a batch upload has rejected rows (each named with its line and reason) or is
    not a batch at all; nothing of it is kept."""

    rejected_rows: int
    rows: list[dict[str, Any]]
    status = 422
    slug = "batch-rejected"

    def __str__(self) -> str:
        first = self.rows[0] if self.rows else {"line": 0, "reason": "?"}
        more = f" (the first {len(self.rows)} are listed)" if self.rejected_rows > len(self.rows) else ""
        return (f"{self.rejected_rows} row(s) rejected{more}; line {first['line']}: {first['reason']}; "
                "nothing was stored")


@dataclass(frozen=True)
class RestrictedRow:
    """A restricted entry's content and salts (what its commitment opens to)."""

    index: int
    uscc: str
    subject_salt: bytes
    severity: int
    effective_date: int
    expiry_date: int
    amount: int
    summary: str
    evidence_cid: str
    salt: bytes
    subject_tag: bytes
    commitment: bytes


@dataclass
class BuiltBatch:
    """A validated batch: its canonical file, root and restricted contents."""

    count: int
    depth: int
    root: bytes
    file: Path
    restricted: list[RestrictedRow] = field(default_factory=list)
    #: What indexing needs besides the file, as the upload found it (``gateway.credit_batches.prepared``):
    #: the leaf hashes, 18 bytes of USCC per entry (zeros for a restricted one) and the restricted
    #: entries' commitments with their indexes.
    hashes: bytes = b""
    usccs: bytes = b""
    commitments: list[tuple[str, int]] = field(default_factory=list)


class _Problems:
    def __init__(self) -> None:
        self.count = 0
        self.listed: list[dict[str, Any]] = []

    def add(self, line: int, reason: str, column: str | None = None, position: int | None = None) -> None:
        self.count += 1
        if len(self.listed) < MAX_LISTED:
            item: dict[str, Any] = {"line": line, "reason": reason}
            if column is not None:
                item["column"] = column
            if position is not None:
                item["position"] = position
            self.listed.append(item)


class _RowInvalid(Exception):
    def __init__(self, column: str, reason: str, position: int | None = None) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason
        self.position = position


_dates: dict[str, int] = {}


def _date(text: Any, column: str) -> int:
    if type(text) is int:
        value = text
    else:
        text = str(text).strip()
        cached = _dates.get(text)
        if cached is not None:
            return cached
        if text.isdigit() and text.isascii():
            value = int(text)
        else:
            try:
                value = (datetime.date.fromisoformat(text).toordinal() - _EPOCH) * 86_400
            except ValueError:
                raise _RowInvalid(column, f"{text!r} is neither a date YYYY-MM-DD nor Unix seconds") from None
            if len(_dates) < 100_000:
                _dates[text] = value
    if not 0 <= value <= UINT64_MAX:
        raise _RowInvalid(column, f"{value} is out of range (0 to 2^64-1)")
    return value


def _int(text: Any, column: str, maximum: int) -> int:
    if type(text) is int:
        value = text
    else:
        text = str(text).strip()
        if not (text.isdigit() and text.isascii()):
            raise _RowInvalid(column, f"{text!r:.40} is not a non-negative integer")
        value = int(text)
    if not 0 <= value <= maximum:
        raise _RowInvalid(column, f"{value} is out of range (0 to {maximum if maximum < 2**64 else '2^256-1'})")
    return value


def _salt(text: Any, column: str) -> bytes | None:
    if text is None or text == "":
        return None
    text = str(text).strip()
    if len(text) != 66 or not text.startswith("0x"):
        raise _RowInvalid(column, "must be 0x and 64 hex digits")
    try:
        value = bytes.fromhex(text[2:])
    except ValueError:
        raise _RowInvalid(column, "must be 0x and 64 hex digits") from None
    if value == bytes(32):
        raise _RowInvalid(column, "a salt must not be zero")
    return value


def _uscc(text: Any) -> str:
    code = str(text)
    if uscc_valid(code):
        return code
    try:
        return str(parse_uscc(code))
    except InvalidUscc as exc:
        raise _RowInvalid("uscc", exc.reason, exc.position) from None


def _header(path: Path) -> tuple[list[str], int]:
    """The CSV header's column names and where the records start (raises :class:`BatchRejected`)."""
    with open(path, "rb") as f:
        first = f.readline()
    try:
        header = next(csv.reader([first.decode("utf-8")], strict=True), [])
    except (csv.Error, UnicodeDecodeError) as exc:
        raise BatchRejected(1, [{"line": 1, "reason": f"the header is not CSV: {exc}"}]) from None
    names = [h.strip().lower() for h in header]
    unknown = [n for n in names if n not in REQUIRED and n not in OPTIONAL]
    missing = [n for n in REQUIRED if n not in names]
    if not names:
        raise BatchRejected(1, [{"line": 1, "reason": "the file holds no entries"}])
    if unknown or missing or len(set(names)) != len(names):
        raise BatchRejected(1, [{"line": 1, "reason": "header: " + "; ".join(filter(None, [
            f"missing column(s) {', '.join(missing)}" if missing else "",
            f"unknown column(s) {', '.join(unknown)}" if unknown else "",
            "a column is named twice" if len(set(names)) != len(names) else ""]))}])
    return names, len(first)


def _rows_csv(stream: IO[str], first_line: int) -> Iterator[tuple[int, list[str] | dict[str, Any] | None, str | None]]:
    """``(line, row, problem)`` of the records in ``stream`` (which starts at ``first_line``)."""
    reader = csv.reader(stream, strict=True)
    offset = first_line - 1
    line = first_line
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield line, None, f"not CSV: {exc}"
            line = offset + reader.line_num + 1
            continue
        if row:
            yield line, row, None
        line = offset + reader.line_num + 1


def _rows_jsonl(stream: IO[str], first_line: int) -> Iterator[tuple[int, list[str] | dict[str, Any] | None, str | None]]:
    allowed = set(REQUIRED) | set(OPTIONAL)
    for number, text in enumerate(stream, start=first_line):
        if not text.strip():
            continue
        try:
            doc = json.loads(text)
        except ValueError as exc:
            yield number, None, f"not JSON: {exc}"
            continue
        if not isinstance(doc, dict):
            yield number, None, "not a JSON object"
            continue
        missing = [k for k in REQUIRED if k not in doc and k != "expiry_date"]
        unknown = [k for k in doc if k not in allowed]
        if missing or unknown:
            yield number, None, "; ".join(filter(None, [f"missing {', '.join(missing)}" if missing else "",
                                                        f"unknown key(s) {', '.join(unknown)}" if unknown else ""]))
            continue
        yield number, doc, None


@dataclass
class RangeResult:
    """What one range of an upload gave: leaf hashes, problems, restricted rows, entries, and the
    USCC bytes and commitments of its entries (as :class:`BuiltBatch`)."""

    hashes: bytes
    problems: int
    listed: list[dict[str, Any]]
    restricted: list[RestrictedRow]
    count: int
    usccs: bytes = b""
    commitments: list[tuple[str, int]] = field(default_factory=list)


def build_range(source: Path, kind: str, start: int, end: int, first_index: int, first_line: int,
                names: list[str] | None, issuer_member_id: int, category: int, out: Path,
                max_entries: int) -> RangeResult:
    """Validate and hash the records in bytes ``start .. end`` of ``source`` (the first with index
    ``first_index``, on line ``first_line``), writing their canonical lines to ``out``."""
    problems = _Problems()
    encoder = LeafEncoder(issuer_member_id, category)
    hashes = bytearray()
    usccs = bytearray()
    commitments: list[tuple[str, int]] = []
    zero18 = bytes(18)
    restricted: list[RestrictedRow] = []
    k = keccak256
    index = first_index
    with open(source, "rb") as raw_bytes:
        raw_bytes.seek(start)
        try:
            text = raw_bytes.read(end - start).decode("utf-8", errors="strict")
        except UnicodeDecodeError as exc:
            problems.add(first_line, f"the file is not UTF-8 text: {exc}")
            return RangeResult(b"", problems.count, problems.listed, [], 0)
    stream = io.StringIO(text, newline="")
    with open(out, "w", encoding="utf-8", newline="\n") as sink:
        write = sink.write
        rows = _rows_csv(stream, first_line) if kind == "csv" else _rows_jsonl(stream, first_line)
        for line, row, problem in rows:
            if problem is not None:
                problems.add(line, problem)
                index += 1
                continue
            if index >= max_entries:
                problems.add(line, f"more than {max_entries:,} entries (this gateway's limit per batch)")
                break
            try:
                if isinstance(row, list):
                    assert names is not None
                    if len(row) != len(names):
                        raise _RowInvalid("", f"has {len(row)} fields, the header has {len(names)}")
                    doc: dict[str, Any] = dict(zip(names, row))
                else:
                    assert isinstance(row, dict)
                    doc = row
                uscc = _uscc(doc["uscc"])
                severity = _int(doc["severity"], "severity", 255)
                effective = _date(doc["effective_date"], "effective_date")
                expiry_text = doc.get("expiry_date")
                expiry = 0 if expiry_text in (None, "") else _date(expiry_text, "expiry_date")
                if expiry and expiry <= effective:
                    raise _RowInvalid("expiry_date", f"expiry {expiry} is not after the effective date {effective}")
                amount = _int(doc["amount"], "amount", UINT256_MAX)
                summary = doc["summary"]
                if not isinstance(summary, str):
                    raise _RowInvalid("summary", "must be text")
                evidence = doc["evidence_cid"] or ""
                if not isinstance(evidence, str) or len(evidence) > 128 or not _CID_CHARS.issuperset(evidence):
                    raise _RowInvalid("evidence_cid", "must be a CID (letters and digits, at most 128) or empty")
                visibility = str(doc["visibility"]).strip().lower()
                if visibility == "public":
                    if doc.get("subject_salt") or doc.get("salt"):
                        raise _RowInvalid("salt", "salts belong to restricted rows only")
                    if problems.count == 0:
                        uscc_bytes = uscc.encode("ascii")
                        hashes += encoder.public_hash(index, uscc_bytes, severity, effective, expiry,
                                                      amount, k(summary.encode("utf-8")),
                                                      k(evidence.encode("utf-8")))
                        usccs += uscc_bytes
                        write(public_line(index, issuer_member_id, category, uscc, severity, effective, expiry,
                                          amount, summary, evidence))
                elif visibility == "restricted":
                    subject_salt = _salt(doc.get("subject_salt"), "subject_salt") or secrets.token_bytes(32)
                    salt = _salt(doc.get("salt"), "salt") or secrets.token_bytes(32)
                    if problems.count == 0:
                        tag, commitment = restricted_commitment(
                            uscc.encode("ascii"), subject_salt, category, severity, effective, expiry, amount,
                            k(summary.encode("utf-8")), k(evidence.encode("utf-8")), salt)
                        restricted.append(RestrictedRow(index, uscc, subject_salt, severity, effective, expiry,
                                                        amount, summary, evidence, salt, tag, commitment))
                        hashes += encoder.restricted_hash(index, tag, commitment)
                        usccs += zero18
                        commitments.append(("0x" + commitment.hex(), index))
                        write(restricted_line(index, issuer_member_id, category, tag, commitment))
                else:
                    raise _RowInvalid("visibility", f"{visibility!r:.20} is neither public nor restricted")
            except _RowInvalid as exc:
                problems.add(line, (f"{exc.column}: " if exc.column else "") + exc.reason,
                             exc.column or None, exc.position)
            index += 1
    return RangeResult(bytes(hashes), problems.count, problems.listed, restricted, index - first_index,
                       bytes(usccs), commitments)


def build_batch(source: Path, kind: str, issuer_member_id: int, category: int, out: Path, *,
                max_entries: int) -> BuiltBatch:
    """Validate the upload at ``source`` (``kind`` ``"csv"`` or ``"jsonl"``), write the canonical
    batch file to ``out`` and return its root. Raises :class:`BatchRejected` naming every rejected
    row (the first :data:`MAX_LISTED` of them) when any row is rejected. Large files are processed
    on every core (:mod:`gateway.credit_batches.parallel`), with the same result."""
    from gateway.credit_batches import parallel

    names, data_start = _header(source) if kind == "csv" else (None, 0)
    first_line = 2 if kind == "csv" else 1
    plan = None
    if source.stat().st_size >= parallel.PARALLEL_MIN_BYTES and parallel.workers() > 1:
        plan = parallel.plan_upload(source, kind, data_start)
    if plan is None:
        plan = [(data_start, source.stat().st_size, 0, first_line)]
    parts = [out.with_name(f"{out.name}.part{k}") for k in range(len(plan))]
    try:
        if len(plan) == 1:
            a, b, first, line = plan[0]
            results = [build_range(source, kind, a, b, first, line, names, issuer_member_id, category, parts[0],
                                   max_entries)]
        else:
            futures = [parallel.pool().submit(parallel.build_segment, str(source), kind, a, b, first, line, names,
                                              issuer_member_id, category, str(part), max_entries)
                       for (a, b, first, line), part in zip(plan, parts)]
            results = [f.result() for f in futures]
        problems = sum(r.problems for r in results)
        count = sum(r.count for r in results)
        if problems == 0 and count == 0:
            raise BatchRejected(1, [{"line": first_line, "reason": "the file holds no entries"}])
        if problems:
            listed = sorted((p for r in results for p in r.listed), key=lambda p: int(p["line"]))[:MAX_LISTED]
            raise BatchRejected(problems, listed)
        with open(out, "wb") as sink:
            for part in parts:
                with open(part, "rb") as piece:
                    shutil.copyfileobj(piece, sink, 2**20)
    finally:
        for part in parts:
            part.unlink(missing_ok=True)
    hashes = b"".join(r.hashes for r in results)
    root, _rows = build(hashes)
    return BuiltBatch(count, tree_depth(count), root, out, [row for r in results for row in r.restricted],
                      hashes, b"".join(r.usccs for r in results), [c for r in results for c in r.commitments])


def sniff_kind(head: bytes, content_type: str | None) -> str:
    """``"jsonl"`` or ``"csv"`` from the media type, else from the first byte."""
    media = (content_type or "").split(";")[0].strip().lower()
    if media in ("text/csv", "application/csv"):
        return "csv"
    if media in ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines"):
        return "jsonl"
    return "jsonl" if head.lstrip()[:1] == b"{" else "csv"
