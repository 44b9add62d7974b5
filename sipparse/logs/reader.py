"""Reading a log file into batches of SIP messages, resumable at any checkpoint.

::

    from sipparse.logs import ParseOptions, LogParser, detect_dialect
    opts = ParseOptions(dialect="auto", year=None, tz=None, now=None, patterns=None,
                        user_dialects=[], final=False)
    parser = LogParser(source, start_offset, opts)   # source: sipparse.sip.Source
    for batch in parser.parse(fh, batch_bytes=4 << 20):   # fh positioned at start_offset
        batch.messages, batch.rejects, batch.skipped_lines, batch.checkpoint, batch.end
    parser.dialect                                    # the dialect detected (or given)

``batch.checkpoint`` is where a later run must resume so that nothing is lost: every
message starting before it has been emitted, in this batch or an earlier one.  A message
still incomplete at the end of the data is not emitted (unless ``final``); the checkpoint
stays at its first line.  Resuming may emit again messages already emitted (another
stream's open message can hold the checkpoint back); each comes out with the same offset
and fields whatever the resume point, and storage deduplicates on (fingerprint, offset).

Memory is bounded by ``batch_bytes`` plus 1 MiB: a log entry or line larger than 1 MiB
(``MAX_MESSAGE``) is rejected with its first 1 MiB and skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import cache
from typing import Any, BinaryIO

from sipparse.errors import ConfigError
from sipparse.logs.dialects import Dialect, asterisk_rules, build_dialects, detect_dialect
from sipparse.logs.full import FullLayout
from sipparse.logs.jsonl import JsonLayout
from sipparse.logs.lines import SyslogLayout
from sipparse.logs.packets import MAX_MESSAGE, Output, PacketBuilder
from sipparse.logs.timestamps import TimestampParser
from sipparse.sip.grammar import Grammar
from sipparse.sip.message import Reject, SipMessage, Source
from sipparse.sip.parser import MessageParser

DETECT_BYTES = 64 << 10
# Dialects whose bundled prefix has a time stamp of fixed shape (see SyslogLayout's bulk reading).
_BULK_DIALECTS = ("syslog",)
_NULS = re.compile(rb"\x00+")
_BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark, which editors and some tools put at a text file's head


@dataclass
class ParseOptions:
    """How to read a log.

    :param dialect: ``"auto"``, ``"syslog"``, ``"rfc5424"``, ``"full"`` or a user dialect name
    :param year: year of yearless time stamps (default: inferred, never in the future)
    :param tz: zone of zoneless time stamps (default: the local zone)
    :param now: reference time for the year inference (default: now; ingest gives the file's mtime)
    :param patterns: a ``sipparse.grok.PatternLibrary`` (default: the bundled one)
    :param user_dialects: ``[[dialects]]`` tables: name, line, fields, layout
    :param final: the data will not grow: close an unfinished last message as it is
    """

    dialect: str = "auto"
    year: int | None = None
    tz: tzinfo | None = None
    now: datetime | None = None
    patterns: Any = None
    user_dialects: Sequence[Mapping[str, Any]] = field(default_factory=list)
    final: bool = False


@dataclass
class Batch:
    """What one slice of the log gave."""

    messages: list[SipMessage]
    rejects: list[Reject]
    skipped_lines: int
    checkpoint: int
    end: int


class _Compiled:
    """Everything compiled from one pattern library, shared by the parsers using it."""

    _cache: dict[tuple[int, str], tuple[Any, _Compiled]] = {}  # by library: (library, its dialects)

    def __init__(self, library: Any, user_dialects: Sequence[Mapping[str, Any]]) -> None:
        self.dialects: dict[str, Dialect] = build_dialects(library, user_dialects)
        self.rules = asterisk_rules(library)
        self.grammar = Grammar.from_library(library)
        prefixes, rules = _bundled()
        bundled = {name for name, d in self.dialects.items() if d.prefix.pattern == prefixes.get(name)}
        self.bulk = bundled & set(_BULK_DIALECTS)
        # the C readers implement the bundled prefixes, origin and marker
        fast = bundled if (self.rules.origin.pattern, self.rules.marker.pattern) == rules else set()
        self.fast_full = "full" in fast
        self.fast_syslog = fast & {"syslog", "rfc5424"}
        # rsyslog's formats, which a log may change between midway (not Docker's)
        self.bundled_syslog = [d for name, d in self.dialects.items()
                               if name in bundled and d.layout == "syslog" and name != "docker"]

    def others(self, dialect: Dialect) -> list[Dialect]:
        """The dialects whose prefix a line of a ``dialect`` log may have instead: a bundled
        syslog format's lines may change to another's mid-file (rsyslog's template)."""
        siblings = self.bundled_syslog
        return [d for d in siblings if d is not dialect] if dialect in siblings else []

    @classmethod
    def get(cls, library: Any, user_dialects: Sequence[Mapping[str, Any]]) -> _Compiled:
        """The dialects of ``library`` and ``user_dialects``, compiled once. The entry holds the
        library too: keyed by ``id`` alone, a library collected since could leave its id, and
        its dialects, to a new one (a patterns dir's overrides then went unread)."""
        key = (id(library), repr(list(user_dialects)))
        if key not in cls._cache:
            cls._cache[key] = (library, cls(library, user_dialects))
        return cls._cache[key][1]


class LogParser:
    """Parses one log file from ``start_offset`` on, in batches.

    :param source: the file (path and fingerprint), copied into every record
    :param start_offset: the offset ``fh`` is positioned at (a checkpoint, or 0)
    :param options: a ``ParseOptions``
    """

    def __init__(self, source: Source, start_offset: int = 0, options: ParseOptions | None = None) -> None:
        self.source = source
        self.start_offset = start_offset
        self.options = options or ParseOptions()
        library = self.options.patterns
        if library is None:
            from sipparse.grok import PatternLibrary

            library = PatternLibrary.load()
        self._compiled = _Compiled.get(library, self.options.user_dialects)
        self.dialect: str | None = None if self.options.dialect == "auto" else self.options.dialect
        if self.dialect is not None and self.dialect not in self._compiled.dialects:
            known = ", ".join(self._compiled.dialects)
            raise ConfigError(f"unknown log format {self.dialect!r} (known: auto, {known})")
        self._parser = MessageParser(self._compiled.grammar)
        self._timestamps = TimestampParser(self.options.year, self.options.tz, self.options.now)
        self._other_prefixes: list[Any] = []  # the prefixes a line may have besides the dialect's

    def parse(self, fh: BinaryIO, batch_bytes: int = 4 << 20, read_sizes: Iterable[int] = ()) -> Iterator[Batch]:
        """Read ``fh`` to its end, yielding one batch per ``batch_bytes`` read (at least one).

        :param read_sizes: the sizes of the first reads, before ``batch_bytes`` each (a
            pipeline that stores while it parses wants its first and last batches small);
            the records are the same whatever the sizes
        """
        out = Output()
        layout = None
        carry, pos, read_end = b"", self.start_offset, self.start_offset
        sizes = iter(read_sizes)
        while True:
            chunk = fh.read(max(1, next(sizes, batch_bytes)))
            read_end += len(chunk)
            buf = carry + chunk if carry else chunk
            at_eof = not chunk
            if layout is None:
                # a hole before the first line (see ``end_holes``) is no part of any message,
                # and a large one would be carried whole while the dialect waits for a line
                stripped = buf.lstrip(b"\0")
                if pos == 0 and stripped.startswith(_BOM):  # marks the file's text, no line's
                    stripped = stripped[len(_BOM):]
                pos += len(buf) - len(stripped)
                buf = stripped
                layout = self._layout(buf, out, at_eof)
                if layout is None:  # too little to tell the dialect yet
                    if at_eof:
                        yield Batch([], [], 0, pos, read_end)
                        return
                    carry = buf
                    continue
            buf = end_holes(buf, layout.dialect.prefix, self._other_prefixes)
            done = layout.feed(buf, pos, at_eof and self.options.final)
            if done == 0 and len(buf) > MAX_MESSAGE + batch_bytes:
                done = _hole_at_head(buf) or layout.force(buf, pos)
            carry, pos = buf[done:], pos + done
            yield Batch(out.messages, out.rejects, out.skipped, layout.checkpoint(pos), read_end)
            out.messages, out.rejects, out.skipped = [], [], 0
            if at_eof:
                return

    def _layout(self, buf: bytes, out: Output, at_eof: bool) -> FullLayout | SyslogLayout | JsonLayout | None:
        if not buf:
            return None
        if self.dialect is None:
            if len(buf) < DETECT_BYTES and not at_eof and b"\n" not in buf:
                return None
            self.dialect = detect_dialect(buf[:DETECT_BYTES], self._compiled.dialects) or "syslog"
        dialect = self._compiled.dialects[self.dialect]
        builder = PacketBuilder(self._parser, self.source, dialect.name, out)
        if dialect.layout == "full":
            return FullLayout(dialect, self._compiled.rules, builder, self._timestamps,
                              fast=dialect.name == "full" and self._compiled.fast_full)
        if dialect.layout == "json":
            return JsonLayout(dialect, self._compiled.rules, builder, self._timestamps)
        others = self._compiled.others(dialect)
        self._other_prefixes = [other.prefix for other in others]
        return SyslogLayout(dialect, self._compiled.rules, builder, self._timestamps,
                            bulk=dialect.name in self._compiled.bulk, fast=dialect.name in self._compiled.fast_syslog,
                            others=others)


def end_holes(buf: bytes, prefix: re.Pattern[bytes], others: Sequence[Any] = ()) -> bytes:
    """``buf`` with the last NUL of each hole that a line follows turned into an LF.

    A hole is a run of NUL bytes where a file was written past its end: a writer without
    O_APPEND going on at its old offset after another tool's copytruncate, or a crash that
    left a file's new size on disk but not its last blocks. The first line written after
    it follows the NULs with no LF between, so its prefix is not at a line start, and its
    message was lost. Only a run before a line's prefix is ended: NULs at a line start
    inside a binary body are the message's own bytes, kept as they are. ``others``: the
    prefixes a line may have besides ``prefix`` (a syslog log whose format changed midway,
    see ``SyslogLayout._other_format``), whose lines a hole may precede as well.
    """
    if b"\x00" not in buf:
        return buf
    data, ended = None, False
    for end in _hole_ends(buf):
        if data is None:
            data = bytearray(buf)  # once: a body of many NUL runs is not copied for each
        data[end - 1] = 10
        if prefix.match(data, end) or any(other.match(data, end) for other in others):
            ended = True
        else:
            data[end - 1] = 0
    return bytes(data) if ended and data is not None else buf


def _hole_at_head(buf: bytes) -> int:
    """The length of the run of NULs ``buf`` begins with: a hole (see ``end_holes``) longer
    than a batch and 1 MiB, where no line ends, passed over as a shorter one is rather than
    given up on as a line too long to keep. Its end, in a later batch, is ended as usual."""
    return len(buf) - len(buf.lstrip(b"\0")) if buf[:1] == b"\0" else 0


def _hole_ends(buf: bytes) -> Iterator[int]:
    """Where each run of NULs at a line start ends, when a line's first byte follows it
    (each buffer begins at a line start). Linear: a hole of 100 MiB is crossed at once."""
    at = 0 if buf.startswith(b"\x00") else buf.find(b"\n\x00") + 1
    if at == 0 and not buf.startswith(b"\x00"):
        return
    while True:
        end = _NULS.match(buf, at).end()  # type: ignore[union-attr]
        if end < len(buf) and buf[end] != 10:
            yield end
        at = buf.find(b"\n\x00", end) + 1
        if at == 0:
            return


@cache
def _bundled() -> tuple[dict[str, bytes], tuple[bytes, bytes]]:
    """From the bundled pattern files (loaded once): the prefix pattern of each built-in
    dialect, and the origin and marker patterns."""
    from sipparse.grok import PatternLibrary

    library = PatternLibrary.load()
    rules = asterisk_rules(library)
    return ({name: d.prefix.pattern for name, d in build_dialects(library).items()},
            (rules.origin.pattern, rules.marker.pattern))
