"""``sipparse show``, ``calls``, ``stats`` and ``rejects``: troubleshooting from the terminal."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import wraps
from typing import Any

import click

from sipparse.cli.base import App, cli, not_empty, pass_app
from sipparse.errors import SipparseError
from sipparse.query import calls as calls_lib
from sipparse.query import ladder
from sipparse.query import show as show_lib
from sipparse.query import stats as stats_lib
from sipparse.query.errors import QueryError
from sipparse.query.rejects import list_rejects
from sipparse.query.render import Terminal, is_tty, to_json, visible, visible_bytes
from sipparse.query.times import Clock, format_time, parse_time_bound


def display_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--utc`` and ``--tz ZONE``: the zone times are shown (and typed) in."""
    func = click.option(
        "--tz",
        "tz",
        metavar="ZONE",
        callback=not_empty,
        help="Show times in this zone (IANA name, e.g. Europe/Berlin) instead of local time.",
    )(func)
    return click.option("--utc", is_flag=True, help="Show times in UTC instead of local time.")(func)


def range_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--since`` and ``--until``: relative (1h, 30m, 2d: before now) or a date/time."""
    func = click.option("--until", metavar="WHEN", help="Only before this time (same forms as --since).")(
        func
    )
    return click.option(
        "--since",
        metavar="WHEN",
        help="Only from this time on: 1h, 30m, 2d (before now; -1h too), '2025-02-01 18:00', an ISO date or "
        "14:00 (today) (read in the display zone unless it has one).",
    )(func)


def _clock(utc: bool, tz: str | None) -> Clock:
    try:
        return Clock.from_options(utc=utc, tz=tz)
    except QueryError as exc:
        raise click.BadParameter(str(exc), param_hint="'--tz'") from None


def _bound(text: str | None, clock: Clock, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_time_bound(text, clock)
    except QueryError as exc:
        raise click.BadParameter(str(exc), param_hint=f"'{option}'") from None


def _range(since: str | None, until: str | None, clock: Clock) -> tuple[datetime | None, datetime | None]:
    """``--since`` and ``--until`` as naive UTC. A range that ends before it starts (the two
    swapped: ``--since 1h --until 2h``) holds nothing, and is refused rather than answered
    with nothing."""
    start, end = _bound(since, clock, "--since"), _bound(until, clock, "--until")
    if start is not None and end is not None and end <= start:
        shown = {name: f"{clock.to_display(moment):%Y-%m-%d %H:%M:%S}" for name, moment in
                 (("since", start), ("until", end))}
        raise click.BadParameter(f"{until!r} ({shown['until']}) is not after --since {since!r} "
                                 f"({shown['since']}): the range holds nothing", param_hint="'--until'")
    return start, end


@contextmanager
def _store(app: App) -> Iterator[Any]:
    """The configured store, closed afterwards; library errors become one line and exit 1."""
    store = None
    try:
        store = app.open_store(reading=True)
        yield store
    except SipparseError as exc:
        raise click.ClickException(str(exc)) from exc  # its traceback for --debug
    finally:
        if store is not None and hasattr(store, "close"):
            store.close()


def _terminal() -> Terminal:
    return Terminal.detect(sys.stdout)


def _echo(text: str) -> None:
    if text:
        click.echo(text)


def _for_the_output(text: str) -> str:
    """Whole values into a file or a pipe; on a terminal, what it would act on as escapes."""
    return visible(text) if is_tty(sys.stdout) else text


OUTPUT_CHUNK = 1 << 16  # characters written at once by _echo_pieces


def _echo_pieces(pieces: Iterator[str], newline: bool) -> None:
    """Output written as it is made, in chunks, so that its size is not held in memory."""
    shown = visible if is_tty(sys.stdout) else str
    chunk: list[str] = []
    size = 0
    for piece in pieces:
        chunk.append(piece)
        size += len(piece)
        if size >= OUTPUT_CHUNK:
            click.echo(shown("".join(chunk)), nl=False)
            chunk, size = [], 0
    click.echo(shown("".join(chunk)), nl=newline)


def _echo_raw(data: bytes) -> None:
    """The messages byte for byte into a file or a pipe; on a terminal, which would act on
    the escape sequences anyone can put in a header, with those shown as escapes."""
    click.echo(visible_bytes(data) if is_tty(sys.stdout) else data, nl=False)


def _handles_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SipparseError as exc:
            raise click.ClickException(str(exc)) from exc  # its traceback for --debug

    return wrapper


@cli.command()
@click.argument("call_ids", nargs=-1, required=True, metavar="CALL_ID...")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "raw", "ladder"]),
    default="table",
    show_default=True,
    help="table: one row per message; json: for scripts; raw: as logged; ladder: a call flow diagram.",
)
@display_options
@pass_app
@_handles_errors
def show(app: App, call_ids: tuple[str, ...], fmt: str, utc: bool, tz: str | None) -> None:
    """Every stored message of a call, in order.

    CALL_ID may be a prefix of the Call-ID, or a pattern with % (SQL LIKE). Several
    Call-IDs show the legs of a call together, interleaved by time.

    Example: sipparse show 9-3973@127.0.1.1 --format ladder
    """
    clock = _clock(utc, tz)
    with _store(app) as store:
        found, messages = show_lib.show_call(store, call_ids)
        delays = show_lib.post_dial_delays(store, found) if fmt == "ladder" else {}
    if fmt == "json":
        _echo(show_lib.render_show_json(messages, clock))
    elif fmt == "raw":
        _echo_raw(show_lib.render_show_raw(messages, clock, several=len(found) > 1))
    elif fmt == "ladder":
        _echo(ladder.render_ladder(messages, found, clock, _terminal(), delays))
    else:
        _echo(show_lib.render_show_table(messages, clock, _terminal()))


@cli.command()
@range_options
@click.option("--from-user", metavar="USER", help="Only calls from this user (% for a pattern).")
@click.option("--to-user", metavar="USER", help="Only calls to this user (% for a pattern).")
@click.option("--user", metavar="USER", help="Only calls from or to this user (% for a pattern).")
@click.option(
    "--status",
    metavar="STATUS",
    help="answered, completed, failed, busy, cancelled, no-answer, "
    "redirected, in-progress, a code like 503, a class like 4xx; several separated by commas.",
)
@click.option("--host", metavar="HOST", help="Only calls logged by this Asterisk host.")
@click.option(
    "--kind",
    type=click.Choice(list(calls_lib.KINDS)),
    default="call",
    show_default=True,
    help="Dialogs to list: INVITE calls, REGISTER, OPTIONS, other, or all.",
)
@click.option(
    "--limit",
    type=click.IntRange(0, (1 << 63) - 1),
    default=50,
    show_default=True,
    help="At most this many calls, newest first (0: no limit).",
)
@click.option(
    "--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table", show_default=True
)
@display_options
@pass_app
@_handles_errors
def calls(
    app: App,
    since: str | None,
    until: str | None,
    from_user: str | None,
    to_user: str | None,
    user: str | None,
    status: str | None,
    host: str | None,
    kind: str,
    limit: int,
    fmt: str,
    utc: bool,
    tz: str | None,
) -> None:
    """One row per call with its outcome, newest first.

    Example: sipparse calls --since 1h --status failed
    """
    clock = _clock(utc, tz)
    start, end = _range(since, until, clock)
    flt = calls_lib.CallFilter(
        since=start,
        until=end,
        from_user=from_user,
        to_user=to_user,
        user=user,
        status=status,
        host=host,
        kind=kind,
        limit=limit or None,
    )
    if status:
        try:
            calls_lib.status_condition(status)
        except QueryError as exc:
            raise click.BadParameter(str(exc), param_hint="'--status'") from None
    with _store(app) as store:
        if fmt in ("json", "csv"):
            render = calls_lib.iter_calls_json if fmt == "json" else calls_lib.iter_calls_csv
            _echo_pieces(render(calls_lib.iter_calls(store, flt), clock), newline=fmt == "json")
            return
        rows, more = calls_lib.list_calls_cut(store, flt)
    if rows:
        _echo(calls_lib.render_calls_table(rows, clock, _terminal()))
        if more:
            click.echo(calls_lib.cut_text(len(rows)), err=True)
    else:
        click.echo(calls_lib.no_match_text(flt), err=True)


@cli.command()
@range_options
@click.option("--host", metavar="HOST", help="Only the calls and messages this Asterisk host logged.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@display_options
@pass_app
@_handles_errors
def stats(app: App, since: str | None, until: str | None, host: str | None, fmt: str, utc: bool,
          tz: str | None) -> None:
    """Traffic and failure figures: ASR, NER, failures, setup times, durations, causes.

    Example: sipparse stats --since 1d --host pbx-a
    """
    clock = _clock(utc, tz)
    start, end = _range(since, until, clock)
    host = host.strip() if host else None  # as typed, spaces around it are not the host's
    with _store(app) as store:
        figures = stats_lib.compute(stats_lib.gather(store, start, end, host), clock)
    if fmt == "json":
        _echo(stats_lib.render_stats_json(figures, start, end, host))
    else:
        _echo(stats_lib.render_stats_text(figures, clock, _terminal(), start, end, host))


@cli.command()
@click.option("--limit", type=click.IntRange(0, (1 << 63) - 1), default=50, show_default=True,
              help="How many (newest first; 0: no limit, as calls --limit).")
@click.option("--host", metavar="HOST", help="Only the rejects of this Asterisk host's logs.")
@range_options
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@display_options
@pass_app
@_handles_errors
def rejects(app: App, limit: int, host: str | None, since: str | None, until: str | None, fmt: str, utc: bool,
            tz: str | None) -> None:
    """List the pieces of logs that could not be parsed: time, host, file, offset, reason, raw text.

    Example: sipparse rejects --since 1h --limit 10 --format json
    """
    clock = _clock(utc, tz)
    start, end = _range(since, until, clock)
    host = host.strip() or None if host else None  # as typed, spaces around it are not the host's
    with app.open_store(reading=True) as store:
        rows = [_reject_view(row) for row in list_rejects(store, limit, host, start, end)]
    if fmt == "json":
        click.echo(to_json(rows))
        return
    _print_rejects(rows, clock)


def _reject_view(row: dict[str, Any]) -> dict[str, Any]:
    raw = row.get("raw")
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", errors="backslashreplace")
    ts = row.get("timestamp")
    return {"id": row.get("id"), "file": row.get("source_file"), "offset": row.get("source_offset"),
            "end": row.get("source_end"), "reason": row.get("reason"),
            "timestamp": None if ts is None else str(ts), "host": row.get("host"), "raw": raw}


def _print_rejects(rows: list[dict[str, Any]], clock: Clock) -> None:
    if not rows:
        click.echo("No rejects match.", err=True)  # as calls says it: nothing on stdout
        return
    header = ["id", f"time ({clock.label})", "host", "file", "offset", "reason", "raw"]  # one path, many PBXs
    cells = [[str(r["id"]), format_time(r["timestamp"], clock, digits=0), visible(str(r["host"] or "")),
              visible(str(r["file"])), str(r["offset"]), visible(str(r["reason"])), _one_line(r["raw"], 60)]
             for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    for line in [header, ["-" * w for w in widths], *cells]:
        click.echo("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


def _one_line(text: str | None, width: int) -> str:
    flat = visible((text or "").replace("\r", "\\r").replace("\n", "\\n"))
    return flat if len(flat) <= width else flat[: width - 3] + "..."
