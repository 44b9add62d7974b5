"""Several writers into one database: no lost or duplicated rows, calls kept exact."""

from __future__ import annotations

import multiprocessing
import random
import threading
import time
from datetime import datetime
from typing import Any

import pytest

from sipparse.sip.message import Source
from sipparse.store import WriteResult, open_store, schema, summarize
from sipparse.store.calls import INPUT_COLUMNS
from tests.store.factory import mixed_traffic
from tests.store.helpers import calls_table, count, message_keys

START = datetime(2025, 2, 1, 18, 32, 31)
CALLS = 120


def traffic(host: str, calls: int = CALLS) -> list:  # type: ignore[type-arg]
    """What one Asterisk host logged: the same calls as the other host, from its own file."""
    source = Source(f"/var/log/{host}/pjsip", f"fp-{host}")
    return mixed_traffic(source, calls, START, host=host, domain="shared")


def write_overlapping(url: str, host: str, seed: int, go: Any, calls: int = CALLS) -> int:
    """Write the host's messages in random overlapping batches, then all of them again backwards.

    Returns how many transactions had to be run again (deadlocks, lock wait timeouts).
    """
    messages = traffic(host, calls)
    rng = random.Random(seed)
    with open_store(url) as store:
        go.wait(30)
        position = 0
        while position < len(messages):
            size = rng.randint(5, 60)
            store.write_batch(messages[max(0, position - rng.randint(0, 10)) : position + size])
            position += size
        for end in range(len(messages), 0, -40):
            store.write_batch(messages[max(0, end - 50) : end])
        return store.retries


def run_writers(url: str) -> None:
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    workers = [context.Process(target=write_overlapping, args=(url, h, n, go)) for n, h in enumerate("ab")]
    for worker in workers:
        worker.start()
    time.sleep(1.0)  # both have imported and connected: let them start together
    go.set()
    for worker in workers:
        worker.join(timeout=240)
    assert [w.exitcode for w in workers] == [0, 0]


@pytest.mark.slow
def test_two_processes_write_overlapping_batches(db_url: str) -> None:
    open_store(db_url).close()  # the schema exists before the race starts
    run_writers(db_url)
    expected_keys = sorted((m.source.fingerprint, m.offset) for host in "ab" for m in traffic(host))
    with open_store(db_url) as store:
        assert message_keys(store) == expected_keys
        assert count(store, "sip_transactions") == len(expected_keys)
        stored = calls_table(store)
        columns = ", ".join(INPUT_COLUMNS)
        rows = store.fetchall(f"SELECT call_id, {columns} FROM sip_transactions ORDER BY id")
    grouped: dict[str, list[dict[str, object]]] = {}
    for row in rows:
        grouped.setdefault(row.pop("call_id"), []).append(row)
    recomputed = [summarize(call_id, grouped[call_id]) for call_id in sorted(grouped)]
    assert len(stored) == CALLS
    assert [c["message_count"] for c in stored] == [s.message_count for s in recomputed]
    assert [(c["state"], c["final_status"], c["retransmissions"]) for c in stored] == [
        (s.state, s.final_status, s.retransmissions) for s in recomputed
    ]
    hosts = {r["host"] for r in store_hosts(db_url)}
    assert hosts == {"a", "b"}


def test_the_calls_of_two_hosts_do_not_depend_on_which_was_stored_first(db_url: str, sqlite_url: str) -> None:
    """Both hosts log each call in the same seconds; whichever host's cron job runs first
    (or wins a race), every calls row, its host and direction included, comes out the same."""
    other = sqlite_url.replace("test.db", "other.db")
    for url, hosts in ((db_url, "ab"), (other, "ba")):
        with open_store(url) as store:
            for host in hosts:
                store.write_batch(traffic(host, 24))
    with open_store(db_url) as first, open_store(other) as second:
        assert calls_table(first) == calls_table(second)
        assert {c["host"] for c in calls_table(first)} == {"a"}


def store_hosts(url: str) -> list[dict[str, object]]:
    with open_store(url) as store:
        return store.fetchall("SELECT DISTINCT host FROM sip_transactions")


@pytest.mark.mysql
def test_deadlock_victim_batch_is_run_again(mysql_url: str) -> None:
    """Force InnoDB to pick a batch as deadlock victim: the batch is rolled back and rerun whole."""
    source = Source("/var/log/pjsip", "fp-deadlock")
    messages = mixed_traffic(source, 2, START, domain="d")  # call-0@d and call-1@d
    with open_store(mysql_url) as other, open_store(mysql_url) as store:
        other._begin()
        # a heavy transaction, so InnoDB prefers the batch as its victim
        filler = [(f"/f{n}", "fp-filler", n, n, "x", b"x", None, None, None) for n in range(2000)]
        other.executemany(other.insert_ignore_sql("rejects", schema.REJECT_COLUMNS), filler)
        other._lock_calls(["call-1@d"])
        writer = threading.Thread(target=lambda: results.append(store.write_batch(messages)))
        results: list[WriteResult] = []
        writer.start()
        time.sleep(1.0)  # the batch now holds call-0@d and waits for call-1@d
        other._lock_calls(["call-0@d"])  # closes the cycle
        other.commit()
        writer.join(timeout=60)
        assert store.retries >= 1
        assert results and results[0].inserted == len(messages)
        assert count(store, "sip_transactions") == len(messages)
        assert {c["call_id"]: c["message_count"] for c in calls_table(store)} == {
            "call-0@d": sum(m.call_id == "call-0@d" for m in messages),
            "call-1@d": sum(m.call_id == "call-1@d" for m in messages),
        }


def test_opening_a_database_takes_no_write_lock(sqlite_url: str, tmp_path: Any) -> None:
    """``calls`` or ``show`` open the store while an ingest holds SQLite's write lock: the
    open only reads the schema version, so it answers at once instead of waiting for it."""
    import sqlite3

    open_store(sqlite_url).close()  # the schema exists
    path = sqlite_url.split("sqlite:///", 1)[1]
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        store = open_store(sqlite_url)
        try:
            assert store.fetchall("SELECT COUNT(*) AS n FROM calls")[0]["n"] == 0
        finally:
            store.close()
        assert time.monotonic() - started < 5  # the busy timeout is 60 s
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_a_write_lock_never_released_fails_after_one_busy_timeout(sqlite_url: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A write transaction left open (an ``sqlite3`` shell, a stopped process) holds the lock:
    a write waits the busy timeout once, then fails with one line, instead of waiting it
    again seven times (eight minutes of a cron run, holding its log locks meanwhile)."""
    import sqlite3

    from sipparse.errors import DatabaseError
    from sipparse.store import sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_MS", 1000)
    source = Source("/var/log/pjsip", "fp-held")
    messages = mixed_traffic(source, 2, START, domain="h")
    with open_store(sqlite_url) as store:
        holder = sqlite3.connect(sqlite_url.split("sqlite:///", 1)[1], isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        started = time.monotonic()
        with pytest.raises(DatabaseError, match="cannot write: database is locked"):
            store.write_batch(messages)
        assert time.monotonic() - started < 3
        holder.execute("ROLLBACK")
        holder.close()
        assert store.write_batch(messages).inserted == len(messages)


def test_a_killed_statement_is_run_again(mysql_url: str) -> None:
    """``KILL QUERY`` of the writer's statement (an operator at the mysql prompt): the batch is
    rolled back and run again whole, as after a deadlock, not the end of the run."""
    source = Source("/var/log/pjsip", "fp-killed")
    messages = mixed_traffic(source, 2, START, domain="k")
    with open_store(mysql_url) as other, open_store(mysql_url) as store:
        other._begin()
        other._lock_calls(["call-0@k"])  # the batch will wait for this lock
        victim = store._con.connection_id  # asked before the writer uses the connection
        results: list[WriteResult] = []
        writer = threading.Thread(target=lambda: results.append(store.write_batch(messages)))
        writer.start()
        waiting = ("SELECT COUNT(*) FROM information_schema.innodb_trx "
                   f"WHERE trx_mysql_thread_id = {victim} AND trx_state = 'LOCK WAIT'")
        deadline = time.monotonic() + 15  # the lock wait timeout is 20 s
        while not other.query(waiting)[0][0]:
            assert time.monotonic() < deadline, "the batch never waited for the lock"
            time.sleep(0.2)  # InnoDB refreshes innodb_trx only after 0.1 s without a read
        other.execute(f"KILL QUERY {victim}")
        time.sleep(0.3)
        other.commit()  # the lock goes: the batch, run again, goes through
        writer.join(timeout=60)
        assert store.retries >= 1
        assert results and results[0].inserted == len(messages)
        assert count(store, "sip_transactions") == len(messages)
