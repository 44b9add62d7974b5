"""The ``sipparse`` command line: the group in ``base``, one module per command family."""

from sipparse.cli.base import App, cli, pass_app, run

# Each module below adds its commands to ``cli`` when imported.
from sipparse.cli import info  # noqa: E402,F401
from sipparse.cli import rotate  # noqa: E402,F401
from sipparse.cli import cron  # noqa: E402,F401
from sipparse.cli import ingest  # noqa: E402,F401
from sipparse.cli import query  # noqa: E402,F401
from sipparse.cli import purge  # noqa: E402,F401
from sipparse.cli import grok  # noqa: E402,F401

main = run

__all__ = ["App", "cli", "main", "pass_app", "run"]
