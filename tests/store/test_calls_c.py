"""The call summary in C (``_calls.c``) against the Python one it mirrors."""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipparse.store import calls

pytestmark = pytest.mark.skipif(calls._C_CALLS is None, reason="the C module is not built")

START = datetime(2026, 2, 1, 12, 0, 0)
METHODS = ["INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "NOTIFY", ""]
CODES = [100, 180, 183, 200, 202, 302, 399, 401, 407, 408, 480, 486, 487, 500, 503, 600, 603, 0, -1, 199, 299, 300]
TAGS = [None, "", "a", "b", "c"]


def _row(id_: int, stamp: datetime | None, method: str | None, code: int | None, cseq: int | None,
         cseq_method: str | None, from_tag: str | None, to_tag: str | None, branch: str | None,
         direction: str | None, cause: int | None) -> tuple[Any, ...]:
    sip_method = method if code is None else f"{code} Reason"
    return (id_, stamp, sip_method, method, code, None if code is None else "Reason", cseq, cseq_method,
            "alice", "bob", "<sip:alice@h>", "<sip:bob@h>", from_tag, to_tag, branch, direction, cause, "pbx")


def _rows(offsets: st.SearchStrategy[Any] = st.integers(0, 10**8),
          ints: st.SearchStrategy[Any] = st.integers(0, 5)) -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """Rows of one Call-ID: requests and responses, of every kind the rules tell apart."""
    row = st.builds(
        _row, st.integers(0, 10**6),
        st.one_of(st.none(), offsets.map(lambda us: START + timedelta(microseconds=us))),
        st.one_of(st.none(), st.sampled_from(METHODS)),
        st.one_of(st.none(), st.sampled_from(CODES)),
        st.one_of(st.none(), ints),
        st.one_of(st.none(), st.sampled_from(METHODS)),
        st.sampled_from(TAGS), st.sampled_from(TAGS),
        st.sampled_from([None, "z9hG4bK1", "z9hG4bK2"]),
        st.sampled_from([None, "in", "out"]),
        st.one_of(st.none(), st.integers(0, 127)),
    )
    return st.lists(row, min_size=1, max_size=12)


def _fields(summary: calls.CallSummary) -> list[Any]:
    return [getattr(summary, f.name) for f in fields(summary)]


def _both(call_id: str, rows: list[tuple[Any, ...]]) -> tuple[Any, list[Any]]:
    """What C answers for the ordered rows (None: declined) and the Python summary."""
    ordered = calls.normalized(rows)
    calls._order(ordered)
    return calls._C_CALLS.summarize(call_id, ordered), _fields(calls._summarize_ordered(call_id, ordered))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_rows())
def test_c_summary_equals_the_python_one(rows: list[tuple[Any, ...]]) -> None:
    _assert_c_equals_python("c1", rows)


def _assert_c_equals_python(call_id: str, rows: list[tuple[Any, ...]]) -> None:
    """The C summary of ``rows`` is the Python one, value for value and type for type."""
    made, expected = _both(call_id, rows)
    assert made is not None
    assert list(made) == expected
    assert [type(v) for v in made] == [type(v) for v in expected]


def _invite_rows() -> st.SearchStrategy[list[tuple[Any, ...]]]:
    """Rows of INVITE dialogs: initial INVITEs (no To tag) and re-INVITEs, their provisional,
    challenge and final responses, CANCEL and BYE, few CSeqs: the post-dial delay's cases."""
    def rows(methods: st.SearchStrategy[Any], codes: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
        return st.builds(
            _row, st.integers(0, 10**6),
            st.one_of(st.none(), st.integers(0, 10**7).map(lambda us: START + timedelta(microseconds=us))),
            methods, codes, st.sampled_from([None, 1, 1, 2, 3]),
            st.sampled_from(["INVITE", "INVITE", "CANCEL", "BYE"]),
            st.sampled_from(["a", "b"]), st.sampled_from([None, None, "a", "b"]),
            st.sampled_from(["z9hG4bK1", "z9hG4bK2"]), st.sampled_from(["in", "out"]),
            st.one_of(st.none(), st.integers(0, 127)),
        )
    requests = rows(st.sampled_from(["INVITE", "INVITE", "ACK", "CANCEL", "BYE"]), st.none())
    responses = rows(st.none(), st.sampled_from([100, 180, 183, 200, 401, 407, 486, 487]))
    return st.lists(st.one_of(requests, responses), min_size=1, max_size=12)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_invite_rows())
def test_c_summary_of_invite_dialogs_equals_the_python_one(rows: list[tuple[Any, ...]]) -> None:
    """Calls, with the post-dial delay's cases (Trying, ringing, challenges) weighted in."""
    _assert_c_equals_python("c3", rows)


@settings(max_examples=300, deadline=None)
@given(_rows(offsets=st.integers(-(10**16), 10**16), ints=st.integers(-(2**70), 2**70)))
def test_c_summary_declines_or_equals_on_extreme_values(rows: list[tuple[Any, ...]]) -> None:
    """Times centuries apart and integers past 64 bits: C answers the same or leaves it to Python."""
    made, expected = _both("c2", rows)
    if made is not None:
        assert list(made) == expected


def test_many_rows_count_retransmissions_with_a_set() -> None:
    """Past the pairwise limit the retransmissions are counted as Python counts them."""
    rows = [_row(n, START + timedelta(seconds=n), "REGISTER", None, n % 50, "REGISTER", "a", None,
                 "z9hG4bK1", "in", None) for n in range(200)]
    made, expected = _both("reg", rows)
    assert made is not None and list(made) == expected
    assert made[17] == 150


def test_summarize_tuples_uses_c_and_python_alike(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        _row(1, START, "INVITE", None, 1, "INVITE", "a", None, "b1", "in", None),
        _row(2, START + timedelta(milliseconds=5), None, 100, 1, "INVITE", "a", None, "b1", "out", None),
        _row(3, START + timedelta(seconds=2, microseconds=1500), None, 200, 1, "INVITE", "a", "b", "b1", "out", None),
        _row(4, START + timedelta(seconds=62, microseconds=7), "BYE", None, 2, "BYE", "b", "a", "b2", "out", 16),
    ]
    with_c = calls.summarize_tuples("x", rows)
    monkeypatch.setattr(calls, "_C_CALLS", None)
    assert with_c == calls.summarize_tuples("x", rows)
    assert (with_c.state, with_c.setup_ms, with_c.duration_s, with_c.hangup_by, with_c.q850_cause) == (
        "completed", 2002, 59.998507, "callee", 16)


@pytest.mark.parametrize("rows", [
    [(1, START.replace(tzinfo=UTC), "INVITE", "INVITE", None, None, 1, "INVITE")],  # aware time
    [(1, "2026-02-01 12:00:00", "INVITE", "INVITE", None, None, 1, "INVITE")],  # time as text
    [(1, START, "INVITE", b"INVITE", None, None, 1, "INVITE")],  # method as bytes
    [(1, START, "200 OK", None, "200", "OK", 1, "INVITE")],  # code as text
    [(1, START, "INVITE", "INVITE", None, None, 1)],  # too few columns
])
def test_rows_it_does_not_decide_are_declined(rows: list[tuple[Any, ...]]) -> None:
    padded = [row + (None,) * (len(calls.INPUT_COLUMNS) - len(row)) if len(row) == 8 else row for row in rows]
    assert calls._C_CALLS.summarize("d", padded) is None


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(TypeError):
        calls._C_CALLS.summarize("x", ())
    with pytest.raises(TypeError):
        calls._C_CALLS.summarize("x")
    assert calls._C_CALLS.summarize("x", []) is None


# The C look at whether a call's rows are in log order already (``in_log_order``) leaves them as
# the sort by (timestamp, host, id) does, in order or not, whatever is missing.
@settings(max_examples=400)
@given(st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 4)),
                          st.one_of(st.none(), st.integers(0, 3).map(lambda s: START + timedelta(seconds=s))),
                          st.sampled_from([None, "pbx-a", "pbx-b"])), max_size=8),
       st.booleans())
def test_rows_in_log_order_are_left_as_the_sort_leaves_them(keys: list[tuple[Any, ...]], presorted: bool) -> None:
    rows = [calls.ROW_TYPE(id_, stamp, None, "INVITE", None, None, place, "INVITE", *[None] * 9, host)
            for place, (id_, stamp, host) in enumerate(keys)]
    if presorted:
        rows.sort(key=calls._order_key)
    ordered = list(rows)
    calls._order(ordered)
    assert [r.cseq for r in ordered] == [r.cseq for r in sorted(rows, key=calls._order_key)]
    complete = all(r.timestamp and r.host is not None and r.id is not None for r in rows)
    answer = calls._C_CALLS.in_log_order(rows)
    assert answer is (None if not complete else [r.cseq for r in ordered] == [r.cseq for r in rows])
