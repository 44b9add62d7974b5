"""The ``sipparse`` command line: the group in ``base``, one module per command family.

Each module adds its commands to ``cli`` when imported; ``base.COMMAND_MODULES`` says which
module holds which command, and the group imports it when the command is used.
"""

from sipparse.cli.base import App, cli, pass_app, run

main = run

__all__ = ["App", "cli", "main", "pass_app", "run"]
