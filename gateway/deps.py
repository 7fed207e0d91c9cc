"""``Annotated`` dependency aliases the routers use (STYLE 8)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session, select

from gateway.app import Services
from gateway.auth.sessions import SignInRefused, active_member, session_member
from gateway.records.credit import IssuerAuthorization
from gateway.records.members import Member, RoleSet

TEST_MEMBER_HEADER = "X-CityLedger-Test-Member"


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def get_session(request: Request) -> Iterator[Session]:
    services: Services = request.app.state.services
    with Session(services.engine, expire_on_commit=False) as s:
        yield s


async def public_rate_limit(request: Request) -> None:
    """Count one public request against the client's bucket (429 when empty)."""
    services: Services = request.app.state.services
    client = request.client.host if request.client else "unknown"
    services.limiter.check(client)


@dataclass
class Caller:
    """The signed-in member making a request, as the index says at the current head."""

    account: str
    member: Member
    roles: list[str] = field(default_factory=list)

    @property
    def member_id(self) -> int:
        return self.member.id

    def has(self, role: str) -> bool:
        return role in self.roles


def roles_of(s: Session, member: Member, account: str) -> list[str]:
    """The member's kind, the consortium roles of this account, and its issuer categories."""
    roles = [member.kind.lower()]
    for role in ("admins", "sealers", "witnesses"):
        row = s.exec(select(RoleSet).where(RoleSet.role == role)
                     .order_by(RoleSet.block_number.desc(), RoleSet.block_log_index.desc()).limit(1)).first()  # type: ignore[attr-defined]
        if row is not None and account.lower() in json.loads(row.accounts):
            roles.append(role[:-1])
    for auth in s.exec(select(IssuerAuthorization).where(IssuerAuthorization.member_id == member.id,
                                                         IssuerAuthorization.authorized == True)):  # noqa: E712
        roles.append(f"issuer:{auth.category}")
    return roles


def current_member(request: Request, s: Annotated[Session, Depends(get_session)]) -> Caller:
    """The caller from its bearer token (or, in tests only, the test header)."""
    services: Services = request.app.state.services
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        account, member = session_member(s, header[7:].strip())
    elif services.settings.test_member_header and request.headers.get(TEST_MEMBER_HEADER):
        account = request.headers[TEST_MEMBER_HEADER].lower()
        member = active_member(s, account)
    else:
        raise SignInRefused("no-token", "sign in first (POST /v1/auth/challenge, then /v1/auth/token)")
    return Caller(account, member, roles_of(s, member, account))


ServicesDep = Annotated[Services, Depends(get_services)]
SessionDep = Annotated[Session, Depends(get_session)]
CurrentMember = Annotated[Caller, Depends(current_member)]
PublicLimit = Depends(public_rate_limit)
