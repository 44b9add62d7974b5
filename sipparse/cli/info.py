"""``sipparse info``: what the settings resolved to, for checking a deployment."""

from __future__ import annotations

import click

from sipparse.cli.base import App, cli, pass_app


@cli.command()
@pass_app
def info(app: App) -> None:
    """Show the database, config file and pattern directories in use."""
    settings = app.settings
    click.echo(f"database: {settings.db_url.redacted()}")
    click.echo(f"config file: {settings.config_path or '(none)'}")
