"""Done-when of rotation: a writer keeps appending SIP messages while `sipparse rotate` (rename
mode, the writer reopens on SIGHUP from postrotate) and `sipparse ingest` run in turn; at the
end the database holds every message written exactly once, as one ingest of the source does.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from tests.ingest.helpers import dump, ingest_ok

DATA = Path(__file__).resolve().parents[1] / "data"
WRITER = r"""
import os, signal, sys, time
reopen = []
signal.signal(signal.SIGHUP, lambda *_: reopen.append(1))
path, source, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
blocks = [b + b"\n\n" for b in open(source, "rb").read().split(b"\n\n") if b.strip()]
fh = open(path, "ab", buffering=0)
print("ready", flush=True)
t0 = time.monotonic()
for i, block in enumerate(blocks):
    if reopen:  # like rsyslog on HUP: close, open the path again (a new file after a rename)
        reopen.clear()
        fh.close()
        fh = open(path, "ab", buffering=0)
    fh.write(block)
    delay = t0 + (i + 1) * seconds / len(blocks) - time.monotonic()
    if delay > 0:
        time.sleep(delay)
# A HUP from a rotation that runs after the last block must not kill the writer while Python
# shuts down, when the handler above is no longer there: ignored handlers are kept.
signal.signal(signal.SIGHUP, signal.SIG_IGN)
print(len(blocks), flush=True)
"""


def start_writer(log: Path, source: Path, seconds: float) -> subprocess.Popen[str]:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(log), str(source), str(seconds)],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "ready\n"  # SIGHUP is handled now
    return writer


def rotate(db_url: str, log: Path, pid: int, *options: str) -> None:
    result = CliRunner().invoke(cli, ["--db", db_url, "rotate", "--tz", "UTC", "--keep", "2",
                                      "--postrotate", f"kill -HUP {pid}", *options, str(log)])
    assert result.exit_code == 0, (result.output, result.exception)


def run_live(db_url: str, tmp_path: Path, source: Path, *options: str, seconds: float = 6.0,
             rotations: int = 8) -> None:
    logdir = tmp_path / "log"
    logdir.mkdir()
    log = logdir / "pjsip"
    log.touch()
    writer = start_writer(log, source, seconds)
    try:
        step = seconds / (rotations + 1)
        for _ in range(rotations):
            time.sleep(step / 2)
            ingest_ok(db_url, "--quiet", str(log))
            time.sleep(step / 2)
            rotate(db_url, log, writer.pid, *options)
    finally:
        out, _ = writer.communicate(timeout=60)
    assert writer.returncode == 0 and int(out.split()[-1]) > 0
    ingest_ok(db_url, "--quiet", str(log))
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    ingest_ok(reference, "--quiet", str(source))
    assert len(os.listdir(logdir)) == 3  # pjsip, pjsip.1 and one compressed generation: it did rotate
    got, want = dump(db_url), dump(reference)
    assert len(got) == len(want) and got == want


@pytest.mark.slow
def test_rotating_under_a_live_writer_loses_and_duplicates_nothing(db_url: str, tmp_path: Path) -> None:
    run_live(db_url, tmp_path, DATA / "pjsip-syslog.log")


@pytest.mark.slow
@pytest.mark.parametrize("source,options", [
    ("pjsip-full.log", ()),
    ("pjsip-rfc5424.log", ("--dateext",)),
])
def test_other_dialects_and_dated_names_under_a_live_writer(sqlite_url: str, tmp_path: Path, source: str,
                                                              options: tuple[str, ...]) -> None:
    run_live(sqlite_url, tmp_path, DATA / source, *options)
