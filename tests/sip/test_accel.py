"""The C scanner gives exactly the records of the Python parser, on every kind of input.

Each input is parsed twice, with the scanner and without it, and every field of every
record (and every reject) must be equal.  Inputs: the sample logs of every dialect, real
Asterisk logs, the torture corpus logged in both layouts, and generated messages that walk
along the edge of what the scanner accepts (case and compact forms of names, folding, bare
CR or LF, wrong or repeated Content-Length, bytes after the body, non-UTF-8 and Unicode
whitespace around values).
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipparse.logs import LogParser, ParseOptions
from sipparse.logs.lines import SyslogLayout
from sipparse.sip import accel
from tests.logs.helpers import DATA, SOURCE, imfile_lines
from tests.logs.test_robustness import _asterisk_entry, _trying, cut_entries
from tests.logs.test_samples import _INFO, _segment_logged_twice, _with_repeat_summaries
from tests.sip.test_torture import SENTINEL, _entries, _full, _syslog

needs_scanner = pytest.mark.skipif(accel.scan_message is None, reason="the C scanner is not built")


def test_scanner_is_built_in_ci() -> None:
    """CI builds the extension; a build that silently fell back to Python is a failure there."""
    if os.environ.get("CI") and os.environ.get("SIPPARSE_PURE_PYTHON", "") in ("", "0"):
        assert accel.scan_message is not None, "sipparse.sip._scan did not build (is a C compiler installed?)"


def _parse(data: bytes, scanner: bool, dialect: str = "auto") -> tuple[list, list, int]:
    parser = LogParser(SOURCE, 0, ParseOptions(dialect=dialect, year=2026, final=True))
    if not scanner:
        parser._parser.scan = None
    messages, rejects, skipped = [], [], 0
    for batch in parser.parse(io.BytesIO(data), batch_bytes=1 << 16):
        messages += batch.messages
        rejects += batch.rejects
        skipped += batch.skipped_lines
    return messages, rejects, skipped


def _same(data: bytes, dialect: str = "auto") -> int:
    fast, slow = _parse(data, True, dialect), _parse(data, False, dialect)
    assert len(fast[0]) == len(slow[0])
    for a, b in zip(fast[0], slow[0], strict=True):
        assert a == b, (a, b)
    assert fast[1] == slow[1]
    assert fast[2] == slow[2], "skipped lines"
    return len(fast[0])


@needs_scanner
@pytest.mark.parametrize("path", sorted(p for p in DATA.rglob("*") if p.is_file() and p.suffix != ".json"
                                        and p.name != "truth.jsonl"), ids=lambda p: str(p.relative_to(DATA)))
def test_samples_read_the_same(path: Path) -> None:
    assert _same(path.read_bytes()) > 0


@needs_scanner
def test_the_plain_formatter_reads_the_same() -> None:
    """logger.conf's "plain" formatter: ``VERBOSE[2931]: res_pjsip_logger.c:322 logging_on_rx_msg:``."""
    data = (DATA / "asterisk-real" / "full").read_bytes()
    plain = data.replace(b"] res_pjsip_logger.c: ", b"]: res_pjsip_logger.c:322 logging_on_rx_msg: ")
    assert _same(plain) == 154


@needs_scanner
@pytest.mark.parametrize("name", ["pjsip-syslog.log", "pjsip-rfc5424.log", "asterisk-real/rsyslog-traditional.log"])
def test_a_byte_order_mark_after_the_prefix_reads_the_same(name: str) -> None:
    data = (DATA / name).read_bytes()
    marked = re.sub(rb"(?m)^(\S+(?: +\d+ \S+)? \S+ [^\[: ]+\[\d+\]: )", lambda m: m[1] + "\ufeff".encode(), data)
    assert _same(marked) > 100


@needs_scanner
def test_the_syslog_channel_unescaped_reads_the_same() -> None:
    """Asterisk's syslog channel through an rsyslog with ``$EscapeControlCharactersOnReceive off``."""
    data = (DATA / "asterisk-real" / "rsyslog-traditional.log").read_bytes()
    assert _same(data.replace(b"#015", b"\r").replace(b"#012", b"\n")) == 154


@needs_scanner
@pytest.mark.parametrize("name", ["pjsip-syslog.log", "pjsip-rfc5424.log", "asterisk-real/rsyslog-traditional.log"])
def test_lines_with_their_syslog_pri_read_the_same(name: str) -> None:
    data = (DATA / name).read_bytes()
    assert _same(re.sub(rb"(?m)^(?=\S)", b"<134>", data)) > 100


@needs_scanner
def test_entries_asterisk_cut_read_the_same() -> None:
    """Messages of more than 8 KB, cut by Asterisk's logger, the next entry on the same line."""
    assert _same(cut_entries(), "full") == 10
    assert _same(b"".join(imfile_lines(cut_entries(), "pbx-a", 4101))) == 10  # forwarded by imfile


@needs_scanner
def test_entries_cut_by_a_few_bytes_read_the_same_forwarded() -> None:
    """Cut by a few bytes, the INVITE's Content-Length is reached inside the line that ends
    with the next entry's marker: the C reader leaves that line to Python."""
    data = b""
    for pad in range(7700, 7900, 3):
        sdp = b"v=0\r\no=- 1 1 IN IP4 10.0.0.5\r\ns=-\r\nc=IN IP4 10.0.0.5\r\nt=0 0\r\na=x-pad:%s\r\n" % (b"y" * pad)
        invite = (b"INVITE sip:1000@pbx SIP/2.0\r\nVia: SIP/2.0/UDP h.invalid;branch=z9hG4bK-1\r\n"
                  b"From: <sip:w@pbx>;tag=1\r\nTo: <sip:1000@pbx>\r\nCall-ID: edge-%d\r\nCSeq: 1 INVITE\r\n"
                  b"Content-Type: application/sdp\r\n"
                  b"Content-Length: %d\r\n\r\n%s" % (pad, len(sdp), sdp))
        data += _asterisk_entry("Nov 29 14:09:11", f"<--- Received SIP request ({len(invite)} bytes) from "
                                "UDP:10.0.0.1:5060 --->", invite)
        data += _asterisk_entry("Nov 29 14:09:11", "<--- Transmitting SIP response (300 bytes) to "
                                "UDP:10.0.0.1:5060 --->", _trying(pad))
    forwarded = b"".join(imfile_lines(data, "pbx-a", 4101))
    assert _same(forwarded) == _same(data, "full") == 134
    assert None not in {m.direction for m in _parse(forwarded, True)[0]}


@needs_scanner
def test_rsyslog_repeat_summaries_read_the_same() -> None:
    assert _same(_with_repeat_summaries((DATA / "asterisk-real" / "rsyslog-traditional.log").read_bytes())) == 154


@needs_scanner
@pytest.mark.parametrize("name", ["pjsip-syslog-markers.log", "asterisk-real/rsyslog-fileformat.log"])
@pytest.mark.parametrize("tag", [rb"\1[\2] ", rb"\1 "], ids=["app[procid]", "app"])
def test_tags_without_their_colon_read_the_same(name: str, tag: bytes) -> None:
    data = (DATA / name).read_bytes()
    assert _same(re.sub(rb"(?m)^(\S+(?: +\d+ \S+)? \S+ [^\[: ]+)\[(\d+)\]: ", tag, data)) >= 0


@needs_scanner
def test_markers_no_pattern_reads_are_rejected_the_same() -> None:
    data = re.sub(rb"\] VERBOSE\[([0-9]+)\]", rb"] VERBOSE(\1)", (DATA / "asterisk-real" / "full").read_bytes())
    assert _same(data) == 0
    assert len(_parse(data, True)[1]) == 154


@needs_scanner
@pytest.mark.parametrize("dialect", ["full", "syslog"])
def test_torture_corpus_reads_the_same(shared_dir: Path, dialect: str) -> None:
    log_as = _full if dialect == "full" else _syslog
    data = b"".join(log_as(message, "Nov 29 12:00:01") + log_as(SENTINEL.format(n=n).encode(), "Nov 29 12:00:02")
                    for n, (_, message) in enumerate(_entries(shared_dir)))
    assert _same(data, dialect) > 0


def test_scanner_declines_what_it_does_not_know() -> None:
    scan = accel.scan_message
    if scan is None:
        pytest.skip("the C scanner is not built")
    usual = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\nContent-Length: 2\r\n\r\nhi"
    assert scan(usual)[5] == "x"
    assert scan(usual.replace(b"Call-ID", b"i"))[5] == "x"  # compact and any-case names, as Python reads them
    assert scan(usual.replace(b"Content-Length", b"l"))[3] == 2
    assert scan(usual.replace(b"Content-Length: 2", b"l: 2\r\ncontent-length: 2")) is None  # two: framing notes it
    assert scan(usual.replace(b"Call-ID: x", b"Call-ID: x\r\n y")) is None  # folded
    assert scan(usual.replace(b"\r\n\r\n", b"\n\n")) is None  # LF only
    assert scan(usual + b"OPTIONS sip:a@b SIP/2.0\r\n") is None  # a second message
    assert scan(usual.replace(b": 2", b": 9")) is None  # body shorter than announced
    assert scan(b"\r\n" + usual) is None
    assert scan(b"") is None


# --- generated messages -------------------------------------------------------------------

_NAMES = ["Call-ID", "call-id", "CALL-ID", "i", "From", "f", "from", "To", "t", "CSeq", "cseq", "Via", "v",
          "Contact", "m", "User-Agent", "Server", "Content-Type", "c", "content-type", "Reason", "X-Thing",
          "Max-Forwards", "l", "Content-Length", "Subject", "k", "K\u212a".encode().decode()]
_VALUES = ["abc@host", " <sip:1000@10.0.0.1>;tag=9 ", "\u00a0x\u00a0", "1 INVITE", "SIP/2.0/UDP h;branch=z9hG4bK1",
           "", " ", "\x0bv\x1f", "Q.850;cause=16", "application/sdp", "\u2003wide\u2003", "a,b", "\u00e9t\u00e9"]
_LINES = st.one_of(
    st.tuples(st.sampled_from(_NAMES), st.sampled_from(["", " ", "\t", "  "]), st.sampled_from(["", " ", "\t"]),
              st.sampled_from(_VALUES)).map(lambda t: f"{t[0]}{t[1]}:{t[2]}{t[3]}".encode()),
    st.sampled_from([b" folded", b"\tfolded", b"no colon here", b":empty name", b"Bad\rCR: x", b"\xff\xfe: x",
                     b"Call-ID: \xff", b"Content-Length: 5", b"Content-Length: x", b"l: 3"]),
)
_START = st.sampled_from([b"INVITE sip:1000@pbx SIP/2.0", b"SIP/2.0 200 OK", b"SIP/2.0 180", b"FOO x SIP/2.0  ",
                          b"SIP/2.0 2000 Odd", b"INVITE  sip:a  SIP/2.0\r", b"not a start line", b" SIP/2.0 200 OK",
                          b"BYE sip:a SIP/3.9"])
_EOL = st.sampled_from([b"\r\n", b"\r\n", b"\r\n", b"\n", b"\r"])


_USUAL_LINES = st.tuples(st.sampled_from(["Call-ID", "From", "To", "CSeq", "Via", "Contact", "User-Agent", "Server",
                                           "Content-Type", "Reason", "X-Thing", "Max-Forwards", "Supported", "i", "f",
                                           "t", "v", "m", "c", "k", "call-id", "FROM", "user-agent", "cSeq"]),
                         st.sampled_from(_VALUES)).map(lambda t: f"{t[0]}: {t[1]}".encode())


@st.composite
def _messages(draw: st.DrawFn) -> bytes:
    """Half of them the usual shape (what the scanner reads), half anything."""
    usual = draw(st.booleans())
    eol = b"\r\n" if usual else draw(_EOL)
    start = b"INVITE sip:1000@pbx SIP/2.0" if usual and draw(st.booleans()) else draw(_START)
    lines = [start] + draw(st.lists(_USUAL_LINES if usual else st.one_of(_LINES, _USUAL_LINES), max_size=10))
    if usual and draw(st.booleans()):
        lines.insert(draw(st.integers(1, len(lines))), b"Call-ID: %d@host" % draw(st.integers(0, 9)))
    body = draw(st.sampled_from([b"", b"v=0\r\no=- 1 1 IN IP4 h\r\n", b"hello", b"\xff\x00",
                                 b"<a>\r\n\t\t\t<b/>\r\n\t</a>\r\n"]))
    length = len(body) if usual else draw(st.sampled_from([len(body), len(body) + 3, max(len(body) - 1, 0), None]))
    if length is not None:
        lines.append(b"Content-Length: %d" % length)
    blank = b"\r\n\r\n" if usual else draw(st.sampled_from([eol + eol, b"\r\n\r\n", b"\n\n", b"\r\n\n", b""]))
    tail = draw(st.sampled_from([b"", b"", b"\r\n", b" \t", b"junk", b"\r\nSIP/2.0 200 OK\r\nCall-ID: q\r\n\r\n"]))
    return eol.join(lines) + blank + body + (b"" if usual else tail)


@needs_scanner
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_messages(), min_size=1, max_size=4), st.sampled_from(["UDP", "TCP"]))
def test_generated_messages_read_the_same(messages: list[bytes], transport: str) -> None:
    log = b""
    for n, message in enumerate(messages):
        kind = b"response" if message.startswith(b"SIP/") else b"request"
        marker = b"<--- Received SIP %s (%d bytes) from %s:127.0.0.1:5070 --->" % (kind, len(message),
                                                                                  transport.encode())
        log += b"[Nov 29 12:00:%02d] VERBOSE[42] res_pjsip_logger.c: %s\n%s\n" % (n, marker, message)
    _same(log, "full")


_PACKET = (b"INVITE sip:a@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCSeq: 1 INVITE\r\n"
           b"Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nContent-Length: 0\r\n\r\n")


@needs_scanner
@pytest.mark.parametrize("text", [
    b"[Nov 29 12:00:01] VERBOSE[4242] res_pjsip_logger.c: <--- Received SIP request (%d bytes) from UDP:h:1 --->",
    b"VERBOSE[4242][C-00000e14] pbx.c: Executing [292@from-internal:1] Dial(\"PJSIP/1\", \"PJSIP/292\") in new stack",
    b"NOTICE[7] chan_pjsip.c: one line",
    b"[C-1] not an origin",
    b"[Nov 29 12:00:01] NOTICE[7] pbx.c: an origin with its own stamp, no marker",
    b"VERBOSE[4242] res_pjsip_logger.c:322 in logging_on_tx_msg: <--- Transmitting SIP request (%d bytes) "
    b"to UDP:h:1 --->",
    b"free text",
])
def test_full_entries_without_a_packet_are_skipped_the_same(text: bytes) -> None:
    """Entries of Asterisk's other lines (dialplan, notices), one line or several, are counted
    as skipped lines in C as in Python; one whose origin carries its own time stamp holds a
    packet the C reader leaves to the regular expressions."""
    entry = b"[Nov 29 12:00:01] " + (text % len(_PACKET) if b"%d" in text else text)
    log = entry + b"\n" + _PACKET + b"\n" + entry + b"\n" + b"[Nov 29 12:00:02] NOTICE[7] pbx.c: a\nb\nc\n"
    _same(log, "full")


# --- generated full-layout logs: the C entry reader against the Python one ------------------

_STAMPS = st.sampled_from(["Nov 29 12:00:01", "Nov  9 12:00:01", "Nov 29 12:00:01.123", "Nov 29 12:00:01,5",
                           "Nov 29 12:00:01 2026", "2026-11-29 12:00:01", "2026-11-29T12:00:01.25",
                           "2026-11-29 12:00:01+01:00", "20261129 1200", "Nov 29 12:00", "nov 29 12:00:01",
                           "2026-11-29 12:00:01.", "Nov 129 12:00:01", ""])
_ORIGINS = st.sampled_from(["VERBOSE[4242] res_pjsip_logger.c: ", "VERBOSE[4242][C-0000001a] res_pjsip_logger.c: ",
                            "VERBOSE[4242]: res_pjsip_logger.c:322 in logging_on_tx_msg: ",
                            "DEBUG[1] res_pjsip_logger.c: ", "VERBOSE[x] res_pjsip_logger.c: ",
                            "VERBOSE[4242] res_pjsip_logger.c:12 in : ", "VERBOSE[4242] : ",
                            "[Nov 29 12:00:01] VERBOSE[4242] res_pjsip_logger.c: ", "NOTICE[7] pbx.c: ",
                            "VERBOSE[4242][C-1 res_pjsip_logger.c: "])
_MARKERS = st.sampled_from(["<--- Received SIP request ({n} bytes) from UDP:10.0.0.1:5060 --->",
                            "<--- Transmitting SIP response ({n} bytes) to TCP:[::1]:5061 --->",
                            "<--- Received SIP request ({n} bytes) from wss:10.0.0.1:443 --->",
                            "<--- Received SIP request (99999999999999999999 bytes) from UDP:h:1 --->",
                            "<--- Received SIP request ({n} bytes) from UDP:h:1 -->",
                            "<--- Received SIP request ({n} bytes) from :h:1 --->",
                            "Executing [s@default:1] NoOp(\"x\") in new stack",
                            "<--- Received SIP request ({n} bytes) from UDP:h\u00e9:1 --->"])


_MARKERS_USUAL = "<--- Received SIP request ({n} bytes) from UDP:10.0.0.1:5060 --->"


@st.composite
def _full_logs(draw: st.DrawFn) -> bytes:
    log = b""
    for _ in range(draw(st.integers(1, 6))):
        message = draw(_messages())
        usual = draw(st.integers(0, 3)) > 0  # mostly the usual entry, which the C reader reads
        marker = (_MARKERS_USUAL if usual else draw(_MARKERS)).format(
            n=draw(st.sampled_from([len(message), len(message) + 1])))
        stamp = "Nov 29 12:00:01" if usual and draw(st.booleans()) else draw(_STAMPS)
        origin = "VERBOSE[4242] res_pjsip_logger.c: " if usual else draw(_ORIGINS)
        log += b"[%s] %s%s\n%s\n" % (stamp.encode(), origin.encode(), marker.encode(), message)
    return log


def _parse_in_reads(data: bytes, scanner: bool, read: int, final: bool) -> tuple[list, list, int, int]:
    parser = LogParser(SOURCE, 0, ParseOptions(dialect="full", year=2026, final=final))
    if not scanner:
        parser._parser.scan = None
    messages, rejects, checkpoint, skipped = [], [], 0, 0
    for batch in parser.parse(io.BytesIO(data), batch_bytes=read):
        messages += batch.messages
        rejects += batch.rejects
        checkpoint = batch.checkpoint
        skipped += batch.skipped_lines
    return messages, rejects, checkpoint, skipped


@needs_scanner
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_full_logs(), st.sampled_from([64, 300, 1 << 16]), st.booleans())
def test_generated_full_logs_read_the_same(log: bytes, read: int, final: bool) -> None:
    assert _parse_in_reads(log, True, read, final) == _parse_in_reads(log, False, read, final)


# --- generated syslog logs: the C message reader against the Python one ---------------------

_STREAMS = st.sampled_from([b"pbx1 asterisk[6541]: ", b"pbx2 asterisk[77]: ", b"pbx1 asterisk[6542]: ",
                            b"pbx1 asterisk: ", b"pbx1 asterisk[6541]:"])
_SYSLOG_STAMPS = st.sampled_from([b"Nov 29 12:00:01", b"Nov  9 12:00:01", b"Nov 29 12:00:01.250", b"Nov 29 12:00:1"])
_RFC5424_STAMPS = st.sampled_from([b"2026-11-29T12:00:01.000000+00:00", b"2026-11-29T12:00:01Z", b"2026-11-29T12:00:01",
                                   b"2026-11-29 12:00:01", b"2026-11-29T12:00:01,5-05:30", b"2026-13-29T12:00:01Z",
                                   b"2026-11-29T24:00:01Z", b"2026-11-29T12:00:01+0100", b"26-11-29T12:00:01Z"])
_EXTRA_LINES = st.sampled_from([b"", b"continued without a prefix",
                                b"<--- Received SIP request (9 bytes) from UDP:h:1 --->",
                                b"VERBOSE[9] pbx.c: Executing", b"[Nov 29 12:00:01] VERBOSE[9] x.c: y", b"#015",
                                b"SIP/2.0 200 OK", b"a=sendrecv#015", b"x\rCR"])


def _as_rsyslog(message: bytes, keep_cr: bool) -> list[bytes]:
    """A message's lines as rsyslog logs them: the empty line as #015, tabs as #011, and
    each line's CR dropped (Asterisk's syslog channel) or kept as #015."""
    if keep_cr:
        lines = message.replace(b"\r\n", b"#015\n").split(b"\n")
    else:
        lines = [line.removesuffix(b"\r") or b"#015" for line in message.split(b"\n")]
    lines = [line.replace(b"\t", b"#011") for line in lines]
    return [line for line in lines if line != b""] or [b""]


@st.composite
def _syslog_logs(draw: st.DrawFn, rfc5424: bool) -> bytes:
    pending: list[list[bytes]] = []
    usual_stamp = b"2026-11-29T12:00:01.000000+00:00" if rfc5424 else b"Nov 29 12:00:01"
    for _ in range(draw(st.integers(1, 5))):
        stamps = _RFC5424_STAMPS if rfc5424 else _SYSLOG_STAMPS
        stamp = usual_stamp if draw(st.booleans()) else draw(stamps)
        prefix = stamp + b" " + (b"pbx1 asterisk[6541]: " if draw(st.booleans()) else draw(_STREAMS))
        message = draw(_messages())
        keep_cr = draw(st.integers(0, 3)) == 0
        lines = [prefix + line for line in _as_rsyslog(message, keep_cr)]
        if draw(st.booleans()):  # the packet logger's marker before it (syslog-markers)
            kind = b"response" if message.startswith(b"SIP/") else b"request"
            size = len(message) + draw(st.sampled_from([0, 0, 2]))
            transport = draw(st.sampled_from([b"UDP", b"TCP"]))
            sizes = [size]
            if transport == b"TCP" and draw(st.booleans()):  # a segment of two messages, dumped for each
                second = draw(st.sampled_from([draw(_messages()), re.sub(rb"[0-9]", b"7", message, count=1)]))
                lines += [prefix + line for line in _as_rsyslog(second, keep_cr)]
                sizes = draw(st.sampled_from([[size], [size, len(second)], [len(second), size]]))
            inner = draw(st.sampled_from([
                b"", b"", b"[Nov 29 12:00:01] VERBOSE[42][C-0000001] res_pjsip_logger.c: ",
                b"VERBOSE[42] res_pjsip_logger.c: ", b"[2026-11-29 12:00:01] VERBOSE[4] r.c: ",
                b"[Nov 29 12:00:01] VERBOSE[42] pbx.c: ", b"[x] "]))
            dump = lines
            lines = []
            for size in sizes:
                marker = b"<--- Received SIP %s (%d bytes) from %s:10.0.0.1:5060 --->" % (kind, size, transport)
                lines += [prefix + inner + marker] + dump
        if draw(st.integers(0, 4)) == 0:  # something else in the stream
            at = draw(st.integers(0, len(lines)))
            extra = draw(_EXTRA_LINES)
            lines.insert(at, extra if extra.startswith(b"continued") else prefix + extra)
        pending.append(lines + ([b""] if draw(st.booleans()) else []))
    out: list[bytes] = []
    interleave = draw(st.integers(0, 3)) == 0
    while pending:
        index = draw(st.integers(0, len(pending) - 1)) if interleave else 0
        out.append(pending[index].pop(0))
        if not pending[index]:
            pending.pop(index)
    return b"".join(line + b"\n" for line in out)


def _parse_syslog(data: bytes, scanner: bool, read: int, final: bool, dialect: str = "syslog") -> tuple:
    parser = LogParser(SOURCE, 0, ParseOptions(dialect=dialect, year=2026, final=final))
    if not scanner:
        parser._parser.scan = None
    messages, rejects, checkpoints = [], [], []
    for batch in parser.parse(io.BytesIO(data), batch_bytes=read):
        messages += batch.messages
        rejects += batch.rejects
        checkpoints.append((batch.checkpoint, batch.skipped_lines))
    return messages, rejects, checkpoints


@needs_scanner
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_syslog_logs(rfc5424=False), st.sampled_from([64, 500, 1 << 16]), st.booleans())
def test_generated_syslog_logs_read_the_same(log: bytes, read: int, final: bool) -> None:
    assert _parse_syslog(log, True, read, final) == _parse_syslog(log, False, read, final)


_OK = (b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
       b"To: <sip:x@h>;tag=2\r\nCall-ID: udp-2\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")


@needs_scanner
@pytest.mark.parametrize("transport", [b"UDP", b"TCP"])
def test_a_message_of_the_stream_between_the_dumps_of_a_tcp_segment(transport: bytes) -> None:
    """A stream's message logged between the two dumps of a segment of two messages of one
    length: the second dump still takes the second message, whether the C reader took the
    message between or Python did, and whatever the batch size."""
    segment = (DATA / "tcp" / "same-length-segment.full").read_bytes()
    second = segment.index(b"\n[") + 1
    between = (b"[Dec  2 17:16:33] VERBOSE[2931] res_pjsip_logger.c: <--- Received SIP response (%d bytes) "
               b"from %s:10.0.0.1:5060 --->\n%s\n" % (len(_OK), transport, _OK))
    channel = segment[:second] + between + segment[second:] + b"[Dec  2 17:16:34] VERBOSE[2931] pbx.c: next\n"
    log = b"".join(imfile_lines(channel, "pbx-a", 4101))
    for read in (64, 500, 1 << 16):
        fast, slow = (_parse_syslog(log, scanner, read, False) for scanner in (True, False))
        assert fast == slow
        assert [(m.call_id, m.cseq) for m in fast[0]] == [
            ("raw-opt-1@127.0.0.1", 1), ("udp-2", 1), ("raw-opt-2@127.0.0.1", 2)], read


@needs_scanner
def test_a_tcp_message_sent_again_after_a_segment_it_began_is_stored_again() -> None:
    """A 200 OK at the head of a segment of two messages of different lengths, logged twice,
    then sent again alone (until the ACK comes): the third dump is a message of its own."""
    ok = _OK.replace(b"UDP", b"TCP")
    alone = (b"[Nov 29 14:00:01] VERBOSE[2926] res_pjsip_logger.c: <--- Received SIP response (%d bytes) "
             b"from TCP:10.0.0.1:5060 --->\n%s\n" % (len(ok), ok))
    channel = _segment_logged_twice(ok, _INFO) + alone + b"[Nov 29 14:00:02] VERBOSE[2926] pbx.c: next\n"
    log = b"".join(imfile_lines(channel, "pbx-a", 4101))
    for scanner in (True, False):
        messages = _parse_syslog(log, scanner, 64, True)[0]
        assert [(m.call_id, m.sip_method) for m in messages] == [
            ("udp-2", "200 OK"), ("tcp-1", "INFO"), ("udp-2", "200 OK")], scanner


@needs_scanner
def test_a_message_without_marker_after_a_tcp_segment_holds_one_checkpoint() -> None:
    """A TCP segment's rest, then a UDP message the C reader takes whole, then a message
    without a marker still open: the checkpoint is the same whether the C reader or Python
    read the UDP message, the segment's first dump, whose next dump may still come."""
    prefix = b"Nov 29 12:00:01 pbx2 asterisk[77]: "
    invite = [b"INVITE sip:1000@pbx SIP/2.0#015", b"Content-Length: 0#015", b"#015"]
    lines = ([b"<--- Received SIP request (50 bytes) from TCP:10.0.0.1:5060 --->", *invite, *invite,
              b"<--- Received SIP request (82 bytes) from UDP:10.0.0.1:5060 --->", *invite, b"#015",
              b"SIP/2.0 200 OK#015", b"Call-ID: q#015", b"#015"])
    log = b"".join(prefix + line + b"\n" for line in lines)
    fast, slow = (_parse_syslog(log, scanner, 500, False) for scanner in (True, False))
    assert fast == slow
    assert fast[2][-1][0] == 0


@needs_scanner
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_syslog_logs(rfc5424=True), st.sampled_from([64, 500, 1 << 16]), st.booleans())
def test_generated_rfc5424_logs_read_the_same(log: bytes, read: int, final: bool) -> None:
    assert _parse_syslog(log, True, read, final, "rfc5424") == _parse_syslog(log, False, read, final, "rfc5424")


@needs_scanner
@pytest.mark.parametrize("sample", ["pjsip-full.log", "pjsip-syslog.log", "pjsip-rfc5424.log"])
def test_pure_python_switch_stores_the_same_rows(tmp_path: Path, sample: str) -> None:
    """``SIPPARSE_PURE_PYTHON=1`` (the scanner off) and the default store identical rows."""
    import sqlite3
    import subprocess
    import sys

    def rows(pure: bool) -> list[tuple]:
        db = tmp_path / f"{pure}.db"
        env = {k: v for k, v in os.environ.items() if k != "SIPPARSE_PURE_PYTHON"}
        env["SIPPARSE_LOCK_DIR"] = str(tmp_path)
        if pure:
            env["SIPPARSE_PURE_PYTHON"] = "1"
        log = tmp_path / sample
        log.write_bytes((DATA / sample).read_bytes())
        subprocess.run([sys.executable, "-m", "sipparse", "--db", f"sqlite:///{db}", "ingest", "--tz", "UTC",
                        "--year", "2026", "-q", str(log)], check=True, env=env, timeout=120)
        with sqlite3.connect(db) as conn:
            names = [r[1] for r in conn.execute("PRAGMA table_info(sip_transactions)")
                     if r[1] not in ("id", "ingested_at")]
            return conn.execute(f"SELECT {', '.join(names)} FROM sip_transactions ORDER BY source_offset").fetchall()

    fast, pure = rows(False), rows(True)
    assert fast and fast == pure


_SDP_BYTES = st.binary(max_size=60) | st.lists(
    st.sampled_from([b"\r", b"\n", b"\r\n", b"v=0", b"\xc3", b"\xa9", b"\xff", b" ", b"#015", b"\xe2\x82"]),
    max_size=12).map(b"".join)


@needs_scanner
@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(_SDP_BYTES)
def test_sdp_text_in_c_is_the_python_text(body: bytes) -> None:
    """CRLF and lone CR become LF, trailing LFs go, bytes decode with replacement: as sdp.py."""
    from sipparse.sip.sdp import _as_text

    expected = _as_text(body) if body else None
    assert accel.reader.sdp_text_of(body) == expected


_TYPE_TEXT = st.text(max_size=30) | st.lists(
    st.sampled_from(["application/sdp", "Application/SDP", "APPLICATION/sdp", " ", "\t", "\x0b", "\x1c", "\x85",
                     "\u00a0", ";", "version=1", "multipart/mixed", "application/sdpx", "İ", "x"]),
    max_size=5).map("".join)


@needs_scanner
@settings(max_examples=600)
@given(_TYPE_TEXT)
def test_sdp_type_in_c_is_the_python_reading(content_type: str) -> None:
    """An ASCII Content-Type is application/sdp in C exactly when sdp.sdp_text reads it so;
    any other is left to sdp.py."""
    python = content_type.split(";", 1)[0].strip().lower() == "application/sdp"
    assert accel.reader.is_plain_sdp_type(content_type) == (python and content_type.isascii())


# --- two PBXs in one file: dialplan lines and TCP messages between the other's lines -------

_PBX_STREAMS = (b"pbx-a asterisk[4101]: ", b"pbx-b asterisk[4102]: ")
_DIALPLAN_LINES = st.sampled_from([
    b"[Nov 29 12:00:01] VERBOSE[9][C-0000001] pbx.c: Executing [1@from-internal:1] Dial(\"PJSIP/1\") in new stack",
    b"VERBOSE[9] pbx.c: Executing", b"[Nov 29 12:00:01] NOTICE[9] chan_pjsip.c: a <--- b",
    b"[Nov 29 12:00:01] VERBOSE[9] x.c: <--- Received SIP request", b"[x] not an origin",
    b"[Nov 29 12:00:01] VERBOSE[9] pbx.c: cut Nov 29 12:00:01 {other}SIP/2.0 200 OK#015",
    b"[Nov 29 12:00:01] VERBOSE[9] pbx.c: cut Nov 29 12:00:01 {other}[Nov 29 12:00:01] VERBOSE[42] "
    b"res_pjsip_logger.c: <--- Received SIP request (10 bytes) from UDP:10.0.0.1:5060 --->",
    b"[Nov 29 12:00:01] VERBOSE[9] pbx.c: x\rCR", b"[Nov 29 12:00:01] VERBOSE[9] pbx.c: message repeated 2 times",
    b"message repeated 2 times: [ VERBOSE[9] pbx.c: x]", b"[Nov 29 12:00:01.250] VERBOSE[9] pbx.c: y",
])


@st.composite
def _pbx_items(draw: st.DrawFn, stream: bytes) -> list[list[bytes]]:
    """One PBX's lines as imfile forwards its file channel, grouped: each packet logger entry
    (a message, or a TCP segment of two messages dumped for each) and each dialplan line."""
    other = _PBX_STREAMS[1 - _PBX_STREAMS.index(stream)]
    items: list[list[bytes]] = []
    for _ in range(draw(st.integers(1, 5))):
        stamp = draw(st.sampled_from([b"Nov 29 12:00:01", b"Nov  9 23:59:59"]))
        prefix = stamp + b" " + stream
        if draw(st.integers(0, 2)) == 0:
            items.append([prefix + draw(_DIALPLAN_LINES).replace(b"{other}", other)])
            continue
        message = draw(_messages())
        keep_cr = draw(st.integers(0, 5)) > 0
        dump = [prefix + line for line in _as_rsyslog(message, keep_cr)]
        transport = draw(st.sampled_from([b"UDP", b"TCP", b"TCP"]))
        sizes = [len(message) + draw(st.sampled_from([0, 0, 0, 2]))]
        if transport == b"TCP" and draw(st.integers(0, 3)) == 0:  # a segment of two messages
            second = draw(_messages())
            # its lines perhaps logged a second later, a day later (another stamp shape)
            later = draw(st.sampled_from([prefix, b"Nov 10 00:00:00 " + stream]))
            dump += [later + line for line in _as_rsyslog(second, keep_cr)]
            sizes.append(len(second))
        kind = b"response" if message.startswith(b"SIP/") else b"request"
        inner = draw(st.sampled_from([b"[Nov 29 12:00:01] VERBOSE[42][C-0000001] res_pjsip_logger.c: ",
                                      b"[Nov 29 12:00:01] VERBOSE[42] res_pjsip_logger.c: ", b""]))
        for size in sizes:
            marker = b"<--- Received SIP %s (%d bytes) from %s:10.0.0.1:5060 --->" % (kind, size, transport)
            items.append([prefix + inner + marker] + dump)
    return items


@st.composite
def _two_pbx_logs(draw: st.DrawFn) -> bytes:
    """Two PBXs' entries in one file: mostly whole entries after one another, now and then
    a line of one inside an entry of the other, and empty lines here and there."""
    pending = [draw(_pbx_items(stream)) for stream in _PBX_STREAMS]
    out: list[bytes] = []
    while any(pending):
        index = draw(st.sampled_from([k for k, items in enumerate(pending) if items]))
        item = pending[index][0]
        take = len(item) if draw(st.integers(0, 5)) else draw(st.integers(1, len(item)))
        out += item[:take]
        del item[:take]
        if not item:
            pending[index].pop(0)
        if draw(st.integers(0, 6)) == 0:
            out.append(b"")
    return b"".join(line + b"\n" for line in out)


@needs_scanner
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_two_pbx_logs(), st.sampled_from([64, 700, 1 << 16]), st.booleans())
def test_two_pbxs_with_dialplan_lines_and_tcp_read_the_same(log: bytes, read: int, final: bool) -> None:
    assert _parse_syslog(log, True, read, final) == _parse_syslog(log, False, read, final)


def _count_python_lines(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The syslog lines the Python reader reads one by one from now on (the C reader's are not)."""
    read: list[bytes] = []
    line = SyslogLayout._line

    def counting(self: SyslogLayout, m: Any, content: bytes, start: int, end: int) -> None:
        read.append(content)
        line(self, m, content, start, end)

    monkeypatch.setattr(SyslogLayout, "_line", counting)
    return read


def _logged(prefix: bytes, *packets: tuple[bytes, bytes]) -> list[bytes]:
    """Packet logger entries (marker transport, message) as imfile forwards them under ``prefix``."""
    lines = []
    for transport, message in packets:
        lines.append(prefix + b"[Nov  9 23:59:59] VERBOSE[42] res_pjsip_logger.c: <--- Received SIP response "
                     b"(%d bytes) from %s:10.0.0.1:5060 --->" % (len(message), transport))
        lines += [prefix + line for line in message.replace(b"\r\n", b"#015\n").split(b"\n") if line]
    return lines


_PBX_A = b"Nov  9 23:59:59 pbx-a asterisk[4101]: "
_PBX_B = b"Nov  9 23:59:59 pbx-b asterisk[4102]: "
_DIALPLAN = b"[Nov  9 23:59:59] VERBOSE[9][C-00000001] pbx.c: Executing [1@from-internal:1] Dial(\"PJSIP/1\")"


@needs_scanner
def test_dialplan_lines_between_messages_stay_in_the_c_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """A dialplan line between two messages is skipped by the C reader, as Python skips it:
    it no longer hands the line, and every message after it, back to Python's line loop."""
    lines = _logged(_PBX_A, (b"UDP", _OK)) + [_PBX_A + _DIALPLAN, _PBX_B + _DIALPLAN] \
        + _logged(_PBX_B, (b"UDP", _OK.replace(b"udp-2", b"udp-3")))
    log = b"".join(line + b"\n" for line in lines)
    slow = _parse_syslog(log, False, 1 << 16, True)
    read = _count_python_lines(monkeypatch)
    fast = _parse_syslog(log, True, 1 << 16, True)
    assert fast == slow
    assert sum(skipped for _, skipped in fast[2]) == 2  # the two dialplan lines
    assert read == []


@needs_scanner
def test_a_tcp_message_before_the_other_pbxs_lines_stays_in_the_c_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    """A TCP message of one PBX, then lines of the other, then the first one's next marker:
    the message was the whole segment, and the C reader takes it, as it does when its
    stream's next line comes right after it."""
    tcp = _OK.replace(b"UDP", b"TCP")
    lines = _logged(_PBX_A, (b"TCP", tcp)) + _logged(_PBX_B, (b"UDP", _OK.replace(b"udp-2", b"udp-3"))) \
        + _logged(_PBX_A, (b"TCP", tcp.replace(b"udp-2", b"tcp-4"))) + [_PBX_A + _DIALPLAN]
    log = b"".join(line + b"\n" for line in lines)
    slow = _parse_syslog(log, False, 1 << 16, True)
    read = _count_python_lines(monkeypatch)
    fast = _parse_syslog(log, True, 1 << 16, True)
    assert fast == slow
    assert [m.call_id for m in fast[0]] == ["udp-2", "udp-3", "tcp-4"]
    assert read == []


@needs_scanner
def test_the_rest_of_a_tcp_segment_a_day_later_reads_the_same() -> None:
    """The second message of a TCP segment logged under another stamp shape (Nov  9, then
    Nov 10), after the first one's whole message: it is the segment's rest, skipped, and
    its own dump takes it, not a message without a marker."""
    tcp = _OK.replace(b"UDP", b"TCP")
    second = tcp.replace(b"200 OK", b"202 OK").replace(b"udp-2", b"tcp-3")
    later = b"Nov 10 00:00:00 pbx-a asterisk[4101]: "
    first_dump = _logged(_PBX_A, (b"TCP", tcp))
    first_dump += [later + line for line in second.replace(b"\r\n", b"#015\n").split(b"\n") if line]
    lines = first_dump + [_PBX_B + _DIALPLAN] + _logged(_PBX_A, (b"TCP", second))[:1] + first_dump[1:] \
        + [_PBX_A + _DIALPLAN]
    log = b"".join(line + b"\n" for line in lines)
    fast, slow = (_parse_syslog(log, scanner, 1 << 16, True) for scanner in (True, False))
    assert fast == slow
    assert [(m.call_id, m.direction) for m in fast[0]] == [("udp-2", "in"), ("tcp-3", "in")]


@needs_scanner
def test_a_line_of_the_stream_glued_inside_the_other_pbxs_line_reads_the_same() -> None:
    """After a TCP message, a line of its stream glued to a cut line of the other PBX: it is
    the segment's rest, which Python skips, not the start of a message the C reader took
    the TCP message without seeing."""
    tcp = _OK.replace(b"UDP", b"TCP")
    lines = _logged(_PBX_A, (b"TCP", tcp)) + [_PBX_B + _DIALPLAN + b" cut " + _PBX_A + b"SIP/2.0 202 OK#015"] \
        + _logged(_PBX_A, (b"TCP", tcp.replace(b"udp-2", b"tcp-3"))) + [_PBX_A + _DIALPLAN]
    log = b"".join(line + b"\n" for line in lines)
    fast, slow = (_parse_syslog(log, scanner, 1 << 16, True) for scanner in (True, False))
    assert fast == slow
    assert fast[1] == []
