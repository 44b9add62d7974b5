"""The Asterisk CLI's output copied into a file: the shape most PJSIP logs posted for help take.

``asterisk -rvvv`` after ``pjsip set logger on`` prints each packet logger entry without
prefix: the marker begins a line, the packet follows, and the CLI's own lines (prompts,
``    -- Executing ...``, ``  == ...``, warnings with their time stamp) come between the
packets. ``asterisk -rvvvT`` puts ``[time] `` before each marker. A copy from a terminal or
a web page often loses the CRs.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

import pytest

from sipparse.logs.dialects import detect_dialect
from sipparse.logs.full import NO_CONSOLE_TIME
from tests.ingest.helpers import ingest, ingest_ok
from tests.logs.helpers import parse_bytes

CRLF = "\r\n"
SDP = "v=0\r\no=- 90 90 IN IP4 192.0.2.40\r\ns=-\r\nc=IN IP4 192.0.2.40\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0\r\n" \
      "a=rtpmap:0 PCMU/8000\r\n"


def _packet(start: str, cseq: str, body: str = "", tag: str = "") -> str:
    headers = [start, "Via: SIP/2.0/UDP 192.0.2.40:5066;branch=z9hG4bK-con-" + cseq.replace(" ", ""),
               'From: "Jürgen Kälin" <sip:301@192.0.2.1>;tag=con-a', f"To: <sip:302@192.0.2.1>{tag}",
               "Call-ID: console-call-7@192.0.2.40", f"CSeq: {cseq}"]
    if body:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(body.encode())}")
    return CRLF.join(headers) + CRLF + CRLF + body


PACKETS = [
    ("Received", "request", _packet("INVITE sip:302@192.0.2.1 SIP/2.0", "5 INVITE", SDP)),
    ("Transmitting", "response", _packet("SIP/2.0 100 Trying", "5 INVITE")),
    ("Transmitting", "response", _packet("SIP/2.0 200 OK", "5 INVITE", SDP, ";tag=con-b")),
    ("Received", "request", _packet("ACK sip:302@192.0.2.1 SIP/2.0", "5 ACK", tag=";tag=con-b")),
    ("Received", "request", _packet("BYE sip:302@192.0.2.1 SIP/2.0", "6 BYE", tag=";tag=con-b")),
    ("Transmitting", "response", _packet("SIP/2.0 200 OK", "6 BYE", tag=";tag=con-b")),
]
# what the CLI prints between packets
CLI_LINES = [
    '    -- Executing [302@from-internal:1] Dial("PJSIP/301-00000004", "PJSIP/302,30") in new stack\n',
    "  == Using SIP RTP CoS mark 5\n",
    "[Dec  3 09:15:02] WARNING[8812][C-00000004]: res_rtp_asterisk.c:3150 ice_reset_session: no ICE\n",
    "       > 0x7f3a2c0 -- Strict RTP learning after remote address set to: 192.0.2.40:30000\n",
]


def console_capture(stamps: bool = False, crs: bool = True, prompt_after: bool = True) -> bytes:
    """One answered call as the CLI shows it, CLI lines after every packet, a prompt at the end."""
    text = "pbx-lab*CLI> pjsip set logger on\nPJSIP Logging enabled\n"
    for i, (verb, kind, packet) in enumerate(PACKETS):
        peer = "from" if verb == "Received" else "to"
        stamp = f"[Dec  3 09:15:{10 + i:02d}] " if stamps else ""
        text += f"{stamp}<--- {verb} SIP {kind} ({len(packet.encode())} bytes) {peer} UDP:192.0.2.40:5066 --->\n"
        text += packet + "\n" + CLI_LINES[i % len(CLI_LINES)]
    if prompt_after:
        text += "pbx-lab*CLI> "
    data = text.encode()
    return data if crs else data.replace(b"\r\n", b"\n")


def test_a_bare_console_capture_is_read_with_the_cli_lines_skipped() -> None:
    data = console_capture()
    assert detect_dialect(data) == "console"
    messages, rejects, skipped, _ = parse_bytes(data)
    assert not rejects
    assert [m.sip_method for m in messages] == ["INVITE", "100 Trying", "200 OK", "ACK", "BYE", "200 OK"]
    assert [m.direction for m in messages] == ["in", "out", "out", "in", "in", "out"]
    assert {(m.transport, m.peer) for m in messages} == {("UDP", "192.0.2.40:5066")}
    assert [m.raw_message for m in messages] == [packet.encode() for _, _, packet in PACKETS]
    assert messages[0].sdp_content == SDP.replace("\r\n", "\n").rstrip("\n")
    assert messages[0].from_sip == '"Jürgen Kälin" <sip:301@192.0.2.1>;tag=con-a'
    assert all(m.timestamp is None and m.problems == [NO_CONSOLE_TIME] for m in messages)
    assert skipped == 2 + len(PACKETS)  # the two lines before the first marker, one CLI line after each packet


def test_the_last_packet_before_a_prompt_is_read_before_the_file_ends() -> None:
    """A capture ends in the prompt: the packet before it is whole, not waiting for more data."""
    messages, _, _, batch = parse_bytes(console_capture(), final=False)
    assert len(messages) == len(PACKETS)
    assert batch.checkpoint >= len(console_capture()) - len("pbx-lab*CLI> ")


def test_a_console_capture_with_time_stamps_gives_each_message_its_time() -> None:
    data = console_capture(stamps=True)
    assert detect_dialect(data) == "console"
    messages, rejects, _, _ = parse_bytes(data, year=2026)
    assert not rejects and len(messages) == len(PACKETS)
    assert [m.timestamp for m in messages] == [datetime(2026, 12, 3, 9, 15, 10 + i) for i in range(len(PACKETS))]
    assert all(not m.problems for m in messages)


def test_a_capture_copied_without_its_crs_keeps_the_cli_lines_out_of_the_bodies() -> None:
    """A body copied without its CRs is shorter than its Content-Length: counted as Asterisk
    logged it (each line with its CRLF), it ends before the CLI line after it."""
    messages, rejects, _, _ = parse_bytes(console_capture(crs=False))
    assert not rejects and len(messages) == len(PACKETS)
    assert messages[0].sdp_content == SDP.replace("\r\n", "\n").rstrip("\n")
    assert b"Executing" not in messages[0].raw_message and b"0x7f3a2c0" not in messages[2].raw_message
    assert messages[2].sdp_content == messages[0].sdp_content


@pytest.mark.parametrize("batch_bytes", [97, 512, 4096])
def test_a_console_capture_reads_the_same_in_any_batch_size(batch_bytes: int) -> None:
    for data in (console_capture(), console_capture(stamps=True), console_capture(crs=False)):
        whole, _, _, _ = parse_bytes(data)
        pieces, rejects, _, _ = parse_bytes(data, batch_bytes=batch_bytes)
        assert not rejects
        assert [(m.offset, m.raw_message, m.timestamp) for m in pieces] == \
               [(m.offset, m.raw_message, m.timestamp) for m in whole]


def test_a_full_log_quoting_a_bare_marker_in_a_body_stays_a_full_log() -> None:
    """A MESSAGE, which anyone may send, whose text is a bare marker does not make a
    ``full`` log a console capture: its own marker is read behind Asterisk's origin."""
    quoted = "<--- Received SIP request (10 bytes) from UDP:192.0.2.9:5060 --->\r\n"
    body = quoted * 3
    message = CRLF.join(["MESSAGE sip:302@192.0.2.1 SIP/2.0", "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK-q",
                         "From: <sip:9@192.0.2.9>;tag=q", "To: <sip:302@192.0.2.1>", "Call-ID: quote-1",
                         "CSeq: 1 MESSAGE", "Content-Type: text/plain",
                         f"Content-Length: {len(body)}"]) + CRLF + CRLF + body
    data = (f"[Dec  3 09:15:10] VERBOSE[8812] res_pjsip_logger.c: <--- Received SIP request "
            f"({len(message)} bytes) from UDP:192.0.2.9:5060 --->\n{message}\n").encode()
    assert detect_dialect(data) == "full"
    messages, rejects, _, _ = parse_bytes(data)
    assert not rejects and [m.call_id for m in messages] == ["quote-1"]


def test_ingest_stores_a_console_capture(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pasted.txt"
    log.write_bytes(console_capture())
    out = ingest_ok(sqlite_url, str(log))
    assert "6 messages new" in out and "0 rejected" in out
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        rows = db.execute("SELECT sip_method, cseq, direction, timestamp, dialect FROM sip_transactions "
                          "ORDER BY id").fetchall()
        calls = db.execute("SELECT from_user, to_user, final_status, message_count FROM calls").fetchall()
    assert rows == [("INVITE", 5, "in", None, "console"), ("100 Trying", 5, "out", None, "console"),
                    ("200 OK", 5, "out", None, "console"), ("ACK", 5, "in", None, "console"),
                    ("BYE", 6, "in", None, "console"), ("200 OK", 6, "out", None, "console")]
    assert calls == [("301", "302", 200, 6)]


def docker_lines(data: bytes, service: str = "") -> bytes:
    """``data``, a console capture, as ``docker logs --timestamps`` shows it (``docker compose
    logs --timestamps`` with a ``service``): each line behind the time Docker read it, the
    CRs of the packet's lines kept."""
    out = []
    for i, line in enumerate(data.split(b"\n")[:-1]):
        stamp = b"2026-12-03T09:15:%02d.%09dZ " % (10 + i // 12, 1000 * i + 7)
        out.append((service.encode() + b"  | " if service else b"") + stamp + line + b"\n")
    return b"".join(out)


@pytest.mark.parametrize("service", ["", "asterisk-1"])
def test_docker_logs_with_time_stamps_are_read_as_the_console_they_show(service: str) -> None:
    data = docker_lines(console_capture(), service)
    assert detect_dialect(data) == "docker"
    messages, rejects, _, _ = parse_bytes(data)
    assert not rejects
    assert [m.raw_message for m in messages] == [packet.encode() for _, _, packet in PACKETS]
    assert [m.direction for m in messages] == ["in", "out", "out", "in", "in", "out"]
    assert messages[0].timestamp == datetime(2026, 12, 3, 9, 15, 10, 2)  # its marker line's 2,007 ns
    assert messages[0].sdp_content == SDP.replace("\r\n", "\n").rstrip("\n")
    assert {m.host for m in messages} == {service or None}


def test_an_rsyslog_log_is_not_read_as_a_docker_one() -> None:
    """rsyslog's RFC 3339 time stamps have six digits of fractions and an offset, Docker's nine and Z."""
    data = b"2026-12-03T09:15:10.123456+00:00 pbx asterisk[4410]: <--- Received SIP request (10 bytes) " \
           b"from UDP:192.0.2.9:5060 --->\n"
    assert detect_dialect(data) == "rfc5424"


@pytest.mark.parametrize(("data", "hint"), [
    (b"asterisk-1  | <--- Received SIP request (10 bytes) from UDP:192.0.2.9:5060 --->\n",
     "docker compose logs: give that --timestamps"),
    (b"    [Dec  3 09:15:10] VERBOSE[8812] res_pjsip_logger.c: <--- Received SIP request (10 bytes) "
     b"from UDP:192.0.2.9:5060 --->\n", "its lines are indented"),
])
def test_a_shape_read_after_a_small_change_is_named_with_that_change(
        sqlite_url: str, tmp_path: Path, data: bytes, hint: str) -> None:
    log = tmp_path / "pasted.log"
    log.write_bytes(data * 10)  # more than the 512 bytes a file is first read at
    result = ingest(sqlite_url, str(log))
    assert result.exit_code == 0
    assert "not read: no known log format" in result.stderr and hint in result.stderr


def test_a_capture_whose_first_packet_follows_much_other_cli_output_is_still_one() -> None:
    """The CLI shows its warnings with Asterisk's prefix ("[time] WARNING[lwp]: ..."): 200 of
    them before the first packet made the capture a ``full`` log, every packet skipped."""
    warnings = b"".join(b"[Dec  3 09:1%d:00] WARNING[8812]: res_pjsip.c:4410 check: no contact %d\n" % (i % 10, i)
                        for i in range(250))
    data = warnings + console_capture()
    assert detect_dialect(data) == "console"
    messages, rejects, skipped, _ = parse_bytes(data)
    assert not rejects and len(messages) == len(PACKETS)
    assert skipped == 250 + 2 + len(PACKETS)
