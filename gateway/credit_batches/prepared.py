"""Batches this gateway prepared: what the upload computed, kept for indexing the same file.

A regulator's upload is validated and hashed here (``gateway.credit_batches.intake``); minutes
later the anchoring block names the batch file by CID and the worker would parse and hash every
line again. When this gateway wrote that file, it already knows the answer: a CID names exactly
the bytes it was computed from, and the leaves were computed by the same code from the same
values. So the upload keeps, under ``DATA_DIR/credit-prepared/<cid>``, the leaf hashes, the USCC
bytes and the restricted commitments, bound to the CID, the issuer, the category and the count;
the worker uses them only when all four match the anchor and the root rebuilt from the leaves is
the anchored one, and
otherwise (another gateway's file, another issuer, a reindex after the file was removed) checks
the file line by line as before. The file itself is still fetched with every block verified.

Layout of a prepared file: one JSON header line (``format``, ``cid``, ``issuer``, ``category``,
``count``, ``commitments``) then ``count`` × 32 bytes of leaf hashes and ``count`` × 18
bytes of USCCs. Written to a temporary name and renamed, so a killed gateway leaves either a whole
file or none.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

FORMAT = "cityledger-prepared-batch/1"


@dataclass(frozen=True)
class Prepared:
    hashes: bytes
    usccs: bytes
    commitments: list[tuple[str, int]]


class PreparedBatches:
    """The prepared batches under one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, cid: str) -> Path:
        if not cid.isalnum():
            raise ValueError(f"not a CID: {cid!r:.80}")
        return self.directory / cid

    def save(self, cid: str, issuer: int, category: int, hashes: bytes, usccs: bytes,
             commitments: list[tuple[str, int]]) -> None:
        count = len(hashes) // 32
        if len(hashes) != 32 * count or len(usccs) != 18 * count:
            raise ValueError("hashes and USCCs must hold the same number of entries")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self._path(cid)
        header = {"format": FORMAT, "cid": cid, "issuer": issuer, "category": category, "count": count,
                  "commitments": commitments}
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(temporary, "wb") as out:
            out.write(json.dumps(header, separators=(",", ":")).encode("ascii") + b"\n")
            out.write(hashes)
            out.write(usccs)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)

    def load(self, cid: str, issuer: int, category: int, count: int) -> Prepared | None:
        """The prepared batch for this CID if it was prepared for exactly this issuer, category and
        count (and is whole), else ``None``."""
        try:
            data = self._path(cid).read_bytes()
        except (OSError, ValueError):
            return None
        end = data.find(b"\n")
        try:
            header = json.loads(data[:end])
        except ValueError:
            return None
        body = data[end + 1:]
        if (header.get("format") != FORMAT or header.get("cid") != cid or header.get("issuer") != issuer
                or header.get("category") != category or header.get("count") != count
                or len(body) != 50 * count):
            return None
        return Prepared(body[:32 * count], body[32 * count:], [(str(c), int(i)) for c, i in header["commitments"]])

    def discard(self, cid: str) -> None:
        try:
            self._path(cid).unlink(missing_ok=True)
        except ValueError:
            pass
