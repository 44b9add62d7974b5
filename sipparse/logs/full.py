"""The ``full`` layout: Asterisk's file channels (``/var/log/asterisk/full``, ``pjsip``).

Every log entry begins with a prefixed line (``[Nov 29 14:06:35] VERBOSE[2931] ...``); the
packet logger's entry is a marker line followed by the packet exactly as sent or received
(CRLF kept, unprefixed), then one LF.  An entry ends where the next one begins.  The last
entry of the data read so far is complete only when its message is whole by Content-Length
and Asterisk's closing LF is there; otherwise it waits for more data (or, at the end of a
file that will not grow, is taken as it is).

Asterisk formats each entry into a buffer of 8192 bytes (``LOGMSG_SIZE`` in logger.c): the
entry of a message of more than about 8 KB (a WebRTC INVITE with its ICE candidates) is cut
at 8191 bytes, without its LF, and the next entry follows on the same line.  Such a next
entry is found where the cut one ends, and the cut message is stored as cut.  A line cut
anywhere else (a disk that filled up) may have a packet logger entry glued to it too: its
prefix and origin right before its marker, inside the line, begin it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from operator import sub

from sipparse.logs.dialects import CONSOLE, AsteriskRules, Dialect, unanchored
from sipparse.logs.packets import MAX_MESSAGE, Marker, PacketBuilder
from sipparse.logs.timestamps import TimestampParser
from sipparse.sip import accel
from sipparse.sip.framing import frame_packet

# A packet logger marker however the rest of it looks: one that ASTERISK_ORIGIN and
# ASTERISK_PJSIP_MARKER do not read is a reject, not a line skipped as no SIP.
LOOSE_MARKER = re.compile(rb"<--- (?:Received|Transmitting) SIP ")
UNREAD_MARKER = "a packet logger marker in a shape the log's dialect does not read"

# chan_sip's packet dump ("sip set debug on"), on the line after its entry's prefix: no
# packet logger output, so a reject that says what it is rather than lines skipped unsaid.
CHAN_SIP_DUMP = re.compile(rb"<--- (?:SIP read from |(?:Reliably )?Transmitting \()")
CHAN_SIP_REASON = ("chan_sip's packet dump (sip set debug on), not read: sipparse reads res_pjsip's "
                   "packet logger (pjsip set logger on)")

# The opening of a packet logger marker, where one is looked for at any offset.
_MARKER_TEXT = re.compile(re.escape(b"<--- "))

# The note of a message of a console capture without time stamps.
NO_CONSOLE_TIME = "no time stamp: the console shows none (asterisk -rvvvT shows them)"

# A Content-Length header (or its compact form), its value in group 1.
_COPIED_LENGTH = re.compile(rb"^(?:Content-Length|l)[ \t]*:[ \t]*([0-9]+)[ \t]*$", re.I | re.M)

# The length of an entry Asterisk cut (logger.c formats it into a buffer of LOGMSG_SIZE, 8192 bytes).
CUT_ENTRY = 8191


class FullLayout:
    """Reads entries of a ``full``-layout log from byte buffers."""

    def __init__(self, dialect: Dialect, rules: AsteriskRules, builder: PacketBuilder,
                 timestamps: TimestampParser, fast: bool = False) -> None:
        """``fast``: the patterns are the bundled ones, which the C reader implements; it is
        used when the C scanner is there too."""
        self.dialect = dialect
        self.rules = rules
        self.builder = builder
        self.timestamps = timestamps
        self._ts_group = dialect.groups["timestamp"]
        self._size_group = rules.marker_groups["bytes"]
        # a console capture's "[time] " is optional: its lines have no one first byte
        self._lead_byte = None if dialect.name == CONSOLE else _literal_lead(dialect.prefix.pattern)
        self._lead = re.compile(re.escape(b"\n" + self._lead_byte)) if self._lead_byte else None
        # the prefix at any offset, not only at a line start: an entry after a cut one
        self._glued = unanchored(dialect.prefix)
        self._fast = fast and builder.parser.scan is not None and accel.reader is not None
        # a console capture: the marker right after the prefix, no origin between; the
        # lines after a packet are the CLI's own (prompts, dialplan lines), no SIP
        self._console = dialect.name == CONSOLE
        self._skipping = False  # inside a line too long to keep, rejected by ``force``

    def checkpoint(self, done: int) -> int:
        """Offset a later run must resume from: everything before ``done`` is read, but for
        the segments whose dumps are still to come (``PacketBuilder.held``)."""
        return min([done, *self.builder.held(done)])

    def feed(self, buf: bytes, base: int, final: bool) -> int:
        """Read the entries of ``buf`` (file offset ``base``); return how many bytes are done."""
        done = self._feed(buf, base, final)
        if final:
            self.builder.release()
        return done

    def _feed(self, buf: bytes, base: int, final: bool) -> int:
        if self._skipping:  # the rest of a line ``force`` gave up on: it goes up to its end
            if b"\n" not in buf:
                return len(buf)
            self._skipping = False
        if self._fast and not _may_end_hole(buf):  # a hole (see ``_before_hole``): Python reads around it
            offsets = accel.reader.full_entry_starts(buf, final)
            if offsets is not None:
                return self._feed_fast(buf, base, final, self._glued_offsets(buf, offsets))
        return self._feed_entries(buf, base, final)

    def _feed_entries(self, buf: bytes, base: int, final: bool) -> int:
        """``feed`` in Python: any prefix pattern, every entry through ``_entry``."""
        starts = self._with_glued(buf, self._with_marker_entries(buf, list(self._entries(buf)), final))
        # lines before the first entry: the tail of an entry begun before this buffer
        done = starts[0].start() if starts else (len(buf) if final else buf.rfind(b"\n") + 1)
        self.builder.out.skipped += buf.count(b"\n", 0, done)
        for i, match in enumerate(starts):
            last = i + 1 == len(starts)
            end = len(buf) if last else starts[i + 1].start()
            if last and not final:
                end = self._complete_end(buf, match)
                if end is None:
                    return match.start()
            self._entry(buf, base, match, end)
            done = end
        return done

    def _feed_fast(self, buf: bytes, base: int, final: bool, starts: list[int]) -> int:
        """``feed`` with the C reader: entry boundaries and packets as the slow path finds them."""
        done = starts[0] if starts else (len(buf) if final else buf.rfind(b"\n") + 1)
        self.builder.out.skipped += buf.count(b"\n", 0, done)
        if not starts:
            return done
        count, last_end = len(starts), len(buf)
        if not final:
            match = self._glued.match(buf, starts[-1])
            if match is None:  # cannot be (the C reader implements the pattern); Python decides
                return self._feed_entries(buf, base, final)
            end = self._complete_end(buf, match)
            if end is None:
                count, last_end = count - 1, starts[-1]
            else:
                last_end = end
        def slow(start: int, end: int) -> None:  # an entry the C reader leaves to Python
            self._entry(buf, base, self._glued.match(buf, start), end)

        # the lines of entries without a packet (dialplan lines...) come back counted; added
        # after the call, as ``slow`` counts too
        skipped = accel.reader.read_full_entries(buf, base, starts, count, last_end,
                                                 self.builder.reader_context(self.timestamps, slow))
        self.builder.out.skipped += skipped
        return last_end

    def force(self, buf: bytes, base: int) -> int:
        """Give up on an entry too large to keep: reject its first bytes, skip the rest.

        A packet whole by its Content-Length at the entry's head is stored first, as
        ``_entry`` stores it: only what follows it (a line without a prefix) is too large,
        or a hole of NULs, which the reader passes over. Until more than ``MAX_MESSAGE``
        bytes follow it, the entry may still end as a message and a few bytes ignored: 0,
        wait for more."""
        head = self._glued.match(buf)
        packet_end = self._whole_packet_end(buf, head) or 0
        if packet_end:
            hole = buf[packet_end:packet_end + 1] == b"\0"  # the reader passes over it
            if len(buf) - packet_end <= MAX_MESSAGE and not hole:
                return 0
            self._entry(buf, base, head, packet_end)
            if hole:
                return packet_end
        self.builder.reject(base + packet_end, base + len(buf), f"log entry larger than {MAX_MESSAGE} bytes",
                            buf[packet_end:])
        self._skipping = not buf.endswith(b"\n")
        return len(buf)

    def _whole_packet_end(self, buf: bytes, match: re.Match[bytes] | None) -> int | None:
        """Where the packet of the packet logger entry whose prefix is ``match`` ends, Asterisk's
        LF included, when it is whole by its Content-Length within ``MAX_MESSAGE``; else None."""
        marker = self._marker(buf, match) if match is not None else None
        if marker is None:
            return None
        body = buf.find(b"\n", marker.end(), marker.end() + MAX_MESSAGE) + 1
        payload = buf[body:body + MAX_MESSAGE + 1]
        frames = frame_packet(payload, True) if body else []
        if not frames or frames[-1].content_length is None or payload[frames[-1].end:frames[-1].end + 1] != b"\n":
            return None
        return body + frames[-1].end + 1

    def _entries(self, buf: bytes) -> Iterator[re.Match[bytes]]:
        prefix = self.dialect.prefix
        if self._lead is None:
            yield from prefix.finditer(buf)
            return
        if buf[:1] == self._lead_byte:
            match = prefix.match(buf, 0)
            if match:
                yield match
        for hit in self._lead.finditer(buf):
            match = prefix.match(buf, hit.start() + 1)
            if match:
                yield match

    def _with_marker_entries(self, buf: bytes, starts: list[re.Match[bytes]],
                             final: bool) -> list[re.Match[bytes]]:
        """``starts`` with the entries that begin inside a line: the line before them was cut
        without its LF (a disk that filled up, a copy stopped short).  A packet logger entry's
        prefix and origin come right before its marker; another entry's prefix and origin
        follow the text of the line's own entry, if it has one (as ``full_entry_starts``
        finds); unless the line lies in the packet of the entry before it (see ``_announced``).
        So too a line that begins as an entry inside the packet of the line's entry before it:
        that packet's text however it looks (a MESSAGE, which anyone may send, quoting a
        packet logger entry and a message of another call)."""
        by_offset = {match.start(): match for match in starts}
        after = dict(zip(by_offset, [*by_offset][1:], strict=False))  # the line-start entry after each
        glued = self._plain_entries_inside_lines(buf, by_offset)
        packet_ends: dict[int, int] = {}  # the end its marker announces, of each packet logger entry of a line
        quoting = False  # whether the line-start entry after one lies before that end
        for hit in _MARKER_TEXT.finditer(buf):
            line = buf.rfind(b"\n", 0, hit.start()) + 1
            own = by_offset.get(line)
            marker = self._marker(buf, own) if own is not None else None
            if marker is not None and marker.start() == hit.start():
                if line in after:  # the entry after it on a line of its own: inside the packet?
                    packet_ends[line] = end = self._announced_end(buf, marker)
                    quoting = quoting or after[line] < end
            else:
                # after the line's own prefix: an origin there with its own stamp is the entry's
                entry = self._entry_before(buf, own.end() + 1 if own is not None else line + 1, hit.start())
                if entry is not None:
                    glued.append(entry)
        if not glued and not quoting:
            return starts
        out: list[re.Match[bytes]] = []
        for match in sorted(starts + glued, key=lambda match: match.start()):
            if out and match.start() == out[-1].start():
                continue
            inside = out and (match in glued or match.start() < packet_ends.get(out[-1].start(), -1))
            if not (inside and self._announced(buf, out[-1], match.start(), final)):
                out.append(match)
        return out

    def _announced_end(self, buf: bytes, marker: re.Match[bytes]) -> int:
        """Where the packet after ``marker`` ends as the marker announces it (-1: unknown)."""
        body = buf.find(b"\n", marker.end()) + 1
        size = marker.group(self._size_group)
        return body + int(size) if body and len(size) <= 9 else -1

    def _announced(self, buf: bytes, entry: re.Match[bytes], inside: int, final: bool) -> bool:
        """Whether ``buf[inside]`` lies in the packet of the packet logger ``entry``, whole:
        the packet is the size its marker announces, and Asterisk's LF and the next entry (or
        the end of the data) right after it.  A prefix there is the packet's text (a MESSAGE
        quoting a log entry), not an entry glued to a cut line.  When the data ends before
        the packet would, only more data tells (none comes once ``final``), unless a line
        after ``inside`` begins an entry before that end: the packet was cut."""
        marker = self._marker(buf, entry)
        if marker is None:
            return False
        body = buf.find(b"\n", marker.end()) + 1
        end = body + marker_of(marker, self.rules.marker_groups).size
        if body == 0 or end - body > MAX_MESSAGE or buf.find(b"\n", inside) >= end:
            return False
        if end >= len(buf):
            return (end == len(buf) or not final) and not self._entry_line_before(buf, inside, end)
        if buf[end] != 10:
            return False
        if end + 1 < len(buf) and not final and buf.find(b"\n", end + 1) < 0:
            return True  # the next line not whole yet: only its prefix, once whole, tells
        return end + 1 == len(buf) or self._glued.match(buf, end + 1) is not None

    def _plain_entries_inside_lines(self, buf: bytes, by_offset: dict[int, re.Match[bytes]]) -> list[re.Match[bytes]]:
        """The entries without a marker whose prefix and origin begin inside a line (after the
        text of the line's own entry, if it has one): glued to a cut line."""
        found = []
        for match in self._glued.finditer(buf):
            line = buf.rfind(b"\n", 0, match.start()) + 1
            own = by_offset.get(line)
            if match.start() == line or (own is not None and match.start() < own.end()):
                continue
            origin = self.rules.origin.match(buf, match.end())
            if origin is not None and not buf.startswith(b"<--- ", origin.end()):  # a marker's: ``_entry_before``
                found.append(match)
        return found

    def _entry_line_before(self, buf: bytes, start: int, end: int) -> bool:
        """Whether a line of ``buf[start:end]`` (from the line after ``start``'s) begins an entry."""
        at = buf.find(b"\n", start, end)
        while at >= 0:
            if self._glued.match(buf, at + 1) is not None:
                return True
            at = buf.find(b"\n", at + 1, end)
        return False

    def _entry_before(self, buf: bytes, start: int, marker: int) -> re.Match[bytes] | None:
        """The entry whose prefix and origin lie in ``buf[start:marker]``, ending at the marker."""
        while (match := self._glued.search(buf, start, marker)) is not None:
            origin = self.rules.origin.match(buf, match.end())
            if origin is not None and origin.end() == marker:
                return match
            start = match.start() + 1
        return None

    def _with_glued(self, buf: bytes, starts: list[re.Match[bytes]]) -> list[re.Match[bytes]]:
        """``starts`` with the entries that follow a cut one on its line (see the module doc)."""
        if not starts:
            return starts
        ends = [match.start() for match in starts[1:]] + [len(buf)]
        if all(end - match.start() <= CUT_ENTRY for match, end in zip(starts, ends, strict=True)):
            return starts
        out = []
        for match, end in zip(starts, ends, strict=True):
            out.append(match)
            while (glued := self._glued_after(buf, out[-1].start(), end)) is not None:
                out.append(glued)
        return out

    def _glued_offsets(self, buf: bytes, starts: list[int]) -> list[int]:
        """``_with_glued`` for the C reader's entry offsets."""
        if not starts:
            return starts
        ends = starts[1:] + [len(buf)]
        if max(map(sub, ends, starts)) <= CUT_ENTRY:
            return starts
        out = []
        for start, end in zip(starts, ends, strict=True):
            out.append(start)
            while (glued := self._glued_after(buf, out[-1], end)) is not None:
                out.append(glued.start())
        return out

    def _glued_after(self, buf: bytes, start: int, end: int) -> re.Match[bytes] | None:
        """The entry Asterisk wrote right after the entry at ``start`` when it cut that one,
        before ``end``: a prefix exactly CUT_ENTRY bytes on, where no line begins."""
        at = start + CUT_ENTRY
        if at >= end or buf[at - 1] == 10:
            return None
        return self._glued.match(buf, at)

    def _complete_end(self, buf: bytes, match: re.Match[bytes]) -> int | None:
        """Where the last entry ends if it is already whole, else None."""
        line_end = buf.find(b"\n", match.end())
        if line_end < 0:
            return None
        if self._console:  # the lines after a whole packet are the CLI's, no part of the entry
            packet_end = self._whole_packet_end(buf, match) or self._copied_packet_end(buf, match, len(buf))
            if packet_end is not None:
                return packet_end
        if self._marker(buf, match) is None and not LOOSE_MARKER.search(buf, match.end(), line_end):
            return buf.rfind(b"\n") + 1
        # a marker, read or not (a reject then): its packet tells where the entry ends, so a
        # run never rejects the first lines of an entry and leaves the rest as skipped lines
        payload = buf[line_end + 1:]
        frames = frame_packet(payload, True)
        if not frames or frames[-1].content_length is None or frames[-1].end >= len(payload):
            return None
        if frames[-1].problems and "body bytes" in frames[-1].problems[-1]:
            return None
        end = frames[-1].end
        if payload[end:end + 1] != b"\n" and self._lead is not None \
                and self._lead.search(payload, frames[-1].body_start - 1, end + 1):
            # a Content-Length too large: the body as counted runs past Asterisk's LF into
            # the first bytes of the next entry; only that entry's prefix, once whole,
            # tells where this one ends, so wait for it rather than eat its first bytes.
            # From the LF before the body: a header section ended by a bare LF (no empty
            # line) has its body begin at the next entry's first byte.
            return None
        if payload[end:end + 1] != b"\n" and payload[end:].strip():
            # more of the packet than line ends after its last message: a TCP segment's next
            # message, begun but too short yet to read as one ("OPTIONS sip:x"); it, or the
            # next entry's prefix, comes with the rest of the entry
            return None
        if payload[end + 1:].strip():
            # bytes after Asterisk's LF that begin no entry (garbage, a hole): they are the
            # entry's up to the next one, as when a batch holds both (a "bytes after the
            # message ignored" problem; a hole ``_before_hole`` leaves out), so wait for it
            return None
        return line_end + 1 + end + 1

    def _before_hole(self, buf: bytes, body: int, end: int) -> int:
        """Where an entry ends when a hole of NULs follows its packet (see ``reader.end_holes``):
        before the hole, a line skipped, when the packet is whole by Content-Length with
        Asterisk's LF after it. The hole was part of the entry when the batch held both, and
        a "bytes after the message ignored" problem of it, not when a batch ended before it."""
        hole = end - 1
        while hole > body and buf[hole - 1] == 0:
            hole -= 1
        if hole == end - 1 or buf[hole - 1] != 10:
            return end
        payload = buf[body:hole]
        frames = frame_packet(payload, True)
        if not frames or frames[-1].content_length is None or payload[frames[-1].end:] != b"\n":
            return end
        self.builder.out.skipped += 1
        return hole

    def _marker(self, buf: bytes, match: re.Match[bytes]) -> re.Match[bytes] | None:
        origin = self.rules.origin.match(buf, match.end())
        if origin is None:
            return self.rules.marker.match(buf, match.end()) if self._console else None
        return self.rules.marker.match(buf, origin.end())

    def _copied_packet_end(self, buf: bytes, match: re.Match[bytes], end: int) -> int | None:
        """Where the packet of a console capture copied without its CRs ends (text copied
        from a terminal or a web page loses them): its Content-Length counts each body line
        with its CRLF, of which the copy kept the LF alone. Its body, so counted, ends at a
        line end followed by the empty line Asterisk prints after a packet; None when it
        does not (a body whose Content-Length says otherwise is left to the usual framing)."""
        marker = self._marker(buf, match)
        head = buf.find(b"\n", marker.end(), end) + 1 if marker is not None else 0
        separator = buf.find(b"\n\n", head, end) if head else -1
        if separator < 0 or b"\r" in buf[head:separator]:
            return None
        size = _COPIED_LENGTH.search(buf, head, separator + 1)
        if size is None or len(size.group(1)) > 9:
            return None
        at, left = separator + 2, int(size.group(1))
        while left > 0:
            line_end = buf.find(b"\n", at, end)
            if line_end < 0:
                return None
            left -= line_end - at + 2
            at = line_end + 1
        return at + 1 if left == 0 and buf[at:at + 1] == b"\n" else None

    def _timestamp(self, match: re.Match[bytes]) -> datetime | None:
        """The entry's time, None when its prefix has none (a console capture without ``-T``)."""
        text = match.group(self._ts_group)
        return None if text is None else self.timestamps(text)

    def _console_packet_end(self, buf: bytes, match: re.Match[bytes], end: int) -> int:
        """Where a console capture's packet ends: the lines after it that the CLI printed
        before the next marker are skipped as no SIP, not stored as bytes of the message.
        ``end`` when the packet is not whole by its Content-Length there."""
        packet_end = self._whole_packet_end(buf, match) or self._copied_packet_end(buf, match, end)
        if packet_end is None or packet_end >= end:
            return end
        self.builder.out.skipped += max(1, buf.count(b"\n", packet_end, end))
        return packet_end

    def _entry(self, buf: bytes, base: int, match: re.Match[bytes], end: int) -> None:
        marker = self._marker(buf, match)
        if marker is None:
            line_end = buf.find(b"\n", match.end(), end)
            if LOOSE_MARKER.search(buf, match.end(), line_end if line_end >= 0 else end):
                self.builder.reject(base + match.start(), base + end, UNREAD_MARKER, buf[match.start():end],
                                    self._timestamp(match))
                return
            if line_end >= 0 and CHAN_SIP_DUMP.match(buf, line_end + 1, end):
                self.builder.reject(base + match.start(), base + end, CHAN_SIP_REASON, buf[match.start():end],
                                    self._timestamp(match))
                return
            self.builder.out.skipped += max(1, buf.count(b"\n", match.start(), end))
            return
        if self._console:
            end = self._console_packet_end(buf, match, end)
        line_end = buf.find(b"\n", marker.end(), end)
        body = line_end + 1 if line_end >= 0 else end
        end = self._before_hole(buf, body, end)
        stop = end - 1 if end > body and buf[end - 1] == 10 else end  # the LF Asterisk writes after the packet
        if stop - body > MAX_MESSAGE and self._split_oversized(buf, base, match, end):
            return
        timestamp = self._timestamp(match)
        problems = None if stop - body <= MAX_MESSAGE else ["packet cut at 1 MiB"]
        if match.group(self._ts_group) is None:
            problems = [*(problems or []), NO_CONSOLE_TIME]
        if end - match.start() == CUT_ENTRY and stop == end and self._glued.match(buf, end):
            problems = [f"Asterisk cut its log entry at {CUT_ENTRY} bytes"]
        self.builder.packet(buf[body:min(stop, body + MAX_MESSAGE)], base + match.start(), base + end, base + body,
                            timestamp, marker_of(marker, self.rules.marker_groups), problems=problems)

    def _split_oversized(self, buf: bytes, base: int, match: re.Match[bytes], end: int) -> bool:
        """Store a whole packet, then reject what follows it in its entry, when that is more
        than ``MAX_MESSAGE`` bytes, as ``force`` does when no batch holds the entry whole."""
        packet_end = self._whole_packet_end(buf, match)
        if packet_end is None or end - packet_end <= MAX_MESSAGE:
            return False
        self._entry(buf, base, match, packet_end)
        self.builder.reject(base + packet_end, base + end, f"log entry larger than {MAX_MESSAGE} bytes",
                            buf[packet_end:end])
        return True


# What a marker announcing more digits than int() converts is read as: more than any
# column holds, so storage keeps NULL and says why.
_ABSURD_SIZE = 1 << 63


def marker_of(match: re.Match[bytes], groups: dict[str, int]) -> Marker:
    """The ``Marker`` of a match of ASTERISK_PJSIP_MARKER."""
    verb, transport, peer, size = match.group(
        groups["verb"], groups["transport"], groups["peer"], groups["bytes"]
    )
    return Marker("in" if verb == b"Received" else "out", transport.decode("ascii", "replace").upper(),
                  peer.decode("utf-8", "replace"), int(size) if len(size) <= 18 else _ABSURD_SIZE)


def _may_end_hole(buf: bytes) -> bool:
    """Whether ``buf`` holds a NUL before an LF, where a hole may end. A NUL alone is
    looked for first: that search is ``memchr``, 20 times faster than the two-byte one, and
    a log without holes, nearly every one, never needs the second (3-4% of an ingest's CPU
    time on a ``full`` log)."""
    return b"\x00" in buf and b"\x00\n" in buf


def _literal_lead(pattern: bytes) -> bytes | None:
    """The literal byte every match of a prefix pattern starts with, when there is one."""
    text = pattern
    for opener in (b"^", b"(?:", b"(?:", b"(?:"):
        text = text.removeprefix(opener)
    if text[:1] == b"\\" and text[1:2] and not text[1:2].isalnum():
        return text[1:2]
    return None
