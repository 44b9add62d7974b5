"""A MySQL server that goes away, kills sessions, holds locks or picks ingest as a deadlock victim.

These tests run against a MariaDB of their own (``RestartableServer``): they stop it, crash
it and change its lock wait timeout (1 s, so that giving up takes seconds, not minutes).
In every case nothing may be lost or stored twice, and a run either succeeds (retrying what
is safe to retry: deadlocks, lock wait timeouts, a lost connection) or exits 1 with one line.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import mysql_required
from tests.reliability.helpers import (
    Content,
    RestartableServer,
    assert_one_line_error,
    assert_sane,
    call,
    checkpoints,
    child_env,
    entry,
    ingest,
    ingest_argv,
    ingest_ok,
    make_log,
    reference,
    sipparse_argv,
)

pytestmark = pytest.mark.mysql
START = __import__("datetime").datetime(2025, 6, 1, 9, 0, 0)


@pytest.fixture(scope="module")
def server() -> Iterator[RestartableServer]:
    srv = RestartableServer(lock_wait_timeout=1)
    if not srv.available:
        if mysql_required():
            pytest.fail("no mariadbd/mysqld to start a private server")
        pytest.skip("no mariadbd/mysqld to start a private server")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def db(server: RestartableServer) -> str:
    if server.proc is None or server.proc.poll() is not None:
        server.resume()
    return server.database("rel_" + uuid.uuid4().hex[:10])



def _background(db_url: str, *args: str, debug: bool = False) -> subprocess.Popen[str]:
    argv = ingest_argv(db_url, *args)
    if debug:  # a global option, after the command itself (which may be "python -m sipparse")
        argv.insert(len(sipparse_argv()), "--debug")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(SIPPARSE_LOCK_DIR=os.environ["SIPPARSE_LOCK_DIR"]))


def _wait_for(condition: Any, timeout: float = 30.0, proc: subprocess.Popen[str] | None = None) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def _has_checkpoint(db_url: str) -> bool:
    try:
        return bool(checkpoints(db_url))
    except Exception:  # no schema yet
        return False


def _finish(proc: subprocess.Popen[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _same_as_clean_run(db_url: str, tmp_path: Path, log: Path) -> None:
    assert_sane(db_url)
    want = reference(tmp_path, {log.name: log.read_bytes()})
    got = Content.of(db_url)
    assert got.messages == want.messages
    assert got.calls == want.calls
    assert got.checkpoints == want.checkpoints


@pytest.mark.slow
@pytest.mark.parametrize("how", ["halt", "crash"])
def test_server_stopped_mid_run_then_restarted(server: RestartableServer, db: str, tmp_path: Path,
                                               how: str) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1200))
    proc = _background(db, "--batch-bytes", "65536", str(log))
    assert _wait_for(lambda: _has_checkpoint(db), proc=proc), "no batch was committed"
    getattr(server, how)()
    try:
        done = _finish(proc)
        assert_one_line_error(done)
        assert "127.0.0.1" in done.stderr
    finally:
        server.resume()
    ingest_ok(db, str(log))
    _same_as_clean_run(db, tmp_path, log)


def _has_table(server: RestartableServer, db: str, table: str) -> bool:
    name = db.rsplit("/", 1)[1]
    return bool(server.admin(f"SELECT 1 FROM information_schema.tables WHERE table_schema = '{name}' "
                             f"AND table_name = '{table}'"))


@pytest.mark.slow
def test_ctrl_c_is_an_interruption_not_a_database_error(server: RestartableServer, tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) while the MySQL session reads a result (here the schema's tables, which
    a first run reads back as it makes them): the run ends as interrupted, not with a database
    error of the statement it cut ("cannot write: Unread result found"), and the next run
    stores what one clean run does."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1200))
    for attempt in range(4):
        db = server.database(f"rel_int_{attempt}_" + uuid.uuid4().hex[:6])
        proc = _background(db, "--batch-bytes", "65536", str(log))
        assert _wait_for(lambda: _has_table(server, db, "checkpoints"), proc=proc)  # noqa: B023
        time.sleep(0.05 * attempt)
        proc.send_signal(signal.SIGINT)
        done = _finish(proc)
        assert "Error" not in done.stderr and "Traceback" not in done.stderr, done.stderr
        if done.returncode:
            assert done.stderr.strip() == "Aborted!", done.stderr
        ingest_ok(db, str(log))
        _same_as_clean_run(db, tmp_path, log)


def _stored_then_appended(url: str, db: str, tmp_path: Path, count: int) -> tuple[Path, list[tuple[str, int, int]]]:
    """A log of ``count`` messages ingested through ``url``, then as many more appended:
    the log and its checkpoints (read through ``db``) before the appended part is read."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(count))
    ingest_ok(url, str(log))
    before = checkpoints(db)
    with open(log, "ab") as fh:
        fh.write(make_log(count, first=count))
    return log, before


def test_server_down_at_start_exits_1_and_moves_no_checkpoint(server: RestartableServer, db: str,
                                                              tmp_path: Path) -> None:
    log, before = _stored_then_appended(db, db, tmp_path, 20)
    server.halt()
    try:
        assert_one_line_error(ingest(db, str(log)))
    finally:
        server.resume()
    assert checkpoints(db) == before
    ingest_ok(db, str(log))
    _same_as_clean_run(db, tmp_path, log)


class _Killer(threading.Thread):
    """Kills the ingest's session from another connection, ``times`` times, while it writes."""

    def __init__(self, server: RestartableServer, database: str, times: int) -> None:
        super().__init__(daemon=True)
        self.server, self.database, self.times = server, database, times
        self.killed = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while self.killed < self.times and not self.stop.is_set():
            found = self.server.admin(
                f"SELECT id FROM information_schema.processlist WHERE db = '{self.database}' "
                "AND id <> CONNECTION_ID() AND info LIKE 'INSERT%'")
            for (session,) in found:
                try:
                    self.server.admin(f"KILL CONNECTION {int(session)}")
                    self.killed += 1
                except Exception:  # it ended on its own meanwhile
                    pass
                time.sleep(0.2)
            time.sleep(0.005)


@pytest.mark.slow
def test_session_killed_by_the_server_is_reconnected_and_retried(server: RestartableServer, db: str,
                                                                 tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1500))
    proc = _background(db, "--batch-bytes", "131072", str(log))
    killer = _Killer(server, db.rsplit("/", 1)[1], times=3)
    killer.start()
    done = _finish(proc)
    killer.stop.set()
    killer.join()
    assert killer.killed >= 1, "the ingest session was never caught writing"
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    _same_as_clean_run(db, tmp_path, log)


class _Holder:
    """Another session running a locking read in a transaction it keeps open until released."""

    def __init__(self, db_url: str, sql: str, seconds: float) -> None:
        from tests.reliability.helpers import connect

        self.con = connect(db_url)
        self.con.autocommit = False
        cur = self.con.cursor()
        cur.execute(sql)
        cur.fetchall()
        self.released = threading.Event()
        self.thread = threading.Thread(target=self._keep, args=(seconds,), daemon=True)
        self.thread.start()

    def _keep(self, seconds: float) -> None:
        self.released.wait(seconds)
        self.con.rollback()
        self.con.close()

    def release(self) -> None:
        self.released.set()
        self.thread.join()


def _split_log(tmp_path: Path) -> tuple[Path, bytes]:
    """A log whose first part is stored; returns the log and the rest, which continues calls 8 and 9."""
    first: list[bytes] = []
    rest: list[bytes] = []
    for n in range(10):
        for i, (direction, msg) in enumerate(call(n)):
            (rest if n >= 8 and i >= 4 else first).append(entry(direction, msg, START, "full"))
    log = tmp_path / "pjsip"
    log.write_bytes(b"".join(first))
    return log, b"".join(rest)


@pytest.mark.parametrize("table", ["checkpoints", "calls"])
def test_lock_held_a_while_by_another_session_is_waited_for(db: str, tmp_path: Path, table: str) -> None:
    log, rest = _split_log(tmp_path)
    ingest_ok(db, str(log))
    holder = _Holder(db, f"SELECT * FROM `{table}` FOR UPDATE", seconds=2.5)
    with open(log, "ab") as fh:
        fh.write(rest)
    done = run_debug(db, str(log))
    holder.thread.join()
    assert done.returncode == 0, done.stderr
    assert "retried" in done.stderr, "the lock wait timeout was not met: the test proves nothing"
    _same_as_clean_run(db, tmp_path, log)


def run_debug(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _finish(_background(db_url, *args, debug=True))


@pytest.mark.slow
def test_lock_never_released_gives_up_with_one_line(db: str, tmp_path: Path) -> None:
    log, rest = _split_log(tmp_path)
    ingest_ok(db, str(log))
    before = checkpoints(db)
    holder = _Holder(db, "SELECT * FROM `calls` FOR UPDATE", seconds=60)
    with open(log, "ab") as fh:
        fh.write(rest)
    started = time.monotonic()
    done = ingest(db, str(log), timeout=60)
    line = assert_one_line_error(done)
    assert "lock" in line.lower(), line
    assert time.monotonic() - started < 40
    assert checkpoints(db) == before
    holder.release()
    ingest_ok(db, str(log))
    _same_as_clean_run(db, tmp_path, log)


def test_deadlock_victim_is_rolled_back_and_retried(server: RestartableServer, db: str,
                                                    tmp_path: Path) -> None:
    """Another session takes call 9's row, waits until ingest holds call 8's and wants 9's, then asks for 8.

    That other session has written many rows first, so InnoDB picks the ingest's lighter
    transaction as the victim: it must roll back whole and run again.
    """
    from tests.reliability.helpers import connect

    log, rest = _split_log(tmp_path)
    ingest_ok(db, str(log))
    server.admin("SET GLOBAL innodb_lock_wait_timeout = 30")  # a wait, not a timeout, then the deadlock
    try:
        other = connect(db)
        other.autocommit = False
        cur = other.cursor()
        cur.execute("CREATE TABLE ballast (n INT PRIMARY KEY, pad CHAR(200))")
        cur.execute("INSERT INTO ballast SELECT seq, 'x' FROM seq_1_to_20000")
        cur.execute("SELECT * FROM calls WHERE call_id = 'call-9@192.0.2.10' FOR UPDATE")
        cur.fetchall()
        with open(log, "ab") as fh:
            fh.write(rest)
        proc = _background(db, str(log), debug=True)
        name = db.rsplit("/", 1)[1]
        blocked = _wait_for(lambda: bool(server.admin(
            f"SELECT id FROM information_schema.processlist WHERE db = '{name}' AND id <> CONNECTION_ID() "
            "AND info LIKE 'INSERT INTO `calls`%'")), proc=proc)
        assert blocked, "ingest never waited for call 9"
        time.sleep(0.3)
        cur.execute("SELECT * FROM calls WHERE call_id = 'call-8@192.0.2.10' FOR UPDATE")
        cur.fetchall()
        other.rollback()
        other.close()
    finally:
        server.admin(f"SET GLOBAL innodb_lock_wait_timeout = {server.lock_wait_timeout}")
    done = _finish(proc)
    assert done.returncode == 0, done.stderr
    assert "Deadlock" in done.stderr and "retried" in done.stderr, done.stderr[-2000:]
    _same_as_clean_run(db, tmp_path, log)


def _follow_across_an_outage(server: RestartableServer, db: str, log: Path, while_down: Callable[[], None],
                             once_back: Callable[[], None]) -> subprocess.CompletedProcess[str]:
    """``ingest --follow`` of ``log`` (ten calls, 60 messages, in it) through a halt of the
    server: ``while_down`` runs while it is halted, ``once_back`` once it is back; the
    follower's end, stopped with SIGTERM once 180 messages are stored."""
    proc = _background(db, "--follow", str(log))
    try:
        assert _wait_for(lambda: _stored(db) == 60, proc=proc), "the first messages were not stored"
        server.halt()
        while_down()
        time.sleep(2.0)  # the follower meets the server down
        server.resume()
        once_back()
        assert _wait_for(lambda: _stored(db) == 180, timeout=90, proc=proc), "not all stored after the outage"
    finally:
        if server.proc is None or server.proc.poll() is not None:
            server.resume()
        proc.terminate()
        done = _finish(proc)
    return done


@pytest.mark.slow
def test_follow_waits_out_a_server_restart(server: RestartableServer, db: str, tmp_path: Path) -> None:
    """``ingest --follow`` runs as a service: a restart of the server costs a wait, not the
    service; what was logged meanwhile is stored once it is back, each message once."""
    log = tmp_path / "pjsip"
    before, during, after = make_log(10), make_log(10, first=10), make_log(10, first=20)
    log.write_bytes(before)

    def append(data: bytes) -> None:
        with open(log, "ab") as fh:
            fh.write(data)

    done = _follow_across_an_outage(server, db, log, lambda: append(during), lambda: append(after))
    assert done.returncode == 0, done.stderr
    assert "trying again" in done.stderr and "reached again" in done.stderr
    _same_as_clean_run(db, tmp_path, log)


def test_follow_reads_a_log_deleted_during_an_outage_to_its_end(server: RestartableServer, db: str,
                                                                  tmp_path: Path) -> None:
    """The followed log deleted and made again while the server is down (a rotation that
    deletes, a cleanup): its last lines were never stored, and are only in the file the
    follower holds open. It keeps it open through the outage and reads it to its end."""
    log = tmp_path / "pjsip"
    before, during, after = make_log(10), make_log(10, first=10), make_log(10, first=20)
    log.write_bytes(before)

    def write_then_replace() -> None:
        with open(log, "ab") as fh:
            fh.write(during)
        time.sleep(2.0)  # the follower meets the server down
        log.unlink()
        log.write_bytes(after)

    done = _follow_across_an_outage(server, db, log, write_then_replace, lambda: None)
    assert done.returncode == 0, done.stderr
    want, got = reference(tmp_path, {"deleted": before + during, "pjsip": after}), Content.of(db)
    assert (got.messages, got.calls) == (want.messages, want.calls)


def test_follow_outlives_an_outage_said_to_a_stderr_that_is_gone(server: RestartableServer, db: str,
                                                                 tmp_path: Path) -> None:
    """journald restarted, or the reader of a pipe ended: the warning of an outage has nowhere
    to go, and the service goes on all the same, catches up, and stops cleanly."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(10))
    proc = _background(db, "--follow", str(log))
    try:
        assert _wait_for(lambda: _stored(db) == 60, proc=proc), "the first messages were not stored"
        assert proc.stderr is not None
        proc.stderr.close()
        server.halt()
        with open(log, "ab") as fh:
            fh.write(make_log(10, first=10))
        time.sleep(2.0)  # the follower meets the server down, and would say so
        assert proc.poll() is None
        server.resume()
        assert _wait_for(lambda: _stored(db) == 120, timeout=90, proc=proc), "not caught up after the restart"
    finally:
        if server.proc is None or server.proc.poll() is not None:
            server.resume()
        proc.terminate()
        out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    assert "messages new" in out
    _same_as_clean_run(db, tmp_path, log)


def test_follow_outlives_the_server_closing_its_idle_session(server: RestartableServer, db: str,
                                                             tmp_path: Path) -> None:
    """A server whose ``wait_timeout`` is shorter than a quiet spell of the log closes the
    follower's session meanwhile: the next write reopens it and goes on, storing each message once."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(5))
    server.admin("SET GLOBAL wait_timeout = 2")
    try:
        proc = _background(db, "--follow", str(log), debug=True)
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
        reader.start()
        try:
            for n in range(1, 3):
                assert _wait_for(lambda n=n: _stored(db) == 30 * n, proc=proc), f"part {n} was not stored"
                time.sleep(3.5)  # the session is closed meanwhile
                with open(log, "ab") as fh:
                    fh.write(make_log(5, first=5 * n))
            assert _wait_for(lambda: _stored(db) == 90, proc=proc), "not stored after the session was closed"
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            reader.join(timeout=10)
    finally:
        server.admin("SET GLOBAL wait_timeout = 28800")
    assert proc.returncode == 0, said[-20:]
    # the closed session as the statement that found it says it: a lost connection (2013),
    # or the C extension's dead handle ("MySQL Connection not available")
    found_closed = ("retried after 2013", "retried after MySQL Connection not available")
    assert any(words in line for line in said for words in found_closed), "the session was never found closed"
    _same_as_clean_run(db, tmp_path, log)


def test_a_read_only_server_refuses_a_run_that_the_next_one_catches_up(server: RestartableServer, db: str,
                                                                        tmp_path: Path) -> None:
    """``read_only`` (a replica, a server under maintenance) refuses the writes of an account
    without SUPER: one line, exit 1, no checkpoint moved; once writable again, the next run
    stores what the refused one did not."""
    user = "ro_" + uuid.uuid4().hex[:8]
    name = db.rsplit("/", 1)[1]
    server.admin(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'pw'")
    server.admin(f"GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX ON `{name}`.* TO '{user}'@'%'")
    url = f"mysql://{user}:pw@127.0.0.1:{server.port}/{name}"
    log, before = _stored_then_appended(url, db, tmp_path, 5)
    server.admin("SET GLOBAL read_only = 1")
    try:
        line = assert_one_line_error(ingest(url, str(log)))
    finally:
        server.admin("SET GLOBAL read_only = 0")
        server.admin(f"DROP USER '{user}'@'%'")
    assert "read-only" in line and ":***@" in line, line
    assert checkpoints(db) == before
    ingest_ok(db, str(log))
    _same_as_clean_run(db, tmp_path, log)


def test_follow_ends_on_a_database_that_refuses_it(server: RestartableServer, tmp_path: Path) -> None:
    """A refusal is no outage: waiting would not mend a missing privilege or database."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(2))
    proc = _background(f"mysql://nobody@127.0.0.1:{server.port}/nowhere", "--follow", str(log))
    done = _finish(proc, timeout=60)
    assert_one_line_error(done)
    assert "trying again" not in done.stderr


def _stored(db_url: str) -> int:
    try:
        return len(Content.of(db_url).messages)
    except Exception:  # the server down, or no schema yet
        return -1


# the sipparse command on the pure-Python connector: ssl loaded first keeps the C extension out
PURE_CONNECTOR_ARGV = [sys.executable, "-c", "import ssl, sys; from sipparse.cli import run; run(sys.argv[1:])"]
QUICK_TIMEOUTS = "?read_timeout=2&write_timeout=2"


def _frozen_server_run(server: RestartableServer, db: str, log: Path, argv: list[str],
                       timeout: float) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``argv``, freeze the server once the run has committed a batch, and wait for the
    run to end: (how it ended, seconds after the freeze). The server is thawed in any case."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(SIPPARSE_LOCK_DIR=os.environ["SIPPARSE_LOCK_DIR"]))
    try:
        assert _wait_for(lambda: _has_checkpoint(db), proc=proc), "no batch was committed"
        server.freeze()
        frozen = time.monotonic()
        try:
            done = _finish(proc, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the run still waits for the frozen server after {timeout} s") from None
        return done, time.monotonic() - frozen
    finally:
        server.thaw()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("connector", ["C extension", "pure Python"])
def test_a_frozen_server_ends_the_run_within_its_timeouts(server: RestartableServer, db: str,
                                                          tmp_path: Path, connector: str) -> None:
    """A server that stops answering with its connections open (SIGSTOP here; a hung machine,
    a path that drops packets) ends the run with one line once ``read_timeout`` and the
    connect timeout have passed, instead of holding it, and its log locks, for ever, where
    every later cron run would only find the file locked; the next run catches up."""
    from sipparse.store.mysql import CONNECT_TIMEOUT

    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1200))
    command = sipparse_argv() if connector == "C extension" else PURE_CONNECTOR_ARGV
    argv = [*command, *ingest_argv(db + QUICK_TIMEOUTS, "--batch-bytes", "65536", str(log))[len(sipparse_argv()):]]
    done, seconds = _frozen_server_run(server, db, log, argv, timeout=120)
    line = assert_one_line_error(done)
    assert "127.0.0.1" in line
    assert seconds < 2 + CONNECT_TIMEOUT + 15, seconds
    ingest_ok(db, str(log))
    _same_as_clean_run(db, tmp_path, log)


@pytest.mark.slow
def test_follow_waits_out_a_frozen_server(server: RestartableServer, db: str, tmp_path: Path) -> None:
    """``ingest --follow`` takes a server that stopped answering for one out of reach: it says
    so once, tries again until the server answers, then stores what was logged meanwhile."""
    log = tmp_path / "pjsip"
    before, during, after = make_log(10), make_log(10, first=10), make_log(10, first=20)
    log.write_bytes(before)
    proc = _background(db + QUICK_TIMEOUTS, "--follow", str(log))
    said: list[str] = []
    reader = threading.Thread(target=lambda: said.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    try:
        assert _wait_for(lambda: _stored(db) == 60, proc=proc), "the first messages were not stored"
        server.freeze()
        try:
            with open(log, "ab") as fh:
                fh.write(during)
            assert _wait_for(lambda: any("trying again" in line for line in said), timeout=60, proc=proc), said
        finally:
            server.thaw()
        with open(log, "ab") as fh:
            fh.write(after)
        assert _wait_for(lambda: _stored(db) == 180, timeout=90, proc=proc), "not caught up after the freeze"
    finally:
        server.thaw()
        proc.terminate()
        proc.wait(timeout=60)
        reader.join(timeout=10)
    assert proc.returncode == 0, said
    assert any("reached again" in line for line in said), said
    _same_as_clean_run(db, tmp_path, log)
