"""A SQLite database on a read-only file system (a snapshot, a read-only mount in a container)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.helpers import assert_one_line_error, child_env, ingest_argv, make_log, run, sipparse_argv


@pytest.fixture
def read_only_db(tmp_path: Path) -> Iterator[Path]:
    """A database with 3 calls, on a tmpfs mounted read-only (skipped where mounting is not allowed)."""
    db = tmp_path / "db.sqlite"
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3))
    assert run(ingest_argv(f"sqlite:///{db}", str(log))).returncode == 0
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(mount)], capture_output=True, timeout=30).returncode:
        pytest.skip("cannot mount a file system here")
    try:
        shutil.copy(db, mount / "db.sqlite")
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, capture_output=True, timeout=30)
        yield mount / "db.sqlite"
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True, timeout=30)


def test_the_reading_commands_read_a_database_on_a_read_only_file_system(read_only_db: Path) -> None:
    db_url = f"sqlite:///{read_only_db}"
    done = run([*sipparse_argv(), "--db", db_url, "calls", "--format", "json"], env=child_env())
    assert done.returncode == 0, done.stderr
    calls = json.loads(done.stdout)
    assert len(calls) == 3
    for args in (["stats"], ["show", calls[0]["call_id"]], ["rejects"]):
        done = run([*sipparse_argv(), "--db", db_url, *args], env=child_env())
        assert done.returncode == 0 and "Error" not in done.stderr, (args, done.stderr)


def test_ingest_into_a_database_on_a_read_only_file_system_is_one_line(read_only_db: Path, tmp_path: Path) -> None:
    log = tmp_path / "more"
    log.write_bytes(make_log(1, first=10))
    line = assert_one_line_error(run(ingest_argv(f"sqlite:///{read_only_db}", str(log))))
    assert "Read-only file system" in line, line
