"""The syslog layout's block reading gives exactly what reading line by line gives.

The bundled ``syslog`` dialect reads the lines that follow a message's first line as one
block; a user dialect with the same prefix expression is read line by line.  Both must
give the same records, field for field, on any log: hosts interleaving inside messages,
Content-Length right, wrong or missing, bodies that hold start lines, Asterisk's own lines
in the middle, wrapped and CRLF lines, prefixes of other shapes.
"""

from __future__ import annotations

import io
from dataclasses import fields

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipparse.logs import LogParser, ParseOptions
from sipparse.logs.lines import STALE_LINES
from tests.logs.helpers import DATA, SOURCE, imfile_lines, interleave, parse_bytes

PLAIN = [{"name": "plain", "line": "%{ASTERISK_SYSLOG_LINE}", "layout": "syslog"}]
STAMPS = [b"Feb  1 00:00:00", b"Feb  1 00:00:01", b"Feb 10 23:59:59", b"Feb 1 00:00:02", b"Feb  1 00:00:03.25"]
HOSTS = [b"pbx-a asterisk[4101]", b"pbx-b asterisk[4102]", b"pbx-a asterisk[4103]", b"pbx-c kamailio"]
BODY = [b"v=0", b"o=- 1 1 IN IP4 10.0.0.1", b"s=-", b"c=IN IP4 10.0.0.1", b"t=0 0", b"m=audio 4000 RTP/AVP 0",
        b"a=sendrecv", b"SIP/2.0 200 OK", b"INVITE sip:x@y SIP/2.0", b"Via: SIP/2.0/UDP z"]
HEADERS = [b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1", b"From: <sip:a@b>;tag=1", b"To: <sip:c@d>",
           b"CSeq: 1 INVITE", b"Contact: <sip:a@10.0.0.1>", b"Content-Type: application/sdp", b"Supported: timer",
           b"Event: presence", b"Expires: 60", b"[Feb  1 00:00:00] VERBOSE[1] pbx.c: Executing",
           "\ufeffAllow: INVITE".encode(), "Accept: \ufeff".encode(),
           b"VERBOSE[12][C-1]: res_pjsip_logger.c:322 in logging_on_tx_msg: x", b"NOTICE[3] chan_pjsip.c: y"]
LENGTHS = [b"Content-Length: 0", b"Content-Length:   12", b"l: 40", b"content-length : 5", b"Content-Length: x",
           b"Content-Length: 99999", b"L: 3"]
STARTS = [b"INVITE sip:100@10.0.0.2 SIP/2.0", b"SIP/2.0 200 OK", b"SIP/2.0 100 Trying", b"BYE sip:x@y SIP/2.0",
          b"OPTIONS sip:q@r SIP/2.0"]
MARKER = (b"[Feb  1 00:00:00] VERBOSE[27944] res_pjsip_logger.c: "
          b"<--- Received SIP request (%d bytes) from UDP:10.0.0.1:5060 --->")


def records(data: bytes, user: bool, batch_bytes: int = 1 << 20, start: int = 0) -> list[tuple]:
    """Every record of ``data`` read from ``start``, all fields but the dialect's name."""
    options = ParseOptions(dialect="plain" if user else "syslog", year=2026, user_dialects=PLAIN if user else [])
    parser = LogParser(SOURCE, start, options)
    out = []
    for batch in parser.parse(io.BytesIO(data[start:]), batch_bytes=batch_bytes):
        for record in batch.messages + batch.rejects:
            out.append(tuple(getattr(record, f.name) for f in fields(record) if f.name != "dialect"))
        out.append((batch.checkpoint, batch.end, batch.skipped_lines))
    return out


@st.composite
def message(draw: st.DrawFn) -> list[bytes]:
    """The content lines of one logged packet (before the prefix), some of them odd."""
    lines = [MARKER % draw(st.integers(0, 900))] if draw(st.booleans()) else []
    lines.append(draw(st.sampled_from(STARTS)))
    lines += draw(st.lists(st.sampled_from(HEADERS), max_size=6))
    lines.append(b"Call-ID: c%d@h" % draw(st.integers(0, 5)))
    body = draw(st.lists(st.sampled_from(BODY), max_size=8))
    body = [line + b"#015" if draw(st.integers(0, 2)) == 0 else line for line in body]
    exact = sum(len(line.removesuffix(b"#015")) + 2 for line in body) + draw(st.sampled_from([0, 0, -1, 1]))
    if draw(st.integers(0, 4)):
        lines.append(draw(st.sampled_from([*LENGTHS, b"Content-Length: %d" % exact, b"l:%d" % exact])))
    lines += draw(st.lists(st.sampled_from(HEADERS), max_size=2))
    lines = [line + b"#015" if draw(st.integers(0, 3)) == 0 else line for line in lines]
    if draw(st.integers(0, 5)):
        lines += [draw(st.sampled_from([b"#015", b""])), *body]
    return lines


@st.composite
def syslog_log(draw: st.DrawFn) -> bytes:
    """Several streams' messages, their lines interleaved, with the odd unprefixed line."""
    streams: list[list[bytes]] = []
    for host in draw(st.lists(st.sampled_from(HOSTS), min_size=1, max_size=3, unique=True)):
        stamp = draw(st.sampled_from(STAMPS))
        colon = draw(st.sampled_from([b": ", b": ", b":", b" "]))
        stamp = draw(st.sampled_from([b"", b"", b"<134>"])) + stamp
        lines = []
        for content in draw(st.lists(message(), min_size=1, max_size=5)):
            lines += [stamp + b" " + host + colon + line + b"\n" for line in content]
            if draw(st.booleans()):
                lines.append(draw(st.sampled_from([b"\n", b"wrapped tail\n", b"\r\n"])))
        streams.append(lines)
    data = interleave(streams, draw(st.integers(0, 1000)))
    if draw(st.integers(0, 5)) == 0:
        data = data.replace(b"\n", b"\r\n")
    return data


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(syslog_log(), st.sampled_from([1 << 20, 301, 2000]))
def test_block_reading_equals_line_reading(data: bytes, batch_bytes: int) -> None:
    assert records(data, False, batch_bytes) == records(data, True, batch_bytes)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(syslog_log(), st.integers(0, 10_000))
def test_block_reading_equals_line_reading_after_resume(data: bytes, cut: int) -> None:
    start = data.rfind(b"\n", 0, cut % max(1, len(data))) + 1
    assert records(data, False, 4096, start) == records(data, True, 4096, start)


def test_a_byte_order_mark_on_a_later_line_of_a_message_is_read_as_line_by_line() -> None:
    """A line's BOM after the prefix (rsyslog keeps the one a UTF-8 RFC 5424 message begins
    with) is no part of the text, as the prefix takes it: a block read after a first line
    without one kept it in the message, which a batch ending between them did not."""
    lines = [b"INVITE sip:100@10.0.0.2 SIP/2.0", b"Call-ID: c1@h", "\ufeffCSeq: 1 INVITE".encode(),
             b"Content-Length: 0", b"#015"]
    data = b"".join(b"Feb  1 00:00:00 pbx-a asterisk[4101]: " + line + b"\n" for line in lines)
    for batch_bytes in (1 << 20, 64):
        assert records(data, False, batch_bytes) == records(data, True, batch_bytes)
    messages, _, _, _ = parse_bytes(data, dialect="syslog")
    assert b"\r\nCSeq: 1 INVITE\r\n" in messages[0].raw_message


def test_samples_and_multi_host_logs_read_the_same_both_ways() -> None:
    multi = interleave([imfile_lines((DATA / "asterisk-real" / "pjsip").read_bytes(), "pbx-a", 1),
                        imfile_lines((DATA / "asterisk-real" / "full").read_bytes(), "pbx-b", 2)], seed=5)
    for data in ((DATA / "pjsip-syslog.log").read_bytes(), (DATA / "pjsip-syslog-markers.log").read_bytes(), multi):
        fast, plain = records(data, False), records(data, True)
        assert fast == plain
        assert sum(1 for r in fast if len(r) > 3) >= 20


def test_sweeps_and_stale_streams_fall_at_the_same_lines() -> None:
    """A stream silent for STALE_LINES lines is closed at the same place both ways."""
    silent = (b"Feb  1 00:00:00 pbx-z asterisk[9]: INVITE sip:a@b SIP/2.0\n"
              b"Feb  1 00:00:00 pbx-z asterisk[9]: Call-ID: z\n")
    busy = []
    for n in range(STALE_LINES // 6 + 800):
        busy += [b"Feb  1 00:00:01 pbx-a asterisk[1]: " + line + b"\n" for line in (
            b"OPTIONS sip:q@r SIP/2.0", b"Via: SIP/2.0/UDP h", b"Call-ID: b%d" % n, b"CSeq: 1 OPTIONS",
            b"Content-Length: 0", b"#015")]
    data = silent + b"".join(busy)
    fast, plain = records(data, False), records(data, True)
    assert fast == plain
    assert any("went silent" in "".join(map(str, r)) for r in fast)
