"""The ``syslog`` layout: every logged line carries a syslog prefix (rsyslog output).

A SIP message is a run of lines of one stream (host, program, pid), from a marker or a
request/status line to the end of its body by Content-Length, or to the stream's next
message when the length is missing.  Streams are kept apart, so lines of several hosts
(an rsyslog server writing every forwarder into one file) or several processes may
interleave, even inside a message.  ``#015`` ends a line as CR did; a header/body
separator logged as a line that is just ``#015``; a line without a prefix continues the
previous line (rsyslog wrapped it), and a prefix inside a line begins a line glued to a cut
one (see ``SyslogLayout._glued_line``).  Asterisk's own prefix may sit inside the syslog one
(imfile forwarding the ``pjsip`` file channel, or Asterisk logging to syslog, when the
whole packet is on one line with ``#012`` escapes).

A message of a stream that stays silent for ``STALE_LINES`` lines is closed as it is, so a
host that stopped logging mid-message cannot hold the checkpoint back for ever; the rule
counts lines from the message itself, so it gives the same result whatever offset a run
resumed from.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Any

from sipparse.logs.dialects import STREAM_FIELDS, AsteriskRules, Dialect, unanchored
from sipparse.logs.escapes import decode_escapes, decoded_length
from sipparse.logs.full import LOOSE_MARKER, UNREAD_MARKER, marker_of
from sipparse.logs.jsonl import JSON_CUT, entry_of, packet_of
from sipparse.logs.packets import DUMPS_SLACK, MAX_MESSAGE, Marker, PacketBuilder
from sipparse.logs.timestamps import TimestampParser
from sipparse.sip import accel
from sipparse.sip.framing import START_LINE

STALE_LINES = 20000
_SWEEP_EVERY = 4096
_SEPARATORS = (b"#015", b"", b"\r")
_BOM = "\ufeff".encode()  # SYSLOG_BOM, after the prefix of the lines of an RFC 5424 message in UTF-8
_ORIGIN_LEADS = frozenset(b"[VNWEDSTF")
_CONTENT_LENGTH_NAMES = (b"content-length", b"l")
_CONTENT_TYPE_NAMES = (b"content-type", b"c")
_MAX_DIGITS = 18  # a longer number (a Content-Length, a pid) is unreadable: no column, and not int(), takes it
# A line whose text before its first ":" is, stripped and lower-cased, a Content-Length name.
_CONTENT_LENGTH_LINE = re.compile(
    rb"^[ \t\r\x0b\x0c]*(?:[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]|[Ll])[ \t\r\x0b\x0c]*:([^\n]*)", re.M)
_CONTENT_LENGTH_AFTER_LF = re.compile(b"\n" + _CONTENT_LENGTH_LINE.pattern[1:])
_BULK_BYTES = 4 << 10  # how far ahead a message's lines are looked for at once
# rsyslog's summary of a message repeated ($RepeatedMsgReduction on, Ubuntu's default):
# " message repeated 3 times: [<the message's first 800 bytes>]", the "]" on a line of its
# own when control characters are not escaped.
_REPEATED = re.compile(rb" ?message repeated ([0-9]{1,9}) times: \[(.*?)\]?\Z", re.S)
# A superset of START_LINE's matches, at any line start: where a run of lines may hold a new message.
_STARTISH = rb"[!%'*+\-.0-9A-Z_`a-z~]+ +[^ \r\n]+ +SIP/\d\.\d|SIP/\d\.\d +\d{3}"
# A time of day (from the colon after its hour: a literal first byte, found 25 times faster), as
# every bundled prefix's time stamp has one: where a line may hold another line's prefix,
# glued to it (see ``SyslogLayout._glued_line``), which begins at most ``_CLOCK_LEAD`` bytes before.
_CLOCK = re.compile(rb":[0-9]{2}:[0-9]{2}")
_CLOCK_LEAD = 64
CUT_LINE = "log line cut short, the next line glued to it"
CUT_REST = "the rest of a log line cut short, after the line glued to it"
_SHAPE = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                         b"A" * 26 + b"a" * 26 + b"0" * 10)
_SHAPE_CLASS = {ord("A"): b"[A-Z]", ord("a"): b"[a-z]", ord("0"): b"[0-9]"}


@dataclass(slots=True)
class _Open:
    """A message being reassembled from the lines of one stream."""

    offset: int
    end: int
    timestamp: bytes
    host: bytes | None
    pid: bytes | None
    marker: Marker | None
    last_line: int
    lines: list[bytes] = field(default_factory=list)
    size: int = 0
    in_body: bool = False
    content_length: int | None = None
    body: int = 0
    unprefixed: bool = False  # its lines follow its marker without a prefix (see ``_continuation``)
    packet_at: int = -1  # the file offset of its first such line: where its packet begins
    passed: int = 0  # messages of its TCP segment passed over: earlier dumps took them (see ``_Segment``)


@dataclass(slots=True)
class _Segment:
    """The TCP segment a stream's last dump of several messages came from.

    Asterisk logs such a segment whole once per message, in order, each time under the marker
    of the message it is about.  When its messages have one length, the markers are alike and
    the first message of each dump ends where its marker says: a dump that repeats the last
    one (same marker, same first message) after that one went on past its message, is about
    the message after those the dumps took so far."""

    marker: Marker
    first: list[bytes]  # the lines of its first message
    offset: int  # where its first dump begins: a later run resumes there while its dumps go on
    taken: int = 1  # messages its dumps took
    went_on: bool = False  # its last dump went on after the message it took


class SyslogLayout:
    """Reassembles messages of a ``syslog``-layout log from byte buffers of whole lines."""

    def __init__(self, dialect: Dialect, rules: AsteriskRules, builder: PacketBuilder,
                 timestamps: TimestampParser, bulk: bool = False, fast: bool = False,
                 others: Sequence[Dialect] = ()) -> None:
        """``bulk``: the prefix is the bundled traditional syslog one, whose time stamp is a pure
        shape (letters and digits at fixed places), so a run of lines can be read at once.
        ``fast``: the prefix (traditional or RFC 5424), origin and marker patterns are the
        bundled ones, so the C reader may take a message whole (when the C scanner is on).
        ``others``: dialects whose prefix a line that lacks this one's may have instead (see
        ``_other_format``)."""
        self.dialect = dialect
        self.rules = rules
        self.builder = builder
        self.timestamps = timestamps
        groups = dialect.groups
        self._ts = groups["timestamp"]
        self._key = tuple(groups[f] for f in STREAM_FIELDS if f in groups) or (groups.get("stream", self._ts),)
        self._host = groups.get("host")
        self._glued_prefix = unanchored(dialect.prefix)
        self._pid = groups.get("pid")
        self.open: dict[tuple, _Open] = {}
        # (offset, end) of messages read whole while another stream's was open: one that
        # began before a checkpoint and ran past it (see ``checkpoint``)
        self._overlapping: list[tuple[int, int]] = []
        self.last: _Open | None = None
        # streams whose last message came whole out of a TCP segment that may hold more
        # messages: the lines up to the stream's next marker are the rest of that segment
        # (see ``_close_whole``)
        self._segment_rest: set[tuple] = set()
        self._segments: dict[tuple, _Segment] = {}
        # a stream's segment whose next dump is still to come when another TCP message of the
        # stream came whole between its dumps (see ``_taken_before``)
        self._waiting: dict[tuple, _Segment] = {}
        self.line_no = 0
        # the number of a glued line that ended whole (its CR) or came from another stream than
        # the line it cut: the line after it, without a prefix, is the rest of the cut line (see
        # ``_rest_of_cut``), not its own
        self._glued_whole = -1
        self._cut_key: tuple | None = None  # the stream of the last line cut short, when known
        self.skip_partial = False
        self._runners: dict[tuple[bytes, bytes], re.Pattern[bytes]] = {}
        self._stops = _stops_pattern(rules) if bulk else None
        self._bulk_ok = self._stops is not None
        self._fast = fast and builder.parser.scan is not None and accel.reader is not None
        self._rfc5424 = dialect.name == "rfc5424"
        self._others = [(other.prefix.match, {index: other.groups.get(name) for name, index in groups.items()})
                        for other in others]

    def checkpoint(self, done: int) -> int:
        """Offset a later run must resume from: the oldest message still open, or ``done``.

        Streams interleave, so a message read whole may have begun before that offset and
        run past it: from there, a later run would meet its start line without the marker
        before it, and store it a second time under another offset. The resume offset then
        goes back to that message's first line (its rows are skipped as already stored).
        """
        resume = min([msg.offset for msg in self.open.values()] + self._segments_going_on(done)
                     + self.builder.held(done) + [done])
        moved = True
        while moved:
            moved = False
            for offset, end in self._overlapping:
                if offset < resume < end:
                    resume, moved = offset, True
        self._overlapping = [(offset, end) for offset, end in self._overlapping if end > resume]
        return resume

    def _segments_going_on(self, done: int) -> list[int]:
        """Where the TCP segments begin whose dumps may go on: no line after the message a
        dump took has shown yet whether a rest follows, a rest is being skipped, or a dump
        went on past its message and the next may still come (``_awaited``), perhaps after
        other messages of the stream (``_waiting``).  A later run that resumed after their
        first dump could not tell what it took (see ``_Segment``), so it resumes there and
        reads that dump again (its rows are already stored)."""
        going_on = [segment.offset for key, segment in self._segments.items()
                    if key in self._segment_rest or (segment.went_on and self._awaited(key, segment, done))]
        return going_on + [segment.offset for key, segment in self._waiting.items()
                           if self._awaited(key, segment, done)]

    def _awaited(self, key: tuple, segment: _Segment, done: int) -> bool:
        """Whether the next dump of a segment that went on past its message may still come,
        the log read up to ``done``: it is open, or the log has not yet gone ``DUMPS_SLACK``
        past the segment (other messages of the stream may come between two dumps)."""
        return _dump_of(self.open.get(key), segment) or done - segment.offset < DUMPS_SLACK

    def feed(self, buf: bytes, base: int, final: bool) -> int:
        """Read the whole lines of ``buf`` (all of it when ``final``); return bytes done."""
        limit = len(buf) if final else buf.rfind(b"\n") + 1
        pos = self._skip_partial(buf)
        limit = max(limit, pos)
        match, find = self.dialect.prefix.match, buf.find
        glued = -1  # where a line glued to a cut one begins (its prefix is not at a line start)
        fast = self.builder.reader_context(self.timestamps) if self._fast else None
        while pos < limit:
            if fast is not None and not self.open and self._segment_rest:
                self._rest_ends_at(buf, pos, limit)
            if fast is not None and not self.open and not self._segment_rest and pos != glued:
                # the C reader takes each message it can read whole, the empty lines between
                # them (most syslog logs have one after each message) and the dialplan lines;
                # not a line glued to a cut one, whose reading (``_glued_whole``) tells how the
                # line after it reads
                after, lines, skipped, pending = accel.reader.syslog_messages(buf, pos, limit, base, fast,
                                                                              self._rfc5424)
                if after > pos:
                    self.builder.out.skipped += skipped
                    pos = self._read_fast(after, lines, pending) if lines else after
                    continue
            if fast is not None and buf[pos] == 10:
                # An empty line: it cannot match a bundled prefix, and ``_continuation`` does
                # nothing with a line that is just an LF.
                pos += 1
                continue
            nl = find(b"\n", pos, limit)
            if nl < 0:
                nl = limit
            end = nl - 1 if nl > pos and buf[nl - 1] == 13 else nl  # a CRLF log file
            after = base + min(nl + 1, limit)  # a final line may lack its LF
            if pos != glued:
                m = match(buf, pos, end)
            else:
                m = self._glued_prefix.match(buf, pos, end)
                self._glued_whole = self.line_no + 1 if self._ends_cut_line(m, buf, pos, end, nl) else -1
            if m is None and self._others:
                m = self._other_format(buf, pos, end)
            own_end = -1 if m is None else m.end()
            glued = self._glued_line(buf, pos, end, own_end) if _CLOCK.search(buf, max(pos, own_end), end) else -1
            if glued > own_end >= 0 and self._announced_body(m, buf[own_end:end]):
                glued = -1
            if glued > 0 and (m is None or glued < own_end):  # a line cut in its prefix: no stream's, a reject
                self.builder.reject(base + pos, base + glued, CUT_LINE, buf[pos:glued])
                self._cut_key = None
                pos = glued
                continue
            if m is None:
                if self._glued_whole == self.line_no and nl > pos:
                    self._rest_of_cut(buf[pos:end], base + pos, after)
                else:
                    self._continuation(buf[pos:end], nl > pos, after)
                pos = nl + 1
                continue
            if glued > 0:  # the line was cut short: it ends where the glued one begins
                end, nl, after = glued, glued - 1, base + glued
            elif self.last is not None and self.last.unprefixed:
                inside = self._in_packet(self.last, buf, base, pos, limit, final)
                if inside is None:  # only the data after the packet tells: wait for it
                    return pos
                if inside:
                    self._continuation(buf[pos:end], True, after)
                    pos = nl + 1
                    continue
            self._end_unprefixed()
            self._line(m, buf[m.end():end], base + pos, after)
            msg = self.last
            if glued > 0:
                self._cut_short(m)
            elif msg is not None and len(msg.lines) == 1 and not msg.in_body and self._bulk_ok \
                    and type(m) is not _Renumbered:
                nl = self._bulk(msg, m, buf, nl, limit, base)
            pos = nl + 1
        if final:
            self.flush()
        return limit

    def _glued_line(self, buf: bytes, start: int, end: int, own_end: int = -1) -> int:
        """Where a line glued to the one in ``buf[start:end]`` begins, -1 when none: a log
        truncated inside a line, then appended to, holds the next line right after the cut
        one's last byte, without an LF between them.  Looked for only where the line holds a
        time of day, which every bundled prefix has.  ``own_end``: where the line's own prefix
        ends, if it has one; a glued line's prefix may begin inside it (the line was cut in its
        prefix) when it ends past it, and a whole line right after it (imfile forwarding
        another syslog file) is the line's text, not glued."""
        for clock in _CLOCK.finditer(buf, start, end):
            at = max(start + 1, clock.start() - _CLOCK_LEAD)
            while (found := self._glued_prefix.search(buf, at, end)) is not None and found.start() <= clock.start():
                if found.start() > own_end or (found.start() < own_end < found.end()):
                    return found.start()
                at = found.start() + 1
        return -1

    def _announced_body(self, m, content: bytes) -> bool:
        """Whether a line's text, whole to its LF, is body its stream's message announced: the
        message is in its body, whose Content-Length leaves room for every byte of the line.
        A prefix inside such a line is quoted text (a MESSAGE or NOTIFY quoting a log line),
        not a line glued to a cut one; a cut line's message would lose its end."""
        key = m.group(*self._key) if len(self._key) > 1 else (m.group(self._key[0]),)
        msg = self.open.get(key)
        return msg is not None and msg.in_body and msg.content_length is not None \
            and msg.body + decoded_length(_strip_cr(content)) <= msg.content_length

    def _ends_cut_line(self, m, buf: bytes, pos: int, end: int, nl: int) -> bool:
        """Whether the line after the glued line at ``pos``, if it has no prefix, is the rest
        of the line it cut: the glued line ended whole (a CR, ``#015``, before its LF), or it
        is another stream's (two writers of one file, each cutting the other's lines)."""
        if end < nl or buf.endswith(b"#015", pos, end):
            return True
        key = m.group(*self._key) if len(self._key) > 1 else (m.group(self._key[0]),)
        return self._cut_key is not None and key != self._cut_key

    def _rest_of_cut(self, content: bytes, start: int, end: int) -> None:
        """A line without a prefix right after a glued line that ended whole: two writers of
        one file, the line glued into the one the other was writing, whose rest comes after
        it.  Not the glued line's (which would take it as its own line's end): a reject."""
        self._glued_whole = -1
        self.last = None
        self.builder.reject(start, end, CUT_REST, content)

    def _cut_short(self, m: re.Match[bytes]) -> None:
        """The stream's message whose line was cut short, its end lost: a reject that says so."""
        key = self._cut_key = m.group(*self._key) if len(self._key) > 1 else (m.group(self._key[0]),)
        if key not in self.open:
            return
        msg = self._pop(key)
        self.builder.reject(msg.offset, msg.end, CUT_LINE, _wire_text(msg.lines), self.timestamps(msg.timestamp),
                            _text(msg.host))

    def _other_format(self, buf: bytes, pos: int, end: int) -> _Renumbered | None:
        """The line's prefix in another bundled format, read as one of this file's own.

        rsyslog changes a file's time stamps in the middle when its template is changed and
        it is restarted (Debian's RFC 3339 default, set back to the traditional format): the
        lines after that, read as prefixless continuations of the line before, were lost."""
        for match, numbers in self._others:
            m = match(buf, pos, end)
            if m is not None:
                return _Renumbered(m, numbers)
        return None

    def _read_fast(self, after: int, lines: int, pending: tuple | None) -> int:
        """Account for a message the C reader took whole; frame in Python what it left."""
        self.line_no += lines
        self.last = None
        if pending is not None:
            text, offset, end, stamp, marker, host, pid = pending
            self.builder.packet(text, offset, end, offset, self.timestamps(stamp), marker and Marker(*marker), host,
                                pid)
        return after

    def force(self, buf: bytes, base: int) -> int:
        """Give up on a line too long to keep: reject its first bytes, skip to its end."""
        self.builder.reject(base, base + len(buf), f"log line longer than {MAX_MESSAGE} bytes", buf)
        self.skip_partial = True
        return len(buf)

    def flush(self) -> None:
        """Close every open message (the data will not grow: no dump is to come)."""
        for key, msg in list(self.open.items()):
            whole = _segment(msg) and msg.content_length is not None and msg.body >= msg.content_length
            self._close(key, None if whole else "log ended inside the message")
        self._segment_rest.clear()
        self._segments.clear()
        self._waiting.clear()
        self.builder.release()

    def _end_unprefixed(self) -> None:
        """Close the message whose lines came without a prefix, at the next prefixed line, if
        it is still open: its packet holds more than the message its marker announced (a TCP
        segment of two messages, which Asterisk logs whole for each), and rsyslog wrote the
        packet whole."""
        msg = self.last
        if msg is not None and msg.unprefixed:
            self._close(next(key for key, open_msg in self.open.items() if open_msg is msg))

    def _skip_partial(self, buf: bytes) -> int:
        """Bytes of ``buf`` that are still the line ``force`` gave up on: up to its LF, or all
        of them while it goes on (a line of 50 MiB is one reject, not one per batch)."""
        if not self.skip_partial:
            return 0
        nl = buf.find(b"\n")
        if nl < 0:
            return len(buf)
        self.skip_partial = False
        return nl + 1

    def _in_packet(self, msg: _Open, buf: bytes, base: int, pos: int, limit: int, final: bool) -> bool | None:
        """Whether the prefixed line at ``buf[pos]`` is text of the packet of ``msg``, whose
        lines came without a prefix (see ``_continuation``): it lies in the packet, whole as
        its marker announces it, rsyslog's LF and the next line's prefix right after it (a
        MESSAGE, which anyone may send, quoting a line of the syslog channel and a response
        of another call). None when the data ends before that tells."""
        if msg.marker is None or msg.packet_at < 0 or not 0 < msg.marker.size <= MAX_MESSAGE:
            return False
        end = msg.packet_at + msg.marker.size - base  # where rsyslog's LF is, if the packet is whole
        if not pos < end:
            return False
        if end + 1 >= limit:  # the line after it is not there (yet)
            return None if not final else end + 1 == limit and buf[end] == 10
        return buf[end] == 10 and (self.dialect.prefix.match(buf, end + 1) is not None
                                   or any(match(buf, end + 1) for match, _ in self._others))

    def _continuation(self, content: bytes, written: bool, end: int) -> None:
        """A line without a prefix (``written``: it held a byte, a CR at least, before its LF).

        After a marker alone on its line it is the message's first line, and the lines after
        it are its next ones, up to the next prefixed line: Asterisk's syslog channel through
        an rsyslog that does not escape control characters (``$EscapeControlCharactersOnReceive
        off``) writes the packet's CRLFs as they are, its header/body separator as a line that
        is just a CR.
        A line that is just an LF is no line of a packet, whose lines all end in CRLF (and
        the C reader steps over it). Anywhere else the line is the rest of the line before
        it (a line cut in two)."""
        msg = self.last
        if msg is not None and written and (msg.unprefixed or (not msg.lines and msg.marker is not None)):
            if not msg.unprefixed:
                msg.packet_at = msg.end
            msg.unprefixed = True
            self._append(next(key for key, open_msg in self.open.items() if open_msg is msg), msg, content, end)
        elif msg is not None and msg.lines and content:
            msg.lines[-1] += content
            msg.size += len(content)
            msg.end = end
        elif content.strip():
            self.builder.out.skipped += 1

    def _line(self, m, content: bytes, start: int, end: int) -> None:
        self.line_no += 1
        if self.line_no % _SWEEP_EVERY == 0:
            self._sweep()
        key = m.group(*self._key) if len(self._key) > 1 else (m.group(self._key[0]),)
        msg = self.open.get(key)
        if msg is not None and self.line_no - msg.last_line > STALE_LINES:
            self._close(key, "stream went silent inside the message")
            msg = None
        if msg is None and content[:18].lstrip().startswith(b"message repeated ") and self._repeats(
                m, content, start, end):
            return
        lead = content[:1]
        if lead == b"<" or (lead and lead[0] in _ORIGIN_LEADS):
            if self._asterisk_line(m, key, msg, content, start, end):
                return
        elif lead == b"{" and self._json_entry(m, key, msg, content, start, end):
            return
        if msg is None and key in self._segment_rest:
            self.builder.out.skipped += 1
            if key in self._segments:
                self._segments[key].went_on = True
            return
        glued = _glued_at(self.rules, content)
        if glued:  # the end of a message Asterisk cut, then the marker of the next one
            if msg is not None:
                self._append(key, msg, content[:glued], end)
            self._asterisk_line(m, key, self.open.get(key), content[glued:], start, end)
            return
        # A body may begin with a start line (message/sipfrag); past its first line, or in a
        # body of another type, a start line means the Content-Length was larger than the body
        # logged and the next message has begun, unless the marker says the packet holds it.
        in_sized_body = msg is not None and msg.in_body and msg.content_length is not None
        if (not in_sized_body or msg.body or not _carries_message(msg.lines)) and not _segment_goes_on(msg) \
                and START_LINE.match(_strip_cr(content)) and not (in_sized_body and _announced_body(msg, content)):
            msg = self._start(m, key, msg, start, end)
        if msg is None:
            self._skip(m, content, start, end)
            return
        self._append(key, msg, content, end)

    def _skip(self, m, content: bytes, start: int, end: int) -> None:
        """A line outside any message: skipped as no SIP, unless it holds a packet logger marker
        that the patterns do not read (a reject, which says so)."""
        self.last = None
        if LOOSE_MARKER.search(content):
            self.builder.reject(start, end, UNREAD_MARKER, content, self.timestamps(m.group(self._ts)),
                                _text(self._group(m, self._host)))
        else:
            self.builder.out.skipped += 1

    def _repeats(self, m, content: bytes, start: int, end: int) -> bool:
        """rsyslog's "message repeated N times: [...]" line, when what it repeats is SIP: a
        reject saying that those N messages (a retransmission logged again and again) are not
        in the log, where a summary of anything else is a line skipped as no SIP."""
        found = _REPEATED.match(content)
        if found is None:
            return False
        inner = decode_escapes(found.group(2))
        if self.rules.marker.search(inner) is None and START_LINE.search(inner) is None:
            return False
        self.builder.reject(start, end, f"rsyslog wrote {int(found.group(1))} repeats of the message before it as "
                            "one 'message repeated' line ($RepeatedMsgReduction): they are not in the log", content,
                            self.timestamps(m.group(self._ts)), _text(self._group(m, self._host)))
        self.last = None
        return True

    def _rest_ends_at(self, buf: bytes, pos: int, limit: int) -> None:
        """End the rest of a TCP segment being skipped when the line at ``pos`` is Asterisk's
        own in its stream, as ``_asterisk_line`` would: the C reader may then read from it."""
        nl = buf.find(b"\n", pos, limit)
        end = nl if nl >= 0 else limit
        m = self.dialect.prefix.match(buf, pos, end)
        if m is None:
            return
        key = m.group(*self._key) if len(self._key) > 1 else (m.group(self._key[0]),)
        if key in self._segment_rest and self._asterisk_parts(buf[m.end():end]) != (None, None):
            self._segment_rest.discard(key)

    def _asterisk_parts(self, content: bytes) -> tuple[Any, Any]:
        """(origin, marker) matches of a line's text, each None where it has none."""
        origin = self.rules.origin.match(content)
        marker = self.rules.marker.match(content, origin.end() if origin is not None else 0)
        return origin, marker

    def _asterisk_line(self, m, key: tuple, msg: _Open | None, content: bytes, start: int, end: int) -> bool:
        """Handle a marker or another Asterisk-prefixed line; False for anything else."""
        origin, marker = self._asterisk_parts(content)
        if marker is None and origin is None:
            return False
        self._segment_rest.discard(key)
        if marker is None:
            if msg is not None:
                self._close(key)
            self._skip(m, content, start, end)
            return True
        if msg is not None:
            self._close(key)
        info = marker_of(marker, self.rules.marker_groups)
        rest = content[marker.end():]
        if rest.strip():  # the whole packet on this line (Asterisk's syslog channel)
            packet = decode_escapes(_imfile_lfs(rest))
            if packet.endswith(b"\r\n\n"):  # Asterisk's LF after it, kept by $DropTrailingLFOnReception off
                packet = packet[:-1]
            self.builder.packet(packet, start, end, start, self.timestamps(m.group(self._ts)),
                                info, *self._who(m.group(self._host) if self._host else None,
                                                 m.group(self._pid) if self._pid else None))
            self.last = None
            return True
        self.open[key] = self.last = _Open(start, end, m.group(self._ts), self._group(m, self._host),
                                           self._group(m, self._pid), info, self.line_no)
        return True

    def _json_entry(self, m, key: tuple, msg: _Open | None, content: bytes, start: int, end: int) -> bool:
        """A line of logger.conf's ``[json]`` formatter (``syslog.local0 => [json]verbose``, or
        imfile forwarding a ``[json]`` file channel): a whole entry, its packet whole in its
        ``message``, or cut by rsyslog's ``maxMessageSize``; False when it is no such line."""
        entry = entry_of(content.rstrip(b"\r")) if b"<--- " in content else None
        if entry is None:
            return False
        self._segment_rest.discard(key)
        if msg is not None:
            self._close(key)
        found = packet_of(entry.message, self.rules, entry.cut)
        if found is None:
            self._skip(m, entry.message, start, end)
            return True
        marker, packet = found
        problems = [JSON_CUT] if entry.cut else None
        self.builder.packet(packet[:MAX_MESSAGE], start, end, start, self.timestamps(m.group(self._ts)), marker,
                            *self._who(m.group(self._host) if self._host else None,
                                       m.group(self._pid) if self._pid else None), problems=problems)
        self.last = None
        return True

    def _start(self, m, key: tuple, msg: _Open | None, start: int, end: int) -> _Open:
        if msg is not None and msg.marker is not None and not msg.lines:
            return msg
        if msg is not None:
            self._close(key)
        msg = self.open[key] = _Open(start, end, m.group(self._ts), self._group(m, self._host),
                                     self._group(m, self._pid), None, self.line_no)
        return msg

    def _append(self, key: tuple, msg: _Open, content: bytes, end: int) -> None:
        msg.lines.append(content)
        msg.size += len(content) + 1
        msg.end = end
        msg.last_line = self.line_no
        self.last = msg
        if msg.in_body:
            msg.body += decoded_length(_strip_cr(content)) + 2
            if msg.content_length is not None and msg.body >= msg.content_length and _as_announced(msg):
                self._close_whole(key, msg)
        elif content in _SEPARATORS:
            msg.in_body = True
            msg.content_length = _content_length(msg.lines)
            if msg.content_length == 0 and _as_announced(msg):
                self._close_whole(key, msg)
        if msg.size > MAX_MESSAGE and key in self.open:
            self._close(key, f"message longer than {MAX_MESSAGE} bytes, cut")

    def _bulk(self, msg: _Open, m: re.Match[bytes], buf: bytes, nl: int, limit: int, base: int) -> int:
        """Append the next lines of ``msg``'s stream at once, as ``_line`` would one by one.

        Right after a message's first line, the lines that follow with the same prefix shape
        and stream (host, program, pid) are taken together: up to the first one that could
        open a message or is Asterisk's own (a superset, so those stay with ``_line``), the
        last before a sweep, and the one that completes the message by Content-Length.
        Returns the offset in ``buf`` of the last newline taken (``nl`` when none).
        """
        ts_start, ts_end = m.span(self._ts)
        tail = buf[ts_end:m.end()]
        if ts_start != m.start() or not tail.endswith(b" "):
            return nl
        if not buf.startswith(tail, nl + 1 + ts_end - ts_start):
            # the next line is another stream's: nothing to take, and no runner to compile
            # (one for each stream made a log of many pids 10 to 20 times slower to read)
            return nl
        runner = self._runner(buf[ts_start:ts_end], tail)
        width = m.end() - m.start()
        while True:
            window = min(limit, nl + _BULK_BYTES)
            stop = runner.search(buf, nl, window)
            run_end = stop.start() if stop is not None else buf.rfind(b"\n", nl, window)
            room = _SWEEP_EVERY - 1 - self.line_no % _SWEEP_EVERY
            if run_end <= nl or room <= 0:
                return nl
            lines = buf[nl + 1:run_end].split(b"\n", room)[:room]
            taken, closed, whole = self._bulk_lines(msg, lines, width)
            if not taken:
                return nl
            nl += sum(map(len, lines[:taken])) + taken
            msg.end = base + nl + 1
            if closed:
                self._close_whole(m.group(*self._key) if len(self._key) > 1 else (m.group(self._key[0]),), msg)
            cut = window < limit and (stop is None or stop.start() + width >= window)
            if closed or not whole or not cut:
                return nl

    def _bulk_lines(self, msg: _Open, lines: list[bytes], width: int) -> tuple[int, bool, bool]:
        """Append the contents of whole prefixed ``lines`` to ``msg``: (taken, closed, all taken)."""
        contents = [line[width:] for line in lines]
        text = b"\n".join(contents)
        if b"\r" in text or msg.size + len(text) + 1 > MAX_MESSAGE:
            return 0, False, False
        hit = self._stops.search(b"\n" + text)  # type: ignore[union-attr]
        if hit is not None:
            contents = contents[:text.count(b"\n", 0, hit.start())]
        if _BOM in text:  # a line's byte order mark, which its prefix takes when read alone: ``_line`` reads it
            contents = contents[:next((k for k, c in enumerate(contents) if c.startswith(_BOM)), len(contents))]
        if _CLOCK.search(text):  # perhaps a line glued to a cut one: ``_line`` reads that line
            contents = contents[:next((k for k, c in enumerate(contents)
                                       if _CLOCK.search(c) and self._glued_line(c, 0, len(c)) > 0), len(contents))]
        if b"<--- " in text:  # perhaps a marker after a message Asterisk cut: ``_line`` reads that line
            contents = contents[:next((k for k, c in enumerate(contents) if c.find(b"<--- ", 1) > 0), len(contents))]
        taken, closed = self._take(msg, contents, text)
        appended = contents[:taken]
        msg.lines += appended
        msg.size += sum(map(len, appended)) + taken
        self.line_no += taken
        msg.last_line = self.line_no
        self.last = msg
        return taken, closed, taken == len(lines)

    def _take(self, msg: _Open, contents: list[bytes], text: bytes) -> tuple[int, bool]:
        """How many of ``contents`` belong to ``msg`` (which is past its first line), and
        whether the last of them completes it; updates its body state as ``_append`` does.
        ``text`` is the contents joined by LF (perhaps with more lines after them)."""
        taken = 0
        if not msg.in_body:
            seps = [contents.index(sep) for sep in (b"#015", b"") if sep in contents]
            if not seps:
                return len(contents), False
            taken = min(seps) + 1
            msg.in_body = True
            if len(msg.lines) == 1:  # the start line cannot be a Content-Length line
                msg.content_length = _content_length_in(text, sum(map(len, contents[:taken])) + taken)
            else:
                msg.content_length = _content_length(msg.lines + contents[:taken])
            if msg.content_length == 0:
                return taken, _as_announced(msg, contents[:taken])
        # each body line counts its bytes plus the CRLF it ended with (no line here holds a CR)
        sizes = [decoded_length(_strip_cr(c)) + 2 for c in contents[taken:]]
        totals = list(accumulate(sizes, initial=msg.body))
        length = msg.content_length
        if length is not None and totals[-1] >= length:
            complete = bisect_left(totals, length, 1)  # totals only grow: the first line reaching it
            msg.body = totals[complete]
            return taken + complete, _as_announced(msg, contents[:taken + complete])
        msg.body = totals[-1]
        return taken + len(sizes), False

    def _runner(self, stamp: bytes, tail: bytes) -> re.Pattern[bytes]:
        """A pattern finding the first line end after which a line of another shape or stream starts."""
        key = (stamp.translate(_SHAPE), tail)
        runner = self._runners.get(key)
        if runner is None:
            if len(self._runners) > 256:
                self._runners.clear()
            shape = b"".join(_SHAPE_CLASS.get(c) or re.escape(bytes([c])) for c in key[0])
            runner = self._runners[key] = re.compile(b"\n(?!" + shape + re.escape(tail) + b")")
        return runner

    def _close_whole(self, key: tuple, msg: _Open) -> None:
        """Close a message its Content-Length completed.  When it came in a TCP segment, the
        stream's lines up to its next marker are the rest of that segment: Asterisk logs a
        segment of two messages whole for each, and the first dump is about the first one."""
        if msg.marker is not None and msg.marker.stream:
            if self._taken_before(key, msg):
                msg.passed += 1
                msg.lines, msg.size, msg.in_body, msg.content_length, msg.body = [], 0, False, None, 0
                return
            self._segment_rest.add(key)
        self._close(key)

    def _taken_before(self, key: tuple, msg: _Open) -> bool:
        """Whether an earlier dump of ``msg``'s segment took the message ``msg`` now holds (see
        ``_Segment``); notes the segment of a dump's first message, and what each dump takes."""
        segment = self._segments.get(key)
        if msg.passed == 0 and not _repeats(segment, msg):
            waiting = self._waiting.pop(key, None)
            if segment is not None and segment.went_on and segment.first != msg.lines:
                self._waiting[key] = segment  # another message between its dumps: the next may follow
            if not _repeats(waiting, msg):
                self._segments[key] = _Segment(msg.marker, list(msg.lines), msg.offset)  # type: ignore[arg-type]
                return False
            segment = self._segments[key] = waiting
        if msg.passed < segment.taken:  # type: ignore[union-attr]
            return True
        segment.taken += 1  # type: ignore[union-attr]
        segment.went_on = False  # type: ignore[union-attr]
        return False

    def _close(self, key: tuple, problem: str | None = None) -> None:
        msg = self._pop(key)
        if not msg.lines:
            self.builder.reject(msg.offset, msg.end, "a packet marker with no message after it", b"",
                                self.timestamps(msg.timestamp), _text(msg.host))
            return
        self.builder.packet(_wire_text(msg.lines), msg.offset, msg.end, msg.offset, self.timestamps(msg.timestamp),
                            msg.marker, *self._who(msg.host, msg.pid), problems=[problem] if problem else None)

    def _pop(self, key: tuple) -> _Open:
        """Take a stream's open message out of the reading, whatever becomes of it."""
        msg = self.open.pop(key)
        segment = self._segments.get(key)
        if segment is not None and msg.marker is not None and msg.marker.stream:
            # a TCP message of the stream ends the dumps of its segment, whose next message
            # it was or after whose dumps it came (``_waiting`` keeps a segment it came between)
            segment.went_on = False
        if self.last is msg:
            self.last = None
        if self.open:  # another stream's message began while this one was open, perhaps inside it
            self._overlapping.append((msg.offset, msg.end))
        return msg

    def _sweep(self) -> None:
        for key, msg in list(self.open.items()):
            if self.line_no - msg.last_line > STALE_LINES:
                self._close(key, "stream went silent inside the message")

    @staticmethod
    def _group(m, index: int | None) -> bytes | None:
        return m.group(index) if index is not None else None

    @staticmethod
    def _who(host: bytes | None, pid: bytes | None) -> tuple[str | None, int | None]:
        return _text(host), (int(pid) if pid and pid.isdigit() and len(pid) <= _MAX_DIGITS else None)


class _Renumbered:
    """A match of another dialect's prefix, answering for the groups of the file's own
    dialect (``SyslogLayout._other_format``): the same fields, under other numbers."""

    __slots__ = ("_match", "_numbers")

    def __init__(self, match: re.Match[bytes], numbers: dict[int, int | None]) -> None:
        self._match = match
        self._numbers = numbers

    def group(self, *indices: int) -> Any:
        values = tuple(None if self._numbers.get(i) is None else self._match.group(self._numbers[i])
                       for i in indices)
        return values[0] if len(values) == 1 else values

    def end(self) -> int:
        return self._match.end()


def _glued_at(rules: AsteriskRules, content: bytes) -> int:
    """Where Asterisk's marker entry begins inside a line's text, after the end of a message
    it cut (0 when it does not): Asterisk writes at most 8191 bytes of an entry (see
    logs/full.py), and the next entry follows on the same line, which imfile forwards as one."""
    at = content.find(b"<--- ", 1)
    if at < 0:
        return 0
    marker = rules.marker.match(content, at)
    if marker is None or content[marker.end():].strip():
        return 0
    bracket = content.find(b"[", 1, at)
    while bracket > 0:
        origin = rules.origin.match(content, bracket)
        if origin is not None and origin.end() == at:
            return bracket
        bracket = content.find(b"[", bracket + 1, at)
    return 0


def _as_announced(msg: _Open, more: Sequence[bytes] = ()) -> bool:
    """Whether a message (its lines, then ``more``), complete by its Content-Length, ends
    there: always, unless it is a packet that may hold more messages (see ``_segment``) and it
    holds other than the bytes its marker announced, when the packet may go on with the
    message the marker is about."""
    if not _segment(msg):
        return True
    lines = msg.lines + list(more) if more else msg.lines
    return sum(decoded_length(_strip_cr(line)) + 2 for line in lines) == msg.marker.size  # type: ignore[union-attr]


def _repeats(segment: _Segment | None, msg: _Open) -> bool:
    """Whether ``msg``, the first message of a dump, repeats the dump of ``segment`` that went
    on past the message it took: the next dump of that segment."""
    return segment is not None and segment.went_on and segment.marker == msg.marker and segment.first == msg.lines


def _dump_of(msg: _Open | None, segment: _Segment) -> bool:
    """Whether an open message may be a dump of ``segment``: it came under its marker."""
    return msg is not None and msg.marker == segment.marker


def _segment(msg: _Open) -> bool:
    """Whether a message's packet may hold more messages after it, all of which Asterisk logs
    whole under one marker: lines without a prefix (rsyslog wrote the packet whole, see
    ``_end_unprefixed``), or a TCP (TLS, WebSocket) segment."""
    return msg.marker is not None and (msg.unprefixed or msg.marker.stream)


def _announced_body(msg: _Open, content: bytes) -> bool:
    """Whether a line of ``msg``'s sized body is its body though it reads as a start line
    (a text body quoting SIP): its Content-Length and its marker's size both hold it. The
    marker's is Asterisk's count of the packet's bytes, which no sender sets: a MESSAGE
    anyone may send cannot have quoted lines taken for a message of another call. Without
    a marker (or past its size) the line begins the next message, as the Content-Length
    may be larger than the body logged (empty lines dropped, a line cut)."""
    if msg.marker is None:
        return False
    size = decoded_length(_strip_cr(content)) + 2
    if msg.body + size > msg.content_length:  # type: ignore[operator]
        return False
    return sum(decoded_length(_strip_cr(line)) + 2 for line in msg.lines) + size <= msg.marker.size


def _segment_goes_on(msg: _Open | None) -> bool:
    """Whether a start line continues ``msg``'s packet: the next message of a segment, after one
    its Content-Length completed but that is not the message its marker announced."""
    return msg is not None and msg.marker is not None and msg.marker.stream and msg.in_body \
        and msg.content_length is not None and msg.body >= msg.content_length


def _imfile_lfs(rest: bytes) -> bytes:
    """A packet after its marker with imfile's own LF escape (``\\n``: ``startmsg.regex`` joins
    an entry's lines so, rsyslog 8.2302) turned back into LFs. Asterisk writes an LF right after
    the marker, never a backslash: only such a line is read so, and a backslash and ``n`` of
    the message's own text cannot be told from the escape there (imfile leaves a backslash as
    it is)."""
    return rest.replace(b"\\n", b"\n") if rest.startswith(b"\\n") else rest


def _wire_text(lines: list[bytes]) -> bytes:
    """A message's logged lines as they went on the wire: escapes decoded, each line ending in CRLF."""
    return decode_escapes(b"\n".join(lines) + b"\n").replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _strip_cr(content: bytes) -> bytes:
    if content.endswith(b"#015"):
        return content[:-4]
    return content[:-1] if content.endswith(b"\r") else content


def _text(value: bytes | None) -> str | None:
    return value.decode("utf-8", "replace") if value is not None else None


def _content_length_in(text: bytes, end: int) -> int | None:
    """``_content_length`` of the lines joined in ``text[:end]``, with one regex search
    (behind an LF, so that the search skips from line end to line end)."""
    found = _CONTENT_LENGTH_AFTER_LF.search(b"\n" + text, 0, end + 1)
    if found is None:
        return None
    value = _strip_cr(found.group(1)).strip()
    return int(value) if value.isdigit() and len(value) <= _MAX_DIGITS else None


def _carries_message(lines: list[bytes]) -> bool:
    """Whether a header section logged as lines has a ``message/*`` Content-Type (a sipfrag,
    a whole SIP message): the only bodies that begin with a start line."""
    for line in lines:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in _CONTENT_TYPE_NAMES:
            return value.lstrip().lower().startswith(b"message/")
    return False


def _content_length(lines: list[bytes]) -> int | None:
    """Content-Length of a header section logged as lines (first one wins)."""
    for line in lines:
        name, colon, value = line.partition(b":")
        if colon and name.strip().lower() in _CONTENT_LENGTH_NAMES:
            value = _strip_cr(value).strip()
            return int(value) if value.isdigit() and len(value) <= _MAX_DIGITS else None
    return None


def _stops_pattern(rules: AsteriskRules) -> re.Pattern[bytes] | None:
    """Lines where the bulk reading stops: an Asterisk prefix, a marker, or a possible start line.

    Searched in the lines joined by LF behind one more LF (a literal first byte is found fast)."""
    if not (isinstance(rules.origin, re.Pattern) and isinstance(rules.marker, re.Pattern)):
        return None  # a user's pattern only the ``regex`` module reads right: line by line
    unnamed = re.compile(rb"\(\?P<[A-Za-z_][A-Za-z0-9_]*>")
    parts = [unnamed.sub(b"(?:", rules.origin.pattern), unnamed.sub(b"(?:", rules.marker.pattern), _STARTISH]
    if any(b"\\A" in part or b"\\Z" in part for part in parts):
        return None
    try:  # re.M: a "^" or "$" of the patterns still means a line's start or end
        return re.compile(b"\n(?:" + b"|".join(b"(?:" + part + b")" for part in parts) + b")", re.M)
    except re.error:  # a user's pattern this cannot embed: read line by line
        return None
