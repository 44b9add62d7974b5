"""SipMessage records of whole calls, built in memory for storage tests.

A call is described by steps such as ``("INVITE",)``, ``(180,)``, ``(200,)``, ``("BYE", "callee")``;
each step becomes one SipMessage with consistent tags, CSeq, branch and raw text, as the
parser would produce it from an Asterisk log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sipparse.sip.message import SipMessage, Source

REASONS = {
    100: "Trying",
    180: "Ringing",
    183: "Session Progress",
    200: "OK",
    401: "Unauthorized",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    480: "Temporarily Unavailable",
    486: "Busy Here",
    487: "Request Terminated",
    503: "Service Unavailable",
    600: "Busy Everywhere",
    603: "Decline",
}


@dataclass
class CallBuilder:
    """Builds the messages of one Call-ID, one step at a time."""

    call_id: str
    source: Source
    start: datetime
    offset: int = 0
    caller: str = "alice"
    callee: str = "bob"
    host: str | None = "pbx-a"
    step_ms: int = 250
    messages: list[SipMessage] = field(default_factory=list)
    _cseq: int = 0
    _branch: str = ""
    _method: str = ""
    _to_tag: str | None = None
    _clock: int = 0

    def request(
        self,
        method: str,
        by: str = "caller",
        in_dialog: bool | None = None,
        q850: int | None = None,
        cseq: int | None = None,
    ) -> CallBuilder:
        """Add a request; ``by`` is who sends it (caller or callee)."""
        if method not in ("ACK", "CANCEL"):
            self._cseq = cseq or self._cseq + 1
            self._branch = f"z9hG4bK-{self.call_id}-{self._cseq}-{method}"
        elif method == "CANCEL":
            self._branch = f"z9hG4bK-{self.call_id}-{self._cseq}-INVITE"
        in_dialog = self._to_tag is not None if in_dialog is None else in_dialog
        tags = (f"{self.call_id}-a", self._to_tag if in_dialog else None)
        from_tag, to_tag = tags if by == "caller" else (tags[1], tags[0])
        users = (self.caller, self.callee) if by == "caller" else (self.callee, self.caller)
        self._method = method if method != "ACK" else self._method
        direction = "in" if by == "caller" else "out"
        return self._add(method, None, from_tag, to_tag, users, method, direction, q850)

    def response(self, code: int, to_tag: bool | None = None, method: str | None = None) -> CallBuilder:
        """Add a response to the last request, or to ``method`` (a to-tag from 180 on unless told)."""
        if (to_tag if to_tag is not None else code > 100) and self._to_tag is None:
            self._to_tag = f"{self.call_id}-b"
        return self._add(
            None,
            code,
            f"{self.call_id}-a",
            self._to_tag if code > 100 else None,
            (self.caller, self.callee),
            method or self._method,
            "out",
            None,
        )

    def repeat(self, times: int = 1) -> CallBuilder:
        """Log the last message again at a later offset (a retransmission)."""
        for _ in range(times):
            last = self.messages[-1]
            self._clock += 500
            copy = SipMessage(**{name: getattr(last, name) for name in SipMessage.__slots__})
            copy.offset, copy.end = self.offset, self.offset + len(last.raw_message)
            copy.timestamp = self.start + timedelta(milliseconds=self._clock)
            self.offset = copy.end
            self.messages.append(copy)
        return self

    def _add(
        self,
        method: str | None,
        code: int | None,
        from_tag: str | None,
        to_tag: str | None,
        users: tuple[str, str],
        cseq_method: str,
        direction: str,
        q850: int | None,
    ) -> CallBuilder:
        first = f"{code} {REASONS.get(code, 'Whatever')}" if code else method or ""
        from_sip = f'"{users[0].title()}" <sip:{users[0]}@example.com>'
        from_sip += f";tag={from_tag}" if from_tag else ""
        to_sip = f"<sip:{users[1]}@example.com>" + (f";tag={to_tag}" if to_tag else "")
        reason = f"Q.850;cause={q850}" if q850 is not None else None
        sdp = (
            "v=0\no=- 1 1 IN IP4 10.0.0.5\ns=-\nc=IN IP4 10.0.0.5\nt=0 0\nm=audio 4000 RTP/AVP 0\n"
            if method == "INVITE" or code == 200 and cseq_method == "INVITE"
            else None
        )
        raw = (f"{method} sip:{users[1]}@example.com SIP/2.0" if method else f"SIP/2.0 {first}") + (
            f"\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;branch={self._branch}\r\nFrom: {from_sip}\r\nTo: {to_sip}"
            f"\r\nCall-ID: {self.call_id}\r\nCSeq: {self._cseq} {cseq_method}\r\n"
            + (f"Reason: {reason}\r\n" if reason else "")
            + "Content-Length: 0\r\n\r\n"
        )
        self._clock += self.step_ms
        message = SipMessage(
            source=self.source,
            offset=self.offset,
            end=self.offset + len(raw),
            raw_message=raw.encode(),
            timestamp=self.start + timedelta(milliseconds=self._clock),
            sip_method=first,
            method=method,
            request_uri=f"sip:{users[1]}@example.com" if method else None,
            status_code=code,
            reason_phrase=REASONS.get(code, "Whatever") if code else None,
            call_id=self.call_id,
            from_sip=from_sip,
            from_display=users[0].title(),
            from_user=users[0],
            from_host="example.com",
            from_tag=from_tag,
            to_sip=to_sip,
            to_user=users[1],
            to_host="example.com",
            to_tag=to_tag,
            cseq=self._cseq,
            cseq_method=cseq_method,
            via=f"SIP/2.0/UDP 10.0.0.5:5060;branch={self._branch}",
            via_branch=self._branch,
            content_length=0,
            reason_header=reason,
            q850_cause=q850,
            sdp_content=sdp,
            direction=direction,
            transport="UDP",
            peer="10.0.0.5:5060",
            host=self.host,
            pid=4101,
            dialect="syslog",
        )
        self.offset = message.end
        self.messages.append(message)
        return self


def completed_call(
    call_id: str, source: Source, start: datetime, offset: int = 0, hangup: str = "caller"
) -> CallBuilder:
    """INVITE, 100, 180, 200, ACK, BYE (by ``hangup``), 200."""
    b = CallBuilder(call_id, source, start, offset)
    b.request("INVITE").response(100).response(180).response(200).request("ACK")
    return b.request("BYE", by=hangup, q850=16).response(200)


SCENARIOS = {
    "completed": lambda b: (
        b.request("INVITE")
        .response(100)
        .response(180)
        .response(200)
        .request("ACK")
        .request("BYE", q850=16)
        .response(200)
    ),
    "answered": lambda b: b.request("INVITE").response(100).response(200).request("ACK"),
    "busy": lambda b: b.request("INVITE").response(100).response(486).request("ACK"),
    "cancelled": lambda b: (
        b.request("INVITE")
        .response(180)
        .request("CANCEL", in_dialog=False)
        .response(200)
        .response(487, method="INVITE")
        .request("ACK")
    ),
    "no-answer": lambda b: b.request("INVITE").response(180).response(480).request("ACK"),
    "failed": lambda b: b.request("INVITE").response(503).request("ACK"),
    "in-progress": lambda b: b.request("INVITE").response(100).response(180),
    "register": lambda b: (
        b.request("REGISTER")
        .response(401, to_tag=False)
        .request("REGISTER", in_dialog=False)
        .response(200, to_tag=False)
    ),
    "options": lambda b: b.request("OPTIONS").response(200, to_tag=False),
}


def mixed_traffic(
    source: Source, calls: int, start: datetime, host: str | None = "pbx-a", domain: str | None = None
) -> list[SipMessage]:
    """``calls`` calls of every scenario in turn, their messages interleaved in time order.

    Call-IDs are ``call-N@DOMAIN`` (default: the source's fingerprint), so two sources given
    the same ``domain`` log the same calls, as two Asterisk hosts on one call path do.
    """
    messages: list[SipMessage] = []
    names = sorted(SCENARIOS)
    for n in range(calls):
        when = start + timedelta(seconds=n)
        builder = CallBuilder(f"call-{n}@{domain or source.fingerprint}", source, when, host=host)
        SCENARIOS[names[n % len(names)]](builder)
        if n % 5 == 0:
            builder.repeat()
        messages.extend(builder.messages)
    messages.sort(key=lambda m: (m.timestamp, m.offset))
    offset = 0
    for m in messages:  # offsets in log order, as a reader would give them
        length = m.end - m.offset
        m.offset, m.end = offset, offset + length
        offset += length
    return messages
