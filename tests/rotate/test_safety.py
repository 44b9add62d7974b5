"""Safe as root: symlinks refused, nothing written through a planted link, owner and mode kept."""

from __future__ import annotations

import errno
import gzip
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sipparse.rotate_fs as fs
from sipparse.rotate import Outcome
from sipparse.rotate_fs import compress_file, prepare_like, put_in_place
from tests.rotate.helpers import append_lines, names, read_any, rotate

LINK_REFUSED = "refusing to rotate {}: it is a symbolic link (give the real file instead)"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to other users")


@pytest.fixture
def logdir(tmp_path: Path) -> Path:
    directory = tmp_path / "log"
    directory.mkdir()
    return directory


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file outside the log directory that a planted link points at."""
    path = tmp_path / "victim"
    path.write_bytes(b"precious\n")
    return path


def test_log_path_that_is_a_symlink_is_refused(logdir: Path, victim: Path) -> None:
    (logdir / "pjsip").symlink_to(victim)
    summary, actions = rotate(logdir / "pjsip")
    assert summary.results[0].outcome is Outcome.FAILED
    link = logdir / "pjsip"
    assert summary.errors == [LINK_REFUSED.format(link)]
    assert names(logdir) == ["pjsip"] and victim.read_bytes() == b"precious\n" and actions == []


def test_generation_that_is_a_symlink_is_refused_before_anything_moves(logdir: Path, victim: Path) -> None:
    written = append_lines(logdir / "pjsip", "a")
    append_lines(logdir / "pjsip.1", "old")
    (logdir / "pjsip.2").symlink_to(victim)
    summary, actions = rotate(logdir / "pjsip")
    link = logdir / "pjsip.2"
    assert summary.errors == [LINK_REFUSED.format(link)]
    assert actions == []
    assert (logdir / "pjsip").read_bytes() == b"".join(written)
    assert os.path.islink(logdir / "pjsip.2") and victim.read_bytes() == b"precious\n"


def test_a_dangling_symlink_generation_is_refused_too(logdir: Path, tmp_path: Path) -> None:
    append_lines(logdir / "pjsip", "a")
    (logdir / "pjsip.1.gz").symlink_to(tmp_path / "nowhere")
    summary, _ = rotate(logdir / "pjsip")
    assert summary.results[0].outcome is Outcome.FAILED
    assert not (tmp_path / "nowhere").exists()


def test_copytruncate_refuses_a_log_hard_linked_to_another_file(logdir: Path, victim: Path) -> None:
    """Where fs.protected_hardlinks is off, a user may link /etc/shadow in as the log."""
    victim.write_bytes(b"precious\n" * 100)
    os.link(victim, logdir / "pjsip")
    summary, _ = rotate(logdir / "pjsip", copytruncate=True)
    assert summary.results[0].outcome is Outcome.FAILED
    assert "2 hard links" in summary.errors[0], summary.errors
    assert victim.read_bytes() == b"precious\n" * 100 and names(logdir) == ["pjsip"]


def test_new_file_is_never_created_through_a_planted_link(logdir: Path, victim: Path) -> None:
    st = victim.stat()
    prepared = prepare_like(str(logdir / "pjsip"), st)
    (logdir / "pjsip").symlink_to(victim)
    assert put_in_place(prepared, str(logdir / "pjsip")) is False
    assert victim.read_bytes() == b"precious\n" and names(logdir) == ["pjsip"]


def test_a_disk_refusing_the_new_file_stops_the_rotation_before_the_rename(
        logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No inode left: the log must not go missing, its writer appending to pjsip.1 untold."""
    log = logdir / "pjsip"
    append_lines(log, "a")
    real_open = os.open

    def no_inode_left(path: str, flags: int, *args: int, **kwargs: object) -> int:
        if flags & os.O_CREAT and os.path.dirname(os.fspath(path)) == str(logdir):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", no_inode_left)
    summary, _ = rotate(log, postrotate="true")
    assert summary.results[0].outcome is Outcome.FAILED and "No space left" in str(summary.errors)
    assert names(logdir) == ["pjsip"]


def test_a_file_system_refusing_hard_links_still_gets_its_new_log(logdir: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    log = logdir / "pjsip"
    append_lines(log, "a")

    def refused(*args: object, **kwargs: object) -> None:
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))

    monkeypatch.setattr(os, "link", refused)
    summary, _ = rotate(log)
    assert summary.errors == [] and names(logdir) == ["pjsip", "pjsip.1"] and log.stat().st_size == 0


class Killed(BaseException):
    """Stands for a SIGKILL: nothing after it runs, no except clause catches it."""


def test_a_rotation_killed_after_the_rename_is_finished_by_the_next_one(
        logdir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = logdir / "pjsip"
    append_lines(log, "a")
    os.chmod(log, 0o640)

    def killed(prepared: str, path: str) -> bool:
        raise Killed

    monkeypatch.setattr("sipparse.rotate.put_in_place", killed)
    with pytest.raises(Killed):
        rotate(log)
    monkeypatch.undo()
    assert not log.exists()
    written = append_lines(logdir / "pjsip.1", "b")  # the writer, never told, still appends there
    told = tmp_path / "told"
    summary, actions = rotate(log, postrotate=f"touch {told}")
    assert summary.errors == [] and told.exists()
    assert actions[0].startswith(f"created {log} (mode 0640") and actions[0].endswith("stopped after the rename")
    assert names(logdir) == ["pjsip", "pjsip.1"] and log.stat().st_size == 0
    assert (logdir / "pjsip.1").read_bytes().endswith(b"".join(written))


def test_a_new_file_prepared_by_a_run_killed_before_its_rename_is_deleted(logdir: Path) -> None:
    log = logdir / "pjsip"
    append_lines(log, "a")
    spare = prepare_like(str(log), log.stat())
    summary, actions = rotate(log)
    assert summary.errors == [] and f"deleted {spare}: left by a rotation that did not finish" in actions
    assert names(logdir) == ["pjsip", "pjsip.1"]


def test_only_new_files_prepared_for_this_log_are_taken_for_leftovers(logdir: Path) -> None:
    for name in [".pjsip.a1b2c_d4.new", ".pjsip.x.a1b2c3d4.new", ".pjsip2.a1b2c3d4.new", "pjsip.a1b2c3d4.new",
                 ".pjsip.a1b2c3d4.tmp"]:
        (logdir / name).write_bytes(b"")
    found = fs.unfinished_creations(str(logdir / "pjsip"))
    assert [os.path.basename(p) for p in found] == [".pjsip.a1b2c_d4.new"]


def test_compression_replaces_a_planted_gz_link_not_writing_through_it(logdir: Path, victim: Path) -> None:
    plain = logdir / "pjsip.2"
    content = b"".join(append_lines(plain, "a"))
    (logdir / "pjsip.2.gz").symlink_to(victim)
    assert compress_file(str(plain), str(logdir / "pjsip.2.gz")) is True
    assert victim.read_bytes() == b"precious\n"
    assert not os.path.islink(logdir / "pjsip.2.gz")
    with gzip.open(logdir / "pjsip.2.gz") as fh:
        assert fh.read() == content


def test_compression_keeps_the_plain_file_when_it_is_still_growing(
        logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = logdir / "pjsip.2"
    append_lines(plain, "a")
    original = fs._write_gzip

    def write_then_append(src: int, target: str, st: os.stat_result) -> str:
        tmp = original(src, target, st)
        append_lines(plain, "late", 1)  # a writer that has not reopened yet
        return tmp

    monkeypatch.setattr(fs, "_write_gzip", write_then_append)
    assert compress_file(str(plain), str(plain) + ".gz") is False
    assert names(logdir) == ["pjsip.2"]
    assert plain.read_bytes().endswith(b"late line 00000 " + b"x" * 40 + b"\n")


def test_a_failed_compression_leaves_the_plain_file_and_no_temp_file(
        logdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plain = logdir / "pjsip.2"
    content = b"".join(append_lines(plain, "a"))

    def disk_full(src: int, out: gzip.GzipFile, size: int) -> None:
        out.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fs, "_copy_exactly", disk_full)
    with pytest.raises(OSError, match="No space"):
        compress_file(str(plain), str(plain) + ".gz")
    assert names(logdir) == ["pjsip.2"] and plain.read_bytes() == content


@as_root
def test_new_file_and_compressed_generation_keep_owner_group_and_mode(logdir: Path) -> None:
    log = logdir / "pjsip"
    append_lines(log, "a")
    os.chown(log, 4321, 8765)
    os.chmod(log, 0o640)
    rotate(log)
    append_lines(log, "b")
    rotate(log)
    for path in (log, logdir / "pjsip.1", logdir / "pjsip.2.gz"):
        st = path.stat()
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (4321, 8765, 0o640), path


@as_root
def test_world_writable_directory_is_refused_as_root(logdir: Path) -> None:
    append_lines(logdir / "pjsip", "a")
    os.chmod(logdir, 0o777)
    summary, _ = rotate(logdir / "pjsip")
    assert summary.errors == [f"refusing to rotate in {logdir}: anyone may write there (chmod o-w it)"]
    os.chmod(logdir, 0o1777)  # sticky, like /tmp: others cannot replace our files
    summary, _ = rotate(logdir / "pjsip")
    assert summary.results[0].outcome is Outcome.ROTATED


def test_a_compression_killed_midway_leaves_a_temp_file_the_next_rotation_deletes(logdir: Path,
                                                                                tmp_path: Path) -> None:
    """SIGKILL while a generation is gzipped: its temp file must not stay in /var/log for good."""
    log = logdir / "pjsip"
    with open(logdir / "pjsip.1", "wb") as fh:  # big and barely compressible: gzip takes a while
        for _ in range(48):
            fh.write(os.urandom(1 << 19).hex().encode() + b"\n")
    before = (logdir / "pjsip.1").read_bytes()
    append_lines(log, "live")
    env = {**os.environ, "SIPPARSE_LOCK_DIR": str(tmp_path / "locks")}
    run = subprocess.Popen([sys.executable, "-m", "sipparse", "rotate", "--no-ingest", "-q", str(log)], env=env)
    try:
        deadline = time.monotonic() + 60
        while not [n for n in os.listdir(logdir) if n.endswith(".tmp")] and run.poll() is None:
            assert time.monotonic() < deadline, "no compression started"
            time.sleep(0.002)
    finally:
        run.kill()
        run.wait()
    leftovers = [n for n in names(logdir) if n.endswith(".tmp")]
    if not leftovers:
        pytest.skip("the compression ended before the kill landed")
    assert leftovers[0].startswith(".pjsip.2.gz.") and (logdir / "pjsip.2").read_bytes() == before
    append_lines(logdir / "pjsip", "next")
    summary, actions = rotate(log)
    assert summary.errors == []
    assert f"deleted {logdir / leftovers[0]}: left by a compression that did not finish" in actions
    assert names(logdir) == ["pjsip", "pjsip.1", "pjsip.2.gz", "pjsip.3.gz"]
    assert read_any(logdir / "pjsip.3.gz") == before


def test_only_temp_files_of_this_logs_generations_are_taken_for_leftovers(logdir: Path) -> None:
    for name in [".pjsip.2.gz.a1b2c3d4.tmp", ".pjsip-20261129-1.gz.zz_9.tmp", ".pjsip.gz.x.tmp",
                 ".pjsip2.1.gz.x.tmp", ".other.1.gz.x.tmp", "pjsip.1.gz.x.tmp", ".pjsip.1.gz"]:
        (logdir / name).write_bytes(b"")
    found = fs.unfinished_compressions(str(logdir / "pjsip"))
    assert [os.path.basename(p) for p in found] == [".pjsip-20261129-1.gz.zz_9.tmp", ".pjsip.2.gz.a1b2c3d4.tmp"]
