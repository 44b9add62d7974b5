"""Calls a parse worker summarises from its rows of earlier batches (``CallsAhead``), taken
by the storing process only when ``CallCache.continues`` says the database holds exactly
those rows: the ``calls`` table is the one its stored rows give, whoever else writes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from sipparse.sip.message import SipMessage, Source
from sipparse.store import Store, calls, open_store
from sipparse.store.call_cache import CallCache, CallsAhead
from tests.store.factory import mixed_traffic
from tests.store.helpers import calls_table

SOURCE = Source("/var/log/asterisk/pjsip", "fp-ahead")
OTHER = Source("/var/log/asterisk/pjsip", "fp-ahead-other-host")
START = datetime(2025, 2, 1, 18, 32, 31)
SIZES = (3, 5, 2, 7, 4)


def in_batches(messages: list[SipMessage]) -> Iterator[list[SipMessage]]:
    start, n = 0, 0
    while start < len(messages):
        size = SIZES[n % len(SIZES)]
        yield messages[start:start + size]
        start, n = start + size, n + 1


@pytest.fixture
def taken(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Call-IDs whose worker summary the storing process took."""
    found: list[str] = []
    real = CallCache.continues

    def continues(self: CallCache, call_id: str, version: Any, earlier_rows: int) -> bool:
        answer = real(self, call_id, version, earlier_rows)
        if answer:
            found.append(call_id)
        return answer

    monkeypatch.setattr(CallCache, "continues", continues)
    return found


def store_ahead(main: Store, worker: Store, batch: list[SipMessage]) -> None:
    """What ingest --workers does with a batch: prepared in the worker, stored by the main."""
    main.write_prepared(worker.prepare_batch(batch, [], [], calls_ahead=True))


def as_summarised_from_rows(store: Store) -> list[dict[str, Any]]:
    """The calls table as every call's stored rows give it."""
    ids = [r["call_id"] for r in store.fetchall("SELECT call_id FROM calls")]
    store.refresh_calls(ids)
    return calls_table(store)


def test_a_worker_run_stores_the_calls_its_rows_give(db_url: str, taken: list[str]) -> None:
    messages = mixed_traffic(SOURCE, 40, START)
    with open_store(db_url) as main, open_store(db_url) as worker:
        for batch in in_batches(messages):
            store_ahead(main, worker, batch)
        stored = calls_table(main)
        assert stored == as_summarised_from_rows(main)
    assert len(set(taken)) > 10  # the worker's summaries were taken, for many calls


def test_another_writer_between_batches_is_noticed(db_url: str, taken: list[str]) -> None:
    """A second host logs the same calls: their rows change under the worker's feet."""
    ours = mixed_traffic(SOURCE, 30, START, domain="shared")
    theirs = mixed_traffic(OTHER, 30, START, domain="shared")
    with open_store(db_url) as main, open_store(db_url) as worker, open_store(db_url) as other:
        for n, batch in enumerate(in_batches(ours)):
            store_ahead(main, worker, batch)
            if n % 3 == 1:
                other.write_batch(theirs[n * 4:(n + 1) * 4])
        other.write_batch(theirs[(n + 1) * 4:])
        assert calls_table(main) == as_summarised_from_rows(main)


def test_calls_begun_in_an_earlier_run(db_url: str, taken: list[str]) -> None:
    messages = mixed_traffic(SOURCE, 30, START)
    half = len(messages) // 2
    with open_store(db_url) as main:
        main.write_batch(messages[:half])
    with open_store(db_url) as main, open_store(db_url) as worker:  # the next run
        for batch in in_batches(messages[half:]):
            store_ahead(main, worker, batch)
        assert calls_table(main) == as_summarised_from_rows(main)


def test_a_batch_left_to_the_storing_process(db_url: str, taken: list[str]) -> None:
    """The worker leaves every third batch to the storing process (it waited for work)."""
    messages = mixed_traffic(SOURCE, 40, START)
    with open_store(db_url) as main, open_store(db_url) as worker:
        for n, batch in enumerate(in_batches(messages)):
            if n % 3 == 2:
                main.write_prepared(main.prepare_batch(batch, [], []))
            else:
                store_ahead(main, worker, batch)
        assert calls_table(main) == as_summarised_from_rows(main)
    assert taken


def test_a_batch_stored_twice(db_url: str, taken: list[str]) -> None:
    """Rows already stored (a run after a crash): the calls of that batch are read back."""
    messages = mixed_traffic(SOURCE, 30, START)
    batches = list(in_batches(messages))
    with open_store(db_url) as main, open_store(db_url) as worker:
        for n, batch in enumerate(batches):
            store_ahead(main, worker, batch)
            if n % 4 == 3:
                store_ahead(main, worker, batches[n - 1] + batch)
        assert calls_table(main) == as_summarised_from_rows(main)


def rows_of(call_id: str, stamps: list[datetime | None]) -> list[Any]:
    """A call's summary inputs: an INVITE, then 100 Trying (the call stays open)."""
    return [calls.ROW_TYPE(n, stamp, "INVITE" if n == 0 else "100 Trying", "INVITE" if n == 0 else None,
                           None if n == 0 else 100, None if n == 0 else "Trying", 1, "INVITE", "alice", "bob",
                           f"<sip:alice@{call_id}>", "<sip:bob@pbx>", "t1", None, f"z9hG4bK{n}", "in", None, "pbx")
            for n, stamp in enumerate(stamps)]


def test_calls_ahead_keeps_open_calls_within_its_bound() -> None:
    ahead = CallsAhead(max_rows=4)
    first = {"a": rows_of("a", [START, START]), "b": rows_of("b", [START])}
    summaries, continued = ahead.summaries(first, True, 3)
    assert [s.message_count for s in summaries] == [2, 1] and continued == {}
    summaries, continued = ahead.summaries({"a": rows_of("a", [START])}, True, 1)
    assert continued == {"a": 2} and summaries[0].message_count == 3
    summaries, continued = ahead.summaries({"c": rows_of("c", [START, START])}, True, 2)
    assert len(ahead) == 1  # a (3 rows) and c (2) are more than 4: the oldest, a, goes
    summaries, continued = ahead.summaries({"a": rows_of("a", [START])}, True, 1)
    assert continued == {} and summaries[0].message_count == 1
    summaries, continued = ahead.summaries({"c": rows_of("c", [START])}, False, 1)
    assert continued == {} and summaries[0].message_count == 1  # rows it cannot keep: c starts again
    summaries, continued = ahead.summaries({"c": rows_of("c", [START])}, True, 1)
    assert continued == {}
