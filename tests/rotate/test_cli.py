"""`sipparse rotate` on the command line: options, config file, lock, postrotate, exit codes."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.logs.locks import LogLock
from tests.rotate.helpers import append_lines, names


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIPPARSE_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("SIPPARSE_CONFIG", raising=False)
    directory = tmp_path / "log"
    directory.mkdir()
    path = directory / "pjsip"
    append_lines(path, "a")
    return path


def invoke(tmp_path: Path, *args: str) -> object:
    runner = CliRunner()
    return runner.invoke(cli, ["--db", f"sqlite:///{tmp_path / 'x.db'}", "rotate", *args])


def test_verbose_prints_one_line_per_action(tmp_path: Path, log: Path) -> None:
    invoke(tmp_path, "--no-ingest", str(log))
    append_lines(log, "b")
    result = invoke(tmp_path, "--no-ingest", "-v", str(log))
    assert result.exit_code == 0, result.output
    st = log.stat()
    assert result.output.splitlines() == [
        f"renamed {log}.1 -> {log}.2",
        f"renamed {log} -> {log}.1",
        f"created {log} (mode {st.st_mode & 0o777:04o}, uid {st.st_uid}, gid {st.st_gid})",
        f"compressed {log}.2 -> {log}.2.gz",
    ]


def test_quiet_without_verbose_prints_nothing(tmp_path: Path, log: Path) -> None:
    result = invoke(tmp_path, "--no-ingest", str(log), str(log.parent / "absent"))
    assert (result.exit_code, result.output) == (0, "")
    assert names(log.parent) == ["pjsip", "pjsip.1"]


def test_missing_file_exits_zero_and_is_told_with_verbose(tmp_path: Path, log: Path) -> None:
    result = invoke(tmp_path, "--no-ingest", "-v", str(log.parent / "absent"))
    assert (result.exit_code, result.output) == (0, f"skipped {log.parent / 'absent'}: missing\n")


def test_config_rotate_section_and_command_line_wins(tmp_path: Path, log: Path) -> None:
    config = tmp_path / "sipparse.toml"
    config.write_text(f'[rotate]\nkeep = 1\ncompress = false\ningest = false\npaths = ["{log}"]\n')
    runner = CliRunner()
    base = ["--config", str(config), "--db", f"sqlite:///{tmp_path / 'x.db'}", "rotate"]
    for tag in "bc":
        assert runner.invoke(cli, base).exit_code == 0
        append_lines(log, tag)
    assert names(log.parent) == ["pjsip", "pjsip.1"]
    for tag in "de":
        assert runner.invoke(cli, [*base, "--keep", "3", "--compress"]).exit_code == 0
        append_lines(log, tag)
    assert names(log.parent) == ["pjsip", "pjsip.1", "pjsip.2.gz", "pjsip.3.gz"]


def test_bad_config_value_is_one_clear_error(tmp_path: Path, log: Path) -> None:
    config = tmp_path / "sipparse.toml"
    config.write_text("[rotate]\nmin_size = \"lots\"\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "rotate", "--no-ingest", str(log)])
    assert result.exit_code == 1
    assert str(result.exception) == (f"config file {config}, line 2: [rotate] min_size: bad size 'lots': expected a "
                                     "number with an optional unit k, M, G (e.g. 10M)")


def test_lock_held_by_ingest_no_wait_skips_with_a_note(tmp_path: Path, log: Path) -> None:
    with LogLock(log).acquire():
        result = CliRunner().invoke(cli, ["rotate", "--no-ingest", "--no-wait", str(log)])
    assert result.exit_code == 0
    assert result.stderr == f"skipped {log}: being processed by another sipparse run\n"
    assert names(log.parent) == ["pjsip"]


def test_lock_wait_times_out_with_a_note(tmp_path: Path, log: Path) -> None:
    with LogLock(log).acquire():
        started = time.monotonic()
        result = CliRunner().invoke(cli, ["rotate", "--no-ingest", "--timeout", "0.3", str(log)])
    assert result.exit_code == 0 and "being processed by another sipparse run" in result.stderr
    assert 0.3 <= time.monotonic() - started < 5
    assert names(log.parent) == ["pjsip"]


def test_lock_wait_rotates_once_the_other_run_is_done(tmp_path: Path, log: Path) -> None:
    lock = LogLock(log).acquire()
    releaser = threading.Timer(0.3, lock.release)
    releaser.start()
    result = CliRunner().invoke(cli, ["rotate", "--no-ingest", "--timeout", "20", str(log)])
    releaser.join()
    assert result.exit_code == 0, result.output
    assert names(log.parent) == ["pjsip", "pjsip.1"]


def snapshot_command(out: Path) -> str:
    """A postrotate command (no shell) that records the directory listing and its argv."""
    code = ("import os, sys\n"
            "open(sys.argv[1], 'a').write(repr((sorted(os.listdir(sys.argv[2])), sys.argv[3:])) + chr(10))")
    return f'{sys.executable} -c "{code}" {out} {{dir}} "*.log" two\\ words'


def test_postrotate_runs_after_the_rename_and_before_compression(tmp_path: Path, log: Path) -> None:
    out = tmp_path / "seen"
    command = snapshot_command(out).replace("{dir}", str(log.parent))
    for tag in "bc":
        result = invoke(tmp_path, "--no-ingest", "-v", "--postrotate", command, str(log))
        assert result.exit_code == 0, result.output
        append_lines(log, tag)
    first, second = out.read_text().splitlines()
    # no shell: "*.log" is not globbed and the backslash keeps "two words" together, as shlex splits
    assert first == repr((["pjsip", "pjsip.1"], ["*.log", "two words"]))
    assert second == repr((["pjsip", "pjsip.1", "pjsip.2"], ["*.log", "two words"]))
    assert f"ran postrotate {command!r} (exit 0)" in result.output


def test_postrotate_with_shell_gets_the_log_path_as_first_argument(tmp_path: Path, log: Path) -> None:
    out = tmp_path / "seen"
    command = f'echo "$1" > {out}; exit 0'
    result = invoke(tmp_path, "--no-ingest", "--shell", "--postrotate", command, str(log))
    assert result.exit_code == 0, result.output
    assert out.read_text() == f"{log}\n"


def test_shell_syntax_without_shell_is_refused_before_anything_moves(tmp_path: Path, log: Path) -> None:
    result = invoke(tmp_path, "--no-ingest", "--postrotate", "kill -HUP $(cat /run/rsyslogd.pid)", str(log))
    assert result.exit_code == 1
    assert str(result.exception) == ("postrotate 'kill -HUP $(cat /run/rsyslogd.pid)' uses shell syntax: "
                                     "add --shell (config: shell = true)")
    assert names(log.parent) == ["pjsip"]


def test_a_postrotate_past_its_time_is_killed_with_what_it_started(tmp_path: Path, log: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A shell's child would outlive the shell killed alone, holding cron's output open."""
    monkeypatch.setattr("sipparse.rotate.POSTROTATE_TIMEOUT", 1.0)
    child = tmp_path / "child"
    command = f"sleep 60 & echo $! > {child}; wait"
    result = invoke(tmp_path, "--no-ingest", "--shell", "--postrotate", command, str(log))
    assert "still running after 1 s" in str(result.exception), result.output
    pid = int(child.read_text())
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the postrotate command's child outlived it"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def run_sipparse(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sipparse", "--db", f"sqlite:///{tmp_path / 'x.db'}", *args],
                          capture_output=True, text=True, timeout=60)


def test_failed_postrotate_is_exit_1_with_one_line_and_the_rotation_stands(tmp_path: Path, log: Path) -> None:
    done = run_sipparse(tmp_path, "rotate", "--no-ingest", "--postrotate", "false", str(log))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == f"Error: postrotate 'false' exited with status 1 (rotated {log})\n"
    assert names(log.parent) == ["pjsip", "pjsip.1"]


def test_unknown_postrotate_command_is_a_clear_error(tmp_path: Path, log: Path) -> None:
    done = run_sipparse(tmp_path, "rotate", "--no-ingest", "--postrotate", "no-such-command-xyz -1", str(log))
    assert done.returncode == 1
    assert done.stderr == f"Error: postrotate command not found: no-such-command-xyz (rotated {log})\n"


def test_symlink_refused_at_the_cli_others_still_rotate(tmp_path: Path, log: Path) -> None:
    other = log.parent / "messages"
    other.symlink_to(log)
    done = run_sipparse(tmp_path, "rotate", "--no-ingest", str(other), str(log))
    assert done.returncode == 1
    assert done.stderr == (f"Error: refusing to rotate {other}: it is a symbolic link "
                           "(give the real file instead)\n")
    assert names(log.parent) == ["messages", "pjsip", "pjsip.1"]


def test_a_glob_passes_over_directories_and_generations(tmp_path: Path, log: Path) -> None:
    # /var/log/asterisk/* also matches Asterisk's cdr-csv/: not a log, and no reason to fail every run
    (log.parent / "cdr-csv").mkdir()
    append_lines(log.parent / "messages", "m")
    result = invoke(tmp_path, "--no-ingest", str(log.parent / "*"))
    assert (result.exit_code, result.output) == (0, "")
    assert names(log.parent) == ["cdr-csv", "messages", "messages.1", "pjsip", "pjsip.1"]
    result = invoke(tmp_path, "--no-ingest", str(log.parent / "*"))
    assert result.exit_code == 0, result.output
    assert names(log.parent) == ["cdr-csv", "messages", "messages.1", "pjsip", "pjsip.1"]  # empty logs wait


def test_a_glob_in_a_hidden_directory_or_starting_with_a_dot_rotates(
        tmp_path: Path, log: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hidden = tmp_path / ".logs"
    hidden.mkdir()
    append_lines(hidden / "messages", "m")
    monkeypatch.chdir(log.parent)
    result = invoke(tmp_path, "--no-ingest", str(hidden / "*"), "./pjsi*")
    assert (result.exit_code, result.output) == (0, "")
    assert names(hidden) == ["messages", "messages.1"]
    assert names(log.parent) == ["pjsip", "pjsip.1"]


def test_keep_zero_is_refused(tmp_path: Path, log: Path) -> None:
    done = run_sipparse(tmp_path, "rotate", "--no-ingest", "--keep", "0", str(log))
    assert done.returncode == 2  # a usage error: the command line's own value
    assert done.stderr.endswith("Error: --keep: must be at least 1: the newest generation holds lines written "
                                "while rotating\n")
    bad_size = run_sipparse(tmp_path, "rotate", "--no-ingest", "--min-size", "10Q", str(log))
    assert bad_size.returncode == 2 and "bad size '10Q'" in bad_size.stderr
    assert names(log.parent) == ["pjsip"]  # nothing rotated


@pytest.mark.parametrize("seconds", ["-1", "nan"])
def test_a_lock_timeout_below_zero_or_not_a_number_is_refused(tmp_path: Path, log: Path, seconds: str) -> None:
    """``--timeout -1`` gave up at once, as --no-wait, and ``nan`` waited for ever; neither
    was said, and the log was rotated as if the value meant something."""
    result = invoke(tmp_path, "--no-ingest", "--timeout", seconds, str(log))
    assert result.exit_code == 2, result.output  # type: ignore[attr-defined]
    assert f"Error: --timeout: must be 0 or more seconds, not {float(seconds)}" in result.output  # type: ignore[attr-defined]
    config = tmp_path / "sipparse.toml"
    config.write_text("[rotate]\ntimeout = -5\n")
    result = invoke(tmp_path, "--config", str(config), "--no-ingest", str(log))
    assert result.exit_code == 1
    assert "line 2: [rotate] timeout: must be 0 or more seconds, not -5" in str(result.exception)  # type: ignore[attr-defined]
    assert names(log.parent) == ["pjsip"]  # nothing rotated


HUP_WRITER = """
import os, signal, sys, time
path = sys.argv[1]
reopen = []
signal.signal(signal.SIGHUP, lambda *_: reopen.append(1))
fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
print("ready", flush=True)
for i in range(100000):
    if reopen:
        reopen.clear()
        os.close(fd)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    os.write(fd, b"line %06d\\n" % i)
    time.sleep(0.01)
"""


def test_a_writer_never_told_to_reopen_is_told_by_the_next_rotation(tmp_path: Path, log: Path) -> None:
    """A failed postrotate leaves the log empty and the writer in pjsip.1: logrotate (ifempty)
    would rotate the empty log and run postrotate again; skipping it alone would leave pjsip.1
    growing for good, never rotated again."""
    writer = subprocess.Popen([sys.executable, "-c", HUP_WRITER, str(log)], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        time.sleep(0.2)
        failed = run_sipparse(tmp_path, "rotate", "--no-ingest", "--postrotate", "false", str(log))
        assert failed.returncode == 1
        time.sleep(0.2)
        assert log.stat().st_size == 0  # the writer is still in pjsip.1
        hup = f"kill -HUP {writer.pid}"
        done = run_sipparse(tmp_path, "rotate", "--no-ingest", "-v", "--postrotate", hup, str(log))
        assert (done.returncode, done.stderr) == (0, "")
        assert done.stdout.splitlines() == [
            f"skipped {log}: 0 bytes, below the minimum size for rotation",
            f"{log}.1 was written to after {log} was created: running postrotate again",
            f"ran postrotate {hup!r} (exit 0)",
        ]
        deadline = time.monotonic() + 10
        while log.stat().st_size < 1024:  # back in pjsip, and enough for ingest to identify it
            assert time.monotonic() < deadline, "the writer did not reopen"
            time.sleep(0.01)
        done = run_sipparse(tmp_path, "rotate", "--no-ingest", "-v", "--postrotate", hup, str(log))
        assert done.stdout.splitlines()[:2] == [f"renamed {log}.1 -> {log}.2", f"renamed {log} -> {log}.1"]
    finally:
        writer.kill()
        writer.wait()


def test_an_empty_log_whose_writer_reopened_gets_no_postrotate(tmp_path: Path, log: Path) -> None:
    out = tmp_path / "seen"
    command = f"touch {out}"
    assert invoke(tmp_path, "--no-ingest", "--postrotate", command, str(log)).exit_code == 0
    out.unlink()
    time.sleep(0.01)
    log.touch()  # the writer reopened it after the last line it put in pjsip.1
    result = invoke(tmp_path, "--no-ingest", "--postrotate", command, "-v", str(log))
    assert (result.exit_code, result.output) == (0, f"skipped {log}: 0 bytes, below the minimum size for rotation\n")
    assert not out.exists()


def test_a_postrotate_run_again_that_fails_says_so(tmp_path: Path, log: Path) -> None:
    assert invoke(tmp_path, "--no-ingest", "--postrotate", "false", str(log)).exit_code == 1
    time.sleep(0.01)
    append_lines(log.parent / "pjsip.1", "late", 1)
    done = run_sipparse(tmp_path, "rotate", "--no-ingest", "--postrotate", "false", str(log))
    assert done.returncode == 1
    assert done.stderr == (f"Error: postrotate 'false' exited with status 1 (run again: {log}.1 was written "
                           f"to after {log} was created)\n")


def test_a_glob_passes_over_generations_logrotate_left(tmp_path: Path, log: Path) -> None:
    """Generations compressed with bzip2 or xz, named by ``extension .log`` or by a
    ``dateformat`` of its own are not logs to rotate; a host's log named by its address is."""
    directory = log.parent
    generations = ["pjsip.2.bz2", "pjsip.3.xz", "pjsip.log.1.zst", "pjsip.1.log", "pjsip.2.log.gz",
                   "pjsip.log-2026-12-03", "pjsip-20261201.log"]
    for name in [*generations, "pjsip.log", "10.0.0.5.log"]:
        append_lines(directory / name, name)
    result = invoke(tmp_path, "--no-ingest", "--no-compress", str(directory / "*"))
    assert (result.exit_code, result.output) == (0, "")
    rotated = ["10.0.0.5.log.1", "pjsip.1", "pjsip.log.1"]
    assert names(directory) == sorted([*generations, *rotated, "10.0.0.5.log", "pjsip", "pjsip.log"])
