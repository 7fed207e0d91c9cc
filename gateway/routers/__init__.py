"""One router per record kind, plus status and metrics."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.routers import (
    auth, checkpoints, credit, credit_batches, custody, dashboard, evidence, lookup, members, payloads, portal,
    sharing, status, trace, transactions)

ROUTERS: tuple[APIRouter, ...] = (
    status.router, auth.router, members.router, trace.router, credit_batches.router, credit.router, sharing.router,
    custody.router, payloads.router, transactions.router, evidence.router, checkpoints.router, lookup.router,
    dashboard.router, portal.router)
