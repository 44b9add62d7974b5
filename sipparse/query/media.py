"""A one-line summary of an SDP body: what media goes where, with which codecs.

This is what a ladder shows under an INVITE or a 200 OK (RFC 4566: ``c=`` gives the
address, at session or media level; ``m=`` the media, port and payload types;
``a=rtpmap`` names dynamic payload types; static ones come from RFC 3551 Table 4/5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

# RFC 3551, Tables 4 and 5: static RTP payload types.
STATIC_PAYLOADS = {
    0: "PCMU/8000",
    3: "GSM/8000",
    4: "G723/8000",
    5: "DVI4/8000",
    6: "DVI4/16000",
    7: "LPC/8000",
    8: "PCMA/8000",
    9: "G722/8000",
    10: "L16/44100",
    11: "L16/44100",
    12: "QCELP/8000",
    13: "CN/8000",
    14: "MPA/90000",
    15: "G728/8000",
    18: "G729/8000",
    26: "JPEG/90000",
    31: "H261/90000",
    32: "MPV/90000",
    34: "H263/90000",
}
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")


@dataclass
class Media:
    """One ``m=`` line with what applies to it."""

    kind: str
    port: str
    address: str
    payloads: list[str]
    rtpmap: dict[str, str] = field(default_factory=dict)
    direction: str | None = None

    def summary(self) -> str:
        codecs = ",".join(self.rtpmap.get(pt) or _static(pt) for pt in self.payloads)
        # an IPv6 address in brackets, or its last group and the port would read as one address
        host = f"[{self.address}]" if ":" in self.address else self.address
        where = f"{host}:{self.port}" if self.address else f"port {self.port}"
        return " ".join(part for part in (self.kind, where, codecs, self.direction) if part)


def _static(pt: str) -> str:
    return STATIC_PAYLOADS.get(int(pt), pt) if pt.isdigit() else pt


def parse_media(sdp: str | None) -> list[Media]:
    """The media sections of an SDP body, session-level address and direction applied."""
    session_address, session_direction = "", None
    media: list[Media] = []
    for raw in (sdp or "").splitlines():
        key, _, value = raw.strip().partition("=")
        current = media[-1] if media else None
        if key == "m":
            media.append(_media_line(value, session_address, session_direction))
        elif key == "c":
            address = _connection_address(value)
            if current:
                current.address = address
            else:
                session_address = address
        elif key == "a":
            session_direction = _attribute(value, current) or session_direction
    return media


def _media_line(value: str, address: str, direction: str | None) -> Media:
    parts = value.split()
    kind = parts[0] if parts else "?"
    port = parts[1] if len(parts) > 1 else "?"
    return Media(kind=kind, port=port, address=address, payloads=parts[3:], direction=direction)


def _connection_address(value: str) -> str:
    parts = value.split()
    return parts[2].split("/")[0] if len(parts) >= 3 else ""


def _attribute(value: str, media: Media | None) -> str | None:
    """Apply an ``a=`` line to the media it belongs to; return a session-level direction."""
    name, _, rest = value.partition(":")
    if name in DIRECTIONS:
        if media is None:
            return name
        media.direction = name
    elif name == "rtpmap" and media is not None:
        pt, _, codec = rest.partition(" ")
        media.rtpmap[pt.strip()] = codec.strip()
    return None


def media_summary(sdp: str | None) -> list[str]:
    """One line per media section, e.g. ``audio 10.0.0.5:6000 PCMU/8000,telephone-event/8000``."""
    return [m.summary() for m in parse_media(sdp)]
