"""A fast yes/no USCC check for bulk rows (GB 32100-2015, the rule in ``gateway.uscc``).

``gateway.uscc.parse_uscc`` names the offending position and is what reports a bad code; this
module only answers "valid or not" for millions of rows, with per-position tables of
``value × weight`` built from ``gateway.uscc``'s alphabet and weights.
"""

from __future__ import annotations

from gateway.uscc import ALPHABET, LENGTH, VALUES, WEIGHTS

_TABLES: tuple[dict[str, int], ...] = tuple({c: VALUES[c] * w for c in ALPHABET} for w in WEIGHTS)
#: The check character for each residue of the weighted sum mod 31.
_CHECK: tuple[str, ...] = tuple(ALPHABET[(31 - r) % 31] for r in range(31))


def uscc_valid(code: str) -> bool:
    """Whether ``code`` is exactly a valid 18-character USCC (upper case, no spaces)."""
    if len(code) != LENGTH:
        return False
    try:
        total = sum([t[c] for t, c in zip(_TABLES, code)])
    except KeyError:
        return False
    return _CHECK[total % 31] == code[17]
