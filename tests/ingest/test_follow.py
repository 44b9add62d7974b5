"""`ingest --follow`: each message written is queryable within 2 s, across a rename rotation
and a copytruncate; SIGTERM stops it with everything committed."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC
from pathlib import Path

import pytest

from sipparse import ingest
from sipparse.config import parse_db_url
from sipparse.logs import follow
from sipparse.logs.locks import LogLock, lock_path_for
from tests.ingest.helpers import count, dump, ingest_ok, one_run, sipparse_bin
from tests.ingest.siplog import call_messages, make_log, syslog_message
from tests.reliability.test_files import _can_drop_capabilities, _without_file_permission_overrides

LATENCY = 2.0



def messages(calls: int) -> list[bytes]:
    from datetime import datetime, timedelta

    start = datetime(2025, 3, 1, 12, 0, 0)
    return [syslog_message(start + timedelta(seconds=n), "pbx1", headers, body)
            for n in range(calls) for _, headers, body in call_messages(n)]


def wait_for(db_url: str, rows: int, limit: float) -> float:
    """Seconds until the table holds ``rows`` rows (inf when it does not within ``limit``)."""
    started = time.monotonic()
    while time.monotonic() - started < limit + 3:
        try:
            if count(db_url) >= rows:
                return time.monotonic() - started
        except Exception:  # the schema may not exist yet
            pass
        time.sleep(0.05)
    return float("inf")


@pytest.mark.slow
def test_follow_latency_rotation_and_sigterm(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(b"")
    blocks = messages(8)
    argv = [*sipparse_bin(), "--db", db_url, "ingest", "--follow", "--tz", "UTC", "--no-progress", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.0)
        worst = 0.0
        fh = open(log, "ab")
        for i, block in enumerate(blocks):
            if i == len(blocks) // 3:  # rename rotation, as logrotate does it
                fh.close()
                os.rename(log, tmp_path / "pjsip.1")
                fh = open(log, "ab")
            if i == 2 * len(blocks) // 3:  # copytruncate
                fh.truncate(0)
            fh.write(block)
            fh.flush()
            if i % 4 == 3 or i == len(blocks) - 1:
                worst = max(worst, wait_for(db_url, i + 1, LATENCY))
        fh.close()
        assert worst <= LATENCY, f"worst latency {worst:.2f} s"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "messages new" in out
    assert dump(db_url) == one_run(tmp_path, *blocks)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_catch_up_stops_at_a_batch_boundary(sqlite_url: str, tmp_path: Path, signum: int) -> None:
    log = tmp_path / "pjsip"
    data = make_log(600)
    log.write_bytes(data)
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress",
            "--batch-bytes", "16384", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(sqlite_url, 1, 20) < 20
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    ingest_ok(sqlite_url, str(log))  # the next run picks up where the stopped one committed
    assert dump(sqlite_url) == one_run(tmp_path, data)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_catch_up_in_a_parse_worker_stops_it(sqlite_url: str, tmp_path: Path, signum: int) -> None:
    """The worker is forked from a process whose handlers only set the stop event: it must not
    keep them, or it outlives its parent's ``terminate()`` and the parent waits for it for good."""
    log = tmp_path / "pjsip"
    data = make_log(3000)
    log.write_bytes(data)
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress",
            "--workers", "1", "--batch-bytes", "16384", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(sqlite_url, 1, 20) < 20
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    ingest_ok(sqlite_url, str(log))
    assert dump(sqlite_url) == one_run(tmp_path, data)


def test_a_fifo_put_where_the_followed_log_was_is_waited_out(sqlite_url: str, tmp_path: Path) -> None:
    """An rsyslog ``ompipe`` FIFO at the path: opening it would wait for a writer, SIGTERM
    and all. It is passed over, said once, and the regular file that comes back is read."""
    log = tmp_path / "pjsip"
    blocks = messages(2)
    log.write_bytes(blocks[0])
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(sqlite_url, 1, 20) < 20
        os.rename(log, tmp_path / "pjsip.1")
        os.mkfifo(log)
        time.sleep(1.0)
        log.unlink()
        log.write_bytes(b"".join(blocks[1:]))
        assert wait_for(sqlite_url, len(blocks), 10) < 10
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert err.count(f"{log} is not a regular file; waiting for one there") == 1, err


@contextmanager
def following(db_url: str, *paths: str) -> Iterator[None]:
    """``follow_paths`` over ``paths`` in a thread of this process, stopped on leaving."""
    from sipparse.store import open_store

    stop = threading.Event()
    options = ingest.IngestOptions(tz=UTC, workers=0)
    with open_store(parse_db_url(db_url)) as store:
        thread = threading.Thread(target=ingest.follow_paths, args=(store, list(paths), options, stop))
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)


def open_files() -> list[str]:
    """The existing files this process holds open; a descriptor closed while they are listed
    is left out."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with suppress(OSError):
            if os.path.exists(f"/proc/self/fd/{fd}"):
                found.append(os.readlink(f"/proc/self/fd/{fd}"))
    return found


def test_a_file_deleted_from_a_followed_glob_is_read_to_its_end_and_closed(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host's log removed for good on a log server: its last lines are stored, and it is
    not held open (its disk space kept) for as long as the service runs."""
    monkeypatch.setattr(follow, "DRAIN_SECONDS", 0.5)
    blocks = messages(2)
    log = tmp_path / "pbx1.log"
    log.write_bytes(blocks[0])
    with following(db_url, str(tmp_path / "*.log")):
        assert wait_for(db_url, 1, LATENCY) <= LATENCY
        with open(log, "ab") as fh:
            fh.write(b"".join(blocks[1:]))
        log.unlink()
        assert wait_for(db_url, len(blocks), LATENCY) <= LATENCY
        time.sleep(1.5)
        assert not [name for name in open_files() if name.startswith(str(log))]


def test_two_rotations_between_two_looks_lose_no_generation(db_url: str, tmp_path: Path) -> None:
    """The file that was at the path only between two looks (rotated again before it was
    seen) is read from the rotated generations, as a run's start reads them."""
    blocks = messages(2)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    with following(db_url, str(log)):
        assert wait_for(db_url, 1, LATENCY) <= LATENCY
        with LogLock(log).acquire(wait=True):  # no look in between
            log.rename(tmp_path / "pjsip.1")
            log.write_bytes(blocks[1])
            (tmp_path / "pjsip.1").rename(tmp_path / "pjsip.2")
            log.rename(tmp_path / "pjsip.1")
            log.write_bytes(b"".join(blocks[2:]))
        assert wait_for(db_url, len(blocks), LATENCY) <= LATENCY
    assert dump(db_url) == one_run(tmp_path, *blocks)


def test_sighup_is_taken_as_a_rotation_not_an_end(sqlite_url: str, tmp_path: Path) -> None:
    """logrotate's ``postrotate`` sends SIGHUP to what reads the log: the service goes on
    reading, the rotated generations included, and SIGTERM still ends it cleanly."""
    blocks = messages(2)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(sqlite_url, 1, 20) < 20
        log.rename(tmp_path / "pjsip.1")
        log.write_bytes(b"".join(blocks[1:]))
        proc.send_signal(signal.SIGHUP)
        assert wait_for(sqlite_url, len(blocks), LATENCY) <= LATENCY
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "messages new" in out


def test_sighup_is_held_from_the_first_import_of_a_follower() -> None:
    """Held before click and the parser load (most of a start): a SIGHUP of logrotate or
    ``systemctl reload`` then waits for the follower instead of ending it."""
    code = ("import signal, sys; sys.argv[1:] = ['ingest', '--follow']; import sipparse; "
            "print(signal.SIGHUP in signal.pthread_sigmask(signal.SIG_BLOCK, []), 'sipparse.cli' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["True", "False"], done.stderr


def _signal_masks(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as status:
        return {k: int(v, 16) for k, v in (line.split(":\t") for line in status) if k in ("SigBlk", "SigCgt")}


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_a_sighup_while_a_follower_starts_does_not_end_it(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(b"".join(messages(1)))
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not any(mask & 1 << (signal.SIGHUP - 1) for mask in _signal_masks(proc.pid).values()):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.001)
        handled_already = _signal_masks(proc.pid)["SigCgt"] & 1 << (signal.SIGHUP - 1)
        proc.send_signal(signal.SIGHUP)
        assert not handled_already  # held while it was still starting
        assert wait_for(sqlite_url, 1, 20) < 20 and proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads /proc")
def test_a_follower_tells_systemd_it_is_ready_once_sighup_is_handled(sqlite_url: str, tmp_path: Path) -> None:
    """Under ``Type=notify``, ``systemctl start`` returns, and a ``systemctl reload`` runs, only
    after READY=1: by then a SIGHUP is taken as a rotation, even one sent at once."""
    import socket

    log = tmp_path / "pjsip"
    log.write_bytes(b"".join(messages(1)))
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress", str(log)]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(tmp_path / "notify"))
        notify.settimeout(30)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env={**os.environ, "NOTIFY_SOCKET": str(tmp_path / "notify")})
        try:
            assert notify.recv(100) == b"READY=1"
            assert _signal_masks(proc.pid)["SigCgt"] & 1 << (signal.SIGHUP - 1)
            proc.send_signal(signal.SIGHUP)
            assert wait_for(sqlite_url, 1, 20) < 20 and proc.poll() is None
        finally:
            proc.send_signal(signal.SIGTERM)
            _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


def test_a_second_follower_of_a_log_says_so_and_exits_or_waits(sqlite_url: str, tmp_path: Path) -> None:
    """A unit started twice, or a shell beside the service: the second ``--follow`` of a log
    leaves it to the first (exit 0), or with ``--wait`` takes over when the first ends."""
    blocks = messages(2)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress", str(log)]
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(sqlite_url, 1, 20) < 20
    waiting = subprocess.Popen([*argv, "--wait"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        second = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert "another sipparse ingest --follow follows" in second.stderr
        assert waiting.poll() is None
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
        with open(log, "ab") as fh:
            fh.write(b"".join(blocks[1:]))
        assert wait_for(sqlite_url, len(blocks), 10) < 10
    finally:
        for proc in (first, waiting):
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=30)
    assert waiting.returncode == 0


def test_one_log_under_other_spellings_has_one_lock(tmp_path: Path) -> None:
    """A symbolic link to the log, a linked directory or a ``..`` name the same file: runs
    through any of them exclude each other, as those through the one path do."""
    from sipparse.logs.locks import LockBusy

    real = tmp_path / "logs"
    real.mkdir()
    log = real / "pjsip"
    log.write_bytes(b"")
    (tmp_path / "pjsip-link").symlink_to(log)
    (tmp_path / "linked").symlink_to(real)
    spellings = [tmp_path / "pjsip-link", tmp_path / "linked" / "pjsip", real / ".." / "logs" / "pjsip"]
    with LogLock(log, role="follow").acquire(wait=False):
        for spelling in spellings:
            with pytest.raises(LockBusy):
                LogLock(spelling, role="follow").acquire(wait=False)
    assert LogLock(real / "other").path != LogLock(log).path


def test_a_second_follower_through_a_symlink_leaves_the_log_to_the_first(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(b"".join(messages(1)))
    (tmp_path / "current").symlink_to(log)
    _second_follower_leaves_it(sqlite_url, str(log), str(tmp_path / "current"))


def _second_follower_leaves_it(sqlite_url: str, first_spelling: str, second_spelling: str) -> None:
    """A follower of ``first_spelling`` runs; one of ``second_spelling`` exits 0 at once,
    saying another follows the file; the first stops cleanly on SIGTERM."""
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress"]
    first = subprocess.Popen([*argv, first_spelling], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(sqlite_url, 1, 20) < 20
        second = subprocess.run([*argv, second_spelling], capture_output=True, text=True, timeout=30)
        assert second.returncode == 0, second.stderr
        assert "another sipparse ingest --follow follows" in second.stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)
    assert first.returncode == 0


def test_a_file_that_a_glob_and_a_path_name_has_one_follower(sqlite_url: str, tmp_path: Path) -> None:
    """``--follow 'logs/*'`` beside ``--follow logs/pjsip``: the second leaves the file to
    the first, as it would with the same spelling, instead of both looking at it."""
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "pjsip"
    log.write_bytes(b"".join(messages(1)))
    _second_follower_leaves_it(sqlite_url, str(logs / "*"), str(log))


def test_a_glob_leaves_out_the_files_another_follower_follows(tmp_path: Path) -> None:
    """Taken again at a later look, once that follower has let go."""
    logs = tmp_path / "logs"
    logs.mkdir()
    for name in ("pjsip", "other"):
        (logs / name).write_bytes(b"")
    tails: dict[str, follow.Tail] = {}
    matched = [str(logs / "other"), str(logs / "pjsip")]
    with LogLock(logs / "pjsip", role="follow").acquire(wait=False):
        ingest.add_tails(tails, matched, [str(logs / "*")])
        assert sorted(tails) == [str(logs / "other")]
    ingest.add_tails(tails, matched, [str(logs / "*")])
    assert sorted(tails) == matched
    ingest.close_tails(tails)  # lets go of their follow locks
    given: dict[str, follow.Tail] = {}  # a path given by name is locked by the caller (_follow_locks), not again here
    with LogLock(logs / "pjsip", role="follow").acquire(wait=False):
        ingest.add_tails(given, [str(logs / "pjsip")], [str(logs / "pjsip")])
    assert list(given) == [str(logs / "pjsip")]
    ingest.close_tails(given)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop its file permission overrides")
def test_a_followed_file_that_may_not_be_read_is_said_and_read_once_it_may(sqlite_url: str, tmp_path: Path) -> None:
    """A rotation that creates the new log for another user: said at once (not at the stop,
    hours later, nor never), looked at again, and read from its start once it may be."""
    if not _can_drop_capabilities():
        pytest.skip("cannot drop capabilities here (no CAP_SETPCAP)")
    blocks = messages(2)
    log, errors = tmp_path / "pjsip", tmp_path / "stderr"
    log.write_bytes(blocks[0])
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--follow", "--tz", "UTC", "--no-progress", str(log)]
    with open(errors, "w") as err:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, text=True,
                                preexec_fn=_without_file_permission_overrides)
    try:
        assert wait_for(sqlite_url, 1, 20) < 20
        log.rename(tmp_path / "pjsip.1")
        log.write_bytes(b"".join(blocks[1:]))
        log.chmod(0o000)
        time.sleep(1.0)
        assert f"cannot read {log}: Permission denied" in errors.read_text()
        log.chmod(0o644)
        assert wait_for(sqlite_url, len(blocks), LATENCY) <= LATENCY
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0, errors.read_text()
    assert errors.read_text().count("Permission denied") == 1


def test_a_file_deleted_before_the_first_look_is_read_from_where_the_catch_up_left_it(
        db_url: str, tmp_path: Path) -> None:
    """The files are opened before the catch-up: a file deleted between the catch-up and the
    first look (here, both passed over it: another run held it) is still read to its end."""
    blocks = messages(2)
    log = tmp_path / "pbx1.log"
    log.write_bytes(b"".join(blocks))
    lock = LogLock(log).acquire(wait=True)
    with following(db_url, str(tmp_path / "*.log")):
        started = time.monotonic()
        while str(log) not in open_files() and time.monotonic() - started < 5:
            time.sleep(0.05)
        log.unlink()
        lock.release()
        assert wait_for(db_url, len(blocks), LATENCY) <= LATENCY


def test_a_quiet_log_is_looked_at_without_taking_its_lock(sqlite_url: str, tmp_path: Path) -> None:
    """Four looks a second at every file of a glob, for as long as the logs are quiet: a few
    stats each, not the lock (a file opened, truncated and written) that a read takes."""
    log = tmp_path / "pjsip"
    log.write_bytes(messages(1)[0])
    with following(sqlite_url, str(log)):
        assert wait_for(sqlite_url, 1, LATENCY) <= LATENCY
        time.sleep(0.5)
        before = lock_path_for(log).stat().st_mtime_ns
        time.sleep(1.0)
        assert lock_path_for(log).stat().st_mtime_ns == before


def copytruncate_between(log: Path, before: bytes, after: bytes) -> None:
    """``before`` written to ``log``, then logrotate's ``copytruncate`` (the copy is
    ``log``.1), then ``after`` written to the emptied ``log``."""
    with open(log, "ab") as fh:
        fh.write(before)
    log.with_name(log.name + ".1").write_bytes(log.read_bytes())
    with open(log, "r+b") as fh:
        fh.truncate(0)
        fh.write(after)


def test_lines_written_just_before_a_copytruncate_are_read_from_the_copy(db_url: str, tmp_path: Path) -> None:
    """logrotate's ``copytruncate`` between two looks: what was written since the last look
    is now only in the copy (``pjsip.1``), and is read from there."""
    blocks = messages(2)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    with following(db_url, str(log)):
        assert wait_for(db_url, 1, LATENCY) <= LATENCY
        with LogLock(log).acquire(wait=True):  # no look in between
            copytruncate_between(log, blocks[1], b"".join(blocks[2:]))
        assert wait_for(db_url, len(blocks), LATENCY) <= LATENCY
    assert dump(db_url) == one_run(tmp_path, *blocks)


def test_a_copytruncate_while_the_follower_catches_up_is_noticed(sqlite_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Between the catch-up and the first look there is no last look to compare with: what
    the log started with tells the copytruncate apart."""
    blocks = messages(2)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    catch_up = ingest.ingest_paths

    def then_copytruncate(*args: object, **kwargs: object) -> object:
        done = catch_up(*args, **kwargs)  # type: ignore[arg-type]
        copytruncate_between(log, blocks[1], b"".join(blocks[2:]))
        return done

    monkeypatch.setattr(ingest, "ingest_paths", then_copytruncate)
    with following(sqlite_url, str(log)):
        assert wait_for(sqlite_url, len(blocks), LATENCY) <= LATENCY
    assert dump(sqlite_url) == one_run(tmp_path, *blocks)


def said_in(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    """What was logged so far that holds ``text``."""
    return [r.getMessage() for r in caplog.records if text in r.getMessage()]


def test_a_generation_in_a_compression_not_read_is_said_while_following(sqlite_url: str, tmp_path: Path,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """Said when found, once: a service's summary comes only when it stops."""
    blocks = messages(2)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    with following(sqlite_url, str(log)):
        assert wait_for(sqlite_url, 1, LATENCY) <= LATENCY
        (tmp_path / "pjsip.2.zst").write_bytes(bytes.fromhex("28b52ffd2000690000") + b"x" * 600)
        log.rename(tmp_path / "pjsip.1")
        log.write_bytes(b"".join(blocks[1:]))
        assert wait_for(sqlite_url, len(blocks), LATENCY) <= LATENCY
        time.sleep(0.5)
        said = said_in(caplog, "zstd-compressed")
    assert len(said) == 1 and said[0].startswith(f"{tmp_path / 'pjsip.2.zst'} not read"), said


def test_a_generation_whose_gzip_data_ends_early_is_said_while_following(sqlite_url: str, tmp_path: Path,
                                                                         caplog: pytest.LogCaptureFixture) -> None:
    """Said when read, as a run says it in its summary: a service's comes only when it stops."""
    blocks = messages(3)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    with following(sqlite_url, str(log)):
        assert wait_for(sqlite_url, 1, LATENCY) <= LATENCY
        with LogLock(log).acquire(wait=True):  # rotated, and compressed by a run cut short
            whole = log.read_bytes() + b"".join(blocks[1:12])
            packed = gzip.compress(whole)
            cut = tmp_path / "pjsip.2.gz"
            cut.write_bytes(packed[: len(packed) * 9 // 10])
            os.utime(cut, (time.time() - 600, time.time() - 600))
            log.unlink()
            log.write_bytes(b"".join(blocks[12:]))
        assert wait_for(sqlite_url, 4, LATENCY) <= LATENCY
        time.sleep(0.5)
        said = said_in(caplog, "data ends early")
    assert len(said) == 1 and said[0].startswith(f"{cut}: its gzip data ends early"), said


def test_a_compressed_generation_a_followed_glob_matches_is_decompressed_and_read(
        db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """logrotate with ``olddir old``, ``copytruncate`` and ``compress`` (no delaycompress):
    the lines written since the last look are only in ``old/pjsip.1.gz``, which the followed
    glob ``old/pjsip*`` (README: name olddir's generations too) matches. It is read as a run
    reads it, not taken for a plain log in no known format and passed over."""
    blocks = messages(2)
    log, old = tmp_path / "pjsip", tmp_path / "old"
    old.mkdir()
    log.write_bytes(blocks[0])
    with following(db_url, str(log), str(old / "pjsip*")):
        assert wait_for(db_url, 1, LATENCY) <= LATENCY
        with LogLock(log).acquire(wait=True):  # no look at the log in between
            packed = tmp_path / "packing.gz"
            packed.write_bytes(gzip.compress(log.read_bytes() + blocks[1]))
            packed.rename(old / "pjsip.1.gz")
            with open(log, "r+b") as fh:
                fh.truncate(0)
                fh.write(b"".join(blocks[2:]))
        assert wait_for(db_url, len(blocks), LATENCY) <= LATENCY
        time.sleep(0.5)
    assert dump(db_url) == one_run(tmp_path, *blocks)
    assert not said_in(caplog, "no known log format")


def test_a_generation_too_short_to_fingerprint_is_read_once_settled_while_following(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A quiet host's log holding one OPTIONS exchange, rotated: it has no identity while it
    may grow, and gets one (all its bytes) once left alone ``SETTLED_SECONDS``. A follower
    reads it then, not only at the next rotation or start, a day later."""
    monkeypatch.setattr(ingest, "SETTLED_SECONDS", 1.0)
    from datetime import datetime

    short = syslog_message(datetime(2025, 3, 1, 11, 0, 0), "pbx1",
                           ["OPTIONS sip:1@h SIP/2.0", "Call-ID: q", "CSeq: 1 OPTIONS"], [])
    assert len(short) < 512
    blocks = messages(2)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    with following(db_url, str(log)):
        assert wait_for(db_url, 1, LATENCY) <= LATENCY
        with LogLock(log).acquire(wait=True):  # no look in between
            log.rename(tmp_path / "pjsip.2")
            (tmp_path / "pjsip.1").write_bytes(short)
            log.write_bytes(b"".join(blocks[1:]))
        assert wait_for(db_url, len(blocks) + 1, 1.0 + LATENCY) <= 1.0 + LATENCY
    assert dump(db_url) == one_run(tmp_path, blocks[0], short, *blocks[1:])


def test_a_compressed_file_in_no_known_format_is_said_while_following(sqlite_url: str, tmp_path: Path,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    """``/var/log/asterisk/*`` followed: a rotated CSV file there (``cdr.1.gz``) is in no
    known log format. Said when found, once, as a plain file in no known format is: a
    service's summary comes only when it stops."""
    blocks, logs = messages(1), tmp_path / "asterisk"
    logs.mkdir()
    (logs / "pjsip").write_bytes(b"".join(blocks))
    with following(sqlite_url, str(logs / "*")):
        assert wait_for(sqlite_url, len(blocks), LATENCY) <= LATENCY
        other = b"".join(b'"100","200","default","%d","ANSWERED"\n' % n for n in range(40))
        packed = tmp_path / "packing"
        packed.write_bytes(gzip.compress(other))
        os.utime(packed, (time.time() - 60, time.time() - 60))
        packed.rename(logs / "cdr.1.gz")
        time.sleep(2.5)
        said = said_in(caplog, "no known log format")
    assert len(said) == 1 and said[0].startswith(f"{logs / 'cdr.1.gz'} not read"), said


def test_a_sqlite_database_removed_while_following_is_made_again(tmp_path: Path) -> None:
    """``rm sip.db*`` (starting afresh) or ``mv sip.db old.db`` while the service runs: the
    follower does not go on writing, for good, into a file no one can open any more. It
    opens the database at its path again, as the next cron run would, and reads the logs
    into it from their start."""
    blocks = messages(2)
    log, db = tmp_path / "pjsip", tmp_path / "sip.db"
    log.write_bytes(blocks[0])
    url = f"sqlite:///{db}"
    argv = [*sipparse_bin(), "--db", url, "ingest", "--follow", "--tz", "UTC", "--no-progress", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_for(url, 1, 20) < 20
        for name in ("sip.db", "sip.db-wal", "sip.db-shm"):
            with suppress(FileNotFoundError):
                (tmp_path / name).rename(tmp_path / f"old-{name}")
        with open(log, "ab") as fh:
            fh.write(b"".join(blocks[1:]))
        assert wait_for(url, len(blocks), 5) <= 5
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert dump(url) == one_run(tmp_path, *blocks)


def test_a_compressed_generation_stamped_in_the_future_is_read_while_following(
        sqlite_url: str, tmp_path: Path) -> None:
    """gzip(1) gives its output the input's mtime: one written on a host whose clock runs
    ahead, or before this one's was set back, is not taken for one still being written."""
    blocks = messages(2)
    log, old = tmp_path / "pjsip", tmp_path / "old"
    old.mkdir()
    log.write_bytes(blocks[0])
    with following(sqlite_url, str(log), str(old / "pjsip*")):
        assert wait_for(sqlite_url, 1, LATENCY) <= LATENCY
        packed = tmp_path / "packing.gz"
        packed.write_bytes(gzip.compress(b"".join(blocks[1:])))
        os.utime(packed, (time.time() + 3600, time.time() + 3600))
        packed.rename(old / "pjsip.1.gz")
        assert wait_for(sqlite_url, len(blocks), LATENCY) <= LATENCY


def test_a_short_generation_found_by_the_catch_up_is_read_once_settled(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The service (re)started just after a quiet host's log was rotated: its catch-up finds
    that short generation not yet settled, and the follower reads it once it is."""
    monkeypatch.setattr(ingest, "SETTLED_SECONDS", 1.0)
    from datetime import datetime

    short = syslog_message(datetime(2025, 3, 1, 11, 0, 0), "pbx1",
                           ["OPTIONS sip:1@h SIP/2.0", "Call-ID: q", "CSeq: 1 OPTIONS"], [])
    blocks = messages(2)
    log = tmp_path / "pjsip"
    log.write_bytes(blocks[0])
    ingest_ok(db_url, str(log))
    log.rename(tmp_path / "pjsip.2")
    (tmp_path / "pjsip.1").write_bytes(short)
    log.write_bytes(b"".join(blocks[1:]))
    with following(db_url, str(log)):
        assert wait_for(db_url, len(blocks) + 1, 1.0 + LATENCY) <= 1.0 + LATENCY
    assert dump(db_url) == one_run(tmp_path, blocks[0], short, *blocks[1:])
