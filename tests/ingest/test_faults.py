"""Faults: SIGKILL at random moments, a database that is down or disappears mid-way."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.ingest.helpers import checkpoints, dump, ingest_ok, one_run, run_process, sipparse_bin
from tests.ingest.siplog import make_log

TRIALS = 10



@pytest.mark.slow
def test_sigkill_at_random_moments_then_a_normal_run(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1500))  # big enough that a run takes a while, small enough to stay fast
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    started = time.monotonic()
    assert run_process(ref, str(log)).returncode == 0
    clean_seconds = time.monotonic() - started
    want = dump(ref)
    rnd = random.Random(6)
    kills = 0
    argv = [*sipparse_bin(), "--db", db_url, "ingest", "--tz", "UTC", "--no-progress",
            "--batch-bytes", "65536", str(log)]
    for _ in range(TRIALS):
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rnd.uniform(0.05, 0.9 * clean_seconds))
        if proc.poll() is None:
            proc.kill()
            kills += 1
        proc.wait()
    assert kills > 0
    final = run_process(db_url, str(log))
    assert final.returncode == 0, final.stderr
    assert dump(db_url) == want


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_unreachable_exits_1_and_moves_nothing(tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(2))
    result = run_process(f"mysql://root@127.0.0.1:{_free_port()}/sip", str(log))
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and len(result.stderr.splitlines()) == 1
    assert "127.0.0.1" in result.stderr and "Traceback" not in result.stderr


def _admin(mysql_url: str, sql: str) -> None:
    """Run a server-level statement (no default database) with the test's credentials."""
    import mysql.connector

    from sipparse.config import parse_db_url

    url = parse_db_url(mysql_url)
    con = mysql.connector.connect(host=url.host, port=url.port or 3306, user=url.user,
                                  password=url.password or "")
    try:
        con.cursor().execute(sql)
    finally:
        con.close()


@pytest.mark.mysql
def test_database_gone_between_runs_then_back(mysql_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    data = make_log(6)
    half = data.index(b"\n\n", len(data) // 2) + 2
    log.write_bytes(data[:half])
    ingest_ok(mysql_url, str(log))
    with open(log, "ab") as fh:
        fh.write(data[half:])
    database = mysql_url.rsplit("/", 1)[1]
    _admin(mysql_url, f"DROP DATABASE `{database}`")
    down = run_process(mysql_url, str(log))
    assert down.returncode == 1, down.stdout
    assert down.stderr.startswith("Error: ") and len(down.stderr.splitlines()) == 1, down.stderr
    _admin(mysql_url, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    ingest_ok(mysql_url, str(log))
    assert dump(mysql_url) == one_run(tmp_path, data)


@pytest.mark.mysql
@pytest.mark.slow
def test_database_dropped_during_a_run(mysql_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    data = make_log(1500)
    log.write_bytes(data)
    argv = [*sipparse_bin(), "--db", mysql_url, "ingest", "--tz", "UTC", "--no-progress",
            "--batch-bytes", "32768", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None and not _has_checkpoint(mysql_url):
        time.sleep(0.01)
    database = mysql_url.rsplit("/", 1)[1]
    _admin(mysql_url, f"DROP DATABASE `{database}`")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, (out, err)
    assert err.startswith("Error: ") and len(err.splitlines()) == 1 and "Traceback" not in err, err
    _admin(mysql_url, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
    ingest_ok(mysql_url, str(log))
    assert dump(mysql_url) == one_run(tmp_path, data)


def _has_checkpoint(mysql_url: str) -> bool:
    try:
        return bool(checkpoints(mysql_url))
    except Exception:  # the schema may not exist yet
        return False


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A directory on a tmpfs of 3 MiB, or a skip where this process may not mount one."""
    where = tmp_path / "small"
    where.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(where)], capture_output=True)
    if mounted.returncode:
        pytest.skip("cannot mount a small tmpfs here (it needs root)")
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


def test_sqlite_on_a_full_disk_exits_1_and_the_next_run_catches_up(small_filesystem: Path, tmp_path: Path) -> None:
    db_url = f"sqlite:///{small_filesystem / 'sip.db'}"
    log = tmp_path / "pjsip"
    data = make_log(1500)
    first = data.index(b"\n\n", len(data) // 20) + 2
    log.write_bytes(data[:first])
    assert run_process(db_url, str(log)).returncode == 0
    before = checkpoints(db_url)
    log.write_bytes(data)
    full = run_process(db_url, str(log))
    assert full.returncode == 1, full.stdout
    assert full.stderr.startswith("Error: ") and len(full.stderr.splitlines()) == 1, full.stderr
    assert "disk is full" in full.stderr and "Traceback" not in full.stderr
    assert checkpoints(db_url) == before
    subprocess.run(["mount", "-o", "remount,size=200m", str(small_filesystem)], check=True)
    assert run_process(db_url, str(log)).returncode == 0
    assert dump(db_url) == one_run(tmp_path, data)


def test_the_summary_counts_only_what_was_committed(sqlite_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure rolls back every batch of the open transaction (SQLite's hold several).
    ``--follow`` waits the outage out and reads them again with the same summary, so the
    line it prints at the end must not count the rolled-back ones as well: it has to agree
    with the database."""
    from datetime import UTC

    from sipparse import ingest
    from sipparse.config import parse_db_url
    from sipparse.errors import DatabaseError
    from sipparse.store import open_store
    from sipparse.store.base import Store

    log = tmp_path / "pjsip"
    log.write_bytes(make_log(400))
    real_write_next = Store._write_next
    written = 0

    def failing_once(self: Store, batch: object) -> object:
        nonlocal written
        written += 1
        if written == 2:  # the second batch of the first transaction: the first goes with it
            self._abandon_open()
            raise DatabaseError("the server went away", unreachable=True)
        return real_write_next(self, batch)

    monkeypatch.setattr(Store, "_write_next", failing_once)
    options = ingest.IngestOptions(tz=UTC, year=2025, workers=0, batch_bytes=8192)
    summary = ingest.IngestSummary()
    with open_store(parse_db_url(sqlite_url)) as store:
        with pytest.raises(DatabaseError):
            ingest.ingest_paths(store, [str(log)], options, summary=summary)
        assert (summary.messages, summary.bytes) == (0, 0)
        ingest.ingest_paths(store, [str(log)], options, summary=summary)
        stored = store.fetchall("SELECT COUNT(*) AS n FROM sip_transactions")[0]["n"]
    assert written > 2
    assert summary.messages == stored > 0
    assert summary.bytes == log.stat().st_size
