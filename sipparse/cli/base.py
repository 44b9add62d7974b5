"""The click group every command hangs off, its global options, and error mapping.

Commands are short adapters: parse options, call one library function, map errors.
Library errors (``SipparseError``) become ``Error: <one line>`` on stderr and exit 1;
click's usage errors keep exit 2; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import errno
import importlib
import io
import logging
import os
import sys
import traceback
from collections.abc import Callable
from functools import cached_property, update_wrapper
from typing import Any, TextIO, TypeVar

import click

from sipparse import __version__
from sipparse.config import Settings, resolve_settings
from sipparse.errors import NoSchema, SipparseError
from sipparse.query.render import visible, visible_line, writes_utf8

F = TypeVar("F", bound=Callable[..., Any])

# command name -> the module of sipparse.cli that defines it. Modules are imported only
# when their command runs (or for --help), so `sipparse show` or a cron `ingest` does not
# pay for importing every other command's dependencies.
COMMAND_MODULES = {
    "calls": "query",
    "cron": "cron",
    "grok": "grok",
    "info": "info",
    "ingest": "ingest",
    "purge": "purge",
    "rejects": "query",
    "rotate": "rotate",
    "show": "query",
    "stats": "query",
}


# What a run that could not allocate memory says: a process limit (``ulimit -v``, a
# container's or a unit's MemoryMax) set below what a batch needs is the usual cause, and
# what was committed before stays, so the next run with more memory resumes from it.
OUT_OF_MEMORY = ("out of memory (a limit such as ulimit -v or a service's MemoryMax may be too low); "
                 "what was stored is kept and the next run resumes from it")


class _OutputClosed(Exception):
    """The reader of stdout went away (``sipparse grok match ... | head``): not a failure."""


class OutputWriteError(OSError):
    """stdout could not be written (a full disk, ``> /dev/full``, an I/O error): a failure
    of its own, told as such rather than as an unexpected OSError of nowhere."""


class _StdoutFile(io.FileIO):
    """stdout's file, whose write errors say they are stdout's (a broken pipe stays one:
    click and ``_OutputClosed`` take it as the reader gone)."""

    def write(self, data: Any) -> int | None:
        try:
            return super().write(data)
        except OSError as exc:
            raise _as_output_error(exc) from None


def _as_output_error(exc: OSError) -> OSError:
    if exc.errno == errno.EPIPE or isinstance(exc, OutputWriteError):
        return exc
    return OutputWriteError(exc.errno, exc.strerror)


def _tell_stdout_write_errors() -> None:
    """Put ``_StdoutFile`` under sys.stdout when it is a plain file, pipe or terminal."""
    out = sys.stdout
    if type(out) is not io.TextIOWrapper or type(out.buffer) not in (io.BufferedWriter, io.FileIO):
        return  # a test's capture, or already done
    out.flush()
    raw = _StdoutFile(out.fileno(), "w", closefd=False)
    buffer = raw if type(out.buffer) is io.FileIO else io.BufferedWriter(raw)  # PYTHONUNBUFFERED
    sys.stdout = io.TextIOWrapper(buffer, encoding=out.encoding, errors=out.errors,
                                  line_buffering=out.line_buffering, write_through=out.write_through)


def _stdout_closed() -> bool:
    """Whether stdout is a pipe whose reading end is closed (poll reports an error on it)."""
    import select

    try:
        poller = select.poll()
        poller.register(sys.stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use."""

    def invoke(self, ctx: click.Context) -> Any:
        # click turns any EPIPE into a silent exit 1; only stdout's reader leaving is benign
        try:
            return super().invoke(ctx)
        except BrokenPipeError as exc:
            if _stdout_closed():
                raise _OutputClosed() from None
            raise RuntimeError(f"broken pipe: {exc}") from exc

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMAND_MODULES:
            importlib.import_module(f"sipparse.cli.{COMMAND_MODULES[cmd_name]}")
        return self.commands.get(cmd_name)


class App:
    """What the global options resolve to, handed to every command.

    The options may be given before the command (``sipparse --db URL calls``) or after it
    (``sipparse calls --db URL``, where they win); they are resolved once both are known.
    """

    def __init__(self, db_option: str | None = None, config_option: str | None = None,
                 debug: bool = False) -> None:
        self.db_option = db_option
        self.config_option = config_option
        self._debug = debug

    def given_with_command(self, db_option: str | None, config_option: str | None, debug: bool) -> App:
        """This App with the options given after the command name put over those before it."""
        return App(db_option or self.db_option, config_option or self.config_option, debug or self._debug)

    @cached_property
    def settings(self) -> Settings:
        return resolve_settings(self.db_option, self.config_option, self._debug)

    @property
    def debug(self) -> bool:
        return self._debug

    def open_store(self, reading: bool = False, note_missing: bool = True) -> Any:
        """Open (and create or migrate) the configured database.

        ``reading``: for a command that only reads, or only deletes. An SQLite file that does
        not exist is then not created (a mistyped ``--db`` would leave an empty database
        behind): a note says so (unless not ``note_missing``: a dry run, which reads nothing
        from it), and the command reads an empty database in memory instead. So does a
        database without sipparse's tables, which a read-only account could not create.
        """
        from sipparse.store import open_store

        url = self.settings.db_url
        if reading and url.is_sqlite and url.path != ":memory:" and not _sqlite_file_exists(url):
            return self._empty_store(f"no database at {url.path} yet: nothing has been ingested into it", note_missing)
        try:
            return open_store(url, create=not reading)
        except NoSchema as empty:  # a read-only account, before the first ingest
            return self._empty_store(str(empty), note_missing)

    @staticmethod
    def _empty_store(why: str, note: bool) -> Any:
        from sipparse.config import parse_db_url
        from sipparse.store import open_store

        if note:
            echo_line(f"Note: {why}", err=True)
        return open_store(parse_db_url("sqlite:///:memory:"))


def _sqlite_file_exists(url: Any) -> bool:
    """Whether the SQLite file is there; one the user may not look at (a directory of mode
    0700, as ingest creates it, owned by the user cron runs as) is an error, not "no database"."""
    from sipparse.errors import DatabaseError

    try:
        os.stat(url.path or "")
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise DatabaseError(f"{url.redacted()}: cannot open the database: {exc.strerror or exc}") from None
    return True


def not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """An empty ``--db``, ``--config`` or ``--tz`` (``--db "$URL"`` with URL unset) is refused:
    taken for not given, it would read or write the default database, read /etc's config
    file, or read times in the machine's zone."""
    if value is not None and not value.strip():
        raise click.BadParameter("empty: give a value, or leave the option out", ctx=ctx, param=param)
    return value


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", prog_name="sipparse")
@click.option("--db", "db_url", metavar="URL", callback=not_empty,
              help="Database: sqlite:///PATH or mysql://USER@HOST[:PORT]/DB "
              "(else $SIPPARSE_DB, else the config file, else the embedded SQLite default).")
@click.option("--config", "config_file", metavar="FILE", callback=not_empty, help="TOML config file "
              "(else $SIPPARSE_CONFIG, else /etc/sipparse/sipparse.toml when present).")
@click.option("--debug", is_flag=True, help="Log details to stderr and show tracebacks.")
@click.pass_context
def cli(ctx: click.Context, db_url: str | None, config_file: str | None, debug: bool) -> None:
    """Turn Asterisk PJSIP logger output into SQL rows you can troubleshoot with.

    Typical use: `sipparse ingest /var/log/asterisk/pjsip` from cron, then
    `sipparse calls --status failed` and `sipparse show CALL_ID --format ladder`.
    """
    _log_to_stderr(debug)
    ctx.obj = App(db_url, config_file, debug)


def _log_to_stderr(debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_VisibleFormatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, handlers=[handler], force=True)


class _VisibleFormatter(logging.Formatter):
    """Log lines with the file names and log text in them shown as escapes where a terminal
    would act on them, line ends too; a traceback keeps its lines."""

    def format(self, record: logging.LogRecord) -> str:
        shown = logging.makeLogRecord({**record.__dict__, "msg": visible_line(record.getMessage()), "args": None})
        return visible(super().format(shown))


# The group's options, offered again after each command's name ("every command takes --db").
COMMAND_OPTIONS = (
    click.option("--db", "command_db", metavar="URL", callback=not_empty,
                 help="Database URL, as `sipparse --db` (this one wins)."),
    click.option("--config", "command_config", metavar="FILE", callback=not_empty,
                 help="TOML config file, as `sipparse --config`."),
    click.option("--debug", "command_debug", is_flag=True, help="Log details to stderr and show tracebacks."),
)


def pass_app(func: F) -> F:
    """Give a command the App built by the group (``app`` as first argument), with the
    group's options also accepted after the command's name."""

    @click.pass_context
    def wrapper(ctx: click.Context, *args: Any, command_db: str | None = None, command_config: str | None = None,
                command_debug: bool = False, **kwargs: Any) -> Any:
        app = ctx.find_object(App) or App()
        if command_db or command_config or command_debug:
            if command_debug and not app.debug:
                _log_to_stderr(True)
            app = ctx.obj = app.given_with_command(command_db, command_config, command_debug)
        return ctx.invoke(func, app, *args, **kwargs)

    wrapped = update_wrapper(wrapper, func)
    wrapped.__click_params__ = list(getattr(func, "__click_params__", []))  # not func's own list
    for option in reversed(COMMAND_OPTIONS):
        wrapped = option(wrapped)
    return wrapped  # type: ignore[return-value]


def _escape_what_the_output_cannot_encode() -> None:
    """On a terminal or pipe whose encoding is not UTF-8 (a Latin-1 locale, PYTHONIOENCODING),
    a display name in CJK or a Call-ID with a symbol becomes an escape such as ``\u5c71``,
    as a character a terminal would act on does, instead of ending the command with an error."""
    for stream in (sys.stdout, sys.stderr):
        if not writes_utf8(stream) and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")


def echo_line(text: str, err: bool = False) -> None:
    """Print a summary, warning or error line, its file names and log text shown as escapes
    where a terminal would act on them."""
    click.echo(visible_line(text), err=err)


def discard_from_now_on(stream: TextIO) -> None:
    """Send what is written to ``stream`` to /dev/null: its reader has gone, and what is still
    buffered for it would fail again when Python flushes it at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)


def warn(reason: str) -> None:
    """``Warning: reason`` on stderr. A stderr gone (journald restarted, the reader of a pipe
    ended) takes the warnings with it, not a running ``ingest --follow``."""
    try:
        echo_line(f"Warning: {reason}", err=True)
    except OSError:
        discard_from_now_on(sys.stderr)


def run(args: list[str] | None = None) -> None:
    """Entry point: run the CLI, turning library errors into one line and exit 1."""
    argv = sys.argv[1:] if args is None else args
    debug = "--debug" in argv
    _tell_stdout_write_errors()
    _escape_what_the_output_cannot_encode()
    try:
        cli.main(args=argv, prog_name="sipparse", standalone_mode=False)
        if sys.stdout is not None:  # None: started with stdout closed, and click printed nothing
            sys.stdout.flush()  # what is still buffered fails here, not unseen at exit
    except (click.exceptions.Abort, KeyboardInterrupt):
        # click turns a Ctrl-C inside a command into Abort; one that lands outside it (while
        # the output is flushed) ends the run the same way, with the contract's exit 1
        click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        if debug and exc.__cause__ is not None:  # a library error a command turned into one line
            traceback.print_exception(exc.__cause__)
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SipparseError as exc:
        if debug:
            traceback.print_exc()
        echo_line(f"Error: {exc}", err=True)
        sys.exit(1)
    except _OutputClosed:
        discard_from_now_on(sys.stdout)
        sys.exit(0)
    except OutputWriteError as exc:
        discard_from_now_on(sys.stdout)
        if debug:
            traceback.print_exc()
        echo_line(f"Error: cannot write the output: {exc.strerror}", err=True)
        sys.exit(1)
    except MemoryError:
        if debug:
            traceback.print_exc()
        echo_line(f"Error: {OUT_OF_MEMORY}", err=True)
        sys.exit(1)
    except Exception as exc:  # the last line of defence: one line, never a traceback
        if debug:
            traceback.print_exc()
        echo_line(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
        sys.exit(1)
