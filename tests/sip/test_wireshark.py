"""Stored rows against Wireshark's SIP dissector, on messages shaped as real phones and trunks send them.

Each message is written twice: as a UDP packet of a capture that ``tshark`` decodes, and as
Asterisk's PJSIP logger logs it, which ``sipparse ingest`` stores in a real SQLite
database. Every column the two can both speak of must agree. The messages are those on
which sipparse reads as Wireshark does; where sipparse is deliberately more lenient
(``Via : x``, ``Q.850 ;cause=16``, a status line without a reason phrase) Wireshark is no
reference and tests/sip/test_parser.py holds the answers. Skipped where tshark is absent.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.ingest.helpers import ingest_ok

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(TSHARK is None, reason="tshark (Wireshark) is not installed")

CRLF = "\r\n"
SDP = CRLF.join(["v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
                 "m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
                 "a=sendrecv"]) + CRLF
SDP6 = CRLF.join(["v=0", "o=- 2 2 IN IP6 2001:db8::10", "s=-", "c=IN IP6 2001:db8::10", "t=0 0",
                  "m=audio 4002 RTP/AVP 0", "a=rtpmap:0 PCMU/8000"]) + CRLF
T38 = CRLF.join(["v=0", "o=- 3 3 IN IP4 192.0.2.11", "s=-", "c=IN IP4 192.0.2.11", "t=0 0",
                 "m=image 5000 udptl t38", "a=T38FaxVersion:0", "a=T38MaxBitRate:14400"]) + CRLF
SRTP = CRLF.join(["v=0", "o=- 4 4 IN IP4 192.0.2.12", "s=-", "c=IN IP4 192.0.2.12", "t=0 0",
                  "m=audio 6000 RTP/SAVP 0",
                  "a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^20|1:32",
                  "m=video 6002 RTP/SAVP 96", "a=rtpmap:96 H264/90000", "m=application 6004 UDP/BFCP *"]) + CRLF
HOLD = CRLF.join(["v=0", "o=- 5 6 IN IP4 192.0.2.13", "s=-", "c=IN IP4 0.0.0.0", "t=0 0",
                  "m=audio 4000 RTP/AVP 0", "a=sendonly"]) + CRLF
ISUP = b"\x01\x00\x49\x00\x00\x03\x02\x00\x07\x04\x10\x00\x33\x63\x21\x43\x00\x00\x03\x06\x0d\x03\x80\x90\xa2"


def message(first: str, headers: list[str], body: bytes | str = b"") -> bytes:
    """A message with these header lines, its body, and a Content-Length that counts it."""
    data = body.encode() if isinstance(body, str) else body
    return (CRLF.join([first, *headers, f"Content-Length: {len(data)}", "", ""])).encode() + data


def usual(call_id: str, cseq: str = "1 INVITE", *extra: str, frm: str = '"Alice" <sip:alice@example.com>;tag=a1',
          to: str = "<sip:bob@example.com>", via: str = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1") -> list[str]:
    return [f"Via: {via}", "Max-Forwards: 70", f"From: {frm}", f"To: {to}", f"Call-ID: {call_id}", f"CSeq: {cseq}",
            *extra]


def multipart(boundary: str, *parts: tuple[str, bytes]) -> bytes:
    b = boundary.encode()
    return b"".join(b"--" + b + b"\r\nContent-Type: " + kind.encode() + b"\r\n\r\n" + content + b"\r\n"
                    for kind, content in parts) + b"--" + b + b"--\r\n"


INVITE = "INVITE sip:bob@example.com SIP/2.0"
MESSAGES = [
    message(INVITE, ["v: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKc1", 'f: "Al" <sip:al@a.example>;tag=1',
                     "t: sip:bob@b.example", "i: compact@x", "CSeq: 1 INVITE", "m: <sip:al@192.0.2.1>",
                     "c: application/sdp", "k: timer", "s: hi", "o: talk", "u: talk, hold", "x: 1800", "y: abc",
                     "e: identity"], SDP),
    message(INVITE, ["VIA: SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKm", "from: <sip:al@a.example>;tag=up",
                     "tO: <sip:bob@b.example>", "CALL-ID: mixed@x", "cseq: 7 INVITE",
                     "CONTENT-TYPE: Application/SDP", "USER-agent: Yealink SIP-T46S 66.86.0.15"], SDP),
    message("INVITE sip:+15551234@gw.example.com;user=phone SIP/2.0",
            usual("isup@x", "1 INVITE", "Content-Type: multipart/mixed;boundary=unique-boundary-1",
                  "MIME-Version: 1.0"),
            multipart("unique-boundary-1", ("application/sdp", SDP.encode()),
                      ("application/ISUP;version=nxv3;base=etsi121", ISUP))),
    message(INVITE, usual("quoted-boundary@x", "1 INVITE", 'Content-Type: multipart/alternative; boundary="b:1 2"'),
            multipart("b:1 2", ("text/plain", b"hello"), ("APPLICATION/SDP", SDP.encode()))),
    message(INVITE, usual("nested@x", "1 INVITE", "Content-Type: multipart/mixed;boundary=outer"),
            multipart("outer", ("multipart/alternative; boundary=inner", multipart("inner", ("application/sdp",
                                                                                            SDP.encode()))),
                      ("application/pidf+xml", b"<presence/>"))),
    message("INVITE sip:bob@[2001:db8::1] SIP/2.0",
            usual("v6@x", "1 INVITE", "Contact: <sip:alice@[2001:db8::10]:5062;transport=udp>",
                  "Content-Type: application/sdp", frm="<sip:alice@[2001:db8::10]:5062>;tag=v6",
                  to="<sip:bob@[2001:db8::1]>",
                  via="SIP/2.0/UDP [2001:db8::10]:5060;branch=z9hG4bK6;received=2001:db8::99;rport=5060"), SDP6),
    message("INVITE sip:fax@example.com SIP/2.0", usual("t38@x", "2 INVITE", "Content-Type: application/sdp"), T38),
    message(INVITE, usual("srtp@x", "1 INVITE", "Content-Type: application/sdp",
                          via="SIP/2.0/TLS 192.0.2.1:5061;branch=z9hG4bKs"), SRTP),
    message(INVITE, usual("hold@x", "3 INVITE", "Content-Type: application/sdp"), HOLD),
    message("SIP/2.0 183 Session Progress",
            usual("c183@x", "1 INVITE", "Require: 100rel", "RSeq: 1", "Content-Type: application/sdp",
                  "Server: Cisco-SIPGateway/IOS-15.x", to="<sip:bob@example.com>;tag=b1"), SDP),
    message("PRACK sip:bob@192.0.2.2 SIP/2.0", usual("c183@x", "2 PRACK", "RAck: 1 1 INVITE",
                                                    to="<sip:bob@example.com>;tag=b1")),
    message("UPDATE sip:bob@192.0.2.2 SIP/2.0", usual("upd@x", "4 UPDATE", "Content-Type: application/sdp"), SDP),
    message("REFER sip:bob@192.0.2.2 SIP/2.0",
            usual("ref@x", "5 REFER", "Refer-To: <sip:carol@example.com?Replaces=abc%40x%3Bto-tag%3D1>",
                  "Referred-By: <sip:alice@example.com>")),
    message("NOTIFY sip:alice@192.0.2.1 SIP/2.0",
            usual("ref@x", "6 NOTIFY", "Event: refer;id=5", "Subscription-State: terminated;reason=noresource",
                  "Content-Type: message/sipfrag;version=2.0"), "SIP/2.0 200 OK\r\n"),
    message("MESSAGE sip:bob@example.com SIP/2.0",
            usual("msg@x", "1 MESSAGE", "Content-Type: text/plain;charset=UTF-8"), "héllo wörld ☎"),
    message("INFO sip:bob@192.0.2.2 SIP/2.0", usual("info@x", "4 INFO", "Content-Type: application/dtmf-relay"),
            "Signal=5\r\nDuration=160\r\n"),
    message("SUBSCRIBE sip:bob@example.com SIP/2.0",
            usual("sub@x", "1 SUBSCRIBE", "Event: presence", "Accept: application/pidf+xml", "Expires: 3600")),
    message("NOTIFY sip:alice@192.0.2.1 SIP/2.0",
            usual("sub@x", "2 NOTIFY", "Event: presence", "Content-Type: application/pidf+xml"),
            '<?xml version="1.0"?><presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:bob@example.com">'
            '<tuple id="t"><status><basic>open</basic></status></tuple></presence>'),
    message(INVITE, usual("wss@x", "1 INVITE", "Contact: <sip:abc@df7jal23ls0d.invalid;transport=ws;ob>",
                          "User-Agent: JsSIP 3.10.0", "Content-Type: application/sdp",
                          frm='"Web" <sip:web@example.com>;tag=w1',
                          via="SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bKw;rport"), SDP),
    message("INVITE sip:+15551234567@gw.example.com;user=phone SIP/2.0",
            usual("uph@x", frm='"+1 555 000 1111" <sip:+15550001111@gw.example.com;user=phone>;tag=u1',
                  to="<sip:+15551234567;npdi;rn=+15556660000@gw.example.com;user=phone>")),
    message(INVITE, usual("esc@x", frm='"Smith, John \\"JJ\\"" <sip:john@example.com>;tag=e1',
                          to='"Müller, Jörg" <sip:joerg@example.com>')),
    message(INVITE, usual("u8@x", frm="José García <sip:jose@example.com>;tag=u8")),
    message(INVITE, usual("latin1@x")).replace(b'"Alice"', b'"Al\xe9\xff"'),  # not UTF-8
    message("SIP/2.0 200 OK", [f"Via: SIP/2.0/UDP 10.0.{i // 250}.{i % 250}:5060;branch=z9hG4bKv{i}" for i in range(60)]
            + [f"Record-Route: <sip:10.1.0.{i}:5060;lr>" for i in range(60)]
            + usual("manyvia@x", to="<sip:bob@example.com>;tag=mv")[1:]),
    message("SIP/2.0 480 Temporarily Unavailable",
            usual("rw@x", "1 INVITE", 'Reason: Q.850;cause=18;text="No user responding"',
                  'Warning: 399 sbc.example.com "Routing failed"',
                  'P-Asserted-Identity: "Bob" <sip:+15551234567@example.com>, <tel:+15551234567>',
                  "Diversion: <sip:+15550009999@example.com>;reason=unconditional;counter=1",
                  to="<sip:bob@example.com>;tag=r")),
    message("REGISTER sip:example.com SIP/2.0",
            usual("reg@x", "1 REGISTER", 'Contact: <sip:100@192.0.2.50:5060>;+sip.instance="<urn:uuid:1>";expires=60',
                  "User-Agent: Grandstream GXP2170 1.0.11.3", frm="<sip:100@example.com>;tag=r1",
                  to="<sip:100@example.com>")),
    message("OPTIONS sip:100@192.0.2.50:5060 SIP/2.0",
            usual("opt@x", "1 OPTIONS", frm="sip:asterisk@192.0.2.1;tag=o1", to="sip:100@192.0.2.50")),
    message("SIP/2.0 486 Occupé ici", usual("phrase8@x", to="<sip:bob@example.com>;tag=z")),
    message("SIP/2.0 100 Trying", usual("v6r@x", via="SIP/2.0/TCP [2001:db8::5]:5060;received=[2001:db8::6];"
                                                     "branch=z9hG4bK66;rport=1234")),
    message("INVITE sips:bob@example.com SIP/2.0", usual("sips@x", frm='"S" <sips:alice@example.com>;tag=s1')),
    message(INVITE, usual("ctp@x", "1 INVITE", "Content-Type: application/SDP ; charset=utf-8"), SDP),
    message("SIP/2.0 603 Decline", usual("603@x", "1 INVITE", 'Reason: Q.850;cause=21;text="Call rejected"',
                                         "Server: Polycom/5.9", to="<sip:carol@d.example>;tag=2")),
]


def _pcap(messages: list[bytes]) -> bytes:
    """A capture (raw IPv4, link type 101) of each message as one UDP datagram to 5060."""
    packets = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)]
    for number, payload in enumerate(messages):
        udp = struct.pack("!HHHH", 5060, 5060, 8 + len(payload), 0) + payload
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), number, 0, 64, 17, 0,
                         bytes([192, 0, 2, 5]), bytes([192, 0, 2, 1])) + udp
        packets.append(struct.pack("<IIII", 1_700_000_000 + number, 0, len(ip), len(ip)) + ip)
    return b"".join(packets)


def _fields(node: Any, found: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every field of a packet's tshark JSON tree, by name, in tree order."""
    if isinstance(node, dict):
        for name, value in node.items():
            if isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value)):
                found.setdefault(name, []).extend([value] if isinstance(value, str) else value)
            else:
                _fields(value, found)
    elif isinstance(node, list):
        for item in node:
            _fields(item, found)
    return found


def _display(shown: str | None) -> str | None:
    """A display name as stored: the quotes and the backslashes of quoted pairs dropped."""
    if shown is None:
        return None
    text = shown.strip()
    if len(text) >= 2 and text[0] == text[-1] == '"':
        text = re.sub(r"\\(.)", r"\1", text[1:-1])
    return text or None


def _wireshark_view(fields: dict[str, list[str]]) -> dict[str, Any]:
    """The columns of a message as Wireshark reads it."""
    def one(name: str) -> str | None:
        return fields[name][0] if name in fields else None

    def number(name: str) -> int | None:
        value = one(name)
        return int(value) if value is not None else None

    status = number("sip.Status-Code") if "sip.Status-Line" in fields else None
    phrase = re.sub(r"^SIP/2\.0 \d{3} ", "", one("sip.Status-Line") or "") or None
    view = {"call_id": one("sip.Call-ID"), "method": one("sip.Method") if status is None else None,
            "request_uri": one("sip.r-uri"), "status_code": status, "reason_phrase": phrase,
            "sip_method": one("sip.Method") if status is None else f"{status} {phrase}",
            "from_sip": one("sip.From"), "to_sip": one("sip.To"), "cseq": number("sip.CSeq.seq"),
            "cseq_method": one("sip.CSeq.method"), "via": one("sip.Via"), "via_branch": one("sip.Via.branch"),
            "contact": one("sip.Contact"), "user_agent": one("sip.User-Agent") or one("sip.Server"),
            "content_type": one("sip.Content-Type"), "content_length": number("sip.Content-Length"),
            "q850_cause": number("sip.reason_cause_q850"),
            "media": fields.get("sdp.media", []), "connection": fields.get("sdp.connection_info", [])}
    for side in ("from", "to"):
        view |= {f"{side}_display": _display(one(f"sip.{side}.display.info")), f"{side}_user": one(f"sip.{side}.user"),
                 f"{side}_host": one(f"sip.{side}.host"), f"{side}_tag": one(f"sip.{side}.tag")}
    return view


def _stored_view(row: sqlite3.Row) -> dict[str, Any]:
    """The same columns of a stored row; the SDP by its m= and c= lines, as Wireshark lists them."""
    view = {key: row[key] for key in row.keys() if key != "sdp_content"}
    lines = (row["sdp_content"] or "").split("\n")
    return view | {"media": [line[2:] for line in lines if line.startswith("m=")],
                   "connection": [line[2:] for line in lines if line.startswith("c=")]}


def _decoded(capture: Path) -> list[dict[str, Any]]:
    argv = [str(TSHARK), "-r", str(capture), "-T", "json", "--no-duplicate-keys", "-d", "udp.port==5060,sip"]
    packets = json.loads(subprocess.run(argv, capture_output=True, check=True, timeout=120).stdout)
    return [_wireshark_view(_fields(packet["_source"]["layers"]["sip"], {})) for packet in packets]


def _pjsip_log(messages: list[bytes]) -> bytes:
    """The messages as Asterisk's PJSIP logger writes them to its file channel."""
    entries = []
    for number, raw in enumerate(messages):
        kind = "response" if raw.startswith(b"SIP/") else "request"
        entries.append(f"[Dec  3 12:00:{number:02d}] VERBOSE[6573] res_pjsip_logger.c: <--- Received SIP {kind} "
                       f"({len(raw)} bytes) from UDP:192.0.2.5:5060 --->\n".encode() + raw + b"\n")
    return b"".join(entries)


@pytest.fixture(scope="module")
def wireshark(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    capture = tmp_path_factory.mktemp("capture") / "messages.pcap"
    capture.write_bytes(_pcap(MESSAGES))
    return _decoded(capture)


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    where = tmp_path_factory.mktemp("stored")
    log = where / "pjsip"
    log.write_bytes(_pjsip_log(MESSAGES))
    ingest_ok(f"sqlite:///{where / 'sip.db'}", "--format", "full", "--year", "2026", str(log))
    with sqlite3.connect(where / "sip.db") as db:
        db.row_factory = sqlite3.Row
        return [_stored_view(row) for row in db.execute("SELECT * FROM sip_transactions ORDER BY id")]


def test_every_message_is_decoded_and_stored(wireshark: list[dict[str, Any]], stored: list[dict[str, Any]]) -> None:
    assert len(wireshark) == len(stored) == len(MESSAGES)
    assert all(view["call_id"] for view in wireshark)


@pytest.mark.parametrize("number", range(len(MESSAGES)))
def test_the_stored_row_reads_as_wireshark_does(number: int, wireshark: list[dict[str, Any]],
                                                stored: list[dict[str, Any]]) -> None:
    expected = wireshark[number]
    row = stored[number]
    assert {key: row[key] for key in expected} == expected
