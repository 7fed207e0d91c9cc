"""What every router shares: cursor pages, verified proofs on records, problem types."""

from __future__ import annotations

import base64
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Response
from starlette.concurrency import run_in_threadpool

from sqlmodel import Session

from gateway.app import Services
from gateway.errors import GatewayError
from gateway.proof_service import ProofService

MAX_PAGE = 500


@dataclass
class NotFound(GatewayError):
    """Raised when a record the request names does not exist in the index."""

    what: str
    id: str
    status = 404
    slug = "not-found"

    def __str__(self) -> str:
        return f"no {self.what} {self.id}"


@dataclass
class Forbidden(GatewayError):
    """Raised when the signed-in member may not see or do what it asked."""

    detail: str
    status = 403
    slug = "forbidden"

    def __str__(self) -> str:
        return self.detail


@dataclass
class InvalidCursor(GatewayError):
    """Raised when a pagination cursor was not made by this gateway."""

    cursor: str
    status = 422
    slug = "invalid-cursor"

    def __str__(self) -> str:
        return "the cursor is not one this gateway returned; start from the first page"


def encode_cursor(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, json.JSONDecodeError) as exc:
        raise InvalidCursor(cursor) from exc


def proofs(services: Services) -> ProofService:
    service = services.extras.get("proofs")
    if service is None:
        service = ProofService(services.codec, services.book.chain_id, services.poa, services.metrics,
                               comet=services.comet)
        services.extras["proofs"] = service
    assert isinstance(service, ProofService)
    return service


def with_proof(services: Services, s: Session, record: dict[str, Any], block_number: int, block_log_index: int,
               evidence: str | None = None) -> dict[str, Any]:
    """``record`` plus ``proof``, ``verified`` (and ``failedCheck``) and ``evidence``."""
    proof, verdict = proofs(services).receipt_proof(s, block_number, block_log_index)
    record["proof"] = proof
    record.update(verdict.fields())
    record["evidence"] = evidence or f"/v1/evidence/event/{block_number}/{block_log_index}"
    return record


def with_proofs(services: Services, s: Session, items: list[tuple[dict[str, Any], int, int]]) -> list[dict[str, Any]]:
    """Like :func:`with_proof` for many records: their proofs are read in one query."""
    found = proofs(services).receipt_proofs(s, [(b, p) for _, b, p in items])
    out = []
    for record, block_number, block_log_index in items:
        proof, verdict = found[(block_number, block_log_index)]
        record["proof"] = proof
        record.update(verdict.fields())
        record.setdefault("evidence", f"/v1/evidence/event/{block_number}/{block_log_index}")
        out.append(record)
    return out


async def cached_answer(services: Services, key: str, build: Callable[[Session], dict[str, Any]]) -> Response:
    """A verified answer, built once per indexed height.

    Everything an answer says comes from indexed blocks and is checked when the answer is built,
    so until the index moves the same bytes are the right answer; the key includes the indexed
    height, and a new block builds it again. A stored row changed behind the indexer's back is
    therefore never served as verified: either the cached answer (checked before the change) or a
    rebuilt one (checked after) is served."""
    cache = services.extras.setdefault("answers", OrderedDict())
    full_key = (services.indexer.indexed, key)
    body = cache.get(full_key)
    if body is None:

        def fresh() -> bytes:
            with Session(services.engine, expire_on_commit=False) as s:
                return json.dumps(build(s), separators=(",", ":")).encode()

        body = await run_in_threadpool(fresh)
        cache[full_key] = body
        while len(cache) > services.settings.answer_cache_entries:
            cache.popitem(last=False)
    else:
        cache.move_to_end(full_key)
    return Response(body, media_type="application/json",
                    headers={"ETag": f'"{services.indexer.indexed}-{hashlib.sha256(body).hexdigest()[:16]}"'})


def hex_name(value: str) -> str:
    """A bytes32 identifier (item codes, units) as text when it is text."""
    if not value.startswith("0x"):
        return value
    raw = bytes.fromhex(value[2:]).rstrip(b"\0")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return value
    return text if text.isprintable() else value
