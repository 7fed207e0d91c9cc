"""One router per record kind, plus status and metrics."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.routers import credit, evidence, status, trace

ROUTERS: tuple[APIRouter, ...] = (status.router, trace.router, credit.router, evidence.router)
