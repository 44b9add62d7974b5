"""Records (``SipMessage``, ``Reject``, ``Checkpoint``) to row tuples in column order.

Kept apart from the backends because it is the hot loop of every write: plain attributes
are read with one ``attrgetter`` call, and only the few derived values are computed in
Python. (Values of indexed ``VARCHAR`` columns are clipped by the INSERT statement itself,
on both backends, so SQLite and MySQL store the same thing.)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any

from sipparse.sip.message import Reject, SipMessage
from sipparse.store import calls, schema

TimeFormat = Callable[[datetime | None], Any]
RowList = list[tuple[Any, ...]]

# Columns filled from other places than the same-named attribute of SipMessage.
_DERIVED = {"timestamp", "source_file", "source_fingerprint", "source_offset", "source_end", "problems",
            "ingested_at"}
MESSAGE_NAMES = tuple(c.name for c in schema.MESSAGE_COLUMNS)
_PLAIN_NAMES = tuple(n for n in MESSAGE_NAMES if n not in _DERIVED)
_plain = attrgetter(*_PLAIN_NAMES)
_TIMESTAMP_AT = MESSAGE_NAMES.index("timestamp")
# message_row() relies on this order: the derived columns are the timestamp and the tail.
assert MESSAGE_NAMES[-6:] == ("source_file", "source_fingerprint", "source_offset", "source_end", "problems",
                              "ingested_at")
# The integers a log dictates (a Content-Length, a Q.850 cause, a marker's byte count...) with
# the largest value their column holds on every backend: MySQL INT is 32-bit, BIGINT and
# SQLite INTEGER 64-bit. A log saying more is not refused by strict mode on every later run.
_INT_LIMITS = tuple(
    (_PLAIN_NAMES.index(c.name), c.name, (1 << 31) - 1 if c.mysql == "INT" else (1 << 63) - 1)
    for c in schema.MESSAGE_COLUMNS if c.name in _PLAIN_NAMES and c.sqlite == "INTEGER"
)


@dataclass(slots=True)
class Checkpoint:
    """How far a log file has been stored: resume reading at ``offset``.

    ``fingerprint`` identifies the file by its first bytes (it survives renames and
    compression); ``size``, ``inode``, ``device`` and ``mtime`` are what was seen when the
    checkpoint was written, to notice truncation, rotation or replacement.
    """

    fingerprint: str
    path: str
    offset: int
    size: int
    inode: int | None = None
    device: int | None = None
    mtime: float | None = None


def utc_naive(value: datetime | None) -> datetime | None:
    """Timestamps are stored as naive UTC; an aware datetime is converted first."""
    if value is not None and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def text_time(value: datetime | None) -> str | None:
    """SQLite's timestamp text: ``YYYY-MM-DD HH:MM:SS[.ffffff]``."""
    value = utc_naive(value)
    return None if value is None else value.isoformat(" ")


def message_row(message: SipMessage, now: Any, fmt_time: TimeFormat) -> tuple[Any, ...]:
    """One ``sip_transactions`` row, columns in ``schema.MESSAGE_COLUMNS`` order."""
    plain = _plain(message)
    problems = message.problems
    for index, name, limit in _INT_LIMITS:
        value = plain[index]
        if value is not None and not -limit <= value <= limit:
            plain, problems = _without_int(plain, index, name, problems)
    source = message.source
    return (
        *plain[:_TIMESTAMP_AT], fmt_time(message.timestamp), *plain[_TIMESTAMP_AT:],
        source.path, source.fingerprint, message.offset, message.end,
        "; ".join(problems) if problems else None, now,
    )


def _without_int(plain: tuple[Any, ...], index: int, name: str, problems: list[str]) -> tuple[tuple, list[str]]:
    """The row values with an integer too large for its column left out (NULL), and why."""
    shown = str(plain[index]) if plain[index].bit_length() < 256 else f"of {plain[index].bit_length()} bits"
    return plain[:index] + (None,) + plain[index + 1:], [*problems, f"{name} {shown} too large to store"]


def message_rows(messages: Sequence[SipMessage], now: datetime, fmt_time: TimeFormat) -> RowList:
    stamp = fmt_time(now)
    return [message_row(m, stamp, fmt_time) for m in messages]


def reject_rows(rejects: Sequence[Reject], now: datetime, fmt_time: TimeFormat) -> RowList:
    """``rejects`` rows in ``schema.REJECT_COLUMNS`` order."""
    stamp = fmt_time(now)
    return [
        (r.source.path, r.source.fingerprint, r.offset, r.end, r.reason, bytes(r.raw), fmt_time(r.timestamp),
         r.host, stamp)
        for r in rejects
    ]


def checkpoint_rows(checkpoints: Sequence[Checkpoint], now: datetime, fmt_time: TimeFormat) -> RowList:
    """``checkpoints`` rows in ``schema.CHECKPOINT_COLUMNS`` order."""
    stamp = fmt_time(now)
    return [(c.fingerprint, c.path, c.offset, c.size, c.inode, c.device, c.mtime, stamp)
            for c in checkpoints]


def checkpoint_from_row(row: Sequence[Any]) -> Checkpoint:
    fingerprint, path, offset, size, inode, device, mtime = row[:7]
    return Checkpoint(fingerprint, path, int(offset), int(size), _opt_int(inode), _opt_int(device),
                      None if mtime is None else float(mtime))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


SUMMARY_INPUT = tuple((name, MESSAGE_NAMES.index(name)) for name in calls.INPUT_COLUMNS if name != "id")
CALL_ID_AT = MESSAGE_NAMES.index("call_id")


def summary_inputs(rows: RowList, clip: int) -> dict[str, list[dict[str, Any]]]:
    """The ``calls.summarize`` input of each Call-ID of a batch, from its row tuples.

    A row's place in the batch stands in for its id (ids are given in batch order); a row
    repeated in the batch (same source and offset) is stored once, so it counts once.
    """
    out: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple[Any, Any]] = set()
    for position, row in enumerate(rows):
        key = (row[-5], row[-4])  # source_fingerprint, source_offset
        if row[CALL_ID_AT] is None or key in seen:
            continue
        seen.add(key)
        entry = {name: row[index] for name, index in SUMMARY_INPUT}
        entry["id"] = position
        out.setdefault(row[CALL_ID_AT][:clip], []).append(entry)
    return out


def sanitize(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Replace what the database cannot encode (lone surrogates from undecodable bytes)."""
    def clean(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:  # surrogateescape gives the original bytes back: one U+FFFD per bad byte
            data = value.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            data = value.encode("utf-8", "surrogatepass")
        return data.decode("utf-8", "replace")

    return [tuple(clean(v) for v in row) for row in rows]
