"""The index database: engine set-up for SQLite and PostgreSQL, and the tables all records share.

The index is a cache of the chain: it can be dropped and rebuilt from genesis at any time
(``cityledger gateway reindex``), so it holds nothing the chain does not. Tables:

* ``indexed_block`` — every block the indexer has passed, with its hash and sealed header (a
  proof's header is read from here; a hash that changes under the indexer is a reported error);
* ``tx_proof`` — for each transaction that emitted an indexed log, its receipt-trie and
  transaction-trie proofs, cut once at index time;
* ``chain_event`` — every decoded event of the contracts, keyed by block and position; record
  tables (``gateway.records.*``) point at these rows;
* ``indexer_state`` — the cursor and what the index was built from (chain id, genesis hash), and
  the version of this layout (``SCHEMA_VERSION``): an index of another layout is refused at start
  with what to run (``reindex``), never read as if it were this one.

A block's rows, the records derived from them and the cursor move are written in one database
transaction, so a killed gateway resumes exactly after the last committed block.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import BigInteger, Engine, Integer, event
from sqlalchemy.engine import create_engine
from sqlalchemy.pool import StaticPool
from sqlmodel import Field, Session, SQLModel, select

from gateway.errors import GatewayError

#: The layout of the index tables. 2: the credit batches' USCC index is keyed by batch first.
SCHEMA_VERSION = 2
SCHEMA_KEY = "schema_version"


class IndexOutdated(GatewayError):
    """Raised when the database holds an index of another layout than this gateway's."""

    slug = "index-outdated"


class IndexedBlock(SQLModel, table=True):
    """A block the indexer has passed."""

    __tablename__ = "indexed_block"

    number: int = Field(primary_key=True)
    hash: str = Field(index=True, max_length=66)
    parent_hash: str = Field(max_length=66)
    timestamp: int
    #: RLP of the sealed header, hex; only kept for blocks some proof needs (others: "").
    header: str = ""
    #: The sealer recovered from the seal (lower-case hex), or "" on a chain without seals.
    sealer: str = Field(default="", max_length=42)


class BlockCommit(SQLModel, table=True):
    """On a CometBFT chain: the commit certifying an indexed block that some proof needs
    (``cityledger_getCommit``'s answer, JSON), checked by the indexer before it was stored."""

    __tablename__ = "block_commit"

    number: int = Field(primary_key=True)
    certificate: str


class TxProof(SQLModel, table=True):
    """Receipt-trie and transaction-trie proofs of one transaction, cut at index time."""

    __tablename__ = "tx_proof"

    block_number: int = Field(primary_key=True)
    tx_index: int = Field(primary_key=True)
    tx_hash: str = Field(index=True, max_length=66)
    sender: str = Field(max_length=42)
    #: JSON lists of hex trie nodes, root first.
    receipt_proof: str
    tx_proof: str


class ChainEvent(SQLModel, table=True):
    """One decoded contract event."""

    __tablename__ = "chain_event"

    block_number: int = Field(primary_key=True)
    #: Position of the log in the whole block.
    block_log_index: int = Field(primary_key=True)
    tx_index: int
    #: Position of the log inside its receipt (the proof's ``logIndex``).
    log_index: int
    tx_hash: str = Field(max_length=66)
    contract: str = Field(max_length=32, index=True)
    name: str = Field(max_length=64, index=True)
    #: Decoded arguments, JSON (addresses and bytes as 0x-hex, integers as decimal strings when
    #: above 2^53).
    args: str
    timestamp: int


class PayloadDigest(SQLModel, table=True):
    """The SHA-256 and size of a payload the gateway stored (recorded at upload), so proofs of
    records that name the payload can state its content hash as well as its CID."""

    __tablename__ = "payload_digest"

    cid: str = Field(primary_key=True, max_length=128)
    sha256: str = Field(max_length=66)
    size: int


class IndexerState(SQLModel, table=True):
    """Key-value state of the indexer (JSON values)."""

    __tablename__ = "indexer_state"

    key: str = Field(primary_key=True, max_length=64)
    value: str


def make_engine(url: str) -> Engine:
    """An engine for ``url``. SQLite runs in WAL mode (readers never wait for the indexer) with
    foreign keys on; an in-memory SQLite URL gets one shared connection (unit tests only)."""
    if url.startswith("sqlite"):
        memory = url in ("sqlite://", "sqlite:///:memory:")
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=StaticPool if memory else None)

        @event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            if not memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _widen_integers() -> None:
    """Every integer column is 64-bit: chain values (uint64 dates, receipt-code prefixes, ids)
    overflow PostgreSQL's 32-bit INTEGER. (SQLite's INTEGER is 64-bit already.) Values that may
    exceed 2^63 — uint256 amounts — are stored as decimal text by their record modules."""
    for table in SQLModel.metadata.tables.values():
        for column in table.columns:
            if type(column.type) is Integer:
                column.type = BigInteger()


def create_schema(engine: Engine, *, rebuild_outdated: bool = False) -> None:
    """Create every table that does not exist yet (records modules register theirs on import).
    An index of another layout (``SCHEMA_VERSION``) raises ``IndexOutdated``, or, with
    ``rebuild_outdated``, is dropped and created empty, to be rebuilt from the chain."""
    import gateway.auth.sessions  # noqa: F401  (registers the sign-in tables)
    import gateway.records  # noqa: F401  (registers the record tables)
    import gateway.routers.transactions  # noqa: F401  (payload releases)

    _widen_integers()
    SQLModel.metadata.create_all(engine)
    with session(engine) as s:
        stored = get_state(s, SCHEMA_KEY)
        if stored is None and s.exec(select(IndexedBlock).limit(1)).first() is not None:
            stored = 1  # indexed before the layout had a version
    if stored is not None and stored != SCHEMA_VERSION:
        if not rebuild_outdated:
            raise IndexOutdated(f"the index at {engine.url.render_as_string(hide_password=True)} has layout "
                                f"{stored}, this gateway reads layout {SCHEMA_VERSION}: rebuild it with "
                                "`cityledger gateway reindex`")
        drop_schema(engine)
        SQLModel.metadata.create_all(engine)
        stored = None
    if stored is None:
        with session(engine) as s:
            set_state(s, SCHEMA_KEY, SCHEMA_VERSION)
            s.commit()


#: Tables that hold the gateway's own state, not the chain's: a reindex keeps them.
KEPT_ON_REINDEX = frozenset({"auth_challenge", "auth_session", "payload_release", "payload_digest"})


def drop_schema(engine: Engine) -> None:
    """Drop every table of the index (``reindex``); sign-in sessions and payload releases stay."""
    import gateway.auth.sessions  # noqa: F401
    import gateway.records  # noqa: F401
    import gateway.routers.transactions  # noqa: F401

    tables = [t for name, t in SQLModel.metadata.tables.items() if name not in KEPT_ON_REINDEX]
    SQLModel.metadata.drop_all(engine, tables=tables)


@contextmanager
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


def get_state(s: Session, key: str) -> Any:
    row = s.get(IndexerState, key)
    return None if row is None else json.loads(row.value)


def set_state(s: Session, key: str, value: Any) -> None:
    row = s.get(IndexerState, key)
    if row is None:
        s.add(IndexerState(key=key, value=json.dumps(value)))
    else:
        row.value = json.dumps(value)
        s.add(row)


def block_at(s: Session, number: int) -> IndexedBlock | None:
    return s.get(IndexedBlock, number)


def last_block(s: Session) -> IndexedBlock | None:
    return s.exec(select(IndexedBlock).order_by(IndexedBlock.number.desc()).limit(1)).first()  # type: ignore[attr-defined]
