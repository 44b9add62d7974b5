"""``sipparse rotate``: logrotate-like rotation that ingests each file before rotating it."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import click

from sipparse.cli.base import App, cli, echo_line, not_empty, pass_app
from sipparse.errors import ConfigError
from sipparse.rotate import (
    IngestFn,
    Outcome,
    RotateError,
    check_values,
    default_paths,
    expand_paths,
    ingest_with_lock_held,
    options_from,
    rotate_paths,
)


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--keep", type=int, metavar="N", help="Rotated generations to keep (default 7).")
@click.option("--min-size", metavar="SIZE", help="Rotate only files of at least SIZE (10M, 1G...).")
@click.option("--max-age", metavar="AGE", help="Delete rotated generations older than AGE (30d, 12h, 2w).")
@click.option("--compress/--no-compress", default=None, help="gzip rotated generations (default on).")
@click.option("--delaycompress/--no-delaycompress", default=None,
              help="Keep the newest generation plain until the next rotation (default on).")
@click.option("--dateext/--no-dateext", default=None,
              help="Name generations PATH-YYYYMMDD instead of PATH.N.")
@click.option("--copytruncate/--no-copytruncate", default=None,
              help="Copy, then truncate in place, for writers that cannot reopen (may lose a few lines).")
@click.option("--postrotate", metavar="CMD", help="Run CMD after the rename so the writer reopens its file.")
@click.option("--shell/--no-shell", default=None,
              help="Run --postrotate through /bin/sh (the log path is $1).")
@click.option("--ingest/--no-ingest", default=None, help="Ingest each file to its end before rotating it.")
@click.option("--wait/--no-wait", default=None,
              help="Wait for a run holding a file's lock (default), or skip that file at once.")
@click.option("--timeout", type=float, metavar="SECONDS", help="Longest wait for a lock (default 600).")
@click.option("--format", "fmt", metavar="DIALECT", help="Ingest step: as `sipparse ingest --format`.")
@click.option("--year", type=click.IntRange(1970, 9999), help="Ingest step: as `sipparse ingest --year`.")
@click.option("--tz", metavar="ZONE", callback=not_empty, help="Ingest step: as `sipparse ingest --tz`.")
@click.option("--host", metavar="NAME", help="Ingest step: as `sipparse ingest --host`.")
@click.option("-v", "--verbose", is_flag=True, help="Print one line per action.")
@click.option("-q", "--quiet", is_flag=True, help="Print nothing but errors (for cron).")
@pass_app
def rotate(app: App, paths: tuple[str, ...], fmt: str | None, year: int | None, tz: str | None,
           host: str | None, verbose: bool, quiet: bool, **given: Any) -> None:
    """Rotate log files without losing a line: ingest, rename, reopen, compress, expire.

    PATH defaults to the config's [rotate] or [ingest] paths, else /var/log/asterisk/pjsip.
    Options may also be set in the config file's [rotate] section (keep, min_size, max_age,
    compress, delaycompress, dateext, copytruncate, postrotate, shell, ingest, wait, timeout);
    the command line wins; the ingest step reads the files as `sipparse ingest` would
    (config [ingest] tz, format, year, host, or --tz, --format, --year, --host). A missing
    file is skipped.

    Examples (the --postrotate command makes the writer reopen its file):

    \b
        sipparse rotate --keep 14 --postrotate "systemctl kill -s HUP rsyslog.service"
        sipparse rotate --postrotate 'asterisk -rx "logger reload"'
        sipparse rotate --min-size 100M --dateext --max-age 30d
    """
    try:
        check_values(given)  # the command line's own values first: a bad one is a usage error
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from None
    options = options_from(app.settings.section("rotate"), given)
    targets = expand_paths(paths or default_paths(app.settings))
    with ExitStack() as stack:
        ingest = _ingest_function(app, stack, fmt, year, tz, host) if options.ingest else None
        summary = rotate_paths(targets, options, ingest, echo_line if verbose else None)
    if not quiet and not verbose:
        for result in summary.results:
            if result.outcome is Outcome.BUSY:
                echo_line(f"skipped {result.path}: being processed by another sipparse run", err=True)
    *earlier, last = summary.errors or [None]
    for error in earlier:
        echo_line(f"Error: {error}", err=True)
    if last:
        raise RotateError(last)


def _ingest_function(app: App, stack: ExitStack, fmt: str | None, year: int | None,
                     tz: str | None, host: str | None) -> IngestFn:
    """Ingest one path with the settings of ``sipparse ingest``, while rotate holds its lock."""
    from sipparse.cli.ingest import build_options

    options = build_options(app, fmt, year, tz, host, ())
    return ingest_with_lock_held(stack.enter_context(app.open_store()), options)
