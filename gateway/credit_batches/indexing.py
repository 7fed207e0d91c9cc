"""Indexing anchored batches: fetch the batch file, rebuild the tree, check it against the anchor,
and write every entry — in the background, after the anchoring block is indexed.

The block indexer records each ``BatchAnchored`` as a ``credit_batch`` row in state ``pending``
(``gateway.records.credit``) and goes on with the next blocks. This worker, a task of the gateway,
takes pending batches one at a time:

1. **Check** (nothing written yet): stream the file named by ``batchFileCid`` from the payload store
   (every block verified against its CID) to a spool file. If this gateway prepared that very file
   at upload for the same issuer, category and count (``gateway.credit_batches.prepared``), the
   leaves it computed then are used and their root compared with the anchor; otherwise parse and
   hash each line (on every core
   for a large file, ``gateway.credit_batches.parallel``), rebuild the tree, and compare
   with the anchor: the root must equal ``merkleRoot``, the file must hold exactly ``entryCount``
   lines, line ``i`` must carry index ``i``, the anchoring issuer and the batch's category and be
   a well-formed leaf (``contracts/README.md``, "Batch tree: positional"). A failure marks the batch
   ``mismatch`` with ``problem`` naming the first fault; a file that cannot be read marks it
   ``unavailable`` (retried after ``retry_seconds``; it may be uploaded later).
2. **Write**, in transactions of :data:`CHUNK` entries each (so the block indexer, which shares the
   database, never waits long): the leaf tiles, the file's line tiles and the USCC index; each
   transaction also records how far it got, so a killed gateway resumes at the next chunk without
   a gap or a duplicate. The last transaction writes the upper tiles and sets ``indexed``.

Entries of a batch are served only once it is ``indexed``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, text
from sqlmodel import Session

from gateway import db
from gateway.credit_batches import tables
from gateway.credit_batches.parallel import hash_batch_file
from gateway.credit_batches.prepared import PreparedBatches
from gateway.credit_batches.tree import TILE_WIDTH, build, tiles
from gateway.errors import (BlockCorrupted, BlockMissing, InvalidCid, MalformedBlock, PayloadError,
                            PayloadNotFound, StoreUnavailable)
from gateway.payloads.store import PayloadStore
from gateway.records.credit import CreditBatch
from gateway.records.enums import value_of

log = logging.getLogger("cityledger.credit_batches")

#: Entries written per database transaction (a multiple of the tile width).
CHUNK = 256 * TILE_WIDTH
PROGRESS_KEY = "credit-batch-progress:{}"


class _Mismatch(Exception):
    pass


class _Unavailable(Exception):
    pass


@dataclass
class Checked:
    """What the check pass established about a batch file that matches its anchor."""

    count: int
    rows: list[bytes | bytearray]
    usccs: bytearray
    commitments: list[tuple[str, int]]
    spool: Path
    offsets: list[int]


class BatchWorker:
    """Processes pending batches; one per gateway process."""

    def __init__(self, engine: Engine, store: PayloadStore, spool_dir: Path, *, max_entries: int,
                 poll_interval: float = 0.5, retry_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, prepared: PreparedBatches | None = None) -> None:
        self.engine = engine
        self.prepared = prepared
        self.store = store
        self.spool_dir = spool_dir
        self.max_entries = max_entries
        self.poll_interval = poll_interval
        self.retry_seconds = retry_seconds
        self.clock = clock
        self._retry_at: dict[int, float] = {}
        self._wake = asyncio.Event()
        #: The batch being processed, and entries checked so far (for status).
        self.current: int | None = None

    # ---------------------------------------------------------------- loop
    async def run(self) -> None:
        while True:
            try:
                batch_id = await asyncio.to_thread(self.next_batch)
                if batch_id is not None:
                    await asyncio.to_thread(self.process, batch_id)
                    continue
            except asyncio.CancelledError:
                raise
            except Exception:  # a database failure: log, wait, retry; never die
                log.exception("credit batch worker failed; retrying")
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.poll_interval)
            except TimeoutError:
                pass

    def wake(self) -> None:
        self._wake.set()

    def next_batch(self) -> int | None:
        now = self.clock()
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT id, state FROM credit_batch WHERE state IN ('pending', 'unavailable') "
                                     "ORDER BY id")).fetchall()
        for batch_id, state in rows:
            if state == "pending" or self._retry_at.get(batch_id, 0.0) <= now:
                return int(batch_id)
        return None

    async def wait_for(self, batch_id: int, timeout: float = 60.0) -> str:
        """Until batch ``batch_id`` leaves ``pending`` (tests and the CLI); returns its state."""
        deadline = time.monotonic() + timeout
        while True:
            state = await asyncio.to_thread(self.state_of, batch_id)
            if state not in (None, "pending"):
                return state
            if time.monotonic() > deadline:
                raise TimeoutError(f"batch {batch_id} still {state} after {timeout} s")
            self.wake()
            await asyncio.sleep(0.02)  # polling the worker's progress, with a deadline

    def state_of(self, batch_id: int) -> str | None:
        with db.session(self.engine) as s:
            batch = s.get(CreditBatch, batch_id)
            return None if batch is None else batch.state

    # ---------------------------------------------------------------- one batch
    def process(self, batch_id: int) -> str:
        """Check and index batch ``batch_id``; returns its new state."""
        with db.session(self.engine) as s:
            batch = s.get(CreditBatch, batch_id)
            if batch is None or batch.state not in ("pending", "unavailable"):
                return "absent" if batch is None else batch.state
        self.current = batch_id
        try:
            if batch.entry_count > self.max_entries:
                raise _Unavailable(f"entryCount {batch.entry_count:,} exceeds this gateway's limit of "
                                   f"{self.max_entries:,} entries per batch (settings.max_batch_entries)")
            checked = self.check(batch)
        except _Mismatch as exc:
            return self._mark(batch_id, "mismatch", str(exc))
        except _Unavailable as exc:
            self._retry_at[batch_id] = self.clock() + self.retry_seconds
            return self._mark(batch_id, "unavailable", str(exc))
        finally:
            self.current = None
        try:
            self.write(batch_id, checked)
        finally:
            checked.spool.unlink(missing_ok=True)
        self._retry_at.pop(batch_id, None)
        if self.prepared is not None:
            self.prepared.discard(batch.batch_file_cid)
        return "indexed"

    def _mark(self, batch_id: int, state: str, problem: str) -> str:
        log.warning("credit batch %d: %s: %s", batch_id, state, problem)
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE credit_batch SET state = :state, problem = :problem WHERE id = :id"),
                         {"state": state, "problem": problem[:2000], "id": batch_id})
        return state

    def check(self, batch: CreditBatch) -> Checked:
        """Pass 1: fetch the file (every block verified), then parse and hash every line (on every
        core for a large file), rebuild the root and compare everything with the anchor."""
        expected = batch.entry_count
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        spool = self.spool_dir / f"batch-{batch.id}-{os.getpid()}.jsonl"
        lines = 0
        size = 0
        last = b"\n"
        try:
            with open(spool, "wb") as out:
                try:
                    for chunk in self.store.stream(batch.batch_file_cid):
                        if not chunk:
                            continue
                        out.write(chunk)
                        lines += chunk.count(b"\n")
                        size += len(chunk)
                        last = chunk[-1:]
                        if lines > expected:
                            raise _Mismatch(f"the file holds more than entryCount = {expected} lines")
                except (PayloadNotFound, BlockMissing, StoreUnavailable, InvalidCid, BlockCorrupted) as exc:
                    raise _Unavailable(f"the batch file {batch.batch_file_cid} cannot be read here: {exc}") from None
                except MalformedBlock as exc:
                    raise _Mismatch(f"batchFileCid {batch.batch_file_cid} does not name a file: {exc}") from None
                except PayloadError as exc:
                    raise _Unavailable(f"the batch file {batch.batch_file_cid} cannot be read: {exc}") from None
            if last != b"\n":
                raise _Mismatch(f"entry {lines} (line {lines + 1}) does not end with a newline")
            if lines != expected:
                raise _Mismatch(f"the file holds {lines} lines, entryCount is {expected}")
            anchored = bytes.fromhex(batch.merkle_root[2:])
            category = value_of("Credit.Category", batch.category)
            prepared = None if self.prepared is None else self.prepared.load(
                batch.batch_file_cid, batch.issuer_member_id, category, expected)
            if prepared is not None:
                root, rows = build(prepared.hashes)
                if root == anchored:
                    return Checked(expected, rows, bytearray(prepared.usccs), prepared.commitments, spool,
                                   tile_offsets(spool, expected) + [size])
                log.warning("credit batch %d: the prepared leaves of %s do not give the anchored root; "
                            "checking the file line by line", batch.id, batch.batch_file_cid)
            found = hash_batch_file(spool, expected, batch.issuer_member_id, category)
            if found.error is not None:
                index, reason = found.error
                raise _Mismatch(f"entry {index} (line {index + 1}): {reason}")
            root, rows = build(found.hashes)
            if root != anchored:
                raise _Mismatch(f"the tree rebuilt from the batch file has root 0x{root.hex()}, the anchored "
                                f"merkleRoot is {batch.merkle_root}")
        except BaseException:
            spool.unlink(missing_ok=True)
            raise
        return Checked(expected, rows, bytearray(found.usccs), found.commitments, spool, found.offsets + [size])

    def write(self, batch_id: int, checked: Checked) -> None:
        """Pass 2: write tiles, lines and the USCC index in chunks; resume after the last chunk a
        previous run committed."""
        key = PROGRESS_KEY.format(batch_id)
        with db.session(self.engine) as s:
            done = int(db.get_state(s, key) or 0)
        leaf_row = checked.rows[0] if checked.rows else bytes()
        with open(checked.spool, "rb") as source:
            data = source.read() if checked.count <= CHUNK * 64 else None
            for start in range(done, checked.count, CHUNK):
                stop = min(checked.count, start + CHUNK)
                first_tile, stop_tile = start // TILE_WIDTH, (stop + TILE_WIDTH - 1) // TILE_WIDTH
                if data is not None:
                    lines = [(t, data[checked.offsets[t]:checked.offsets[t + 1]]) for t in range(first_tile, stop_tile)]
                else:
                    source.seek(checked.offsets[first_tile])
                    blob = source.read(checked.offsets[stop_tile] - checked.offsets[first_tile])
                    base = checked.offsets[first_tile]
                    lines = [(t, blob[checked.offsets[t] - base:checked.offsets[t + 1] - base])
                             for t in range(first_tile, stop_tile)]
                usccs = checked.usccs
                subjects = [(usccs[i * 18:i * 18 + 18].decode("ascii"), i) for i in range(start, stop)
                            if usccs[i * 18] != 0]
                commitments = [(c, i) for c, i in checked.commitments if start <= i < stop]
                with self.engine.begin() as conn:
                    if checked.rows:
                        tables.insert_tiles(conn, batch_id, [(0, t, h) for t, h in tiles(leaf_row, first_tile, stop_tile)])
                    tables.insert_data(conn, batch_id, lines)
                    tables.insert_subjects(conn, batch_id, subjects)
                    tables.insert_commitments(conn, batch_id, commitments)
                    with Session(bind=conn) as s:
                        db.set_state(s, key, stop)
                        s.flush()
        with self.engine.begin() as conn:
            upper = [(band, t, h) for band, row in enumerate(checked.rows) if band > 0 for t, h in tiles(row)]
            tables.insert_tiles(conn, batch_id, upper)
            conn.execute(text("UPDATE credit_batch SET state = 'indexed', problem = '' WHERE id = :id"), {"id": batch_id})
            conn.execute(text("DELETE FROM indexer_state WHERE key = :key"), {"key": key})



def tile_offsets(path: Path, count: int) -> list[int]:
    """File offsets of the lines of ``path`` whose index is a multiple of the tile width."""
    with open(path, "rb") as f:
        data = f.read()
    offsets: list[int] = []
    position = 0
    find = data.find
    for index in range(count):
        if index % TILE_WIDTH == 0:
            offsets.append(position)
        position = find(b"\n", position) + 1
    return offsets
