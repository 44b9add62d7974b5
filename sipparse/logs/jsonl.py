"""The ``json`` layout: an Asterisk file channel written by logger.conf's ``[json]`` formatter.

``pjsip => [json]verbose`` makes Asterisk write every log entry as one line of JSON
(``format_log_json`` in logger.c)::

    {"hostname":"pbx1","timestamp":"Nov 29 14:06:54","identifiers":{"lwp":6541,"callid":""},
     "logmsg":{"location":{"filename":"res_pjsip_logger.c","function":"logging_on_rx_msg",
     "line":163},"level":"VERBOSE","message":"<--- Received SIP request (913 bytes) from
     UDP:10.0.0.5:5060 --->\\nINVITE sip:...\\r\\n...\\n"}}

(on one line). The packet logger's ``message`` is the marker line, the packet as sent or
received, and Asterisk's LF: the ``full`` entry, JSON-escaped. Every entry is one line, so an
entry is whole once its LF is written. The key order is jansson's: a build that does not keep
insertion order writes them in another, so fields are read from the decoded object, never by
position.

Asterisk formats the JSON into its buffer of 8192 bytes too (``LOGMSG_SIZE``): the entry of a
message of more than about 7 KB is cut at 8191 bytes and ends there, with its LF, no longer
valid JSON. Its message up to the cut is read and stored as cut, as a cut ``full`` entry is.

Offsets: a record's offset is its entry's line start. A packet holding several messages (the
TCP quirk, see ``packets``) numbers the later ones from there by their place in the decoded
packet: distinct, stable across runs, and inside the entry's line.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from sipparse.logs.dialects import AsteriskRules, Dialect
from sipparse.logs.full import CUT_ENTRY, LOOSE_MARKER, UNREAD_MARKER, marker_of
from sipparse.logs.packets import MAX_MESSAGE, Marker, PacketBuilder
from sipparse.logs.timestamps import TimestampParser

CUT_PROBLEM = f"Asterisk cut its log entry at {CUT_ENTRY} bytes"
JSON_CUT = "log entry cut short inside its JSON (rsyslog's maxMessageSize, 8 KiB unless set)"
NOT_JSON = "a log entry of the json format that is not the JSON Asterisk writes"
# A JSON string's text in a cut entry: its closing quote may be gone with the cut.
_STRING = rb'"((?:[^"\\\n]|\\[^\n])*)("?)'
_CUT_MESSAGE = re.compile(rb'"message":' + _STRING)
_CUT_TIMESTAMP = re.compile(rb'"timestamp":' + _STRING)
# The end of a cut string that cannot be decoded: a lone backslash, a \u escape's first digits.
_PARTIAL_ESCAPE = re.compile(rb"\\(?:u[0-9A-Fa-f]{0,3})?\Z")


class JsonLayout:
    """Reads the entries of a ``json``-layout log from byte buffers."""

    def __init__(self, dialect: Dialect, rules: AsteriskRules, builder: PacketBuilder,
                 timestamps: TimestampParser) -> None:
        self.dialect = dialect
        self.rules = rules
        self.builder = builder
        self.timestamps = timestamps
        self._skipping = False  # inside a line too long to keep, rejected by ``force``

    def checkpoint(self, done: int) -> int:
        """Offset a later run must resume from: everything before ``done`` is read, but for
        the segments whose dumps are still to come (``PacketBuilder.held``)."""
        return min([done, *self.builder.held(done)])

    def feed(self, buf: bytes, base: int, final: bool) -> int:
        """Read the whole lines of ``buf`` (file offset ``base``), and its last line too when
        ``final``; return how many bytes are done."""
        start = 0
        if self._skipping:  # the rest of a line ``force`` gave up on: it goes up to its end
            newline = buf.find(b"\n")
            if newline < 0:
                return len(buf)
            self._skipping, start = False, newline + 1
        while start < len(buf):
            newline = buf.find(b"\n", start)
            if newline < 0 and not final:
                break
            end = len(buf) if newline < 0 else newline + 1
            self._entry(buf[start:end], base + start, base + end)
            start = end
        if final:
            self.builder.release()
        return start

    def force(self, buf: bytes, base: int) -> int:
        """Give up on a line too long to keep: reject its first bytes, skip to its end."""
        self.builder.reject(base, base + len(buf), f"log line longer than {MAX_MESSAGE} bytes", buf)
        self._skipping = not buf.endswith(b"\n")
        return len(buf)

    def _entry(self, line: bytes, offset: int, end: int) -> None:
        text = line.rstrip(b"\r\n")
        if b"<--- " not in text:  # no packet: a dialplan line, a NOTICE, a blank line
            self.builder.out.skipped += 1
            return
        entry = entry_of(text)
        # a file channel's line is cut only by Asterisk's buffer; another (a disk that filled up) is a reject
        if entry is None or (entry.cut and len(text) != CUT_ENTRY):
            self.builder.reject(offset, end, NOT_JSON, text)
            return
        self._message(entry.message, entry.timestamp, offset, end, text, CUT_PROBLEM if entry.cut else None)

    def _message(self, message: bytes, stamp: str | None, offset: int, end: int, raw: bytes,
                 problem: str | None = None) -> None:
        timestamp = self.timestamps(stamp) if stamp else None
        found = packet_of(message, self.rules, cut=problem is not None)
        if found is None:
            if LOOSE_MARKER.match(message):
                self.builder.reject(offset, end, UNREAD_MARKER, raw, timestamp)
            else:  # a dialplan line or a NOTICE that quotes a marker: no packet
                self.builder.out.skipped += 1
            return
        marker, packet = found
        problems = [problem] if problem else None
        if len(packet) > MAX_MESSAGE:
            packet, problems = packet[:MAX_MESSAGE], ["packet cut at 1 MiB"]
        self.builder.packet(packet, offset, end, offset, timestamp, marker, problems=problems)


def packet_of(message: bytes, rules: AsteriskRules, cut: bool = False) -> tuple[Marker, bytes] | None:
    """The marker and packet of a packet logger's ``message`` (its marker line, the packet,
    Asterisk's LF), or None when it is no packet logger's. ``cut``: the message was cut, so
    its last LF is the packet's own."""
    marker = rules.marker.match(message)
    if marker is None:
        return None
    body = message.find(b"\n", marker.end()) + 1 or len(message)
    packet = message[body:]
    if not cut and packet.endswith(b"\n"):
        packet = packet[:-1]  # the LF Asterisk writes after the packet
    return marker_of(marker, rules.marker_groups), packet


class Entry(NamedTuple):
    """What a ``[json]`` entry logged: its ``message`` (UTF-8) and its time stamp's text."""

    message: bytes
    timestamp: str | None
    cut: bool  # the JSON ends inside the message: ``message`` is what came before the cut


def entry_of(text: bytes) -> Entry | None:
    """The entry a line of the ``[json]`` formatter holds (``text``: the line, without its LF
    or any syslog prefix), or None when it holds none. A line whose JSON ends inside the
    message's string was cut: its message is read up to the cut."""
    try:
        entry = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: a line of thousands of nested brackets
        return _cut_entry(text)
    logmsg = entry.get("logmsg") if isinstance(entry, dict) else None
    message = logmsg.get("message") if isinstance(logmsg, dict) else None
    if not isinstance(message, str):
        return None
    stamp = entry.get("timestamp")
    return Entry(message.encode("utf-8", "surrogatepass"), stamp if isinstance(stamp, str) else None, False)


def _cut_entry(text: bytes) -> Entry | None:
    message = _CUT_MESSAGE.search(text)
    if message is None or message.group(2):  # no message, or a whole one: the JSON is broken elsewhere
        return None
    stamp = _CUT_TIMESTAMP.search(text, 0, message.start())
    return Entry(_decoded(message.group(1)).encode("utf-8", "surrogatepass"),
                 _decoded(stamp.group(1)) if stamp is not None else None, True)


def _decoded(text: bytes) -> str:
    """A JSON string's text cut anywhere: decoded up to its last whole character (jansson
    writes valid UTF-8, so only the cut can leave a character's first bytes)."""
    text = _PARTIAL_ESCAPE.sub(b"", text)
    try:
        return json.loads('"' + text.decode("utf-8", "ignore") + '"')  # type: ignore[no-any-return]
    except ValueError:  # not JSON's escapes: kept as written
        return text.decode("utf-8", "replace")
