"""The donor's receipt code: a short, typable form of a lot's on-chain ``receiptCode``.

On chain, a lot's receipt code is ``keccak256(abi.encode(chainId, custody, lotId,
donorCommitment))`` — 32 bytes that identify the lot and reveal nothing about the donor, whose
identity only enters through the salted commitment. A donor types or scans a short form:

* the first 60 bits of the on-chain code, written as 12 characters of Crockford's base32
  (``0123456789ABCDEFGHJKMNPQRSTVWXYZ``: no I, L, O, U; lower case and the look-alikes I/L → 1 and
  O → 0 are accepted when typed),
* then one check character: ``Σ α^(i+1) · v_i`` over GF(32) (the field GF(2)[x]/(x^5 + x^2 + 1),
  α = x, addition is XOR), a Reed-Solomon-style check symbol. A wrong character at position i
  changes the sum by e·α^(i+1) ≠ 0, and swapping two characters a ≠ b at positions i ≠ j by
  (a + b)(α^(i+1) + α^(j+1)) ≠ 0 (α has order 31 > 13 positions), so every single-character error
  and every transposition is caught; a plain Luhn mod 32 check misses swaps of 0 and Z,
* shown in groups of four: ``7K4Q-M2XP-9R3B-T``.

60 bits keep collisions negligible at a city's scale (10^7 lots: a collision chance of about
4·10^-5); the gateway still refuses to map a short code that two lots share. A verifier checks a
trace by comparing the short code with the prefix of the ``receiptCode`` in the proven
``LotRegistered`` event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NewType

from gateway.errors import GatewayError

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUES = {c: i for i, c in enumerate(ALPHABET)}
_ALIASES = {"I": "1", "L": "1", "O": "0"}
BODY_CHARS = 12
BITS = BODY_CHARS * 5

ReceiptCode = NewType("ReceiptCode", str)


@dataclass
class InvalidReceiptCode(GatewayError):
    """Raised when a typed receipt code is malformed or its check character is wrong."""

    code: str
    reason: str
    status = 422
    slug = "invalid-receipt-code"

    def __str__(self) -> str:
        return f"{self.code!r} is not a receipt code: {self.reason}"


_POLY = 0b100101  # x^5 + x^2 + 1, primitive over GF(2)


def _gf_mul(a: int, b: int) -> int:
    """Multiplication in GF(32) = GF(2)[x]/(x^5 + x^2 + 1)."""
    out = 0
    while b:
        if b & 1:
            out ^= a
        b >>= 1
        a <<= 1
        if a & 0b100000:
            a ^= _POLY
    return out


def _check(body: str) -> str:
    """The check character: the GF(32) sum of α^(i+1) · value(char_i) (module docstring)."""
    total, weight = 0, 1
    for char in body:
        weight = _gf_mul(weight, 2)  # α^(i+1)
        total ^= _gf_mul(weight, _VALUES[char])
    return ALPHABET[total]


def short_code(receipt_code: bytes) -> ReceiptCode:
    """The printed form of an on-chain 32-byte receipt code."""
    if len(receipt_code) != 32:
        raise ValueError("an on-chain receipt code is 32 bytes")
    prefix = int.from_bytes(receipt_code[:8], "big") >> (64 - BITS)
    body = "".join(ALPHABET[(prefix >> (5 * (BODY_CHARS - 1 - i))) & 31] for i in range(BODY_CHARS))
    full = body + _check(body)
    return ReceiptCode("-".join(full[i:i + 4] for i in range(0, len(full), 4)))


def parse_code(text: str) -> tuple[ReceiptCode, int]:
    """Normalise a typed code; return it (canonical form) and the 60-bit prefix it stands for."""
    cleaned = "".join(_ALIASES.get(c, c) for c in text.upper() if c not in " -")
    if len(cleaned) != BODY_CHARS + 1:
        raise InvalidReceiptCode(text, f"has {len(cleaned)} characters without dashes, a receipt code has {BODY_CHARS + 1}")
    for position, char in enumerate(cleaned, start=1):
        if char not in _VALUES:
            raise InvalidReceiptCode(text, f"character {position} {char!r} is not used in receipt codes")
    body, check = cleaned[:BODY_CHARS], cleaned[BODY_CHARS]
    if _check(body) != check:
        raise InvalidReceiptCode(text, "the check character does not match: a character was mistyped")
    prefix = 0
    for char in body:
        prefix = prefix << 5 | _VALUES[char]
    return ReceiptCode("-".join(cleaned[i:i + 4] for i in range(0, len(cleaned), 4))), prefix


def prefix_of(receipt_code: bytes) -> int:
    """The 60-bit prefix of an on-chain code (the index key for short codes)."""
    return int.from_bytes(receipt_code[:8], "big") >> (64 - BITS)
