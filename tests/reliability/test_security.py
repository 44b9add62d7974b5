"""Credentials stay secret, files sipparse makes are private, and symlinks cannot aim it elsewhere."""

from __future__ import annotations

import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.reliability.helpers import (
    assert_one_line_error,
    child_env,
    ingest_argv,
    make_log,
    run,
    select,
    sipparse_argv,
)

PASSWORD = "Pw-" + uuid.uuid4().hex[:12] + "!x"



# -- the config file ---------------------------------------------------------------------

def _config(tmp_path: Path, mode: int) -> Path:
    path = tmp_path / "sipparse.toml"
    path.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "db.sqlite"}"\npassword = "{PASSWORD}"\n')
    path.chmod(mode)
    return path


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_config_file_with_a_password_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _config(tmp_path, mode)
    done = run([*sipparse_argv(), "--config", str(path), "calls"])
    line = assert_one_line_error(done)
    assert str(path) in line and "chmod 600" in line, line
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.parametrize("mode", [0o664, 0o646])
def test_a_config_file_other_users_may_change_is_refused(tmp_path: Path, mode: int) -> None:
    """Its postrotate would run as root: whoever may write it could run anything as root."""
    path = tmp_path / "sipparse.toml"
    path.write_text(f'[rotate]\npostrotate = "touch {tmp_path / "owned"}"\n')
    path.chmod(mode)
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    line = assert_one_line_error(run([*sipparse_argv(), "--config", str(path), "--db",
                                      f"sqlite:///{tmp_path / 'db.sqlite'}", "rotate", "--min-size", "1", str(log)]))
    assert f"chmod go-w {path}" in line, line
    assert not (tmp_path / "owned").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="a file of another user")
def test_a_config_file_of_another_user_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sipparse.toml"
    path.write_text("[ingest]\n")
    os.chown(path, 65534, 65534)
    line = assert_one_line_error(run([*sipparse_argv(), "--config", str(path), "info"]))
    assert "belongs to another user (uid 65534)" in line, line


def test_a_private_config_file_with_a_password_is_used(tmp_path: Path) -> None:
    path = _config(tmp_path, 0o600)
    done = run([*sipparse_argv(), "--config", str(path), "calls"])
    assert done.returncode == 0, done.stderr


# -- MySQL credentials never needed in argv, never shown -------------------------------------

@pytest.fixture
def secret_account(mysql_url: str) -> Iterator[tuple[str, str]]:
    """A MySQL account with a password, on the test's database: (URL without password, user)."""
    import mysql.connector

    parts = urlsplit(mysql_url)
    user = "sp_" + uuid.uuid4().hex[:8]
    database = parts.path.lstrip("/")
    admin = mysql.connector.connect(host=parts.hostname, port=parts.port, user=parts.username or "root",
                                    password=parts.password or "", autocommit=True)
    cur = admin.cursor()
    cur.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{PASSWORD}'")
    cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'%'")
    try:
        yield f"mysql://{user}@{parts.hostname}:{parts.port}/{database}", user
    finally:
        cur.execute(f"DROP USER '{user}'@'%'")
        admin.close()


def _log(tmp_path: Path) -> Path:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    return log


@pytest.mark.mysql
def test_the_password_can_come_from_the_environment(secret_account: tuple[str, str], tmp_path: Path) -> None:
    url, _ = secret_account
    argv = ingest_argv(url, str(_log(tmp_path)))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env=child_env(SIPPARSE_DB_PASSWORD=PASSWORD))
    assert done.returncode == 0, done.stderr
    assert all(PASSWORD not in arg for arg in argv)


@pytest.mark.mysql
def test_the_password_can_come_from_an_option_file(secret_account: tuple[str, str], tmp_path: Path) -> None:
    url, user = secret_account
    option_file = tmp_path / "my.cnf"
    option_file.write_text(f"[client]\nuser = {user}\npassword = {PASSWORD}\n")
    option_file.chmod(0o600)
    done = run(ingest_argv(f"{url}?option_files={option_file}", str(_log(tmp_path))))
    assert done.returncode == 0, done.stderr


@pytest.mark.mysql
def test_the_password_never_appears_in_output_errors_or_debug(secret_account: tuple[str, str],
                                                              tmp_path: Path) -> None:
    url, user = secret_account
    log = str(_log(tmp_path))
    env = child_env(SIPPARSE_DB_PASSWORD=PASSWORD)
    debug = subprocess.run([*sipparse_argv(), "--debug", "--db", url, "ingest", "--tz", "UTC", log],
                           capture_output=True, text=True, timeout=60, env=env)
    assert debug.returncode == 0 and "DEBUG" in debug.stderr, debug.stderr
    wrong = subprocess.run(ingest_argv(url, log), capture_output=True, text=True, timeout=60,
                           env=child_env(SIPPARSE_DB_PASSWORD=PASSWORD + "wrong"))
    assert_one_line_error(wrong)
    parts = urlsplit(url)
    in_url = url.replace(f"{user}@", f"{user}:{PASSWORD}@")
    refused = run(ingest_argv(in_url.replace(f":{parts.port}/", ":1/"), log))
    assert_one_line_error(refused)
    bad_url = run([*sipparse_argv(), "--db", f"mysql://{user}:{PASSWORD}@[::1/x", "calls"])
    assert bad_url.returncode != 0
    debug_refused = run([*sipparse_argv(), "--debug", "--db", in_url.replace(f":{parts.port}/", ":1/"), "calls"])
    assert debug_refused.returncode == 1
    for done in (debug, wrong, refused, bad_url, debug_refused):
        assert PASSWORD not in done.stdout + done.stderr, done.stderr


def _child_sees(tmp_path: Path, extra_env: dict[str, str]) -> str:
    """What a postrotate child of ``sipparse rotate`` can read of itself: its environ and argv."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    seen = tmp_path / "seen"
    script = f"cat /proc/$$/environ /proc/$$/cmdline > {seen}"
    argv = [*sipparse_argv(), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "rotate", "--tz", "UTC",
            "--shell", "--postrotate", script, str(log)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, env=child_env(**extra_env))
    assert done.returncode == 0, done.stderr
    return seen.read_bytes().decode("utf-8", "replace")


@pytest.mark.parametrize("variable", ["SIPPARSE_DB_PASSWORD", "SIPPARSE_DB"])
def test_postrotate_children_do_not_inherit_the_password(tmp_path: Path, variable: str) -> None:
    """Any process of the same user can read a child's /proc/PID/environ while it runs."""
    value = PASSWORD if variable == "SIPPARSE_DB_PASSWORD" else f"mysql://sip:{PASSWORD}@127.0.0.1:1/sip"
    seen = _child_sees(tmp_path, {variable: value, "SIPPARSE_MARK": "inherited"})
    assert "SIPPARSE_MARK=inherited" in seen  # the child did get our environment, only not the secret
    assert PASSWORD not in seen


def test_postrotate_children_get_no_password_in_argv(tmp_path: Path) -> None:
    """What ``ps`` shows of the postrotate child and of sipparse itself, while the child runs."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    seen = tmp_path / "seen"
    script = tmp_path / "reopen.sh"
    script.write_text(f"#!/bin/sh\ncat /proc/$PPID/cmdline /proc/$$/cmdline > {seen}\n")
    script.chmod(0o700)
    argv = [*sipparse_argv(), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "rotate", "--tz", "UTC",
            "--postrotate", str(script), str(log)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env=child_env(SIPPARSE_DB_PASSWORD=PASSWORD))
    assert done.returncode == 0, done.stderr
    shown = seen.read_text(errors="replace")
    assert "rotate" in shown and "reopen.sh" in shown
    assert PASSWORD not in shown


# -- files sipparse creates --------------------------------------------------------------

def _umask_zero() -> None:
    os.umask(0)


def test_files_sipparse_creates_are_not_world_writable_even_under_umask_0(tmp_path: Path) -> None:
    data, locks = tmp_path / "data" / "sub", tmp_path / "locks-new"
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    done = subprocess.run(ingest_argv(f"sqlite:///{data / 'db.sqlite'}", str(log)), capture_output=True,
                          text=True, timeout=60, preexec_fn=_umask_zero, env=child_env(SIPPARSE_LOCK_DIR=str(locks)))
    assert done.returncode == 0, done.stderr
    made = [data, *data.iterdir(), locks, *locks.iterdir()]
    assert any(p.name == "db.sqlite" for p in made) and any(p.suffix == ".lock" for p in made)
    for path in made:
        mode = stat.S_IMODE(path.lstat().st_mode)
        assert not mode & 0o002, f"{path} is world-writable ({mode:04o})"
        assert not mode & 0o077 or path.is_dir() and not mode & 0o022, f"{path} is open to others ({mode:04o})"


def test_a_symlink_planted_where_the_database_goes_creates_nothing_at_its_target(tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    target = tmp_path / "etc" / "nologin"
    target.parent.mkdir()
    (tmp_path / "db.sqlite").symlink_to(target)
    line = assert_one_line_error(run(ingest_argv(f"sqlite:///{tmp_path / 'db.sqlite'}", str(log))))
    assert "symbolic link" in line, line
    assert list(target.parent.iterdir()) == []


def test_sqlite_is_never_left_to_create_the_database_file(tmp_path: Path) -> None:
    """Made by a link planted between the creation of the file and its opening."""
    import sqlite3

    from sipparse.store.sqlite import connect_existing

    target = tmp_path / "etc" / "nologin"
    target.parent.mkdir()
    (tmp_path / "db.sqlite").symlink_to(target)
    with pytest.raises(sqlite3.OperationalError):
        connect_existing(str(tmp_path / "db.sqlite"), 0)
    assert list(target.parent.iterdir()) == []


def test_a_symlink_planted_at_a_lock_file_is_not_followed(tmp_path: Path) -> None:
    from sipparse.logs.locks import lock_path_for

    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    lock = lock_path_for(str(log))
    lock.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    lock.symlink_to(victim)
    done = run(ingest_argv(f"sqlite:///{tmp_path / 'db.sqlite'}", str(log)))
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr
    assert victim.read_text() == "precious\n"


def _shared_dir(path: Path) -> Path:
    path.mkdir(parents=True)
    path.chmod(0o1777)  # /run/lock, /tmp
    return path


@pytest.fixture
def shared_locks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory like /run/lock (root's, mode 1777) that other users can reach, as the lock directory."""
    import shutil
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("a shared directory of root and a run of another user")
    path = Path(tempfile.mkdtemp(prefix="sipparse-shared-", dir="/tmp"))
    path.chmod(0o1777)
    monkeypatch.setenv("SIPPARSE_LOCK_DIR", str(path))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# A run of user nobody that takes the lock of argv[1] (umask 077, as a careful admin's),
# says so, and holds it until its stdin closes; or, given "try", says whether it could.
# It imports as root: the Python of the tests may sit in root's home.
_NOBODY_LOCK = """
import os, sys
from sipparse.logs.locks import LockBusy, LogLock
os.umask(0o077)
os.setgroups([]); os.setgid(65534); os.setuid(65534)
try:
    lock = LogLock(sys.argv[1]).acquire(wait=False)
except LockBusy:
    print("busy", flush=True)
    sys.exit(0)
print("held", flush=True)
if sys.argv[2:] != ["try"]:
    sys.stdin.read()
"""


def _nobody_lock(log: Path, *args: str) -> subprocess.Popen[str]:
    import sys

    return subprocess.Popen([sys.executable, "-c", _NOBODY_LOCK, str(log), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=child_env(), cwd="/")


def _world_readable_log(directory: Path) -> Path:
    log = directory / "pjsip"
    log.write_bytes(make_log(1))
    log.chmod(0o644)
    return log


def test_root_and_another_user_exclude_each_other_on_one_log(shared_locks: Path, tmp_path: Path) -> None:
    """Root's cron ingest and an admin's ingest by hand of the same file take the same lock."""
    from sipparse.logs.locks import LockBusy, LogLock

    log = _world_readable_log(tmp_path)
    holder = _nobody_lock(log)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(LockBusy):
            LogLock(log).acquire(wait=False)
    finally:
        holder.communicate("", timeout=30)
    [made] = shared_locks.iterdir()
    assert made.name.startswith("sipparse-pjsip.") and stat.S_IMODE(made.stat().st_mode) == 0o644
    with LogLock(log).acquire(wait=False):
        out, _ = _nobody_lock(log, "try").communicate(timeout=30)
        assert out.strip() == "busy"


def test_the_lock_of_a_user_who_may_not_read_the_log_is_not_honoured(shared_locks: Path, tmp_path: Path) -> None:
    """Any user may make a name in /run/lock first; one who cannot read the log could otherwise
    stop every cron run over it by holding a lock file of its name."""
    from sipparse.logs.locks import LogLock

    log = _world_readable_log(tmp_path)
    holder = _nobody_lock(log)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        log.chmod(0o600)
        with LogLock(log).acquire(wait=False) as lock:
            assert lock.path.parent != shared_locks
    finally:
        holder.communicate("", timeout=30)


def test_a_symlink_planted_in_the_shared_lock_directory_is_not_followed(shared_locks: Path,
                                                                        tmp_path: Path) -> None:
    from sipparse.logs.locks import lock_path_for

    log = _world_readable_log(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    planted = lock_path_for(log)
    assert planted.parent == shared_locks
    planted.symlink_to(victim)
    os.lchown(planted, 65534, 65534)
    done = run(ingest_argv(f"sqlite:///{tmp_path / 'db.sqlite'}", str(log)), env=child_env())
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "precious\n" and planted.is_symlink()


def test_locks_go_to_the_shared_run_lock_when_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from sipparse.logs.locks import SHARED_DIR, is_shared_dir, lock_dir_candidates, lock_path_for

    if not is_shared_dir(SHARED_DIR):
        pytest.skip(f"no shared {SHARED_DIR} here")
    monkeypatch.delenv("SIPPARSE_LOCK_DIR")
    assert lock_path_for("/var/log/asterisk/pjsip").parent == SHARED_DIR
    assert all(stat.S_IMODE(d.parent.stat().st_mode) & 0o002 == 0
               for d in lock_dir_candidates({}, 0) if d.parent.exists())


@pytest.mark.skipif(os.geteuid() != 0, reason="a link of another user")
def test_a_symlink_another_user_planted_among_the_logs_is_not_followed(tmp_path: Path) -> None:
    """The log directory's owner links in a file only root may read, for a glob to take."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "pjsip").write_bytes(make_log(1))
    secret = tmp_path / "secret"
    secret.write_bytes(b"root:$y$hash:19000::::::\n" + make_log(2, prefix="secret"))
    secret.chmod(0o600)
    (logs / "planted").symlink_to(secret)
    os.lchown(logs / "planted", 65534, 65534)
    (logs / "mine").symlink_to(logs / "pjsip")  # root's own links are followed
    db_url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    line = assert_one_line_error(run(ingest_argv(db_url, str(logs / "*"))))
    assert "planted: a symbolic link of another user (uid 65534), not followed" in line, line
    assert select(db_url, "SELECT COUNT(*) FROM sip_transactions WHERE call_id LIKE 'secret%'") == [(0,)]
    assert select(db_url, "SELECT COUNT(*) FROM sip_transactions") == [(6,)]


def test_no_usable_lock_directory_says_how_to_name_one(tmp_path: Path) -> None:
    taken = tmp_path / "not-a-directory"
    taken.write_text("")
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1))
    done = run(ingest_argv(f"sqlite:///{tmp_path / 'db.sqlite'}", str(log)),
               env=child_env(SIPPARSE_LOCK_DIR=str(taken)))
    line = assert_one_line_error(done)
    assert f"(tried {taken})" in line and "SIPPARSE_LOCK_DIR" in line, line


# -- rotate as root and symlinks -------------------------------------------------------------

@pytest.fixture
def victim(tmp_path: Path) -> Path:
    elsewhere = tmp_path / "etc"
    elsewhere.mkdir()
    path = elsewhere / "shadow"
    path.write_text("root:secret:19000::::::\n")
    path.chmod(0o600)
    return path


def _rotate(tmp_path: Path, *paths: Path) -> subprocess.CompletedProcess[str]:
    return run([*sipparse_argv(), "--db", f"sqlite:///{tmp_path / 'db.sqlite'}", "rotate", "--tz", "UTC",
                "--no-delaycompress", *map(str, paths)])


def _untouched(victim: Path) -> None:
    assert victim.read_text() == "root:secret:19000::::::\n"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o600
    assert sorted(p.name for p in victim.parent.iterdir()) == ["shadow"]


@pytest.mark.parametrize("planted", ["pjsip", "pjsip.1", "pjsip.2.gz", "pjsip.1.gz"])
def test_rotate_cannot_be_aimed_at_another_file_by_a_symlink(tmp_path: Path, victim: Path, planted: str) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "pjsip"
    if planted != "pjsip":
        log.write_bytes(make_log(3))
    (logs / planted).symlink_to(victim)
    line = assert_one_line_error(_rotate(tmp_path, log))
    assert "symbolic link" in line, line
    _untouched(victim)
    assert (logs / planted).is_symlink()
