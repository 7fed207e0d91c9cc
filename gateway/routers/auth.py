"""Sign-In with Ethereum: ``POST /v1/auth/challenge`` then ``POST /v1/auth/token``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from gateway.auth.sessions import issue_challenge, redeem
from gateway.deps import CurrentMember, PublicLimit, ServicesDep, SessionDep, roles_of

router = APIRouter(tags=["auth"])


class ChallengeRequest(BaseModel):
    address: str = Field(pattern=r"^0x[0-9a-fA-F]{40}$", description="The account that will sign.")


class Challenge(BaseModel):
    message: str = Field(description="EIP-4361 text to sign with personal_sign (EIP-191).")


class TokenRequest(BaseModel):
    message: str = Field(max_length=4096)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


@router.post("/v1/auth/challenge", response_model=Challenge, dependencies=[PublicLimit])
def challenge(body: ChallengeRequest, services: ServicesDep, s: SessionDep) -> Challenge:
    """A sign-in message with a single-use nonce, this gateway's domain and the chain id."""
    from eth_utils import to_checksum_address

    settings = services.settings
    message = issue_challenge(s, to_checksum_address(body.address), settings.domain, settings.public_url.rstrip("/") + "/",
                              services.book.chain_id, settings.challenge_seconds)
    return Challenge(message=message.to_text())


@router.post("/v1/auth/token", dependencies=[PublicLimit])
def token(body: TokenRequest, services: ServicesDep, s: SessionDep) -> dict[str, Any]:
    """A short-lived bearer token for a signed challenge (401 replayed, expired or foreign-domain
    messages; 403 when the key is not an active member's)."""
    settings = services.settings
    bearer, expires_at, member = redeem(s, body.message, body.signature, settings.domain, services.book.chain_id,
                                        settings.token_seconds)
    from gateway.auth.siwe import parse_message

    account = parse_message(body.message).address
    return {"token": bearer, "expires_at": expires_at,
            "member": {"id": member.id, "name": member.name, "kind": member.kind, "level": member.level,
                       "account": account, "roles": roles_of(s, member, account)}}


@router.get("/v1/me")
def me(caller: CurrentMember) -> dict[str, Any]:
    """The signed-in member as the registry says at the current head."""
    m = caller.member
    return {"id": m.id, "name": m.name, "kind": m.kind, "level": m.level, "status": m.status,
            "account": caller.account, "roles": caller.roles}
