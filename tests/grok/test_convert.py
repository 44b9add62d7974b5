"""``:int`` and ``:float``: Ruby's ``String#to_i`` and ``#to_f``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipparse.grok.convert import to_float, to_int


@pytest.mark.parametrize(
    ("text", "integer", "number"),
    [
        ("454.99", 454, 454.99),
        (" \t-12abc", -12, -12.0),
        ("1_000", 1000, 1000.0),
        ("", 0, 0.0),
        ("\u0661\u0662", 0, 0.0),  # Arabic-Indic digits: not digits to Ruby
        ("\u3000" "12", 0, 0.0),  # an ideographic space: not whitespace to Ruby
        ("\u00a0" "7", 0, 0.0),
        ("1\u0662", 1, 1.0),
        ("2.\u0665", 2, 2.0),
    ],
)
def test_conversions_read_ascii_like_ruby(text: str, integer: int, number: float) -> None:
    assert (to_int(text), to_float(text)) == (integer, number)


@given(st.text(alphabet=st.sampled_from("0123456789+-._eE \t\u0661\u0665\u3000\u00a0\u2009\uff11x")))
def test_a_non_ascii_character_reads_as_any_other_non_number(text: str) -> None:
    """Ruby's conversions stop at the first character outside their ASCII grammar."""
    plain = "".join(c if c.isascii() else "x" for c in text)
    assert to_int(text) == to_int(plain)
    assert to_float(text) == to_float(plain)


@pytest.mark.parametrize("digits", [4300, 4301, 5000, 20000])
def test_an_integer_of_any_length_converts_exactly(digits: int) -> None:
    """Ruby's ``to_i`` gives a Bignum however long the digits run; Python's int parsing stops
    at 4300 digits by default."""
    text = "9" * digits
    assert to_int(text) == 10**digits - 1
    assert to_int("-" + "0" * 6000 + text + ".5") == -(10**digits - 1)
    assert repr(to_int(text)) == text
