"""Purging old data: library, age parsing and the ``sipparse purge`` command."""

from __future__ import annotations

import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.sip.message import Reject, Source
from sipparse.store import open_store
from sipparse.store.purge import parse_older_than
from tests.store.factory import CallBuilder, mixed_traffic
from tests.store.helpers import calls_table, count

SOURCE = Source("/var/log/asterisk/pjsip", "fp-purge")
OLD = datetime(2025, 1, 1, 12, 0, 0)
NEW = datetime(2025, 3, 1, 12, 0, 0)
CUTOFF = datetime(2025, 2, 1)


def fill(url: str) -> tuple[int, int]:
    """Old and new traffic; returns how many old and new messages were written."""
    old = mixed_traffic(SOURCE, 18, OLD)
    new = mixed_traffic(Source("/var/log/asterisk/pjsip.new", "fp-new"), 9, NEW)
    rejects = [Reject(SOURCE, 10**9 + n, 10**9 + n + 1, "bad", b"x", OLD if n % 2 else NEW) for n in range(6)]
    with open_store(url) as store:
        store.write_batch(old, rejects)
        store.write_batch(new)
    return len(old), len(new)


def test_purge_deletes_old_rows_in_batches(db_url: str) -> None:
    old, new = fill(db_url)
    with open_store(db_url) as store:
        assert store.purge(CUTOFF, batch_size=7, dry_run=True) == {"messages": old, "calls": 18, "rejects": 3}
        assert count(store, "sip_transactions") == old + new
        assert store.purge(CUTOFF, batch_size=7) == {"messages": old, "calls": 18, "rejects": 3}
        assert count(store, "sip_transactions") == new
        assert len(calls_table(store)) == 9
        assert all(c["last_seen"] >= "2025-03-01" for c in calls_table(store))
        assert count(store, "rejects") == 3
        assert store.purge(CUTOFF) == {"messages": 0, "calls": 0, "rejects": 0}


def test_rows_without_timestamp_go_by_when_they_were_stored(db_url: str) -> None:
    messages = mixed_traffic(SOURCE, 2, OLD)
    for m in messages:
        m.timestamp = None
    with open_store(db_url) as store:
        store.write_batch(messages)
        assert store.purge(datetime(2000, 1, 1))["messages"] == 0
        future = datetime.now(UTC).replace(tzinfo=None) + timedelta(minutes=1)
        assert store.purge(future)["messages"] == len(messages)


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("45s", timedelta(seconds=45)),
        (" 7D ", timedelta(days=7)),
    ],
)
def test_ages(text: str, delta: timedelta) -> None:
    now = datetime(2025, 6, 1, 12, 0, 0)
    assert parse_older_than(text, now) == now - delta


def test_dates() -> None:
    assert parse_older_than("2025-01-31T00:00:00+01:00") == datetime(2025, 1, 30, 23, 0, 0)
    local = datetime(2025, 1, 31).astimezone().astimezone(UTC).replace(tzinfo=None)
    assert parse_older_than("2025-01-31") == local


@pytest.mark.parametrize("text", ["", "30", "d30", "30 days", "2025-13-01", "yesterday"])
def test_bad_ages(text: str) -> None:
    with pytest.raises(ValueError, match="neither an age"):
        parse_older_than(text)


@pytest.mark.parametrize("text", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+01:00", "9999-12-31 23:00",
                                  "0001-01-01 01:00"])
def test_a_date_outside_the_years_utc_holds_is_said_so(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past year 9999 or before year 1 once in UTC, whichever way (a local time of the
    machine's zone: New York for the one, Tokyo for the other)."""
    monkeypatch.setenv("TZ", "America/New_York" if text.startswith("9") else "Asia/Tokyo")
    time.tzset()
    try:
        with pytest.raises(ValueError, match=re.escape(f"{text!r} is out of range (years 1 to 9999 in UTC)")):
            parse_older_than(text)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_cli_purge(db_url: str) -> None:
    old, new = fill(db_url)
    runner = CliRunner()
    result = runner.invoke(
        cli, ["--db", db_url, "purge", "--older-than", "2025-02-01T00:00:00+00:00", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert (
        result.output
        == f"would delete {old} messages, 18 calls, 3 rejects older than 2025-02-01 00:00:00 UTC\n"
    )
    result = runner.invoke(
        cli, ["--db", db_url, "purge", "--older-than", "2025-02-01T00:00:00Z", "--batch-size", "10"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"deleted {old} messages, 18 calls, 3 rejects")
    with open_store(db_url) as store:
        assert count(store, "sip_transactions") == new


def test_cli_purge_bad_age_is_usage_error(sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "purge", "--older-than", "soon"])
    assert result.exit_code == 2
    assert "'soon' is neither an age (30d, 12h, 90m) nor a date (2025-01-31)" in result.output


def test_cli_purge_requires_an_age(sqlite_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "purge"])
    assert result.exit_code == 2
    assert "--older-than" in result.output


@pytest.mark.mysql
def test_a_call_an_ingest_moves_past_the_cutoff_meanwhile_keeps_its_row(mysql_url: str) -> None:
    """Purge finds a call old, then an ingest (holding the call's row) commits a newer message
    of it before purge's DELETE gets the row: the row stays, summarising the new message, and
    so do the call's messages it is made from."""
    import mysql.connector

    old = mixed_traffic(SOURCE, 1, OLD)
    call_id = old[0].call_id
    with open_store(mysql_url) as store:
        store.write_batch(old)
    parts = urlsplit(mysql_url)
    ingest = mysql.connector.connect(host=parts.hostname, port=parts.port, user=parts.username or "root",
                                     password=parts.password or "", database=parts.path.lstrip("/"))
    cursor = ingest.cursor()
    cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
    cursor.execute("START TRANSACTION")
    cursor.execute("UPDATE calls SET last_seen = %s WHERE call_id = %s", (NEW, call_id))
    purged: dict[str, int] = {}
    with open_store(mysql_url) as store:
        purge = threading.Thread(target=lambda: purged.update(store.purge(CUTOFF)))
        purge.start()
        deadline = time.monotonic() + 20
        while not _waits_for_a_lock(cursor, "DELETE FROM ") and time.monotonic() < deadline:
            time.sleep(0.05)
        ingest.commit()
        purge.join(timeout=30)
        ingest.close()
        assert [c["call_id"] for c in calls_table(store)] == [call_id]
    assert purged == {"messages": 0, "calls": 0, "rejects": 0}


def _waits_for_a_lock(cursor, statement: str) -> bool:  # type: ignore[no-untyped-def]
    cursor.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE info LIKE %s",
                   (statement + "%",))
    return bool(cursor.fetchone()[0])


def test_a_call_going_on_across_the_cutoff_keeps_its_messages_and_its_summary(db_url: str,
                                                                               tmp_path: Path) -> None:
    """Its INVITE and answer before the cut-off, a re-INVITE after it: when its BYE comes, its
    row is made again from all of its messages, as if nothing had been purged."""
    call = CallBuilder("long-1@pbx", SOURCE, CUTOFF - timedelta(minutes=1), step_ms=20_000)
    call.request("INVITE").response(200).request("ACK").request("INVITE").response(200).request("ACK")
    going_on = call.messages[:]
    call.request("BYE").response(200)
    ended = call.messages[len(going_on):]
    never_purged = f"sqlite:///{tmp_path / 'never-purged.db'}"
    for url in (db_url, never_purged):
        with open_store(url) as store:
            store.write_batch(going_on)
    with open_store(db_url) as store:
        assert store.purge(CUTOFF) == {"messages": 0, "calls": 0, "rejects": 0}
    for url in (db_url, never_purged):
        with open_store(url) as store:
            store.write_batch(ended)
    with open_store(db_url) as store, open_store(never_purged) as reference:
        assert calls_table(store) == calls_table(reference)
        assert calls_table(store)[0]["setup_ms"] == 20_000


def test_messages_of_an_old_call_and_of_a_long_register_dialog_go_by_their_age(db_url: str) -> None:
    call = CallBuilder("old-1@pbx", SOURCE, OLD).request("INVITE").response(486).request("ACK")
    registration = CallBuilder("reg-1@phone", SOURCE, CUTOFF - timedelta(minutes=1), offset=10**6, step_ms=40_000)
    registration.request("REGISTER").response(200).request("REGISTER").response(200)
    with open_store(db_url) as store:
        store.write_batch(call.messages + registration.messages)
        old_messages = [m for m in call.messages + registration.messages if m.timestamp < CUTOFF]
        assert len(old_messages) > len(call.messages)
        assert store.purge(CUTOFF) == {"messages": len(old_messages), "calls": 1, "rejects": 0}
