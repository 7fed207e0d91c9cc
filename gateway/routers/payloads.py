"""Payloads: ``POST /v1/payloads`` (members store a document or a ciphertext; streamed to disk up
to the size limit) and ``GET /v1/payloads/{cid}`` (documents; every block re-hashed on the way
out). Data-sharing ciphertexts are released only through their grant
(``POST /v1/grants/{id}/access``), never here."""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from sqlmodel import Session, select

from gateway import db

from gateway.deps import CurrentMember, PublicLimit, ServicesDep, SessionDep
from gateway.errors import GatewayError
from gateway.payloads.cids import normalize_cid
from gateway.payloads.store import write_payload
from gateway.records.sharing import ShareRequest

router = APIRouter(tags=["payloads"])


class PayloadWithheld(GatewayError):
    """Raised when a CID names a data-sharing payload, which only its grant releases."""

    status = 403
    slug = "payload-withheld"


class _BodyReader:
    """The request body as a blocking file-like object for the store (fed by the event loop)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.sha256 = hashlib.sha256()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buffer) < n:
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self.sha256.update(chunk)
            self.size += len(chunk)
            self._buffer += chunk
        if n < 0:
            out, self._buffer = self._buffer, b""
        else:
            out, self._buffer = self._buffer[:n], self._buffer[n:]
        return out

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


@router.post("/v1/payloads", status_code=201)
async def upload(request: Request, caller: CurrentMember, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """Store the request body (any bytes) and return its CID (Kubo-identical, CIDv1) and SHA-256.
    Members only; bodies over the gateway's limit are refused with 413 and nothing is kept."""
    import asyncio
    import queue
    import threading

    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=64)

    ended = threading.Event()

    def items() -> Iterator[bytes]:
        while (chunk := chunks.get()) is not None:
            yield chunk
        ended.set()

    reader = _BodyReader(items())
    result: dict[str, Any] = {}

    def store() -> None:
        try:
            result["cid"] = services.payloads.put(reader)  # type: ignore[arg-type]
        except BaseException as exc:  # handed to the request task below
            result["error"] = exc
        finally:
            # Drain what the event loop still sends, so it never blocks on a full queue.
            while not ended.is_set() and chunks.get() is not None:
                pass

    worker = threading.Thread(target=store, name="payload-upload")
    worker.start()
    stream: AsyncIterator[bytes] = request.stream()
    try:
        async for chunk in stream:
            if chunk:
                await asyncio.to_thread(chunks.put, chunk)
            if "error" in result:
                break
    finally:
        await asyncio.to_thread(chunks.put, None)
        await asyncio.to_thread(worker.join)
    if "error" in result:
        raise result["error"]
    digest = db.PayloadDigest(cid=str(result["cid"]), sha256="0x" + reader.sha256.hexdigest(), size=reader.size)
    s.merge(digest)
    s.commit()
    return {"cid": digest.cid, "sha256": digest.sha256, "size": digest.size}


def payload_info(s: Session, cid: str) -> dict[str, Any] | None:
    """``{"cid", "sha256", "size"}`` of a payload stored through this gateway (None when the
    gateway never stored it: it cannot vouch for a hash it never saw)."""
    row = s.get(db.PayloadDigest, cid)
    return {"cid": cid, "sha256": row.sha256, "size": row.size} if row else None


def verified_file(services: Any, cid: str) -> Path:
    """The payload ``cid`` written to a temporary file once every block verified (so a corrupt
    block is a problem+json answer, never a truncated body); the caller deletes the file."""
    spool = services.settings.data_dir / "spool"
    spool.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=spool, prefix="payload-")
    os.close(handle)
    path = Path(name)
    try:
        write_payload(services.payloads, cid, path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


@router.get("/v1/payloads/{cid}", dependencies=[PublicLimit])
def download(cid: str, services: ServicesDep, s: SessionDep) -> FileResponse:
    """A stored document, every block verified against its CID before the first byte is sent."""
    normal = normalize_cid(cid)
    if s.exec(select(ShareRequest.id).where(ShareRequest.delivered_cid == normal)).first() is not None:
        raise PayloadWithheld(f"{normal} is a data-sharing payload; its grant releases it (POST /v1/grants/{{id}}/access)")
    path = verified_file(services, normal)
    return FileResponse(path, media_type="application/octet-stream", headers={"X-Content-CID": str(normal)},
                        background=BackgroundTask(path.unlink, missing_ok=True))
