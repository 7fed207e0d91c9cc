"""A regulator's upload: every rejected row named by line and reason (USCC position, dates,
amounts, visibility), the file refused whole; a valid file becomes the canonical batch file whose
lines rebuild the same root (the check the indexer and the audit run)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.credit_batches.batchfile import LineInvalid, LineParser, entry_of, lines
from gateway.credit_batches.intake import MAX_LISTED, BatchRejected, build_batch, sniff_kind
from gateway.credit_batches.leaves import keccak256
from gateway.credit_batches.restricted import RestrictedContent
from gateway.credit_batches.tree import root_of

HEADER = "uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n"
GOOD = "91350100M000100Y43"


def _build(tmp_path: Path, text: str, kind: str = "csv", max_entries: int = 1000) -> object:
    source = tmp_path / "in"
    source.write_text(text, encoding="utf-8")
    return build_batch(source, kind, 7, 1, tmp_path / "out.jsonl", max_entries=max_entries)


def test_a_valid_batch_becomes_the_canonical_file_and_its_root(tmp_path: Path) -> None:
    text = HEADER + (f'{GOOD},2,2024-01-15,2026-01-01,500000,"未按规定公示年度报告, 第1号",bafkreievidence,public\n'
                     f"{GOOD},1,1700000000,,0,罚款,,restricted\n"
                     "91350100m000100y43,0,2024-02-01,,7,lower case is accepted,bafk1,PUBLIC\n")
    built = _build(tmp_path, text)
    assert built.count == 3 and built.depth == 2 and len(built.restricted) == 1  # type: ignore[attr-defined]
    raw = (tmp_path / "out.jsonl").read_bytes()
    file_lines = list(lines([raw[:100], raw[100:]]))
    assert len(file_lines) == 3 and all(line.endswith(b"\n") for line in file_lines)
    parser = LineParser(7, 1)
    hashes = b""
    for i, line in enumerate(file_lines):
        leaf, doc = parser.leaf_hash(line.rstrip(b"\n"), i)
        assert entry_of(doc).leaf.hash() == leaf
        hashes += leaf
    assert root_of(hashes) == built.root  # type: ignore[attr-defined]
    first = json.loads(file_lines[0])
    assert list(first) == ["indexInBatch", "issuerMemberId", "category", "isPublic", "uscc", "severity",
                           "effectiveDate", "expiryDate", "amount", "summary", "evidenceCid"]
    assert first["effectiveDate"] == 1705276800 and first["expiryDate"] == 1767225600 and first["amount"] == "500000"
    assert first["summary"] == "未按规定公示年度报告, 第1号"
    assert json.loads(file_lines[2])["uscc"] == GOOD
    restricted = json.loads(file_lines[1])
    assert set(restricted) == {"indexInBatch", "issuerMemberId", "category", "isPublic", "subjectTag", "commitment"}
    row = built.restricted[0]  # type: ignore[attr-defined]
    content = RestrictedContent(GOOD, row.subject_salt, 1, 1, 1700000000, 0, 0, "罚款", "", row.salt)
    assert content.hashes() == (row.subject_tag, row.commitment)
    assert restricted["commitment"] == "0x" + row.commitment.hex()
    # Fresh salts per row: the same content twice gives two unlinkable tags.
    again = _build(tmp_path, HEADER + f"{GOOD},1,1700000000,,0,罚款,,restricted\n" * 2)
    tags = {r.subject_tag for r in again.restricted}  # type: ignore[attr-defined]
    assert len(tags) == 2


def test_every_rejected_row_is_named_with_its_line_and_reason(tmp_path: Path) -> None:
    text = HEADER + "\n".join([
        f"{GOOD},2,2024-01-15,,10,ok,bafk,public",                 # line 2: fine
        "91350100M000100Y44,2,2024-01-15,,10,bad check,bafk,public",  # line 3: check character
        "91350100M0001O0Y43,2,2024-01-15,,10,letter O,bafk,public",   # line 4: O at position 14
        f"{GOOD},2,2024-13-01,,10,bad date,bafk,public",            # line 5
        f"{GOOD},2,2024-01-15,2024-01-01,10,expiry first,bafk,public",  # line 6
        f"{GOOD},2,2024-01-15,,-5,negative,bafk,public",            # line 7
        f"{GOOD},300,2024-01-15,,5,severity,bafk,public",           # line 8
        f'{GOOD},2,2024-01-15,,5,"multi\nline summary",bafk,secret',  # lines 9-10: visibility
        f"{GOOD},2,2024-01-15,,5,fields",                           # line 11: too few fields
        f"{GOOD},2,2024-01-15,,5,bad cid,ba fk,public",             # line 12
    ]) + "\n"
    with pytest.raises(BatchRejected) as caught:
        _build(tmp_path, text)
    rows = {r["line"]: r for r in caught.value.rows}
    assert caught.value.rejected_rows == 9 and 2 not in rows
    assert rows[3]["column"] == "uscc" and rows[3]["position"] == 18 and "should be '3'" in rows[3]["reason"]
    assert rows[4]["position"] == 14 and "'O'" in rows[4]["reason"]
    assert rows[5]["column"] == "effective_date"
    assert rows[6]["column"] == "expiry_date" and "not after" in rows[6]["reason"]
    assert rows[7]["column"] == "amount" and rows[8]["column"] == "severity"
    assert rows[9]["column"] == "visibility"
    assert "fields" in rows[11]["reason"] and rows[12]["column"] == "evidence_cid"
    assert not (tmp_path / "out.jsonl").exists()


def test_refusals_are_capped_but_counted_and_files_are_checked_whole(tmp_path: Path) -> None:
    bad = "".join(f"I{i:017d},1,2024-01-01,,1,s,,public\n" for i in range(MAX_LISTED + 50))
    with pytest.raises(BatchRejected) as caught:
        _build(tmp_path, HEADER + bad)
    assert caught.value.rejected_rows == MAX_LISTED + 50 and len(caught.value.rows) == MAX_LISTED
    with pytest.raises(BatchRejected) as header:
        _build(tmp_path, "uscc,severity,colour\n")
    assert header.value.rows[0]["line"] == 1 and "missing column" in header.value.rows[0]["reason"]
    with pytest.raises(BatchRejected) as empty:
        _build(tmp_path, HEADER)
    assert "no entries" in empty.value.rows[0]["reason"]
    with pytest.raises(BatchRejected) as many:
        _build(tmp_path, HEADER + f"{GOOD},1,2024-01-01,,1,s,,public\n" * 3, max_entries=2)
    assert many.value.rows[0]["line"] == 4 and "more than 2" in many.value.rows[0]["reason"]


def test_json_lines_input(tmp_path: Path) -> None:
    rows = [{"uscc": GOOD, "severity": 1, "effective_date": "2024-01-01", "expiry_date": None, "amount": 10,
             "summary": "s", "evidence_cid": "", "visibility": "public"},
            {"uscc": GOOD, "severity": 1, "effective_date": 1700000000, "amount": "10", "summary": "s",
             "evidence_cid": "bafk", "visibility": "restricted", "subject_salt": "0x" + "11" * 32, "salt": "0x" + "22" * 32}]
    built = _build(tmp_path, "".join(json.dumps(r) + "\n" for r in rows), "jsonl")
    assert built.count == 2 and built.restricted[0].subject_salt == bytes.fromhex("11" * 32)  # type: ignore[attr-defined]
    with pytest.raises(BatchRejected) as caught:
        _build(tmp_path, json.dumps({**rows[0], "colour": 1}) + "\n[]\n{bad\n", "jsonl")
    assert [r["line"] for r in caught.value.rows] == [1, 2, 3]
    assert sniff_kind(b'{"uscc"', None) == "jsonl" and sniff_kind(b"uscc,", None) == "csv"
    assert sniff_kind(b"{", "text/csv") == "csv"


def test_batch_file_lines_that_do_not_belong_are_named() -> None:
    parser = LineParser(7, 1)
    good = {"indexInBatch": 0, "issuerMemberId": 7, "category": 1, "isPublic": True, "uscc": GOOD, "severity": 1,
            "effectiveDate": 5, "expiryDate": 0, "amount": "1", "summary": "s", "evidenceCid": ""}
    leaf, _doc = parser.leaf_hash(json.dumps(good).encode(), 0)
    assert leaf == entry_of(good).leaf.hash()
    cases = {
        "carries index 0, not 1": (good, 1),
        "issuer": ({**good, "issuerMemberId": 8}, 0),
        "category": ({**good, "category": 2}, 0),
        "valid USCC": ({**good, "uscc": "91350100M000100Y44"}, 0),
        "not after": ({**good, "expiryDate": 5}, 0),
        "unexpected colour": ({**good, "colour": 1}, 0),
        "decimal string": ({**good, "amount": 1}, 0),
        "non-zero": ({"indexInBatch": 0, "issuerMemberId": 7, "category": 1, "isPublic": False,
                      "subjectTag": "0x" + "00" * 32, "commitment": "0x" + "01" * 32}, 0),
    }
    for reason, (doc, index) in cases.items():
        with pytest.raises(LineInvalid, match=reason):
            parser.leaf_hash(json.dumps(doc).encode(), index)
    with pytest.raises(LineInvalid, match="not JSON"):
        parser.leaf_hash(b"{", 0)
    assert keccak256(b"") == bytes.fromhex("c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")


def test_the_parallel_path_gives_what_one_process_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real worker processes (the threshold lowered so a small file takes the parallel path)."""
    from gateway.credit_batches import parallel
    from gateway.uscc import check_character

    rows = []
    for i in range(3000):
        stem = f"91330100{i:09d}"
        summary = f'"第{i}号, 罚款 ""quoted""{chr(10) if i == 1500 else ""}"'
        rows.append(f"{stem}{check_character(stem)},{i % 3},2024-01-01,,{i},{summary},bafk{i},"
                    f"{'restricted' if i % 97 == 0 else 'public'},"
                    f"{'0x' + '11' * 32 if i % 97 == 0 else ''},{'0x' + '22' * 32 if i % 97 == 0 else ''}\n")
    text = HEADER.rstrip("\n") + ",subject_salt,salt\n" + "".join(rows)
    serial = _build(tmp_path, text, max_entries=10_000)
    serial_file = (tmp_path / "out.jsonl").read_bytes()
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 1)
    assert len(parallel.split_at_newlines((tmp_path / "in"), 4, quotes=True, start=len(HEADER))) > 1
    fast = _build(tmp_path, text, max_entries=10_000)
    assert (fast.root, fast.count) == (serial.root, serial.count)  # type: ignore[attr-defined]
    assert (tmp_path / "out.jsonl").read_bytes() == serial_file
    assert [r.commitment for r in fast.restricted] == [r.commitment for r in serial.restricted]  # type: ignore[attr-defined]
    whole = parallel.hash_segment(str(tmp_path / "out.jsonl"), 0, len(serial_file), 0, 7, 1)
    split = parallel.hash_batch_file(tmp_path / "out.jsonl", 3000, 7, 1)
    assert (split.hashes, split.usccs, split.commitments, split.offsets) == (
        whole.hashes, whole.usccs, whole.commitments, whole.offsets)
    assert split.error is None and len(split.offsets) == (3000 + 255) // 256
    # Rejections name the same lines either way.
    bad = text.replace(rows[2500][:18], rows[2500][:17] + "0", 1).replace(rows[10][:18], "I" + rows[10][1:18], 1)
    with pytest.raises(BatchRejected) as caught:
        _build(tmp_path, bad, max_entries=10_000)
    assert [r["line"] for r in caught.value.rows] == [12, 2503]
