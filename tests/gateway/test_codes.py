"""USCC validation (GB 32100-2015) and donor receipt codes."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, strategies as st

from gateway.receipt_code import InvalidReceiptCode, parse_code, prefix_of, short_code
from gateway.uscc import ALPHABET, InvalidUscc, check_character, is_valid_uscc, parse_uscc

#: The worked example often quoted with GB 32100-2015, and two more codes of the same shape. The
#: Credit contract's own validation is compared with this module in the credit tests.
PUBLISHED = ("91350100M000100Y43", "91110000802100433B", "91440300708461136T")


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_validate(code: str) -> None:
    assert parse_uscc(code) == code
    assert parse_uscc(" " + code.lower() + " ") == code


def test_each_failure_names_the_position() -> None:
    with pytest.raises(InvalidUscc) as short:
        parse_uscc("91350100M000100Y4")
    assert short.value.position == 0 and "17 characters" in str(short.value)
    with pytest.raises(InvalidUscc) as letter:
        parse_uscc("91350100M000I00Y43")
    assert letter.value.position == 13 and "'I'" in str(letter.value)
    with pytest.raises(InvalidUscc) as check:
        parse_uscc("91350100M000100Y44")
    assert check.value.position == 18 and "should be '3'" in str(check.value)


@given(st.text(alphabet=ALPHABET, min_size=17, max_size=17), st.integers(0, 16),
       st.sampled_from(ALPHABET))
def test_any_single_substitution_is_caught(body: str, position: int, char: str) -> None:
    code = body + check_character(body)
    assert is_valid_uscc(code)
    changed = code[:position] + char + code[position + 1:]
    assert is_valid_uscc(changed) == (changed == code)


@given(st.binary(min_size=32, max_size=32))
def test_receipt_codes_round_trip(raw: bytes) -> None:
    printed = short_code(raw)
    assert len(printed) == 16 and printed.count("-") == 3
    canonical, prefix = parse_code(printed.lower().replace("-", " "))
    assert canonical == printed and prefix == prefix_of(raw)


@given(st.binary(min_size=32, max_size=32), st.integers(0, 12), st.integers(1, 31))
def test_receipt_code_catches_one_wrong_character(raw: bytes, position: int, delta: int) -> None:
    from gateway.receipt_code import ALPHABET as B32

    plain = short_code(raw).replace("-", "")
    wrong = plain[:position] + B32[(B32.index(plain[position]) + delta) % 32] + plain[position + 1:]
    with pytest.raises(InvalidReceiptCode):
        parse_code(wrong)


@given(st.binary(min_size=32, max_size=32), st.integers(0, 12), st.integers(0, 12))
def test_receipt_code_catches_every_transposition(raw: bytes, i: int, j: int) -> None:
    plain = list(short_code(raw).replace("-", ""))
    plain[i], plain[j] = plain[j], plain[i]
    swapped = "".join(plain)
    if swapped != short_code(raw).replace("-", ""):
        with pytest.raises(InvalidReceiptCode):
            parse_code(swapped)


def test_the_swap_a_luhn_check_misses_is_caught() -> None:
    body = "0Z" + "0" * 10
    from gateway.receipt_code import _check

    assert _check(body) != _check("Z0" + "0" * 10)


def test_typed_look_alikes_are_read_as_digits() -> None:
    printed = short_code(os.urandom(32))
    assert parse_code(printed.replace("1", "l").replace("0", "O"))[0] == printed
