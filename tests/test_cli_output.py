"""A stdout that cannot be written (a full disk, ``> /dev/full``) is one clear line and exit 1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.reliability.helpers import child_env, sipparse_argv

COMMANDS = [["cron", "print"], ["--version"], ["--help"], ["info"], ["calls", "--format", "csv"], ["stats"],
            ["grok", "match", "%{INT:x}"]]


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_output_to_a_full_disk_is_one_clear_line_and_exit_1(tmp_path: Path, args: list[str]) -> None:
    argv = [*sipparse_argv(), "--db", f"sqlite:///{tmp_path}/x.db", *args]
    with open("/dev/full", "w") as full:
        done = subprocess.run(argv, input="1\n2\n", stdout=full, stderr=subprocess.PIPE, text=True,
                              env=child_env(), timeout=60)
    assert done.returncode == 1, done.stderr
    assert done.stderr.endswith("Error: cannot write the output: No space left on device\n"), done.stderr
    assert "unexpected" not in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.count("\n") <= 2, done.stderr  # a note of the command, then the error


@pytest.mark.parametrize("args", [["calls"], ["cron", "print"]], ids=" ".join)
def test_a_closed_stdout_is_no_unexpected_error(tmp_path: Path, args: list[str]) -> None:
    """Started with stdout closed (``>&-``), as some supervisors start their children: what
    would be printed goes nowhere, as click has it, with no error of Python's own."""
    argv = [*sipparse_argv(), "--db", f"sqlite:///{tmp_path}/x.db", *args]
    done = subprocess.run(["sh", "-c", 'exec "$@" >&-', "sh", *argv], stderr=subprocess.PIPE, text=True,
                          env=child_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "unexpected" not in done.stderr and "Traceback" not in done.stderr


def test_a_ctrl_c_outside_a_command_ends_as_one_inside_does(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """A Ctrl-C that lands after click has returned (while the output is flushed) ends with
    click's "Aborted!" and exit 1, like one inside a command, not with another line or code."""
    from sipparse.cli import base

    def interrupted(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(base.cli, "main", interrupted)
    with pytest.raises(SystemExit) as ended:
        base.run(["--version"])
    assert ended.value.code == 1
    assert capsys.readouterr().err.strip() == "Aborted!"
