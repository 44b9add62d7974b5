"""Reading Asterisk PJSIP logs: dialects, escapes, time stamps, reassembly into SIP messages.

The public API (see ``reader`` for the details)::

    from sipparse.logs import ParseOptions, LogParser, detect_dialect
    parser = LogParser(source, start_offset, ParseOptions(dialect="auto"))
    for batch in parser.parse(fh):
        ...  # batch.messages, batch.rejects, batch.skipped_lines, batch.checkpoint, batch.end
"""

from __future__ import annotations

from typing import Any

from sipparse.logs.packets import MAX_MESSAGE
from sipparse.logs.reader import Batch, LogParser, ParseOptions


def detect_dialect(head: bytes, patterns: Any = None, user_dialects: Any = ()) -> str | None:
    """The dialect of a log, from some of its bytes (e.g. the first 64 KiB), or None.

    :param patterns: a ``PatternLibrary`` (default: the bundled one)
    :param user_dialects: ``[[dialects]]`` tables to consider as well
    """
    from sipparse.logs import dialects
    from sipparse.logs.reader import _Compiled

    if patterns is None:
        from sipparse.grok import PatternLibrary

        patterns = PatternLibrary.load()
    return dialects.detect_dialect(head, _Compiled.get(patterns, list(user_dialects)).dialects)


__all__ = ["MAX_MESSAGE", "Batch", "LogParser", "ParseOptions", "detect_dialect"]
