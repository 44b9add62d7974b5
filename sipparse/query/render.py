"""Text output: tables that fit the terminal, JSON and CSV for scripts.

Tables follow the terminal: on a terminal they use its width, box-drawing characters and
colour; piped into a file or another program they are plain ASCII, uncoloured and only as
narrow as ``$COLUMNS`` asks (nothing is cut when no width is known, so ``grep`` sees whole
values). Cells are cut with an ellipsis in tables only; JSON and CSV always carry whole values.

Whoever can send the PBX a SIP packet writes its From, To and Call-ID: in tables and the
ladder, characters a terminal would act on (controls, DEL, C1, bidi overrides) show as
escapes (``visible``), as ``less`` and sngrep show them, never as themselves.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

# DEL, C1 controls, and the bidi embeddings, overrides and isolates
_UNSAFE_BEYOND_C0 = "\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile(f"[\x00-\x09\x0b-\x1f{_UNSAFE_BEYOND_C0}]")  # C0 controls but LF, and those
_UNSAFE_IN_A_LINE = re.compile(f"[\x00-\x1f{_UNSAFE_BEYOND_C0}]")
_ANSI = {"red": "31", "green": "32", "yellow": "33", "blue": "34", "dim": "2", "bold": "1"}


@dataclass(frozen=True)
class Terminal:
    """What the output can show: a width (None: unlimited), Unicode and colour or not."""

    width: int | None = None
    fancy: bool = False  # box drawing and other non-ASCII characters
    color: bool = False

    @classmethod
    def detect(cls, stream: TextIO) -> Terminal:
        """Decide from the stream and the environment (COLUMNS, NO_COLOR)."""
        on_tty = is_tty(stream)
        width = _columns_env()
        if width is None and on_tty:
            width = shutil.get_terminal_size().columns
        fancy = on_tty and writes_utf8(stream)
        color = on_tty and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
        return cls(width=width, fancy=fancy, color=color)

    def paint(self, text: str, style: str | None) -> str:
        """Colour a piece of text when the output is a colour terminal."""
        if not self.color or not style or not text:
            return text
        return f"\x1b[{_ANSI[style]}m{text}\x1b[0m"

    @property
    def ellipsis(self) -> str:
        return "…" if self.fancy else "~"


def writes_utf8(stream: TextIO) -> bool:
    """Whether the stream's encoding is UTF-8 (``utf-8``, ``UTF8``, ``utf_8``)."""
    encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
    return encoding.startswith("utf")


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _columns_env() -> int | None:
    value = os.environ.get("COLUMNS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def display_width(text: str) -> int:
    """How many terminal columns ``text`` takes: a CJK character two, a combining mark none.

    A display name such as ``"山田太郎"`` or ``"Zoe\u0308"`` has as many characters as columns
    only by chance; counting characters would push the columns after it out of line.
    """
    if text.isascii():
        return len(text)
    return sum(map(_char_width, text))


def _char_width(char: str) -> int:
    if unicodedata.combining(char) or unicodedata.category(char) in ("Me", "Mn", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cut(text: str, width: int, ellipsis: str = "~") -> str:
    """``text`` cut to ``width`` columns, the last one an ellipsis when something is lost."""
    if display_width(text) <= width:
        return text
    if width <= len(ellipsis):
        return _head(text, width)
    return _head(text, width - len(ellipsis)) + ellipsis


def _head(text: str, width: int) -> str:
    """The longest start of ``text`` that fits ``width`` columns."""
    if text.isascii():
        return text[:width]
    used = 0
    for index, char in enumerate(text):
        used += _char_width(char)
        if used > width:
            return text[:index]
    return text


def pad(text: str, width: int, right: bool = False) -> str:
    """``text`` filled with spaces to ``width`` columns, on the left when ``right``-aligned."""
    fill = " " * max(0, width - display_width(text))
    return fill + text if right else text + fill


def cell_text(value: Any) -> str:
    """How one value reads in a table cell (NULL shows empty, as sngrep and mysql -t do not)."""
    if value is None:
        return ""
    if isinstance(value, bytes | bytearray):
        return visible(bytes(value).decode("utf-8", "replace"))
    return visible(str(value))


def visible(text: str) -> str:
    """``text`` with every character a terminal would act on written as an escape (``\\x1b``,
    ``\\u202e``); line ends stay, for cells of several lines."""
    if _UNSAFE.search(text) is None:
        return text
    return _UNSAFE.sub(_escape, text)


def visible_line(text: str) -> str:
    """``text`` as one line a terminal only shows: ``visible`` with line ends escaped too. For
    messages naming files or quoting logs, which another user may fill with escape sequences
    (a log file named to set the terminal's title) or line ends (a forged second line)."""
    return _UNSAFE_IN_A_LINE.sub(_escape, text)


def visible_bytes(data: bytes) -> str:
    """Logged bytes for a terminal: ``visible``, invalid UTF-8 as ``\\xff``, and CRLF as the
    line end a terminal shows of it (SIP's lines end so; a lone CR would rewrite a line)."""
    return visible(data.replace(b"\r\n", b"\n").decode("utf-8", "backslashreplace"))


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def fit_widths(natural: list[int], minimum: list[int], budget: int | None) -> list[int]:
    """Shrink the widest columns first until they fit the budget (or hit their minimum)."""
    widths = list(natural)
    if budget is None:
        return widths
    excess = sum(widths) - budget
    while excess > 0:
        candidates = [i for i, w in enumerate(widths) if w > minimum[i]]
        if not candidates:
            break
        widest = max(candidates, key=lambda i: widths[i])
        others = [widths[i] for i in candidates if i != widest]
        target = max(max(others, default=0), minimum[widest], widths[widest] - excess)
        step = max(1, widths[widest] - target)
        widths[widest] -= step
        excess -= step
    return widths


def render_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    term: Terminal,
    styles: Sequence[str | None] | None = None,
    align_right: Sequence[bool] | None = None,
    keep: Sequence[bool] | None = None,
    drop: Sequence[int] = (),
    least: Sequence[int] | None = None,
) -> str:
    """A table of text; a cell with newlines takes several lines, and rows are then ruled.

    :param styles: per row, a colour for the whole row (or None)
    :param align_right: per column, right-align (numbers)
    :param keep: per column, never cut it (short, essential columns: times, states)
    :param drop: columns to leave out, in this order, while even cut cells cannot fit
    :param least: per column, the width it is not cut below (default a few characters)
    """
    body = [[cell_text(v).split("\n") for v in row] for row in rows]
    natural = [max([len(h)] + [max(map(display_width, r[i])) for r in body]) for i, h in enumerate(headers)]
    kept = keep or [False] * len(headers)
    floors = least or [0] * len(headers)
    minimum = [min(n, max(f, _minimum(n, h, k)))
               for n, h, k, f in zip(natural, headers, kept, floors, strict=True)]
    gap = 3 if term.fancy else 2
    shown = _columns_that_fit(minimum, gap, term.width, drop)
    budget = None if term.width is None else term.width - gap * (len(shown) - 1)
    widths = fit_widths([natural[i] for i in shown], [minimum[i] for i in shown], budget)
    right = [bool(align_right and align_right[i]) for i in shown]
    separator = " │ " if term.fancy else "  "
    body = [[row[i] for i in shown] for row in body]
    multiline = any(len(cell) > 1 for row in body for cell in row)
    out = [_finished(_line([[headers[i]] for i in shown], widths, right, separator, term)[0], term),
           _finished(_rule(widths, term), term)]
    for index, row in enumerate(body):
        style = styles[index] if styles else None
        out += [_finished(line, term, style) for line in _line(row, widths, right, separator, term)]
        if multiline and index < len(body) - 1:
            out.append(_finished(_rule(widths, term, light=True), term))
    return "\n".join(out)


def _finished(line: str, term: Terminal, style: str | None = None) -> str:
    """A line of the table as shown: clipped to the width, then coloured. Clipping a coloured
    line would count its escape sequences as columns, cut it short and drop the reset that
    ends the colour, which then runs on into the lines below and the shell prompt."""
    return term.paint(_clip(line, term).rstrip(), style)


def _minimum(natural: int, header: str, kept: bool) -> int:
    """How narrow a column may be cut: never for kept ones, else to a few characters."""
    return natural if kept else min(natural, max(3, min(len(header), 8)))


def _columns_that_fit(minimum: list[int], gap: int, width: int | None, drop: Sequence[int]) -> list[int]:
    shown = list(range(len(minimum)))
    for column in drop:
        if width is None or sum(minimum[i] for i in shown) + gap * (len(shown) - 1) <= width:
            break
        shown.remove(column)
    return shown


def _clip(line: str, term: Terminal) -> str:
    """The last resort on a very narrow terminal: cut the line itself."""
    return line if term.width is None else cut(line, term.width, term.ellipsis)


def _line(
    cells: list[list[str]], widths: list[int], right: list[bool], sep: str, term: Terminal
) -> list[str]:
    height = max(len(c) for c in cells)
    lines = []
    for k in range(height):
        parts = []
        for cell, width, is_right in zip(cells, widths, right, strict=True):
            text = cut(cell[k] if k < len(cell) else "", width, term.ellipsis)
            parts.append(pad(text, width, is_right))
        lines.append(sep.join(parts))
    return lines


def _rule(widths: list[int], term: Terminal, light: bool = False) -> str:
    if term.fancy:
        char = "┄" if light else "─"
        return f"{char}┼{char}".join(char * w for w in widths)
    char = "." if light else "-"
    return "  ".join(char * w for w in widths)


def to_json(value: Any) -> str:
    """Stable JSON for scripts: keys in the order given, UTF-8 kept, bytes as text; the
    characters a terminal acts on that ``json`` leaves as they are (C1 controls such as
    U+009B, which some terminals read as ESC [, and bidi overrides) as ``\\u`` escapes: the
    same values once parsed, and nothing for a terminal showing it to act on."""
    text = json.dumps(value, indent=2, ensure_ascii=False, default=_json_default)
    return _UNSAFE.sub(_json_escape, text)


def _json_escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def to_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """RFC 4180 CSV with a header line; whole values, NULL as an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else v for v in row])
    return buffer.getvalue().rstrip("\n")
