"""``ingest --workers``: the parse worker's read sizes and garbage-collector setting."""

from __future__ import annotations

import gc
import time
from datetime import UTC
from pathlib import Path

import pytest

from sipparse import ingest
from sipparse.ingest import PIPELINE_FIRST_BYTES, fewer_collections, pipeline_sizes
from tests.ingest.helpers import dump, dump_calls, ingest_ok
from tests.ingest.siplog import make_log


@pytest.mark.parametrize("total", [0, 1, 300_000, 3 << 20, (4 << 20) * 3 + 12345, (50 << 20) + 1])
def test_pipeline_reads_ramp_up_and_down_and_cover_the_file(total: int) -> None:
    batch = 4 << 20
    sizes = pipeline_sizes(total, batch)
    ramp = [PIPELINE_FIRST_BYTES << i for i in range(4) if PIPELINE_FIRST_BYTES << i < batch]
    assert sizes[:len(ramp)] == ramp and all(0 < s <= batch for s in sizes)
    if total > 2 * sum(ramp):
        assert sum(sizes) == total and sizes[-len(ramp):] == ramp[::-1]


def test_a_batch_counts_its_distinct_call_ids_but_empty_ones() -> None:
    from types import SimpleNamespace

    messages = [SimpleNamespace(call_id=c) for c in ("a@h", None, "", "b@h", "a@h")]
    batch = SimpleNamespace(messages=messages, rejects=[1], skipped_lines=3, end=99)
    counts = ingest.BatchCounts.of(batch)
    assert (counts.messages, counts.rejects, counts.skipped_lines, counts.end) == (5, 1, 3, 99)
    assert counts.call_ids == {"a@h", "b@h"}


def test_collections_are_restored_after_the_pipeline() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections(12345):
        assert gc.get_threshold()[0] == 12345
        raise RuntimeError
    assert gc.get_threshold() == before


@pytest.mark.parametrize("dialect", ["syslog", "full"])
def test_workers_reading_in_ramped_sizes_store_the_same_rows(db_url: str, tmp_path: Path, dialect: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "PIPELINE_FIRST_BYTES", 512)  # a ramp of several reads on a small log
    data = make_log(30, dialect)
    assert 2 * (512 + 1024 + 2048 + 4096) < len(data)
    (tmp_path / "ref.log").write_bytes(data)
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    ingest_ok(ref, "--batch-bytes", "8192", str(tmp_path / "ref.log"))
    (tmp_path / "pjsip").write_bytes(data)
    ingest_ok(db_url, "--workers", "2", "--batch-bytes", "8192", str(tmp_path / "pjsip"))
    assert dump(db_url) == dump(ref) and len(dump(ref)) == 30 * 6
    assert dump_calls(db_url) == dump_calls(ref) and len(dump_calls(ref)) == 30


@pytest.mark.parametrize(("todo", "cores", "busy", "want"), [
    (ingest.AUTO_WORKER_BYTES, 2, False, 1),
    (ingest.AUTO_WORKER_BYTES - 1, 2, False, 0),  # a cron run's few MiB: no fork
    (1 << 30, 1, False, 0),  # no core to spare
    (1 << 30, 2, True, 0),  # the cores are taken already
])
def test_auto_workers_only_for_large_runs_with_a_core_to_spare(monkeypatch: pytest.MonkeyPatch, todo: int,
                                                               cores: int, busy: bool, want: int) -> None:
    from sipparse import cores as cores_module

    monkeypatch.setattr(cores_module, "usable_cores", lambda: cores)
    monkeypatch.setattr(cores_module, "saturated", lambda n: busy)
    assert ingest.auto_workers(todo) == want


def test_ingest_by_default_parses_a_large_log_in_a_worker_with_the_same_result(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sipparse import cores as cores_module

    data = make_log(30, "full")
    (tmp_path / "ref.log").write_bytes(data)
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    ingest_ok(ref, "--workers", "0", "--batch-bytes", "8192", str(tmp_path / "ref.log"))
    monkeypatch.setattr(ingest, "AUTO_WORKER_BYTES", len(data))  # this log counts as large
    monkeypatch.setattr(cores_module, "usable_cores", lambda: 2)
    monkeypatch.setattr(cores_module, "saturated", lambda n: False)
    started: list[int] = []
    real_init = ingest.ParseWorker.__init__

    def counted_init(self: ingest.ParseWorker, *args: object, **kwargs: object) -> None:
        started.append(1)
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ingest.ParseWorker, "__init__", counted_init)
    (tmp_path / "pjsip").write_bytes(data)
    ingest_ok(db_url, "--batch-bytes", "8192", str(tmp_path / "pjsip"))
    assert started == [1]
    assert dump(db_url) == dump(ref) and dump_calls(db_url) == dump_calls(ref)


@pytest.mark.parametrize(("given", "fine"), [("auto", True), ("AUTO", True), ("0", True), ("3", True),
                                             ("65", False), ("-1", False), ("two", False)])
def test_workers_option_takes_a_count_or_auto(sqlite_url: str, tmp_path: Path, given: str, fine: bool) -> None:
    from click.testing import CliRunner

    from sipparse.cli import cli

    (tmp_path / "pjsip").write_bytes(make_log(1))
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "ingest", "--workers", given, str(tmp_path / "pjsip")])
    assert (result.exit_code == 0) is fine, result.output
    if not fine:
        assert result.exit_code == 2 and "--workers" in result.output


class _Handover:
    """Batches queued (None: the platform cannot count them), and the storing process's wait
    as a share of the time since the worker's last batch."""

    def __init__(self, size: int | None, idle: float) -> None:
        self.size, self.idle = size, idle

    def qsize(self) -> int:
        if self.size is None:
            raise NotImplementedError
        return self.size

    def waited(self) -> float:
        return self.idle * 10.0  # over the 10 s since the last batch


@pytest.mark.parametrize(("waiting", "idle", "prepared_here"),
                         [(0, 0.9, False), (0, 0.1, True), (1, 0.9, True), (2, 0.9, True), (None, 0.9, True)])
def test_the_worker_leaves_a_batch_to_a_storing_process_that_waits(waiting: int | None, idle: float,
                                                                  prepared_here: bool) -> None:
    """Only a storing process that has taken every batch and waited for most of the time since
    the last one gets a batch to prepare: an empty queue while both sides are even does not."""
    worker = ingest.ParseWorker.__new__(ingest.ParseWorker)
    worker.shares = True
    worker.handover = _Handover(waiting, idle)
    worker._time_before, worker._waited_before = time.monotonic() - 10.0, 0.0
    made = worker._share(lambda batch, nbytes: ("prepared", batch, nbytes), "batch", 7)
    if prepared_here:
        assert made == ("prepared", "batch", 7)
    else:
        assert isinstance(made, ingest._Unprepared) and (made.batch, made.nbytes) == ("batch", 7)


def test_a_dry_run_worker_leaves_no_batch_to_the_idle_storing_process() -> None:
    """In a dry run the storing process always waits, and preparing a batch is only counting
    it: the worker keeps every batch rather than send its messages over, pickled."""
    worker = ingest.ParseWorker.__new__(ingest.ParseWorker)
    worker.shares = False
    worker.handover = _Handover(0, 0.9)
    worker._time_before, worker._waited_before = time.monotonic() - 10.0, 0.0
    assert worker._share(lambda batch, nbytes: ("prepared", batch, nbytes), "batch", 7) == ("prepared", "batch", 7)


@pytest.mark.parametrize(("args", "forks"), [(["--dry-run"], False), ([], True),
                                             (["--dry-run", "--workers", "1"], True)])
def test_a_dry_run_parses_in_process_unless_workers_are_asked_for(db_url: str, tmp_path: Path, args: list[str],
                                                                   forks: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With nothing to store, a worker has nothing to overlap with: ``auto`` gives none."""
    monkeypatch.setattr(ingest, "auto_workers", lambda todo: 1)  # what a large run on two free cores gets
    started = []
    monkeypatch.setattr(ingest.Run, "_start_worker", lambda self, work: started.append(work) or None)
    (tmp_path / "pjsip").write_bytes(make_log(5, "full"))
    output = ingest_ok(db_url, *args, str(tmp_path / "pjsip"))
    assert bool(started) == forks
    if not forks:
        assert "30 messages parsed" in output


@pytest.mark.parametrize("waiting", [0, 2])
def test_batches_prepared_by_either_process_store_the_same(db_url: str, tmp_path: Path, waiting: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Every batch left to the storing process (it always waits), or none (it never does)."""
    monkeypatch.setattr(ingest.ParseWorker, "_share", _always(waiting))
    data = make_log(30, "syslog")
    (tmp_path / "ref.log").write_bytes(data)
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    ingest_ok(ref, "--workers", "0", "--batch-bytes", "8192", str(tmp_path / "ref.log"))
    (tmp_path / "pjsip").write_bytes(data)
    ingest_ok(db_url, "--workers", "1", "--batch-bytes", "8192", str(tmp_path / "pjsip"))
    assert dump(db_url) == dump(ref) and dump_calls(db_url) == dump_calls(ref)


def _always(waiting: int):  # type: ignore[no-untyped-def]
    real = ingest.ParseWorker._share

    def share(self, prepare, batch, nbytes):  # type: ignore[no-untyped-def]
        # in the forked worker: its own copy of the handover. It waited all the time, and more.
        self.handover.qsize = lambda: waiting
        self.handover.waited = lambda: 2 * time.monotonic()
        return real(self, prepare, batch, nbytes)

    return share


def test_a_failed_write_ends_the_workers_parsing_ahead(sqlite_url: str, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A database failure while the first file is stored ends the worker of the second too:
    ``ingest --follow`` outlives the failure (a server restart), and that worker, waiting
    on a full handover, would otherwise stay for as long, one more after every outage."""
    import multiprocessing

    from sipparse.config import parse_db_url
    from sipparse.errors import DatabaseError
    from sipparse.store import open_store

    def fail(self, item):  # type: ignore[no-untyped-def]
        raise DatabaseError("the server went away", unreachable=True)

    monkeypatch.setattr(ingest.Run, "_store", fail)
    paths = []
    for name in ("a.log", "b.log"):
        (tmp_path / name).write_bytes(make_log(600, "full", first=600 * len(paths)))
        paths.append(str(tmp_path / name))
    options = ingest.IngestOptions(tz=UTC, year=2025, workers=2, batch_bytes=16384)
    with open_store(parse_db_url(sqlite_url)) as store:
        with pytest.raises(DatabaseError):
            ingest.ingest_paths(store, paths, options)
    assert multiprocessing.active_children() == []
