"""``sipparse info``: what the settings resolved to, for checking a deployment."""

from __future__ import annotations

import click

from sipparse.cli.base import App, cli, pass_app


@cli.command()
@pass_app
def info(app: App) -> None:
    """Show the database, config file and pattern directories in use."""
    from sipparse.grok import bundled_patterns_dir

    settings = app.settings
    click.echo(f"database: {settings.db_url.redacted()}")
    click.echo(f"config file: {settings.config_path or '(none)'}")
    click.echo(f"bundled patterns: {bundled_patterns_dir()}")
    for directory in settings.get("grok", "patterns_dir", []) or []:
        click.echo(f"user patterns: {directory}")
