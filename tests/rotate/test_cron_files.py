"""The files of cron/: valid for cron and systemd, and their commands work on real files."""

from __future__ import annotations

import configparser
import contextlib
import os
import shlex
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.ingest.siplog import make_log
from tests.program import installed_sipparse
from tests.rotate import crontab

CRON = Path(__file__).resolve().parents[2] / "cron"
UNITS = [f"sipparse-{job}.{kind}" for job in ("ingest", "rotate") for kind in ("service", "timer")]
UNITS.append("sipparse-follow.service")


def cron_file() -> tuple[dict[str, str], list[crontab.Job]]:
    return crontab.parse((CRON / "sipparse").read_text())


def test_cron_file_parses_with_valid_fields_user_and_environment() -> None:
    env, jobs = cron_file()
    assert env["MAILTO"] and env["SHELL"] == "/bin/sh"
    assert {"/usr/local/bin", "/usr/bin", "/bin"} <= set(env["PATH"].split(":"))
    assert [job.user for job in jobs] == ["root"] * 3
    assert all("--quiet" in shlex.split(job.command) for job in jobs)


def test_cron_file_schedule_ingest_every_5_minutes_rotate_daily_and_hourly_by_size() -> None:
    _, jobs = cron_file()
    ingest, daily, hourly = jobs
    assert shlex.split(ingest.command)[:2] == ["sipparse", "ingest"]
    assert sum(ingest.matches(m, 13) for m in range(60)) == 12
    assert shlex.split(daily.command)[:2] == ["sipparse", "rotate"]
    assert sum(daily.matches(m, h) for m in range(60) for h in range(24)) == 1
    assert "--min-size" in shlex.split(hourly.command)
    assert sum(hourly.matches(m, h) for m in range(60) for h in range(24)) == 24
    # the rotations never start in the same minute as an ingest, so they rarely wait for one
    assert not any(job.matches(m, h) and ingest.matches(m, h) for job in (daily, hourly)
                   for m in range(60) for h in range(24))


@pytest.mark.parametrize("line,fault", [
    ("*/5 * * * root sipparse ingest", "day of week 'root': not a number"),
    ("*/5 * * * * root", "expected 5 time fields"),
    ("60 * * * * root sipparse ingest", "minute '60': 60 outside 0-59"),
    ("0 24 * * * root sipparse ingest", "hour '24'"),
    ("0 0 0 * * root sipparse ingest", "day of month '0'"),
    ("0 0 * 13 * root sipparse ingest", "month '13'"),
    ("0 0 * * 8 root sipparse ingest", "day of week '8'"),
    ("5-1 * * * * root sipparse ingest", "range runs backwards"),
    ("0 0 * * * root date +%F", "unescaped %"),
])
def test_the_checker_catches_broken_lines(line: str, fault: str) -> None:
    with pytest.raises(ValueError, match=fault):
        crontab.parse(line)


def test_the_checker_accepts_names_lists_and_steps() -> None:
    _, jobs = crontab.parse("0,30 8-18/2 1-15 jan-jun mon-fri root sipparse ingest --quiet\n")
    assert jobs[0].matches(30, 10) and not jobs[0].matches(30, 11)


@pytest.fixture
def deployment(tmp_path: Path, shared_dir: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A config file, a log and an environment such as cron would give the jobs."""
    logdir = tmp_path / "log"
    logdir.mkdir()
    shutil.copy(shared_dir / "samples" / "pjsip-syslog.log", logdir / "pjsip")
    config = tmp_path / "sipparse.toml"
    config.write_text(f'[database]\nurl = "sqlite:///{tmp_path / "sip.db"}"\n'
                      f'[ingest]\npaths = ["{logdir / "pjsip"}"]\ntz = "UTC"\n[rotate]\nkeep = 2\n')
    env, _ = cron_file()
    program_dir = os.path.dirname(installed_sipparse() or "")
    return {"PATH": f"{program_dir}:{env['PATH']}", "SHELL": env["SHELL"], "HOME": str(tmp_path),
            "SIPPARSE_CONFIG": str(config), "SIPPARSE_LOCK_DIR": str(tmp_path / "locks"), "LANG": "C.UTF-8"}


def run_job(job: crontab.Job, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([env["SHELL"], "-c", job.command], env=env, capture_output=True, text=True,
                          timeout=120)


def count_rows(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT count(*) FROM sip_transactions").fetchone()[0])


def test_cron_commands_run_quietly_against_real_files(deployment: dict[str, str], tmp_path: Path) -> None:
    _, (ingest, daily, hourly) = cron_file()
    done = run_job(ingest, deployment)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    rows = count_rows(tmp_path / "sip.db")
    assert rows > 0
    done = run_job(hourly, deployment)  # the sample is far below 100M: nothing to do
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert sorted(os.listdir(tmp_path / "log")) == ["pjsip"]
    done = run_job(daily, deployment)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert sorted(os.listdir(tmp_path / "log")) == ["pjsip", "pjsip.1"]
    assert count_rows(tmp_path / "sip.db") == rows


def unit(name: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=True, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((CRON / name).read_text())
    return parser


def test_systemd_units_pair_up_and_run_sipparse_oneshot() -> None:
    for job in ("ingest", "rotate"):
        service, timer = unit(f"sipparse-{job}.service"), unit(f"sipparse-{job}.timer")
        assert service["Service"]["Type"] == "oneshot"
        argv = shlex.split(service["Service"]["ExecStart"])
        assert argv[0].startswith("/") and argv[1:3] == [job, "--quiet"]
        assert timer["Timer"]["Unit"] == f"sipparse-{job}.service"
        assert timer["Install"]["WantedBy"] == "timers.target"
    assert unit("sipparse-ingest.timer")["Timer"]["OnCalendar"] == "*:0/5"


def test_the_follow_service_runs_ingest_follow_for_good() -> None:
    """``ingest --follow`` as the long-lived service that replaces a Logstash pipeline: up
    from boot, started again whenever it ends (a database that refused it), reloaded with
    the SIGHUP that has it read the rotated generations once it said it is ready, stopped
    with SIGTERM."""
    follow = unit("sipparse-follow.service")
    service = follow["Service"]
    argv = shlex.split(service["ExecStart"])
    assert argv[0].startswith("/") and argv[1:] == ["ingest", "--follow", "--quiet"]
    assert service["Type"] == "notify"  # a wrong ExecStart path fails the start; a reload waits for it
    assert shlex.split(service["ExecReload"])[1:] == ["-HUP", "$MAINPID"]
    assert service["Restart"] == "always" and int(service["RestartSec"]) >= 5
    assert service.get("KillSignal", "SIGTERM") == "SIGTERM"
    assert "mariadb.service" in follow["Unit"]["After"].split()
    assert follow["Install"]["WantedBy"] == "multi-user.target"


def wait_rows(db: Path, rows: int, limit: float = 20) -> int:
    """The rows stored once there are ``rows`` of them, or after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        with contextlib.suppress(sqlite3.Error):
            if (found := count_rows(db)) >= rows or time.monotonic() > deadline:
                return found
        time.sleep(0.1)


def test_the_follow_service_command_reloads_and_stops_as_systemd_asks(deployment: dict[str, str],
                                                                      tmp_path: Path) -> None:
    """The unit's ExecStart, run with the unit's signals: the catch-up, a rename rotation,
    ``systemctl reload`` (its ExecReload) and ``systemctl stop`` (SIGTERM: exit 0, quiet,
    everything committed, so the next start adds nothing)."""
    service = unit("sipparse-follow.service")["Service"]
    argv = shlex.split(service["ExecStart"])
    argv[0] = shutil.which("sipparse", path=deployment["PATH"]) or argv[0]
    log, db = tmp_path / "log" / "pjsip", tmp_path / "sip.db"
    proc = subprocess.Popen(argv, env=deployment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        caught_up = wait_rows(db, 383)
        assert caught_up == 383
        log.rename(log.with_name("pjsip.1"))
        log.write_bytes(make_log(5, first=100))
        reload = [word.replace("$MAINPID", str(proc.pid)) for word in shlex.split(service["ExecReload"])]
        assert subprocess.run(reload, timeout=30).returncode == 0
        assert wait_rows(db, caught_up + 30) == caught_up + 30
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert (proc.returncode, out, err) == (0, "", "")
    again = subprocess.run([*argv[:2], "--quiet", str(log) + "*"], env=deployment, capture_output=True,
                           text=True, timeout=60)
    assert (again.returncode, again.stderr) == (0, "")
    assert count_rows(db) == caught_up + 30


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_verifies_the_units_without_a_warning(tmp_path: Path) -> None:
    program = installed_sipparse()
    assert program
    for name in UNITS:
        text = (CRON / name).read_text().replace("/usr/local/bin/sipparse", program)
        (tmp_path / name).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", *[f"./{n}" for n in UNITS]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stderr) == (0, "")
    calendar = subprocess.run(["systemd-analyze", "calendar", "--iterations", "3",
                               unit("sipparse-ingest.timer")["Timer"]["OnCalendar"]],
                              capture_output=True, text=True, timeout=60)
    assert calendar.returncode == 0 and calendar.stdout.count(":") >= 9
