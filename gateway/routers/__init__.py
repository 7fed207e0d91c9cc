"""One router per record kind, plus status and metrics."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.routers import auth, checkpoints, credit, custody, evidence, members, payloads, sharing, status, trace

ROUTERS: tuple[APIRouter, ...] = (
    status.router, auth.router, members.router, trace.router, credit.router, sharing.router, custody.router,
    payloads.router, evidence.router, checkpoints.router)
