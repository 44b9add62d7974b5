"""The cron and systemd jobs that run sipparse: ``sipparse cron print`` writes them for this installation.

The jobs are those of ``cron/`` in the source tree (ingest every 5 minutes, rotate daily, and
hourly when a log outgrew a size), written with the real path of the running ``sipparse``
(a virtualenv is not on cron's PATH) and the database and config file in use. A database
password never goes into a job: cron files are often world-readable and mailed around, so it
is left out, and the caller tells the user to use ``SIPPARSE_DB_PASSWORD`` or an option file.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import sys
from dataclasses import dataclass, field

from sipparse.config import URL_PATH_OPTIONS, DatabaseURL, Settings, default_db_url, parse_db_url
from sipparse.errors import ConfigError
from sipparse.rotate import check_postrotate

CRON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SYSTEMD_SAFE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass
class Jobs:
    """What to schedule and how; ``program`` is the argv that runs sipparse.

    :param global_args: ``--config``/``--db`` options put before each command.
    :param logs: log paths given to ingest and rotate (empty: the config's, else the default).
    :param min_size: size for the hourly rotation of big logs; ``None`` for no hourly job.
    """

    program: list[str]
    user: str = "root"
    mailto: str | None = "root"
    every: int = 5
    rotate_at: tuple[int, int] = (0, 2)
    min_size: str | None = "100M"
    postrotate: str | None = None
    shell: bool = False
    logs: list[str] = field(default_factory=list)
    global_args: list[str] = field(default_factory=list)

    def ingest(self) -> list[str]:
        return [*self.program, *self.global_args, "ingest", "--quiet", *self.logs]

    def rotate(self, by_size: bool = False) -> list[str]:
        size = ["--min-size", self.min_size] if by_size and self.min_size else []
        post = ["--postrotate", self.postrotate] if self.postrotate else []
        post += ["--shell"] if self.postrotate and self.shell else []
        return [*self.program, *self.global_args, "rotate", "--quiet", *size, *post, *self.logs]


def sipparse_program(argv0: str | None = None, executable: str | None = None) -> list[str]:
    """The argv that runs this very sipparse from cron: its script resolved, or ``python -m sipparse``."""
    argv0 = sys.argv[0] if argv0 is None else argv0
    python = os.path.abspath(executable or sys.executable)  # not resolved: a venv's python is a link
    name = os.path.basename(argv0)
    if name == "__main__.py" and os.path.basename(os.path.dirname(argv0)) == "sipparse":
        return [python, "-m", "sipparse"]
    if name.startswith("sipparse"):
        script = argv0 if os.sep in argv0 else shutil.which(argv0)
        if script and os.path.isfile(script):
            return [os.path.realpath(script)]
    found = _beside(python) or shutil.which("sipparse")
    return [os.path.realpath(found)] if found else [python, "-m", "sipparse"]


def _beside(python: str) -> str | None:
    """The ``sipparse`` script of the interpreter's own install (a venv's ``bin``): the one that
    runs this very code, where PATH may name another install, or none (``python -m sipparse``,
    a venv not activated)."""
    script = os.path.join(os.path.dirname(python), "sipparse")
    return script if os.path.isfile(script) and os.access(script, os.X_OK) else None


def global_args(settings: Settings, db_text: str | None, home: str | None = None) -> tuple[list[str], bool]:
    """``--config``/``--db`` for the jobs, and whether a password had to be left out.

    :param db_text: the URL given with ``--db`` or ``SIPPARSE_DB``, if any. Without one the
        jobs use the config file's URL, else the default database spelled out in full (cron's
        HOME may differ from the user's, and with it the default path).
    :param home: the home of the user the jobs run as, when not the caller's (``job_home``):
        the default database is then that user's own, as the caller's is usually not theirs
        to open.
    """
    args: list[str] = []
    if settings.config_path is not None:
        args += ["--config", os.path.abspath(settings.config_path)]
    stripped = False
    if db_text:
        url = parse_db_url(db_text)
        stripped = url.password is not None
        args += ["--db", url_without_password(url)]
    elif not settings.get("database", "url"):
        environ = None if home is None else {"XDG_DATA_HOME": os.path.join(home, ".local", "share")}
        args += ["--db", _absolute_sqlite(default_db_url(environ))]
    return args, stripped


def job_home(user: str | None) -> str | None:
    """The home directory of ``user`` when the jobs run as someone else than the caller, else None."""
    if user is None:
        return None
    check_user_name(user)
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise ConfigError(f"no user {user!r} on this machine: give the jobs a database with --db "
                          "or a config file's [database] url") from None
    return None if entry.pw_uid == os.geteuid() else entry.pw_dir


def url_without_password(url: DatabaseURL) -> str:
    """The URL as the jobs should see it: everything but the password (options kept)."""
    if url.is_sqlite:  # the path as the URL must spell it for the jobs to read it back
        path = (url.path or "").replace("%", "%25").replace("?", "%3F")
        return _absolute_sqlite(f"sqlite:///{path}")
    user = f"{url.user}@" if url.user else ""
    port = f":{url.port}" if url.port else ""
    options = {k: os.path.abspath(v) if k in URL_PATH_OPTIONS and v else v for k, v in url.options.items()}
    query = "&".join(f"{k}={v}" for k, v in sorted(options.items()))
    return f"mysql://{user}{url.host}{port}/{url.database}" + (f"?{query}" if query else "")


def _absolute_sqlite(text: str) -> str:
    """cron runs in another directory: a relative SQLite path is made absolute."""
    path = text[len("sqlite:///"):]
    return "sqlite:///" + os.path.abspath(path)


def crontab(jobs: Jobs, with_user: bool = True) -> str:
    """The jobs as an /etc/cron.d file (``with_user``) or for ``crontab -e`` (no user field)."""
    user = f" {jobs.user}" if with_user else ""
    hour, minute = jobs.rotate_at
    lines = [
        "# sipparse: Asterisk PJSIP logs into the SIP database (written by `sipparse cron print`).",
        "# Every job is quiet unless it fails, so cron mails only errors.",
        "SHELL=/bin/sh",
        f"PATH={CRON_PATH}",
    ]
    if jobs.mailto is not None:  # an empty one is cron's "mail nobody", written as MAILTO=""
        lines.append(f"MAILTO={jobs.mailto}" if jobs.mailto else 'MAILTO=""')
    lines += [
        "",
        f"*/{jobs.every} * * * *{user} {_cron_command(jobs.ingest())}",
        f"{minute} {hour} * * *{user} {_cron_command(jobs.rotate())}",
    ]
    if jobs.min_size:
        lines.append(f"{(minute + 15) % 60} * * * *{user} {_cron_command(jobs.rotate(by_size=True))}")
    return "\n".join(lines) + "\n"


def _cron_command(argv: list[str]) -> str:
    # cron turns an unescaped % into a newline (the rest becomes stdin)
    return shlex.join(argv).replace("%", "\\%")


def validate_jobs(jobs: Jobs) -> None:
    """Refuse values that would make a broken schedule."""
    if not 1 <= jobs.every <= 59 or 60 % jobs.every:
        raise ConfigError(f"--every {jobs.every}: use a divisor of 60 (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30)")
    check_user_name(jobs.user)
    check_postrotate(jobs.postrotate, jobs.shell)  # else every rotate job would fail on it
    # cron.d files and systemd units are read line by line: a line end in a value would add
    # a job or a directive of its own, run as root where the file is installed
    values = [jobs.mailto or "", jobs.postrotate or "", jobs.min_size or "", *jobs.logs, *jobs.global_args,
              *jobs.program]
    for value in values:
        if _CONTROL.search(value):
            raise ConfigError(f"{value!r}: a control character (a line end) has no place in a schedule")


def check_user_name(user: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", user):
        raise ConfigError(f"bad user name {user!r}")


def systemd_units(jobs: Jobs) -> dict[str, str]:
    """The systemd service/timer pairs, by file name."""
    hour, minute = jobs.rotate_at
    units = {
        "sipparse-ingest.service": _service("ingest new Asterisk PJSIP log lines into the SIP database",
                                            jobs.ingest(), jobs.user),
        "sipparse-ingest.timer": _timer(f"Run sipparse ingest every {jobs.every} minutes",
                                        f"*:0/{jobs.every}", "sipparse-ingest.service", persistent=False),
        "sipparse-rotate.service": _service("rotate the Asterisk PJSIP logs without losing a line",
                                            jobs.rotate(), jobs.user),
        "sipparse-rotate.timer": _timer("Rotate the Asterisk PJSIP logs daily",
                                        f"*-*-* {hour:02d}:{minute:02d}:00", "sipparse-rotate.service"),
    }
    if jobs.min_size:
        units["sipparse-rotate-size.service"] = _service(
            f"rotate Asterisk PJSIP logs larger than {jobs.min_size}", jobs.rotate(by_size=True), jobs.user)
        units["sipparse-rotate-size.timer"] = _timer(
            "Rotate big Asterisk PJSIP logs hourly", f"*-*-* *:{(minute + 15) % 60:02d}:00",
            "sipparse-rotate-size.service")
    return units


def _service(what: str, argv: list[str], user: str) -> str:
    return (
        "[Unit]\n"
        f"Description=sipparse: {what}\n"
        "Wants=network-online.target\n"
        "After=network-online.target mariadb.service mysql.service\n"
        "\n[Service]\n"
        "Type=oneshot\n"
        f"User={user}\n"
        f"ExecStart={systemd_command(argv)}\n"
        "Nice=10\n"
        "IOSchedulingClass=best-effort\n"
        "IOSchedulingPriority=7\n"
    )


def _timer(what: str, calendar: str, unit: str, persistent: bool = True) -> str:
    return (
        "[Unit]\n"
        f"Description={what}\n"
        "\n[Timer]\n"
        f"OnCalendar={calendar}\n"
        f"Persistent={'true' if persistent else 'false'}\n"
        "AccuracySec=1s\n"
        f"Unit={unit}\n"
        "\n[Install]\n"
        "WantedBy=timers.target\n"
    )


def systemd_command(argv: list[str]) -> str:
    """An ExecStart= line: systemd's own quoting, with its % specifiers and $ variables escaped."""
    return " ".join(_systemd_word(word) for word in argv)


def _systemd_word(word: str) -> str:
    escaped = word.replace("%", "%%").replace("$", "$$")
    if SYSTEMD_SAFE.fullmatch(word):
        return escaped
    return '"' + escaped.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_bundle(units: dict[str, str]) -> str:
    """All units in one text, each after a comment naming where it goes."""
    parts = [f"# ---- /etc/systemd/system/{name}\n{text}" for name, text in units.items()]
    return "\n".join(parts)
