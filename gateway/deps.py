"""``Annotated`` dependency aliases the routers use (STYLE 8)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from gateway.app import Services


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_session(request: Request) -> Iterator[Session]:
    services: Services = request.app.state.services
    with Session(services.engine, expire_on_commit=False) as s:
        yield s


def public_rate_limit(request: Request) -> None:
    """Count one public request against the client's bucket (429 when empty)."""
    services: Services = request.app.state.services
    client = request.client.host if request.client else "unknown"
    services.limiter.check(client)


ServicesDep = Annotated[Services, Depends(get_services)]
SessionDep = Annotated[Session, Depends(get_session)]
PublicLimit = Depends(public_rate_limit)
