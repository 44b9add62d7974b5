"""Damaged logs (lines cut, glued, truncated): each damage is a counted reject or a message
stored as cut, and every message before and after it is still read."""

from __future__ import annotations

import pytest

from sipparse.logs.lines import CUT_LINE, CUT_REST
from tests.logs.helpers import DATA, imfile_lines, parse_bytes

SYSLOG_MESSAGES = (DATA / "pjsip-syslog.log").read_bytes().split(b"\n\n")


def _summary(data: bytes, **options: object) -> tuple[list[tuple], list[tuple], int]:
    messages, rejects, skipped, _ = parse_bytes(data, final=True, **options)
    return ([(m.offset, m.sip_method, m.call_id) for m in messages], [(r.offset, r.reason) for r in rejects],
            skipped)


@pytest.mark.parametrize("batch_bytes", [1 << 20, 300])
def test_a_syslog_body_logged_shorter_than_its_content_length_keeps_the_next_message(
        reader: str, batch_bytes: int) -> None:
    """An INVITE whose SDP lines never made it to the log (Content-Length 129, no body line):
    the next message's start line ends it, where the INVITE took that message as its body."""
    invite = SYSLOG_MESSAGES[0].split(b"\n")
    cut = b"\n".join(invite[:12]) + b"\n"
    assert cut.endswith(b"#015\n") and b"Content-Length:   129" in cut
    data = cut + SYSLOG_MESSAGES[1] + b"\n\n"
    messages, rejects, skipped, _ = parse_bytes(data, dialect="syslog", final=True, batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages] == [(0, "INVITE"), (len(cut), "100 Trying")]
    assert messages[0].raw_message.endswith(b"Content-Length:   129\r\n\r\n")
    assert any("Content-Length 129" in problem for problem in messages[0].problems)
    assert messages[1].raw_message.startswith(b"SIP/2.0 100 Trying\r\n")
    assert not rejects and skipped == 0


def _syslog(lines: list[bytes], pid: int = 6541) -> bytes:
    return b"".join(b"Nov 29 14:09:10 pbx1 asterisk[%d]: %s\n" % (pid, line) for line in lines)


def test_a_syslog_sipfrag_body_still_begins_with_its_start_line(reader: str) -> None:
    """A NOTIFY's message/sipfrag body is a status line: it stays the NOTIFY's body."""
    notify = _syslog([b"NOTIFY sip:a@127.0.0.1 SIP/2.0#015", b"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-1#015",
                      b"From: <sip:b@127.0.0.1>;tag=1#015", b"To: <sip:a@127.0.0.1>;tag=2#015",
                      b"Call-ID: refer-1#015", b"CSeq: 2 NOTIFY#015", b"Event: refer#015",
                      b"Content-Type: message/sipfrag;version=2.0#015", b"Content-Length: 16#015", b"#015",
                      b"SIP/2.0 200 OK#015"])
    messages, rejects, _, _ = parse_bytes(notify + b"\n" + SYSLOG_MESSAGES[1] + b"\n\n", dialect="syslog", final=True)
    assert [m.sip_method for m in messages] == ["NOTIFY", "100 Trying"] and not rejects
    assert messages[0].raw_message.endswith(b"\r\n\r\nSIP/2.0 200 OK\r\n") and not messages[0].problems


FULL_ENTRIES = [b"[" + entry + b"\n" for entry in (DATA / "pjsip-full.log").read_bytes().lstrip(b"[").split(b"\n[")]


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300, 64])
@pytest.mark.parametrize("cut", [150, 30])
def test_a_full_entry_that_begins_inside_a_cut_line_still_gives_its_message(
        reader: str, batch_bytes: int, cut: int) -> None:
    """An entry cut without its LF (a disk full, a copy stopped short), the next entry glued to
    it: the glued entry's message is read, the cut one as what is left of it."""
    first, cut_entry, glued, last = FULL_ENTRIES[0], FULL_ENTRIES[1][:cut], FULL_ENTRIES[2], FULL_ENTRIES[3]
    data = first + cut_entry + glued + last
    messages, rejects, skipped, batch = parse_bytes(data, dialect="full", final=True, batch_bytes=batch_bytes)
    whole = [(m.offset, m.raw_message) for m in parse_bytes(first + glued + last, dialect="full", final=True)[0]]
    shift = len(cut_entry)
    found = [(m.offset, m.raw_message) for m in messages]
    assert found[0] == whole[0]
    assert found[-2:] == [(offset + shift, raw) for offset, raw in whole[1:]]
    assert len(found) == 3 and batch.checkpoint == len(data)
    if cut == 30:  # cut before its marker: no packet entry, a line skipped
        assert not rejects and skipped == 1
    else:  # cut in its packet's headers, before the Call-ID
        assert [(r.offset, r.reason) for r in rejects] == [(len(first), "no Call-ID header")] and skipped == 0
        assert rejects[0].raw == cut_entry[cut_entry.index(b"\n") + 1:]


@pytest.mark.parametrize("batch_bytes", [1 << 20, 300])
def test_a_full_entry_glued_to_a_cut_dialplan_line_still_gives_its_message(reader: str, batch_bytes: int) -> None:
    """A dialplan line cut short, the packet logger's entry glued to it: a line skipped, then
    the message, where the whole was one reject for a marker no pattern reads."""
    dialplan = b'[Nov 29 14:09:10] VERBOSE[6573] pbx.c: Executing [1000@default:1] Dial("PJSIP/1000'
    data = FULL_ENTRIES[0] + dialplan + FULL_ENTRIES[2] + FULL_ENTRIES[3]
    messages, rejects, skipped, _ = parse_bytes(data, dialect="full", final=True, batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages] == [
        (0, "INVITE"), (len(FULL_ENTRIES[0]) + len(dialplan), "180 Ringing"),
        (len(data) - len(FULL_ENTRIES[3]), "INVITE")]
    assert not rejects and skipped == 1


def _glued_syslog(cut_at: int, glued_host: bytes = b"pbx1") -> tuple[bytes, int]:
    """The INVITE's fourth line cut short, the 100 Trying's first line glued to it (a log
    truncated, then appended to), then the 180 Ringing: the data and where the Trying begins."""
    invite = SYSLOG_MESSAGES[0].split(b"\n")
    cut = b"\n".join(invite[:3]) + b"\n" + invite[3][:cut_at]
    trying = SYSLOG_MESSAGES[1].replace(b" pbx1 ", b" " + glued_host + b" ")
    return cut + trying + b"\n\n" + SYSLOG_MESSAGES[2] + b"\n\n", len(cut)


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300])
@pytest.mark.parametrize(("cut_at", "glued_host"), [(50, b"pbx1"), (70, b"pbx1"), (50, b"pbx2")])
def test_a_syslog_line_glued_to_a_cut_one_still_gives_its_message(
        reader: str, batch_bytes: int, cut_at: int, glued_host: bytes) -> None:
    """The glued line begins the next message, which is read; the message of the cut line,
    its end lost, is a reject that says so, where it took the next message's lines as its own."""
    data, glued = _glued_syslog(cut_at, glued_host)
    messages, rejects, skipped, batch = parse_bytes(data, dialect="syslog", final=True, batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages] == [
        (glued, "100 Trying"), (data.index(b"\n\n", glued) + 2, "180 Ringing")]
    assert messages[0].raw_message == parse_bytes(SYSLOG_MESSAGES[1] + b"\n", final=True)[0][0].raw_message
    assert [(r.offset, r.end, r.reason) for r in rejects] == [
        (0, glued, "log line cut short, the next line glued to it")]
    assert rejects[0].raw.startswith(b"INVITE sip:1000@127.0.0.1:5070 SIP/2.0\r\n") and skipped == 0
    assert batch.checkpoint == len(data)


def test_a_date_header_is_no_line_glued_to_a_cut_one(reader: str) -> None:
    """A time of day inside a line is looked at as a glued line's stamp, and a Date header's
    is none: the message is read whole, every line of it taken at once as before."""
    invite = SYSLOG_MESSAGES[0].replace(b"Max-Forwards: 70", b"Date: Sat, 29 Nov 2026 14:09:10 GMT", 1)
    messages, rejects, skipped, _ = parse_bytes(invite + b"\n\n" + SYSLOG_MESSAGES[1] + b"\n\n", dialect="syslog",
                                                final=True)
    assert [m.sip_method for m in messages] == ["INVITE", "100 Trying"] and not rejects and skipped == 0
    assert b"\r\nDate: Sat, 29 Nov 2026 14:09:10 GMT\r\n" in messages[0].raw_message


@pytest.mark.parametrize("batch_bytes", [1 << 20, 300])
@pytest.mark.parametrize("cut_at", [10, 25])
def test_a_syslog_line_glued_to_one_cut_inside_its_prefix_still_gives_its_message(
        reader: str, batch_bytes: int, cut_at: int) -> None:
    """A line cut inside its prefix has no stream: it is a reject, and the line glued to it
    is read; it was taken, with the lines after it, as the rest of the INVITE's last line."""
    invite = SYSLOG_MESSAGES[0].split(b"\n")
    whole = b"\n".join(invite[:4]) + b"\n"
    data = whole + invite[4][:cut_at] + SYSLOG_MESSAGES[1] + b"\n\n" + SYSLOG_MESSAGES[2] + b"\n\n"
    glued = len(whole) + cut_at
    messages, rejects, _, _ = parse_bytes(data, dialect="syslog", final=True, batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages if m.offset] == [
        (glued, "100 Trying"), (data.index(b"\n\n", glued) + 2, "180 Ringing")]
    assert (len(whole), glued, "log line cut short, the next line glued to it", invite[4][:cut_at]) in [
        (r.offset, r.end, r.reason, r.raw) for r in rejects]
    assert all(b"100 Trying" not in m.raw_message for m in messages if m.offset == 0)


@pytest.mark.parametrize("garbage", [bytes(range(256)) * 4, b"\x01\x02 junk\n" * 30, b"#" * 5000])
def test_garbage_after_a_full_entry_gives_the_same_records_in_any_batch(reader: str, garbage: bytes) -> None:
    """Binary garbage between two entries: the message before it is the same record (its end,
    its problems) whether or not a batch ended between its packet and the garbage; it was a
    message with "bytes after the message ignored" in one, one without them in the other."""
    data = FULL_ENTRIES[0] + FULL_ENTRIES[1] + garbage + FULL_ENTRIES[2] + FULL_ENTRIES[3]
    expected = parse_bytes(data, dialect="full", final=True)
    assert expected[0][1].end == len(FULL_ENTRIES[0]) + len(FULL_ENTRIES[1]) + len(garbage)
    assert expected[0][1].problems == [f"{len(garbage.rstrip())} bytes after the message ignored"]
    for batch_bytes in (997, 300, 64):
        messages, rejects, skipped, batch = parse_bytes(data, dialect="full", final=True, batch_bytes=batch_bytes)
        assert [(m.offset, m.end, m.raw_message, m.problems) for m in messages] == [
            (m.offset, m.end, m.raw_message, m.problems) for m in expected[0]]
        assert (len(rejects), skipped, batch.checkpoint) == (len(expected[1]), expected[2], len(data))


def _quoting_message(body_lines: list[bytes]) -> bytes:
    """A MESSAGE whose text/plain body is ``body_lines`` (CRLF each), logged by syslog."""
    body = b"".join(line + b"\r\n" for line in body_lines)
    return _syslog([b"MESSAGE sip:a@127.0.0.1 SIP/2.0#015", b"Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-2#015",
                    b"From: <sip:b@127.0.0.1>;tag=1#015", b"To: <sip:a@127.0.0.1>#015", b"Call-ID: quote-1#015",
                    b"CSeq: 1 MESSAGE#015", b"Content-Type: text/plain#015",
                    b"Content-Length: %d#015" % len(body), b"#015"] + [line + b"#015" for line in body_lines])


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300])
@pytest.mark.parametrize("body_lines", [
    [b"see: Dec  3 06:00:00 pbx1 asterisk[123]: hello"],
    [b"first", b"log> Dec  3 06:00:00 pbx1 asterisk[123]: <--- Received SIP request (9 bytes) from UDP:1.2.3.4:5060",
     b"last line"],
])
def test_a_body_line_quoting_a_syslog_line_is_no_line_glued_to_a_cut_one(
        reader: str, batch_bytes: int, body_lines: list[bytes]) -> None:
    """A text body that quotes a log line, prefix and all, after its first byte: the bytes its
    Content-Length announces are body, so the message is read whole, not taken as cut."""
    message = _quoting_message(body_lines)
    data = message + b"\n" + SYSLOG_MESSAGES[1] + b"\n\n"
    messages, rejects, skipped, _ = parse_bytes(data, dialect="syslog", final=True, batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages] == [(0, "MESSAGE"), (len(message) + 1, "100 Trying")]
    assert messages[0].raw_message.endswith(b"\r\n\r\n" + b"".join(line + b"\r\n" for line in body_lines))
    assert not messages[0].problems and not rejects and skipped == 0


@pytest.mark.parametrize("batch_bytes", [1 << 20, 300])
def test_a_cut_body_line_whose_glued_line_overruns_the_content_length_is_still_cut(
        reader: str, batch_bytes: int) -> None:
    """A body line cut short, the next message's first line glued to it: more bytes than the
    Content-Length leaves, so the line is cut, as in a header."""
    message = _quoting_message([b"a short text body"])
    cut = message[:message.rindex(b"a short") + 3]
    data = cut + SYSLOG_MESSAGES[1] + b"\n\n"
    messages, rejects, skipped, _ = parse_bytes(data, dialect="syslog", final=True, batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages] == [(len(cut), "100 Trying")]
    assert [(r.offset, r.end, r.reason) for r in rejects] == [(0, len(cut), CUT_LINE)] and skipped == 0


def _full_entry(packet: bytes) -> bytes:
    return (b"[Nov 29 14:09:10] VERBOSE[6573] res_pjsip_logger.c: <--- Received SIP request (%d bytes) from "
            b"UDP:127.0.0.1:661 --->\n" % len(packet)) + packet + b"\n"


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300, 64])
@pytest.mark.parametrize("quote", [
    b"res_pjsip_logger.c: <--- Received SIP request (9 bytes) from UDP:1.2.3.4:5060 --->",
    b'pbx.c: Executing [1000@default:1] Dial("PJSIP/1000")'])
def test_a_full_packet_quoting_a_log_entry_is_no_entry_glued_to_a_cut_one(
        reader: str, batch_bytes: int, quote: bytes) -> None:
    """A text body that quotes a log entry, prefix and all, inside a line: the packet is as
    long as its marker announces, Asterisk's LF and the next entry right after it, so the
    quote is body, where it was taken as an entry glued to a cut line."""
    body = b"first\r\nlog> [Dec  3 06:00:00] VERBOSE[123][C-0001] " + quote + b"\r\nlast line\r\n"
    packet = (b"MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-2\r\n"
              b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: quote-1\r\nCSeq: 1 MESSAGE\r\n"
              b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    entry = _full_entry(packet)
    messages, rejects, skipped, batch = parse_bytes(entry + FULL_ENTRIES[1], dialect="full", final=True,
                                                    batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages] == [(0, "MESSAGE"), (len(entry), "100 Trying")]
    assert messages[0].raw_message == packet and not messages[0].problems
    assert not rejects and skipped == 0 and batch.checkpoint == len(entry) + len(FULL_ENTRIES[1])


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300])
def test_the_rest_of_a_line_another_writer_cut_is_a_reject_not_part_of_that_writers_message(
        reader: str, batch_bytes: int) -> None:
    """Two writers of one file: the INVITE's line cut short by the 100 Trying's first line (of
    another pid), the cut line's rest on the line after it, without a prefix.  The Trying's
    first line ended whole (its #015), so that rest is not its own: a reject, where it was
    appended to the Trying's start line and the Trying was lost."""
    invite = SYSLOG_MESSAGES[0].split(b"\n")
    trying = SYSLOG_MESSAGES[1].replace(b"asterisk[6541]", b"asterisk[7000]").split(b"\n")
    cut_line = invite[4]
    head, rest = cut_line[:60], cut_line[60:]
    data = (b"\n".join(invite[:4]) + b"\n" + head + trying[0] + b"\n" + rest + b"\n"
            + b"\n".join(trying[1:]) + b"\n\n" + SYSLOG_MESSAGES[2] + b"\n\n")
    messages, rejects, skipped, _ = parse_bytes(data, dialect="syslog", final=True, batch_bytes=batch_bytes)
    glued = data.index(trying[0])
    assert [(m.offset, m.sip_method, m.problems) for m in messages] == [
        (glued, "100 Trying", []), (data.index(SYSLOG_MESSAGES[2]), "180 Ringing", [])]
    rest_at = glued + len(trying[0]) + 1
    assert [(r.offset, r.end, r.raw) for r in rejects] == [
        (0, glued, rejects[0].raw), (rest_at, rest_at + len(rest) + 1, rest)]
    assert [r.reason for r in rejects] == [CUT_LINE, CUT_REST] and skipped == 0


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300, 64])
def test_a_full_dialplan_entry_glued_to_a_cut_packet_is_an_entry_of_its_own(reader: str, batch_bytes: int) -> None:
    """A packet logger entry cut short, a dialplan entry glued to it, then a packet entry: the
    dialplan entry is a line skipped, and what is left of the cut one is stored as logged, where
    the dialplan line was taken as the cut packet's text."""
    dialplan = b'[Nov 29 14:09:10] VERBOSE[6573][C-00000001] pbx.c: Executing [1000@default:1] Dial("PJSIP/1000")\n'
    cut = FULL_ENTRIES[1][:150]
    data = FULL_ENTRIES[0] + cut + dialplan + FULL_ENTRIES[2]
    messages, rejects, skipped, batch = parse_bytes(data, dialect="full", final=True, batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages] == [(0, "INVITE"), (len(data) - len(FULL_ENTRIES[2]),
                                                                           "180 Ringing")]
    assert [(r.offset, r.end, r.reason, r.raw) for r in rejects] == [
        (len(FULL_ENTRIES[0]), len(FULL_ENTRIES[0]) + len(cut), "no Call-ID header", cut[cut.index(b"\n") + 1:])]
    assert skipped == 1 and batch.checkpoint == len(data)


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300])
@pytest.mark.parametrize("first", [b"hello", b"SIP/2.0 486 Busy Here"])
def test_a_body_quoting_sip_messages_forges_none_where_the_marker_announces_its_size(
        reader: str, batch_bytes: int, first: bytes) -> None:
    """A MESSAGE anyone may send, its text body quoting a response of another call, forwarded
    line by line by imfile (the marker keeps Asterisk's prefix): the marker announces the
    packet's size, so the quoted lines are body. They were read as a message of their own,
    stored with that call's Call-ID, and made its summary answered."""
    body = (first + b"\r\nSIP/2.0 200 OK\r\nCall-ID: 1-6347@127.0.0.1\r\nCSeq: 1 INVITE\r\n"
            b"INVITE sip:a@127.0.0.1 SIP/2.0\r\nContent-Length: 0\r\n")
    packet = (b"MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-2\r\n"
              b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: quote-1\r\nCSeq: 1 MESSAGE\r\n"
              b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    lines = imfile_lines(_full_entry(packet) + FULL_ENTRIES[1], "pbx-a", 4101)
    data = b"".join(lines)
    messages, rejects, skipped, batch = parse_bytes(data, final=True, batch_bytes=batch_bytes)
    assert [(m.sip_method, m.call_id) for m in messages] == [("MESSAGE", "quote-1"), ("100 Trying", "1-6347@127.0.0.1")]
    assert messages[0].raw_message == packet and not messages[0].problems
    assert not rejects and batch.checkpoint == len(data)


FORGED = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:661;branch=z9hG4bK-x\r\nFrom: <sip:b@127.0.0.1>;tag=1\r\n"
          b"To: <sip:a@127.0.0.1>;tag=2\r\nCall-ID: 1-6356@127.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300, 64])
@pytest.mark.parametrize("eol", [b"\r\n", b"\n", b"\n\n"])
def test_a_full_packet_quoting_a_whole_packet_logger_entry_forges_no_message(
        reader: str, batch_bytes: int, eol: bytes) -> None:
    """A MESSAGE anyone may send (Asterisk logs every packet it receives, before any
    authentication) whose text body holds, at a line start, a packet logger entry and a
    response of another call: the packet is as long as its marker announces, Asterisk's LF
    and the next entry right after it, so that is body. It was read as an entry of its own,
    the response stored with that call's Call-ID and its summary made answered."""
    quoted = (b"[Nov 29 14:09:30] VERBOSE[6573] res_pjsip_logger.c: <--- Transmitting SIP response (%d bytes) "
              b"to UDP:127.0.0.1:661 --->" % len(FORGED)) + eol + FORGED
    body = b"hello\r\n" + quoted + b"bye\r\n"
    packet = (b"MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-2\r\n"
              b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: quote-1\r\nCSeq: 1 MESSAGE\r\n"
              b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    entry = _full_entry(packet)
    data = FULL_ENTRIES[0] + entry + FULL_ENTRIES[1]
    messages, rejects, skipped, batch = parse_bytes(data, dialect="full", batch_bytes=batch_bytes)
    assert [(m.offset, m.sip_method) for m in messages] == [
        (0, "INVITE"), (len(FULL_ENTRIES[0]), "MESSAGE"), (len(FULL_ENTRIES[0]) + len(entry), "100 Trying")]
    assert messages[1].raw_message == packet and not messages[1].problems
    assert not rejects and batch.checkpoint == len(data)


@pytest.mark.parametrize("batch_bytes", [1 << 20, 997, 300])
@pytest.mark.parametrize("eol", [b"\r\n", b"\n"])
def test_a_packet_quoting_a_syslog_channel_line_forges_no_message_through_an_rsyslog_that_does_not_escape(
        reader: str, batch_bytes: int, eol: bytes) -> None:
    """Asterisk's syslog channel through ``$EscapeControlCharactersOnReceive off``: a message's
    lines follow its marker line without a prefix, and a MESSAGE anyone may send can hold a
    line with one, a packet logger marker and a response of another call. The packet is as
    long as its marker announces, rsyslog's LF and the next line right after it, so that line
    is the packet's text. It ended the MESSAGE and began a message of its own. (Its lines are
    read as CRLF-ended, as every line of such a packet: a bare LF in a body reads as one.)"""
    prefix = b"Nov 29 14:00:01 vm asterisk[2899]: VERBOSE[2926]: res_pjsip_logger.c:322 in logging_on_rx_msg: "
    quoted = prefix + b"<--- Transmitting SIP response (%d bytes) to UDP:127.0.0.1:661 --->" % len(FORGED)
    quoted += eol + FORGED
    body = b"hello\r\n" + quoted + b"bye\r\n"
    packet = (b"MESSAGE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK-2\r\n"
              b"From: <sip:b@127.0.0.1>;tag=1\r\nTo: <sip:a@127.0.0.1>\r\nCall-ID: quote-1\r\nCSeq: 1 MESSAGE\r\n"
              b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n" % len(body)) + body
    after = FULL_ENTRIES[1].split(b"--->\n", 1)[1][:-1]
    data = b"".join(prefix + b"<--- Received SIP request (%d bytes) from UDP:127.0.0.1:661 --->\n" % len(p) + p + b"\n"
                    for p in (packet, after))
    messages, rejects, _, batch = parse_bytes(data, batch_bytes=batch_bytes)
    assert [(m.sip_method, m.call_id) for m in messages] == [("MESSAGE", "quote-1"), ("100 Trying", "1-6347@127.0.0.1")]
    assert messages[0].raw_message.startswith(packet.split(b"--->")[0])
    assert (messages[0].raw_message, messages[0].problems) == (packet, []) or eol == b"\n"
    assert not rejects and batch.checkpoint == len(data)
