"""How an ingest commits: a transaction per ``batches_per_commit`` batches of log (four on
SQLite), every batch committed before a file is done, and the same rows as with one commit
per batch, in one process or with a parse worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from sipparse.store.base import Store
from sipparse.store.sqlite import BATCHES_PER_COMMIT, SQLiteStore
from tests.ingest.helpers import dump, dump_calls, ingest_ok
from tests.ingest.siplog import make_log

BATCH_BYTES = 16384


class Commits:
    """Counts the COMMITs of ingest writes (``write_prepared``), and what each covered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.batches: list[int] = []  # batches in each committed transaction
        self._open = 0
        real_write, real_commit = Store.write_prepared, SQLiteStore.commit

        def write_prepared(store: Any, *args: Any, **kwargs: Any) -> Any:
            self._open += 1
            return real_write(store, *args, **kwargs)

        def commit(store: Any) -> None:
            opened = store._con.in_transaction
            real_commit(store)
            if opened and self._open:
                self.batches.append(self._open)
                self._open = 0

        monkeypatch.setattr(Store, "write_prepared", write_prepared)
        monkeypatch.setattr(SQLiteStore, "commit", commit)


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_transaction_holds_a_few_batches_and_stores_what_one_each_stores(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: str) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(300))
    one_each = f"sqlite:///{tmp_path / 'one-each.db'}"
    with monkeypatch.context() as m:
        m.setattr(SQLiteStore, "batches_per_commit", 1)
        ingest_ok(one_each, "--workers", "0", "--batch-bytes", str(BATCH_BYTES), str(log))
    commits = Commits(monkeypatch)
    grouped = f"sqlite:///{tmp_path / 'grouped.db'}"
    ingest_ok(grouped, "--workers", workers, "--batch-bytes", str(BATCH_BYTES), str(log))
    batches = sum(commits.batches)
    assert batches >= 3 * BATCHES_PER_COMMIT
    assert len(commits.batches) < batches / 2  # a commit per batch before
    assert (dump(grouped), dump_calls(grouped)) == (dump(one_each), dump_calls(one_each))


def test_each_file_is_committed_before_the_next_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    paths = [tmp_path / "pjsip", tmp_path / "other"]
    paths[0].write_bytes(make_log(3))
    paths[1].write_bytes(make_log(3, first=50))
    commits = Commits(monkeypatch)
    ingest_ok(f"sqlite:///{tmp_path / 'two.db'}", "--workers", "0", *map(str, paths))
    # the batches of both files would fit in one transaction: each file commits its own
    assert len(commits.batches) == 2 and sum(commits.batches) <= BATCHES_PER_COMMIT
