"""`sipparse ingest`: a thin adapter over sipparse.ingest."""

from __future__ import annotations

import sys
from datetime import tzinfo
from typing import Any

import click

from sipparse.cli.base import App, cli, echo_line, not_empty, pass_app, warn
from sipparse.config import config_location
from sipparse.errors import ConfigError, LogFileError, SipparseError
from sipparse.ingest import (
    DEFAULT_PATHS,
    IngestOptions,
    check_dialect,
    follow_through_outages,
    ingest_paths,
)
from sipparse.logs.files import rotated_siblings
from sipparse.logs.follow import look_again_on_hangup, notify_systemd, stop_on_signals
from sipparse.query.errors import QueryError
from sipparse.query.times import zone_by_name


class WorkerCount(click.ParamType):
    """``auto`` (None: ``sipparse.ingest.auto_workers`` decides) or a count from 0 to 64."""

    name = "N|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int | None:
        if value is None or isinstance(value, int):
            return value
        if str(value).strip().lower() == "auto":
            return None
        try:
            count = int(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number nor 'auto'", param, ctx)
        if not 0 <= count <= 64:
            self.fail(f"{count} is not in the range 0 to 64", param, ctx)
        return count


def parse_tz(name: str | None) -> tzinfo | None:
    """An IANA zone name or UTC; None means the machine's local zone."""
    if not name or name.lower() == "local":
        return None
    try:
        return zone_by_name(name)
    except QueryError as exc:
        raise click.BadParameter(str(exc), param_hint="'--tz'") from None


def _config_error(settings: Any, key: str, reason: str) -> ConfigError:
    """A bad [ingest] value is the config file's error (exit 1), not an option the user typed."""
    return ConfigError(f"{config_location(settings.config_path, 'ingest', key)}: [ingest] {key}: {reason}")


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [str(value)] if isinstance(value, str) else [str(v) for v in value]


def build_options(app: App, fmt: str | None, year: int | None, tz: str | None, host: str | None,
                  patterns_dirs: tuple[str, ...], **flags: bool) -> IngestOptions:
    """Command line > config file ([ingest], [grok], [[dialects]]) > defaults."""
    settings = app.settings
    dialects = settings.config.get("dialects", [])
    if not isinstance(dialects, list):
        raise SipparseError(f"{settings.config_path}: [[dialects]] must be an array of tables")
    dialect = fmt or settings.get("ingest", "format") or "auto"
    try:
        check_dialect(dialect, dialects)
    except SipparseError as exc:
        if fmt:
            raise click.BadParameter(str(exc), param_hint="--format") from None
        raise _config_error(settings, "format", str(exc)) from None
    year = year or settings.get("ingest", "year")
    if year is not None and not 1970 <= year <= 9999:  # --year's own range is click's to check
        raise _config_error(settings, "year", f"{year} is not in the range 1970 to 9999")
    try:
        zone = parse_tz(tz or settings.get("ingest", "tz"))
    except click.BadParameter as exc:
        if tz:
            raise
        raise _config_error(settings, "tz", exc.message) from None
    return IngestOptions(
        dialect=dialect,
        year=year,
        tz=zone,
        host=_host_label(host or settings.get("ingest", "host")),
        patterns_dirs=settings.patterns_dirs() + list(patterns_dirs),
        user_dialects=dialects,
        **flags,
    )


def _host_label(host: str | None) -> str | None:
    """The label as ``calls --host`` and ``stats --host`` look it up: spaces typed around a
    name are not the host's. One of spaces only names no host."""
    return host.strip() or None if host else None


@cli.command()
@click.argument("paths", nargs=-1, metavar="[PATH|GLOB]...")
@click.option("--format", "fmt", metavar="auto|syslog|rfc5424|syslog-protocol|full|json|console|docker|NAME",
              help="Log dialect (default auto, detected per file; NAME: a [[dialects]] entry of the config).")
@click.option("--year", type=click.IntRange(1970, 9999), help="Year of yearless syslog timestamps "
              "(default: inferred so that no timestamp lies after the file's last change).")
@click.option("--tz", metavar="ZONE", callback=not_empty,
              help="Zone of zoneless timestamps: IANA name or UTC (default: local).")
@click.option("--host", metavar="NAME", help="Host label for messages whose log names none "
              "(default: [ingest] host, else this machine's name).")
@click.option("--patterns-dir", "patterns_dirs", multiple=True, metavar="DIR",
              type=click.Path(exists=True, file_okay=False),
              help="Extra grok pattern directory, read after the config's [grok] patterns_dir "
              "(repeatable); its definitions win.")
@click.option("--follow", is_flag=True,
              help="Keep tailing the files, across rotations, until SIGINT/SIGTERM.")
@click.option("--progress/--no-progress", default=None,
              help="Progress bar on stderr (default: only when stderr is a terminal).")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors and warnings (no summary line).")
@click.option("--dry-run", is_flag=True, help="Parse and report, write nothing.")
@click.option("--wait", is_flag=True,
              help="Wait for a run holding a file's lock instead of skipping the file.")
@click.option("--workers", type=WorkerCount(), default="auto", show_default=True,
              help="Parse in N processes ahead of the one that stores (0: all in one process; "
                   "auto: one when there are 32 MiB or more to read and a core to spare).")
@click.option("--batch-bytes", type=click.IntRange(4096), default=None, hidden=True,
              help="Bytes of log per batch (tests and tuning).")
@pass_app
def ingest(app: App, paths: tuple[str, ...], fmt: str | None, year: int | None, tz: str | None,
           host: str | None, patterns_dirs: tuple[str, ...], follow: bool, progress: bool | None,
           quiet: bool, dry_run: bool, wait: bool, workers: int | None, batch_bytes: int | None) -> None:
    """Read what is new in each log file since the last run, parse it, store it.

    PATH defaults to the config's [ingest] paths, else /var/log/asterisk/pjsip. Rotated
    generations (PATH.1, PATH.2.gz, PATH-20261129...) holding unread data are finished too.
    Ends with one summary line.

    Example: sipparse ingest --tz UTC /var/log/asterisk/pjsip
    """
    if follow and dry_run:
        raise click.UsageError("--follow and --dry-run do not go together: a dry run stores no progress")
    show_progress = (not quiet and sys.stderr.isatty()) if progress is None else (progress and not quiet)
    options = build_options(app, fmt, year, tz, host, patterns_dirs, dry_run=dry_run, wait=wait,
                            progress=show_progress)
    options.batch_bytes, options.workers = batch_bytes, workers
    targets = list(paths) or _as_list(app.settings.get("ingest", "paths")) or DEFAULT_PATHS
    if follow:
        with stop_on_signals() as stop, look_again_on_hangup() as hangup:
            notify_systemd("READY=1")
            summary = follow_through_outages(app.open_store, targets, options, stop, warn, hangup)
    else:
        # a dry run writes nothing, no file either, and has no use for the stored rows
        with app.open_store(reading=dry_run, note_missing=False) as store:
            summary = ingest_paths(store, targets, options)
    if not quiet:
        echo_line(summary.line(dry_run=dry_run))
    elif not follow:  # the summary line names them; cron, which mails stderr, must hear too
        summary.warnings += [f"{path}: no such file, nor a rotated generation of it"
                             for path in summary.missing if not rotated_siblings(path)]
    for reason in summary.warnings:
        warn(reason)
    if summary.failed:
        more = f" (and {len(summary.failed) - 1} more)" if len(summary.failed) > 1 else ""
        raise LogFileError(summary.failed[0] + more)
