"""Records (``SipMessage``, ``Reject``, ``Checkpoint``) to row tuples.

This is the hot loop of every write, so it works a batch at a time, column by column, with
C-level iteration (``attrgetter``, ``map``, ``max``) instead of Python code per field: one
``attrgetter`` call reads every plain attribute of a message, and a check that a whole
column is fine (no value too long, no integer too large) costs one ``max`` over it. Only a
batch that holds such a value is rewritten, row by row.

Values of indexed ``VARCHAR`` columns are clipped here, on both backends, so SQLite and MySQL
store the same thing and strict MySQL never refuses a batch for one absurdly long Call-ID;
the row's ``problems`` (a reject's ``reason``) says what was cut, and from how long.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import count, repeat
from operator import add, attrgetter, itemgetter
from types import MemberDescriptorType
from typing import Any

from sipparse.digest import sha1_hex
from sipparse.sip.accel import c_module
from sipparse.sip.message import Reject, SipMessage, Source
from sipparse.store import calls, schema

_C_ROWS: Any = c_module("sipparse.store._rows")
CHECKS_IN_C = _C_ROWS is not None  # for ``sipparse info``

TimeFormat = Callable[[datetime | None], Any]
TimesFormat = Callable[[list[datetime | None]], list[Any]]
RowList = list[tuple[Any, ...]]
Limits = tuple[tuple[int, int], ...]  # (index in the row, largest value or length allowed)
_SAMPLE = 64  # timestamps looked at to tell whether a column's values repeat

MESSAGE_NAMES = tuple(c.name for c in schema.MESSAGE_COLUMNS)
# A message row holds the columns read straight off the SipMessage first, then the three
# that are computed; INSERT statements name the columns in this order (ROW_COLUMNS).
_COMPUTED = ("timestamp", "problems", "ingested_at")
_ATTRIBUTES = {"source_file": "source.path", "source_fingerprint": "source.fingerprint",
               "source_offset": "offset", "source_end": "end"}
ROW_NAMES = tuple(n for n in MESSAGE_NAMES if n not in _COMPUTED) + _COMPUTED
ROW_COLUMNS = tuple(next(c for c in schema.MESSAGE_COLUMNS if c.name == n) for n in ROW_NAMES)
_PLAIN_ATTRIBUTES = tuple(_ATTRIBUTES.get(n, n) for n in ROW_NAMES[: -len(_COMPUTED)])
_plain = attrgetter(*_PLAIN_ATTRIBUTES)
_timestamp = attrgetter("timestamp")
_problems = attrgetter("problems")
NO_TIME_STAMP = "no time stamp: the log line's was not a date (or not one UTC can hold)"
_NO_TIME = "no time stamp"  # how a message's own note on its missing time begins (a console capture's)
_tzinfo = attrgetter("tzinfo")
PROBLEMS_AT = ROW_NAMES.index("problems")
CALL_ID_AT = ROW_NAMES.index("call_id")
_SOURCE_KEY = (ROW_NAMES.index("source_fingerprint"), ROW_NAMES.index("source_offset"))
# The integers a log dictates (a Content-Length, a Q.850 cause, a marker's byte count...) with
# the largest value their column holds on every backend: MySQL INT is 32-bit, BIGINT and
# SQLite INTEGER 64-bit. A log saying more is not refused by strict mode on every later run.
_INT_LIMITS = tuple(
    (ROW_NAMES.index(c.name), c.name, (1 << 31) - 1 if c.mysql == "INT" else (1 << 63) - 1)
    for c in schema.MESSAGE_COLUMNS
    if c.sqlite == "INTEGER" and c.name not in _ATTRIBUTES
)


_INTS: Limits = tuple((index, limit) for index, _, limit in _INT_LIMITS)


def _slot_specs(attributes: tuple[str, ...]) -> tuple[Any, ...] | None:
    """The member descriptors ``_rows.slot_rows`` reads ``attributes`` of a SipMessage by (a
    pair for ``source.path``), or None when one is not a plain slot (then ``_plain`` reads)."""
    specs: list[Any] = []
    for attribute in attributes:
        owner: type = SipMessage
        chain: list[Any] = []
        for name in attribute.split("."):
            descriptor = owner.__dict__.get(name)
            if type(descriptor) is not MemberDescriptorType:
                return None
            chain.append(descriptor)
            owner = Source  # the only attribute read through: source.path, source.fingerprint
        specs.append(chain[0] if len(chain) == 1 else tuple(chain))
    return tuple(specs)


_SLOT_SPECS = _slot_specs(_PLAIN_ATTRIBUTES) if _C_ROWS is not None else None
_STAMP_SPECS = _slot_specs(("timestamp", "problems")) if _C_ROWS is not None else None


@dataclass(frozen=True, slots=True)
class Clips:
    """How a row layout's VARCHAR values are cut: ``limits`` (index, declared length) for the
    checks, which run in C where they can, and the indexes whose values keep their digest.

    ``note_at``: the index of the row's text column that says what was cut (a message's
    ``problems``, a reject's ``reason``), so that a value stored shorter than it was logged
    is never taken for the whole; ``names`` name the columns in that note."""

    limits: Limits
    apart: frozenset[int]
    names: tuple[str, ...] = ()
    note_at: int | None = None


def clips(columns: Sequence[schema.Column], note: str | None = None) -> Clips:
    """The clipped columns of a row layout: the VARCHAR columns, with their declared length;
    each cut is said in the column named ``note``, where there is one."""
    names = tuple(c.name for c in columns)
    return Clips(tuple((index, c.clip) for index, c in enumerate(columns) if c.clip),
                 frozenset(index for index, c in enumerate(columns) if c.clip and c.keeps_apart),
                 names, None if note is None else names.index(note))


_MESSAGE_CLIPS = clips(ROW_COLUMNS, "problems")


@dataclass(slots=True)
class Checkpoint:
    """How far a log file has been stored: resume reading at ``offset``.

    ``fingerprint`` identifies the file by its first bytes (it survives renames and
    compression); ``size``, ``inode``, ``device`` and ``mtime`` are what was seen when the
    checkpoint was written, to notice truncation, rotation or replacement. ``host`` is the
    machine whose file it is (``ingest --host``): each PBX has its own /var/log/asterisk/pjsip.
    """

    fingerprint: str
    path: str
    offset: int
    size: int
    inode: int | None = None
    device: int | None = None
    mtime: float | None = None
    host: str | None = None


def utc_naive(value: datetime | None) -> datetime | None:
    """Timestamps are stored as naive UTC; an aware datetime is converted first."""
    if value is not None and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def text_time(value: datetime | None) -> str | None:
    """SQLite's timestamp text: ``YYYY-MM-DD HH:MM:SS[.ffffff]``."""
    value = utc_naive(value)
    return None if value is None else value.isoformat(" ")


def naive_times(values: list[datetime | None]) -> list[datetime | None]:
    """``utc_naive`` of each value; the list itself when all are naive (as parsers give them)."""
    if any(map(_tzinfo, filter(None, values))):
        return [utc_naive(v) for v in values]
    return values


def text_times(values: list[datetime | None]) -> list[str | None]:
    """``text_time`` of each value, each distinct value formatted once when they repeat.

    ``isoformat`` costs close to a microsecond; logs with whole-second timestamps (``full``,
    traditional syslog) give a handful of distinct values per batch, which a dict lookup
    turns into their text for a fraction of that. Distinct values (sub-second timestamps)
    are formatted in C, one by one, after a look at a sample that says they do not repeat.
    """
    values = naive_times(values)
    if len(set(values[:_SAMPLE])) * 2 > min(len(values), _SAMPLE):
        if all(values):
            return list(map(datetime.isoformat, values, repeat(" ")))  # type: ignore[arg-type]
        return [None if v is None else v.isoformat(" ") for v in values]
    texts = dict.fromkeys(values)
    for value in texts:
        texts[value] = None if value is None else value.isoformat(" ")
    return list(map(texts.__getitem__, values))


@dataclass(slots=True)
class MessageRows:
    """The rows of a batch of messages, and their timestamps as naive UTC datetimes.

    ``rows`` is a list of tuples, or once prepared in a parse worker whatever
    ``Store.pack_rows`` made of it."""

    rows: RowList
    stamps: list[datetime | None]


def message_rows(messages: Sequence[SipMessage], now: datetime, fmt_times: TimesFormat) -> MessageRows:
    """``sip_transactions`` rows, columns in ``ROW_COLUMNS`` order.

    :param fmt_times: the backend's conversion of a list of naive UTC datetimes.
    """
    stamps, notes = _stamps_and_notes(messages)
    times, stamp = fmt_times(stamps), fmt_times([now])[0]
    rows = None
    if _SLOT_SPECS is not None and isinstance(messages, list) and isinstance(times, list):
        made = _C_ROWS.slot_rows(messages, _SLOT_SPECS, times, notes, stamp, _INTS, _MESSAGE_CLIPS.limits)
        if made is not None:
            rows, past = made
            if past is False:  # checked as the rows were made: no value to leave out or to cut
                return MessageRows(rows, stamps)
    if rows is None:
        computed = zip(times, repeat(None) if notes is None else notes, repeat(stamp))
        rows = list(map(add, map(_plain, messages), computed))
    if _exceeds(rows, _INTS, _biggest_int):
        rows = [_within_int_limits(row) for row in rows]
    return MessageRows(clip_rows(rows, _MESSAGE_CLIPS), stamps)


def _stamps_and_notes(messages: Sequence[SipMessage]) -> tuple[list[datetime | None], list[str | None] | None]:
    """The messages' timestamps as naive UTC, and each one's note of its problems (None: no
    message has any). The usual batch (every timestamp naive, no problem) is told in one pass
    in C (``_rows.stamps_of``); the others are read here."""
    if _STAMP_SPECS is not None and isinstance(messages, list):
        read = _C_ROWS.stamps_of(messages, _STAMP_SPECS)
        if read is not None and not any(read[1:]):
            return read[0], None
    stamps = naive_times(list(map(_timestamp, messages)))
    problems = list(map(_problems, messages))
    if None in stamps:  # its log line's time stamp was no date, or none UTC can hold
        problems = [p if s is not None or any(note.startswith(_NO_TIME) for note in p) else (*p, NO_TIME_STAMP)
                    for p, s in zip(problems, stamps, strict=True)]
    return stamps, [("; ".join(p) if p else None) for p in problems] if any(problems) else None


def _biggest_int(values: Iterable[Any]) -> int:
    return max(map(abs, values), default=0)


def _longest_text(values: Iterable[Any]) -> int:
    return max(map(len, values), default=0)


def _exceeds(rows: RowList, limits: Limits, measure: Callable[[Iterable[Any]], int]) -> bool:
    """Whether a column of ``limits`` holds a value past its limit (NULL, 0 and "" never do).

    In C (``_rows.c``) in one pass over the rows when it is built and the values are of the
    types it knows, else a pass per column here."""
    if _C_ROWS is not None:
        answer = (_C_ROWS.longer_than if measure is _longest_text else _C_ROWS.larger_than)(rows, limits)
        if answer is not None:
            return bool(answer)
    return any(measure(filter(None, map(itemgetter(index), rows))) > limit for index, limit in limits)


def _within_int_limits(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The row with each integer too large for its column left out (NULL), and why."""
    for index, name, limit in _INT_LIMITS:
        value = row[index]
        if value is not None and not -limit <= value <= limit:
            shown = str(value) if value.bit_length() < 256 else f"of {value.bit_length()} bits"
            note = f"{name} {shown} too large to store"
            problems = row[PROBLEMS_AT]
            row = _replace(row, index, None)
            row = _replace(row, PROBLEMS_AT, f"{problems}; {note}" if problems else note)
    return row


def _replace(row: tuple[Any, ...], index: int, value: Any) -> tuple[Any, ...]:
    return row[:index] + (value,) + row[index + 1:]


def clip_rows(rows: RowList, cuts: Clips) -> RowList:
    """The rows with each text of a clipped column cut to its declared length.

    The database counts characters, as ``len`` does. Only a batch that holds a value too
    long is copied.
    """
    if not _exceeds(rows, cuts.limits, _longest_text):
        return rows
    return [_clip_row(row, cuts) for row in rows]


def _clip_row(row: tuple[Any, ...], cuts: Clips) -> tuple[Any, ...]:
    notes = []
    for index, limit in cuts.limits:
        value = row[index]
        if isinstance(value, str) and len(value) > limit:
            row = _replace(row, index, clipped(value, limit) if index in cuts.apart else value[:limit])
            notes.append(f"{cuts.names[index]} of {len(value)} characters cut to {limit}")
    if notes and cuts.note_at is not None:
        said = row[cuts.note_at]
        row = _replace(row, cuts.note_at, "; ".join([said, *notes] if said else notes))
    return row


def clipped(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, its end replaced by ``~`` and the SHA-1 of the
    whole: two Call-IDs alike in their first 512 characters stay two calls."""
    if len(value) <= limit:
        return value
    digest = "~" + sha1_hex(value.encode("utf-8", "surrogateescape"))
    return value[:max(0, limit - len(digest))] + digest[:limit]


_REJECT_CLIPS = clips(schema.REJECT_COLUMNS, "reason")
_CHECKPOINT_CLIPS = clips(schema.CHECKPOINT_COLUMNS)


def reject_rows(rejects: Sequence[Reject], now: datetime, fmt_time: TimeFormat) -> RowList:
    """``rejects`` rows in ``schema.REJECT_COLUMNS`` order."""
    stamp = fmt_time(now)
    return clip_rows([
        (r.source.path, r.source.fingerprint, r.offset, r.end, r.reason, bytes(r.raw), fmt_time(r.timestamp),
         r.host, stamp)
        for r in rejects
    ], _REJECT_CLIPS)


def checkpoint_rows(checkpoints: Sequence[Checkpoint], now: datetime, fmt_time: TimeFormat) -> RowList:
    """``checkpoints`` rows in ``schema.CHECKPOINT_COLUMNS`` order."""
    stamp = fmt_time(now)
    return clip_rows([(c.fingerprint, c.path, c.offset, c.size, c.inode, c.device, c.mtime, stamp, c.host)
                      for c in checkpoints], _CHECKPOINT_CLIPS)


def checkpoint_from_row(row: Sequence[Any]) -> Checkpoint:
    fingerprint, path, offset, size, inode, device, mtime = row[:7]
    return Checkpoint(fingerprint, path, int(offset), int(size), _opt_int(inode), _opt_int(device),
                      None if mtime is None else float(mtime))


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


# calls.INPUT_COLUMNS after "id" and "timestamp", as they sit in a message row.
_SUMMARY_AT = tuple(ROW_NAMES.index(n) for n in calls.INPUT_COLUMNS[2:])
_summary_fields = itemgetter(*_SUMMARY_AT)
# a summary input's columns of a message row, its timestamp first
_PICKED = (ROW_NAMES.index("timestamp"), *_SUMMARY_AT)
_call_id = itemgetter(CALL_ID_AT)
_source_key = itemgetter(*_SOURCE_KEY)


@dataclass(slots=True)
class SummaryInputs:
    """The ``calls.summarize_tuples`` input of each Call-ID of a batch, and whether all of
    them are normal already (``calls.is_normal``: then summarised without a look at each row)."""

    by_call: Mapping[str, list[tuple[Any, ...]]]
    normal: bool
    # whether these are exactly the rows the transaction inserts, fit for the CallCache
    cacheable: bool = True
    # each Call-ID's places in the batch (its inputs' ids), where ``summary_inputs`` was asked
    # for them and made them in the same pass (else None)
    places: dict[str, list[int]] | None = None


class PackedInputs(Mapping[str, list[tuple[Any, ...]]]):
    """``SummaryInputs.by_call`` of a batch whose message rows are packed (``Store.pack_rows``),
    made from those rows when a call's inputs are asked for.

    The storing process needs the inputs of few of a batch's calls: those it continues from
    its ``CallCache``, and the open ones it keeps there. Sent as tuples, every call's cost the
    parse worker some 1.8 us a message to pickle and the storing process 1.6 to unpickle
    (their timestamps are datetimes); here only each call's row positions travel, and the
    packed rows, which travel anyway, give the values of the few that are asked for.

    :param packed: the batch's packed message rows (``pick`` gives columns of some rows)
    :param positions: each Call-ID's rows, as places in the batch (``summary_inputs``' ids)
    """

    __slots__ = ("_rows", "_positions", "_times", "_texts")

    def __init__(self, packed: Any, positions: dict[str, list[int]]) -> None:
        self._rows, self._positions = packed, positions
        self._times: dict[str, Any] = {}  # stored text -> datetime, each made once
        self._texts: dict[str, str] = {}  # each text once: the CallCache keeps many of these rows

    def __reduce__(self) -> tuple[Any, ...]:
        return PackedInputs, (self._rows, self._positions)

    def __getitem__(self, call_id: str) -> list[tuple[Any, ...]]:
        return self._rows.pick(self._positions[call_id], _PICKED, 0, calls.to_datetime, self._times,  # type: ignore[no-any-return]
                               self._texts)

    def __contains__(self, call_id: object) -> bool:
        return call_id in self._positions

    def places(self) -> Iterator[tuple[str, list[int]]]:
        """Each Call-ID with the places of its rows in the batch."""
        return iter(self._positions.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self._positions)

    def __len__(self) -> int:
        return len(self._positions)


def summary_inputs(batch: MessageRows, places: bool = False) -> SummaryInputs:
    """The ``calls.summarize_tuples`` input of each Call-ID of a batch, from its rows.

    A row's place in the batch stands in for its id (ids are given in batch order); a row
    repeated in the batch (same source and offset) is stored once, so it counts once.

    :param places: also each Call-ID's places (``SummaryInputs.places``) where they come
        from the same pass, for a parse worker (``PackedInputs``)
    """
    rows = batch.rows
    if _C_ROWS is not None and isinstance(rows, list) and isinstance(batch.stamps, list):
        grouped = _C_ROWS.summary_groups(rows, batch.stamps, CALL_ID_AT, _SUMMARY_AT, calls.ROW_TYPE, _SOURCE_KEY,
                                         places)
        if grouped is not None:  # in one pass in C: every row stored (one file, offsets increasing)
            # is_normal of every row, checked as its entry was made
            return SummaryInputs(grouped[0], grouped[1], places=grouped[2] if places else None)
    entries = calls.as_rows(map(add, zip(count(), batch.stamps), map(_summary_fields, rows)))
    normal = calls.is_normal(entries)
    keys = list(map(_source_key, rows))
    out: dict[str, list[tuple[Any, ...]]] = {}
    if len(set(keys)) == len(keys):  # the usual batch: every row is stored
        for call_id, entry in zip(map(_call_id, rows), entries, strict=True):
            if call_id is not None:
                out.setdefault(call_id, []).append(entry)
        return SummaryInputs(out, normal)
    seen: set[tuple[Any, Any]] = set()
    for call_id, key, entry in zip(map(_call_id, rows), keys, entries, strict=True):
        if call_id is None or key in seen:
            continue
        seen.add(key)
        out.setdefault(call_id, []).append(entry)
    return SummaryInputs(out, normal)


def as_list(rows: Sequence[tuple[Any, ...]]) -> RowList:
    """The rows as a list of tuples, from a list or from rows packed for another process
    (``Store.pack_rows``)."""
    return rows if isinstance(rows, list) else rows.tuples()  # type: ignore[attr-defined]


def encodable(rows: Sequence[tuple[Any, ...]]) -> bool:
    """Whether every str of the rows encodes to UTF-8, so that binding them cannot fail on a
    lone surrogate (see ``sanitize``). Packed rows do: packing leaves such rows unpacked."""
    if not isinstance(rows, list):
        return True
    if _C_ROWS is not None:
        return bool(_C_ROWS.encodable(rows))
    return all(_encodes(v) for row in rows for v in row if type(v) is str and not v.isascii())


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def sanitize(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Replace what the database cannot encode (lone surrogates from undecodable bytes)."""
    return [tuple(storable(v) if isinstance(v, str) else v for v in row) for row in rows]


_CHECKPOINT_HOST_CLIP = next(c.clip for c in schema.CHECKPOINT_COLUMNS if c.name == "host")


def clip_host(host: str) -> str:
    """``host`` as a checkpoint stores it, to look checkpoints up by it."""
    return storable(host)[:_CHECKPOINT_HOST_CLIP]


def storable(value: str) -> str:
    """``value`` as ``sanitize`` stores it, so that a lookup by a value read from the system
    (a file name of undecodable bytes) finds the row that holds it."""
    try:  # surrogateescape gives the original bytes back: one U+FFFD per bad byte
        data = value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = value.encode("utf-8", "surrogatepass")
    return data.decode("utf-8", "replace")
