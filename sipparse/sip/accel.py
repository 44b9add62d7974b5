"""The optional C scanner (``_scan.c``), or ``None`` where it is not built or not wanted.

The scanner reads the usual message (start line, ``Name: value`` lines in CRLF, an empty
line, a body of Content-Length bytes) in one pass and declines everything else, which the
Python parser then reads; both give the same record.  ``SIPPARSE_PURE_PYTHON=1`` turns it
off, to compare the two or to rule it out when a result looks wrong.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from typing import Any

ScanMessage = Callable[[bytes], "tuple[Any, ...] | None"]


def pure_python() -> bool:
    """Whether ``SIPPARSE_PURE_PYTHON`` turns every C extension of sipparse off."""
    return os.environ.get("SIPPARSE_PURE_PYTHON", "").strip() not in ("", "0")


def c_module(name: str) -> Any:
    """The optional C extension ``name`` of sipparse (``sipparse.sip._scan``...), or None
    where it is not built or ``SIPPARSE_PURE_PYTHON`` turns it off."""
    if pure_python():
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


# The module, for the log layouts' readers (full_entry_starts, read_full_entries, syslog_messages).
reader: Any = c_module("sipparse.sip._scan")
scan_message: ScanMessage | None = reader.scan_message if reader is not None else None
