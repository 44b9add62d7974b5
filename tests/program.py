"""Where the installed ``sipparse`` command of the tested install is."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def installed_sipparse() -> str | None:
    """The command beside the interpreter running the tests (its venv's ``bin``, found also
    when the venv is not activated, as with ``.venv/bin/pytest``), else the one on PATH."""
    beside = Path(sys.executable).with_name("sipparse")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("sipparse")
