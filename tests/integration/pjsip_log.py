"""What the pipeline tests send, and the row each SIP message must become.

Independent of sipparse's parser on purpose: messages are cut out of an Asterisk ``full``
log by the byte count of their ``<--- Received/Transmitting ... (N bytes) --->`` marker
(which is exactly the length of the message Asterisk printed), and the few fields compared
are read with plain string handling. A disagreement between this and sipparse is then a
finding about one of the two, never the same mistake made twice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

MARKER = re.compile(
    rb"^\[[^\]]+\] VERBOSE\[[^\]]+\](?:\[[^\]]+\])? res_pjsip_logger\.c: "
    rb"<--- (Received|Transmitting) SIP (request|response) \((\d+) bytes\) (?:from|to) ([A-Z]+):(\S+) --->\n",
    re.MULTILINE,
)
COMPACT = {"i": "call-id", "f": "from", "t": "to", "c": "content-type", "l": "content-length"}


@dataclass(frozen=True)
class Logged:
    """One SIP message as Asterisk's PJSIP logger printed it."""

    direction: str  # "in" | "out"
    transport: str
    peer: str
    raw: bytes  # the message, CRLF as on the wire

    @property
    def kind(self) -> str:
        return "response" if self.raw.startswith(b"SIP/2.0 ") else "request"

    def marker(self) -> str:
        """The ``<--- ... --->`` text Asterisk writes before the message."""
        verb, prep = ("Received", "from") if self.direction == "in" else ("Transmitting", "to")
        return f"<--- {verb} SIP {self.kind} ({len(self.raw)} bytes) {prep} {self.transport}:{self.peer} --->"


def read_full_log(path: Path) -> list[Logged]:
    """Every SIP message of an Asterisk ``full``/``pjsip`` file channel log, in log order."""
    data = path.read_bytes()
    found = []
    for match in MARKER.finditer(data):
        size = int(match.group(3))
        raw = data[match.end():match.end() + size]
        direction = "in" if match.group(1) == b"Received" else "out"
        found.append(Logged(direction, match.group(4).decode(), match.group(5).decode(), raw))
    return found


def headers(raw: bytes) -> tuple[str, dict[str, str], str | None]:
    """(first line, first value of each header by lower-case full name, body or None)."""
    text = raw.decode("utf-8", errors="replace")
    head, sep, body = text.partition("\r\n\r\n")
    lines = head.split("\r\n")
    values: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        key = COMPACT.get(name.strip().lower(), name.strip().lower())
        values.setdefault(key, value.strip())
    return lines[0], values, (body if sep else None)


def expected_row(message: Logged, host: str | None) -> dict[str, object]:
    """The ``sip_transactions`` columns the contract defines for this message."""
    first, values, body = headers(message.raw)
    cseq_number, _, cseq_method = values.get("cseq", "").partition(" ")
    is_sdp = "application/sdp" in values.get("content-type", "").lower()
    sdp = body.replace("\r\n", "\n").rstrip("\n") if (is_sdp and body) else None
    return {
        "call_id": values.get("call-id"),
        "sip_method": first.split(" ", 1)[1] if first.startswith("SIP/2.0 ") else first.split(" ", 1)[0],
        "from_sip": values.get("from"),
        "to_sip": values.get("to"),
        "cseq": int(cseq_number),
        "cseq_method": cseq_method.strip(),
        "sdp_content": sdp,
        "status_code": int(first.split(" ")[1]) if first.startswith("SIP/2.0 ") else None,
        "direction": message.direction,
        "host": host,
        "raw": normalised(message.raw),
    }


def normalised(raw: bytes | str) -> str:
    """A message with CR and the blank lines around it dropped: how both sides must agree.

    imfile drops empty lines and syslog drops a trailing LF, so the exact CR/LF layout at the
    edges is a property of the transport, not of the message.
    """
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return text.replace("\r", "").strip("\n")


def with_call_id(message: Logged, call_id: str) -> Logged:
    """The same message in another dialog (to give each sending host its own calls)."""
    first, values, _ = headers(message.raw)
    old = values["call-id"].encode()
    return replace(message, raw=message.raw.replace(old, call_id.encode()))


def big_invite(template: Logged, call_id: str, candidates: int = 250) -> Logged:
    """An INVITE whose SDP carries many ICE candidates: one syslog message far above 8 kB."""
    text = template.raw.decode()
    head, _, body = text.partition("\r\n\r\n")
    extra = "".join(_candidate(i) for i in range(candidates))
    body = body + extra
    head = re.sub(r"(?im)^(Content-Length|l)\s*:.*$", f"Content-Length: {len(body.encode())}", head)
    raw = f"{head}\r\n\r\n{body}".encode()
    return with_call_id(replace(template, raw=raw), call_id)


def _candidate(i: int) -> str:
    return f"a=candidate:{i} 1 udp {2130706431 - i} 10.1.{i // 250}.{i % 250} {20000 + i} typ host\r\n"
