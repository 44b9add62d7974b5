"""The C writer of LOAD DATA's rows (``_tsv.c``) gives what the Python version gives.

``mysql._load_data_rows_py`` is the specification: for any rows the C version must return
the same bytes, the same None (a column it does not write) or raise the same exception
(text that is not UTF-8, rows of different lengths). Random columns of every type the load
writes, columns it does not, columns mixing types, and real rows are compared.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import namedtuple
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipparse.store import rows as store_rows
from sipparse.store.mysql import _load_data_rows_py
from sipparse.store.rows import naive_times, utc_naive
from tests.logs.helpers import DATA, parse_bytes

_tsv = pytest.importorskip("sipparse.store._tsv")

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2025, 2, 1, 18, 32, 31, 250)
Rows = Sequence[Sequence[Any]]


def outcome(function: Callable[[Rows], bytes | None], rows: Rows) -> Any:
    """What ``function`` gives for ``rows``: its value, or its exception's type and arguments."""
    try:
        return function(rows)
    except Exception as exc:
        return type(exc), exc.args


def assert_same(rows: Rows) -> Any:
    expected = outcome(_load_data_rows_py, rows)
    assert outcome(_tsv.load_data_rows, rows) == expected
    return expected


class Text(str):
    pass


class Number(int):
    pass


class Moment(datetime):
    pass


Pair = namedtuple("Pair", "number text")


class Boom:
    """A value whose comparison fails: the Python version compares values (``count``)."""

    def __eq__(self, other: object) -> bool:
        raise RuntimeError("compared")

    __hash__ = object.__hash__


class EqualsAll:
    """Equal to anything, None included."""

    def __eq__(self, other: object) -> bool:
        return True

    __hash__ = object.__hash__


SPECIAL_CHARS = st.sampled_from(["\t", "\n", "\\", "\0", "\r", "N", "é", "€", "\U0001f600", "x"])
TEXTS = st.text(st.one_of(SPECIAL_CHARS, st.characters(exclude_categories=("Cs",))), max_size=40)
LONG_TEXTS = st.text(st.one_of(SPECIAL_CHARS, st.sampled_from("abc;=:/ ")), min_size=16, max_size=300)
SURROGATE_TEXTS = st.builds(lambda a, s, b: a + s + b, TEXTS, st.sampled_from(["\ud800", "\udcff", "\udfff\ud800"]),
                            TEXTS)
BLOBS = st.one_of(
    st.binary(max_size=64),
    st.lists(st.sampled_from([b"\t", b"\n", b"\\", b"\0", b"\r\n", b"\xff", b"\xc3\x28", b"abcdefgh", b"N"]),
             max_size=60).map(b"".join),
)
INTS = st.one_of(
    st.integers(),
    st.integers(-(1 << 63), (1 << 63) - 1),
    st.sampled_from([0, -1, (1 << 63) - 1, -(1 << 63), 1 << 63, -(1 << 63) - 1, 1 << 64, 10**40, -(10**40)]),
)
STAMPS = st.one_of(st.datetimes(), st.datetimes().map(lambda d: d.replace(microsecond=0)))
ODD_VALUES = st.sampled_from([
    True, False, 1.5, float("nan"), 0.0, Decimal("1"), Text("x"), Number(3), bytearray(b"x\t"), memoryview(b"m"),
    date(2020, 1, 2), Moment(2020, 1, 2), datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC), timedelta(seconds=1), [1], (),
])
WRITTEN = {
    "text": st.one_of(TEXTS, TEXTS, LONG_TEXTS, SURROGATE_TEXTS),
    "ascii": st.text(st.sampled_from("ab\t\n\\\0 "), max_size=30),
    "bytes": BLOBS,
    "int": INTS,
    "datetime": STAMPS,
}
ANY_VALUE = st.one_of(*WRITTEN.values(), ODD_VALUES, st.none())


@st.composite
def columns(draw: st.DrawFn, rows_count: int) -> list[Any]:
    """A column as batches hold them: of one type with NULLs, one value repeated (the same
    object), of several types, or of a type the load does not write."""
    shape = draw(st.sampled_from(["typed", "typed", "typed", "repeated", "mixed", "odd"]))
    if shape == "repeated":
        return [draw(ANY_VALUE)] * rows_count
    if shape == "mixed":
        values = ANY_VALUE
    elif shape == "odd":
        values = st.one_of(ODD_VALUES, draw(st.sampled_from(list(WRITTEN.values()))))
    else:
        values = draw(st.sampled_from(list(WRITTEN.values())))
    nulls = draw(st.sampled_from([0.0, 0.3, 0.9]))
    return draw(st.lists(st.one_of(st.none(), values) if nulls else values,
                         min_size=rows_count, max_size=rows_count))


@st.composite
def tables(draw: st.DrawFn) -> list[tuple[Any, ...]]:
    rows_count = draw(st.integers(1, 12))
    width = draw(st.integers(1, 6))
    return list(zip(*[draw(columns(rows_count)) for _ in range(width)], strict=True))


@settings(max_examples=600, deadline=None)
@given(tables())
def test_random_rows_give_what_python_gives(rows: list[tuple[Any, ...]]) -> None:
    assert_same(rows)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(list(WRITTEN)), st.integers(1, 40), min_size=1), st.data())
def test_columns_of_written_types_give_what_python_gives(widths: dict[str, int], data: st.DataObject) -> None:
    """Only types the load writes (and NULLs): the text, unless a lone surrogate is in it."""
    rows_count = data.draw(st.integers(1, 40))
    built = [data.draw(st.lists(st.none() | WRITTEN[kind], min_size=rows_count, max_size=rows_count))
             for kind, _ in widths.items()]
    assert_same(list(zip(*built, strict=True)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.none(), TEXTS, BLOBS, INTS, STAMPS), min_size=1, max_size=8), st.integers(1, 30))
def test_rows_of_one_shape_give_what_python_gives(template: list[Any], rows_count: int) -> None:
    """Every row the same, as log batches nearly are: each column one value repeated."""
    assert_same([tuple(template)] * rows_count)
    assert_same([tuple(template) for _ in range(rows_count)])


@pytest.mark.parametrize("rows", [
    [], [()], [(), ()], [(None,)], [(None,), (None,)], [("",)], [(b"",)],
    [(1, "a", b"b", datetime(2025, 1, 2, 3, 4, 5), None)],
    [(datetime(1, 1, 1),), (datetime(9999, 12, 31, 23, 59, 59, 999999),), (datetime(2025, 1, 1, 0, 0, 0, 1),)],
    [(-(1 << 63),), ((1 << 63) - 1,), (1 << 63,), (-(1 << 63) - 1,), (10**100,), (0,), (-7,)],
    [("a\tb\nc\\d\0e",), (b"a\tb\nc\\d\0e\xff",)],
    [("\\N",), ("NULL",), (None,)],
    [("x" * 1000 + "\n",), ("é" * 999 + "\t",)],
])
def test_chosen_rows(rows: list[tuple[Any, ...]]) -> None:
    assert_same(rows)


def test_no_rows_and_no_columns_give_one_line_end() -> None:
    assert assert_same([]) == b"\n"
    assert assert_same([(), (), ()]) == b"\n"


def test_escapes_and_nulls() -> None:
    assert assert_same([("a\tb", b"\\\n\0", None, 5, datetime(2025, 1, 2, 3, 4, 5, 60))]) == (
        b"a\\tb\t\\\\\\n\\0\t\\N\t5\t2025-01-02 03:04:05.000060\n")


@pytest.mark.parametrize("rows", [
    [(1, 2), (1,)], [(1,), (1, 2)], [(1, 2, 3), (1, 2), (1,)], [(1, 2), (1, 2), (1, 2, 3)],
    [(1,), ()], [(), (1,)], [("a", "b"), ("a",), ("a", "b", "c")],
])
def test_rows_of_different_lengths_raise_what_zip_raises(rows: list[tuple[Any, ...]]) -> None:
    error, _ = assert_same(rows)
    assert error is ValueError


def test_rows_of_different_lengths_end_at_the_first_column_that_ends_python() -> None:
    assert assert_same([(1.5, 2), (1.5,)]) is None  # the float column, before zip's check
    error, _ = assert_same([("\ud800", 2), ("a",)])
    assert error is UnicodeEncodeError


@pytest.mark.parametrize("column", [
    (1, True, 1), (1, 1.0, 1), (0, False, Decimal(0), 0), ("a", Text("a"), "a"), (b"a", bytearray(b"a"), b"a"),
    (datetime(2025, 1, 1), Moment(2025, 1, 1), datetime(2025, 1, 1)), (True, 1, True), (None, None),
])
def test_a_repeated_value_speaks_for_the_values_equal_to_it(column: tuple[Any, ...]) -> None:
    """The Python version's test for one value repeated compares with ``==``: a True among
    equal 1s is written as the 1 (and a column repeating a bool is not written at all)."""
    first = column[0]
    rows = [(first,)] + [(value,) for value in column[1:-1]] + [(first,)]
    assert_same(rows)


@pytest.mark.parametrize("column", [
    ("a", 1), (1, "a"), (b"a", "a"), (1, True), (True, 1, False), (1.5,), (Decimal(1),), (Text("a"),),
    (Number(1),), (bytearray(b"a"),), (date(2020, 1, 1),), (Moment(2020, 1, 1),), (None, 1.5, None),
    ("a", None, b"b"), (datetime(2020, 1, 1), date(2020, 1, 1)),
])
def test_columns_the_load_does_not_write_give_none(column: tuple[Any, ...]) -> None:
    assert assert_same([(value,) for value in column]) is None


def test_aware_datetimes_are_written_with_their_offset() -> None:
    east = timezone(timedelta(hours=5, minutes=30))
    stamps = [datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), datetime(2025, 1, 2, 3, 4, 5, 7, tzinfo=east), None]
    assert assert_same([(stamp,) for stamp in stamps]) == (
        b"2025-01-02 03:04:05+00:00\n2025-01-02 03:04:05.000007+05:30\n\\N\n")


def test_lone_surrogates_raise_the_error_python_raises() -> None:
    for rows in ([("ok",), ("a\tb\ud800c",)], [("\udcff",)], [("a", 1.5), ("b\ud800", 2.5)],
                 [("fine", "\ud800"), ("fine", "x")], [("\ud800",)] * 3, [("x", "\ud800"), ("\udcff", "y")]):
        error, _ = assert_same(rows)
        assert error is UnicodeEncodeError


def test_a_later_column_the_load_does_not_write_hides_no_earlier_error() -> None:
    error, _ = assert_same([("\ud800", 1.5)])
    assert error is UnicodeEncodeError
    assert assert_same([(1.5, "\ud800")]) is None


def test_too_many_digits_raise_what_python_raises() -> None:
    error, _ = assert_same([(10**5000,)])
    assert error is ValueError


def test_failing_comparisons_raise_in_python_order() -> None:
    assert assert_same([(Boom(),)]) == (RuntimeError, ("compared",))
    boom = Boom()
    assert assert_same([(boom,), (1,), (boom,)]) == (RuntimeError, ("compared",))
    assert assert_same([("a", boom), ("b", None)]) == (RuntimeError, ("compared",))
    error, _ = assert_same([("\ud800", Boom())])
    assert error is UnicodeEncodeError
    assert assert_same([(1.5, Boom())]) is None
    assert assert_same([(EqualsAll(),), (None,)]) is None
    anything = EqualsAll()
    assert assert_same([("text",), (anything,), ("text",)]) == b"text\ntext\ntext\n"


def test_rows_that_are_not_tuples_are_read_as_zip_reads_them() -> None:
    assert assert_same([[1, "a"], [2, "b"]]) == b"1\ta\n2\tb\n"
    assert assert_same(([1, "a"], (2, "b"))) == b"1\ta\n2\tb\n"
    assert assert_same(["ab", "cd"]) == b"a\tb\nc\td\n"
    assert assert_same([Pair(1, "a"), (2, "b")]) == b"1\ta\n2\tb\n"
    assert _tsv.load_data_rows(iter([(1, "a"), (2, "b")])) == b"1\ta\n2\tb\n"
    error, _ = assert_same([1, 2])
    assert error is TypeError
    error, _ = assert_same(5)
    assert error is TypeError


class Reentrant(tzinfo):
    """A zone whose offset is computed by writing other rows: the C version is called again
    while it writes (its kept buffer must not be shared)."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        _tsv.load_data_rows([("inner\t" * 50, 1)] * 50)
        return timedelta(hours=1)

    def dst(self, dt: datetime | None) -> timedelta:
        return timedelta(0)


def test_a_call_made_while_writing_gets_its_own_buffer() -> None:
    rows = [("outer" * 40, datetime(2025, 1, 1, 0, 0, n, tzinfo=Reentrant())) for n in range(20)]
    assert assert_same(rows) is not None


def test_large_batches() -> None:
    rows = [(b"\x01\n" * 4000 + bytes([n % 256]), "t\t" * 2000, n) for n in range(3000)]  # some 24 MB
    assert assert_same(rows)[-20:] == _load_data_rows_py(rows[-1:])[-20:]
    assert assert_same(rows[:10]) is not None  # after a buffer too large to keep


def real_rows() -> list[tuple[Any, ...]]:
    messages = parse_bytes((DATA / "pjsip-full.log").read_bytes(), final=True)[0]
    return store_rows.message_rows(messages, NOW, naive_times).rows


@pytest.mark.parametrize("size", [1, 7, 100, 500, 10_000])
def test_real_rows_give_what_python_gives(size: int) -> None:
    rows = real_rows()
    assert len(rows) > 300 and len(rows[0]) == len(store_rows.ROW_NAMES)
    for start in range(0, len(rows), size):
        assert isinstance(assert_same(rows[start:start + size]), bytes)


def test_hostile_rows_give_what_python_gives() -> None:
    """The batches the MySQL load test stores: NUL, tabs, backslashes, invalid UTF-8, emoji,
    big integers, microseconds, a host of escapes repeated in every row."""
    from tests.store.test_mysql_load import hostile_batches

    for messages, rejects in hostile_batches():
        assert isinstance(assert_same(store_rows.message_rows(messages, NOW, naive_times).rows), bytes)
        assert isinstance(assert_same(store_rows.reject_rows(rejects, NOW, utc_naive)), bytes)


def test_the_c_version_is_used_unless_pure_python_is_asked_for() -> None:
    check = "from sipparse.store import mysql; print(mysql.load_data_rows is mysql._load_data_rows_py)"
    for value, pure in (("", "False"), ("0", "False"), ("1", "True")):
        env = {**os.environ, "SIPPARSE_PURE_PYTHON": value}
        found = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True,
                               check=True)
        assert found.stdout.strip() == pure
