"""The batch file (``cityledger-credit-batch/1``): what ``BatchAnchored.batchFileCid`` names, and
what the gateway and the audit rebuild a batch's tree from.

Format: UTF-8 JSON Lines, one line per entry in index order (line ``i``, 0-based, is entry ``i``),
each line a JSON object ended by ``\\n``; no header, no blank lines, so a file holds exactly
``entryCount`` lines. The keys are the leaf's fields under ``Credit.BatchLeaf``'s names, with the
two public texts in place of their hashes:

* public entry — exactly ``indexInBatch``, ``issuerMemberId``, ``category`` (``uint8`` value),
  ``isPublic`` (``true``), ``uscc`` (the 18-character code), ``severity``, ``effectiveDate``,
  ``expiryDate`` (Unix seconds; 0 = open-ended), ``amount`` (a decimal string: it is a uint256),
  ``summary`` (text; ``summaryHash = keccak256(utf8(summary))``) and ``evidenceCid`` (text, may be
  empty; ``evidenceCidHash = keccak256(utf8(evidenceCid))``); ``subjectTag`` and ``commitment`` are
  zero;
* restricted entry — exactly ``indexInBatch``, ``issuerMemberId``, ``category``, ``isPublic``
  (``false``), ``subjectTag`` and ``commitment`` (0x-hex, 32 bytes); every other leaf field is zero.
  The content behind the commitment is not in the file (the gateway keeps it encrypted).

Example (two lines)::

    {"indexInBatch":0,"issuerMemberId":7,"category":1,"isPublic":true,"uscc":"91350100M000100Y43","severity":2,"effectiveDate":1704067200,"expiryDate":0,"amount":"500000","summary":"未按规定公示年度报告","evidenceCid":"bafkrei…"}
    {"indexInBatch":1,"issuerMemberId":7,"category":1,"isPublic":false,"subjectTag":"0x…","commitment":"0x…"}

The gateway writes keys in this order with no spaces (``json.dumps(..., ensure_ascii=False,
separators=(",", ":"))``); a reader accepts any valid JSON object of these exact keys. A reader
rebuilds each leaf (``gateway.credit_batches.leaves``), the tree (``…tree``), and flags a batch
whose root differs from the anchored ``merkleRoot``, whose file does not hold exactly
``entryCount`` lines, or whose line ``i`` does not carry index ``i``, the anchoring issuer and the
batch's category, or is not a well-formed leaf (a public leaf with an invalid USCC or with an
expiry not after its effective date).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from gateway.credit_batches.leaves import UINT64_MAX, UINT256_MAX, ZERO32, BatchLeaf, LeafEncoder, keccak256
from gateway.credit_batches.usccfast import uscc_valid

FORMAT = "cityledger-credit-batch/1"
PUBLIC_KEYS = ("indexInBatch", "issuerMemberId", "category", "isPublic", "uscc", "severity", "effectiveDate",
               "expiryDate", "amount", "summary", "evidenceCid")
RESTRICTED_KEYS = ("indexInBatch", "issuerMemberId", "category", "isPublic", "subjectTag", "commitment")
_PUBLIC_SET = frozenset(PUBLIC_KEYS)
_RESTRICTED_SET = frozenset(RESTRICTED_KEYS)


class LineInvalid(ValueError):
    """A batch-file line that is not a well-formed entry (the caller names the line)."""


def _json_text(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def public_line(index: int, issuer: int, category: int, uscc: str, severity: int, effective: int, expiry: int,
                amount: int, summary: str, evidence_cid: str) -> str:
    """The canonical line of a public entry (``uscc`` and ``evidence_cid`` already validated)."""
    return (f'{{"indexInBatch":{index},"issuerMemberId":{issuer},"category":{category},"isPublic":true,'
            f'"uscc":"{uscc}","severity":{severity},"effectiveDate":{effective},"expiryDate":{expiry},'
            f'"amount":"{amount}","summary":{_json_text(summary)},"evidenceCid":{_json_text(evidence_cid)}}}\n')


def restricted_line(index: int, issuer: int, category: int, subject_tag: bytes, commitment: bytes) -> str:
    return (f'{{"indexInBatch":{index},"issuerMemberId":{issuer},"category":{category},"isPublic":false,'
            f'"subjectTag":"0x{subject_tag.hex()}","commitment":"0x{commitment.hex()}"}}\n')


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One parsed line: the leaf, and for a public entry its two texts."""

    leaf: BatchLeaf
    summary: str | None
    evidence_cid: str | None


def _uint(value: object, bits_max: int, key: str) -> int:
    if type(value) is not int or value < 0 or value > bits_max:
        raise LineInvalid(f"{key} must be an integer from 0 to {bits_max}, got {value!r:.40}")
    return value


def _hash32(value: object, key: str) -> bytes:
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise LineInvalid(f"{key} must be 0x and 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise LineInvalid(f"{key} must be 0x and 64 hex digits") from None


def parse_object(doc: object) -> dict[str, object]:
    if not isinstance(doc, dict):
        raise LineInvalid("not a JSON object")
    keys = doc.keys()
    if keys != _PUBLIC_SET and keys != _RESTRICTED_SET:
        public = doc.get("isPublic") is not False
        expected = _PUBLIC_SET if public else _RESTRICTED_SET
        missing = sorted(expected - set(keys))
        extra = sorted(set(keys) - expected)
        raise LineInvalid("keys differ from a " + ("public" if public else "restricted") + " entry's"
                          + (f"; missing {', '.join(missing)}" if missing else "")
                          + (f"; unexpected {', '.join(extra)}" if extra else ""))
    return doc


class LineParser:
    """Parses and hashes the lines of one batch (issuer and category known from the anchor)."""

    def __init__(self, issuer_member_id: int, category: int) -> None:
        self.issuer = issuer_member_id
        self.category = category
        self.encoder = LeafEncoder(issuer_member_id, category)

    def leaf_hash(self, line: bytes, index: int) -> tuple[bytes, dict[str, object]]:
        """The leaf hash of ``line`` and its parsed object; raises :class:`LineInvalid` for a line
        that is not entry ``index`` of this batch or not a well-formed leaf."""
        try:
            doc = json.loads(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise LineInvalid(f"not JSON: {exc}") from None
        doc = parse_object(doc)
        if doc["indexInBatch"] != index or type(doc["indexInBatch"]) is not int:
            raise LineInvalid(f"carries index {doc['indexInBatch']!r}, not {index}")
        if doc["issuerMemberId"] != self.issuer or type(doc["issuerMemberId"]) is not int:
            raise LineInvalid(f"carries issuer {doc['issuerMemberId']!r}, the batch's is {self.issuer}")
        if doc["category"] != self.category or type(doc["category"]) is not int:
            raise LineInvalid(f"carries category {doc['category']!r}, the batch's is {self.category}")
        if doc["isPublic"] is True:
            uscc = doc["uscc"]
            if not isinstance(uscc, str) or not uscc_valid(uscc):
                raise LineInvalid(f"uscc {uscc!r:.30} is not a valid USCC (GB 32100-2015)")
            severity = _uint(doc["severity"], 255, "severity")
            effective = _uint(doc["effectiveDate"], UINT64_MAX, "effectiveDate")
            expiry = _uint(doc["expiryDate"], UINT64_MAX, "expiryDate")
            if expiry != 0 and expiry <= effective:
                raise LineInvalid(f"expiryDate {expiry} is not after effectiveDate {effective}")
            amount_text = doc["amount"]
            if not isinstance(amount_text, str) or not amount_text.isdigit() or not amount_text.isascii() or (
                    len(amount_text) > 1 and amount_text[0] == "0"):
                raise LineInvalid("amount must be a decimal string without leading zeros")
            amount = int(amount_text)
            if amount > UINT256_MAX:
                raise LineInvalid("amount does not fit a uint256")
            summary, evidence = doc["summary"], doc["evidenceCid"]
            if not isinstance(summary, str) or not isinstance(evidence, str):
                raise LineInvalid("summary and evidenceCid must be strings")
            return self.encoder.public_hash(index, uscc.encode("ascii"), severity, effective, expiry, amount,
                                            keccak256(summary.encode("utf-8")),
                                            keccak256(evidence.encode("utf-8"))), doc
        if doc["isPublic"] is not False:
            raise LineInvalid("isPublic must be true or false")
        tag = _hash32(doc["subjectTag"], "subjectTag")
        commitment = _hash32(doc["commitment"], "commitment")
        if tag == ZERO32 or commitment == ZERO32:
            raise LineInvalid("a restricted entry needs a non-zero subjectTag and commitment")
        return self.encoder.restricted_hash(index, tag, commitment), doc


def entry_of(doc: dict[str, object]) -> FileEntry:
    """The leaf and texts of a line already checked by :meth:`LineParser.leaf_hash`."""

    def num(key: str) -> int:
        value = doc[key]
        assert isinstance(value, (int, str))
        return int(value)

    index, issuer, category = num("indexInBatch"), num("issuerMemberId"), num("category")
    if doc["isPublic"] is True:
        summary, evidence = str(doc["summary"]), str(doc["evidenceCid"])
        leaf = BatchLeaf(issuer, category, index, True, str(doc["uscc"]).encode("ascii"), num("severity"),
                         num("effectiveDate"), num("expiryDate"), num("amount"), keccak256(summary.encode("utf-8")),
                         keccak256(evidence.encode("utf-8")))
        return FileEntry(leaf, summary, evidence)
    leaf = BatchLeaf(issuer, category, index, False, subject_tag=bytes.fromhex(str(doc["subjectTag"])[2:]),
                     commitment=bytes.fromhex(str(doc["commitment"])[2:]))
    return FileEntry(leaf, None, None)


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The lines of a file given as byte chunks, each with its ``\\n`` (the last may lack it)."""
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        data = rest + chunk if rest else chunk
        parts = data.split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part + b"\n"
    if rest:
        yield rest
