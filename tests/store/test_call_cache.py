"""The CallCache: calls continued by a later batch are summarised from the rows the store
wrote, not read back, and end exactly as if all their messages had come in one batch; any
doubt (another writer, a batch stored before, a failed transaction) reads them back."""

from __future__ import annotations

import pickle
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sipparse.sip.message import SipMessage, Source
from sipparse.store import open_store
from sipparse.store.call_cache import MAX_CALL_ROWS, CallCache
from tests.store.factory import CallBuilder, mixed_traffic
from tests.store.helpers import calls_table

SOURCE = Source("/var/log/asterisk/pjsip", "fp-cache")
START = datetime(2025, 3, 1, 12, 0, 0)


def reference(tmp_path: Path, messages: list[SipMessage]) -> list[dict[str, Any]]:
    """The calls of these messages written in one batch, by a fresh store."""
    with open_store(f"sqlite:///{tmp_path}/reference.db") as store:
        store.write_batch(messages)
        return calls_table(store)


def read_back_only(tmp_path: Path, batches: list[list[SipMessage]]) -> list[dict[str, Any]]:
    """The calls of these batches written in turn by a store that reads every call back."""
    with open_store(f"sqlite:///{tmp_path}/read-back.db") as store:
        store._call_cache = CallCache(max_rows=0)
        for batch in batches:
            store.write_batch(batch)
        return calls_table(store)


def split(messages: list[SipMessage], parts: int) -> list[list[SipMessage]]:
    size = -(-len(messages) // parts)
    return [messages[i:i + size] for i in range(0, len(messages), size)]


class ReadBack:
    """Records the Call-IDs a store reads back from its message rows."""

    def __init__(self, store: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        self.call_ids: list[str] = []
        real = store._summaries

        def recorded(call_ids: Any) -> Any:
            self.call_ids += call_ids
            return real(call_ids)

        monkeypatch.setattr(store, "_summaries", recorded)


def stored_in_parts(url: str, traffic: list[SipMessage], monkeypatch: pytest.MonkeyPatch,
                    shipped: bool = False) -> tuple[list[str], list[dict[str, Any]], int]:
    """Write ``traffic`` in six batches (``shipped``: prepared with ``calls_ahead`` and pickled,
    as from a parse worker): the Call-IDs read back, the calls, the calls left in the cache."""
    with open_store(url) as store:
        reads = ReadBack(store, monkeypatch)
        for part in split(traffic, 6):
            if shipped:
                store.write_prepared(pickle.loads(pickle.dumps(store.prepare_batch(part, calls_ahead=True))))
            else:
                store.write_batch(part)
        return reads.call_ids, calls_table(store), len(store._call_cache)


def test_calls_continued_by_later_batches_are_not_read_back(db_url: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = mixed_traffic(SOURCE, 60, START)
    reads, stored, cached = stored_in_parts(db_url, traffic, monkeypatch)
    assert stored == reference(tmp_path, traffic) and cached > 0
    continued = {m.call_id for m in split(traffic, 6)[0]} & {m.call_id for m in split(traffic, 6)[1]}
    assert continued, "no call spans two batches: the test proves nothing"
    assert not set(reads) & continued


def test_batches_prepared_in_another_process_use_the_cache_too(db_url: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Only calls that looked over and got more messages are read back, as in one process."""
    traffic = mixed_traffic(SOURCE, 60, START)
    reads, stored, _ = stored_in_parts(db_url, traffic, monkeypatch, shipped=True)
    assert stored == reference(tmp_path, traffic)
    in_process, _, _ = stored_in_parts(f"sqlite:///{tmp_path}/in-process.db", traffic, monkeypatch)
    assert sorted(reads) == sorted(in_process)
    assert len(reads) < len({m.call_id for m in traffic}) // 10


def test_a_call_another_writer_continued_meanwhile_is_read_back(db_url: str, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Two hosts log the same calls; the other host's rows land between two of ours."""
    ours = mixed_traffic(SOURCE, 20, START, host="pbx-a", domain="shared")
    theirs = mixed_traffic(Source("/var/log/asterisk/pjsip", "fp-other"), 20, START, host="pbx-b", domain="shared")
    first, second = split(ours, 2)
    with open_store(db_url) as store, open_store(db_url) as other:
        reads = ReadBack(store, monkeypatch)
        store.write_batch(first)
        other.write_batch(theirs)
        store.write_batch(second)
        assert set(reads.call_ids) >= {m.call_id for m in first} & {m.call_id for m in second}
        # (not one batch of everything: which host's INVITE a call's row names depends on
        # the order the rows were stored in, when both logged it at the same moment)
        assert calls_table(store) == read_back_only(tmp_path, [first, theirs, second])


def test_an_answered_call_continued_by_another_host_meanwhile_counts_its_messages(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ours = CallBuilder("shared-call", SOURCE, START, host="pbx-a")
    ours.request("INVITE").response(100).response(200).request("ACK")
    answered = list(ours.messages)
    ours.request("BYE", q850=16).response(200)
    theirs = CallBuilder("shared-call", Source("/var/log/asterisk/pjsip", "fp-other"), START, host="pbx-b")
    theirs.request("INVITE").response(100).response(200).request("ACK")
    with open_store(db_url) as store, open_store(db_url) as other:
        reads = ReadBack(store, monkeypatch)
        store.write_batch(answered)
        assert store._call_cache.candidates(["shared-call"]) == ["shared-call"]
        other.write_batch(theirs.messages)
        store.write_batch(ours.messages[len(answered):])
        assert reads.call_ids == ["shared-call"]
        (call,) = calls_table(store)
        assert call["message_count"] == 10 and call["state"] == "completed"
        assert calls_table(store) == read_back_only(tmp_path, [answered, theirs.messages,
                                                               ours.messages[len(answered):]])


def test_a_batch_stored_before_reads_its_calls_back(db_url: str, tmp_path: Path) -> None:
    traffic = mixed_traffic(SOURCE, 30, START)
    parts = split(traffic, 3)
    with open_store(db_url) as store:
        store.write_batch(parts[0])
        store.write_batch(parts[0] + parts[1])  # a run again over what was stored, and more
        store.write_batch(parts[1] + parts[2])
        assert calls_table(store) == reference(tmp_path, traffic)


def test_nothing_of_a_failed_transaction_is_kept(sqlite_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = mixed_traffic(SOURCE, 30, START)
    parts = split(traffic, 3)
    with open_store(sqlite_url) as store:
        store.write_batch(parts[0])
        real_commit = store.commit
        failures = iter([sqlite3.OperationalError("database is locked"), RuntimeError("disk on fire")])

        def failing_commit() -> None:
            failure = next(failures, None)
            if failure is not None:
                raise failure
            real_commit()

        monkeypatch.setattr(store, "commit", failing_commit)
        with pytest.raises(RuntimeError):
            store.write_batch(parts[1])  # retried once (locked), then given up
        monkeypatch.setattr(store, "commit", real_commit)
        store.write_batch(parts[1])
        store.write_batch(parts[2])
        assert calls_table(store) == reference(tmp_path, traffic)


def test_the_cache_keeps_open_calls_only_and_stays_bounded() -> None:
    cache = CallCache(max_rows=10)
    cache.begin()
    cache.stage("done", "completed", (2, "t1"), ["r1", "r2"])
    cache.stage("open", "answered", (2, "t1"), ["r1", "r2"])
    cache.stage("long", "answered", (99, "t1"), ["r"] * (MAX_CALL_ROWS + 1))
    assert len(cache) == 0  # nothing before the commit
    cache.kept(6)
    assert cache.candidates(["done", "open", "long"]) == ["open"]
    assert cache.rows_of("open", (2, "t1")) == ["r1", "r2"]
    assert cache.rows_of("open", (2, "t2")) is None  # someone else wrote the call since
    cache.begin()
    cache.stage("open", "answered", (3, "t3"), ["r1", "r2", "r3"])
    cache.begin()  # the transaction is tried again: what it staged is gone
    cache.kept(3)
    assert cache.rows_of("open", (2, "t1")) == ["r1", "r2"]
    cache.begin()
    for n in range(6):
        cache.stage(f"c{n}", "in-progress", (2, "t"), ["a", "b"])
    cache.kept(12)
    assert cache.rows <= 10 and "open" not in cache.candidates(["open"])  # the oldest went first
    assert cache.candidates(["c5"]) == ["c5"]
