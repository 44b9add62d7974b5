"""SQLite's numbers of calls (``schema.CALL_REF``): one per call, given in the order calls are
first stored, carried by every message row of the call, and what its messages are found by."""

from __future__ import annotations

import pickle
from datetime import datetime
from pathlib import Path

from sipparse.query.show import fetch_messages
from sipparse.sip.message import Source
from sipparse.store import open_store
from sipparse.store.call_cache import CallCache
from tests.store.factory import completed_call, mixed_traffic
from tests.store.helpers import calls_table, refs_agree

SOURCE = Source("/var/log/asterisk/pjsip", "fp-refs")
OTHER = Source("/var/log/asterisk/pjsip.b", "fp-refs-b")
START = datetime(2025, 5, 1, 9, 0, 0)


def numbers(url: str) -> dict[str, int]:
    with open_store(url) as store:
        return {r["call_id"]: r["call_ref"] for r in store.fetchall("SELECT call_id, call_ref FROM calls")}


def first_seen_order(messages: list) -> list[str]:
    return list(dict.fromkeys(m.call_id for m in messages))


def test_calls_are_numbered_in_the_order_they_are_first_stored(sqlite_url: str) -> None:
    traffic = mixed_traffic(SOURCE, 40, START)
    with open_store(sqlite_url) as store:
        for start in range(0, len(traffic), 25):  # calls go on across batches
            store.write_batch(traffic[start:start + 25])
        assert refs_agree(store)
    found = numbers(sqlite_url)
    assert [found[c] for c in first_seen_order(traffic)] == list(range(1, 41))


def test_a_call_keeps_its_number_in_later_runs_and_new_calls_follow(sqlite_url: str) -> None:
    first = completed_call("a@x", SOURCE, START).messages
    with open_store(sqlite_url) as store:
        store.write_batch(first[:3])
    with open_store(sqlite_url) as store:  # the call goes on in the next run, and another begins
        store.write_batch(first[3:] + completed_call("b@x", SOURCE, START, offset=10_000).messages)
        assert refs_agree(store)
        assert calls_table(store)[0]["message_count"] == 7
    assert numbers(sqlite_url) == {"a@x": 1, "b@x": 2}


def test_two_writers_in_turn_never_give_one_number_twice(sqlite_url: str) -> None:
    """Two ingests of two files into one database: each transaction numbers from what is
    committed, so the calls of both get numbers of their own, and shared calls one."""
    ours, theirs = mixed_traffic(SOURCE, 30, START, domain="shared"), mixed_traffic(OTHER, 30, START, domain="b")
    theirs += mixed_traffic(OTHER, 10, START, domain="shared")  # the calls both hosts log
    with open_store(sqlite_url) as one, open_store(sqlite_url) as two:
        for start in range(0, max(len(ours), len(theirs)), 20):
            one.write_batch(ours[start:start + 20])
            two.write_batch(theirs[start:start + 20])
        assert refs_agree(one)
        assert len(calls_table(one)) == 60


def test_a_batch_from_a_parse_worker_carries_the_numbers(sqlite_url: str) -> None:
    traffic = mixed_traffic(SOURCE, 30, START)
    with open_store(sqlite_url) as store:
        for start in range(0, len(traffic), 40):
            shipped = pickle.loads(pickle.dumps(store.prepare_batch(traffic[start:start + 40], calls_ahead=True)))
            store.write_prepared(shipped)
        assert refs_agree(store)


def test_a_call_sharing_its_number_with_another_is_still_read_alone(sqlite_url: str) -> None:
    """A number given twice (as a purge of the newest calls could let happen) costs a look at
    the other call's rows, never a row of it in this one's."""
    a, b = completed_call("a@x", SOURCE, START), completed_call("b@x", SOURCE, START, offset=10_000)
    with open_store(sqlite_url) as store:
        store.write_batch(a.messages[:4] + b.messages)
        store.execute("UPDATE calls SET call_ref = 1")
        store.execute("UPDATE sip_transactions SET call_ref = 1")
        store.commit()
        store._call_cache = CallCache(max_rows=0)  # read every call back
        store.write_batch(a.messages[4:])
        store.refresh_calls(["a@x", "b@x"])  # both read back at once
        calls = {c["call_id"]: c for c in store.fetchall("SELECT * FROM calls")}
        assert (calls["a@x"]["message_count"], calls["a@x"]["state"]) == (7, "completed")
        assert calls["b@x"]["message_count"] == 7
        assert {m["call_id"] for m in fetch_messages(store, ["a@x"])} == {"a@x"}
        assert len(fetch_messages(store, ["a@x", "b@x"])) == 14


def test_messages_are_found_by_the_number_not_by_a_scan(sqlite_url: str, tmp_path: Path) -> None:
    with open_store(sqlite_url) as store:
        store.write_batch(completed_call("a@x", SOURCE, START).messages)
        plan = store.query("EXPLAIN QUERY PLAN SELECT call_id FROM sip_transactions WHERE call_ref IN "
                           "(SELECT call_ref FROM calls WHERE call_id IN (?)) AND call_id IN (?)", ("a@x", "a@x"))
        assert any("ix_sip_transactions_call_ref" in str(step) for step in plan)
        assert not any("SCAN sip_transactions" in str(step) for step in plan)
