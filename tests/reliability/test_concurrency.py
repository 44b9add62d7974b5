"""Writers at the same time: two hosts into one MySQL, and rotate racing ingest on one host."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import server_global
from tests.reliability.helpers import (
    Content,
    assert_sane,
    call,
    child_env,
    entry,
    ingest_argv,
    ingest_ok,
    make_log,
    messages,
    reference,
    run,
    sipparse_argv,
)


def _host_log(host: str, first: int, calls: int) -> bytes:
    """What one PBX's rsyslog forwards: the calls numbered ``first``... as seen by ``host``."""
    return make_log(calls, "syslog", first=first, host=host)


@pytest.mark.mysql
@pytest.mark.slow
def test_two_hosts_ingest_into_one_mysql_at_once(mysql_url: str, tmp_path: Path) -> None:
    """pbx-a and pbx-b both log calls 150..599 (same Call-IDs): both runs write the same calls rows."""
    a, b = tmp_path / "a" / "pjsip", tmp_path / "b" / "pjsip"
    a.parent.mkdir()
    b.parent.mkdir()
    logs = {a: b"", b: b""}
    env = child_env(SIPPARSE_LOCK_DIR=os.environ["SIPPARSE_LOCK_DIR"])
    for round_ in range(2):
        logs[a] += _host_log("pbx-a", 300 * round_, 300)
        logs[b] += _host_log("pbx-b", 300 * round_ + 150, 300)
        for path, data in logs.items():
            path.write_bytes(data)
        procs = [subprocess.Popen(ingest_argv(mysql_url, "--batch-bytes", "16384", str(path)), env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for path in logs]
        for proc in procs:
            out, err = proc.communicate(timeout=180)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
    assert_sane(mysql_url)
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    for path, data in logs.items():
        copy = tmp_path / f"ref-{path.parent.name}" / "pjsip"
        copy.parent.mkdir()
        copy.write_bytes(data)
        ingest_ok(ref, str(copy))
    got, want_content = Content.of(mysql_url), Content.of(ref)
    assert got.messages == want_content.messages
    assert got.calls == want_content.calls
    counts = {int(line.split("\t")[0][5:].split("@")[0]): int(line.split("\t")[9]) for line in got.calls}
    both = set(range(150, 600))  # pbx-a logged 0..599, pbx-b 150..749
    assert {n for n, count in counts.items() if count == 12} == both  # one row per call, both hosts' messages


@pytest.mark.mysql
@pytest.mark.slow
def test_three_cron_hosts_and_two_followers_into_one_mysql_store_what_runs_one_by_one_store(
        mysql_root_url: str, mysql_url: str, tmp_path: Path) -> None:
    """Five Asterisk hosts into one database at once, their calls crossing hosts (each Call-ID
    is logged by up to five of them): three cron runs of small batches, twice, while two
    ``--follow`` runs store what their logs get, idle meanwhile for longer than the server's
    ``wait_timeout`` (2 s). Every run exits 0 (deadlocks and closed sessions are retried),
    and the messages and calls are those of one run per log into a fresh database."""
    hosts = ["pbx-a", "pbx-b", "pbx-c", "pbx-d", "pbx-e"]
    paths = {host: tmp_path / host / "pjsip" for host in hosts}
    for path in paths.values():
        path.parent.mkdir()
        path.write_bytes(b"")
    env = child_env(SIPPARSE_LOCK_DIR=os.environ["SIPPARSE_LOCK_DIR"])
    with server_global(mysql_root_url, "wait_timeout", 2):
        followers = [subprocess.Popen(ingest_argv(mysql_url, "--follow", str(paths[host])), env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                     for host in hosts[3:]]
        try:
            for round_ in range(2):
                for index, host in enumerate(hosts):
                    with open(paths[host], "ab") as log:
                        log.write(_host_log(host, 200 * round_ + 50 * index, 200))
                cron = [subprocess.Popen(ingest_argv(mysql_url, "--batch-bytes", "16384", str(paths[host])),
                                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                        for host in hosts[:3]]
                for proc in cron:
                    _, err = proc.communicate(timeout=180)
                    assert proc.returncode == 0 and "Traceback" not in err, err
                wanted = 200 * 6 * len(hosts) * (round_ + 1)
                deadline = time.monotonic() + 120
                while len(messages(mysql_url)) < wanted and time.monotonic() < deadline:
                    time.sleep(0.5)
                time.sleep(3)  # idle past wait_timeout: the followers' sessions are closed
        finally:
            for proc in followers:
                proc.terminate()
            said = [proc.communicate(timeout=60)[1] for proc in followers]
    assert [proc.returncode for proc in followers] == [0, 0], said
    assert not any("Traceback" in err or "Error" in err for err in said), said
    assert_sane(mysql_url)
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    for path in paths.values():
        copy = tmp_path / "ref" / path.parent.name / "pjsip"
        copy.parent.mkdir(parents=True)
        copy.write_bytes(path.read_bytes())
        ingest_ok(ref, str(copy))
    got, want = Content.of(mysql_url), Content.of(ref)
    assert got.messages == want.messages
    assert got.calls == want.calls
    assert len(got.calls) == 600  # calls 0..599, most of them logged by several hosts


class _Writer(threading.Thread):
    """Appends whole messages at a steady pace and reopens its file when told (like rsyslog on HUP)."""

    def __init__(self, path: Path, flag: Path) -> None:
        super().__init__(daemon=True)
        self.path, self.flag = path, flag
        self.written: list[bytes] = []
        self.stop = threading.Event()

    def run(self) -> None:
        fh = open(self.path, "ab")
        n = 0
        start = datetime(2025, 6, 1, 9, 0, 0)
        try:
            while not self.stop.is_set():
                if self.flag.exists():
                    self.flag.unlink()
                    fh.close()
                    fh = open(self.path, "ab")
                when = start + timedelta(seconds=n)
                for direction, msg in call(n):
                    data = entry(direction, msg, when, "full")
                    fh.write(data)
                    fh.flush()
                    self.written.append(data)
                n += 1
                time.sleep(0.004)
        finally:
            fh.close()


def _loop(argv: list[str], stop: threading.Event, codes: list[int], errors: list[str]) -> None:
    while not stop.is_set():
        done = run(argv, timeout=120)
        codes.append(done.returncode)
        if done.returncode or "Traceback" in done.stderr:
            errors.append(done.stderr)


@pytest.mark.slow
def test_rotate_racing_ingest_on_one_host(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    flag = tmp_path / "reopen"
    log.touch()
    writer = _Writer(log, flag)
    writer.start()
    stop = threading.Event()
    ingest_codes: list[int] = []
    rotate_codes: list[int] = []
    errors: list[str] = []
    rotate = [*sipparse_argv(), "--db", db_url, "rotate", "--tz", "UTC", "--year", "2025", "--keep", "50",
              "--postrotate", f"touch {flag}", str(log)]
    loops = [threading.Thread(target=_loop, args=(ingest_argv(db_url, str(log)), stop, ingest_codes, errors)),
             threading.Thread(target=_loop, args=(rotate, stop, rotate_codes, errors))]
    for thread in loops:
        thread.start()
    # At least 12 s of racing, and until each side ran three times (a loaded machine or a
    # slower database makes every run longer; 90 s bounds it).
    started = time.monotonic()
    while time.monotonic() - started < 90 and (
            time.monotonic() - started < 12 or len(rotate_codes) < 3 or len(ingest_codes) < 3):
        time.sleep(0.2)
    writer.stop.set()
    writer.join()
    stop.set()
    for thread in loops:
        thread.join()
    assert not errors, errors[0]
    assert len(rotate_codes) >= 3 and len(ingest_codes) >= 3
    ingest_ok(db_url, str(log))
    assert_sane(db_url)
    generations = sorted(p.name for p in tmp_path.glob("pjsip.*"))
    assert len(generations) >= 3, generations
    want = reference(tmp_path, {"whole": b"".join(writer.written)})
    assert messages(db_url, identity=False) == want.plain
    assert Content.of(db_url).calls == want.calls
