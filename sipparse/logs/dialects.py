"""Log dialects: how a log line's prefix looks, and how SIP messages sit in the lines.

A dialect is a grok expression for the line prefix (from ``grok_patterns/asterisk`` for
the built-in ones) plus a layout:

* ``full`` layout (Asterisk's file channels): each log entry starts with a prefixed line;
  the packet logger's entry is a ``<--- Received/Transmitting ... --->`` marker followed
  by the raw packet, unprefixed.
* ``json`` layout (a file channel with logger.conf's ``[json]`` formatter): one JSON object
  per entry and line, the packet logger's marker and packet in its ``message``.
* ``syslog`` layout (rsyslog): every logged line carries the prefix; a SIP message is a
  run of lines of one (host, program, pid) stream, or a whole packet on one line with
  ``#012`` escapes (Asterisk's syslog channel).

Built in: ``full``, ``syslog`` (traditional time stamps), ``rfc5424`` (RFC 3339 time
stamps), ``syslog-protocol`` (the RFC 5424 message itself: PRI, version, structured
data), ``json``, ``console`` (the Asterisk CLI's output copied into a file: the
``full`` layout with markers that begin a line, bare or behind ``[time] ``) and ``docker``
(that output as ``docker logs --timestamps`` shows it: every line behind Docker's time).  Users add
their own in the configuration, with no code change::

    [[dialects]]
    name = "mylog"
    line = "%{TIMESTAMP_ISO8601:ts} %{HOSTNAME:h} asterisk\\[%{INT:p}\\]: "
    fields = { timestamp = "ts", host = "h", pid = "p" }    # default: same names
    layout = "syslog"                                        # or "full"

The ``line`` expression must match the prefix only, up to where the logged text begins;
one that ends in the message capture (Logstash's ``... %{GREEDYDATA:message}``) is read
as the prefix before it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sipparse.errors import ConfigError, LogFileError

log = logging.getLogger(__name__)

BUILTIN = {
    "full": ("%{ASTERISK_FULL_LINE}", "full"),
    "syslog": ("%{ASTERISK_SYSLOG_LINE}", "syslog"),
    "rfc5424": ("%{ASTERISK_RFC5424_LINE}", "syslog"),
    "syslog-protocol": ("%{ASTERISK_SYSLOG_PROTOCOL_LINE}", "syslog"),
    "json": ("%{ASTERISK_JSON_LINE}", "json"),
    "console": ("%{ASTERISK_CONSOLE_LINE}", "full"),
    "docker": ("%{ASTERISK_DOCKER_LINE}", "syslog"),
}
LAYOUTS = ("full", "syslog")
TABLE_KEYS = ("name", "line", "expression", "pattern", "fields", "layout", "kind")  # of a [[dialects]] table
MARKER_FIELDS = ("verb", "bytes", "transport", "peer")  # what ``full.marker_of`` reads
FIELDS = ("timestamp", "host", "program", "pid")
STREAM_FIELDS = ("host", "program", "pid")  # what tells the streams of a syslog-layout log apart
# An empty capture after a syslog-layout prefix that captures none of STREAM_FIELDS: the one
# stream all its lines are (``Dialect.groups["stream"]``). Not the time stamp, which rsyslog's
# RFC 3339 ones change from line to line of one message: each line was a stream of its own.
ONE_STREAM = "sipparse_one_stream"
DETECT_LINES = 200


class UnknownLogFormat(LogFileError):
    """No dialect's prefix matches any of a log's first lines: read as any of them, every line
    would be skipped and its checkpoint moved past them, so the file is not read at all."""

    def __init__(self, path: str, head: bytes, forced: str | None = None) -> None:
        first = next(iter(_sample_lines(head)), b"")[:60].decode("utf-8", "replace")
        if forced is not None:
            super().__init__(
                f"{path} not read: none of its first lines has the prefix of the {forced!r} format it was "
                f"given (the first: {first!r}). Check --format (or [ingest] format), and the patterns "
                "that define that prefix if you redefined them")
            return
        super().__init__(
            f"{path} not read: no known log format in its first lines (the first: {first!r}). "
            "Describe its line prefix in a [[dialects]] table of the "
            "config (README, Log dialects), or name a known format with --format" + _readme_table_for(head))


# Shapes no built-in dialect reads that the README gives a [[dialects]] table for, by their
# first line: a log of one is told that table, so that its user knows what to write.
_README_TABLES = (
    (re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2}) "
                rb"[^ \n]+ [^ \[:\n]+ "),
     "RFC 3339 syslog lines whose tag has no PROCID", "rfc3339-no-procid"),
)


# Shapes no dialect reads that a small change to the file or the command that wrote it makes
# readable, by their first line with text, and what to do.
_HINTS = (
    (re.compile(rb"[A-Za-z0-9][A-Za-z0-9_.\-]* +\| "),
     "; it looks like the output of docker compose logs: give that --timestamps (the docker format "
     "reads it), or take the container's own docker logs"),
    (re.compile(rb"[ \t]+(?:\[|<--- |[A-Z][a-z]{2} +[0-9]{1,2} |[0-9]{4}-[0-9]{2}-[0-9]{2})"),
     "; its lines are indented (a copy from a web page or a mail?): remove the indentation"),
)


def _readme_table_for(head: bytes) -> str:
    """``; it looks like SHAPE: the README's TABLE table reads it`` when the first line of
    ``head`` has a shape of ``_README_TABLES``, or what to do for a shape of ``_HINTS``; else
    nothing."""
    first = next(iter(_sample_lines(head)), b"")
    for pattern, shape, table in _README_TABLES:
        if pattern.match(first):
            return f"; it looks like {shape}: the README's {table} table reads it"
    for pattern, hint in _HINTS:
        if pattern.match(first):
            return hint
    if any(_CHAN_SIP_DUMP.match(line) for line in _sample_lines(head)):
        return ("; it holds chan_sip's packet dumps (sip set debug on), which sipparse does not read: "
                "it reads res_pjsip's packet logger (pjsip set logger on)")
    return ""


# chan_sip's packet dump as the CLI shows it (the full layout's entries: full.CHAN_SIP_DUMP).
_CHAN_SIP_DUMP = re.compile(rb"<--- (?:SIP read from |(?:Reliably )?Transmitting \()")


@dataclass(frozen=True, slots=True)
class Dialect:
    """A compiled dialect: ``prefix`` matches a line's prefix at a line start (bytes)."""

    name: str
    layout: str
    prefix: Any  # re.Pattern[bytes], or a GuardedPattern for a user's pattern that needs one
    groups: dict[str, int]  # field -> group number in ``prefix``


@dataclass(frozen=True, slots=True)
class AsteriskRules:
    """Asterisk's own line parts, met inside every dialect (bytes patterns: ``re.Pattern``, or a
    ``GuardedPattern`` for a user's pattern that needs one)."""

    origin: Any  # [time] LEVEL[lwp][chan] module: (or LEVEL[lwp]: module:line in f:)
    marker: Any  # <--- Received SIP request (N bytes) from UDP:ip:port --->
    marker_groups: dict[str, int]


def compile_bytes(
    library: Any, expression: str, flags: int = re.M, builtin: bool = False
) -> tuple[Any, dict[str, int]]:
    """Compile a grok expression to a bytes pattern with group numbers by field name.

    Stdlib ``re`` when it can take the expression and the expression is a ``builtin`` one
    over the bundled pattern files; otherwise (a user's pattern with ``regex``-only syntax such as
    ``\\p{L}`` or ``[[:lower:]]``, or one that could backtrack badly) a
    :class:`GuardedPattern`, so that it neither compiles to something else nor hangs a run.
    """
    grok = library.compile(expression)
    pattern = grok.regex.pattern.encode("utf-8")
    trusted = builtin and from_bundled_files(library, expression)
    regex: Any = None
    if not grok.needs_regex_module and not (grok.uses_regex_module and not trusted):
        try:
            regex = re.compile(pattern, flags)
        except re.error:  # a str pattern's escape bytes have not (a POSIX class's \U ranges)
            pass
    if regex is None:
        regex = GuardedPattern(pattern, flags, grok.timeout, expression)
    groups: dict[str, int] = {}
    for group, spec in grok.group_fields.items():
        field = str(spec[0] if isinstance(spec, tuple) else spec)
        # by the field reference as written ("[process][pid]"), and by its last part ("pid")
        groups.setdefault(field, regex.groupindex[group])
        groups.setdefault(field.strip("[]").split("][")[-1], regex.groupindex[group])
    return regex, groups


def from_bundled_files(library: Any, expression: str) -> bool:
    """Whether every pattern an expression uses is defined by the bundled pattern files."""
    from sipparse.grok import bundled_patterns_dir

    bundled = str(bundled_patterns_dir())
    return all(library.definition(name).file.startswith(bundled) for name in library.used_by(expression))


class GuardedPattern:
    """A bytes pattern on the ``regex`` module whose every match runs under a time limit.

    Logstash bounds each grok match (``timeout_millis``); a user's prefix that backtracks
    badly on a long line would otherwise stall an ingest for hours. A line whose match
    runs out of time is taken as a line without the prefix, and said so on stderr.
    Offers what the readers use of ``re.Pattern``: ``match``, ``search``, ``finditer``,
    ``pattern``, ``groupindex``.
    """

    def __init__(self, pattern: bytes, flags: int, timeout: float | None, expression: str) -> None:
        import regex

        self._regex = regex.compile(pattern, (regex.M if flags & re.M else 0) | regex.V0)
        self.pattern = pattern
        self.groupindex = self._regex.groupindex
        self.groups = self._regex.groups
        self.timeout = timeout
        self.expression = expression

    def match(self, string: bytes, pos: int = 0, endpos: int | None = None) -> Any:
        end = len(string) if endpos is None else endpos
        try:
            return self._regex.match(string, pos, end, timeout=self.timeout)
        except TimeoutError:
            return self._timed_out(string, pos, end)

    def search(self, string: bytes, pos: int = 0, endpos: int | None = None) -> Any:
        """A match anywhere, timed as ``match``: a marker inside rsyslog's "message repeated"
        summary is looked for so."""
        end = len(string) if endpos is None else endpos
        try:
            return self._regex.search(string, pos, end, timeout=self.timeout)
        except TimeoutError:
            return self._timed_out(string, pos, end)

    def _timed_out(self, string: bytes, pos: int, end: int) -> None:
        newline = string.find(b"\n", pos, end)
        line = string[pos:newline if newline >= 0 else end]
        log.warning("grok match timed out after %gs: %s, on a line of %d bytes starting %r; "
                    "read as a line without that prefix", self.timeout, self.expression, len(line), line[:40])

    def finditer(self, string: bytes, pos: int = 0, endpos: int | None = None) -> Iterator[Any]:
        """The matches at line starts (prefixes are anchored with ``^``), each one timed."""
        end = len(string) if endpos is None else endpos
        start = _line_start_from(string, pos)
        while 0 <= start <= end:
            m = self.match(string, start, end)
            if m is not None:
                yield m
            start = _line_start_from(string, m.end() if m is not None and m.end() > start else start + 1)


def unanchored(prefix: Any) -> Any:
    """A dialect's ``prefix`` (anchored at a line start by its ``^``) matching at any offset, on
    the same engine: a ``GuardedPattern`` holds syntax stdlib ``re`` refuses or reads otherwise."""
    pattern = prefix.pattern.removeprefix(b"^")
    if isinstance(prefix, GuardedPattern):
        return GuardedPattern(pattern, re.M, prefix.timeout, prefix.expression)
    return re.compile(pattern, prefix.flags)


def _line_start_from(string: bytes, pos: int) -> int:
    """The first line start at or after ``pos``, or -1."""
    if pos == 0 or string[pos - 1:pos] == b"\n":
        return pos
    newline = string.find(b"\n", pos)
    return newline + 1 if newline >= 0 else -1


def build_dialects(library: Any, user_dialects: Sequence[Mapping[str, Any]] = ()) -> dict[str, Dialect]:
    """The built-in dialects plus the user's, by name (a user dialect may replace one)."""
    dialects = {name: _compile(library, name, expr, layout, {}) for name, (expr, layout) in BUILTIN.items()}
    for spec in user_dialects:
        dialect = _user_dialect(library, spec)
        dialects[dialect.name] = dialect
    return dialects


def asterisk_rules(library: Any) -> AsteriskRules:
    """Compile the ASTERISK_ORIGIN / ASTERISK_PJSIP_MARKER patterns."""
    origin, _ = compile_bytes(
        library, r"(?:\[(?:%{ASTERISK_TIMESTAMP}|%{ASTERISK_OTHER_DATEFORMAT})\] )?%{ASTERISK_ORIGIN}", 0, builtin=True)
    marker, groups = compile_bytes(library, "%{ASTERISK_PJSIP_MARKER}", 0, builtin=True)
    missing = [name for name in MARKER_FIELDS if name not in groups]
    if missing:  # else the first marker read fails as an unexpected KeyError
        from sipparse.grok import GrokError

        raise GrokError(f"pattern {library.located('ASTERISK_PJSIP_MARKER')} must capture {', '.join(missing)} "
                        f"(it captures: {', '.join(groups) or 'nothing'})")
    return AsteriskRules(origin, marker, groups)


def _user_dialect(library: Any, spec: Mapping[str, Any]) -> Dialect:
    name = spec.get("name")
    line = spec.get("line") or spec.get("expression") or spec.get("pattern")
    if not name or not line:
        raise ConfigError(f"a [[dialects]] entry needs a name and a line expression: {dict(spec)!r}")
    layout = spec.get("layout", spec.get("kind", "syslog"))
    if layout not in LAYOUTS:
        raise ConfigError(f"dialect {name!r}: layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    return _compile(library, str(name), str(line), layout, _mapping(str(name), spec))


def _mapping(name: str, spec: Mapping[str, Any]) -> dict[str, str]:
    """A table's ``fields``, checked as the config's other sections are: a key misspelt (in the
    table or in ``fields``) or of the wrong type would leave a field unread, and every message
    without its host, with no word of why."""
    unknown = sorted(set(spec) - set(TABLE_KEYS))
    if unknown:
        raise ConfigError(f"dialect {name!r}: unknown key {unknown[0]!r} (known: name, line, fields, layout)")
    fields = spec.get("fields") or {}
    if not isinstance(fields, Mapping) or not all(isinstance(value, str) for value in fields.values()):
        raise ConfigError(f"dialect {name!r}: fields must be a table of field = capture names, not {fields!r}")
    known = (*FIELDS, "message")
    for field in fields:
        if field not in known:
            raise ConfigError(f"dialect {name!r}: fields names no field {field!r} (known: {', '.join(known)})")
    return dict(fields)


def _compile(library: Any, name: str, expression: str, layout: str, mapping: dict[str, str]) -> Dialect:
    """A dialect from its line expression; an error says which dialect and which expression
    (a position in it, not in the anchored form compiled here)."""
    from sipparse.grok import GrokError

    builtin = BUILTIN.get(name, ("", ""))[0] == expression
    try:
        library.compile(expression)
        prefix = _message_as_lookahead(expression, mapping.get("message", "message"))
        regex, groups = compile_bytes(library, f"^(?:{prefix})", builtin=builtin)
        fields = _fields(groups, mapping)
        if layout == "syslog" and not any(field in fields for field in STREAM_FIELDS):
            regex, groups = compile_bytes(library, f"^(?:{prefix})(?<{ONE_STREAM}>)", builtin=builtin)
            fields = _fields(groups, mapping) | {"stream": groups[ONE_STREAM]}
    except GrokError as exc:
        raise GrokError(f"dialect {name!r}: {exc}") from None
    captured = ", ".join(group for group in groups if group != ONE_STREAM) or "none"
    if "timestamp" not in fields:
        raise ConfigError(f"dialect {name!r}: its line expression {expression!r} captures no "
                          f"{mapping.get('timestamp', 'timestamp')} field (it captures: {captured})")
    for field, source in mapping.items():
        if source not in groups:
            raise ConfigError(f"dialect {name!r}: fields.{field} is {source!r}, which its line expression "
                              f"{expression!r} does not capture (it captures: {captured})")
    return Dialect(name, layout, regex, fields)


def _fields(groups: dict[str, int], mapping: dict[str, str]) -> dict[str, int]:
    """The group number of each of ``FIELDS`` the expression captures, by the user's names."""
    return {field: groups[mapping.get(field, field)] for field in FIELDS if mapping.get(field, field) in groups}


def _message_as_lookahead(expression: str, field: str) -> str:
    """A Logstash line expression ending in ``%{GREEDYDATA:message}`` (the logged text) as a
    prefix expression: that last reference becomes a lookahead, so the prefix ends where
    the message begins instead of taking in the whole line (which left nothing to read)."""
    pattern = r"%\{[A-z0-9]+:(?:" + re.escape(field) + "|" + re.escape(f"[{field}]") + r")(?::[A-z0-9_]*)?\}(\$?)\Z"
    m = re.search(pattern, expression)
    if m is None:
        return expression
    return f"{expression[:m.start()]}(?={expression[m.start():]})"


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
        if name == CONSOLE:  # whose few lines are told by their markers, below
            continue
        score = sum(1 for line in lines if dialect.prefix.match(line))
        if score > best_score:
            best, best_score = name, score
    console = dialects.get(CONSOLE)
    every = _all_lines(head)  # a capture may show much else before its first packet
    if console is None or not any(console.prefix.match(line) for line in every):
        return best
    return CONSOLE if best is None or not _markers_behind_origin(every, dialects[best]) else best


CONSOLE = "console"
_MARKER = re.compile(rb"<--- (?:Received|Transmitting) SIP ")


def _markers_behind_origin(lines: Iterable[bytes], dialect: Dialect) -> int:
    """How many of ``lines`` carry a packet logger marker that ``dialect`` reads: behind its
    prefix and something more (Asterisk's origin, ``VERBOSE[2931] res_pjsip_logger.c: ``).

    A console capture has a few lines that other dialects' prefixes match too (``[time]
    ERROR[2931]: ...`` lines, which the CLI shows with their time stamp; every line of
    ``asterisk -rvvvT``), and its markers begin a line (or follow ``[time] `` alone), never
    behind an origin: it is a console capture when it has such markers and none behind an
    origin, in all of ``lines`` (the whole head read for detection: a capture may show
    200 lines of other output before its first packet). A text body quoting bare markers
    (a MESSAGE, which anyone may send) turns no ``full`` log into one: its own packet's
    marker is read behind an origin."""
    count = 0
    for line in lines:
        match = dialect.prefix.match(line)
        if match is None:
            continue
        marker = _MARKER.search(line, match.end())
        if marker is not None and marker.start() > match.end():
            count += 1
    return count


def fits_dialect(head: bytes, dialect: Dialect) -> bool:
    """Whether any of the first lines of ``head`` has the dialect's prefix (any of its lines,
    for a console capture's, which only its markers have)."""
    lines = _all_lines(head) if dialect.name == CONSOLE else _sample_lines(head)
    return any(dialect.prefix.match(line) for line in lines)


def holds_log_lines(head: bytes) -> bool:
    """Whether ``head`` has a whole line of text to judge a format by: not just blanks, NULs
    (the hole a copytruncate can leave) or a first line still being written."""
    return bool(_sample_lines(head[:head.rfind(b"\n") + 1]))


def _all_lines(head: bytes) -> list[bytes]:
    """Every line of ``head`` with text, as ``_sample_lines`` gives the first ones."""
    lines = head.split(b"\n")
    return [line.lstrip(b"\0") for line in lines if line.strip(b" \t\r\n\0")]


def _sample_lines(head: bytes) -> Iterable[bytes]:
    """The first lines with text, each without the NULs before it: a hole a writer left
    (see ``reader.end_holes``) ends in the line written after it."""
    lines = head.split(b"\n", DETECT_LINES + 1)[:DETECT_LINES]
    return [line.lstrip(b"\0") for line in lines if line.strip(b" \t\r\n\0")]
