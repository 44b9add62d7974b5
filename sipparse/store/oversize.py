"""Rows too large for one statement of a server's ``max_allowed_packet``.

A MySQL server refuses any statement larger than ``max_allowed_packet`` (1 MiB in old
my.cnf files), and closes the connection that sent it. A message of 700 KB of SDP has its
raw text and its SDP in one row: neither alone is too large, the row is. Such a row is
inserted with its long values empty, and each of them then goes by an UPDATE of its own.
A single value larger than any statement can carry (a message of 2 MiB on a server of 1
MiB) is cut to what fits, and the row's note column says so: the message is stored and the
log read on, instead of the batch failing on every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Bytes of a statement beside its values: the INSERT's or UPDATE's text, its column names,
# quotes and commas, the numbers and times (a row of ours has some 40 columns).
OVERHEAD = 8192
LONG = 4096  # a value of more bytes than this goes by an UPDATE of its own, in a row too large
_ESCAPED = (b"\0", b"\n", b"\r", b"\\", b"'", b'"', b"\x1a")  # each sent as two bytes in SQL text


@dataclass(slots=True)
class Oversized:
    """A row to insert with its long values empty, and those values, each to set by itself:
    (column index, value), in the row's column order."""

    row: tuple[Any, ...]
    later: list[tuple[int, Any]] = field(default_factory=list)


def sent_size(value: Any) -> int:
    """The bytes ``value`` takes in a statement at most: a text in UTF-8 or bytes, with the
    characters SQL text escapes counted twice; any other value a number's or time's few."""
    if isinstance(value, str):
        value = value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return len(data) + sum(map(data.count, _ESCAPED))
    return 32


def fits(row: Sequence[Any], allowed: int) -> bool:
    """Whether one statement of ``allowed`` bytes carries ``row``."""
    return sum(map(sent_size, row)) + OVERHEAD <= allowed


def split(row: tuple[Any, ...], names: Sequence[str], note_at: int, allowed: int) -> Oversized:
    """``row`` (which does not fit) with its long values left empty, to set one by one; a value
    that no statement carries is cut to what one does, and the cut said at ``note_at``."""
    out = Oversized(row)
    notes = []
    for index, value in enumerate(row):
        if index == note_at or sent_size(value) <= LONG:
            continue
        kept = _cut(value, allowed - OVERHEAD)
        if kept is not value:
            notes.append(f"{names[index]} of {_length(value)} bytes cut to {_length(kept)}: "
                         f"the server's max_allowed_packet is {allowed} bytes")
        out.later.append((index, kept))
        out.row = out.row[:index] + ("" if isinstance(value, str) else b"",) + out.row[index + 1:]
    if notes:
        said = out.row[note_at]
        out.row = out.row[:note_at] + ("; ".join([said, *notes] if said else notes),) + out.row[note_at + 1:]
    return out


def _length(value: Any) -> int:
    return len(value.encode("utf-8", "surrogatepass") if isinstance(value, str) else value)


def _cut(value: Any, budget: int) -> Any:
    """``value`` itself when it fits ``budget`` bytes as sent, else its longest beginning that
    does (a text cut between characters)."""
    if sent_size(value) <= budget:
        return value
    data = value.encode("utf-8", "surrogatepass") if isinstance(value, str) else bytes(value)
    end = budget
    while (over := sent_size(data[:end]) - budget) > 0:
        end -= over
    if isinstance(value, str):
        return data[:end].decode("utf-8", "ignore")
    return data[:end]
