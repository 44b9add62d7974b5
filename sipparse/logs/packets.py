"""From one logged packet (the bytes after a marker, or a reassembled run of lines) to records.

Shared by both layouts.  The packet logger's marker says how many bytes the message had;
that number also settles Asterisk's TCP quirk: when one segment carries two messages,
Asterisk logs the whole segment once per message, each time announcing the length of the
message it is about.  So from a dump holding several messages only the one whose length
matches the marker is taken (each message then comes out once, from its own dump); when
none matches, every message of the dump is taken.  When several match (two OPTIONS of one
length), the dumps of one segment follow its messages' order: each dump of the same bytes
takes the next of them, and until the last of them is taken a later run resumes at the
segment's first dump (``held``), which tells it what the dumps took.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from sipparse.sip.framing import Frame, frame_packet
from sipparse.sip.message import Reject, SipMessage, Source
from sipparse.sip.parser import CACHE_LIMIT, MessageParser
from sipparse.sip.sdp import sdp_text

MAX_MESSAGE = 1 << 20  # bytes kept of one message or log line; larger ones are rejected
DUMPS_KEPT = 64  # segments of several messages of one length remembered, for the dumps still to come
# Log past a segment's dumps, beyond which its next dump is not waited for: Asterisk logs them
# one after the other, with at most a few entries of other threads between them.
DUMPS_SLACK = 256 << 10


class Marker(NamedTuple):
    """What a ``<--- Received/Transmitting ... --->`` line says (one per logged packet: a
    tuple is built several times faster than a frozen dataclass)."""

    direction: str  # "in" | "out"
    transport: str
    peer: str
    size: int

    @property
    def stream(self) -> bool:
        return self.transport.upper() != "UDP"


@dataclass(slots=True)
class Output:
    """Records produced while reading, collected per batch."""

    messages: list[SipMessage] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    skipped: int = 0


class PacketBuilder:
    """Frames packets and turns each message into a ``SipMessage`` or a ``Reject``."""

    def __init__(self, parser: MessageParser, source: Source, dialect: str, out: Output) -> None:
        self.parser = parser
        self.source = source
        self.dialect = dialect
        self.out = out
        self._taken: dict[bytes, int] = {}  # such a segment -> the index of the message its last dump took
        # such a segment, dumps to come -> its first dump's offset, and where its dumps must have come by
        self._first_dump: dict[bytes, tuple[int, int]] = {}

    def packet(self, data: bytes, offset: int, end: int, body_offset: int, timestamp: datetime | None,
               marker: Marker | None, host: str | None = None, pid: int | None = None,
               problems: list[str] | None = None) -> None:
        """Emit the message(s) of one packet.

        :param offset: file offset of the packet's first log line (the marker line, if any)
        :param body_offset: file offset where ``data`` begins, for messages after the first
        """
        scan = self.parser.scan(data) if self.parser.scan is not None else None
        if scan is not None:  # the usual packet, read by the C scanner
            notes = list(problems) if problems else []
            if marker is not None and scan[0] != marker.size:
                notes.append(f"marker announced {marker.size} bytes, message has {scan[0]}")
            direction, transport, peer, size = marker if marker is not None else (None, None, None, None)
            self._emit(self.parser.scanned(data, scan, notes, self.source, offset, end, timestamp, direction,
                                           transport, peer, size, host, pid, self.dialect))
            return
        frames = frame_packet(data, marker.stream if marker else False)
        if not frames:
            self.reject(offset, end, "a packet marker with no message after it", data, timestamp, host)
            return
        if marker is None:
            direction = transport = peer = size = None
        else:
            direction, transport, peer, size = marker
        if len(frames) == 1:  # the usual packet: no choice to make
            frame = frames[0]
            notes = list(problems) if problems else []
            if marker is not None and frame.end - frame.start != size:
                notes.append(f"marker announced {size} bytes, message has {frame.end - frame.start}")
            self._emit(self.parser.record(data, frame, notes, self.source, offset, end, timestamp, direction,
                                          transport, peer, size, host, pid, self.dialect))
            return
        chosen = enumerate(frames) if marker is None else self._chosen(data, frames, size, offset)  # type: ignore[arg-type]
        for index, frame in chosen:
            start = offset if index == 0 else body_offset + frame.start
            self._emit(self.parser.record(data, frame, list(problems) if problems else [], self.source, start,
                                          end, timestamp, direction, transport, peer, size, host, pid,
                                          self.dialect))

    def reader_context(self, timestamps: Any, slow: Callable[[int, int], None] | None = None) -> tuple[Any, ...]:
        """What the C readers of the layouts need (``_scan.c``'s CX_* order): where records go,
        the parser's caches with the helpers that fill them, the time stamp cache, and the
        layout's own reading of an entry the C reader leaves to Python. Built per batch: the
        output lists are new each batch."""
        parser = self.parser
        return (self.source, self.dialect, self.out.messages, SipMessage, parser._starts, parser._start_of,
                parser._cseqs, parser._cseq, parser._vias, parser._via, parser._addresses, parser._address,
                parser.reason_and_cause, sdp_text, timestamps._cache, timestamps, slow, parser._c_address,
                parser._c_via, parser._c_start, CACHE_LIMIT)

    def _emit(self, record: SipMessage | Reject) -> None:
        if record.__class__ is SipMessage:
            self.out.messages.append(record)  # type: ignore[arg-type]
        else:
            self.out.rejects.append(record)  # type: ignore[arg-type]

    def reject(self, offset: int, end: int, reason: str, raw: bytes, timestamp: datetime | None = None,
               host: str | None = None) -> None:
        """Record a piece of log that could not be read as SIP."""
        self.out.rejects.append(Reject(self.source, offset, end, reason, raw[:MAX_MESSAGE], timestamp, host))

    def held(self, done: int) -> list[int]:
        """Where the segments begin whose dumps are still to come (see the module doc), the
        log read up to ``done``. A segment whose next dump has not come within its dumps'
        length and ``DUMPS_SLACK`` is logged once only: held for good, it would keep every
        later run re-reading the log from it."""
        self._first_dump = {data: hold for data, hold in self._first_dump.items() if hold[1] > done}
        return [offset for offset, _ in self._first_dump.values()]

    def release(self) -> None:
        """Forget the dumps still to come: the log ends here."""
        self._first_dump.clear()

    def _chosen(self, data: bytes, frames: list[Frame], size: int, offset: int) -> list[tuple[int, Frame]]:
        """The frame whose length the marker announced, else every frame; of several of that
        length, the one after the frame the last dump of these bytes took."""
        fits = [index for index, frame in enumerate(frames) if frame.end - frame.start == size]
        if not fits:
            return list(enumerate(frames))
        chosen = fits[0]
        if len(fits) > 1:
            data = data[frames[0].start:frames[-1].end]  # the segment, whatever the log put around it
            last = self._taken.get(data, -1)
            chosen = next((index for index in fits if index > last), chosen)
            if len(self._taken) >= DUMPS_KEPT:
                self._taken.clear()
            self._taken[data] = chosen
            if chosen == fits[0]:
                self._first_dump[data] = (offset, offset + len(fits) * len(data) + DUMPS_SLACK)
            if chosen == fits[-1]:
                self._first_dump.pop(data, None)
        return [(0, frames[chosen])]
