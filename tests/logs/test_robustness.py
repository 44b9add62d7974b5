"""Hostile input: no crash, bounded memory, nothing valid after garbage lost."""

from __future__ import annotations

import os
import re
import resource

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipparse.logs import MAX_MESSAGE
from tests.logs.helpers import DATA, imfile_lines, parse_bytes

GOOD_SYSLOG = (DATA / "pjsip-syslog.log").read_bytes()[:4000]
GOOD_SYSLOG = GOOD_SYSLOG[:GOOD_SYSLOG.rfind(b"\n\n") + 2]
GOOD_FULL = (DATA / "pjsip-full.log").read_bytes()[:3000]
GOOD_FULL = GOOD_FULL[:GOOD_FULL.rfind(b"\n[") + 1]


@settings(max_examples=60, deadline=None)
@given(junk=st.binary(max_size=2000), dialect=st.sampled_from(["auto", "syslog", "full", "rfc5424"]),
       final=st.booleans())
def test_random_bytes_never_crash(junk: bytes, dialect: str, final: bool) -> None:
    messages, rejects, skipped, batch = parse_bytes(junk, dialect=dialect, final=final, batch_bytes=256)
    assert batch.checkpoint <= len(junk)
    for r in rejects:
        assert r.reason


def _count(data: bytes, **options: object) -> int:
    return len(parse_bytes(data, **options)[0])


def test_nul_and_invalid_utf8_inside_a_message_keep_raw_bytes() -> None:
    data = GOOD_FULL.replace(b"Subject: Performance Test", b"Subject: \x00\xff\xfe bad", 1)
    messages, _, _, _ = parse_bytes(data)
    assert b"\x00\xff\xfe bad" in messages[0].raw_message
    assert len(messages) == _count(GOOD_FULL)


def test_nuls_at_a_line_start_inside_a_message_are_its_own() -> None:
    """Only a run of NULs before a line's prefix is a hole (``end_holes``); one before a
    header or a binary body's line belongs to the message, kept byte for byte."""
    data = GOOD_FULL.replace(b"\r\nSubject: ", b"\r\n\x00\x00\x00Subject: ", 1)
    messages, _, _, _ = parse_bytes(data)
    assert b"\r\n\x00\x00\x00Subject: Performance Test" in messages[0].raw_message
    assert len(messages) == _count(GOOD_FULL)


def test_a_body_of_many_nul_runs_is_copied_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each NUL run at a line start is tried as a hole in one copy of the buffer: a copy per
    run made a binary body of many such lines quadratic in its size."""
    from sipparse.logs import reader

    copies = []
    monkeypatch.setattr(reader, "bytearray", lambda data: copies.append(1) or bytearray(data), raising=False)
    body = b"\x01\n\x00\x00\x02" * 5000
    prefix = re.compile(rb"^\[Nov 29 ", re.M)
    assert reader.end_holes(body, prefix) is body
    line = b"[Nov 29 14:06:54] x\n"
    assert reader.end_holes(body + b"\n\x00\x00" + line, prefix).endswith(b"\n\x00\n" + line)
    assert len(copies) == 2


def test_a_hole_after_a_whole_entry_is_no_part_of_its_message() -> None:
    """A hole of NULs after an entry whose packet is whole: the message ends before it, with
    no problem, whether or not a batch ended there (it was "bytes after the message ignored"
    when the same batch held the hole)."""
    second = GOOD_FULL.index(b"\n[", 10) + 1
    data = GOOD_FULL[:second] + b"\x00" * 40 + GOOD_FULL[second:]
    expected, _, expected_skipped, _ = parse_bytes(data, batch_bytes=second)  # a batch ends before the hole
    for batch_bytes in (1 << 20, 997, 64):
        messages, rejects, skipped, batch = parse_bytes(data, batch_bytes=batch_bytes)
        assert not rejects and batch.checkpoint == len(data) and skipped == expected_skipped
        assert [(m.offset, m.end, m.raw_message, m.problems) for m in messages] == [
            (m.offset, m.end, m.raw_message, m.problems) for m in expected]
    assert expected[0].end == second and expected[0].problems == []


def test_an_entry_without_its_empty_line_keeps_the_next_entry_in_any_batch() -> None:
    """A packet whose header section ends in a bare LF (no empty line, as a damaged entry has
    it): its body as counted begins at the next entry's first byte. A batch ending just past
    that byte took it into the entry, and the next entry, its prefix cut, was lost."""
    data = GOOD_FULL.replace(b"Content-Length: 0\r\n\r\n\n[", b"Content-Length: 0\r\nX-Junk: \r\n\n[", 1)
    expected, _, _, _ = parse_bytes(data)
    assert len(expected) == _count(GOOD_FULL)
    for batch_bytes in (1, 7, 64, 997):
        messages, _, _, _ = parse_bytes(data, batch_bytes=batch_bytes)
        assert [(m.offset, m.raw_message, m.problems) for m in messages] == [
            (m.offset, m.raw_message, m.problems) for m in expected]


def test_garbage_then_valid_messages() -> None:
    for good in (GOOD_SYSLOG, GOOD_FULL):
        data = os.urandom(5000).replace(b"\n", b" ") + b"\n" + good
        assert _count(data, dialect="full" if good is GOOD_FULL else "syslog") == _count(good)


def test_message_without_call_id_is_rejected_with_its_bytes() -> None:
    data = GOOD_FULL.replace(b"Call-ID: 1-6347@127.0.0.1\r\n", b"", 1)
    messages, rejects, _, _ = parse_bytes(data)
    assert len(rejects) == 1 and rejects[0].reason == "no Call-ID header"
    assert rejects[0].raw.startswith(b"INVITE sip:1000@127.0.0.1:5070 SIP/2.0\r\n")
    assert rejects[0].offset == 0
    assert len(messages) == _count(GOOD_FULL) - 1


def test_ten_megabyte_line_is_bounded() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    huge = b"Nov 29 14:09:10 pbx1 asterisk[6541]: X-Junk: " + b"a" * (10 << 20) + b"\n"
    for good, dialect in ((GOOD_SYSLOG, "syslog"), (GOOD_FULL, "full")):
        data = good + huge + good
        messages, rejects, _, batch = parse_bytes(data, dialect=dialect, batch_bytes=1 << 20)
        assert len(messages) == 2 * _count(good)
        assert all(len(r.raw) <= MAX_MESSAGE for r in rejects)
        assert all(len(m.raw_message) <= MAX_MESSAGE for m in messages)
        assert batch.checkpoint == len(data)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 80 << 10


def test_crlf_log_file() -> None:
    assert _count(GOOD_SYSLOG.replace(b"\n", b"\r\n")) == _count(GOOD_SYSLOG)


def test_many_streams_are_read_without_a_pattern_compiled_for_each(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lines of 10,000 pids (or hosts) one after another: each stream's next line is not there
    to be taken with its first, so no pattern is compiled to find where its run ends. Compiled
    per stream, they made such a log 10 to 20 times slower to read than any other."""
    data = b"".join(b"Nov 29 14:36:04 pbx-a asterisk[%d]: INVITE sip:1000@127.0.0.1:5070 SIP/2.0#015\n" % pid
                    for pid in range(10000))
    parse_bytes(data[:1000], dialect="syslog")  # the dialects, compiled once for all parsers
    compiled = []
    real = re.compile
    monkeypatch.setattr(re, "compile", lambda *args, **kw: compiled.append(args) or real(*args, **kw))
    parse_bytes(data, dialect="syslog")
    assert len(compiled) < 1000  # the parser's own few, not one a stream


def _asterisk_entry(stamp: str, marker: str, packet: bytes) -> bytes:
    """A packet logger entry as Asterisk's file channel writes it: the message and its LF
    built in at most 8191 bytes, the entry formatted into 8192 (logger.c, LOGMSG_SIZE), so a
    longer one is cut and loses its last LF."""
    message = (marker + "\n").encode() + packet + b"\n"
    if len(message) > 8191:
        message = message[:8191] + b"\n"
    return (f"[{stamp}] VERBOSE[2931] res_pjsip_logger.c: ".encode() + message)[:8191]


def _webrtc_invite(n: int) -> bytes:
    candidates = b"".join(b"a=candidate:%d 1 udp 2122260223 10.0.0.%d %d typ host generation 0\r\n"
                          % (i, i % 250, 50000 + i) for i in range(40 * n))
    sdp = b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\nm=audio 4000 RTP/SAVPF 111\r\n"
    sdp += candidates
    return (b"INVITE sip:1000@pbx SIP/2.0\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK-%d\r\n"
            b"From: <sip:webrtc@pbx>;tag=%d\r\nTo: <sip:1000@pbx>\r\nCall-ID: webrtc-%d\r\nCSeq: 1 INVITE\r\n"
            b"Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s" % (n, n, n, len(sdp), sdp))


def _trying(n: int) -> bytes:
    return (b"SIP/2.0 100 Trying\r\nVia: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK-%d\r\n"
            b"From: <sip:webrtc@pbx>;tag=%d\r\nTo: <sip:1000@pbx>\r\nCall-ID: webrtc-%d\r\nCSeq: 1 INVITE\r\n"
            b"Content-Length: 0\r\n\r\n" % (n, n, n))


def cut_entries() -> bytes:
    """Entries of WebRTC INVITEs of 3 to 15 KB, each with its 100 Trying: Asterisk cuts the
    three largest, and their Trying's entry follows on the same line."""
    data = b""
    for n in range(1, 6):
        invite, trying = _webrtc_invite(n), _trying(n)
        data += _asterisk_entry(f"Nov 29 14:09:1{n}", f"<--- Received SIP request ({len(invite)} bytes) from "
                                "WSS:198.51.100.7:443 --->", invite)
        data += _asterisk_entry(f"Nov 29 14:09:1{n}", f"<--- Transmitting SIP response ({len(trying)} bytes) to "
                                "WSS:198.51.100.7:443 --->", trying)
    return data


def test_an_entry_asterisk_cut_keeps_the_entries_after_it() -> None:
    """A message of more than 8 KB is cut by Asterisk's logger, and the next entry follows on
    the same line: each is stored, the cut one as cut, whatever the batch size."""
    data = GOOD_FULL + cut_entries() + GOOD_FULL
    assert len(re.findall(rb"[^\n]\[Nov 29 14:09:1[0-9]\] VERBOSE", data)) == 3  # glued to a cut entry
    good = _count(GOOD_FULL)
    for batch_bytes in (1 << 20, 8192, 3000):
        messages, rejects, _, batch = parse_bytes(data, dialect="full", batch_bytes=batch_bytes)
        assert not rejects and batch.checkpoint == len(data)
        assert [(m.call_id, m.sip_method) for m in messages[good:-good]] == [
            (f"webrtc-{n}", method) for n in range(1, 6) for method in ("INVITE", "100 Trying")]
        for n, invite, trying in zip(range(1, 6), messages[good:-good:2], messages[good + 1:-good:2], strict=True):
            assert trying.raw_message == _trying(n) and trying.direction == "out" and not trying.problems
            whole = invite.raw_message == _webrtc_invite(n)
            assert whole == (len(_webrtc_invite(n)) < 8000)
            assert whole or ("Asterisk cut its log entry at 8191 bytes" in invite.problems
                             and _webrtc_invite(n).startswith(invite.raw_message))


@pytest.mark.parametrize("month", [r"[A-Z][a-z]{2}", r"\p{Lu}\p{Ll}{2}"])
def test_a_user_full_layout_reads_the_entries_after_a_cut_one(month: str) -> None:
    """A user's ``full``-layout prefix, on stdlib ``re`` or on the ``regex`` module (``\\p{Lu}``):
    the entry glued to a cut one is looked for with the same engine. The ``regex`` one failed
    every run with an AttributeError before reading a line."""
    data = GOOD_FULL + cut_entries()
    spec = {"name": "mine", "layout": "full", "line": rf"\[(?<timestamp>{month} +[0-9]{{1,2}} [0-9:]+)\] "}
    expected, _, _, _ = parse_bytes(data, dialect="full")
    for batch_bytes in (1 << 20, 3000):
        messages, rejects, _, batch = parse_bytes(data, dialect="mine", user_dialects=[spec], batch_bytes=batch_bytes)
        assert not rejects and batch.checkpoint == len(data)
        assert [(m.raw_message, m.problems) for m in messages] == [(m.raw_message, m.problems) for m in expected]


def test_an_entry_asterisk_cut_then_forwarded_by_imfile() -> None:
    """rsyslog imfile forwards the pjsip file line by line: the Trying's marker arrives at the
    end of the line that ends the cut INVITE, and still gives the Trying its direction and peer."""
    full, _, _, _ = parse_bytes(cut_entries(), dialect="full")
    forwarded = b"".join(imfile_lines(cut_entries(), "pbx-a", 4101))
    assert len(re.findall(rb"(?<!: )\[Nov 29 14:09:1[0-9]\] VERBOSE\[2931\] res_pjsip_logger.c: <---", forwarded)) == 3
    for batch_bytes in (1 << 20, 8192, 3000):
        # final: a log still growing resumes at the last WSS message, whose stream's next line
        # tells whether more of its segment follows (see ``SyslogLayout._segments_going_on``)
        messages, rejects, skipped, batch = parse_bytes(forwarded, batch_bytes=batch_bytes, final=True)
        assert not rejects and not skipped and batch.checkpoint == len(forwarded)
        assert [(m.call_id, m.sip_method, m.direction, m.transport, m.peer, m.marker_bytes) for m in messages] == [
            (m.call_id, m.sip_method, m.direction, m.transport, m.peer, m.marker_bytes) for m in full]
        assert [m.raw_message for m in messages[1::2]] == [m.raw_message for m in full[1::2]]


def test_a_marker_in_a_shape_no_pattern_reads_is_a_reject_not_a_skipped_line() -> None:
    """An Asterisk prefix of a shape the patterns do not know (here "VERBOSE(2931)") hides the
    packet logger's markers: each is a reject that says so, where it was a line skipped as no
    SIP and the file gave nothing, without a word."""
    full = (DATA / "asterisk-real" / "full").read_bytes()
    odd = re.sub(rb"\] VERBOSE\[([0-9]+)\]", rb"] VERBOSE(\1)", full)
    messages, rejects, _, _ = parse_bytes(odd, dialect="full")
    assert messages == [] and len(rejects) == 154
    assert {r.reason for r in rejects} == {"a packet logger marker in a shape the log's dialect does not read"}
    assert all(b"<--- Received SIP" in r.raw or b"<--- Transmitting SIP" in r.raw for r in rejects)
    forwarded = b"".join(imfile_lines(odd, "pbx-a", 4101))
    messages, rejects, _, _ = parse_bytes(forwarded)
    assert len(rejects) == 154 and {r.host for r in rejects} == {"pbx-a"}
    assert len(messages) == 154 and {m.direction for m in messages} == {None}  # the lines after it still are SIP



@pytest.mark.parametrize("batch_bytes", [64 << 10, 8 << 20])
def test_a_whole_entry_before_a_line_too_long_to_keep_is_stored(batch_bytes: int) -> None:
    """The entry before a line too long to keep (one without a prefix: the entry's, by the
    ``full`` layout's rule) is whole by its Content-Length: its message is stored and the
    line is the reject. It went into the reject with the line when no batch held both, and
    was stored with the line as "bytes after the message ignored" when one did."""
    data = GOOD_FULL + b"x" * (2 << 20) + b"\n" + GOOD_FULL
    messages, rejects, _, batch = parse_bytes(data, dialect="full", batch_bytes=batch_bytes)
    alone, _, _, _ = parse_bytes(GOOD_FULL, dialect="full")
    second = len(data) - len(GOOD_FULL)
    assert [(m.offset, m.end, m.raw_message, m.problems) for m in messages] == [
        (m.offset, m.end, m.raw_message, m.problems) for m in alone] + [
        (m.offset + second, m.end + second, m.raw_message, m.problems) for m in alone]
    assert [(r.offset, r.reason, r.raw) for r in rejects] == [
        (len(GOOD_FULL), f"log entry larger than {MAX_MESSAGE} bytes", b"x" * MAX_MESSAGE)]
    assert batch.checkpoint == len(data)


def test_a_whole_entry_before_a_line_too_long_still_being_written_is_stored() -> None:
    """The same line still being written when a run reads it: the message before it is
    stored then, and the next run, resumed inside the line, reads what follows it."""
    data = GOOD_FULL + b"x" * (2 << 20)
    messages, rejects, _, batch = parse_bytes(data, dialect="full", batch_bytes=64 << 10)
    assert len(messages) == _count(GOOD_FULL) and len(rejects) == 1
    data += b"x" * 10 + b"\n" + GOOD_FULL
    messages, rejects, _, _ = parse_bytes(data, batch.checkpoint, dialect="full", batch_bytes=64 << 10)
    assert len(messages) == _count(GOOD_FULL) and not rejects


@pytest.mark.parametrize("dialect", ["syslog", "full"])
def test_a_hole_larger_than_a_batch_is_passed_over(dialect: str) -> None:
    """A hole of NULs longer than a batch and 1 MiB (a writer's crash leaves as many MiB
    unwritten as it had in its page cache) is passed over, as a shorter one is: it was a
    reject of 1 MiB of NULs, "log line longer than 1048576 bytes"."""
    good = GOOD_FULL if dialect == "full" else GOOD_SYSLOG
    data = good + b"\x00" * (2 << 20) + good
    expected, _, _, _ = parse_bytes(data, dialect=dialect, batch_bytes=8 << 20)
    messages, rejects, _, batch = parse_bytes(data, dialect=dialect, batch_bytes=64 << 10)
    assert len(expected) == 2 * _count(good, dialect=dialect)
    assert [(m.offset, m.end, m.raw_message, m.problems) for m in messages] == [
        (m.offset, m.end, m.raw_message, m.problems) for m in expected]
    assert not rejects and batch.checkpoint == len(data)


@pytest.mark.parametrize("dialect", ["syslog", "rfc5424", "full", "rsyslog-channel"])
def test_a_utf8_byte_order_mark_at_the_head_of_a_file_is_no_part_of_its_first_line(dialect: str) -> None:
    """A file saved by an editor or a tool that marks UTF-8 text (Notepad, PowerShell's
    ``Out-File``) begins with EF BB BF: its first line is read as it would be without it,
    where it was a reject, "log line cut short, the next line glued to it"."""
    good = {"syslog": GOOD_SYSLOG, "full": GOOD_FULL, "rfc5424": (DATA / "pjsip-rfc5424.log").read_bytes()[:6000],
            "rsyslog-channel": (DATA / "asterisk-real" / "rsyslog-traditional.log").read_bytes()[:60000]}[dialect]
    good = good[:good.rfind(b"\n") + 1]
    expected, _, _, whole = parse_bytes(good)
    messages, rejects, _, batch = parse_bytes(b"\xef\xbb\xbf" + good)
    assert expected and not rejects and batch.checkpoint == whole.checkpoint + 3
    assert [(m.offset, m.end, m.raw_message, m.timestamp) for m in messages] == [
        (m.offset + 3, m.end + 3, m.raw_message, m.timestamp) for m in expected]
