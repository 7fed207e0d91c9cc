"""The payload store contract, one settings object, and helpers every store shares.

Two implementations pass one conformance suite (``tests/gateway/payloads/test_store_conformance.py``,
STYLE rule 3): :class:`~gateway.payloads.embedded.EmbeddedStore`, an on-disk block store (the
default), and :class:`~gateway.payloads.kubo.KuboStore`, a Kubo node over its RPC API. Both give
the CIDs ``ipfs add`` gives with the pinned parameters (see :mod:`gateway.payloads.unixfs`), and
both check every block against its CID on the way out.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from gateway.errors import PayloadError
from gateway.payloads.cids import Cid, CidVersion
from gateway.payloads.files import atomic_output

#: Default upload limit (bytes).
DEFAULT_MAX_SIZE = 256 * 2**20
#: Default timeout of one request to an IPFS node (seconds).
DEFAULT_TIMEOUT = 60.0


class PayloadStore(Protocol):
    """Where payloads live: content-addressed, each read checked block by block."""

    #: Uploads larger than this many bytes are refused with ``PayloadTooLarge``.
    max_size: int

    def put(self, source: bytes | BinaryIO, *, cid_version: CidVersion = 1) -> Cid:
        """Store a payload read from ``source`` (streamed: memory does not grow with it), pin it,
        and return its CID — the one ``ipfs add`` gives with the pinned parameters."""

    def stream(self, cid: str) -> Iterator[bytes]:
        """The payload's bytes in order, each piece verified against its block's CID before it is
        yielded. A missing payload (``PayloadNotFound``) or a corrupt root raises at the call; a
        missing or corrupt block further down (``BlockMissing``, ``BlockCorrupted``, naming the
        payload and the block) raises while iterating, after the earlier, verified pieces."""

    def get(self, cid: str) -> bytes:
        """The whole payload in memory, verified (for small payloads; use :meth:`stream` else)."""

    def has(self, cid: str) -> bool:
        """Whether the payload is pinned here (stored in full by ``put`` or ``import_car``)."""

    def pins(self) -> list[Cid]:
        """Every pinned payload, sorted."""

    def export_car(self, cid: str, out: BinaryIO) -> int:
        """Write the payload's DAG as a CAR v1 file (root: ``cid``), every block verified; return
        the number of bytes written."""

    def import_car(self, source: BinaryIO) -> list[Cid]:
        """Import a CAR v1 file: check every block against its CID and that each root's DAG is
        complete, then pin the roots and return them."""

    def close(self) -> None:
        """Release connections and files."""


@dataclass(frozen=True)
class StoreSettings:
    """Which payload store to open and its limits, validated once in the entry point (STYLE 7).

    Exactly one of ``store_dir`` (the embedded store) and ``ipfs_url`` (a Kubo RPC API, e.g.
    ``http://127.0.0.1:5001``) is set.
    """

    store_dir: Path | None = None
    ipfs_url: str | None = None
    max_size: int = DEFAULT_MAX_SIZE
    timeout: float = DEFAULT_TIMEOUT
    #: The embedded store fsyncs each block and pin before making it visible.
    durable: bool = True

    def __post_init__(self) -> None:
        if (self.store_dir is None) == (self.ipfs_url is None):
            raise PayloadError("choose one payload store: a directory or an IPFS node URL")
        if self.max_size <= 0:
            raise PayloadError(f"the size limit must be positive, got {self.max_size}")
        if self.timeout <= 0:
            raise PayloadError(f"the timeout must be positive, got {self.timeout}")


def open_store(settings: StoreSettings) -> PayloadStore:
    """The store ``settings`` name; close it after use."""
    if settings.ipfs_url is not None:
        from gateway.payloads.kubo import KuboStore

        return KuboStore(settings.ipfs_url, timeout=settings.timeout, max_size=settings.max_size)
    from gateway.payloads.embedded import EmbeddedStore

    assert settings.store_dir is not None
    return EmbeddedStore(settings.store_dir, max_size=settings.max_size, durable=settings.durable)


def write_payload(store: PayloadStore, cid: str, out: Path) -> int:
    """Write a verified payload to the file ``out`` and return its size.

    The bytes go to a temporary file beside ``out`` that is renamed into place only once every block
    has been verified; on any error it is removed, so ``out`` never holds unverified bytes.
    """
    size = 0
    with atomic_output(out) as temp, open(temp, "wb") as sink:
        for piece in store.stream(cid):
            size += sink.write(piece)
    return size

