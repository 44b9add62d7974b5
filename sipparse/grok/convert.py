"""The ``:int`` and ``:float`` conversions of grok, as Ruby's ``String#to_i``/``#to_f`` do them.

Ruby converts the longest numeric prefix and ignores the rest, so ``"454.99"`` is 454,
``""`` and ``"abc"`` are 0, and ``"1_000"`` is 1000 (underscores between digits).
Ruby's integers have no size limit, so neither has ``:int`` here: Python's own parsing
stops at 4300 digits (``sys.get_int_max_str_digits``), see :class:`LongInt`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Ruby reads ASCII only: its whitespace and digits, not Python's Unicode \s and \d ("١٢" is 0)
_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+(?:_[0-9]+)*)")
_FLOAT = re.compile(r"[ \t\n\v\f\r]*([+-]?(?:[0-9]+(?:_[0-9]+)*)?(?:\.[0-9]+(?:_[0-9]+)*)?(?:[eE][+-]?[0-9]+)?)")

Converter = Callable[[str], "int | float"]

# below Python's default limit of int <-> str conversions (4300 digits)
_SAFE_DIGITS = 4000


class LongInt(int):
    """An integer of more digits than Python will convert to or from text by default.

    It keeps its decimal text, so ``repr`` and ``str`` (and the JSON of ``grok match``)
    give every digit without the quadratic conversion the limit guards against.
    """

    text: str

    def __new__(cls, value: int, text: str) -> LongInt:
        self = super().__new__(cls, value)
        self.text = text
        return self

    def __repr__(self) -> str:
        return self.text

    __str__ = __repr__


def to_int(text: str) -> int:
    """Ruby ``String#to_i``: the leading integer, else 0."""
    if text.isdigit() and text.isascii() and len(text) <= _SAFE_DIGITS:
        return int(text)
    m = _INT.match(text)
    if not m:
        return 0
    number = m.group(1).replace("_", "")
    return int(number) if len(number) <= _SAFE_DIGITS else _long_int(number)


def _long_int(number: str) -> int:
    """A signed decimal of any length, read without Python's digit limit."""
    sign = "-" if number[0] == "-" else ""
    digits = number.lstrip("+-").lstrip("0") or "0"
    if len(digits) <= _SAFE_DIGITS:
        return int(sign + digits)
    value = _digits_value(digits)
    return LongInt(-value if sign else value, sign + digits)


def _digits_value(digits: str) -> int:
    """Halves joined by a multiplication: fast where one ``int()`` would refuse."""
    if len(digits) <= _SAFE_DIGITS:
        return int(digits)
    low = len(digits) // 2
    return _digits_value(digits[:-low]) * 10**low + _digits_value(digits[-low:])


def to_float(text: str) -> float:
    """Ruby ``String#to_f``: the leading decimal number, else 0.0."""
    m = _FLOAT.match(text)
    number = m.group(1).replace("_", "") if m else ""
    if number.endswith((".", "e", "E")):
        number = number.rstrip(".eE")
    try:
        return float(number)
    except ValueError:
        return 0.0


CONVERTERS: dict[str, Converter] = {"int": to_int, "float": to_float}


def converter_for(name: str | None) -> Converter | None:
    """The conversion named after the second ``:`` of a capture; other names keep strings."""
    return CONVERTERS.get(name or "")
