"""SIGKILL at any moment loses nothing and duplicates nothing: the next run finishes the job.

The history under test is a cron ingest over a log that keeps growing, killed at random
moments: before it opened the database, while it parses, while a transaction writes, while
it commits. After one normal run the database must hold exactly what one clean run over the
final log gives: the same messages (identified by file fingerprint and offset), the same call
summaries and the same checkpoints.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    Content,
    assert_sane,
    checkpoints,
    child_env,
    connect,
    ingest_argv,
    ingest_ok,
    make_log,
    reference,
)

TRIALS = 10



def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def _killed_run(argv: list[str], delay: float) -> bool:
    """Start a run and SIGKILL it after ``delay`` seconds; True when it was killed."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return True


@pytest.mark.slow
def test_sigkill_at_random_moments_of_a_growing_log(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(600))
    argv = ingest_argv(db_url, "--batch-bytes", "262144", str(log))
    ingest_ok(db_url, str(log))
    _append(log, make_log(600, first=600))
    started = time.monotonic()
    ingest_ok(db_url, str(log))  # a whole run over what each trial appends: the span kills are drawn from
    span = time.monotonic() - started
    rnd = random.Random(2025)
    kills = 0
    deadline = time.monotonic() + 40
    for trial in range(TRIALS):
        _append(log, make_log(600, first=600 * (trial + 2)))
        kills += _killed_run(argv, rnd.uniform(0.05, 0.9 * span))
        if time.monotonic() > deadline:
            break
    assert kills >= TRIALS // 2, f"only {kills} runs were killed: the moments chosen were too late"
    ingest_ok(db_url, str(log))
    assert_sane(db_url)
    want = reference(tmp_path, {"pjsip": log.read_bytes()})
    got = Content.of(db_url)
    assert got.messages == want.messages
    assert got.calls == want.calls
    assert got.checkpoints == want.checkpoints


def _sqlite_writing(db_path: Path) -> bool:
    """A write transaction is under way: the WAL grew since the last look."""
    wal = Path(str(db_path) + "-wal")
    try:
        return wal.stat().st_size > 0
    except FileNotFoundError:
        return False


class _MySQLWatch:
    """Sees, over one open connection, the ingest's session running a statement of a batch.

    ``processlist`` (unlike ``innodb_trx``, which the server caches) shows each statement
    as it runs: a kill while ``INSERT INTO calls`` runs lands after the batch's messages
    were inserted and before its commit; a kill while ``COMMIT`` runs lands inside it.
    ``statements``: the beginnings watched for (the messages go by ``LOAD DATA`` where the
    server allows it, else by ``INSERT``).
    """

    def __init__(self, db_url: str) -> None:
        self.con = connect(db_url)
        self.statements: tuple[str, ...] = ("COMMIT",)

    def __call__(self) -> bool:
        cur = self.con.cursor()
        watched = " OR ".join(["info LIKE %s"] * len(self.statements))
        cur.execute("SELECT COUNT(*) FROM information_schema.processlist WHERE id <> CONNECTION_ID() "
                    f"AND db = DATABASE() AND ({watched})", tuple(s + "%" for s in self.statements))
        return bool(cur.fetchall()[0][0])

    def close(self) -> None:
        self.con.close()


def _kill_inside_a_transaction(argv: list[str], writing, timeout: float = 20) -> bool:  # type: ignore[no-untyped-def]
    """Start a run, SIGKILL it as soon as ``writing()`` sees a transaction in progress."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if writing():
                proc.kill()
                proc.wait()
                return True
            time.sleep(0.002)
        return False
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_sigkill_inside_a_write_transaction(db_url: str, tmp_path: Path) -> None:
    """Kills aimed at the moments a big batch is being written or committed."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(300))
    if db_url.startswith("sqlite"):
        db_path = Path(db_url[len("sqlite:///"):])
        # a checkpointed, empty WAL before each run: what remains there is the killed run's work
        ingest_ok(db_url, "--dry-run", str(log))

        def writing() -> bool:
            return _sqlite_writing(db_path)
    else:
        ingest_ok(db_url, "--dry-run", str(log))  # the schema exists before the watch starts
        writing = _MySQLWatch(db_url)

    rnd = random.Random(5)
    kills = 0
    for trial in range(6):
        _append(log, make_log(200, first=300 + 200 * trial))
        if db_url.startswith("sqlite"):
            _truncate_wal(db_path)
        argv = ingest_argv(db_url, "--batch-bytes", str(rnd.choice([1 << 20, 2 << 20])), str(log))
        if isinstance(writing, _MySQLWatch):
            writing.statements = [("COMMIT",), ("INSERT INTO `calls`",),
                                  ("INSERT INTO `sip_transactions`", "LOAD DATA")][trial % 3]
        kills += _kill_inside_a_transaction(argv, writing)
    assert kills >= 3
    if not db_url.startswith("sqlite"):
        writing.close()
    if db_url.startswith("sqlite"):
        con = connect(db_url)
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        con.close()
    ingest_ok(db_url, str(log))
    assert_sane(db_url)
    want = reference(tmp_path, {"pjsip": log.read_bytes()})
    got = Content.of(db_url)
    assert (got.messages, got.calls, got.checkpoints) == (want.messages, want.calls, want.checkpoints)


def _truncate_wal(db_path: Path) -> None:
    if not db_path.exists():
        return
    con = connect(f"sqlite:///{db_path}")
    try:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()
    assert not os.path.exists(str(db_path) + "-wal") or os.path.getsize(str(db_path) + "-wal") == 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _committed(db_url: str) -> bool:
    try:
        return bool(checkpoints(db_url))
    except Exception:  # no schema yet
        return False


def _gone(pid: int) -> bool:
    """Ended (a zombie nobody reaped holds no files either)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status or "\nState:\tX" in status


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_sigkill_of_a_run_ends_its_parse_worker_too(db_url: str, tmp_path: Path) -> None:
    """The parse worker shares the log's lock with the run that forked it: a worker outliving
    its killed parent would make every later run find the log busy."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3000))
    argv = ingest_argv(db_url, "--workers", "1", "--batch-bytes", "32768", str(log))
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
    try:
        deadline = time.monotonic() + 20
        while not (workers := _children(proc.pid)) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert workers, "the run ended before its worker could be seen: a larger log is needed"
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 10
        while not all(map(_gone, workers)) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert all(map(_gone, workers)), "the parse worker outlived the run that started it"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "busy" not in ingest_ok(db_url, str(log)).stdout
    want = reference(tmp_path, {"pjsip": log.read_bytes()})
    got = Content.of(db_url)
    assert got.messages == want.messages and got.calls == want.calls


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux's /proc")
def test_a_parse_worker_killed_mid_run_is_said_as_killed(db_url: str, tmp_path: Path) -> None:
    """SIGKILL of the parse worker alone (the kernel's OOM killer picks the larger process):
    the run stops at its last committed batch with one line that says the worker was
    killed, by which signal (it said "parser process ended with status -9"), and the next
    run stores what one clean run stores."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3000))
    argv = ingest_argv(db_url, "--workers", "1", "--batch-bytes", "32768", str(log))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=child_env())
    try:
        deadline = time.monotonic() + 20
        while not (workers := _children(proc.pid)) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert workers, "the run ended before its worker could be seen: a larger log is needed"
        while not _committed(db_url) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(workers[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1, err
    assert "Traceback" not in err
    assert err.rstrip("\n").splitlines()[-1].endswith("the parse worker was killed by SIGKILL"), err
    ingest_ok(db_url, str(log))
    want = reference(tmp_path, {"pjsip": log.read_bytes()})
    got = Content.of(db_url)
    assert (got.messages, got.calls, got.checkpoints) == (want.messages, want.calls, want.checkpoints)
