"""`sipparse cron print`: jobs with the real program path and settings, never a password."""

from __future__ import annotations

import configparser
import getpass
import os
import pwd
import shlex
import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.schedule import sipparse_program
from tests.program import installed_sipparse
from tests.rotate import crontab

SIPPARSE = installed_sipparse()


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("SIPPARSE_DB", "SIPPARSE_CONFIG", "SIPPARSE_DB_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))


def cron_print(*args: str, env: dict[str, str] | None = None) -> tuple[str, str]:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def commands(text: str, with_user: bool = True) -> list[list[str]]:
    _, jobs = crontab.parse(text, with_user)
    return [shlex.split(job.command.replace("\\%", "%")) for job in jobs]


def test_default_cron_d_output_is_valid_and_uses_an_absolute_program_and_database(tmp_path: Path) -> None:
    out, err = cron_print("cron", "print")
    env, jobs = crontab.parse(out)
    assert err == "" and env["MAILTO"] == "root" and [j.user for j in jobs] == [getpass.getuser()] * 3
    ingest, daily, hourly = commands(out)
    assert os.path.isabs(ingest[0]) and os.access(ingest[0], os.X_OK)
    db = f"sqlite:///{tmp_path / 'data' / 'sipparse' / 'sipparse.db'}"
    assert ingest[1:] == ["--db", db, "ingest", "--quiet"]
    assert daily[1:] == ["--db", db, "rotate", "--quiet"]
    assert hourly[1:] == ["--db", db, "rotate", "--quiet", "--min-size", "100M"]


def other_user() -> pwd.struct_passwd:
    return next(e for e in pwd.getpwall() if e.pw_uid != os.geteuid() and check_name(e.pw_name))


def check_name(name: str) -> bool:
    return name.replace("_", "a").replace("-", "a").replace(".", "a").isalnum()


def test_jobs_for_another_user_get_that_users_default_database_not_ours() -> None:
    """Ours is in our home (root's is mode 700): jobs run as asterisk could never open it."""
    other = other_user()
    out, err = cron_print("cron", "print", "--user", other.pw_name)
    db = f"sqlite:///{os.path.join(other.pw_dir, '.local', 'share', 'sipparse', 'sipparse.db')}"
    for job in commands(out):
        assert job[1:3] == ["--db", db]
    missing = not os.path.isdir(other.pw_dir)
    assert (f"Warning: the jobs run as {other.pw_name}, whose home {other.pw_dir} does not exist" in err) is missing
    out, err = cron_print("--db", "sqlite:////srv/sip.db", "cron", "print", "--user", other.pw_name)
    assert commands(out)[0][1:3] == ["--db", "sqlite:////srv/sip.db"] and err == ""


def test_jobs_for_a_user_unknown_here_need_a_database_named() -> None:
    result = CliRunner().invoke(cli, ["cron", "print", "--user", "no-such-user-here"])
    assert result.exit_code == 1
    assert str(result.exception) == ("no user 'no-such-user-here' on this machine: give the jobs a database "
                                     "with --db or a config file's [database] url")
    out, _ = cron_print("--db", "mysql://sip@db/sip", "cron", "print", "--user", "no-such-user-here")
    assert commands(out)[0][1:3] == ["--db", "mysql://sip@db/sip"]


def test_password_in_db_option_is_left_out_with_a_warning() -> None:
    url = "mysql://sip:s3cr3t@db.example.net:3307/sip?option_files=/etc/sipparse/my.cnf"
    out, err = cron_print("--db", url, "cron", "print")
    assert "s3cr3t" not in out and "s3cr3t" not in err
    assert commands(out)[0][1:3] == ["--db", "mysql://sip@db.example.net:3307/sip?option_files=/etc/sipparse/my.cnf"]
    assert err.startswith("Warning: the database password is not written into the jobs")


def test_password_in_sipparse_db_environment_is_left_out_too() -> None:
    out, err = cron_print("cron", "print", "--format", "systemd", env={"SIPPARSE_DB": "mysql://u:pw9876@h/d"})
    assert "pw9876" not in out and "--db mysql://u@h/d ingest" in out and err.startswith("Warning: ")


def test_password_from_environment_variable_is_not_a_warning() -> None:
    out, err = cron_print("--db", "mysql://u@h/d", "cron", "print", env={"SIPPARSE_DB_PASSWORD": "pw1234"})
    assert "pw1234" not in out and err == ""


def test_config_file_is_passed_and_its_database_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "sipparse.toml"
    config.write_text('[database]\nurl = "mysql://sip@db/sip?option_files=/etc/sipparse/my.cnf"\n')
    monkeypatch.chdir(tmp_path)
    out, _ = cron_print("--config", "sipparse.toml", "cron", "print", "--log", "log/pjsip")
    ingest = commands(out)[0]
    assert ingest[1:] == ["--config", str(config), "ingest", "--quiet", str(tmp_path / "log" / "pjsip")]


def test_crontab_format_has_no_user_field_and_options_are_honoured() -> None:
    out, _ = cron_print("cron", "print", "--format", "crontab", "--every", "10", "--rotate-at", "03:30",
                        "--min-size", "0", "--mailto", "ops@example.net")
    env, jobs = crontab.parse(out, with_user=False)
    assert env["MAILTO"] == "ops@example.net" and len(jobs) == 2
    assert jobs[0].times == ["*/10", "*", "*", "*", "*"] and jobs[1].times == ["30", "3", "*", "*", "*"]


def test_an_empty_mailto_is_crons_mail_nobody() -> None:
    """``MAILTO=""`` tells cron to mail nobody; with no MAILTO line it mails the job's owner."""
    out, _ = cron_print("cron", "print", "--mailto", "")
    env, _ = crontab.parse(out)
    assert env["MAILTO"] == '""'


def test_postrotate_is_quoted_for_the_shell_and_percent_escaped_for_cron() -> None:
    out, _ = cron_print("cron", "print", "--postrotate", 'asterisk -rx "logger reload" # 100%')
    for argv in commands(out)[1:]:
        assert argv[argv.index("--postrotate") + 1] == 'asterisk -rx "logger reload" # 100%'
    out, _ = cron_print("cron", "print", "--shell", "--postrotate", "kill -HUP $(cat /run/rsyslogd.pid)")
    daily = commands(out)[1]
    assert daily[daily.index("--postrotate"):] == ["--postrotate", "kill -HUP $(cat /run/rsyslogd.pid)",
                                                   "--shell"]


@pytest.mark.parametrize("args,message", [
    (["--every", "7"], "--every 7: use a divisor of 60"),
    (["--user", "bad user"], "bad user name 'bad user'"),
    (["--min-size", "huge"], "bad size 'huge'"),
    (["--postrotate", "kill -HUP $(cat /run/rsyslogd.pid)"],
     "postrotate 'kill -HUP $(cat /run/rsyslogd.pid)' uses shell syntax: add --shell"),
])
def test_bad_schedule_options_are_refused(args: list[str], message: str) -> None:
    """Bad usage, exit 2, as a --rotate-at no clock shows: the value was typed on the command line."""
    result = CliRunner().invoke(cli, ["cron", "print", *args])
    assert result.exit_code == 2 and f"Error: {message}" in result.output


@pytest.mark.parametrize("args", [
    ["--log", "/tmp/a\n* * * * * root touch /tmp/owned"],
    ["--mailto", "root\n* * * * * root touch /tmp/owned"],
    ["--postrotate", "true\n* * * * * root touch /tmp/owned"],
    ["--format", "systemd", "--log", "/tmp/a\nExecStartPre=/bin/touch /tmp/owned"],
])
def test_a_line_end_in_a_value_cannot_add_a_job_or_a_directive(args: list[str]) -> None:
    """cron.d and systemd read lines: the file goes to /etc as root, so a value cannot add one."""
    result = CliRunner().invoke(cli, ["cron", "print", *args])
    assert result.exit_code == 2 and "control character" in result.output
    assert "owned" not in result.stdout


def test_bad_rotate_time_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["cron", "print", "--rotate-at", "25:00"])
    assert result.exit_code == 2 and "expected HH:MM" in result.output


def systemd_units(text: str) -> dict[str, str]:
    units = {}
    for chunk in text.split("# ---- /etc/systemd/system/")[1:]:
        name, body = chunk.split("\n", 1)
        units[name] = body
    return units


def test_systemd_format_gives_three_valid_pairs(tmp_path: Path) -> None:
    out, _ = cron_print("--db", f"sqlite:///{tmp_path}/sip.db", "cron", "print", "--format", "systemd",
                        "--user", "asterisk", "--postrotate", "x $HOME 5%", "--shell")
    units = systemd_units(out)
    assert sorted(units) == sorted(f"sipparse-{j}.{k}" for j in ("ingest", "rotate", "rotate-size")
                                   for k in ("service", "timer"))
    for name, body in units.items():
        parser = configparser.ConfigParser(strict=True, interpolation=None)
        parser.read_string(body)
        if name.endswith(".service"):
            assert parser["Service"]["User"] == "asterisk"
            assert parser["Service"]["ExecStart"].startswith("/")
    assert '--postrotate "x $$HOME 5%%"' in units["sipparse-rotate.service"]
    if shutil.which("systemd-analyze"):
        for name, body in units.items():
            (tmp_path / name).write_text(body)
        done = subprocess.run(["systemd-analyze", "verify", *[f"./{n}" for n in units]], cwd=tmp_path,
                              capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stderr) == (0, "")


def test_program_is_found_from_how_sipparse_was_started(tmp_path: Path) -> None:
    script = tmp_path / "venv" / "bin" / "sipparse"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    link = tmp_path / "sipparse"
    link.symlink_to(script)
    assert sipparse_program(str(link), "/venv/bin/python") == [str(script)]
    main = str(Path(__file__).parents[2] / "sipparse" / "__main__.py")
    assert sipparse_program(main, "/opt/venv/bin/python") == ["/opt/venv/bin/python", "-m", "sipparse"]
    on_path = shutil.which("sipparse")  # an interpreter without a script of its own: PATH's
    installed = [os.path.realpath(on_path)] if on_path else ["/x/python", "-m", "sipparse"]
    assert sipparse_program("/usr/bin/pytest", "/x/python") == installed
    assert sipparse_program("/usr/lib/python3/pytest/__main__.py", "/x/python") == installed
    # started otherwise (python -m sipparse, pytest), the script of the interpreter's own venv,
    # whatever PATH finds
    python = script.parent / "python"
    script.chmod(0o755)
    assert sipparse_program("/usr/bin/pytest", str(python)) == [str(script)]


@pytest.mark.skipif(SIPPARSE is None, reason="sipparse is not installed as a command")
def test_printed_jobs_run_from_a_bare_cron_environment(tmp_path: Path, shared_dir: Path) -> None:
    """The point of cron print: the jobs work although cron's PATH does not reach the install."""
    log = tmp_path / "log" / "pjsip"
    log.parent.mkdir()
    shutil.copy(shared_dir / "samples" / "pjsip-full.log", log)
    db = tmp_path / "sip.db"
    printed = subprocess.run([str(SIPPARSE), "--db", f"sqlite:///{db}", "cron", "print", "--log", str(log)],
                             capture_output=True, text=True, timeout=60, check=True).stdout
    env, jobs = crontab.parse(printed)
    bare = {"PATH": env["PATH"], "HOME": str(tmp_path), "SIPPARSE_LOCK_DIR": str(tmp_path / "locks")}
    if os.path.dirname(str(SIPPARSE)) in env["PATH"].split(":"):
        bare["PATH"] = "/nonexistent"  # prove the absolute path alone is enough
    for job in jobs[:2]:
        done = subprocess.run([env["SHELL"], "-c", job.command], env=bare, capture_output=True, text=True,
                              timeout=120)
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM sip_transactions").fetchone()[0] > 0
    assert sorted(os.listdir(log.parent)) == ["pjsip", "pjsip.1"]


@pytest.mark.parametrize("name", ["q%3Fx.db", "q%2541.db", "q%23x.db", "a b.db"])
def test_the_jobs_open_the_sqlite_file_they_were_given(tmp_path: Path, name: str) -> None:
    """The path went into the jobs decoded: ``q%3Fx.db`` (the file ``q?x.db``) became
    ``sqlite:///.../q?x.db``, which the jobs read as the file ``q``, and ``q%2541.db``
    (``q%41.db``) became ``qA.db``."""
    from sipparse.config import parse_db_url

    given = f"sqlite:///{tmp_path}/{name}"
    out, _ = cron_print("--db", given, "cron", "print")
    for job in commands(out):
        assert parse_db_url(job[job.index("--db") + 1]).path == parse_db_url(given).path


def test_a_relative_option_file_of_the_db_option_is_made_absolute_for_the_jobs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """cron runs the jobs in $HOME: a relative option file of --db would name another file."""
    monkeypatch.chdir(tmp_path)
    out, _ = cron_print("--db", "mysql://sip@db/sip?option_files=my.cnf&ssl_ca=ca.pem", "cron", "print")
    assert commands(out)[0][1:3] == ["--db", f"mysql://sip@db/sip?option_files={tmp_path}/my.cnf"
                                             f"&ssl_ca={tmp_path}/ca.pem"]
