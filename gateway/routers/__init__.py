"""One router per record kind, plus status and metrics."""

from __future__ import annotations

from fastapi import APIRouter

from gateway.routers import status

ROUTERS: tuple[APIRouter, ...] = (status.router,)
