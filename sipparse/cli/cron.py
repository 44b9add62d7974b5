"""``sipparse cron print``: the cron (or systemd) jobs for this installation, ready to install."""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

import click

from sipparse.cli.base import App, cli, pass_app
from sipparse.config import ENV_DB
from sipparse.errors import ConfigError
from sipparse.rotate import parse_size
from sipparse.schedule import (
    Jobs,
    check_user_name,
    crontab,
    global_args,
    job_home,
    sipparse_program,
    systemd_bundle,
    systemd_units,
    validate_jobs,
)

PASSWORD_NOTE = ("Warning: the database password is not written into the jobs; give it to them with an "
                 "option file (mysql://USER@HOST/DB?option_files=/etc/sipparse/my.cnf, mode 600) or "
                 "SIPPARSE_DB_PASSWORD in their environment (systemd: EnvironmentFile=)")


@cli.group()
def cron() -> None:
    """Scheduling: the jobs that run ingest and rotate (see cron/README.md)."""


@cron.command("print")
@click.option("--format", "fmt", type=click.Choice(["cron.d", "crontab", "systemd"]), default="cron.d",
              show_default=True, help="An /etc/cron.d file, lines for `crontab -e`, or systemd timer units.")
@click.option("--user", default=None, help="User the jobs run as (default: you).")
@click.option("--log", "logs", multiple=True, metavar="PATH",
              help="Log file for ingest and rotate (repeatable; default: the config's, else Asterisk's).")
@click.option("--mailto", default="root", show_default=True,
              help="Where cron mails errors ('' for nobody: MAILTO=\"\").")
@click.option("--every", type=int, default=5, show_default=True, metavar="MINUTES", help="Ingest interval.")
@click.option("--rotate-at", default="00:02", show_default=True, metavar="HH:MM", help="Daily rotation time.")
@click.option("--min-size", default="100M", show_default=True, metavar="SIZE",
              help="Also rotate hourly any log larger than SIZE (0: no hourly job).")
@click.option("--postrotate", metavar="CMD", help="Passed to rotate (else the config's [rotate] postrotate).")
@click.option("--shell", is_flag=True, help="Passed to rotate: run CMD through /bin/sh.")
@pass_app
def print_jobs(app: App, fmt: str, user: str | None, logs: tuple[str, ...], mailto: str, every: int,
               rotate_at: str, min_size: str, postrotate: str | None, shell: bool) -> None:
    """Print the jobs with this sipparse's real path and the current --config/--db.

    For installs in a virtualenv, which cron's PATH does not reach. A database password
    is never written into the jobs.

    \b
    Examples:
        sipparse --config /etc/sipparse/sipparse.toml cron print --user asterisk > /etc/cron.d/sipparse
        sipparse cron print --format systemd --log /var/log/remote/pjsip.log
    """
    user = user or getpass.getuser()
    with _bad_usage():
        check_user_name(user)
    db_text = app.db_option or os.environ.get(ENV_DB)
    # another user's home, where the jobs find their default database when given none
    home = None if db_text or app.settings.get("database", "url") else job_home(user)
    args, stripped = global_args(app.settings, db_text, home)
    with _bad_usage():
        jobs = Jobs(program=sipparse_program(), user=user, mailto=mailto,
                    every=every, rotate_at=_clock(rotate_at), min_size=min_size if parse_size(min_size) else None,
                    postrotate=postrotate, shell=shell, logs=[os.path.abspath(p) for p in logs], global_args=args)
        validate_jobs(jobs)
    if stripped:
        click.echo(PASSWORD_NOTE, err=True)
    if home is not None and not os.path.isdir(home):
        click.echo(f"Warning: the jobs run as {user}, whose home {home} does not exist, so their default "
                   "database cannot be created there: give them one with --db or [database] url", err=True)
    if fmt == "systemd":
        click.echo(systemd_bundle(systemd_units(jobs)), nl=False)
    else:
        click.echo(crontab(jobs, with_user=fmt == "cron.d"), nl=False)


@contextmanager
def _bad_usage() -> Iterator[None]:
    """A value of the options no schedule can take is bad usage (exit 2), as a --rotate-at no
    clock shows, not a failure of the run."""
    try:
        yield
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None


def _clock(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"([01]?[0-9]|2[0-3]):([0-5][0-9])", text.strip())
    if not match:
        raise click.BadParameter(f"{text!r}: expected HH:MM, e.g. 00:02", param_hint="--rotate-at")
    return int(match[1]), int(match[2])
