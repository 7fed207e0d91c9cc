"""Hashing large batches on every core: the file is cut into segments at record boundaries and each
segment is parsed, validated and hashed in a worker process (Python runs one thread of bytecode at a
time; keccak calls are far too short to release it usefully).

Both passes that touch every entry use it when a file is large (``PARALLEL_MIN_BYTES``):

* the upload (:func:`build_parallel`, for :func:`gateway.credit_batches.intake.build_batch`): a
  first parallel pass counts the records of each segment (``csv``/``json`` parsers, cheap), so that
  the second knows the index of its first entry — a leaf hashes its index — and validates, hashes
  and writes its part of the canonical batch file. Segment ``k``'s parts are concatenated in order.
  Any CSV that does not split cleanly (a quoted field across a segment boundary makes a segment
  fail to parse) falls back to the single-process path, so the result is always the same;
* indexing (:func:`hash_batch_file`): the canonical file is cut at newlines, each worker checks and
  hashes its lines.

Results are identical to the single-process path (tested). Workers are spawned once per gateway
process (``spawn``, never ``fork`` from a threaded server) and kept.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.credit_batches.batchfile import LineInvalid, LineParser

#: Files smaller than this are hashed in the calling process.
PARALLEL_MIN_BYTES = 8 * 2**20

_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def pool() -> Executor:
    """The process pool of this gateway process (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(workers(), mp_context=multiprocessing.get_context("spawn"))
        return _pool


def split_at_newlines(path: Path, parts: int, *, quotes: bool = False, start: int = 0) -> list[tuple[int, int]]:
    """``parts`` byte ranges of ``path`` from ``start``, each ending just after a newline; with
    ``quotes``, only at a newline preceded by an even number of ``"`` (a CSV record boundary)."""
    size = path.stat().st_size
    if size <= start:
        return []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        bounds = [start]
        quote_count = 0
        counted = start
        for k in range(1, parts):
            target = start + (size - start) * k // parts
            if target <= bounds[-1]:
                continue
            cut = data.find(b"\n", target)
            while quotes and cut >= 0:
                quote_count += data[counted:cut].count(b'"')
                counted = cut
                if quote_count % 2 == 0:
                    break
                cut = data.find(b"\n", cut + 1)
            if cut < 0 or cut + 1 >= size:
                break
            bounds.append(cut + 1)
        bounds.append(size)
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


# --------------------------------------------------------------------------- indexing: the batch file
@dataclass
class SegmentHashes:
    """What a worker found in its lines of a batch file."""

    hashes: bytes = b""
    usccs: bytes = b""
    commitments: list[tuple[str, int]] = field(default_factory=list)
    #: File offsets of the lines whose index is a multiple of 256 (tile starts).
    offsets: list[int] = field(default_factory=list)
    error: tuple[int, str] | None = None


def hash_segment(path: str, start: int, end: int, first_index: int, issuer: int, category: int) -> SegmentHashes:
    """Check and hash the lines in bytes ``start .. end`` of a batch file (line ``first_index`` first)."""
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(end - start)
    parser = LineParser(issuer, category)
    hashes = bytearray()
    usccs = bytearray()
    out = SegmentHashes()
    zero18 = bytes(18)
    index = first_index
    position = 0
    while position < len(data):
        stop = data.find(b"\n", position)
        if stop < 0:
            stop = len(data)
        if index % 256 == 0:
            out.offsets.append(start + position)
        try:
            leaf, doc = parser.leaf_hash(data[position:stop], index)
        except LineInvalid as exc:
            out.error = (index, str(exc))
            break
        hashes += leaf
        if doc["isPublic"] is True:
            usccs += str(doc["uscc"]).encode("ascii")
        else:
            usccs += zero18
            out.commitments.append((str(doc["commitment"]), index))
        index += 1
        position = stop + 1
    out.hashes = bytes(hashes)
    out.usccs = bytes(usccs)
    return out


def hash_batch_file(path: Path, count: int, issuer: int, category: int) -> SegmentHashes:
    """Check and hash every line of a batch file of ``count`` lines (each ending in a newline),
    in parallel when it is large; the first invalid line is reported in ``error``."""
    size = path.stat().st_size
    if size < PARALLEL_MIN_BYTES or workers() == 1:
        return hash_segment(str(path), 0, size, 0, issuer, category)
    ranges = split_at_newlines(path, workers() * 2)
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        firsts = [0]
        for a, b in ranges[:-1]:
            firsts.append(firsts[-1] + data[a:b].count(b"\n"))
    futures = [pool().submit(hash_segment, str(path), a, b, first, issuer, category)
               for (a, b), first in zip(ranges, firsts)]
    merged = SegmentHashes()
    hashes, usccs = bytearray(), bytearray()
    for future in futures:
        part = future.result()
        if part.error is not None:
            merged.error = part.error
            break
        hashes += part.hashes
        usccs += part.usccs
        merged.commitments += part.commitments
        merged.offsets += part.offsets
    merged.hashes = bytes(hashes)
    merged.usccs = bytes(usccs)
    return merged


# --------------------------------------------------------------------------- uploads
def count_records(path: str, kind: str, start: int, end: int) -> int | None:
    """Records in bytes ``start .. end`` of an upload (None: the segment does not parse alone)."""
    import csv
    import io

    with open(path, "rb") as f:
        f.seek(start)
        text = f.read(end - start).decode("utf-8", errors="strict")
    if kind == "jsonl":
        return sum(1 for line in text.split("\n") if line.strip())
    try:
        return sum(1 for row in csv.reader(io.StringIO(text, newline=""), strict=True) if row)
    except csv.Error:
        return None


def build_segment(path: str, kind: str, start: int, end: int, first_index: int, first_line: int,
                  names: list[str] | None, issuer: int, category: int, out: str, max_entries: int) -> Any:
    """Validate, hash and write the canonical lines of one segment (see ``intake.build_range``)."""
    from gateway.credit_batches.intake import build_range

    return build_range(Path(path), kind, start, end, first_index, first_line, names, issuer, category, Path(out),
                       max_entries)


def plan_upload(path: Path, kind: str, data_start: int) -> list[tuple[int, int, int, int]] | None:
    """``(start, end, first index, first line)`` of each segment of an upload's records, or None
    when the file should be read in one process."""
    ranges = split_at_newlines(path, workers() * 2, quotes=kind == "csv", start=data_start)
    counts = list(pool().map(count_records, [str(path)] * len(ranges), [kind] * len(ranges),
                             [a for a, _ in ranges], [b for _, b in ranges]))
    if any(c is None for c in counts):
        return None
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        line = 1 + data[:data_start].count(b"\n")
        plan = []
        index = 0
        for (a, b), n in zip(ranges, counts):
            plan.append((a, b, index, line))
            index += int(n or 0)
            line += data[a:b].count(b"\n")
    return plan
