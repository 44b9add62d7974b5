"""``sipparse info``: what the settings resolved to, for checking a deployment."""

from __future__ import annotations

import click

from sipparse.cli.base import App, cli, pass_app
from sipparse.config import config_base


@cli.command()
@pass_app
def info(app: App) -> None:
    """Show the database, config file, pattern directories and parser in use.

    The config file's [ingest], [grok] and [[dialects]] are checked first, as ingest would.
    """
    from sipparse.cli.ingest import build_options
    from sipparse.grok import bundled_patterns_dir
    from sipparse.ingest import check_options
    from sipparse.sip import accel, parser
    from sipparse.store import calls, mysql, rows, sqlite

    settings = app.settings
    check_options(build_options(app, None, None, None, None, ()))
    click.echo(f"database: {settings.db_url.redacted()}")
    click.echo(f"config file: {settings.config_path or '(none)'}")
    if settings.config_path:
        click.echo(f"relative paths of the config file: from {config_base(settings.config_path)}")
    click.echo(f"bundled patterns: {bundled_patterns_dir()}")
    for directory in settings.patterns_dirs():
        click.echo(f"user patterns: {directory}")
    click.echo(f"C reader: {_c_state(accel.scan_message is not None, 'the Python parser')}")
    click.echo(f"C reader of addresses and start lines: {_c_state(parser.ADDRESSES_IN_C, 'the regular expressions')}")
    click.echo(f"C writer of MySQL loads: {_c_state(mysql.LOAD_ROWS_IN_C, 'Python')}")
    click.echo(f"C binding of SQLite inserts: {_c_state(sqlite.BIND_IN_C, 'the sqlite3 module')}")
    click.echo(f"C checks of row limits: {_c_state(rows.CHECKS_IN_C, 'Python')}")
    click.echo(f"C call summaries: {_c_state(calls.SUMMARIES_IN_C, 'Python')}")


def _c_state(loaded: bool, fallback: str) -> str:
    """Why a C extension is in use or not (see README, Installing)."""
    from sipparse.sip import accel

    if loaded:
        return "in use"
    if accel.pure_python():
        return "off (SIPPARSE_PURE_PYTHON is set)"
    return f"not built (no C compiler at install time): the same results from {fallback}, more slowly"
