"""The ``:int`` and ``:float`` conversions of grok, as Ruby's ``String#to_i``/``#to_f`` do them.

Ruby converts the longest numeric prefix and ignores the rest, so ``"454.99"`` is 454,
``""`` and ``"abc"`` are 0, and ``"1_000"`` is 1000 (underscores between digits).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# Ruby reads ASCII only: its whitespace and digits, not Python's Unicode \s and \d ("١٢" is 0)
_INT = re.compile(r"[ \t\n\v\f\r]*([+-]?[0-9]+(?:_[0-9]+)*)")
_FLOAT = re.compile(r"[ \t\n\v\f\r]*([+-]?(?:[0-9]+(?:_[0-9]+)*)?(?:\.[0-9]+(?:_[0-9]+)*)?(?:[eE][+-]?[0-9]+)?)")

Converter = Callable[[str], "int | float"]


def to_int(text: str) -> int:
    """Ruby ``String#to_i``: the leading integer, else 0."""
    if text.isdigit() and text.isascii():
        return int(text)
    m = _INT.match(text)
    return int(m.group(1).replace("_", "")) if m else 0


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
