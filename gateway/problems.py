"""RFC 9457 problem details: the one place where errors become HTTP responses (STYLE 2).

Every error answer is ``application/problem+json`` with ``type``, ``title``, ``status`` and
``detail``, plus the typed fields of the gateway error that caused it (``check``, ``cid``…), so
clients can act on them without parsing prose.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse

from gateway.errors import GatewayError

log = logging.getLogger("cityledger.gateway")

PROBLEM_BASE = "https://cityledger.example/problems/"
MEDIA_TYPE = "application/problem+json"
#: RFC 9457 members a gateway error's own fields may not override.
_RESERVED = frozenset({"type", "title", "status", "detail", "instance"})


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": PROBLEM_BASE + slug, "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    headers = {}
    if "retry_after" in extra:
        headers["Retry-After"] = str(body.pop("retry_after"))
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def _fields(exc: GatewayError) -> dict[str, Any]:
    if not dataclasses.is_dataclass(exc):
        return {}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(exc):
        if f.name in _RESERVED:
            continue
        value = getattr(exc, f.name)
        if isinstance(value, bytes):
            value = "0x" + value.hex()
        if isinstance(value, (str, int, float, bool, list, dict)) or value is None:
            out[f.name] = value
    return out


def _title(exc: GatewayError) -> str:
    """A short title from the class docstring's first clause ("Raised when a call reverts (…)"
    → "A call reverts"); the same for every instance of the class, as RFC 9457 asks."""
    doc = " ".join((type(exc).__doc__ or type(exc).__name__).split())
    doc = doc.removeprefix("Raised when ").replace("``", "")
    for stop in (" (", ";", ":", ". ", ", "):
        doc = doc.split(stop, 1)[0]
    return doc.rstrip(".").capitalize()


def install(app: FastAPI) -> None:
    """Register the exception handlers on ``app``."""

    @app.exception_handler(GatewayError)
    async def gateway_error(request: Request, exc: GatewayError) -> JSONResponse:
        if exc.status >= 500:
            log.warning("%s %s: %s", request.method, request.url.path, exc)
        return problem(exc.status, exc.slug, _title(exc), str(exc), **_fields(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem(422, "invalid-request", "The request is not valid",
                       f"{where}: {first['msg']}" if where else str(first["msg"]), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(exc.status_code, slug, str(exc.detail), f"{request.method} {request.url.path}: {exc.detail}")

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return problem(500, "internal-error", "Internal error",
                       f"{type(exc).__name__}; the gateway's log has the details")
