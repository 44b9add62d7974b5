"""Log dialects: how a log line's prefix looks, and how SIP messages sit in the lines.

A dialect is a grok expression for the line prefix (from ``grok_patterns/asterisk`` for
the built-in ones) plus a layout:

* ``full`` layout (Asterisk's file channels): each log entry starts with a prefixed line;
  the packet logger's entry is a ``<--- Received/Transmitting ... --->`` marker followed
  by the raw packet, unprefixed.
* ``syslog`` layout (rsyslog): every logged line carries the prefix; a SIP message is a
  run of lines of one (host, program, pid) stream, or a whole packet on one line with
  ``#012`` escapes (Asterisk's syslog channel).

Built in: ``full``, ``syslog`` (traditional time stamps), ``rfc5424`` (RFC 3339 time
stamps) and ``syslog-protocol`` (the RFC 5424 message itself: PRI, version, structured
data).  Users add their own in the configuration, with no code change::

    [[dialects]]
    name = "mylog"
    line = "%{TIMESTAMP_ISO8601:ts} %{HOSTNAME:h} asterisk\\[%{INT:p}\\]: "
    fields = { timestamp = "ts", host = "h", pid = "p" }    # default: same names
    layout = "syslog"                                        # or "full"

The ``line`` expression must match the prefix only, up to where the logged text begins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sipparse.errors import ConfigError, LogFileError

BUILTIN = {
    "full": ("%{ASTERISK_FULL_LINE}", "full"),
    "syslog": ("%{ASTERISK_SYSLOG_LINE}", "syslog"),
    "rfc5424": ("%{ASTERISK_RFC5424_LINE}", "syslog"),
    "syslog-protocol": ("%{ASTERISK_SYSLOG_PROTOCOL_LINE}", "syslog"),
}
LAYOUTS = ("full", "syslog")
FIELDS = ("timestamp", "host", "program", "pid")
DETECT_LINES = 200


class UnknownLogFormat(LogFileError):
    """No dialect's prefix matches any of a log's first lines: read as any of them, every line
    would be skipped and its checkpoint moved past them, so the file is not read at all."""

    def __init__(self, path: str, head: bytes) -> None:
        first = next(iter(_sample_lines(head)), b"")[:60].decode("utf-8", "replace")
        super().__init__(
            f"{path} not read: no known log format in its first lines (the first: {first!r}). "
            "Describe its line prefix in a [[dialects]] table of the "
            "config (README, Log dialects), or name a known format with --format")


@dataclass(frozen=True, slots=True)
class Dialect:
    """A compiled dialect: ``prefix`` matches a line's prefix at a line start (bytes)."""

    name: str
    layout: str
    prefix: re.Pattern[bytes]
    groups: dict[str, int]  # field -> group number in ``prefix``


@dataclass(frozen=True, slots=True)
class AsteriskRules:
    """Asterisk's own line parts, met inside every dialect (bytes patterns)."""

    origin: re.Pattern[bytes]  # [time] LEVEL[lwp][chan] module: (or LEVEL[lwp]: module:line in f:)
    marker: re.Pattern[bytes]  # <--- Received SIP request (N bytes) from UDP:ip:port --->
    marker_groups: dict[str, int]


def compile_bytes(
    library: Any, expression: str, flags: int = re.M
) -> tuple[re.Pattern[bytes], dict[str, int]]:
    """Compile a grok expression to a bytes pattern with group numbers by field name."""
    grok = library.compile(expression)
    pattern = grok.regex.pattern.encode("utf-8")
    regex = re.compile(pattern, flags)
    groups = {}
    for group, spec in grok.group_fields.items():
        field = spec[0] if isinstance(spec, tuple) else spec
        groups.setdefault(str(field).strip("[]").split("][")[-1], regex.groupindex[group])
    return regex, groups


def build_dialects(library: Any, user_dialects: Sequence[Mapping[str, Any]] = ()) -> dict[str, Dialect]:
    """The built-in dialects plus the user's, by name (a user dialect may replace one)."""
    dialects = {name: _compile(library, name, expr, layout, {}) for name, (expr, layout) in BUILTIN.items()}
    for spec in user_dialects:
        dialect = _user_dialect(library, spec)
        dialects[dialect.name] = dialect
    return dialects


def asterisk_rules(library: Any) -> AsteriskRules:
    """Compile the ASTERISK_ORIGIN / ASTERISK_PJSIP_MARKER patterns."""
    origin, _ = compile_bytes(library, r"(?:\[%{ASTERISK_TIMESTAMP}\] )?%{ASTERISK_ORIGIN}", 0)
    marker, groups = compile_bytes(library, "%{ASTERISK_PJSIP_MARKER}", 0)
    return AsteriskRules(origin, marker, groups)


def _user_dialect(library: Any, spec: Mapping[str, Any]) -> Dialect:
    name = spec.get("name")
    line = spec.get("line") or spec.get("expression") or spec.get("pattern")
    if not name or not line:
        raise ConfigError(f"a [[dialects]] entry needs a name and a line expression: {dict(spec)!r}")
    layout = spec.get("layout", spec.get("kind", "syslog"))
    if layout not in LAYOUTS:
        raise ConfigError(f"dialect {name!r}: layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    return _compile(library, str(name), str(line), layout, dict(spec.get("fields") or {}))


def _compile(library: Any, name: str, expression: str, layout: str, mapping: dict[str, str]) -> Dialect:
    regex, groups = compile_bytes(library, f"^(?:{expression})")
    fields = {}
    for field in FIELDS:
        source = mapping.get(field, field)
        if source in groups:
            fields[field] = groups[source]
    if "timestamp" not in fields:
        raise ConfigError(f"dialect {name!r}: its line expression captures no timestamp field")
    return Dialect(name, layout, regex, fields)


def detect_dialect(
    head: bytes, dialects: Mapping[str, Dialect] | None = None, library: Any = None
) -> str | None:
    """The dialect whose prefix matches most of the first lines of ``head``, or None.

    Works on any stretch of a log (the start of a file, or bytes from the middle when
    resuming); ties go to the dialect listed first (built-in ones before user ones).
    """
    if dialects is None:
        from sipparse.grok import PatternLibrary

        dialects = build_dialects(library or PatternLibrary.load())
    lines = _sample_lines(head)
    best, best_score = None, 0
    for name, dialect in dialects.items():
        score = sum(1 for line in lines if dialect.prefix.match(line))
        if score > best_score:
            best, best_score = name, score
    return best


def holds_log_lines(head: bytes) -> bool:
    """Whether ``head`` has a whole line of text to judge a format by: not just blanks, NULs
    (the hole a copytruncate can leave) or a first line still being written."""
    return bool(_sample_lines(head[:head.rfind(b"\n") + 1]))


def _sample_lines(head: bytes) -> Iterable[bytes]:
    """The first lines with text, each without the NULs before it: a hole a writer left
    (see ``reader.end_holes``) ends in the line written after it."""
    lines = head.split(b"\n", DETECT_LINES + 1)[:DETECT_LINES]
    return [line.lstrip(b"\0") for line in lines if line.strip(b" \t\r\n\0")]
