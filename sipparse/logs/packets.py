"""From one logged packet (the bytes after a marker, or a reassembled run of lines) to records.

Shared by both layouts.  The packet logger's marker says how many bytes the message had;
that number also settles Asterisk's TCP quirk: when one segment carries two messages,
Asterisk logs the whole segment once per message, each time announcing the length of the
message it is about.  So from a dump holding several messages only the one whose length
matches the marker is taken (each message then comes out once, from its own dump); when
none matches, every message of the dump is taken.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sipparse.sip.framing import Frame, frame_packet
from sipparse.sip.message import Reject, SipMessage, Source
from sipparse.sip.parser import Envelope, MessageParser

MAX_MESSAGE = 1 << 20  # bytes kept of one message or log line; larger ones are rejected


@dataclass(frozen=True, slots=True)
class Marker:
    """What a ``<--- Received/Transmitting ... --->`` line says."""

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

    def packet(self, data: bytes, offset: int, end: int, body_offset: int, timestamp: datetime | None,
               marker: Marker | None, host: str | None = None, pid: int | None = None,
               problems: list[str] | None = None) -> None:
        """Emit the message(s) of one packet.

        :param offset: file offset of the packet's first log line (the marker line, if any)
        :param body_offset: file offset where ``data`` begins, for messages after the first
        """
        frames = frame_packet(data, marker.stream if marker else False)
        if not frames:
            self.reject(offset, end, "a packet marker with no message after it", data, timestamp, host)
            return
        for index, frame in self._chosen(data, frames, marker):
            start = offset if index == 0 else body_offset + frame.start
            fields = _marker_fields(marker)
            env = Envelope(self.source, start, end, timestamp, *fields, host, pid, self.dialect)
            notes = list(problems) if problems else []
            if marker is not None and len(frames) == 1 and frame.end - frame.start != marker.size:
                notes.append(f"marker announced {marker.size} bytes, message has {frame.end - frame.start}")
            record = self.parser.build(data, frame, env, notes)
            if isinstance(record, SipMessage):
                self.out.messages.append(record)
            else:
                self.out.rejects.append(record)

    def reject(self, offset: int, end: int, reason: str, raw: bytes, timestamp: datetime | None = None,
               host: str | None = None) -> None:
        """Record a piece of log that could not be read as SIP."""
        self.out.rejects.append(Reject(self.source, offset, end, reason, raw[:MAX_MESSAGE], timestamp, host))

    @staticmethod
    def _chosen(data: bytes, frames: list[Frame], marker: Marker | None) -> list[tuple[int, Frame]]:
        if len(frames) == 1 or marker is None:
            return list(enumerate(frames))
        for frame in frames:
            if frame.end - frame.start == marker.size:
                return [(0, frame)]
        return list(enumerate(frames))


def _marker_fields(marker: Marker | None) -> tuple[str | None, str | None, str | None, int | None]:
    if marker is None:
        return None, None, None, None
    return marker.direction, marker.transport, marker.peer, marker.size
