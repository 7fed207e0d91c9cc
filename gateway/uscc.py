"""Unified Social Credit Codes (统一社会信用代码, GB 32100-2015).

Eighteen characters from ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I, O, S, V, Z), valued 0–30 in
that order. The 18th is a check character: with weights ``W_i = 3^(i-1) mod 31`` for positions
1..17, its value is ``31 - (Σ value_i · W_i mod 31)``, with 31 written as ``0`` (GB 32100-2015,
section 4.3; the weights are 1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28).
Invalid codes are refused everywhere — in the contract, the gateway, the client and the portal —
with the offending position named.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

from gateway.errors import GatewayError

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
VALUES = {c: i for i, c in enumerate(ALPHABET)}
WEIGHTS = tuple(pow(3, i, 31) for i in range(17))
LENGTH = 18

Uscc = NewType("Uscc", str)


@dataclass
class InvalidUscc(GatewayError):
    """Raised when a text is not a valid USCC; ``position`` is 1-based (0 for a length error)."""

    uscc: str
    position: int
    reason: str
    status = 422
    slug = "invalid-uscc"

    def __str__(self) -> str:
        return f"{self.uscc!r} is not a valid USCC: {self.reason}"


def check_character(first17: str) -> str:
    """The check character for the first 17 characters (all already in the alphabet)."""
    total = sum(VALUES[c] * w for c, w in zip(first17, WEIGHTS))
    return ALPHABET[(31 - total % 31) % 31]


def parse_uscc(text: str) -> Uscc:
    """Validate ``text`` (upper-cased, surrounding spaces removed) and return the code."""
    code = text.strip().upper()
    if len(code) != LENGTH:
        raise InvalidUscc(text, 0, f"has {len(code)} characters, a USCC has {LENGTH}")
    for position, char in enumerate(code, start=1):
        if char not in VALUES:
            hint = " (I, O, S, V and Z are never used)" if char in "IOSVZ" else ""
            raise InvalidUscc(text, position, f"character {position} {char!r} is not allowed{hint}")
    expected = check_character(code[:17])
    if code[17] != expected:
        raise InvalidUscc(text, LENGTH, f"character 18 (the check character) is {code[17]!r}, should be {expected!r}")
    return Uscc(code)


def is_valid_uscc(text: str) -> bool:
    try:
        parse_uscc(text)
    except InvalidUscc:
        return False
    return True
