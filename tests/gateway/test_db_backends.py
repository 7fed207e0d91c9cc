"""The index runs on SQLite and on a real PostgreSQL server; the same suite covers both."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import select

from gateway import db


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'index.sqlite'}"
    return str(request.getfixturevalue("postgres_url"))


def test_schema_state_and_blocks_round_trip(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.create_schema(engine)
    with db.session(engine) as s:
        db.set_state(s, "cursor", 41)
        s.add(db.IndexedBlock(number=41, hash="0x" + "ab" * 32, parent_hash="0x" + "cd" * 32, timestamp=1))
        s.commit()
    with db.session(engine) as s:
        db.set_state(s, "cursor", 42)
        s.commit()
        assert db.get_state(s, "cursor") == 42
        last = db.last_block(s)
        assert last is not None and last.number == 41
        assert s.exec(select(db.IndexedBlock)).all()[0].hash == "0x" + "ab" * 32
    db.drop_schema(engine)
    engine.dispose()


def test_an_index_of_another_layout_is_refused_until_reindexed(database_url: str) -> None:
    engine = db.make_engine(database_url)
    db.create_schema(engine)
    with db.session(engine) as s:
        assert db.get_state(s, db.SCHEMA_KEY) == db.SCHEMA_VERSION  # a new index records its layout
        s.add(db.IndexedBlock(number=0, hash="0x" + "ab" * 32, parent_hash="0x" + "00" * 32, timestamp=1))
        db.set_state(s, db.SCHEMA_KEY, db.SCHEMA_VERSION - 1)
        s.commit()
    with pytest.raises(db.IndexOutdated, match="cityledger gateway reindex"):
        db.create_schema(engine)
    with db.session(engine) as s:  # an index older than layout versions is layout 1
        s.delete(s.get(db.IndexerState, db.SCHEMA_KEY))
        s.commit()
    with pytest.raises(db.IndexOutdated, match="layout 1"):
        db.create_schema(engine)
    db.drop_schema(engine)  # what reindex does: the rebuilt index has this layout
    db.create_schema(engine)
    with db.session(engine) as s:
        assert db.get_state(s, db.SCHEMA_KEY) == db.SCHEMA_VERSION
    db.drop_schema(engine)
    engine.dispose()


def test_an_outdated_index_is_rebuilt_when_asked(database_url: str) -> None:
    """``gateway run --rebuild-outdated-index`` (what ``cityledger up`` runs): the index is a cache,
    so one of another layout is dropped and starts empty, to be rebuilt from the chain."""
    engine = db.make_engine(database_url)
    db.create_schema(engine)
    with db.session(engine) as s:
        s.add(db.IndexedBlock(number=0, hash="0x" + "ab" * 32, parent_hash="0x" + "00" * 32, timestamp=1))
        db.set_state(s, "cursor", 0)
        db.set_state(s, db.SCHEMA_KEY, db.SCHEMA_VERSION - 1)
        s.commit()
    db.create_schema(engine, rebuild_outdated=True)
    with db.session(engine) as s:
        assert db.get_state(s, db.SCHEMA_KEY) == db.SCHEMA_VERSION
        assert db.get_state(s, "cursor") is None and db.last_block(s) is None
    db.create_schema(engine)  # now of this layout: kept as it is
    db.drop_schema(engine)
    engine.dispose()
