"""``sipparse purge``: delete what is older than a retention period."""

from __future__ import annotations

import click

from sipparse.cli.base import App, cli, pass_app
from sipparse.store.purge import parse_older_than


def _cutoff(ctx: click.Context, param: click.Parameter, value: str) -> object:
    try:
        return parse_older_than(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command()
@click.option("--older-than", "cutoff", required=True, metavar="AGE|DATE", callback=_cutoff,
              help="Delete what is older than this: 30d, 12h, 90m, 2w, or a date/time "
                   "('2025-01-31', local time unless it has a zone).")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(1, 1_000_000),
              help="Rows deleted per transaction (small keeps other writers unblocked).")
@click.option("--dry-run", is_flag=True, help="Only count what would be deleted.")
@pass_app
def purge(app: App, cutoff: object, batch_size: int, dry_run: bool) -> None:
    """Delete old messages, the calls last seen before the cut-off, and old rejects.

    Example: `sipparse purge --older-than 30d` from a daily cron job.
    """
    with app.open_store(reading=True) as store:  # a mistyped --db leaves no empty database behind
        counts = store.purge(cutoff, batch_size=batch_size, dry_run=dry_run)
    verb = "would delete" if dry_run else "deleted"
    click.echo(f"{verb} {counts['messages']} messages, {counts['calls']} calls, {counts['rejects']} rejects "
               f"older than {cutoff:%Y-%m-%d %H:%M:%S} UTC")
