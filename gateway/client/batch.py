"""``credit batch FILE.csv``: a regulator anchors a batch of credit entries.

The gateway's batch endpoint (``POST /v1/credit/batches?category=…``) validates the file, stores
the canonical batch file (``cityledger-credit-batch/1``: JSON Lines, line ``i`` is entry ``i``)
and answers with the root, the count, the batch file's CID and the unsigned ``anchorBatch`` call.
The client does not sign that on the gateway's word. It

1. checks the offered call: ``anchorBatch(root, count, category, cid)`` to the Credit contract of
   the address book, with the values the answer states, and ``count`` equal to the file's rows;
2. downloads the batch file by its CID (re-hashing it into the CID), checks it holds exactly
   ``count`` lines, each carrying its index, this issuer and the category, that every public line
   is the file's row (USCC, severity, dates, amount, summary, evidence CID), and rebuilds the
   positional Merkle tree of ``contracts/README.md`` ("Batch leaves", "Batch tree") from the
   lines: its root must be the offered root;
3. only then signs ``anchorBatch`` with the member's key and relays it; the proven
   ``BatchAnchored`` event names the batch.

Rejected rows (the gateway's 422 ``batch-rejected``) come back by line number and reason.

A gateway without the batch endpoint (404) gets the same batch built here: public rows only,
validated the same way, written in the same batch file format, uploaded through
``POST /v1/payloads``, then checked and anchored as above.
"""

from __future__ import annotations

import csv
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from gateway.client.api import GatewayClient, Progress, TxResult
from gateway.client.errors import BadInput, ClientError, GatewayRefused, VerificationFailed

REQUIRED = ("uscc", "severity", "effective_date", "expiry_date", "amount", "summary", "evidence_cid", "visibility")
OPTIONAL = ("subject_salt", "salt")
UINT64_MAX = 2**64 - 1
UINT256_MAX = 2**256 - 1
ZERO32 = bytes(32)
_EPOCH = date(1970, 1, 1).toordinal()


# ---------------------------------------------------------------------------- leaves and tree
def leaf_hash(issuer: int, category: int, index: int, is_public: bool, uscc: bytes, severity: int, effective: int,
              expiry: int, amount: int, summary_hash: bytes, evidence_hash: bytes, subject_tag: bytes = ZERO32,
              commitment: bytes = ZERO32) -> bytes:
    """``keccak256(keccak256(abi.encode(BatchLeaf)))``: 13 static words, integers and bools
    right-aligned, ``bytes18`` left-aligned (contracts/README.md, "Batch leaves")."""
    words = b"".join((
        issuer.to_bytes(32, "big"), category.to_bytes(32, "big"), index.to_bytes(32, "big"),
        int(is_public).to_bytes(32, "big"), uscc.ljust(32, b"\0"), severity.to_bytes(32, "big"),
        effective.to_bytes(32, "big"), expiry.to_bytes(32, "big"), amount.to_bytes(32, "big"),
        summary_hash, evidence_hash, subject_tag, commitment))
    return keccak(keccak(words))


def positional_root(leaves: list[bytes]) -> bytes:
    """The positional tree's root: depth ceil(log2(n)), empty positions hold 32 zero bytes, an
    inner node is keccak256(left ‖ right), no sorting (contracts/README.md, "Batch tree")."""
    if not leaves:
        raise BadInput("a batch holds at least one entry")
    level = list(leaves)
    width = 1
    while width < len(level):
        width *= 2
    level += [ZERO32] * (width - len(level))
    while len(level) > 1:
        level = [keccak(level[i] + level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


# ---------------------------------------------------------------------------- the CSV
@dataclass(frozen=True)
class Row:
    """One public row of the regulator's file, normalised as the batch file states it."""

    line: int
    uscc: str
    severity: int
    effective: int
    expiry: int
    amount: int
    summary: str
    evidence_cid: str
    public: bool


@dataclass
class ReadRows:
    rows: list[Row] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)


def _date(text: str, column: str) -> int:
    text = text.strip()
    if text.isdigit():
        value = int(text)
    else:
        try:
            value = (date.fromisoformat(text).toordinal() - _EPOCH) * 86_400
        except ValueError:
            raise ValueError(f"{column}: {text!r} is neither a date YYYY-MM-DD nor Unix seconds") from None
    if not 0 <= value <= UINT64_MAX:
        raise ValueError(f"{column}: {value} is out of range")
    return value


def _int(text: str, column: str, maximum: int) -> int:
    text = text.strip()
    if not (text.isdigit() and text.isascii()) or int(text) > maximum:
        raise ValueError(f"{column}: {text!r:.40} is not an integer from 0 to {maximum if maximum < 2**64 else '2^256-1'}")
    return int(text)


def read_rows(path: Path) -> ReadRows:
    """The file's rows (CSV with a header), each checked; problems by line (header = line 1)."""
    from gateway.uscc import InvalidUscc, parse_uscc

    out = ReadRows()
    try:
        stream = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise BadInput(f"cannot read {path}: {exc}") from None
    with stream:
        reader = csv.reader(stream, strict=True)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except (StopIteration, csv.Error, UnicodeDecodeError) as exc:
            raise BadInput(f"{path}: no CSV header row ({exc or 'empty file'})") from None
        missing = [c for c in REQUIRED if c not in header]
        unknown = [c for c in header if c not in REQUIRED and c not in OPTIONAL]
        if missing or unknown:
            raise BadInput(f"{path}: line 1: " + "; ".join(filter(None, [
                f"missing column(s) {', '.join(missing)}" if missing else "",
                f"unknown column(s) {', '.join(unknown)}" if unknown else ""])))
        line = reader.line_num + 1
        while True:
            try:
                values = next(reader)
            except StopIteration:
                break
            except (csv.Error, UnicodeDecodeError) as exc:
                out.rejected.append({"line": line, "reason": f"not CSV: {exc}"})
                line = reader.line_num + 1
                continue
            if not values:
                line = reader.line_num + 1
                continue
            try:
                if len(values) != len(header):
                    raise ValueError(f"has {len(values)} fields, the header has {len(header)}")
                doc = dict(zip(header, values))
                try:
                    uscc = str(parse_uscc(doc["uscc"]))
                except InvalidUscc as exc:
                    raise ValueError(f"uscc: {exc}") from None
                effective = _date(doc["effective_date"], "effective_date")
                expiry = _date(doc["expiry_date"], "expiry_date") if doc["expiry_date"].strip() else 0
                if expiry and expiry <= effective:
                    raise ValueError(f"expiry_date: {expiry} is not after the effective date {effective}")
                visibility = doc["visibility"].strip().lower()
                if visibility not in ("public", "restricted"):
                    raise ValueError(f"visibility: {visibility!r:.20} is neither public nor restricted")
                out.rows.append(Row(line, uscc, _int(doc["severity"], "severity", 255), effective, expiry,
                                    _int(doc["amount"], "amount", UINT256_MAX), doc["summary"],
                                    doc["evidence_cid"].strip(), visibility == "public"))
            except ValueError as exc:
                out.rejected.append({"line": line, "reason": str(exc)})
            line = reader.line_num + 1
    return out


# ---------------------------------------------------------------------------- the batch file
def public_line(index: int, issuer: int, category: int, row: Row) -> str:
    """A public entry's line in the ``cityledger-credit-batch/1`` batch file."""
    return json.dumps({"indexInBatch": index, "issuerMemberId": issuer, "category": category, "isPublic": True,
                       "uscc": row.uscc, "severity": row.severity, "effectiveDate": row.effective,
                       "expiryDate": row.expiry, "amount": str(row.amount), "summary": row.summary,
                       "evidenceCid": row.evidence_cid}, ensure_ascii=False, separators=(",", ":")) + "\n"


def check_batch_file(path: Path, issuer: int, category: int, rows: list[Row]) -> bytes:
    """Check a downloaded batch file against the regulator's own rows; its rebuilt root."""
    hashes: list[bytes] = []
    with path.open("rb") as fh:
        for index, raw in enumerate(fh):
            where = f"batch file line {index + 1}"
            try:
                doc = json.loads(raw)
            except ValueError as exc:
                raise VerificationFailed("batch-file", f"{where}: not JSON: {exc}") from None
            if index >= len(rows):
                raise VerificationFailed("batch-file", f"the batch file holds more lines than the file's {len(rows)} rows")
            if (doc.get("indexInBatch"), doc.get("issuerMemberId"), doc.get("category")) != (index, issuer, category):
                raise VerificationFailed("batch-file", f"{where}: carries index {doc.get('indexInBatch')}, issuer "
                                                       f"{doc.get('issuerMemberId')}, category {doc.get('category')}; "
                                                       f"expected {index}, {issuer}, {category}")
            row = rows[index]
            if doc.get("isPublic") is True:
                expected = json.loads(public_line(index, issuer, category, row))
                if doc != expected or not row.public:
                    raise VerificationFailed("batch-file", f"{where} is not row {row.line} of the file")
                hashes.append(leaf_hash(issuer, category, index, True, row.uscc.encode(), row.severity, row.effective,
                                        row.expiry, row.amount, keccak(row.summary.encode()), keccak(row.evidence_cid.encode())))
            else:
                if row.public:
                    raise VerificationFailed("batch-file", f"{where} is restricted, row {row.line} is public")
                tag, commitment = (bytes.fromhex(str(doc.get(k, "0x"))[2:]) for k in ("subjectTag", "commitment"))
                if len(tag) != 32 or len(commitment) != 32 or ZERO32 in (tag, commitment):
                    raise VerificationFailed("batch-file", f"{where}: a restricted entry needs a subject tag and commitment")
                hashes.append(leaf_hash(issuer, category, index, False, b"", 0, 0, 0, 0, ZERO32, ZERO32, tag, commitment))
    if len(hashes) != len(rows):
        raise VerificationFailed("batch-file", f"the batch file holds {len(hashes)} entries, the file {len(rows)} rows")
    return positional_root(hashes)


# ---------------------------------------------------------------------------- the command
@dataclass
class AnchoredBatch:
    result: TxResult
    batch_id: int
    entry_count: int
    category: str
    merkle_root: str
    batch_file_cid: str
    built_by: str


def _upload_csv(client: GatewayClient, path: Path, category: str, progress: Progress | None) -> dict[str, Any]:
    def body() -> Iterator[bytes]:
        with path.open("rb") as fh:
            while chunk := fh.read(1 << 20):
                if progress is not None:
                    progress(len(chunk))
                yield chunk

    response = client.request("POST", "/v1/credit/batches", auth=True, content=body, params={"category": category},
                              headers={"Content-Type": "text/csv"})
    doc: dict[str, Any] = response.json()
    return doc


def _build_locally(client: GatewayClient, rows: list[Row], issuer: int, category: int, workdir: Path,
                   progress: Progress | None) -> dict[str, Any]:
    if not all(r.public for r in rows):
        raise BadInput("this gateway has no batch endpoint (POST /v1/credit/batches) and restricted rows need it: "
                       "their content and salts are kept by the gateway")
    batch_file = workdir / "batch.jsonl"
    with batch_file.open("w", encoding="utf-8", newline="\n") as out:
        for index, row in enumerate(rows):
            out.write(public_line(index, issuer, category, row))
    stored = client.upload(batch_file, progress)
    root = check_batch_file(batch_file, issuer, category, rows)
    return {"entryCount": len(rows), "merkleRoot": "0x" + root.hex(), "batchFileCid": stored["cid"], "anchor": None}


def anchor_csv(client: GatewayClient, path: Path, category: str, *, progress: Progress | None = None,
               on_local: Callable[[str], None] | None = None) -> AnchoredBatch:
    """Upload, check, sign and anchor the batch in ``path`` (see the module docstring)."""
    from gateway.client.member import enum_value
    from gateway.payloads.unixfs import file_cid
    from gateway.records.enums import name_of

    value = enum_value("Credit.Category", category)
    name = name_of("Credit.Category", value)
    rows = read_rows(path)
    issuer = int(client.member["id"])
    built_by = "gateway"
    with tempfile.TemporaryDirectory(prefix="cityledger-batch-") as tmp:
        try:
            offer = _upload_csv(client, path, name, progress)
        except GatewayRefused as exc:
            if exc.http_status in (404, 405) and "/v1/credit/batches" in exc.detail:
                if rows.rejected:
                    raise BatchRowsRejected(len(rows.rejected), rows.rejected) from None
                if on_local is not None:
                    on_local("the gateway has no batch endpoint: the batch file is built here (public rows only)")
                offer = _build_locally(client, rows.rows, issuer, value, Path(tmp), progress)
                built_by = "client"
            elif exc.kind == "batch-rejected":
                listed = list(exc.problem.get("rows") or [])
                raise BatchRowsRejected(int(exc.problem.get("rejected_rows", len(listed))), listed) from None
            else:
                raise
        if rows.rejected:
            raise VerificationFailed("batch-file", f"the gateway accepted a file in which the client rejects "
                                                   f"{len(rows.rejected)} row(s) (first: line {rows.rejected[0]['line']})")
        count, root, cid = int(offer["entryCount"]), str(offer["merkleRoot"]).lower(), str(offer["batchFileCid"])
        if count != len(rows.rows):
            raise VerificationFailed("batch-file", f"the gateway counts {count} entries, the file has {len(rows.rows)} rows")
        args = [bytes.fromhex(root[2:]), count, value, cid]
        to, data = client.builder.call("Credit", "anchorBatch", args)
        anchor = offer.get("anchor")
        if anchor is not None and (str(anchor.get("to", "")).lower() != "0x" + to.hex()
                                   or str(anchor.get("data", "")).lower() != "0x" + data.hex()):
            raise VerificationFailed("batch-anchor", "the offered anchorBatch call is not anchorBatch(root, count, "
                                                     "category, cid) to the Credit contract with the stated values")
        downloaded = Path(tmp) / "served.jsonl"
        client.download(f"/v1/payloads/{cid}", downloaded)
        if file_cid(downloaded) != cid:
            raise VerificationFailed("payload", f"the batch file served for {cid} has another CID")
        rebuilt = check_batch_file(downloaded, issuer, value, rows.rows)
        if "0x" + rebuilt.hex() != root:
            raise VerificationFailed("batch-root", f"the batch file rebuilds to root 0x{rebuilt.hex()}, the offer says {root}")
    result = client.send("Credit", "anchorBatch", *args)
    anchored = result.event("BatchAnchored")
    if str(anchored["merkleRoot"]).lower() != root or int(anchored["entryCount"]) != count:
        raise VerificationFailed("batch-anchor", "the proven BatchAnchored event holds another root or count")
    return AnchoredBatch(result, int(anchored["batchId"]), count, name, root, cid, built_by)


class BatchRowsRejected(ClientError):
    """Raised when rows of a batch file are rejected (by the gateway, or by the client when it
    builds the batch itself); ``rows`` lists each with its ``line`` and ``reason``."""

    exit_code = 1

    def __init__(self, rejected_rows: int, rows: list[dict[str, Any]]) -> None:
        super().__init__(rejected_rows, rows)
        self.rejected_rows = rejected_rows
        self.rows = rows

    def __str__(self) -> str:
        first = self.rows[0] if self.rows else {"line": 0, "reason": "?"}
        return (f"{self.rejected_rows} row(s) rejected; line {first['line']}: {first['reason']}; "
                "nothing was anchored")
