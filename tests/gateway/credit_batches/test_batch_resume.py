"""The batch worker resumes after a crash in the middle of writing a batch: the chunks already
committed stay, the rest is written once, nothing twice. Real SQLite, a real embedded payload store
and real files; the crash is injected by making the third chunk's write raise (fault injection,
not a stand-in for any part)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from gateway import db
from gateway.credit_batches import indexing, tables
from gateway.credit_batches.indexing import BatchWorker
from gateway.credit_batches.intake import build_batch
from gateway.payloads.embedded import EmbeddedStore
from gateway.records.credit import CreditBatch
from gateway.uscc import check_character

HEADER = "uscc,severity,effective_date,expiry_date,amount,summary,evidence_cid,visibility\n"


class Crash(Exception):
    pass


def test_a_worker_killed_mid_batch_resumes_without_gap_or_duplicate(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    rows = "".join(f"{s}{check_character(s)},1,2024-01-01,,{i},s{i},,{'restricted' if i == 700 else 'public'}\n"
                   for i, s in ((i, f"91330100{i:09d}") for i in range(1000)))
    source = tmp_path / "in.csv"
    source.write_text(HEADER + rows)
    built = build_batch(source, "csv", 7, 1, tmp_path / "batch.jsonl", max_entries=10_000)
    store = EmbeddedStore(tmp_path / "store", durable=False)
    cid = store.put((tmp_path / "batch.jsonl").read_bytes())
    engine = db.make_engine(f"sqlite:///{tmp_path / 'index.sqlite'}")
    db.create_schema(engine)
    with db.session(engine) as s:
        s.add(CreditBatch(id=1, issuer_member_id=7, issuer="0x", category="Penalty",
                          merkle_root="0x" + built.root.hex(), entry_count=1000, batch_file_cid=cid, anchored_at=0,
                          block_number=1, block_log_index=0))
        s.commit()
    monkeypatch.setattr(indexing, "CHUNK", 256)
    real_insert = tables.insert_data
    calls = []

    def crash_on_third(conn: object, batch_id: int, tiles: object) -> None:
        calls.append(batch_id)
        if len(calls) == 3:
            raise Crash("killed")
        real_insert(conn, batch_id, tiles)  # type: ignore[arg-type]

    monkeypatch.setattr(tables, "insert_data", crash_on_third)
    with pytest.raises(Crash):
        BatchWorker(engine, store, tmp_path / "spool", max_entries=10_000).process(1)

    def count(table: str) -> int:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table} WHERE batch_id = 1")).scalar_one())

    assert (count("credit_batch_data"), count("credit_batch_subject")) == (2, 512)
    with db.session(engine) as s:
        assert db.get_state(s, "credit-batch-progress:1") == 512
        assert s.get(CreditBatch, 1).state == "pending"  # type: ignore[union-attr]

    monkeypatch.setattr(tables, "insert_data", real_insert)
    assert BatchWorker(engine, store, tmp_path / "spool", max_entries=10_000).process(1) == "indexed"
    assert (count("credit_batch_data"), count("credit_batch_subject"), count("credit_batch_commitment")) == (4, 999, 1)
    assert count("credit_batch_tile") == 4 + 1  # band 0: 4 tiles; band 1: one tile of 4 hashes
    with engine.connect() as conn:
        lines = b"".join(bytes(r[0]) for r in conn.execute(text(
            "SELECT lines FROM credit_batch_data WHERE batch_id = 1 ORDER BY tile")))
    assert lines == (tmp_path / "batch.jsonl").read_bytes()
    with db.session(engine) as s:
        assert db.get_state(s, "credit-batch-progress:1") is None
    assert not list((tmp_path / "spool").iterdir())
