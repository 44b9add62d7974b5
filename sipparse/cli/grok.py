"""``sipparse grok match|list|expand``: the grok debugger over the pattern library."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import click

from sipparse.cli.base import App, cli, pass_app


def _definition(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    definitions = {}
    for value in values:
        name, sep, regex = value.partition("=")
        if not sep or not name:
            raise click.BadParameter(f"{value!r} is not NAME=REGEX", ctx=ctx, param=param)
        definitions[name] = regex
    return definitions


def pattern_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--patterns-dir and --define, shared by the grok commands."""
    func = click.option(
        "--define", "definitions", multiple=True, metavar="NAME=REGEX", callback=_definition,
        help="Define a pattern inline; wins over every pattern file (repeatable).",
    )(func)
    return click.option(
        "--patterns-dir", "patterns_dirs", multiple=True, metavar="DIR",
        type=click.Path(exists=True, file_okay=False),
        help="Directory of pattern files read after the bundled library and the config's "
        "[grok] patterns_dir; its definitions win on a clash (repeatable).",
    )(func)


def _library(app: App, patterns_dirs: tuple[str, ...], definitions: dict[str, str]) -> Any:
    from sipparse.grok import PatternLibrary

    configured = app.settings.patterns_dirs()
    return PatternLibrary.load(extra_dirs=[*configured, *patterns_dirs], definitions=definitions)


@cli.group()
def grok() -> None:
    """Try grok expressions on lines, list and expand the pattern library."""


@grok.command("match")
@click.argument("expressions", nargs=-1, required=True, metavar="EXPR...")
@pattern_options
@click.option("--keep-empty", is_flag=True, help="Keep captures that matched nothing (Logstash keep_empty_captures).")
@click.option("--break-on-match/--no-break-on-match", default=True, show_default=True,
              help="With several EXPRs: stop at the first that matches, or merge all that match.")
@click.option("--timeout", type=click.FloatRange(min=0.001), default=None, metavar="SECONDS",
              help="Time limit of one line's match, as Logstash's timeout_millis; a line past it is "
              "null, and named on stderr [default: 5].")
@pass_app
def match(app: App, expressions: tuple[str, ...], patterns_dirs: tuple[str, ...], definitions: dict[str, str],
          keep_empty: bool, break_on_match: bool, timeout: float | None) -> None:
    """Match each line of stdin; print one JSON line per line: the captured fields, or null.

    Example: tail -n 5 /var/log/syslog | sipparse grok match '%{SYSLOGBASE} %{GREEDYDATA:message}'
    """
    from sipparse.grok.stream import match_stream

    library = _library(app, patterns_dirs, definitions)
    matcher = library.compile_many(expressions, break_on_match=break_on_match, keep_empty=keep_empty,
                                   timeout=timeout)

    def warn(line: int, error: Exception) -> None:
        click.echo(f"line {line}: {error}", err=True)

    match_stream(matcher, _standard("stdin", "grok match reads the lines to match from it"),
                 _standard("stdout", "grok match writes its JSON lines to it"), warn)


def _standard(name: str, why: str) -> Any:
    """The binary buffer of sys.stdin or sys.stdout; Python sets one that was closed when it
    started (cron's ``<&-``) to None, which is said as such rather than as an AttributeError."""
    stream = getattr(sys, name)
    if stream is None:
        raise click.ClickException(f"{name} is closed: {why}")
    return stream.buffer


@grok.command("list")
@click.argument("prefix", default="")
@pattern_options
@pass_app
def list_patterns(app: App, prefix: str, patterns_dirs: tuple[str, ...], definitions: dict[str, str]) -> None:
    """List the patterns (names starting with PREFIX): name, where it is defined, its regex."""
    library = _library(app, patterns_dirs, definitions)
    for name in library.names(prefix):
        d = library.definition(name)
        where = f"{d.file}:{d.line}" if d.line else d.file
        click.echo(f"{name}\t{where}\t{d.regex}")


@grok.command("expand")
@click.argument("expression", metavar="EXPR")
@pattern_options
@pass_app
def expand(app: App, expression: str, patterns_dirs: tuple[str, ...], definitions: dict[str, str]) -> None:
    """Print the Python regex an expression compiles to (after expansion and translation)."""
    click.echo(_library(app, patterns_dirs, definitions).expand(expression))
