"""The records that flow from the log reader to storage.

A ``SipMessage`` is one SIP message as Asterisk logged it, parsed; a ``Reject`` is a piece of
a log that looked like SIP but could not be parsed. Both carry where they came from
(``Source`` + byte offsets): storage uses (fingerprint, offset) as the identity of a logged
message, so re-reading the same bytes never duplicates a row, even after the file was
renamed or compressed, while a retransmission logged twice (another offset) is two rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from operator import attrgetter
from typing import Any


@dataclass(frozen=True, slots=True)
class Source:
    """A log file as read: its path now and the fingerprint of its first bytes."""

    path: str
    fingerprint: str


@dataclass(slots=True)
class SipMessage:
    """One logged SIP message with the fields users query (see CONTRACT.md, Tables)."""

    # where it came from
    source: Source
    offset: int  # byte offset of the message's first log line in the (decompressed) file
    end: int  # byte offset just past its last log line
    raw_message: bytes  # the message as logged, reassembled, escapes decoded, CRLF as sent
    timestamp: datetime | None  # naive, UTC
    # the first line
    sip_method: str = ""  # "INVITE", or "200 OK" for a response: code and reason phrase as logged
    method: str | None = None  # request method, None for responses
    request_uri: str | None = None
    status_code: int | None = None
    reason_phrase: str | None = None
    # dialog identification
    call_id: str | None = None
    from_sip: str | None = None  # whole header value as logged
    from_display: str | None = None
    from_user: str | None = None
    from_host: str | None = None
    from_tag: str | None = None
    to_sip: str | None = None
    to_display: str | None = None
    to_user: str | None = None
    to_host: str | None = None
    to_tag: str | None = None
    cseq: int | None = None
    cseq_method: str | None = None
    via: str | None = None  # the topmost Via value
    via_branch: str | None = None
    # other headers
    contact: str | None = None
    user_agent: str | None = None  # User-Agent, or Server for responses
    content_type: str | None = None
    content_length: int | None = None
    reason_header: str | None = None  # e.g. "Q.850;cause=16"
    q850_cause: int | None = None
    sdp_content: str | None = None  # SDP body, lines joined by "\n", no CR
    # from the log line prefix and the <--- Received/Transmitting ---> marker
    direction: str | None = None  # "in" | "out" | None
    transport: str | None = None  # UDP, TCP, TLS, WS, WSS
    peer: str | None = None  # "ip:port" of the other side
    marker_bytes: int | None = None  # byte count announced by the marker
    host: str | None = None  # syslog host, when the dialect has one
    pid: int | None = None
    dialect: str | None = None
    # tolerated anomalies (wrong Content-Length, missing blank line, ...), for reports
    problems: list[str] = field(default_factory=list)

    def __reduce__(self) -> tuple[type[SipMessage], tuple[Any, ...]]:
        """Pickle as the constructor's arguments: the slots dataclass's own state protocol
        (a Python loop over ``fields()`` per message) costs more than parsing the message;
        a positional call is the cheapest way back to an object."""
        return SipMessage, _MESSAGE_FIELDS(self)


_MESSAGE_FIELDS = attrgetter(*(f.name for f in fields(SipMessage)))


@dataclass(slots=True)
class Reject:
    """A piece of a log that could not be parsed, kept with where it was and why."""

    source: Source
    offset: int
    end: int
    reason: str
    raw: bytes
    timestamp: datetime | None = None
    host: str | None = None
