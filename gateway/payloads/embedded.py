"""The embedded payload store: blocks as files under a data directory, laid out like Kubo's flatfs.

Layout under ``root``::

    blocks/<shard>/<KEY>.data   one block; KEY is the RFC 4648 base32 of the block's multihash
                                (``CIQ…`` for sha2-256) and <shard> its next-to-last two
                                characters — Kubo's ``flatfs`` ``next-to-last/2`` scheme
    pins/<CID>                  one file per pinned payload root
    tmp/put-<pid>-<random>/     blocks of an upload (or a CAR import) still in progress

Atomicity: an upload writes its blocks into its own ``tmp/put-…`` directory, and only when the
whole stream has been read (and is under the size limit) renames each block into ``blocks/`` and
then writes the pin. A rename is atomic, so a process killed at any moment leaves every visible
block whole; at worst it leaves a staging directory, which the next store opened on the same root
removes once its process is gone. With ``durable=True`` (the default) every block and pin is
fsynced before it is renamed, and the directories after, so an acknowledged payload survives a
power cut too.

Reads never trust the disk: every block is re-hashed against its CID (see
:class:`~gateway.payloads.unixfs.VerifiedReader`), so an altered block file is refused by name.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import shutil
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

from gateway.errors import BlockMissing, CarInvalid, PayloadError, PayloadNotFound
from gateway.payloads.car import read_blocks, read_header, write_car
from gateway.payloads.cids import DAG_PB, RAW, Cid, CidVersion, cid_text, normalize_cid, parse_cid, split_cid
from gateway.payloads.store import DEFAULT_MAX_SIZE
from gateway.payloads.unixfs import Buffer, VerifiedReader, default_workers, import_stream


def block_key(cid: bytes) -> str:
    """The flatfs key of a block: base32 (upper case, unpadded) of its multihash."""
    return base64.b32encode(split_cid(cid).multihash).decode("ascii").rstrip("=")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class _Staging:
    """The blocks of one upload or import, written beside the store until they are published."""

    def __init__(self, store: EmbeddedStore) -> None:
        self._store = store
        self.dir = Path(tempfile.mkdtemp(prefix=f"put-{os.getpid()}-", dir=store.root / "tmp"))
        self._keys: list[str] = []
        self._lock = threading.Lock()

    def sink(self, cid: bytes, parts: Sequence[Buffer]) -> None:
        """Write one new block (called from worker threads)."""
        key = block_key(cid)
        if self._store.block_path_for_key(key).exists():
            return
        try:
            fd = os.open(self.dir / key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:  # the same block twice in one payload (e.g. runs of zeros)
            return
        try:
            total = sum(len(p) for p in parts)
            if os.writev(fd, list(parts)) != total:
                raise PayloadError(f"short write of block {cid_text(cid)}")
            if self._store.durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        with self._lock:
            self._keys.append(key)

    def read(self, cid: bytes) -> bytes | None:
        try:
            return (self.dir / block_key(cid)).read_bytes()
        except FileNotFoundError:
            return None

    def publish(self) -> None:
        """Rename every staged block into ``blocks/`` (each rename atomic), a shard directory at a
        time on a few threads (directory operations release the GIL; a first upload creates up to
        1,024 shard directories). With ``durable``, the shard directories are then fsynced, all
        together, so the file system commits them in a few journal transactions."""
        by_shard: dict[Path, list[str]] = {}
        for key in self._keys:
            by_shard.setdefault(self._store.block_path_for_key(key).parent, []).append(key)

        def move(shard: Path) -> None:
            shard.mkdir(exist_ok=True)
            for key in by_shard[shard]:
                os.replace(self.dir / key, shard / f"{key}.data")

        with ThreadPoolExecutor(8, thread_name_prefix="publish") as pool:
            list(pool.map(move, by_shard))
            if self._store.durable:
                list(pool.map(_fsync_dir, [*by_shard, self._store.root / "blocks"]))

    def discard(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


class EmbeddedStore:
    """Payloads as content-addressed block files under ``root`` (see the module docstring).

    Thread-safe; several processes may share one ``root``.
    """

    def __init__(self, root: Path | str, *, max_size: int = DEFAULT_MAX_SIZE, durable: bool = True,
                 workers: int | None = None) -> None:
        self.root = Path(root)
        self.max_size = max_size
        self.durable = durable
        self._workers = workers or default_workers()
        try:
            for sub in ("blocks", "pins", "tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PayloadError(f"cannot use {self.root} as a payload store: {exc.strerror or exc}") from None
        self._remove_abandoned_staging()

    # -- paths ---------------------------------------------------------------------------------

    def block_path_for_key(self, key: str) -> Path:
        return self.root / "blocks" / key[-3:-1] / f"{key}.data"

    def block_path(self, cid: str | bytes) -> Path:
        """The file holding a block (by CID text or binary CID), whether or not it exists."""
        return self.block_path_for_key(block_key(parse_cid(cid) if isinstance(cid, str) else cid))

    def _fetch(self, cid: bytes) -> bytes | None:
        try:
            with open(self.block_path_for_key(block_key(cid)), "rb", buffering=0) as f:
                return f.read()
        except FileNotFoundError:
            return None

    def _remove_abandoned_staging(self) -> None:
        for entry in (self.root / "tmp").iterdir():
            fields = entry.name.split("-")
            if len(fields) >= 3 and fields[1].isdigit() and not _process_alive(int(fields[1])):
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    with contextlib.suppress(FileNotFoundError):
                        entry.unlink()

    # -- the PayloadStore contract ----------------------------------------------------------------

    def put(self, source: bytes | BinaryIO, *, cid_version: CidVersion = 1) -> Cid:
        stream: BinaryIO = io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source
        staging = _Staging(self)
        try:
            root = import_stream(stream, cid_version=cid_version, sink=staging.sink, limit=self.max_size,
                                 workers=self._workers)
            staging.publish()
            self._pin(root.cid)
        finally:
            staging.discard()
        return cid_text(root.cid)

    def stream(self, cid: str) -> Iterator[bytes]:
        return VerifiedReader(self._fetch, parse_cid(cid), workers=self._workers).chunks()

    def get(self, cid: str) -> bytes:
        return b"".join(self.stream(cid))

    def has(self, cid: str) -> bool:
        return (self.root / "pins" / normalize_cid(cid)).exists()

    def pins(self) -> list[Cid]:
        return sorted(Cid(p.name) for p in (self.root / "pins").iterdir() if not p.name.startswith("."))

    def export_car(self, cid: str, out: BinaryIO) -> int:
        root = parse_cid(cid)
        reader = VerifiedReader(self._fetch, root, workers=self._workers)
        blocks = reader.blocks()
        first = next(blocks)  # the root, fetched and verified before anything is written
        return write_car([root], _chain(first, blocks), out)

    def import_car(self, source: BinaryIO) -> list[Cid]:
        roots = read_header(source)
        names = [cid_text(root) for root in roots]
        for root, name in zip(roots, names):
            if split_cid(root).codec not in (RAW, DAG_PB):
                raise CarInvalid(f"root {name} is neither a raw nor a dag-pb block")
        staging = _Staging(self)
        try:
            for cid, block in read_blocks(source, names[0]):
                staging.sink(cid, (block,))

            def fetch(cid: bytes) -> bytes | None:
                staged = staging.read(cid)
                return staged if staged is not None else self._fetch(cid)

            for root, name in zip(roots, names):
                try:
                    for _ in VerifiedReader(fetch, root, workers=1).blocks():
                        pass
                except PayloadNotFound:
                    raise CarInvalid(f"root {name} has no block in the file") from None
                except BlockMissing as exc:
                    raise CarInvalid(f"root {name} needs block {exc.block_cid}, which is neither in the file "
                                     "nor in the store") from None
            staging.publish()
            for root in roots:
                self._pin(root)
        finally:
            staging.discard()
        return [Cid(n) for n in names]

    def close(self) -> None:
        return None

    # -- pins ----------------------------------------------------------------------------------

    def _pin(self, root: bytes) -> None:
        name = cid_text(root)
        fd, temp = tempfile.mkstemp(prefix=f"pin-{os.getpid()}-", dir=self.root / "tmp")
        try:
            os.write(fd, name.encode("ascii") + b"\n")
            if self.durable:
                os.fsync(fd)
            os.close(fd)
            os.replace(temp, self.root / "pins" / name)
        except BaseException:
            with contextlib.suppress(OSError):
                os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        if self.durable:
            _fsync_dir(self.root / "pins")


def _chain(first: tuple[bytes, bytes], rest: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
    yield first
    yield from rest
