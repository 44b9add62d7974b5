"""Calls of every outcome as ``SipMessage`` records, written through the real store.

Each ``Scenario`` knows what it is (outcome, users, times) so tests derive the answers
they expect from the scenarios, not from numbers typed into the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sipparse.config import parse_db_url
from sipparse.sip.message import SipMessage, Source
from sipparse.store import open_store

SOURCE = Source(path="/var/log/asterisk/pjsip", fingerprint="scenario-fp")
SDP = ("v=0\no=- 1 1 IN IP4 {ip}\ns=-\nc=IN IP4 {ip}\nt=0 0\nm=audio {port} RTP/AVP 0 101\n"
       "a=rtpmap:101 telephone-event/8000")
REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 404: "Not Found", 486: "Busy Here",
           487: "Request Terminated", 503: "Service Unavailable", 480: "Temporarily Unavailable",
           603: "Decline"}


@dataclass
class Scenario:
    """One dialog: ``final`` is the INVITE's final status (None: still ringing)."""

    call_id: str
    start: datetime
    final: int | None
    from_user: str = "100"
    to_user: str = "200"
    setup_ms: int = 1500
    talk_s: float | None = None  # answered calls: seconds until the BYE (None: no BYE yet)
    bye_by_callee: bool = False
    cause: int | None = None  # Q.850 cause in the BYE's Reason header
    cancel: bool = False
    kind: str = "call"
    host: str = "pbx1"
    retransmit_invite: bool = False
    messages: list[SipMessage] = field(default_factory=list)

    @property
    def state(self) -> str:
        if self.kind != "call":
            return "completed"
        if self.final is None:
            return "cancelled" if self.cancel else "in-progress"
        if self.final < 300:
            return "completed" if self.talk_s is not None else "answered"
        if self.cancel and self.final == 487:
            return "cancelled"
        if self.final in (486, 600):
            return "busy"
        if self.final < 400:
            return "redirected"
        return "no-answer" if self.final in (408, 480, 487) else "failed"


class _Writer:
    """Builds the messages of a scenario with increasing offsets and the right headers."""

    offset = 0

    def __init__(self, sc: Scenario) -> None:
        self.sc = sc
        self.caller = f"sip:{sc.from_user}@10.0.0.5"
        self.callee = f"sip:{sc.to_user}@10.0.0.1"

    def add(self, at: float, first: str, cseq: int, cseq_method: str, *, from_caller: bool = True,
            sdp: str | None = None, cause: int | None = None, to_tag: bool = True, branch: str = "") -> None:
        sc = self.sc
        is_response = first[0].isdigit()
        code = int(first) if is_response else None
        sip_method = f"{code} {REASONS.get(code or 0, 'Whatever')}" if is_response else first
        a, b = ("caller", "callee") if from_caller else ("callee", "caller")
        from_user, to_user = (sc.from_user, sc.to_user) if from_caller else (sc.to_user, sc.from_user)
        inbound = from_caller != is_response
        branch = branch or f"z9hG4bK-{sc.call_id}-{cseq}-{cseq_method}"
        raw = f"{sip_method} SIP/2.0\r\nCall-ID: {sc.call_id}\r\n\r\n{sdp or ''}".encode()
        _Writer.offset += len(raw) + 100
        self.sc.messages.append(SipMessage(
            source=SOURCE, offset=_Writer.offset, end=_Writer.offset + len(raw), raw_message=raw,
            timestamp=sc.start + timedelta(seconds=at), sip_method=sip_method,
            method=None if is_response else first, status_code=code,
            reason_phrase=REASONS.get(code or 0) if code else None,
            request_uri=None if is_response else (self.callee if from_caller else self.caller),
            call_id=sc.call_id, from_sip=f"<sip:{from_user}@x>;tag={a}", from_user=from_user, from_tag=a,
            to_sip=f"<sip:{to_user}@x>", to_user=to_user, to_tag=b if to_tag else None,
            cseq=cseq, cseq_method=cseq_method, via=f"SIP/2.0/UDP 10.0.0.5:5060;branch={branch}",
            via_branch=branch, sdp_content=sdp, q850_cause=cause,
            reason_header=f"Q.850;cause={cause}" if cause else None,
            direction="in" if inbound else "out", transport="UDP", peer="10.0.0.5:5060", host=sc.host,
        ))


def build(sc: Scenario) -> Scenario:
    """Fill ``sc.messages`` with what its outcome implies, in log order."""
    if sc.kind == "register":
        w = _Writer(sc)
        w.add(0, "REGISTER", 1, "REGISTER", to_tag=False)
        w.add(0.01, "200", 1, "REGISTER")
        return sc
    w = _Writer(sc)
    setup = sc.setup_ms / 1000
    w.add(0, "INVITE", 1, "INVITE", sdp=SDP.format(ip="10.0.0.5", port=6000), to_tag=False)
    if sc.retransmit_invite:
        w.add(0.5, "INVITE", 1, "INVITE", sdp=SDP.format(ip="10.0.0.5", port=6000), to_tag=False)
    w.add(0.01, "100", 1, "INVITE", to_tag=False)
    if sc.cancel:
        w.add(setup / 2, "CANCEL", 1, "CANCEL", to_tag=False)
        w.add(setup / 2 + 0.01, "200", 1, "CANCEL")
    if sc.final is not None:
        answer = SDP.format(ip="10.0.0.1", port=17000) if sc.final < 300 else None
        w.add(setup, str(sc.final), 1, "INVITE", sdp=answer)
        w.add(setup + 0.02, "ACK", 1, "ACK")
    if sc.final is not None and sc.final < 300 and sc.talk_s is not None:
        by_caller = not sc.bye_by_callee
        w.add(setup + sc.talk_s, "BYE", 2, "BYE", from_caller=by_caller, cause=sc.cause)
        w.add(setup + sc.talk_s + 0.01, "200", 2, "BYE", from_caller=by_caller)
    return sc


def store_all(db_url: str, scenarios: list[Scenario]) -> None:
    """Write every scenario's messages in one batch through the real store."""
    with open_store(parse_db_url(db_url)) as store:
        store.write_batch([m for sc in scenarios for m in sc.messages])


def standard(now: datetime) -> list[Scenario]:
    """A day of traffic ending at ``now``: every outcome, several users, two hosts."""
    t = now - timedelta(hours=2)
    m = timedelta(minutes=1)
    return [build(sc) for sc in [
        Scenario("ans-1@pbx", t, 200, talk_s=30, setup_ms=800, cause=16),
        Scenario("ans-2@pbx", t + 3 * m, 200, talk_s=125, setup_ms=1200, bye_by_callee=True, cause=16),
        Scenario("ans-3@pbx", t + 5 * m, 200, talk_s=4000, setup_ms=2500, from_user="101", to_user="201"),
        Scenario("up-1@pbx", now - 10 * m, 200, talk_s=None, setup_ms=900, to_user="202"),
        Scenario("busy-1@pbx", t + 7 * m, 486, to_user="300"),
        Scenario("busy-2@pbx", t + 8 * m, 486, to_user="300", host="pbx2", retransmit_invite=True),
        Scenario("nf-1@pbx", t + 9 * m, 404, to_user="999"),
        Scenario("unav-1@pbx", now - 30 * m, 503, to_user="999", from_user="102"),
        Scenario("cancel-1@pbx", t + 11 * m, 487, cancel=True),
        Scenario("noans-1@pbx", t + 12 * m, 480, to_user="301"),
        Scenario("decl-1@pbx", t + 13 * m, 603, to_user="302"),
        Scenario("moved-1@pbx", t + 14 * m, 302, to_user="304"),
        Scenario("ring-1@pbx", now - 1 * m, None, to_user="303"),
        Scenario("old-1@pbx", now - timedelta(days=3), 200, talk_s=10, setup_ms=400),
        Scenario("reg-1@pbx", t, None, kind="register"),
    ]]
