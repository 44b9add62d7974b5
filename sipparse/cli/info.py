"""``sipparse info``: what the settings resolved to, for checking a deployment."""

from __future__ import annotations

import click

from sipparse.cli.base import App, cli, pass_app


@cli.command()
@pass_app
def info(app: App) -> None:
    """Show the database, config file, pattern directories and parser in use."""
    from sipparse.grok import bundled_patterns_dir
    from sipparse.sip import accel

    settings = app.settings
    click.echo(f"database: {settings.db_url.redacted()}")
    click.echo(f"config file: {settings.config_path or '(none)'}")
    click.echo(f"bundled patterns: {bundled_patterns_dir()}")
    for directory in settings.get("grok", "patterns_dir", []) or []:
        click.echo(f"user patterns: {directory}")
    click.echo(f"C reader: {_reader_state(accel.scan_message is not None)}")


def _reader_state(loaded: bool) -> str:
    """Why the C reader is in use or not (see README, Installing)."""
    import os

    if loaded:
        return "in use"
    if os.environ.get("SIPPARSE_PURE_PYTHON", "").strip() not in ("", "0"):
        return "off (SIPPARSE_PURE_PYTHON is set)"
    return "not built (no C compiler at install time): the Python parser gives the same records, more slowly"
