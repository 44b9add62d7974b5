"""write_batch: idempotency, retransmissions, atomicity with checkpoints, faithful values."""

from __future__ import annotations

import pickle
import random
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sipparse.errors import DatabaseError
from sipparse.sip.message import Reject, SipMessage, Source
from sipparse.store import Checkpoint, open_store
from tests.store.factory import CallBuilder, completed_call, mixed_traffic
from tests.store.helpers import calls_table, count, message_keys

SOURCE = Source("/var/log/asterisk/pjsip", "fp-write")
START = datetime(2025, 2, 1, 18, 32, 31)


def test_same_batch_twice_leaves_one_row_each(db_url: str) -> None:
    messages = completed_call("c1", SOURCE, START).messages
    with open_store(db_url) as store:
        first = store.write_batch(messages)
        again = store.write_batch(messages)
        assert (first.inserted, first.duplicates, first.calls) == (7, 0, 1)
        assert (again.inserted, again.duplicates) == (0, 7)
        assert count(store, "sip_transactions") == 7
        assert calls_table(store)[0]["message_count"] == 7


def test_duplicates_inside_one_batch(db_url: str) -> None:
    messages = completed_call("c1", SOURCE, START).messages
    with open_store(db_url) as store:
        result = store.write_batch(messages + messages[:3])
        assert (result.inserted, result.duplicates) == (7, 3)


def test_retransmission_logged_twice_is_two_rows(db_url: str) -> None:
    builder = CallBuilder("c1", SOURCE, START).request("INVITE").repeat().response(100)
    with open_store(db_url) as store:
        assert store.write_batch(builder.messages).inserted == 3
        rows = store.fetchall("SELECT raw_message, source_offset FROM sip_transactions ORDER BY id")
        assert rows[0]["raw_message"] == rows[1]["raw_message"]
        assert rows[0]["source_offset"] != rows[1]["source_offset"]
        assert calls_table(store)[0]["retransmissions"] == 1


def test_same_offset_in_another_file_is_another_row(db_url: str) -> None:
    a = completed_call("c1", SOURCE, START).messages
    b = completed_call("c1", Source("/var/log/asterisk/pjsip.1", "fp-other"), START).messages
    with open_store(db_url) as store:
        store.write_batch(a)
        assert store.write_batch(b).inserted == 7


def test_ids_follow_the_order_given(db_url: str) -> None:
    messages = mixed_traffic(SOURCE, 30, START)
    with open_store(db_url) as store:
        store.write_batch(messages)
        rows = store.fetchall("SELECT id, source_offset FROM sip_transactions ORDER BY id")
        assert [r["source_offset"] for r in rows] == [m.offset for m in messages]


def test_values_round_trip(db_url: str) -> None:
    message = completed_call("c1", SOURCE, START).messages[0]
    message.raw_message = b"INVITE sip:x SIP/2.0\r\nX-Bin: \x00\xff\xfe\r\n\r\n"
    message.timestamp = datetime(2025, 2, 1, 18, 32, 31, 123456)
    message.problems = ["Content-Length mismatch", "no blank line"]
    message.user_agent = "Ästerisk ☎ " + "x" * 70_000  # longer than a MySQL TEXT's 64 KiB in characters
    with open_store(db_url) as store:
        store.write_batch([message])
        row = store.fetchall("SELECT * FROM sip_transactions")[0]
    assert row["raw_message"] == message.raw_message
    assert row["timestamp"] == "2025-02-01 18:32:31.123456"
    assert row["problems"] == "Content-Length mismatch; no blank line"
    assert row["sdp_content"] == message.sdp_content and "\r" not in row["sdp_content"]
    for name in (
        "call_id",
        "sip_method",
        "from_sip",
        "to_sip",
        "cseq",
        "cseq_method",
        "status_code",
        "direction",
        "from_user",
        "to_tag",
        "via_branch",
        "q850_cause",
        "host",
        "pid",
        "dialect",
        "peer",
        "transport",
    ):
        assert row[name] == getattr(message, name), name
    assert (row["source_file"], row["source_fingerprint"]) == (SOURCE.path, SOURCE.fingerprint)
    assert (row["source_offset"], row["source_end"]) == (message.offset, message.end)
    assert row["ingested_at"] is not None


def test_whole_second_and_aware_timestamps(db_url: str) -> None:
    a, b = completed_call("c1", SOURCE, START).messages[:2]
    a.timestamp = datetime(2025, 2, 1, 18, 32, 31)
    b.timestamp = datetime(2025, 2, 1, 19, 32, 31, tzinfo=timezone(timedelta(hours=1)))
    with open_store(db_url) as store:
        store.write_batch([a, b])
        stamps = [
            r["timestamp"] for r in store.fetchall("SELECT timestamp FROM sip_transactions ORDER BY id")
        ]
    assert stamps == ["2025-02-01 18:32:31", "2025-02-01 18:32:31"]


def test_long_call_id_is_clipped_consistently(db_url: str) -> None:
    builder = completed_call("x" * 2000, SOURCE, START)
    with open_store(db_url) as store:
        store.write_batch(builder.messages)
        calls = calls_table(store)
        assert [len(c["call_id"]) for c in calls] == [512]
        assert calls[0]["message_count"] == 7


def test_undecodable_text_is_replaced_not_refused(db_url: str) -> None:
    message = completed_call("c1", SOURCE, START).messages[0]
    message.from_sip = b'"Bad\xff" <sip:a@b>'.decode("utf-8", "surrogateescape")
    with open_store(db_url) as store:
        assert store.write_batch([message]).inserted == 1
        assert (
            store.fetchall("SELECT from_sip FROM sip_transactions")[0]["from_sip"] == '"Bad\ufffd" <sip:a@b>'
        )


def test_a_file_name_of_undecodable_bytes_is_stored(db_url: str) -> None:
    path = "/var/log/asterisk/pjsip-\udcff.log"  # os.fsdecode of a name with byte 0xff
    messages = completed_call("c1", Source(path, "fp-bad-name"), START).messages
    with open_store(db_url) as store:
        result = store.write_batch(messages, [], [Checkpoint("fp-bad-name", path, messages[-1].end, 900)])
        assert result.inserted == 7
        stored = store.get_checkpoint("fp-bad-name")
        assert stored is not None and stored.path == "/var/log/asterisk/pjsip-\ufffd.log"
        assert {r["source_file"] for r in store.fetchall("SELECT source_file FROM sip_transactions")} == {
            stored.path}


def test_checkpoints_are_stored_and_replaced(db_url: str) -> None:
    with open_store(db_url) as store:
        store.write_batch([], [], [Checkpoint("fp-a", "/var/log/a", 10, 10, 123, 45, 1.5)])
        store.write_batch(
            [],
            [],
            [
                Checkpoint("fp-a", "/var/log/a.1", 99, 120, 123, 45, 2.5),
                Checkpoint("fp-b", "/var/log/b", 0, 0),
            ],
        )
        assert store.get_checkpoint("fp-a") == Checkpoint("fp-a", "/var/log/a.1", 99, 120, 123, 45, 2.5)
        assert [c.fingerprint for c in store.checkpoints()] == ["fp-a", "fp-b"]
        assert store.get_checkpoint("missing") is None


def test_the_newest_look_at_a_path_is_each_hosts_own(db_url: str) -> None:
    """Every PBX logs to /var/log/asterisk/pjsip; a checkpoint that names no host (an older
    sipparse's) may be any host's, so it counts for each."""
    pjsip = "/var/log/asterisk/pjsip"
    with open_store(db_url) as store:
        store.write_batch([], [], [Checkpoint("fp-a", pjsip, 10, 10, mtime=30.0, host="pbx-a"),
                                   Checkpoint("fp-b", pjsip, 10, 10, mtime=20.0, host="pbx-b"),
                                   Checkpoint("fp-old", pjsip + ".1", 10, 10, mtime=15.0)])
        assert store.newest_checkpoint_mtime([pjsip, pjsip + ".1"], "pbx-b") == 20.0
        assert store.newest_checkpoint_mtime([pjsip, pjsip + ".1"], "pbx-c") == 15.0
        assert store.newest_checkpoint_mtime([pjsip, pjsip + ".1"]) == 30.0


def test_a_failed_batch_stores_neither_rows_nor_checkpoint(db_url: str) -> None:
    messages = completed_call("c1", SOURCE, START).messages
    with open_store(db_url) as store:
        store.write_batch(messages[:2], [], [Checkpoint("fp-write", SOURCE.path, messages[1].end, 500)])
        bad = Checkpoint("fp-write", SOURCE.path, 2**70, 500)  # no database takes this integer
        with pytest.raises((DatabaseError, OverflowError)):
            store.write_batch(messages[2:], [], [bad])
        assert count(store, "sip_transactions") == 2
        assert store.get_checkpoint("fp-write").offset == messages[1].end  # type: ignore[union-attr]
        assert calls_table(store)[0]["message_count"] == 2
        assert store.write_batch(messages[2:]).inserted == 5  # the store is still usable


def test_rejects_are_idempotent(db_url: str) -> None:
    rejects = [
        Reject(SOURCE, 10, 20, "no Call-ID", b"GARBAGE\x00\xff", START, "pbx-a"),
        Reject(SOURCE, 30, 40, "bad start line", b"X", None, None),
    ]
    with open_store(db_url) as store:
        assert store.write_batch([], rejects).rejects == 2
        assert store.write_batch([], rejects).rejects == 0
        rows = store.fetchall("SELECT * FROM rejects ORDER BY source_offset")
    assert [(r["reason"], r["raw"], r["timestamp"], r["host"]) for r in rows] == [
        ("no Call-ID", b"GARBAGE\x00\xff", "2025-02-01 18:32:31", "pbx-a"),
        ("bad start line", b"X", None, None),
    ]


def test_calls_summary_is_the_same_whatever_the_batches(db_url: str, sqlite_url: str) -> None:
    """A call whose messages arrive over several runs ends as if ingested at once."""
    messages = mixed_traffic(SOURCE, 60, START)
    with open_store(sqlite_url.replace("test.db", "once.db")) as once:
        once.write_batch(messages)
        expected = calls_table(once)
    rng = random.Random(5)
    with open_store(db_url) as store:
        position = 0
        while position < len(messages):
            size = rng.randint(1, 40)
            store.write_batch(messages[position : position + size])
            position += size
        assert calls_table(store) == expected
        assert len(message_keys(store)) == len(messages)
    states = {c["state"] for c in expected}
    assert {"completed", "answered", "busy", "cancelled", "no-answer", "failed", "in-progress"} <= states
    assert {c["pdd_ms"] for c in expected} == {None, 250, 500}  # the post-dial delays are compared too


def test_rewriting_overlapping_batches_changes_nothing(db_url: str) -> None:
    messages = mixed_traffic(SOURCE, 20, START)
    with open_store(db_url) as store:
        store.write_batch(messages[:50])
        store.write_batch(messages[30:])
        before = calls_table(store)
        store.write_batch(messages)
        assert calls_table(store) == before
        assert count(store, "sip_transactions") == len(messages)


def test_fetchall_placeholders_and_types(db_url: str) -> None:
    with open_store(db_url) as store:
        store.write_batch(completed_call("c1", SOURCE, START).messages)
        rows = store.fetchall(
            "SELECT call_id, COUNT(*) AS n, SUM(cseq) AS s, MIN(timestamp) AS t "
            "FROM sip_transactions WHERE status_code = ? AND sip_method LIKE '2%' "
            "AND from_user <> '?' GROUP BY call_id",
            (200,),
        )
        assert rows == [{"call_id": "c1", "n": 2, "s": 3, "t": "2025-02-01 18:32:32"}]
        assert isinstance(rows[0]["s"], int)
        since = store.fetchall(
            "SELECT COUNT(*) AS n FROM sip_transactions WHERE timestamp >= ?", (START + timedelta(seconds=1),)
        )
        assert since[0]["n"] == 4


def test_bad_sql_is_a_database_error(db_url: str) -> None:
    with open_store(db_url) as store:
        with pytest.raises(DatabaseError, match="cannot run the query"):
            store.fetchall("SELECT nope FROM sip_transactions")


def test_empty_batch(db_url: str) -> None:
    with open_store(db_url) as store:
        result = store.write_batch([], [], [])
        assert (result.inserted, result.duplicates, result.rejects, result.calls) == (0, 0, 0, 0)


def test_message_without_call_id_is_stored_without_a_call(db_url: str) -> None:
    message = SipMessage(source=SOURCE, offset=0, end=10, raw_message=b"OPTIONS", timestamp=datetime.now(UTC))
    with open_store(db_url) as store:
        assert store.write_batch([message]).inserted == 1
        assert calls_table(store) == []


def test_call_ids_equal_but_for_trailing_spaces(db_url: str) -> None:
    """MySQL's collations compare "c1" and "c1 " as equal (PAD SPACE); the batch still goes in."""
    a = completed_call("pad", SOURCE, START).messages
    b = completed_call("pad ", SOURCE, START, offset=10_000).messages
    with open_store(db_url) as store:
        assert store.write_batch(a + b).inserted == 14
        assert store.write_batch(completed_call("pad ", SOURCE, START, offset=20_000).messages).inserted == 7
        assert count(store, "sip_transactions") == 21
        assert 1 <= len(calls_table(store)) <= 2


def test_call_times_are_the_times_of_its_messages(db_url: str) -> None:
    b = CallBuilder("c1", SOURCE, START, step_ms=250)
    b.request("INVITE").response(100).response(180).response(200).request("ACK").request("BYE").response(200)
    with open_store(db_url) as store:
        store.write_batch(b.messages[:5])
        store.write_batch(b.messages[5:])  # the call is known: summarised from its stored rows
        stamps = [r["timestamp"] for r in store.fetchall("SELECT timestamp FROM sip_transactions ORDER BY id")]
        call = calls_table(store)[0]
    assert len(set(stamps)) == 7 and stamps[1].endswith(".500000")
    assert (call["first_seen"], call["last_seen"]) == (stamps[0], stamps[-1])
    assert (call["answered_at"], call["ended_at"]) == (stamps[3], stamps[5])


def test_a_call_whose_first_messages_come_last_is_summarised_and_indexed_anew(db_url: str, sqlite_url: str) -> None:
    """A later batch may change what a known call's row says of its start (when it began, who
    called whom): the row, and the indexes on those columns, follow it."""
    b = CallBuilder("c1", SOURCE, START, step_ms=250)
    b.request("INVITE").response(100).response(180).response(200).request("ACK").request("BYE", by="callee")
    b.response(200)
    with open_store(sqlite_url.replace("test.db", "once.db")) as once:
        once.write_batch(b.messages)
        expected = calls_table(once)[0]
    with open_store(db_url) as store:
        store.write_batch(b.messages[5:])  # the hang-up alone: a call by bob, begun then
        before = calls_table(store)[0]
        store.write_batch(b.messages[:5])
        after = calls_table(store)[0]
        by_start = store.fetchall("SELECT call_id FROM calls WHERE first_seen = ?", (after["first_seen"],))
        by_caller = store.fetchall("SELECT call_id FROM calls WHERE from_user = ?", ("alice",))
        stale = store.fetchall("SELECT call_id FROM calls WHERE first_seen = ?", (before["first_seen"],))
        if db_url.startswith("sqlite"):
            assert store.fetchall("PRAGMA integrity_check") == [{"integrity_check": "ok"}]
    assert after == expected
    assert (before["first_seen"], before["from_user"]) != (after["first_seen"], after["from_user"])
    assert by_start == by_caller == [{"call_id": "c1"}] and stale == []


def test_sqlite_checkpoints_its_wal_by_size(sqlite_url: str) -> None:
    from sipparse.store.sqlite import WAL_CHECKPOINT_BYTES

    with open_store(sqlite_url) as store:
        page_size = store.query("PRAGMA page_size")[0][0]
        assert store.query("PRAGMA wal_autocheckpoint")[0][0] * page_size == WAL_CHECKPOINT_BYTES
        assert store.query("PRAGMA journal_mode")[0][0] == "wal"
        assert store.query("PRAGMA synchronous")[0][0] == 1  # NORMAL: crash-safe in WAL mode


def test_a_new_sqlite_file_gets_large_pages_and_an_old_one_keeps_its_own(sqlite_url: str, tmp_path) -> None:
    import sqlite3

    from sipparse.store.sqlite import PAGE_SIZE

    with open_store(sqlite_url) as store:
        assert store.query("PRAGMA page_size")[0][0] == PAGE_SIZE == 16384
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as con:  # a database made with SQLite's default pages, in WAL mode
        con.execute("PRAGMA journal_mode = WAL")
        con.execute("CREATE TABLE before (x)")
    for _ in range(2):  # created in it, then reopened
        with open_store(f"sqlite:///{old}") as store:
            assert store.query("PRAGMA page_size")[0][0] == 4096
            store.write_batch(mixed_traffic(SOURCE, 3, START))
    with open_store(f"sqlite:///{old}") as store:
        assert count(store, "sip_transactions") == len(mixed_traffic(SOURCE, 3, START))


def test_sqlite_copies_committed_rows_into_the_database_file_in_the_background(sqlite_url: str, tmp_path) -> None:
    """The WAL is far below ``WAL_CHECKPOINT_BYTES``, so only the store's checkpoint thread can
    have put the rows in the database file itself; it ends with the store."""
    import shutil
    import sqlite3
    import time

    path = sqlite_url.removeprefix("sqlite:///")
    alone = tmp_path / "file-alone.db"  # the database file without its WAL
    with open_store(sqlite_url) as store:
        store.write_batch(mixed_traffic(SOURCE, 5, START))
        stored = count(store, "sip_transactions")
        deadline = time.monotonic() + 10
        while True:
            shutil.copyfile(path, alone)
            try:
                with sqlite3.connect(alone) as con:
                    found = con.execute("SELECT COUNT(*) FROM sip_transactions").fetchone()[0]
            except sqlite3.DatabaseError:  # not even the tables copied yet, or copied mid-checkpoint
                found = 0
            if found == stored or time.monotonic() > deadline:  # a copy mid-checkpoint may count less
                break
            time.sleep(0.05)
        assert found == stored > 0
        thread = store._checkpointer._thread
        assert thread is not None and thread.is_alive() and thread.name == "sipparse-wal-checkpoint"
    assert not thread.is_alive()


def test_sqlite_empties_a_large_wal_once_its_commits_are_small(sqlite_url: str, monkeypatch) -> None:
    """A run that stays open (``--follow``) after a large transaction does not keep a WAL file
    of that size: once the WAL holds little, the checkpoint thread empties it, rows intact."""
    import os
    import time

    import sipparse.store.sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "WAL_KEPT_BYTES", 2 << 20)
    wal = sqlite_url.removeprefix("sqlite:///") + "-wal"
    with open_store(sqlite_url) as store:
        store.write_batch(mixed_traffic(SOURCE, 600, START))
        large = os.path.getsize(wal)
        assert large > 2 << 20
        deadline, n = time.monotonic() + 20, 0
        while os.path.getsize(wal) >= large and time.monotonic() < deadline:
            n += 1  # a small batch of its own file: new rows each time
            store.write_batch(mixed_traffic(Source(f"/var/log/small-{n}", f"fp-small-{n}"), 1, START))
            time.sleep(0.05)
        assert os.path.getsize(wal) < 2 << 20
        assert count(store, "sip_transactions") == len(mixed_traffic(SOURCE, 600, START)) + n * len(
            mixed_traffic(SOURCE, 1, START))
        assert store.fetchall("PRAGMA integrity_check") == [{"integrity_check": "ok"}]


def _wal_sizes_over_batches(url: str, batches: int, reader: Any = None) -> tuple[list[int], float, int]:
    """Write ``batches`` transactions of 200 calls each (their own file each), noting the WAL
    file's size after each: the sizes, the seconds the writer waited for the WAL to start
    over, and the rows stored."""
    import os

    wal = url.removeprefix("sqlite:///") + "-wal"
    sizes = []
    with open_store(url) as store:
        for n in range(batches):
            store.write_batch(mixed_traffic(Source(f"/var/log/pjsip-{n}", f"fp-wal-{n}"), 200, START))
            sizes.append(os.path.getsize(wal))
        waited = store._checkpointer.waited
        stored = count(store, "sip_transactions")
    return sizes, waited, stored


def _copies_late(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make each background copy of the WAL start ``seconds`` late (a large commit's, or a
    slow disk's), by its connection."""
    import sqlite3
    import time
    from urllib.parse import quote

    import sipparse.store.sqlite as sqlite_store

    class LateCopies(sqlite3.Connection):
        def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
            if sql.startswith("PRAGMA wal_checkpoint"):
                time.sleep(seconds)
            return super().execute(sql, *args)

    def connect_existing(path: str, timeout: float) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{quote(path)}?mode=rw", uri=True, timeout=timeout, isolation_level=None,
                               check_same_thread=False, factory=LateCopies)

    monkeypatch.setattr(sqlite_store, "connect_existing", connect_existing)


def test_a_long_ingest_writes_its_sqlite_wal_again_from_the_start(sqlite_url: str, monkeypatch) -> None:
    """Once the WAL holds ``WAL_RESTART_BYTES``, the writer lets the background copy of its
    last commit end before it begins the next, which then writes the WAL from its start: the
    file stays near that size instead of growing by every commit (fresh pages, each a fault).
    The copies here start 0.1 s late, as a large commit's ends after the writer's next BEGIN."""
    import sipparse.store.sqlite as sqlite_store

    _copies_late(monkeypatch, 0.1)
    monkeypatch.setattr(sqlite_store, "WAL_RESTART_BYTES", 1 << 20)
    sizes, _waited, stored = _wal_sizes_over_batches(sqlite_url, 24)
    per_batch = sizes[0]
    assert (1 << 20) < 2 * per_batch
    assert max(sizes) < 12 * per_batch, sizes  # never started over: 24 batches' worth
    assert stored == 24 * len(mixed_traffic(SOURCE, 200, START))


def test_copies_slower_than_the_wait_end_the_waits_until_the_wal_starts_over(sqlite_url: str, monkeypatch) -> None:
    """On a disk so slow that a copy outlasts ``RESTART_WAIT_SECONDS``, the writer waits once
    and then goes on without waiting at each COMMIT."""
    import sipparse.store.sqlite as sqlite_store

    _copies_late(monkeypatch, 0.3)
    monkeypatch.setattr(sqlite_store, "WAL_RESTART_BYTES", 1 << 20)
    monkeypatch.setattr(sqlite_store, "RESTART_WAIT_SECONDS", 0.05)
    _sizes, waited, stored = _wal_sizes_over_batches(sqlite_url, 24)
    assert 0.05 <= waited < 0.3, waited  # every COMMIT once the first copy ended: some 0.8 s
    assert stored == 24 * len(mixed_traffic(SOURCE, 200, START))


def test_a_reader_that_keeps_the_wal_from_starting_over_does_not_stall_the_writer(
        sqlite_url: str, monkeypatch) -> None:
    """A reader's open snapshot keeps the background copy from finishing, so the WAL cannot
    start over: the writer still waits only for each copy to end, not for its time limit."""
    import sqlite3

    import sipparse.store.sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "WAL_RESTART_BYTES", 1 << 20, raising=False)
    with open_store(sqlite_url) as store:
        store.write_batch(mixed_traffic(SOURCE, 1, START))
    reader = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT COUNT(*) FROM sip_transactions").fetchone()  # holds its snapshot
        sizes, waited, stored = _wal_sizes_over_batches(sqlite_url, 8)
    finally:
        reader.close()
    assert sizes == sorted(sizes) and sizes[-1] > 4 * sizes[0], sizes  # it could not start over
    assert waited < 8 * sqlite_store.RESTART_WAIT_SECONDS / 4, waited
    assert stored == len(mixed_traffic(SOURCE, 1, START)) + 8 * len(mixed_traffic(SOURCE, 200, START))


def test_write_batch_gives_the_collector_its_threshold_back(db_url: str) -> None:
    import gc

    before = gc.get_threshold()
    messages = completed_call("c1", SOURCE, START).messages
    try:
        gc.set_threshold(700, 10, 10)
        with open_store(db_url) as store:
            store.write_batch(messages)
            assert gc.get_threshold() == (700, 10, 10)
            broken = [replace(messages[0], timestamp="18:32:31")]  # not a datetime: the batch fails
            with pytest.raises(AttributeError):
                store.write_batch(broken)
            assert gc.get_threshold() == (700, 10, 10)
    finally:
        gc.set_threshold(*before)


def test_a_batch_prepared_in_another_thread_stores_what_write_batch_stores(db_url: str, tmp_path) -> None:
    traffic = mixed_traffic(SOURCE, 20, START)
    halves = [traffic[: len(traffic) // 2], traffic[len(traffic) // 2 :]]
    with open_store(db_url) as store:
        for part in halves:
            prepared: list[Any] = []
            preparer = threading.Thread(target=lambda part=part, out=prepared: out.append(store.prepare_batch(part)))
            preparer.start()
            preparer.join()
            assert store.write_prepared(prepared[0]).inserted == len(part)
        stored = message_keys(store), _call_facts(store)
    with open_store(f"sqlite:///{tmp_path}/reference.db") as store:
        store.write_batch(traffic)
        assert (message_keys(store), _call_facts(store)) == stored


def test_a_batch_prepared_with_its_calls_ahead_and_pickled_stores_what_write_batch_stores(
        db_url: str, tmp_path) -> None:
    """As ``ingest --workers`` prepares a batch in a parse process and sends it to the storing
    one; the second half continues calls of the first, which the transaction summarises again
    from all their stored rows instead of taking the half's own summary."""
    traffic = mixed_traffic(SOURCE, 20, START)
    halves = [traffic[: len(traffic) // 2], traffic[len(traffic) // 2 :]]
    with open_store(db_url) as store:
        for part in halves:
            prepared = pickle.loads(pickle.dumps(store.prepare_batch(part, calls_ahead=True)))
            assert prepared.call_rows is not None and not prepared.messages.stamps
            assert store.write_prepared(prepared).inserted == len(part)
        stored = message_keys(store), _call_facts(store, every_column=True)
    with open_store(f"sqlite:///{tmp_path}/reference.db") as store:
        store.write_batch(traffic)
        assert (message_keys(store), _call_facts(store, every_column=True)) == stored


def _call_facts(store: Any, every_column: bool = False) -> list[tuple[Any, ...]]:
    if every_column:
        return [tuple(c.values()) for c in calls_table(store)]
    return [(c["call_id"], c["state"], c["final_status"], c["setup_ms"], c["message_count"], c["retransmissions"])
            for c in calls_table(store)]


@pytest.mark.parametrize("calls_ahead", [False, True])
def test_an_undecodable_call_id_is_cleaned_in_the_rows_and_in_its_call(db_url: str, calls_ahead: bool) -> None:
    messages = completed_call("c1", SOURCE, START).messages
    for message in messages:
        message.call_id = "c\udcff1"  # as the parser decodes a Call-ID holding byte 0xff
    with open_store(db_url) as store:
        assert store.write_prepared(store.prepare_batch(messages, calls_ahead=calls_ahead)).inserted == 7
        assert {r["call_id"] for r in store.fetchall("SELECT call_id FROM sip_transactions")} == {"c\ufffd1"}
        assert [c["call_id"] for c in calls_table(store)] == ["c\ufffd1"]
        assert calls_table(store)[0]["message_count"] == 7
