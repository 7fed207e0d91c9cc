"""The members' client's errors: one root (:class:`ClientError`, itself a ``GatewayError`` so the
``cityledger`` dispatcher reports it as one line), one subclass per way a command goes wrong.

Exit codes follow ``cityledger_cli``: 1 when the command ran and something refused or failed a
check (the gateway's refusal, a proof that does not verify, an unreachable gateway), 2 for bad
input (a file that cannot be read, a key that cannot be unlocked, an argument out of range).
This module stays standard-library only: ``cityledger client --help`` imports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.errors import GatewayError


class ClientError(GatewayError):
    """Raised when the members' client cannot do what it was asked; the root of the client's
    errors."""

    slug = "client-error"
    exit_code = 2


@dataclass
class BadInput(ClientError):
    """Raised when an argument or an input file is unusable (a malformed CSV row, a date that does
    not parse, a member name that matches no member or several)."""

    detail: str
    exit_code = 2

    def __str__(self) -> str:
        return self.detail


@dataclass
class KeyUnavailable(ClientError):
    """Raised when the member's signing or encryption key cannot be loaded (no such file, a wrong
    keystore password, a development keys file without that member)."""

    source: str
    detail: str
    exit_code = 2

    def __str__(self) -> str:
        return f"{self.source}: {self.detail}"


@dataclass
class GatewayUnreachable(ClientError):
    """Raised when the gateway cannot be reached, times out, or answers with something that is not
    JSON where JSON was expected."""

    url: str
    detail: str
    exit_code = 1

    def __str__(self) -> str:
        return f"gateway {self.url}: {self.detail}"


@dataclass
class GatewayRefused(ClientError):
    """Raised when the gateway answers a request with an RFC 9457 problem (a refused sign-in, a
    reverted call, an access refused); ``problem`` holds the whole problem document, so callers can
    act on its typed fields (``reason``, ``error``, ``refusal_tx``…)."""

    http_status: int
    type: str
    detail: str
    problem: dict[str, Any] = field(default_factory=dict)
    exit_code = 1

    @property
    def kind(self) -> str:
        """The problem type's slug (``sign-in-refused``, ``transaction-reverted``…)."""
        return self.type.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        extra = ""
        if self.kind == "transaction-reverted" and self.problem.get("error"):
            extra = f" [{self.problem['error']}]"
        elif self.problem.get("reason"):
            extra = f" [{self.problem['reason']}]"
        return f"refused ({self.http_status} {self.kind}){extra}: {self.detail}"


@dataclass
class VerificationFailed(ClientError):
    """Raised when something the client checks itself does not hold: a proof (``check`` is the
    proof format's stable check name, e.g. ``receipt-proof`` or ``seal``), a payload's CID or
    hash, a plaintext commitment, the transaction the gateway says it relayed."""

    check: str
    detail: str
    exit_code = 1

    def __str__(self) -> str:
        return f"verification failed ({self.check}): {self.detail}"
