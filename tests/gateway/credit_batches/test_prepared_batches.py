"""Batches this gateway prepared at upload are indexed from what the upload computed — and give
exactly what checking the file line by line gives; anything that does not fit falls back to the
line-by-line check. Real SQLite, a real embedded payload store, real files and worker processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from gateway import db
from gateway.credit_batches import indexing, parallel
from gateway.credit_batches.indexing import BatchWorker, tile_offsets
from gateway.credit_batches.intake import BuiltBatch, build_batch
from gateway.credit_batches.prepared import PreparedBatches
from gateway.payloads.embedded import EmbeddedStore
from gateway.records.credit import CreditBatch
from gateway.uscc import check_character

HEADER = "uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n"
ISSUER, CATEGORY = 7, 1  # category 1 is "Penalty"
COUNT = 1300


def _built(tmp_path: Path) -> BuiltBatch:
    rows = "".join(f'{s}{check_character(s)},{i % 4},2024-01-01,,{i},"第{i}号 ""quoted""",bafk{i},'
                   f"{'restricted' if i % 101 == 0 else 'public'}\n"
                   for i, s in ((i, f"91330100{i:09d}") for i in range(COUNT)))
    source = tmp_path / "in.csv"
    source.write_text(HEADER + rows, encoding="utf-8")
    return build_batch(source, "csv", ISSUER, CATEGORY, tmp_path / "batch.jsonl", max_entries=10_000)


def test_the_upload_prepares_what_the_line_by_line_check_finds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _built(tmp_path)
    assert built.count == COUNT and len(built.restricted) == 13
    found = parallel.hash_segment(str(tmp_path / "batch.jsonl"), 0, (tmp_path / "batch.jsonl").stat().st_size, 0,
                                  ISSUER, CATEGORY)
    assert found.error is None
    assert (built.hashes, built.usccs, built.commitments) == (found.hashes, found.usccs, found.commitments)
    assert tile_offsets(tmp_path / "batch.jsonl", COUNT) == found.offsets
    # The upload on every core prepares what its file gives too (fresh salts: another file).
    monkeypatch.setattr(parallel, "PARALLEL_MIN_BYTES", 1)
    again = build_batch(tmp_path / "in.csv", "csv", ISSUER, CATEGORY, tmp_path / "again.jsonl", max_entries=10_000)
    found = parallel.hash_batch_file(tmp_path / "again.jsonl", COUNT, ISSUER, CATEGORY)
    assert (again.hashes, again.usccs, again.commitments) == (found.hashes, found.usccs, found.commitments)
    assert again.usccs == built.usccs and again.commitments != built.commitments


def _index(tmp_path: Path, name: str, built: BuiltBatch, prepared: PreparedBatches | None,
           root: bytes | None = None) -> tuple[str, Engine]:
    store = EmbeddedStore(tmp_path / "store", durable=False)
    cid = str(store.put((tmp_path / "batch.jsonl").read_bytes()))
    engine = db.make_engine(f"sqlite:///{tmp_path / f'{name}.sqlite'}")
    db.create_schema(engine)
    with db.session(engine) as s:
        s.add(CreditBatch(id=1, issuer_member_id=ISSUER, issuer="0x", category="Penalty",
                          merkle_root="0x" + (root or built.root).hex(), entry_count=built.count, batch_file_cid=cid,
                          anchored_at=0, block_number=1, block_log_index=0))
        s.commit()
    state = BatchWorker(engine, store, tmp_path / f"spool-{name}", max_entries=10_000, prepared=prepared).process(1)
    return state, engine


def _rows(engine: Engine) -> dict[str, list[Any]]:
    with engine.connect() as conn:
        return {table: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2, 3"))]
                for table in ("credit_batch_tile", "credit_batch_data", "credit_batch_subject",
                              "credit_batch_commitment")}


def _cid(tmp_path: Path) -> str:
    return str(EmbeddedStore(tmp_path / "cid-only", durable=False).put((tmp_path / "batch.jsonl").read_bytes()))


def test_a_prepared_batch_is_indexed_without_hashing_the_file_again_and_gives_the_same_rows(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = _built(tmp_path)
    checked_state, checked = _index(tmp_path, "checked", built, None)
    assert checked_state == "indexed"
    prepared = PreparedBatches(tmp_path / "prepared")
    cid = _cid(tmp_path)
    prepared.save(cid, ISSUER, CATEGORY, built.hashes, built.usccs, built.commitments)

    def no_line_by_line(*_: object) -> None:
        raise AssertionError("the prepared batch was hashed line by line")

    monkeypatch.setattr(indexing, "hash_batch_file", no_line_by_line)
    state, fast = _index(tmp_path, "prepared", built, prepared)
    assert state == "indexed"
    assert _rows(fast) == _rows(checked) and len(_rows(fast)["credit_batch_subject"]) == COUNT - 13
    assert prepared.load(cid, ISSUER, CATEGORY, COUNT) is None  # discarded once indexed


@pytest.mark.parametrize("change", ["issuer", "count", "leaves", "torn"])
def test_a_prepared_batch_that_does_not_fit_is_checked_line_by_line(tmp_path: Path, change: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    built = _built(tmp_path)
    prepared = PreparedBatches(tmp_path / "prepared")
    cid = _cid(tmp_path)
    hashes = bytes(32) + built.hashes[32:] if change == "leaves" else built.hashes
    usccs = built.usccs
    if change == "count":
        hashes, usccs = hashes[:-32], usccs[:-18]
    prepared.save(cid, ISSUER + (change == "issuer"), CATEGORY, hashes, usccs, built.commitments)
    if change == "torn":
        path = tmp_path / "prepared" / cid
        path.write_bytes(path.read_bytes()[:-1])
    calls = []
    real = indexing.hash_batch_file

    def counted(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(indexing, "hash_batch_file", counted)
    state, engine = _index(tmp_path, "index", built, prepared)
    assert state == "indexed" and len(calls) == 1
    assert len(_rows(engine)["credit_batch_commitment"]) == 13


def test_an_anchor_that_does_not_match_the_prepared_root_is_a_mismatch(tmp_path: Path) -> None:
    built = _built(tmp_path)
    prepared = PreparedBatches(tmp_path / "prepared")
    prepared.save(_cid(tmp_path), ISSUER, CATEGORY, built.hashes, built.usccs, built.commitments)
    state, engine = _index(tmp_path, "index", built, prepared, root=b"\x01" * 32)
    assert state == "mismatch"
    with engine.connect() as conn:
        problem = conn.execute(text("SELECT problem FROM credit_batch WHERE id = 1")).scalar_one()
    assert "0x" + built.root.hex() in problem and "0x" + "01" * 32 in problem
