"""Transactions that hold several batches (``Store.write_prepared`` given the log bytes of each,
``commit_bytes``, ``commit_pending``): what they store is what a commit per batch stores,
nothing shows before the COMMIT, and a failure in any batch takes the whole transaction back,
checkpoints with it, so that the next run stores everything exactly once."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sipparse.errors import DatabaseError
from sipparse.sip.message import SipMessage, Source
from sipparse.store import Checkpoint, open_store, schema
from sipparse.store.base import Store
from sipparse.store.call_cache import OPEN_STATES
from tests.store.factory import mixed_traffic
from tests.store.helpers import calls_table, message_keys

SOURCE = Source("/var/log/asterisk/pjsip", "fp-grouped")
START = datetime(2025, 4, 2, 9, 30, 0)
BATCH_LOG_BYTES = 100


def parts(count: int = 6) -> list[list[SipMessage]]:
    traffic = mixed_traffic(SOURCE, 36, START)
    size = -(-len(traffic) // count)
    return [traffic[i:i + size] for i in range(0, len(traffic), size)]


def checkpoint(n: int) -> Checkpoint:
    return Checkpoint("fp-grouped", "/var/log/asterisk/pjsip", n * BATCH_LOG_BYTES, 10_000, 1, 2, 0.0)


def write(store: Store, batch: list[SipMessage], n: int, batches_per_commit: int = 4) -> None:
    """Batch ``n`` as an ingest writes it: with its checkpoint, the log bytes it covers, and
    the log bytes a transaction may cover."""
    store.write_prepared(store.prepare_batch(batch, (), [checkpoint(n + 1)]), BATCH_LOG_BYTES,
                         batches_per_commit * BATCH_LOG_BYTES)


def seen_by_another_connection(db_path: Path) -> tuple[int, int | None]:
    """(message rows, checkpoint offset) as a reader in another connection sees them."""
    with sqlite3.connect(db_path) as con:
        messages = con.execute("SELECT count(*) FROM sip_transactions").fetchone()[0]
        found = con.execute("SELECT \"offset\" FROM checkpoints").fetchone()
    return messages, found[0] if found else None


def reference(tmp_path: Path) -> tuple[list[Any], list[dict[str, Any]]]:
    """Message keys and calls of the same batches with a commit each."""
    with open_store(f"sqlite:///{tmp_path}/reference.db") as store:
        for n, batch in enumerate(parts()):
            write(store, batch, n, batches_per_commit=1)
        return message_keys(store), calls_table(store)


def test_batches_commit_together_once_they_cover_commit_bytes(tmp_path: Path) -> None:
    db = tmp_path / "grouped.db"
    batches = parts()
    with open_store(f"sqlite:///{db}") as store:
        write(store, batches[0], 0, 3)
        write(store, batches[1], 1, 3)
        assert seen_by_another_connection(db) == (0, None)
        write(store, batches[2], 2, 3)
        assert seen_by_another_connection(db) == (sum(map(len, batches[:3])), 3 * BATCH_LOG_BYTES)
        write(store, batches[3], 3, 3)
        assert seen_by_another_connection(db)[1] == 3 * BATCH_LOG_BYTES
        store.commit_pending()
        assert seen_by_another_connection(db) == (sum(map(len, batches[:4])), 4 * BATCH_LOG_BYTES)
        store.commit_pending()  # nothing open: nothing to do


def test_a_batch_without_log_bytes_commits_at_once(tmp_path: Path) -> None:
    db = tmp_path / "alone.db"
    with open_store(f"sqlite:///{db}") as store:
        batch = parts()[0]
        store.write_batch(batch)
        assert seen_by_another_connection(db) == (len(batch), None)


def test_grouped_batches_store_what_a_commit_each_stores(db_url: str, tmp_path: Path) -> None:
    """On MySQL too, whose ingests commit each batch (``batches_per_commit``)."""
    with open_store(db_url) as store:
        for n, batch in enumerate(parts()):
            write(store, batch, n)
        store.commit_pending()
        assert (message_keys(store), calls_table(store)) == reference(tmp_path)
        assert store.get_checkpoint("fp-grouped").offset == 6 * BATCH_LOG_BYTES


@pytest.mark.parametrize("failure", [RuntimeError("disk on fire"), sqlite3.OperationalError("disk I/O error"),
                                     KeyboardInterrupt()])
def test_a_failed_batch_takes_its_whole_transaction_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          failure: BaseException) -> None:
    db = tmp_path / "failed.db"
    batches = parts()
    with open_store(f"sqlite:///{db}") as store:
        write(store, batches[0], 0)
        write(store, batches[1], 1)
        assert len(store._call_cache) > 0
        real_write = store._write

        def failing(batch: Any) -> Any:
            real_write(batch)  # the batch's rows are in, then it fails
            raise failure

        monkeypatch.setattr(store, "_write", failing)
        expected = DatabaseError if isinstance(failure, sqlite3.Error) else type(failure)
        with pytest.raises(expected):
            write(store, batches[2], 2)
        assert len(store._call_cache) == 0  # what it kept described rows that are gone
        store.commit_pending()  # nothing is left open to commit
        assert seen_by_another_connection(db) == (0, None)
        monkeypatch.setattr(store, "_write", real_write)
        for n, batch in enumerate(batches):  # the next run reads it all again
            write(store, batch, n)
        store.commit_pending()
        assert (message_keys(store), calls_table(store)) == reference(tmp_path)


def test_a_failed_commit_takes_the_transaction_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "commit.db"
    with open_store(f"sqlite:///{db}") as store:
        write(store, parts()[0], 0)
        monkeypatch.setattr(store, "commit", lambda: (_ for _ in ()).throw(sqlite3.OperationalError("disk full")))
        with pytest.raises(DatabaseError, match="cannot write: disk full"):
            store.commit_pending()
        monkeypatch.undo()
        assert not store._con.in_transaction
        assert seen_by_another_connection(db) == (0, None)


def test_a_batch_that_needs_cleaning_goes_in_a_transaction_of_its_own(tmp_path: Path) -> None:
    db = tmp_path / "cleaned.db"
    batches = parts()
    bad = batches[2][0]
    batches[2][0] = replace(bad, from_display="bad \udcff byte", user_agent="ua \udcfe")
    with open_store(f"sqlite:///{db}") as store:
        write(store, batches[0], 0)
        write(store, batches[1], 1)
        assert seen_by_another_connection(db) == (0, None)
        write(store, batches[2], 2)  # the two before are committed first
        assert seen_by_another_connection(db)[0] >= sum(map(len, batches[:2]))
        for n in range(3, len(batches)):
            write(store, batches[n], n)
        store.commit_pending()
        assert seen_by_another_connection(db) == (sum(map(len, batches)), 6 * BATCH_LOG_BYTES)
        found = store.fetchall("SELECT from_display, user_agent FROM sip_transactions WHERE source_offset = ?",
                               [bad.offset])
    assert found == [{"from_display": "bad \ufffd byte", "user_agent": "ua \ufffd"}]


def test_a_read_commits_the_open_batches_first(tmp_path: Path) -> None:
    db = tmp_path / "read.db"
    batch = parts()[0]
    with open_store(f"sqlite:///{db}") as store:
        write(store, batch, 0)
        assert store.get_checkpoint("fp-grouped").offset == BATCH_LOG_BYTES  # not rolled back
        assert seen_by_another_connection(db) == (len(batch), BATCH_LOG_BYTES)


def test_closing_without_a_commit_keeps_nothing_of_the_open_batches(tmp_path: Path) -> None:
    db = tmp_path / "closed.db"
    with open_store(f"sqlite:///{db}") as store:
        write(store, parts()[0], 0)
    assert seen_by_another_connection(db) == (0, None)


def test_a_call_open_across_the_batches_of_a_transaction_is_written_at_its_commit(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Calls go on from batch to batch: one still open is written at the COMMIT, one that
    ended when it ended (again only if a late message, a 487 after the CANCEL, follows)."""
    batches = parts()
    calls_of = [{m.call_id for m in batch} for batch in batches[:4]]
    assert calls_of[0] & calls_of[1], "the test needs calls that span batches"
    written: list[list[tuple[str, str]]] = []  # (Call-ID, state) of each statement's rows
    with open_store(f"sqlite:///{tmp_path / 'once.db'}") as store:
        real_executemany = store.executemany
        state_at = [c.name for c in schema.CALL_COLUMNS].index("state")

        def counting(sql: str, seq: Any, *more: Any) -> int:
            if sql.startswith('INSERT INTO "calls"'):
                written.append([(row[0], row[state_at]) for row in seq])
            return real_executemany(sql, seq, *more)

        monkeypatch.setattr(store, "executemany", counting)
        for n, batch in enumerate(batches[:3]):
            write(store, batch, n)
        before_commit = [entry for statement in written for entry in statement]
        assert before_commit and all(state not in OPEN_STATES for _, state in before_commit)
        write(store, batches[3], 3)  # the fourth batch commits the transaction
        call_ids = [call_id for statement in written for call_id, _ in statement]
        assert set(call_ids) == set().union(*calls_of)
        assert len(call_ids) < sum(map(len, calls_of))  # not once a batch
        assert any(state in OPEN_STATES for _, state in written[-1])  # the open ones, at the COMMIT
        for n in range(4, len(batches)):
            write(store, batches[n], n)
        store.commit_pending()
        assert (message_keys(store), calls_table(store)) == reference(tmp_path)
