"""Every sample dialect gives exactly the messages of the ground truth."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from sipparse.grok import PatternLibrary
from sipparse.logs.escapes import decode_escapes
from tests.logs.helpers import DATA, imfile_lines, interleave, key, parse_bytes

TRUTH = [json.loads(line) for line in (DATA / "truth.jsonl").read_text().splitlines()]
REAL = ("full", "pjsip", "rsyslog-traditional.log", "rsyslog-fileformat.log")


def _sdp(value: str | None) -> str | None:
    if value is None:
        return None
    return value.replace("\r\n", "\n").replace("\r", "").rstrip("\n") or None


def _method(t: dict) -> str:
    if t["type"] == "request":
        return t["method"]
    return f"{t['status_code']} {t['reason_phrase'] or ''}".strip()


@pytest.mark.parametrize(
    "name, dialect, says_direction",
    [("pjsip-full", "full", True), ("pjsip-syslog", "syslog", False),
     ("pjsip-syslog-markers", "syslog", True), ("pjsip-rfc5424", "rfc5424", False)],
)
def test_sample_matches_truth(name: str, dialect: str, says_direction: bool) -> None:
    messages, rejects, _, batch = parse_bytes((DATA / f"{name}.log").read_bytes())
    assert rejects == []
    assert len(messages) == len(TRUTH)
    for m, t in zip(messages, TRUTH, strict=True):
        assert m.dialect == dialect
        assert (m.call_id, m.sip_method, m.cseq, m.cseq_method) == (
            t["call_id"], _method(t), t["cseq_number"], t["cseq_method"])
        assert (m.from_sip, m.to_sip) == (t["from"], t["to"])
        assert m.sdp_content == _sdp(t["sdp"])
        assert m.content_type == t["content_type"]
        assert m.user_agent == (t["user_agent"] or t["server"])
        captured = datetime.fromtimestamp(t["time_epoch"], UTC).replace(tzinfo=None)
        assert abs((m.timestamp - captured).total_seconds()) <= 1.5
        if says_direction:
            assert m.direction == ("in" if t["direction"] == "received" else "out")
            assert (m.transport, m.peer, m.marker_bytes) == (
                t["transport"], t["src"] if m.direction == "in" else t["dst"], t["length"])
            assert m.raw_message == t["raw"].encode()
        else:
            assert m.direction is None
        assert m.problems == []
    assert batch.checkpoint == batch.end == len((DATA / f"{name}.log").read_bytes())


def test_offsets_point_at_first_log_line() -> None:
    data = (DATA / "pjsip-syslog-markers.log").read_bytes()
    messages, _, _, _ = parse_bytes(data)
    for m in messages:
        first_line = data[m.offset:data.index(b"\n", m.offset)]
        assert first_line.endswith(f"{m.marker_bytes} bytes) {'from' if m.direction == 'in' else 'to'} "
                                   f"{m.transport}:{m.peer} --->".encode())
        assert data[m.end - 1:m.end] == b"\n"


def test_seed_call_gives_the_five_expected_rows() -> None:
    expected = json.loads((DATA / "seed-call.expected.json").read_text())
    messages, rejects, skipped, _ = parse_bytes((DATA / "seed-call.log").read_bytes(), year=2025)
    assert rejects == [] and skipped == 0
    got = [
        {"call_id": m.call_id, "sip_method": m.sip_method, "from_sip": m.from_sip, "to_sip": m.to_sip,
         "cseq": m.cseq, "cseq_method": m.cseq_method, "sdp_content": m.sdp_content,
         "timestamp": m.timestamp.strftime("%Y-%m-%d %H:%M:%S")}
        for m in messages
    ]
    assert got == expected
    bye = messages[-1]
    assert (bye.reason_header, bye.q850_cause) == ("Q.850;cause=16", 16)
    assert messages[1].via_branch == "z9hG4bK-3973-9-0"  # the Via rsyslog wrapped onto two lines


def _summary(messages: list) -> list[tuple]:
    return [(m.call_id, m.sip_method, m.cseq, m.cseq_method, m.from_sip, m.to_sip, m.via_branch,
             m.sdp_content, m.direction, m.transport, m.peer, m.marker_bytes, m.raw_message,
             m.timestamp.replace(microsecond=0)) for m in messages]


def test_real_asterisk_files_agree() -> None:
    results = {name: parse_bytes((DATA / "asterisk-real" / name).read_bytes()) for name in REAL}
    summaries = {name: _summary(messages) for name, (messages, _, _, _) in results.items()}
    for name, (messages, rejects, skipped, _) in results.items():
        assert len(messages) == 154, name
        assert rejects == [], name
        assert skipped > 0, name  # dialplan and banner lines are counted, never messages
        assert summaries[name] == summaries["full"], name
    full = results["full"][0]
    assert {m.dialect for m in full} == {"full"}
    assert {m.host for m in results["rsyslog-traditional.log"][0]} == {"vm"}
    assert any(m.q850_cause == 16 for m in full)
    assert {m.transport for m in full} == {"UDP", "TCP"}
    assert all(m.problems == [] for m in full)


def _as_plain_formatter(channel_file: bytes) -> bytes:
    """A file channel as logger.conf's "plain" formatter writes it (``pjsip => [plain]verbose``):
    a colon after the thread and call ids, then the module's source line and function."""
    entry = re.compile(rb"(?m)^(\[[^\]\n]+\] [A-Z]+\[[0-9]+\](?:\[C-[0-9a-f]+\])?) ([A-Za-z0-9_.\-]+): ")
    return entry.sub(rb"\1: \2:322 logging_on_rx_msg: ", channel_file)


@pytest.mark.parametrize("name", ["full", "pjsip"])
def test_a_file_channel_with_the_plain_formatter(name: str) -> None:
    data = (DATA / "asterisk-real" / name).read_bytes()
    plain = _as_plain_formatter(data)
    assert b"] VERBOSE[2931]: res_pjsip_logger.c:322 logging_on_rx_msg: <--- Received" in plain
    default, _, default_skipped, _ = parse_bytes(data)
    messages, rejects, skipped, _ = parse_bytes(plain)
    assert rejects == [] and skipped == default_skipped
    assert _summary(messages) == _summary(default) and len(messages) == 154


@pytest.mark.parametrize("name", ["rsyslog-traditional.log", "rsyslog-fileformat.log"])
def test_the_syslog_channel_through_an_rsyslog_that_does_not_escape(name: str) -> None:
    """``$EscapeControlCharactersOnReceive off``: the packet's CR and LF are written as they
    are, so each message is its marker line, then its own lines without a prefix."""
    escaped = (DATA / "asterisk-real" / name).read_bytes()
    raw = decode_escapes(escaped)
    assert b"--->\nOPTIONS sip:" in raw and b"#012" not in raw
    expected, _, _, _ = parse_bytes(escaped)
    messages, rejects, _, batch = parse_bytes(raw, batch_bytes=8192)
    assert rejects == [] and batch.checkpoint == len(raw)
    assert _summary(messages) == _summary(expected) and len(messages) == 154
    assert all(m.problems == [] for m in messages)


def test_a_tcp_segment_logged_twice_through_an_rsyslog_that_does_not_escape() -> None:
    """One TCP segment carrying an ACK and a BYE, which Asterisk logs once for each message (the
    marker announcing that message's length): unescaped, the BYE's lines follow the ACK's
    without a prefix, and each message is stored once, as from the escaped log."""
    ack = (b"ACK sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
           b"To: <sip:x@h>;tag=2\r\nCall-ID: tcp-1\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n")
    bye = ack.replace(b"ACK", b"BYE").replace(b"CSeq: 1", b"CSeq: 2").replace(b"Content-", b"Reason: Q.850;cause=16"
                                                                              b"\r\nContent-")
    escaped = b""
    for size in (len(ack), len(bye)):
        packet = b"<--- Received SIP request (%d bytes) from TCP:10.0.0.1:5060 --->\n%s%s" % (size, ack, bye)
        escaped += (b"Nov 29 14:00:01 vm asterisk[2899]: VERBOSE[2926]: res_pjsip_logger.c:322 in logging_on_rx_msg: "
                    + packet.replace(b"\r", b"#015").replace(b"\n", b"#012") + b"\n")
    escaped += b"Nov 29 14:00:02 vm asterisk[2899]: VERBOSE[2926]: pbx.c:4418 in pbx_extension_helper: next\n"
    for data in (escaped, decode_escapes(escaped), decode_escapes(escaped).rsplit(b"Nov 29 14:00:02", 1)[0]):
        messages, rejects, _, _ = parse_bytes(data, final=True)
        assert rejects == [] and [(m.raw_message, m.problems) for m in messages] == [(ack, []), (bye, [])], data


def test_a_body_with_control_bytes_forwarded_line_by_line_is_read_to_its_end() -> None:
    """rsyslog writes a body's control bytes (an ISUP part's, an XML body's TABs) as ``#NNN``:
    its Content-Length counts each as the one byte it was, so the message's last lines (here
    the multipart epilogue) are still its own, and the 486 after it is read whole."""
    data = (DATA / "escapes" / "isup-multipart.imfile").read_bytes()
    assert b"#001#002#000#003#015" in data
    for log in (data, data.replace(b"#001#002#000#003", b"#011#011#011#011")):
        messages, rejects, _, _ = parse_bytes(log, year=2026)
        assert rejects == []
        assert [(m.sip_method, m.problems) for m in messages] == [("INVITE", []), ("486 Busy Here", [])]
        assert messages[0].raw_message.endswith(b"--b;1--\r\nepilogue\r\n") and len(messages[0].raw_message) == 651
        assert messages[0].sdp_content.startswith("v=0\no=- 1 1 IN IP4 10.0.0.1")


def _segment_logged_twice(first: bytes, second: bytes) -> bytes:
    """A file channel's dumps of one TCP segment carrying two messages: the whole segment under
    each message's marker, as Asterisk logs it."""
    return b"".join(b"[Nov 29 14:00:01] VERBOSE[2926] res_pjsip_logger.c: <--- Received SIP request (%d bytes) "
                    b"from TCP:10.0.0.1:5060 --->\n%s%s\n" % (len(about), first, second) for about in (first, second))


def _info(body: bytes) -> bytes:
    return (b"INFO sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
            b"To: <sip:x@h>;tag=2\r\nCall-ID: tcp-1\r\nCSeq: 5 INFO\r\nContent-Type: application/dtmf-relay\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


_INFO = _info(b"Signal=5\r\nDuration=160\r\n")
_BYE = (b"BYE sip:x@h SIP/2.0\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK2\r\nFrom: <sip:a@h>;tag=1\r\n"
        b"To: <sip:x@h>;tag=2\r\nCall-ID: tcp-1\r\nCSeq: 6 BYE\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("body", [b"", b"Signal=5\r\nDuration=160\r\n"], ids=["no-body", "body"])
def test_a_tcp_segment_logged_twice_forwarded_line_by_line(body: bytes) -> None:
    """The pjsip file channel forwarded by imfile, and the same lines without Asterisk's prefix:
    each message of the segment is stored once, under its own marker, not once per dump."""
    info, bye = _info(body), _BYE
    for first, second in ((info, bye), (bye, info)):
        channel = _segment_logged_twice(first, second) + b"[Nov 29 14:00:02] VERBOSE[2926] pbx.c: next\n"
        forwarded = b"".join(imfile_lines(channel, "pbx-a", 4101))
        bare = forwarded.replace(b"[Nov 29 14:00:01] VERBOSE[2926] res_pjsip_logger.c: <---", b"<---")
        for data in (forwarded, bare, forwarded.rsplit(b"\n", 2)[0] + b"\n"):
            messages, rejects, _, _ = parse_bytes(data, final=True)
            assert rejects == []
            assert [(m.raw_message, m.marker_bytes, m.direction, m.problems) for m in messages] == [
                (first, len(first), "in", []), (second, len(second), "in", [])], data


def _as_syslog_channel(full_entries: bytes) -> bytes:
    """Entries of a file channel as Asterisk's syslog channel writes them through rsyslog:
    one line per entry, CR and LF escaped."""
    lines = b""
    for entry in re.split(rb"\n(?=\[)", full_entries.removesuffix(b"\n")):
        stamp, _, text = entry.partition(b"] VERBOSE[2931] res_pjsip_logger.c: ")
        lines += (stamp[1:] + b" vm asterisk[2899]: VERBOSE[2931]: res_pjsip_logger.c:354 in logging_on_rx_msg: "
                  + text.replace(b"\r", b"#015").replace(b"\n", b"#012") + b"\n")
    return lines


def test_a_tcp_segment_of_two_messages_of_one_length_logged_twice() -> None:
    """Two OPTIONS of one length (they differ in CSeq, tag and branch) in one TCP segment:
    both dumps announce 247 bytes, so the length cannot tell which message each is about.
    Asterisk logs the messages in order, so the second dump is about the second message."""
    full = (DATA / "tcp" / "same-length-segment.full").read_bytes()
    forwarded = b"".join(imfile_lines(full, "pbx-a", 4101))
    expected = [("raw-opt-1@127.0.0.1", 1, 247), ("raw-opt-2@127.0.0.1", 2, 247)]
    for data, rows in ((full, expected), (_as_syslog_channel(full), expected), (forwarded, expected),
                       (forwarded + forwarded.replace(b"opt-", b"opu-"), expected + [
                           ("raw-opu-1@127.0.0.1", 1, 247), ("raw-opu-2@127.0.0.1", 2, 247)])):
        messages, rejects, _, _ = parse_bytes(data, year=2026, final=True)
        assert rejects == []
        assert [(m.call_id, m.cseq, m.marker_bytes) for m in messages] == rows, data[:200]


def test_a_tcp_message_sent_twice_forwarded_line_by_line_is_two_rows() -> None:
    """A 200 OK a TCP peer retransmits (RFC 3261 13.3.1.4: until the ACK comes) is logged twice
    alike, each time the whole segment: two rows, not a dump of one segment."""
    ok = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
          b"To: <sip:x@h>;tag=2\r\nCall-ID: tcp-2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    entry = (b"[Nov 29 14:00:01] VERBOSE[2926] res_pjsip_logger.c: <--- Received SIP response (%d bytes) "
             b"from TCP:10.0.0.1:5060 --->\n%s\n" % (len(ok), ok))
    for data in (entry * 2, b"".join(imfile_lines(entry * 2, "pbx-a", 4101))):
        messages, rejects, _, _ = parse_bytes(data, final=True)
        assert rejects == [] and [m.raw_message for m in messages] == [ok, ok]


@pytest.mark.parametrize("trailing", [b"", b"#012"], ids=["lf-dropped", "lf-kept"])
def test_a_message_without_content_length_on_the_syslog_channel(trailing: bytes) -> None:
    """An ACK without Content-Length (UDP allows it) ends where the packet ends: Asterisk's own
    LF after the packet, which rsyslog keeps with ``$DropTrailingLFOnReception off``, is not
    part of it."""
    ack = (b"ACK sip:x@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
           b"To: <sip:x@h>;tag=2\r\nCall-ID: udp-1\r\nCSeq: 1 ACK\r\n\r\n")
    packet = b"<--- Received SIP request (%d bytes) from UDP:10.0.0.1:5060 --->\n%s" % (len(ack), ack)
    line = (b"Nov 29 14:00:01 vm asterisk[2899]: VERBOSE[2926]: res_pjsip_logger.c:322 in logging_on_rx_msg: "
            + packet.replace(b"\r", b"#015").replace(b"\n", b"#012") + trailing + b"\n")
    messages, rejects, _, _ = parse_bytes(line)
    assert rejects == [] and [(m.raw_message, m.problems) for m in messages] == [(ack, [])]


def _with_repeat_summaries(syslog_channel: bytes) -> bytes:
    """The syslog channel through an rsyslog with ``$RepeatedMsgReduction on``: after the first
    packet and the first dialplan line, a "message repeated 2 times" line for each."""
    lines = syslog_channel.split(b"\n")
    packet = next(i for i, line in enumerate(lines) if b"<--- Received SIP request" in line)
    dialplan = next(i for i, line in enumerate(lines) if b" pbx.c:" in line and i > packet)
    for i in (dialplan, packet):
        prefix, _, text = lines[i].partition(b": ")
        lines.insert(i + 1, prefix + b": message repeated 2 times: [ " + text[:799] + b"]")
    return b"\n".join(lines)


def test_rsyslog_repeat_summaries_of_a_packet_are_rejects() -> None:
    """The two repeats of a packet that rsyslog summed up are not in the log: a reject says so,
    where the summary of a dialplan line is skipped like that line."""
    data = (DATA / "asterisk-real" / "rsyslog-traditional.log").read_bytes()
    expected, _, skipped, _ = parse_bytes(data)
    messages, rejects, summed_skipped, _ = parse_bytes(_with_repeat_summaries(data))
    assert _summary(messages) == _summary(expected) and summed_skipped == skipped + 1
    assert [r.reason for r in rejects] == [
        "rsyslog wrote 2 repeats of the message before it as one 'message repeated' line "
        "($RepeatedMsgReduction): they are not in the log"]
    assert rejects[0].raw.startswith(b"message repeated 2 times: [ VERBOSE[") and rejects[0].host == "vm"
    unescaped, unescaped_rejects, _, _ = parse_bytes(decode_escapes(_with_repeat_summaries(data)))
    assert _summary(unescaped) == _summary(expected)
    assert [r.reason for r in unescaped_rejects] == [r.reason for r in rejects]


def test_repeat_summaries_under_a_marker_only_the_regex_module_reads(tmp_path: Path) -> None:
    """A patterns dir redefining ASTERISK_PJSIP_MARKER in ``regex``-only syntax (``\\p{Nd}``):
    the marker is looked for inside a "message repeated" summary on that module too, where
    the first summary ended the run with an AttributeError."""
    (tmp_path / "mine").write_text(
        r"ASTERISK_PJSIP_MARKER <--- (?<verb>Received|Transmitting) SIP (?<kind>request|response) "
        r"\((?<bytes>\p{Nd}+) bytes\) (?:from|to) (?<transport>[A-Za-z]+):(?<peer>[^ \n]+) --->" "\n")
    patterns = PatternLibrary.load(extra_dirs=[tmp_path])
    data = (DATA / "asterisk-real" / "rsyslog-traditional.log").read_bytes()
    expected, expected_rejects, _, _ = parse_bytes(_with_repeat_summaries(data))
    messages, rejects, _, _ = parse_bytes(_with_repeat_summaries(data), patterns=patterns)
    assert _summary(messages) == _summary(expected)
    assert [r.reason for r in rejects] == [r.reason for r in expected_rejects] and len(rejects) == 1


@pytest.mark.parametrize("lf", [b"#012", b"\\n", None], ids=["escapeLF-#012", "escapeLF-default", "escapeLF-off"])
def test_imfile_reading_whole_entries(lf: bytes | None) -> None:
    """imfile with ``startmsg.regex="^\\["`` forwards each entry of the pjsip file as one
    message: on one line, its LFs as imfile's own escape (``\\n``, rsyslog 8.2302) or as
    ``escapeLF.replacement="#012"``, its CRs as ``#015`` (rsyslog's parser), or with its LFs
    as they are (``escapeLF="off"``), the lines after the first then without a prefix."""
    channel = (DATA / "asterisk-real" / "pjsip").read_bytes()
    forwarded = b""
    for entry in re.split(rb"(?m)^(?=\[)", channel)[1:]:
        text = entry.removesuffix(b"\n")  # imfile joins the entry's lines, its last LF ends the message
        if lf is not None:
            text = text.replace(b"\n", lf).replace(b"\r", b"#015")
        forwarded += b"%s pbx-a asterisk: %s\n" % (entry[1:16], text)
    expected, _, _, _ = parse_bytes(channel)
    messages, rejects, _, batch = parse_bytes(forwarded, batch_bytes=4096)
    assert rejects == [] and batch.checkpoint == len(forwarded)
    assert _summary(messages) == _summary(expected) and len(messages) == 154
    assert all(m.problems == [] for m in messages)


def test_multi_host_imfile_file_keeps_every_message_whole() -> None:
    channels = {"pbx-a": "pjsip", "pbx-b": "full"}
    alone = {host: parse_bytes((DATA / "asterisk-real" / f).read_bytes())[0] for host, f in channels.items()}
    streams = [imfile_lines((DATA / "asterisk-real" / f).read_bytes(), host, 4100 + i)
               for i, (host, f) in enumerate(channels.items())]
    data = interleave(streams, seed=7)
    messages, rejects, _, batch = parse_bytes(data, batch_bytes=8192)
    assert rejects == []
    assert batch.checkpoint == len(data)
    for host in channels:
        mine = [m for m in messages if m.host == host]
        assert len(mine) == 154
        assert [(m.call_id, m.sip_method, m.cseq, m.raw_message, m.direction, m.peer) for m in mine] == [
            (m.call_id, m.sip_method, m.cseq, m.raw_message, m.direction, m.peer) for m in alone[host]]
        assert all(m.problems == [] for m in mine)
    assert len({m.offset for m in messages}) == len(messages)


@pytest.mark.parametrize("first, then", [("rsyslog-fileformat.log", "rsyslog-traditional.log"),
                                         ("rsyslog-traditional.log", "rsyslog-fileformat.log")])
def test_a_log_whose_time_stamps_change_format_midway_keeps_every_message(first: str, then: str) -> None:
    """rsyslog's template changed and rsyslogd restarted: the file goes on in the other
    format. Its lines are not the first lines' continuations: each message is read as alone."""
    before, after = ((DATA / "asterisk-real" / name).read_bytes() for name in (first, then))
    messages, rejects, _, batch = parse_bytes(before + after)
    alone = parse_bytes(before)[0] + parse_bytes(after)[0]
    assert rejects == [] and batch.checkpoint == len(before + after)
    assert [key(m)[2:] for m in messages] == [key(m)[2:] for m in alone]
    assert len(messages) == 2 * 154


@pytest.mark.parametrize("first, then", [("rsyslog-fileformat.log", "rsyslog-traditional.log"),
                                         ("rsyslog-traditional.log", "rsyslog-fileformat.log")])
def test_a_hole_before_a_line_of_the_format_a_log_changed_to(first: str, then: str) -> None:
    """A crash leaves a hole of NULs, rsyslogd restarts with another template: the line after
    the hole has the other format's prefix, and is read as well as one of the first format."""
    before, after = ((DATA / "asterisk-real" / name).read_bytes() for name in (first, then))
    first_packet = after.rindex(b"\n", 0, after.index(b"<--- ")) + 1
    holed = before + after[:first_packet] + b"\x00" * 100 + after[first_packet:]
    messages, rejects, _, batch = parse_bytes(holed)
    alone = parse_bytes(before)[0] + parse_bytes(after)[0]
    assert rejects == [] and batch.checkpoint == len(holed)
    assert [key(m)[2:] for m in messages] == [key(m)[2:] for m in alone]
