"""Synthetic PJSIP logger output for ingest tests, in the rsyslog-forwarded and `full` dialects.

Each call is INVITE (with SDP) -> 100 -> 200 (with SDP) -> ACK -> BYE -> 200, with its own
Call-ID, tags and branches, so every message is distinct and a test can cut the log anywhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta

SDP = ["v=0", "o=- 53655765 2353687637 IN IP4 10.0.0.{n}", "s=-", "c=IN IP4 10.0.0.{n}", "t=0 0",
       "m=audio {port} RTP/AVP 0 8", "a=rtpmap:0 PCMU/8000", "a=rtpmap:8 PCMA/8000"]


def _sdp(n: int) -> list[str]:
    return [line.format(n=n % 250 + 1, port=10000 + 2 * n) for line in SDP]


def call_messages(n: int) -> list[tuple[str, list[str], list[str]]]:
    """(direction, header lines, body lines) for the six messages of call number ``n``."""
    cid = f"{n}-call@10.0.0.{n % 250 + 1}"
    frm = f"\"Alice {n}\" <sip:alice{n}@10.0.0.1>;tag=ft{n}"
    to = f"<sip:{100 + n}@pbx.example>"
    to_t = to + f";tag=tt{n}"

    def hdr(first: str, branch: str, cseq: str, to_value: str, sdp: bool = False) -> list[str]:
        body = _sdp(n) if sdp else []
        length = sum(len(b) + 2 for b in body)
        lines = [first, f"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{branch}{n}", f"From: {frm}",
                 f"To: {to_value}", f"Call-ID: {cid}", f"CSeq: {cseq}", "Max-Forwards: 70"]
        if sdp:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {length}")
        return lines

    return [
        ("in", hdr(f"INVITE sip:{100 + n}@pbx.example SIP/2.0", "a", "1 INVITE", to, sdp=True), _sdp(n)),
        ("out", hdr("SIP/2.0 100 Trying", "a", "1 INVITE", to), []),
        ("out", hdr("SIP/2.0 200 OK", "a", "1 INVITE", to_t, sdp=True), _sdp(n + 1)),
        ("in", hdr(f"ACK sip:{100 + n}@pbx.example SIP/2.0", "b", "1 ACK", to_t), []),
        ("in", hdr(f"BYE sip:{100 + n}@pbx.example SIP/2.0", "c", "2 BYE", to_t), []),
        ("out", hdr("SIP/2.0 200 OK", "c", "2 BYE", to_t), []),
    ]


def syslog_message(when: datetime, host: str, headers: list[str], body: list[str]) -> bytes:
    """One message as rsyslog forwards it: every line prefixed, the blank line as #015."""
    prefix = f"{when:%b} {when.day:2d} {when:%H:%M:%S} {host} asterisk[6541]: "
    lines = [prefix + h for h in headers] + [prefix + "#015"] + [prefix + b for b in body]
    return ("\n".join(lines) + "\n\n").encode()


def full_message(when: datetime, direction: str, headers: list[str], body: list[str]) -> bytes:
    """One message as Asterisk's own file logger writes it: a marker line, then the raw message."""
    raw = "\r\n".join(headers) + "\r\n\r\n" + "".join(b + "\r\n" for b in body)
    verb = "Received SIP request" if direction == "in" else "Transmitting SIP response"
    if headers[0].startswith("SIP/2.0") and direction == "in":
        verb = "Received SIP response"
    elif not headers[0].startswith("SIP/2.0") and direction == "out":
        verb = "Transmitting SIP request"
    peer = ("from" if direction == "in" else "to") + " UDP:10.0.0.1:5060"
    marker = f"[{when:%b} {when.day:2d} {when:%H:%M:%S}] VERBOSE[6573] res_pjsip_logger.c: " \
             f"<--- {verb} ({len(raw)} bytes) {peer} --->\n"
    return (marker + raw + "\n").encode()


def make_log(calls: int, dialect: str = "syslog", first: int = 0, host: str = "pbx1",
             start: datetime = datetime(2025, 3, 1, 12, 0, 0)) -> bytes:
    """A log of ``calls`` calls (six messages each), numbered from ``first``."""
    out = []
    for n in range(first, first + calls):
        when = start + timedelta(seconds=n)
        for direction, headers, body in call_messages(n):
            if dialect == "full":
                out.append(full_message(when, direction, headers, body))
            else:
                out.append(syslog_message(when, host, headers, body))
    return b"".join(out)


def message_count(calls: int) -> int:
    return 6 * calls
