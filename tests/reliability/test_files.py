"""Log files that move, shrink, vanish, refuse to be read or are not logs at all.

Each test runs ``sipparse ingest`` as a real process while (or after) the file is changed
under it, then checks the database against a clean run over what was written: nothing
lost, nothing twice, and a bad file never stops the others nor crashes the run.
"""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    Content,
    assert_one_line_error,
    assert_sane,
    checkpoints,
    child_env,
    ingest,
    ingest_argv,
    ingest_ok,
    make_log,
    messages,
    reference,
    run,
    select,
    sipparse_argv,
)

PR_CAPBSET_DROP = 24



def _start(db_url: str, *paths: Path, workers: int = 0) -> subprocess.Popen[str]:
    argv = ingest_argv(db_url, "--batch-bytes", "32768", "--workers", str(workers), *map(str, paths))
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=child_env(SIPPARSE_LOCK_DIR=os.environ["SIPPARSE_LOCK_DIR"]))


def _when_reading(db_url: str, proc: subprocess.Popen[str]) -> None:
    """Return once the run has committed its first batch (it is in the middle of the file)."""
    import time

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if checkpoints(db_url):
                return
        except Exception:  # no schema yet
            pass
        time.sleep(0.005)
    raise AssertionError("the run ended before its first commit: the log is too small for this test")


@contextmanager
def _paused(proc: subprocess.Popen[str]) -> Iterator[None]:
    """Freeze the run (SIGSTOP) while the file is changed, so the change lands mid-read."""
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def _finish(proc: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=120)
    assert "Traceback" not in err, err
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _assert_matches(db_url: str, tmp_path: Path, logs: dict[str, bytes]) -> None:
    assert_sane(db_url)
    want = reference(tmp_path, logs)
    got = Content.of(db_url)
    assert got.messages == want.messages
    assert got.calls == want.calls


def test_renamed_while_read_and_written_after_the_rename(db_url: str, tmp_path: Path) -> None:
    """logrotate's rename: the writer keeps appending to the old file until it reopens."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(800))
    proc = _start(db_url, log)
    _when_reading(db_url, proc)
    late, fresh = make_log(50, first=800), make_log(100, first=2000)
    with _paused(proc):
        os.rename(log, tmp_path / "pjsip.1")
        with open(tmp_path / "pjsip.1", "ab") as fh:  # the writer's old descriptor
            fh.write(late)
        log.write_bytes(fresh)
    _finish(proc)
    ingest_ok(db_url, str(log))  # only the live name: the rotated generation is found by itself
    _assert_matches(db_url, tmp_path, {"pjsip.1": make_log(800) + late, "pjsip": fresh})


@pytest.mark.parametrize("workers", [0, 1])
def test_copytruncate_while_read(db_url: str, tmp_path: Path, workers: int) -> None:
    """logrotate's copytruncate (not sipparse's, which holds the lock) while a cron run reads."""
    log = tmp_path / "pjsip"
    old = make_log(800)
    log.write_bytes(old)
    proc = _start(db_url, log, workers=workers)
    _when_reading(db_url, proc)
    fresh = make_log(60, first=3000)  # more than was read so far: the run meets new bytes
    with _paused(proc):
        shutil.copyfile(log, tmp_path / "pjsip.1")
        os.truncate(log, 0)
        with open(log, "ab") as fh:
            fh.write(fresh)
    _finish(proc)
    ingest_ok(db_url, str(log))
    _assert_matches(db_url, tmp_path, {"pjsip.1": old, "pjsip": fresh})


def test_copytruncate_then_new_lines_that_start_like_the_old_ones(db_url: str, tmp_path: Path) -> None:
    """Same first bytes after the truncation, fewer bytes than before: read again from 0."""
    log = tmp_path / "pjsip"
    old = make_log(40)
    log.write_bytes(old)
    ingest_ok(db_url, str(log))
    shutil.copyfile(log, tmp_path / "pjsip.1")
    os.truncate(log, 0)
    fresh = make_log(10)  # the same first calls again (a restarted Asterisk replaying nothing new)
    log.write_bytes(fresh)
    ingest_ok(db_url, str(log))
    assert_sane(db_url)
    got = messages(db_url)
    assert len(got) == 6 * 40


@pytest.mark.parametrize("dialect", ["full", "syslog"])
def test_the_line_a_writer_wrote_after_a_hole_is_read(sqlite_url: str, tmp_path: Path, dialect: str) -> None:
    """NULs where a crash left a file's last blocks unwritten, or where a writer without
    O_APPEND went on at its old offset after a copytruncate: the line written next follows
    them with no LF between. A hole at the head, longer than the head a dialect is told by."""
    before, after = make_log(5, dialect), make_log(5, dialect, first=100)
    (tmp_path / "pjsip").write_bytes(b"\0" * 100_000 + before + b"\0" * 3000 + after)
    ingest_ok(sqlite_url, str(tmp_path / "pjsip"))
    (tmp_path / "whole").write_bytes(before + after)
    whole = f"sqlite:///{tmp_path / 'whole.db'}"
    ingest_ok(whole, str(tmp_path / "whole"))
    assert len(messages(whole)) == 60
    assert messages(sqlite_url, identity=False) == messages(whole, identity=False)
    assert_sane(sqlite_url)


def test_deleted_while_read(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    data = make_log(800)
    log.write_bytes(data)
    proc = _start(db_url, log)
    _when_reading(db_url, proc)
    with _paused(proc):
        log.unlink()
    done = _finish(proc)
    assert done.returncode in (0, 1), done
    if done.returncode:
        assert_one_line_error(done)
    assert_sane(db_url)
    stored = set(messages(db_url))
    assert stored and stored <= set(reference(tmp_path, {"pjsip": data}).messages)
    again = ingest(db_url, str(log))
    assert "Traceback" not in again.stderr and again.returncode in (0, 1)


def _without_file_permission_overrides() -> None:
    """In the child, before exec: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set.

    Root then keeps its uid (the installed interpreter may sit where ``nobody`` cannot
    reach) but is refused files as any user is: a mode 000 file cannot be read.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def _can_drop_capabilities() -> bool:
    try:
        subprocess.run(["true"], preexec_fn=_without_file_permission_overrides, check=True)
    except (OSError, subprocess.SubprocessError):
        return False
    return True


@pytest.mark.skipif(os.geteuid() != 0, reason="as a normal user a mode 000 file is simply unreadable: "
                    "covered by the ingest tests")
def test_permission_denied(db_url: str, tmp_path: Path) -> None:
    if not _can_drop_capabilities():
        pytest.skip("cannot drop capabilities here (no CAP_SETPCAP)")
    secret, public = tmp_path / "secret", tmp_path / "public"
    secret.write_bytes(make_log(5))
    secret.chmod(0o000)
    public.write_bytes(make_log(5, first=100))
    done = subprocess.run(ingest_argv(db_url, str(secret), str(public)), capture_output=True, text=True,
                          timeout=120, env=child_env(SIPPARSE_LOCK_DIR=os.environ["SIPPARSE_LOCK_DIR"]),
                          preexec_fn=_without_file_permission_overrides)
    line = assert_one_line_error(done)
    assert str(secret) in line and "Permission denied" in line, line
    assert "30 messages new" in done.stdout
    assert len(messages(db_url)) == 30  # the readable file was stored all the same
    secret.chmod(0o600)
    ingest_ok(db_url, str(secret))  # readable again: its messages come in, nothing twice
    assert len(messages(db_url)) == 60
    assert_sane(db_url)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop its file permission overrides")
@pytest.mark.parametrize("hidden", ["directory", "file"])
def test_a_database_the_user_may_not_open_is_an_error_not_an_empty_one(tmp_path: Path, hidden: str) -> None:
    """Ingest run by cron as another user leaves the database's directory 0700 and the file
    0600: a query by someone else must say it may not open it, not that nothing was ingested."""
    if not _can_drop_capabilities():
        pytest.skip("cannot drop capabilities here (no CAP_SETPCAP)")
    database = tmp_path / "data" / "sipparse.db"
    url = f"sqlite:///{database}"
    (tmp_path / "pjsip").write_bytes(make_log(5))
    ingest_ok(url, str(tmp_path / "pjsip"))
    closed = database.parent if hidden == "directory" else database
    closed.chmod(0o000)  # the owner too is refused once the overrides are gone
    try:
        for command in (["calls"], ["stats"], ["show", "x"], ["rejects"]):
            done = run([*sipparse_argv(), "--db", url, *command], preexec_fn=_without_file_permission_overrides)
            line = assert_one_line_error(done)
            assert str(database) in line and "Permission denied" in line, line
    finally:
        database.parent.chmod(0o700)
        database.chmod(0o600)


def test_a_directory_where_a_log_should_be(db_url: str, tmp_path: Path) -> None:
    odd = tmp_path / "pjsip"
    odd.mkdir()
    good = tmp_path / "other"
    good.write_bytes(make_log(5))
    line = assert_one_line_error(ingest(db_url, str(odd), str(good)))
    assert str(odd) in line
    assert len(messages(db_url)) == 30


def test_a_glob_passes_over_the_directories_it_matches(sqlite_url: str, tmp_path: Path) -> None:
    """``/var/log/asterisk/*`` also matches Asterisk's ``cdr-csv/``: not a log, and no failure."""
    logs = tmp_path / "asterisk"
    (logs / "cdr-csv").mkdir(parents=True)
    (logs / "pjsip").write_bytes(make_log(5))
    done = ingest_ok(sqlite_url, str(logs / "*"))
    assert done.stderr == ""
    assert len(messages(sqlite_url)) == 30
    assert_one_line_error(ingest(sqlite_url, str(logs / "cdr-csv")))  # named itself, it still fails


@pytest.mark.parametrize("shorter", [False, True])
def test_replaced_by_another_file_under_the_same_name(db_url: str, tmp_path: Path, shorter: bool) -> None:
    log = tmp_path / "pjsip"
    first = make_log(30)
    log.write_bytes(first)
    ingest_ok(db_url, str(log))
    log.unlink()
    second = make_log(10 if shorter else 30, first=500)
    log.write_bytes(second)
    ingest_ok(db_url, str(log))
    assert_sane(db_url)
    want = reference(tmp_path, {"one": first}).messages + reference(tmp_path, {"two": second}).messages
    assert messages(db_url) == sorted(want)


def _same_first_line_logs() -> tuple[bytes, bytes]:
    """Two logs whose first line (a marker: same time, pid and size) is the same, not their first call."""
    a = make_log(3)
    b = a.replace(b"call-0@", b"cxll-0@").replace(b"call-1@", b"cxll-1@").replace(b"call-2@", b"cxll-2@")
    assert a.split(b"\n", 1)[0] == b.split(b"\n", 1)[0] and a != b
    return a, b


def test_two_logs_with_the_same_first_line_are_both_stored(db_url: str, tmp_path: Path) -> None:
    a, b = _same_first_line_logs()
    (tmp_path / "a").write_bytes(a)
    (tmp_path / "b").write_bytes(b)
    ingest_ok(db_url, str(tmp_path / "a"))
    ingest_ok(db_url, str(tmp_path / "b"))
    assert_sane(db_url)
    call_ids = [row[0] for row in select(db_url, "SELECT call_id FROM sip_transactions")]
    assert len(call_ids) == 36 and sum(c.startswith("cxll-") for c in call_ids) == 18


def test_a_glob_naming_a_log_and_its_rotated_generation(db_url: str, tmp_path: Path) -> None:
    old, new = make_log(4), make_log(4, first=100)
    (tmp_path / "pjsip.1").write_bytes(old)
    (tmp_path / "pjsip").write_bytes(new)
    ingest_ok(db_url, str(tmp_path / "pjsip*"))
    _assert_matches(db_url, tmp_path, {"pjsip.1": old, "pjsip": new})


def _dpkg_log(lines: int) -> bytes:
    rnd = random.Random(1)
    out = []
    for i in range(lines):
        pkg = rnd.choice(["libc6", "openssl", "asterisk", "rsyslog", "tzdata"])
        out.append(f"2025-06-01 09:{i // 60 % 60:02d}:{i % 60:02d} status installed {pkg}:amd64 2.36-{i}")
    return ("\n".join(out) + "\n").encode()


@pytest.mark.parametrize("kind", ["dpkg", "binary", "empty", "no-newline"])
def test_a_file_that_is_not_a_pjsip_log(db_url: str, tmp_path: Path, kind: str) -> None:
    odd = tmp_path / "odd"
    content = {
        "dpkg": _dpkg_log(3000),
        "binary": random.Random(2).randbytes(512 << 10) + b"\x00" * 4096,
        "empty": b"",
        "no-newline": b"x" * 300_000,
    }[kind]
    odd.write_bytes(content)
    good = tmp_path / "pjsip"
    good.write_bytes(make_log(5))
    done = ingest_ok(db_url, str(odd), str(good))
    assert len(messages(db_url)) == 30
    if kind == "dpkg":
        assert select(db_url, "SELECT COUNT(*) FROM rejects")[0][0] == 0
    if kind in ("dpkg", "binary"):  # whole lines in no known format: named, not read
        assert done.stderr.startswith(f"Warning: {odd} not read: no known log format")
        assert len(done.stderr.splitlines()) == 1
    else:
        assert done.stderr == ""
    assert ingest_ok(db_url, str(odd), str(good)).stdout.startswith(("0 files", "1 files", "2 files"))
    assert done.stdout.count("\n") == 1
