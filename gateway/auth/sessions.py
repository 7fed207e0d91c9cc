"""Sign-in challenges and session tokens (EIP-4361 messages, bearer tokens).

A challenge is a message with a single-use nonce, bound to this gateway's domain and the chain id;
it expires after ``challenge_seconds``. A signed challenge becomes a bearer token valid for
``token_seconds``; only the token's SHA-256 is stored. Every request re-reads the member's status
from the index at the current head, so a member suspended after signing in loses access at its
next request.
"""

from __future__ import annotations

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlmodel import Field, Session, SQLModel

from gateway.auth.siwe import SiweInvalid, SiweMessage, format_time, parse_message, recover_signer
from gateway.errors import GatewayError
from gateway.records.members import Member, member_of

STATEMENT = "Sign in to CityLedger with your member key."
_ALPHANUM = string.ascii_letters + string.digits


class AuthChallenge(SQLModel, table=True):
    __tablename__ = "auth_challenge"

    nonce: str = Field(primary_key=True, max_length=32)
    address: str = Field(max_length=42)
    expires_at: int
    used: bool = False


class AuthSession(SQLModel, table=True):
    __tablename__ = "auth_session"

    token_hash: str = Field(primary_key=True, max_length=64)
    address: str = Field(max_length=42)
    member_id: int
    expires_at: int


@dataclass
class SignInRefused(GatewayError):
    """Raised when a sign-in or a token is refused: ``reason`` is ``replayed``, ``expired``,
    ``foreign-domain``, ``wrong-chain``, ``bad-signature``, ``unknown-challenge`` or ``no-token``."""

    reason: str
    detail: str
    status = 401
    slug = "sign-in-refused"

    def __str__(self) -> str:
        return self.detail


@dataclass
class NotAMember(GatewayError):
    """Raised when the signing account is not an account of an active member at the current head."""

    address: str
    member_status: str
    status = 403
    slug = "not-a-member"

    def __str__(self) -> str:
        if self.member_status == "none":
            return f"{self.address} is not an account of any member"
        return f"{self.address} belongs to a member whose status is {self.member_status}"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def issue_challenge(s: Session, address: str, domain: str, uri: str, chain_id: int, lifetime: int,
                    now: datetime | None = None) -> SiweMessage:
    moment = now or _now()
    nonce = "".join(secrets.choice(_ALPHANUM) for _ in range(24))
    message = SiweMessage(domain=domain, address=address, statement=STATEMENT, uri=uri, chain_id=chain_id,
                          nonce=nonce, issued_at=format_time(moment),
                          expiration_time=format_time(moment + timedelta(seconds=lifetime)))
    s.add(AuthChallenge(nonce=nonce, address=address.lower(), expires_at=int((moment + timedelta(seconds=lifetime)).timestamp())))
    s.commit()
    return message


def redeem(s: Session, text: str, signature: str, domain: str, chain_id: int, token_lifetime: int,
           now: datetime | None = None) -> tuple[str, int, Member]:
    """Check a signed challenge; return (token, expires_at, member)."""
    moment = now or _now()
    message = parse_message(text)
    if message.domain != domain:
        raise SignInRefused("foreign-domain", f"the message is for {message.domain!r}, this gateway is {domain!r}")
    if message.chain_id != chain_id:
        raise SignInRefused("wrong-chain", f"the message is for chain {message.chain_id}, this is chain {chain_id}")
    challenge = s.get(AuthChallenge, message.nonce)
    if challenge is None:
        raise SignInRefused("unknown-challenge", "this gateway never issued that nonce; ask for a new challenge")
    if challenge.used:
        raise SignInRefused("replayed", "this challenge was already used; ask for a new one")
    expires = message.expires
    if challenge.expires_at < moment.timestamp() or (expires is not None and expires < moment):
        raise SignInRefused("expired", "the challenge expired; ask for a new one")
    if message.valid_from is not None and message.valid_from > moment:
        raise SignInRefused("expired", "the message is not valid yet (Not Before)")
    if challenge.address != message.address.lower():
        raise SignInRefused("unknown-challenge", "the challenge was issued for another address")
    try:
        signer = recover_signer(text, signature)
    except SiweInvalid as exc:
        raise SignInRefused("bad-signature", str(exc)) from exc
    if signer.lower() != message.address.lower():
        raise SignInRefused("bad-signature", f"the signature is by {signer}, not by {message.address}")
    challenge.used = True
    s.add(challenge)
    s.commit()
    member = active_member(s, message.address)
    token = secrets.token_urlsafe(32)
    expires_at = int(moment.timestamp()) + token_lifetime
    s.add(AuthSession(token_hash=hashlib.sha256(token.encode()).hexdigest(), address=message.address.lower(),
                      member_id=member.id, expires_at=expires_at))
    s.commit()
    return token, expires_at, member


def active_member(s: Session, address: str) -> Member:
    member = member_of(s, address)
    if member is None:
        raise NotAMember(address, "none")
    if member.status != "Active":
        raise NotAMember(address, member.status)
    return member


def session_member(s: Session, token: str, now: datetime | None = None) -> tuple[str, Member]:
    """The (account, member) a bearer token stands for, re-checked at the current head."""
    row = s.get(AuthSession, hashlib.sha256(token.encode()).hexdigest())
    if row is None:
        raise SignInRefused("no-token", "unknown or revoked token; sign in again")
    if row.expires_at < (now or _now()).timestamp():
        raise SignInRefused("expired", "the token expired; sign in again")
    return row.address, active_member(s, row.address)
