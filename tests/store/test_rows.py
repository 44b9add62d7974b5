"""Row building, column by column, against a plain per-field reference; and the summary of
rows given as tuples against the one of mappings."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipparse.sip.message import SipMessage, Source
from sipparse.store import calls, rows, schema
from tests.store.factory import SCENARIOS, CallBuilder, mixed_traffic

FIELDS = [f.name for f in fields(SipMessage)]
dataclass_frozen_slots = dataclass(frozen=True, slots=True)
SOURCE = Source("/var/log/asterisk/pjsip", "fp-rows")
START = datetime(2025, 2, 1, 18, 32, 31)
NOW = datetime(2025, 3, 1, 12, 0, 0)
ATTRIBUTES = {"source_file": "source.path", "source_fingerprint": "source.fingerprint",
              "source_offset": "offset", "source_end": "end"}


def reference_row(message: SipMessage) -> dict[str, Any]:
    """What a message row must hold, written the slow and obvious way."""
    out: dict[str, Any] = {}
    problems = list(message.problems) + ([rows.NO_TIME_STAMP] if message.timestamp is None else [])
    cuts: list[str] = []  # said after the numbers too large
    for column in rows.ROW_COLUMNS:
        name = ATTRIBUTES.get(column.name, column.name)
        value = message.source.path if name == "source.path" else (
            message.source.fingerprint if name == "source.fingerprint" else getattr(message, name, None))
        if column.name == "timestamp":
            value = rows.text_time(message.timestamp)
        elif column.name == "ingested_at":
            value = rows.text_time(NOW)
        elif isinstance(value, int) and column.sqlite == "INTEGER" and column.name not in ATTRIBUTES:
            limit = (1 << 31) - 1 if column.mysql == "INT" else (1 << 63) - 1
            if not -limit <= value <= limit:
                problems.append(f"{column.name} {value} too large to store")
                value = None
        elif isinstance(value, str) and column.clip and len(value) > column.clip:
            cuts.append(f"{column.name} of {len(value)} characters cut to {column.clip}")
            value = rows.clipped(value, column.clip) if column.name == "call_id" else value[:column.clip]
        out[column.name] = value
    problems += cuts
    out["problems"] = "; ".join(problems) if problems else None
    return out


def some(count: int) -> list[SipMessage]:
    """The first ``count`` messages of a mix of calls."""
    return mixed_traffic(SOURCE, count, START)[:count]


def built(messages: list[SipMessage]) -> list[dict[str, Any]]:
    made = rows.message_rows(messages, NOW, rows.text_times).rows
    return [dict(zip(rows.ROW_NAMES, row, strict=True)) for row in made]


def test_row_layout_names_every_column_once() -> None:
    assert sorted(rows.ROW_NAMES) == sorted(c.name for c in schema.MESSAGE_COLUMNS)


def test_plain_traffic_matches_the_reference() -> None:
    messages = some(40)
    assert built(messages) == [reference_row(m) for m in messages]


def test_one_long_value_clips_that_value_only() -> None:
    messages = some(5)
    messages[3] = replace(messages[3], from_user="u" * 300, host="h" * 256, direction="inbound!!")
    got = built(messages)
    assert got == [reference_row(m) for m in messages]
    assert (len(got[3]["from_user"]), len(got[3]["host"]), got[3]["direction"]) == (255, 255, "inbound!")
    assert got[2]["from_user"] == messages[2].from_user
    assert got[3]["problems"] == ("direction of 9 characters cut to 8; from_user of 300 characters cut to 255; "
                                  "host of 256 characters cut to 255")
    assert got[2]["problems"] is None


def test_one_huge_integer_is_null_with_a_note_and_keeps_earlier_notes() -> None:
    messages = some(5)
    messages[1] = replace(messages[1], q850_cause=1 << 31, content_length=-(1 << 70), problems=["no blank line"])
    got = built(messages)
    assert got == [reference_row(m) for m in messages]
    assert got[1]["q850_cause"] is None and got[1]["content_length"] is None
    assert got[1]["problems"].startswith("no blank line; content_length ")


def test_missing_and_aware_timestamps() -> None:
    messages = some(4)
    messages[0] = replace(messages[0], timestamp=None)
    messages[2] = replace(messages[2], timestamp=datetime(2025, 2, 1, 20, 0, tzinfo=timezone(timedelta(hours=2))))
    got = built(messages)
    assert [r["timestamp"] for r in got][:3] == [None, reference_row(messages[1])["timestamp"],
                                                 "2025-02-01 18:00:00"]


def test_mysql_times_stay_datetimes() -> None:
    messages = some(3)
    aware = datetime(2025, 2, 1, 20, 0, tzinfo=UTC)
    messages[1] = replace(messages[1], timestamp=aware)
    made = rows.message_rows(messages, NOW, rows.naive_times)
    at = rows.ROW_NAMES.index("timestamp")
    assert [r[at] for r in made.rows] == [messages[0].timestamp, datetime(2025, 2, 1, 20, 0), messages[2].timestamp]
    assert made.stamps == [r[at] for r in made.rows]


moments = st.one_of(
    st.none(),
    st.sampled_from([START + timedelta(seconds=n) for n in range(3)]),  # whole seconds, repeated
    st.datetimes(min_value=START, max_value=START + timedelta(days=1)),  # sub-second, distinct
    st.datetimes(min_value=START, max_value=START + timedelta(days=1),
                 timezones=st.just(timezone(timedelta(hours=-5)))),  # aware: converted to UTC first
)


@settings(max_examples=200, deadline=None)
@given(st.lists(moments, max_size=200))
def test_text_times_are_text_time_of_each(values: list[datetime | None]) -> None:
    assert rows.text_times(values) == [rows.text_time(v) for v in values]


def test_text_times_of_a_batch_of_whole_seconds_and_of_distinct_moments() -> None:
    seconds = [START + timedelta(seconds=n // 7) for n in range(1000)]
    distinct = [START + timedelta(microseconds=n) for n in range(1000)]
    late_repeats = distinct[:100] + seconds
    for values in (seconds, distinct, late_repeats, [None] * 10 + seconds, [*seconds[:70], None]):
        assert rows.text_times(values) == [None if v is None else v.isoformat(" ") for v in values]


texts = st.one_of(st.none(), st.text(max_size=3), st.text(min_size=250, max_size=600))
numbers = st.one_of(st.none(), st.integers(-5, 5), st.integers(-(1 << 80), 1 << 80))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(texts, texts, numbers, numbers, st.booleans()), min_size=1, max_size=8))
def test_any_batch_matches_the_reference(values: list[tuple[Any, ...]]) -> None:
    base = some(len(values))
    messages = [
        replace(m, call_id=call_id, to_tag=tag, cseq=cseq, status_code=code,
                problems=["odd"] if flag else [], timestamp=None if flag else m.timestamp)
        for m, (call_id, tag, cseq, code, flag) in zip(base, values, strict=True)
    ]
    assert built(messages) == [reference_row(m) for m in messages]


def test_summary_inputs_skip_repeats_and_missing_call_ids() -> None:
    messages = some(10)
    messages[4] = replace(messages[4], call_id=None)
    made = rows.message_rows(messages + messages[:2], NOW, rows.text_times)
    fresh = rows.summary_inputs(made).by_call
    assert sum(len(v) for v in fresh.values()) == 9
    for call_id, entries in fresh.items():
        mine = [(n, m) for n, m in enumerate(messages) if m.call_id == call_id]
        assert [e[0] for e in entries] == [n for n, _ in mine]
        assert [e[1] for e in entries] == [m.timestamp for _, m in mine]
        assert [e[2] for e in entries] == [m.sip_method for _, m in mine]


def test_summaries_of_tuples_and_of_mappings_agree() -> None:
    for number, (name, scenario) in enumerate(sorted(SCENARIOS.items())):
        builder = CallBuilder(f"c-{name}", SOURCE, START)
        scenario(builder)
        scenario(builder)
        mappings = [{**{c: getattr(m, c, None) for c in calls.INPUT_COLUMNS}, "id": n}
                    for n, m in enumerate(builder.messages)]
        mappings[-1]["timestamp"] = mappings[-1]["timestamp"].isoformat(" ")  # as SQLite returns it
        if number % 2:
            mappings[0]["timestamp"] = None
        tuples = [tuple(r[c] for c in calls.INPUT_COLUMNS) for r in mappings]
        assert calls.summarize_tuples(builder.call_id, tuples) == calls.summarize(builder.call_id, mappings)


def test_summary_inputs_of_normal_rows_skip_the_per_row_look_and_agree() -> None:
    messages = some(60)
    fresh = rows.summary_inputs(rows.message_rows(messages, NOW, rows.text_times))
    assert fresh.normal
    for call_id, entries in fresh.by_call.items():
        assert calls.summarize_tuples(call_id, entries, normal=True) == calls.summarize_tuples(call_id, entries)


def test_a_response_without_reason_phrase_makes_a_batch_not_normal() -> None:
    messages = some(20)
    at = next(n for n, m in enumerate(messages) if m.status_code == 486)
    messages[at] = replace(messages[at], reason_phrase=None)
    fresh = rows.summary_inputs(rows.message_rows(messages, NOW, rows.text_times))
    assert not fresh.normal
    call = calls.summarize_tuples(messages[at].call_id, fresh.by_call[messages[at].call_id], fresh.normal)
    assert call.final_reason == "Busy Here"  # from sip_method, as _normal reads it


@given(st.lists(st.tuples(st.sampled_from([None, "", "INVITE"]), st.sampled_from([None, 0, 180, 486]),
                          st.sampled_from([None, "", "Ringing"]), st.sampled_from([None, START, "2025-02-01"])),
                min_size=1, max_size=6))
def test_normal_rows_only_when_normalising_changes_nothing(values: list[tuple[Any, ...]]) -> None:
    tuples = [(n, stamp, "486 Busy Here", method, code, reason, *[None] * 12)
              for n, (method, code, reason, stamp) in enumerate(values)]
    one_by_one = [calls._normal(t) for t in tuples]
    if calls.is_normal(tuples):
        assert calls.as_rows(tuples) == one_by_one == tuples
    else:
        assert one_by_one != tuples


# The C checks (_rows.c) answer as the Python ones, or leave the answer to them.
LIMITS = ((0, 3), (2, 0), (3, (1 << 63) - 1))
CELLS = st.one_of(st.none(), st.text(max_size=6), st.integers(min_value=-(1 << 70), max_value=1 << 70),
                  st.sampled_from([b"bytes", True, 2.5, -(1 << 63), (1 << 63) - 1, 1 << 63]))


def python_exceeds(table: list[tuple[Any, ...]], measure: Any) -> bool | None:
    try:
        return any(measure(filter(None, (row[i] for row in table))) > limit for i, limit in LIMITS)
    except TypeError:
        return None


@settings(max_examples=400)
@given(st.lists(st.tuples(CELLS, CELLS, CELLS, CELLS), max_size=6))
def test_the_c_checks_of_a_batch_agree_with_the_python_ones(table: list[tuple[Any, ...]]) -> None:
    if rows._C_ROWS is None:
        return
    for check, measure, kind in ((rows._C_ROWS.longer_than, rows._longest_text, str),
                                 (rows._C_ROWS.larger_than, rows._biggest_int, int)):
        answer = check(table, LIMITS)
        columns = {i for i, _ in LIMITS}
        if all(row[i] is None or type(row[i]) is kind for row in table for i in columns):
            assert answer is not None
        if answer is not None:
            assert answer == python_exceeds(table, measure)
        expected = answer if answer is not None else python_exceeds(table, measure)
        if expected is None:  # a value the check cannot measure: the same error as ever
            with pytest.raises(TypeError):
                rows._exceeds(table, LIMITS, measure)
        else:
            assert rows._exceeds(table, LIMITS, measure) == expected


# The summary inputs made in one pass in C (_rows.summary_groups) are those of the Python
# passes, or the C pass declines and the Python ones run.
WIDTH = len(rows.ROW_NAMES)
FP_AT, OFFSET_AT = rows._SOURCE_KEY


def message_row(call_id: Any, fingerprint: Any, offset: Any, fill: int) -> tuple[Any, ...]:
    row = [f"v{fill}-{i}" if i % 3 else fill for i in range(WIDTH)]
    row[rows.CALL_ID_AT], row[FP_AT], row[OFFSET_AT] = call_id, fingerprint, offset
    return tuple(row)


@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from([None, "a", "b", "c@host"]), st.sampled_from(["fp1", "fp1", "fp2"]),
                          st.one_of(st.integers(-3, 40), st.sampled_from([1 << 70, "7", None]))), max_size=12),
       st.booleans())
def test_summary_inputs_in_c_are_those_of_python(specs: list[tuple[Any, ...]], ordered: bool) -> None:
    if rows._C_ROWS is None:
        return
    if ordered:  # the usual batch: one file, offsets increasing
        specs = [(call_id, "fp1", place * 10) for place, (call_id, _, _) in enumerate(specs)]
    table = [message_row(call_id, fp, offset, n) for n, (call_id, fp, offset) in enumerate(specs)]
    stamps = [START + timedelta(seconds=n) if n % 4 else None for n in range(len(table))]
    batch = rows.MessageRows(table, stamps)
    in_c = rows.summary_inputs(batch)
    if ordered:
        assert rows._C_ROWS.summary_groups(table, stamps, rows.CALL_ID_AT, rows._SUMMARY_AT, calls.ROW_TYPE,
                                           rows._SOURCE_KEY) is not None
    with pytest.MonkeyPatch.context() as m:
        m.setattr(rows, "_C_ROWS", None)
        in_python = rows.summary_inputs(batch)
    assert in_c == in_python
    assert list(in_c.by_call) == list(in_python.by_call)  # calls in order of their first row
    for entries in in_c.by_call.values():
        assert all(type(entry) is calls.ROW_TYPE for entry in entries)
    # a parse worker's: each call's places from the same pass, those of its entries
    with_places = rows.summary_inputs(batch, places=True)
    assert with_places.by_call == in_c.by_call and with_places.normal is in_c.normal
    if with_places.places is not None:
        assert with_places.places == {c: [e.id for e in entries] for c, entries in in_c.by_call.items()}
        assert list(with_places.places) == list(in_c.by_call)
    else:
        assert not ordered  # only where the Python passes ran


def summary_row(place: int, call_id: Any, method: Any, code: Any, reason: Any) -> tuple[Any, ...]:
    row = list(message_row(call_id, "fp1", place * 10, place))
    for name, value in (("method", method), ("status_code", code), ("reason_phrase", reason)):
        row[rows.ROW_NAMES.index(name)] = value
    return tuple(row)


# Whether a batch's summary inputs are normal is checked in C as they are made: the answer of
# calls.is_normal over every row, those without a Call-ID too.
@settings(max_examples=300)
@given(st.lists(st.tuples(st.sampled_from([None, "a", "b"]), st.sampled_from([None, "", "INVITE", 0]),
                          st.sampled_from([None, 0, 180, 486]), st.sampled_from([None, "", "Ringing"]),
                          st.sampled_from([None, START, "2025-02-01 18:32:31", START.replace(tzinfo=UTC)])),
                min_size=1, max_size=8))
def test_the_normal_check_in_c_is_that_of_python(specs: list[tuple[Any, ...]]) -> None:
    if rows._C_ROWS is None:
        return
    table = [summary_row(n, call_id, method, code, reason)
             for n, (call_id, method, code, reason, _) in enumerate(specs)]
    stamps = [stamp for *_, stamp in specs]
    by_call, normal = rows._C_ROWS.summary_groups(table, stamps, rows.CALL_ID_AT, rows._SUMMARY_AT, calls.ROW_TYPE,
                                                  rows._SOURCE_KEY)
    entries = calls.as_rows((n, stamp, *rows._summary_fields(row))
                            for n, (row, stamp) in enumerate(zip(table, stamps, strict=True)))
    assert normal is calls.is_normal(entries)
    with pytest.MonkeyPatch.context() as m:
        m.setattr(rows, "_C_ROWS", None)
        assert rows.summary_inputs(rows.MessageRows(table, stamps)) == rows.SummaryInputs(by_call, normal)


def test_summary_groups_declines_rows_it_cannot_read() -> None:
    if rows._C_ROWS is None:
        return
    group = rows._C_ROWS.summary_groups
    short = [("a", "fp", 1)]
    assert group(short, [None], 0, (5,), calls.ROW_TYPE, (1, 2)) is None  # narrower than a field
    assert group([["a", "fp", 1]], [None], 0, (0,), calls.ROW_TYPE, (1, 2)) is None  # not a tuple
    with pytest.raises(ValueError, match="timestamp"):
        group(short, [], 0, (0,), calls.ROW_TYPE, (1, 2))
    with pytest.raises(ValueError, match="field"):
        group(short, [None], 0, (-1,), calls.ROW_TYPE, (1, 2))
    with pytest.raises(TypeError):
        group(short, [None], 0, (0,), dict, (1, 2))
    with pytest.raises(ValueError, match="reason phrase"):  # too few fields to tell a normal entry
        group(short, [None], 0, (0,), calls.ROW_TYPE, (1, 2))


# The rows read from the messages' slots in C (_rows.slot_rows) are those attrgetter reads,
# value for value, or the C reading declines and attrgetter reads them.
def python_rows(messages: list[SipMessage]) -> list[tuple[Any, ...]]:
    with pytest.MonkeyPatch.context() as m:
        m.setattr(rows, "_SLOT_SPECS", None)
        return rows.message_rows(messages, NOW, rows.text_times).rows


@settings(max_examples=150)
@given(st.lists(st.tuples(texts, texts, numbers, numbers, st.booleans()), min_size=1, max_size=8))
def test_rows_read_from_slots_are_those_attrgetter_reads(values: list[tuple[Any, ...]]) -> None:
    messages = some(len(values))
    for message, (call_id, user_agent, cseq, cause, noted) in zip(messages, values, strict=True):
        message.call_id, message.user_agent, message.cseq, message.q850_cause = call_id, user_agent, cseq, cause
        message.problems = ["odd"] if noted else []
    made = rows.message_rows(messages, NOW, rows.text_times).rows
    expected = python_rows(messages)
    assert made == expected
    assert [tuple(map(type, row)) for row in made] == [tuple(map(type, row)) for row in expected]


# Given the limits, slot_rows says whether a value is past one as the rows are made: the answer
# of larger_than and longer_than over the rows made, None where either leaves it to Python.
@settings(max_examples=150)
@given(st.lists(st.tuples(texts, texts, numbers, numbers, st.sampled_from([None, 7, 2.5, b"x", "7"])),
                min_size=1, max_size=8))
def test_the_limits_checked_as_slot_rows_makes_the_rows_are_those_of_the_batch_checks(
        values: list[tuple[Any, ...]]) -> None:
    if rows._C_ROWS is None or rows._SLOT_SPECS is None:
        return
    messages = some(len(values))
    for message, (call_id, user_agent, cseq, cause, odd) in zip(messages, values, strict=True):
        message.call_id, message.user_agent, message.cseq, message.q850_cause = call_id, user_agent, cseq, cause
        message.status_code = odd if message.status_code is not None else message.status_code
    read = rows._C_ROWS.slot_rows
    times, now = [None] * len(messages), "now"
    made, past = read(messages, rows._SLOT_SPECS, times, None, now, rows._INTS, rows._MESSAGE_CLIPS.limits)
    assert made == read(messages, rows._SLOT_SPECS, times, None, now)
    ints = rows._C_ROWS.larger_than(made, rows._INTS)
    texts_past = rows._C_ROWS.longer_than(made, rows._MESSAGE_CLIPS.limits)
    assert past is (None if ints is None or texts_past is None else ints or texts_past)
    assert outcome(lambda: rows.message_rows(messages, NOW, rows.text_times).rows) == outcome(
        lambda: python_rows(messages))


def outcome(make: Any) -> Any:
    """What ``make()`` gives, or the type of the error it raises."""
    try:
        return make()
    except TypeError as exc:
        return type(exc)


# The timestamps and notes read in one pass in C (_rows.stamps_of) where every timestamp is
# naive and no message has problems, else in Python: the same rows either way.
@settings(max_examples=150)
@given(st.lists(st.tuples(st.sampled_from([None, START, START.replace(tzinfo=UTC),
                                           START.replace(tzinfo=timezone(timedelta(hours=2)))]),
                          st.sampled_from([[], ["odd"], ["odd", "odder"]])), min_size=1, max_size=8))
def test_timestamps_and_notes_read_in_c_are_those_read_in_python(values: list[tuple[Any, ...]]) -> None:
    messages = some(len(values))
    for message, (stamp, problems) in zip(messages, values, strict=True):
        message.timestamp, message.problems = stamp, problems
    with pytest.MonkeyPatch.context() as m:
        m.setattr(rows, "_STAMP_SPECS", None)
        expected = rows.message_rows(messages, NOW, rows.text_times)
    made = rows.message_rows(messages, NOW, rows.text_times)
    assert made == expected
    if rows._STAMP_SPECS is not None:
        read = rows._C_ROWS.stamps_of(messages, rows._STAMP_SPECS)
        assert read == ([m.timestamp for m in messages], any(s is not None and s.tzinfo is not None for s, _ in values),
                        any(s is None for s, _ in values), any(p for _, p in values))
        unset = object.__new__(SipMessage)
        assert rows._C_ROWS.stamps_of([*messages, unset], rows._STAMP_SPECS) is None
        messages[0].timestamp = "2025-02-01 18:32:31"  # not a datetime: read in Python
        assert rows._C_ROWS.stamps_of(messages, rows._STAMP_SPECS) is None


def test_slot_rows_declines_what_it_does_not_read() -> None:
    if rows._C_ROWS is None:
        return
    assert rows._SLOT_SPECS is not None
    read = rows._C_ROWS.slot_rows
    plain = some(3)
    times, now = [None] * 3, "now"
    assert read(plain, rows._SLOT_SPECS, times, None, now) == [rows._plain(m) + (None, None, now) for m in plain]

    class Subclass(SipMessage):
        __slots__ = ()

    @dataclass_frozen_slots
    class OtherSource:
        path: str
        fingerprint: str

    subclassed = [plain[0], Subclass(**{f: getattr(plain[1], f) for f in FIELDS}), plain[2]]
    assert read(subclassed, rows._SLOT_SPECS, times, None, now) is None
    odd_source = some(3)
    odd_source[2].source = OtherSource("p", "f")  # type: ignore[assignment]
    assert read(odd_source, rows._SLOT_SPECS, times, None, now) is None
    unset = object.__new__(SipMessage)
    assert read([unset], rows._SLOT_SPECS, [None], None, now) is None
    assert read([unset], rows._SLOT_SPECS, [None], None, now, rows._INTS, rows._MESSAGE_CLIPS.limits) is None
    with pytest.raises(TypeError, match="both limits"):
        read(plain, rows._SLOT_SPECS, times, None, now, rows._INTS)
    with pytest.raises(AttributeError):  # as attrgetter fails on it
        rows.message_rows([unset], NOW, rows.text_times)
    assert read(plain, ("call_id",), times, None, now) is None  # not a member descriptor
    assert read(plain, (), times, None, now) is None
    with pytest.raises(ValueError, match="one time"):
        read(plain, rows._SLOT_SPECS, [None], None, now)
    with pytest.raises(ValueError, match="one time"):
        read(plain, rows._SLOT_SPECS, times, ["a"], now)
    # the messages of a subclass still make the rows, read by attrgetter
    assert rows.message_rows(subclassed, NOW, rows.text_times).rows == python_rows(subclassed)


TEXTS = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
VALUES = st.one_of(st.none(), st.integers(), st.binary(max_size=4), TEXTS,
                   st.sampled_from(["\udcff", "ok \udc80 then", "é\ud800", "plain"]))


@given(st.lists(st.lists(VALUES, max_size=5).map(tuple), max_size=6))
def test_encodable_tells_rows_that_bind_from_rows_that_need_cleaning(value_rows: list[tuple[Any, ...]]) -> None:
    # UTF-8 encodes every code point but the surrogates
    expected = not any(0xD800 <= ord(char) <= 0xDFFF for row in value_rows for v in row if isinstance(v, str)
                       for char in v)
    assert rows.encodable(value_rows) is expected
    assert rows.encodable(rows.sanitize(value_rows)) is True
    if rows._C_ROWS is not None:
        saved, rows._C_ROWS = rows._C_ROWS, None  # the pure-Python check agrees
        try:
            assert rows.encodable(value_rows) is expected
        finally:
            rows._C_ROWS = saved


@given(st.text(min_size=1, max_size=700), st.text(min_size=1, max_size=700), st.sampled_from([64, 512]))
def test_clipped_values_fit_and_stay_apart(a: str, b: str, limit: int) -> None:
    for value in (a, b):
        short = rows.clipped(value, limit)
        assert len(short) <= limit
        assert short == value if len(value) <= limit else short.startswith(value[:limit - 41])
    if a != b:
        assert rows.clipped(a, limit) != rows.clipped(b, limit)


def test_only_the_call_id_has_the_call_id_length() -> None:
    """The length users see in the schema for Call-IDs, and only there (the one column whose
    cut values keep their digest, ``Column.keeps_apart``)."""
    tables = (schema.MESSAGE_COLUMNS, schema.CALL_COLUMNS, schema.REJECT_COLUMNS, schema.CHECKPOINT_COLUMNS)
    assert {c.name for t in tables for c in t if c.clip == schema.CALL_ID.clip} == {"call_id"}
