#!/usr/bin/env python3
"""Realistic Asterisk PJSIP logs of any size, with the truth of what they hold.

Usage: python3 benchmarks/genlog.py --size 100M --dialect syslog --out /tmp/pjsip.log [--seed 1]

A busy PBX: calls arrive as a Poisson process (``--rate`` per second), each one a dialog
of a realistic kind (answered inbound and outbound calls hung up by either side, busy,
cancelled, digest-challenged, REGISTER refreshes, OPTIONS qualifies, compact-form headers
from some phones, TCP trunks), whose messages keep their real delays, so concurrent calls
interleave.  Dialplan lines (``pbx.c``) sit between the packets as they do in a real log.

Dialects:
  full      Asterisk's file channel: ``[Feb  1 00:00:00] VERBOSE[...] res_pjsip_logger.c:
            <--- Received SIP request (N bytes) from UDP:... --->`` then the raw packet
  syslog    that channel forwarded by rsyslog imfile from two PBXs into one file: every
            line behind ``Feb  1 00:00:00 pbx-a asterisk[4101]: ``, CR as ``#015``, empty
            lines dropped; the hosts' lines interleave, now and then inside a message
  rfc5424   the same with RFC 3339 time stamps (``2026-02-01T00:00:00.123456+00:00``)

Writes OUT and OUT.truth.json: the number of SIP messages, calls, lines and bytes, and
every message of a sample of calls (method or status, CSeq, From, To, direction, time),
which ``benchmarks/run.py`` compares with the database after an ingest.  Time stamps are
UTC in February 2026: ingest with ``--tz UTC --year 2026``.
"""

from __future__ import annotations

import argparse
import heapq
import json
import random
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

START = datetime(2026, 2, 1, tzinfo=UTC)
PBX = "192.0.2.10"
HOSTS = (("pbx-a", 4101), ("pbx-b", 4102))
SAMPLE_EVERY = 997  # one call in this many is kept whole in the truth file
SAMPLE_MAX = 400
SDP = ("v=0\r\no=- {sid} {sid} IN IP4 {ip}\r\ns=Asterisk\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio {port} RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
       "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=maxptime:150\r\n"
       "a=sendrecv\r\n")
ALLOW = "OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK, MESSAGE, REFER"
REASONS = {100: "Trying", 180: "Ringing", 183: "Session Progress", 200: "OK", 401: "Unauthorized",
           486: "Busy Here", 487: "Request Terminated", 404: "Not Found", 503: "Service Unavailable"}
KINDS = (("answered_in", 34), ("answered_out", 16), ("busy", 6), ("cancel", 6), ("auth", 8),
         ("notfound", 3), ("register", 12), ("options", 12), ("compact", 3))


@dataclass(slots=True)
class Dialog:
    """One Call-ID: the two ends, tags, branches, and the messages still to log."""

    call_id: str
    local: str  # the PBX-side user
    remote: str  # the far end's user
    peer: str  # ip:port of the far end
    transport: str
    inbound: bool  # the far end sent the first request
    host: int
    compact: bool = False
    from_tag: str = ""
    to_tag: str = ""
    cseq: int = 1
    lwp: int = 0
    channel: str = ""
    steps: list[tuple[float, tuple]] = field(default_factory=list)


@dataclass
class Truth:
    """What a generated log holds."""

    dialect: str
    messages: int = 0
    calls: int = 0
    lines: int = 0
    bytes: int = 0
    dialplan_lines: int = 0
    methods: dict[str, int] = field(default_factory=dict)
    sample: dict[str, list[dict]] = field(default_factory=dict)


class Generator:
    """Writes one log, call after call, in time order."""

    def __init__(self, dialect: str, seed: int, rate: float) -> None:
        self.dialect = dialect
        self.rng = random.Random(seed)
        self.rate = rate
        self.truth = Truth(dialect)
        self.serial = 0
        self._kinds = [k for k, w in KINDS for _ in range(w)]
        self._open = 0  # messages the calls in progress will still log

    # -- dialogs -------------------------------------------------------------------

    def dialog(self, now: float) -> Dialog:
        rng = self.rng
        self.serial += 1
        kind = rng.choice(self._kinds)
        inbound = kind not in ("answered_out", "options")
        tcp = kind == "answered_out" and rng.random() < 0.3
        peer = (f"10.20.{rng.randrange(1, 250)}.{rng.randrange(2, 250)}:5060" if inbound
                else f"203.0.113.{rng.randrange(1, 60)}:5060")
        d = Dialog(call_id=f"{rng.getrandbits(64):016x}{rng.getrandbits(64):016x}",
                   local=str(rng.randrange(100, 999)), remote=f"+3120{rng.randrange(10**6, 10**7)}",
                   peer=peer, transport="TCP" if tcp else "UDP", inbound=inbound,
                   host=rng.randrange(len(HOSTS)), compact=kind == "compact",
                   from_tag=f"{rng.getrandbits(40):010x}", to_tag=f"{rng.getrandbits(40):010x}",
                   lwp=rng.randrange(20000, 30000), channel=f"C-{self.serial & 0xFFFFFFFF:08x}")
        getattr(self, f"_{kind}")(d, now)
        return d

    def _call(self, d: Dialog, now: float, answer: bool, final: int = 200, bye_by_far: bool = True,
              cancel: bool = False) -> None:
        rng = self.rng
        far, near = ("in", "out") if d.inbound else ("out", "in")
        t = now
        d.steps.append((t, (far, "INVITE", 1, None, True)))
        t += 0.002 + rng.random() * 0.01
        d.steps.append((t, (near, 100, 1, "INVITE", False)))
        if final in (486, 404, 503):
            t += 0.05 + rng.random() * 0.5
            d.steps += [(t, (near, final, 1, "INVITE", False)), (t + 0.01, (far, "ACK", 1, None, False))]
            return
        t += 0.03 + rng.random() * 0.2
        d.steps.append((t, (near, 180 if d.inbound else 183, 1, "INVITE", not d.inbound)))
        if cancel:
            t += 2 + rng.random() * 15
            d.steps += [(t, (far, "CANCEL", 1, None, False)), (t + 0.003, (near, 200, 1, "CANCEL", False)),
                        (t + 0.004, (near, 487, 1, "INVITE", False)), (t + 0.02, (far, "ACK", 1, None, False))]
            return
        t += 1 + rng.random() * 10
        d.steps += [(t, (near, 200, 1, "INVITE", True)), (t + 0.02, (far, "ACK", 1, None, False))]
        t += 5 + rng.expovariate(1 / 60)
        by = far if bye_by_far else near
        other = near if by == far else far
        d.steps += [(t, (by, "BYE", 2, None, False)), (t + 0.02, (other, 200, 2, "BYE", False))]

    def _answered_in(self, d: Dialog, now: float) -> None:
        self._call(d, now, True, bye_by_far=self.rng.random() < 0.6)

    def _answered_out(self, d: Dialog, now: float) -> None:
        self._call(d, now, True, bye_by_far=self.rng.random() < 0.5)

    def _compact(self, d: Dialog, now: float) -> None:
        self._call(d, now, True)

    def _busy(self, d: Dialog, now: float) -> None:
        self._call(d, now, False, final=486)

    def _notfound(self, d: Dialog, now: float) -> None:
        self._call(d, now, False, final=404)

    def _cancel(self, d: Dialog, now: float) -> None:
        self._call(d, now, False, cancel=True)

    def _auth(self, d: Dialog, now: float) -> None:
        d.steps += [(now, ("in", "INVITE", 1, None, True)), (now + 0.001, ("out", 401, 1, "INVITE", False)),
                    (now + 0.02, ("in", "ACK", 1, None, False))]
        inner = Dialog(**{**{f: getattr(d, f) for f in d.__slots__}, "steps": []})
        self._call(inner, now + 0.05, True)
        d.steps += [(t, (di, m, c + 1, cm, sdp)) for t, (di, m, c, cm, sdp) in inner.steps]

    def _register(self, d: Dialog, now: float) -> None:
        d.steps += [(now, ("in", "REGISTER", 1, None, False)), (now + 0.001, ("out", 401, 1, "REGISTER", False)),
                    (now + 0.03, ("in", "REGISTER", 2, None, False)),
                    (now + 0.031, ("out", 200, 2, "REGISTER", False))]

    def _options(self, d: Dialog, now: float) -> None:
        d.steps += [(now, ("out", "OPTIONS", 1, None, False)),
                    (now + 0.005 + self.rng.random() * 0.05, ("in", 200, 1, "OPTIONS", False))]

    # -- messages ------------------------------------------------------------------

    def message(self, d: Dialog, step: tuple) -> tuple[str, str, str]:
        """(raw message, its From value, its To value) of one step of a dialog."""
        direction, what, cseq, cseq_method, sdp = step
        request = isinstance(what, str)
        method = what if request else cseq_method
        caller, callee = (d.remote, d.local) if d.inbound else (d.local, d.remote)
        far_ip = d.peer.split(":")[0]
        caller_ip = far_ip if d.inbound else PBX
        from_v = f'"{caller}" <sip:{caller}@{caller_ip}>;tag={d.from_tag}'
        to_v = f"<sip:{callee}@{PBX if d.inbound else far_ip}>"
        if (not request and what != 100) or method in ("ACK", "BYE") and request:
            to_v += f";tag={d.to_tag}"
        if method == "BYE":  # the callee hanging up puts its own tag in From
            bye_from_far = (direction == "in") == request
            if bye_from_far != d.inbound:
                from_v, to_v = to_v, from_v
        # a request's Via is its sender's; a response carries the request's Via back
        via_host = d.peer if (direction == "in") == request else f"{PBX}:5060"
        branch = f"z9hG4bK{d.call_id[:8]}{cseq:02d}{method[:3]}"
        transport = d.transport
        body = SDP.format(sid=int(d.call_id[:6], 16), ip=PBX if direction == "out" else d.peer.split(":")[0],
                          port=10000 + int(d.call_id[-3:], 16) % 20000 * 2) if sdp else ""
        first = (f"{method} sip:{callee}@{PBX if direction == 'in' else d.peer} SIP/2.0" if request
                 else f"SIP/2.0 {what} {REASONS[what]}")
        headers = [
            ("Via", "v", f"SIP/2.0/{transport} {via_host};rport;branch={branch}"),
            ("From", "f", from_v), ("To", "t", to_v),
            ("Contact", "m", f"<sip:{caller}@{caller_ip}:5060>"),
            ("Call-ID", "i", d.call_id), ("CSeq", None, f"{cseq} {method}"),
        ]
        if request:
            headers.append(("Max-Forwards", None, "70"))
        if what == 401:
            headers.append(("WWW-Authenticate", None, f'Digest realm="asterisk",nonce="{d.call_id[8:24]}",'
                                                      'opaque="0af1b2c3",algorithm=MD5,qop="auth"'))
        if request and cseq > 1 and method in ("INVITE", "REGISTER"):
            headers.append(("Authorization", None, f'Digest username="{caller}",realm="asterisk",'
                                                   f'nonce="{d.call_id[8:24]}",uri="sip:{PBX}",'
                                                   'response="5d1b5c6a5c0b77f0a1bd0e2d3c4f5a6b",algorithm=MD5'))
        if method == "REGISTER":
            headers.append(("Expires", None, "3600"))
        headers.append(("Server" if direction == "out" and not request else "User-Agent", None,
                        "Asterisk PBX 22.1.0" if direction == "out" else "Yealink SIP-T46U 108.86.0.45"))
        if method in ("INVITE", "OPTIONS", "REGISTER") and (request or what == 200):
            headers += [("Allow", None, ALLOW), ("Supported", "k", "100rel, timer, replaces, norefersub")]
        if sdp:
            headers.append(("Content-Type", "c", "application/sdp"))
        headers.append(("Content-Length", "l", f"{len(body.encode()):>5}" if not d.compact else str(len(body))))
        compact = d.compact
        lines = [first] + [f"{short if compact and short else name}: {value}" for name, short, value in headers]
        return "\r\n".join(lines) + "\r\n\r\n" + body, from_v, to_v

    # -- writing -------------------------------------------------------------------

    def events(self, size: int) -> Iterator[tuple[float, Dialog, tuple]]:
        """(time, dialog, step) in time order until about ``size`` bytes were written."""
        heap: list[tuple[float, int, int, Dialog]] = []
        now, order = 0.0, 0
        truth = self.truth
        # new calls stop when what is written plus what the open calls will still log reaches size
        while truth.bytes + self._open * (truth.bytes / max(truth.messages, 1) or 900) < size:
            now += self.rng.expovariate(self.rate)
            while heap and heap[0][0] <= now:
                yield from self._pop(heap)
            d = self.dialog(now)
            order += 1
            self._open += len(d.steps)
            heapq.heappush(heap, (d.steps[0][0], order, 0, d))
            truth.calls += 1
        # let the calls in progress finish, as a log read after the fact would have them
        while heap:
            yield from self._pop(heap)

    def _pop(self, heap: list) -> Iterator[tuple[float, Dialog, tuple]]:
        t, order, index, d = heapq.heappop(heap)
        self._open -= 1
        yield t, d, d.steps[index][1]
        if index + 1 < len(d.steps):
            heapq.heappush(heap, (d.steps[index + 1][0], order, index + 1, d))

    def stamp(self, t: float) -> tuple[datetime, str]:
        when = START + timedelta(seconds=t)
        if self.dialect == "rfc5424":
            return when, when.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")
        return when.replace(microsecond=0), _syslog_stamp(when)

    def entry(self, t: float, d: Dialog, step: tuple) -> tuple[bytes, dict]:
        """The log text of one packet (and a dialplan line now and then), and its truth row."""
        raw, from_v, to_v = self.message(d, step)
        direction, what, cseq, cseq_method, _ = step
        request = isinstance(what, str)
        when, text_stamp = self.stamp(t)
        kind = "request" if request else "response"
        verb, prep = ("Received", "from") if direction == "in" else ("Transmitting", "to")
        size = len(raw.encode())
        asterisk_stamp = _syslog_stamp(when)
        channel = f"[{d.channel}]" if request and what in ("INVITE", "BYE") else ""
        marker = (f"[{asterisk_stamp}] VERBOSE[{d.lwp}]{channel} res_pjsip_logger.c: "
                  f"<--- {verb} SIP {kind} ({size} bytes) {prep} {d.transport}:{d.peer} --->")
        text = f"{marker}\n{raw}\n"
        if request and what == "INVITE" and direction == "in" and cseq == 1:
            text += (f"[{asterisk_stamp}] VERBOSE[{d.lwp}][{d.channel}] pbx.c: Executing "
                     f"[{d.local}@from-internal:1] Dial(\"PJSIP/{d.remote}-{d.channel[2:]}\", "
                     f"\"PJSIP/{d.local},30\") in new stack\n")
            self.truth.dialplan_lines += 1
        method = what if request else f"{what} {REASONS[what]}"
        row = {"sip_method": method, "cseq": cseq, "cseq_method": what if request else cseq_method,
               "from_sip": from_v, "to_sip": to_v, "direction": direction,
               "status_code": None if request else what, "timestamp": str(when.replace(tzinfo=None))}
        return text.encode(), row

    def lines_of(self, t: float, text: bytes, host: int) -> list[bytes]:
        """The imfile form of a file-channel text: one syslog line per non-empty line."""
        _, stamp = self.stamp(t)
        name, pid = HOSTS[host]
        prefix = f"{stamp} {name} asterisk[{pid}]: ".encode()
        out = []
        for line in text.split(b"\n"):
            if line:
                out.append(prefix + (line[:-1] + b"#015" if line.endswith(b"\r") else line) + b"\n")
        return out


def write(out: str, size: int, dialect: str, seed: int = 1, rate: float = 300.0) -> Truth:
    """Write a log of about ``size`` bytes (whole calls) and its truth file; return the truth."""
    gen = Generator(dialect, seed, rate)
    truth = gen.truth
    pending: list[bytes] = []  # syslog: a message kept back to interleave with another host's
    pending_host = -1
    with open(out, "wb", buffering=1 << 20) as fh:
        for t, d, step in gen.events(size):
            text, row = gen.entry(t, d, step)
            truth.messages += 1
            truth.methods[row["sip_method"]] = truth.methods.get(row["sip_method"], 0) + 1
            if gen.serial and int(d.call_id[:8], 16) % SAMPLE_EVERY == 0 and (
                    d.call_id in truth.sample or len(truth.sample) < SAMPLE_MAX):
                truth.sample.setdefault(d.call_id, []).append(row)
            if dialect == "full":
                data = text
            else:
                lines = gen.lines_of(t, text, d.host)
                if pending and d.host != pending_host:  # two PBXs' lines shuffled together
                    lines = _interleave(pending, lines, gen.rng)
                    pending = []
                elif not pending and gen.rng.random() < 0.01:
                    pending, pending_host = lines, d.host
                    continue
                data = b"".join(pending + lines)
                pending = []
            truth.lines += data.count(b"\n")
            truth.bytes += len(data)
            fh.write(data)
        if pending:
            data = b"".join(pending)
            truth.lines += data.count(b"\n")
            truth.bytes += len(data)
            fh.write(data)
    with open(out + ".truth.json", "w") as fh:
        json.dump(truth.__dict__, fh, indent=1)
    return truth


def _syslog_stamp(when: datetime) -> str:
    """``Feb  1 00:00:00``: the day space-padded, as syslog and Asterisk write it."""
    return f"{when:%b} {when.day:>2} {when:%H:%M:%S}"


def _interleave(first: list[bytes], second: list[bytes], rng: random.Random) -> list[bytes]:
    """Two messages' lines merged in a random order that keeps each one's own order."""
    out, i, j = [], 0, 0
    while i < len(first) or j < len(second):
        if j >= len(second) or (i < len(first) and rng.random() < 0.5):
            out.append(first[i])
            i += 1
        else:
            out.append(second[j])
            j += 1
    return out


def parse_size(text: str) -> int:
    """``100M``, ``1G``, ``512K`` or a number of bytes."""
    text = text.strip().upper().removesuffix("IB").removesuffix("B")
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1:], 1)
    return int(float(text.rstrip("KMG")) * scale)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="100M", help="about how many bytes (100M, 1G)")
    ap.add_argument("--dialect", choices=("full", "syslog", "rfc5424"), default="syslog")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=300.0, help="new calls per second of log time")
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    truth = write(args.out, parse_size(args.size), args.dialect, args.seed, args.rate)
    print(json.dumps({k: v for k, v in truth.__dict__.items() if k != "sample"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
