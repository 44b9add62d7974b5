"""Fuzzing the log reader: valid logs damaged at random, read whole, in pieces and resumed.

The budget is fixed (``FUZZ``: examples and a per-example deadline) so CI time is bounded,
and the examples are derandomized so every run of the suite tries the same ones.
``SIPPARSE_FUZZ_EXAMPLES=5000`` turns it into a hunt: that many new random examples per
test. A bug found that way is kept as an explicit regression test at the end of the file.
"""

from __future__ import annotations

import io
import os
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sipparse.logs import LogParser, ParseOptions, detect_dialect
from sipparse.sip.message import Source
from tests.logs.helpers import DATA
from tests.reliability.helpers import call, entry, sip_message

FUZZ = settings(
    max_examples=int(os.environ.get("SIPPARSE_FUZZ_EXAMPLES", "120")),
    deadline=timedelta(seconds=5),
    derandomize="SIPPARSE_FUZZ_EXAMPLES" not in os.environ,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WHEN = datetime(2025, 6, 1, 9, 0, 0)
SOURCE = Source("/var/log/asterisk/pjsip", "f" * 40)


def parse(data: bytes, dialect: str, start: int = 0, final: bool = True, batch_bytes: int = 1 << 20) -> Any:
    """Every batch of one parser over ``data`` (the file from ``start`` on)."""
    options = ParseOptions(dialect=dialect, year=2025, tz=UTC, final=final)
    parser = LogParser(SOURCE, start, options)
    return parser, list(parser.parse(io.BytesIO(data[start:]), batch_bytes=batch_bytes))


def by_offset(batches: list[Any]) -> dict[int, tuple]:
    """Messages keyed by their identity (offset), with the fields a user sees.

    ``end`` is left out: after a damaged entry prefix, the stray lines that follow a
    complete message are counted to it or skipped depending on where a batch ended; the
    message itself is the same.
    """
    out: dict[int, tuple] = {}
    for batch in batches:
        for m in batch.messages:
            out[m.offset] = (m.raw_message, m.call_id, m.sip_method, m.cseq, m.timestamp, m.direction)
    return out


@st.composite
def damaged_logs(draw: st.DrawFn) -> tuple[bytes, str]:
    """A log of a few calls in one dialect, then cut, spliced, repeated and sprinkled with junk."""
    dialect = draw(st.sampled_from(["full", "syslog"]))
    numbers = draw(st.lists(st.integers(0, 50), min_size=1, max_size=4))
    data = bytearray()
    for n in numbers:
        for direction, msg in call(n)[: draw(st.integers(1, 6))]:
            data += entry(direction, msg, WHEN + timedelta(seconds=n), dialect)
    for _ in range(draw(st.integers(0, 4))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["insert", "delete", "repeat", "byte"]))
        if kind == "insert":
            data[at:at] = draw(st.one_of(
                st.binary(max_size=64),
                st.sampled_from([b"\n", b"\r\n", b"#015", b"#012", b"\x00", b"\xff\xfe", b"Content-Length: 9\r\n",
                                 b"<--- Received SIP request (10 bytes) from UDP:1.2.3.4:5 --->\n",
                                 b"SIP/2.0 200 OK\r\n", b"\r\n\r\n", b"[Jun  1 09:00:00] NOTICE[1] pbx.c: x\n"])))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 200))]
        elif kind == "repeat":
            data[at:at] = data[at:at + draw(st.integers(1, 400))]
        elif at < len(data):
            data[at] = draw(st.integers(0, 255))
    return bytes(data), dialect


def _well_formed(data: bytes, batches: list[Any]) -> None:
    # a last line without its LF ends one byte past the data: the known bug of
    # test_a_message_on_an_unterminated_last_line_ends_inside_the_file, not hunted again here
    limit = len(data) + (0 if data.endswith(b"\n") else 1)
    for batch in batches:
        assert 0 <= batch.checkpoint <= batch.end <= len(data)
        for m in batch.messages:
            assert 0 <= m.offset < m.end <= limit, (m.offset, m.end)
            assert m.call_id and m.sip_method
            assert m.cseq is None or 0 <= m.cseq < 2 ** 31
        for r in batch.rejects:
            assert r.reason and 0 <= r.offset <= r.end <= limit


@FUZZ
@given(damaged_logs())
@example((b"\n" * 3 + b"\x00", "syslog"))
@example((b"#015\n#015\n", "full"))
def test_damaged_logs_never_crash_and_records_stay_inside_the_file(case: tuple[bytes, str]) -> None:
    data, dialect = case
    for name in (dialect, "auto"):
        _, batches = parse(data, name)
        _well_formed(data, batches)


@FUZZ
@given(damaged_logs(), st.sampled_from([4096, 997, 1 << 20]))
def test_batch_size_does_not_change_what_is_read(case: tuple[bytes, str], batch_bytes: int) -> None:
    data, dialect = case
    _, whole = parse(data, dialect)
    _, pieces = parse(data, dialect, batch_bytes=batch_bytes)
    assert by_offset(pieces) == by_offset(whole)


@FUZZ
@given(damaged_logs(), st.floats(0, 1))
def test_a_run_resumed_at_its_checkpoint_reads_what_one_run_reads(case: tuple[bytes, str], cut: float) -> None:
    """The cron property: run 1 sees a prefix (not final), run 2 resumes at run 1's checkpoint."""
    data, dialect = case
    _, whole = parse(data, dialect)
    k = int(len(data) * cut)
    _, first = parse(data[:k], dialect, final=False)
    checkpoint = first[-1].checkpoint if first else 0
    _, second = parse(data, dialect, start=checkpoint)
    assert {**by_offset(first), **by_offset(second)} == by_offset(whole)


@FUZZ
@given(st.binary(max_size=4096), st.sampled_from(["auto", "full", "syslog", "rfc5424"]), st.booleans())
def test_random_bytes(data: bytes, dialect: str, final: bool) -> None:
    _, batches = parse(data, dialect, final=final, batch_bytes=4096)
    _well_formed(data, batches)


SAMPLES = [DATA / name for name in ("pjsip-full.log", "pjsip-syslog.log", "pjsip-syslog-markers.log",
                                     "pjsip-rfc5424.log", "asterisk-real/full", "asterisk-real/pjsip",
                                     "asterisk-real/rsyslog-traditional.log", "asterisk-real/rsyslog-fileformat.log")]


@st.composite
def damaged_samples(draw: st.DrawFn) -> bytes:
    """A stretch of a real log in any dialect (whole lines), followed perhaps by one in another
    format, then holes of NULs before lines, and bytes inserted, deleted or flipped."""
    def stretch() -> bytes:
        data = draw(st.sampled_from(SAMPLES)).read_bytes()
        at = data.index(b"\n", draw(st.integers(0, len(data) - 10_000))) + 1
        return data[at:data.index(b"\n", at + draw(st.integers(500, 6000))) + 1]

    data = bytearray(stretch() + (stretch() if draw(st.booleans()) else b""))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["hole", "insert", "delete", "byte"]))
        if kind == "hole":
            at = data.rfind(b"\n", 0, at) + 1
            data[at:at] = b"\0" * draw(st.sampled_from([1, 700, 5000]))
        elif kind == "insert":
            data[at:at] = draw(st.sampled_from([b"\n", b"\r", b"#01", b"\x00", b"\xff", b"Content-Length: 9\r\n"]))
        elif kind == "delete":
            del data[at:at + draw(st.integers(1, 100))]
        elif at < len(data):
            data[at] = draw(st.integers(0, 255))
    return bytes(data)


@FUZZ
@given(damaged_samples(), st.floats(0, 1), st.sampled_from([997, 4096]))
def test_damaged_real_logs_of_every_dialect_resumed_anywhere_read_as_one_run(data: bytes, cut: float,
                                                                              batch_bytes: int) -> None:
    """As ingest reads a file: the dialect its head shows, a first run over a prefix, the next
    resumed at its checkpoint; and in batches of any size."""
    dialect = detect_dialect(data[:65536]) or "auto"
    _, whole = parse(data, dialect)
    _well_formed(data, whole)
    assert by_offset(parse(data, dialect, batch_bytes=batch_bytes)[1]) == by_offset(whole)
    _, first = parse(data[:int(len(data) * cut)], dialect, final=False)
    checkpoint = first[-1].checkpoint if first else 0
    _, second = parse(data, dialect, start=checkpoint)
    assert {**by_offset(first), **by_offset(second)} == by_offset(whole)


# found by test_damaged_logs_never_crash_and_records_stay_inside_the_file: the end offset of a message
# closed at the end of final data that lacks its last LF was one past the data
def test_a_message_on_an_unterminated_last_line_ends_inside_the_file() -> None:
    data = b"".join(entry(d, m, WHEN, "syslog") for d, m in call(0)[:2]).rstrip(b"\n")
    _, batches = parse(data, "syslog")
    ends = [m.end for b in batches for m in b.messages]
    assert len(ends) == 2 and max(ends) <= len(data)


def test_a_content_length_one_too_large_does_not_eat_the_next_message() -> None:
    liar = sip_message("OPTIONS sip:a@b SIP/2.0", "liar@fuzz", "1 OPTIONS", branch="l", from_tag="l",
                       body=["v=0"]).replace(b"Content-Length: 5", b"Content-Length: 6")
    after = entry("in", call(7)[0][1], WHEN, "full")
    data = entry("in", liar, WHEN, "full") + after
    cut = len(data) - len(after) + 4  # the cron run sees the next entry's first bytes only
    _, first = parse(data[:cut], "full", final=False)
    _, second = parse(data, "full", start=first[-1].checkpoint)
    got = {**by_offset(first), **by_offset(second)}
    assert sorted(v[1] for v in got.values()) == ["call-7@192.0.2.10", "liar@fuzz"]


@st.composite
def interleaved_hosts(draw: st.DrawFn) -> bytes:
    """Two hosts' ``syslog`` entries (marker line, then the message's lines) merged line by
    line in a random order, each host's own lines in order: a central rsyslog's one file."""
    streams = []
    for host, first in (("pbx-a", 0), ("pbx-b", 20)):
        numbers = draw(st.lists(st.integers(first, first + 19), min_size=1, max_size=3))
        data = b"".join(entry(d, m, WHEN + timedelta(seconds=n), "syslog", host=host)
                        for n in numbers for d, m in call(n)[: draw(st.integers(1, 6))])
        streams.append(data.splitlines(keepends=True))
    order = draw(st.permutations([0] * len(streams[0]) + [1] * len(streams[1])))
    taken = [0, 0]
    out = []
    for which in order:
        out.append(streams[which][taken[which]])
        taken[which] += 1
    return b"".join(out)


@FUZZ
@given(interleaved_hosts(), st.floats(0, 1))
def test_interleaved_hosts_resumed_at_the_checkpoint_read_each_message_once(data: bytes, cut: float) -> None:
    """A message begun before the checkpoint and ended after another host's began: the next
    run must not meet its start line without its marker and read it as a second message."""
    _, whole = parse(data, "syslog")
    k = int(len(data) * cut)
    _, first = parse(data[:k], "syslog", final=False)
    checkpoint = first[-1].checkpoint if first else 0
    _, second = parse(data, "syslog", start=checkpoint)
    assert {**by_offset(first), **by_offset(second)} == by_offset(whole)


# found by a fuzzer appending to a log in pieces: host a's marker, host b's marker, a's message
# read whole, b's still open at the end of run 1. Run 2 resumed at b's marker met a's start
# line without its marker and stored a's message again, under the offset of that line.
def test_a_message_read_whole_across_the_checkpoint_is_not_read_again() -> None:
    a, b = (f"Nov 29 14:36:04 {h} asterisk[{p}]: ".encode() for h, p in (("pbx-a", 4101), ("pbx-b", 4102)))
    bye = sip_message("BYE sip:1000@127.0.0.1:5070 SIP/2.0", "call-A", "2 BYE", branch="a1", from_tag="1",
                      to_tag="2").split(b"\r\n")
    ok = sip_message("SIP/2.0 200 OK", "call-B", "1 OPTIONS", branch="b1", from_tag="3",
                     to_tag="4").split(b"\r\n")
    lines = [a + b"[Nov 29 14:36:04] VERBOSE[1] res_pjsip_logger.c: <--- Received SIP request (150 bytes) "
             b"from UDP:127.0.0.1:15101 --->",
             b + b"[Nov 29 14:36:04] VERBOSE[2] res_pjsip_logger.c: <--- Transmitting SIP response (160 bytes) "
             b"to UDP:127.0.0.1:15102 --->",
             a + bye[0] + b"#015", b + ok[0] + b"#015"]
    lines += [a + (line or b"") + b"#015" for line in bye[1:-1]] + [b + line + b"#015" for line in ok[1:4]]
    run1 = b"\n".join(lines) + b"\n"
    data = run1 + b"".join(b + (line or b"") + b"#015\n" for line in ok[4:-1])
    _, first = parse(run1, "syslog", final=False)
    assert [m.call_id for batch in first for m in batch.messages] == ["call-A"]
    _, second = parse(data, "syslog", start=first[-1].checkpoint)
    assert [m.offset for batch in second for m in batch.messages] == [0, len(lines[0]) + 1]
    assert {**by_offset(first), **by_offset(second)} == by_offset(parse(data, "syslog")[1])


FORGED = sip_message("SIP/2.0 200 OK", "call-7@192.0.2.10", "1 INVITE", branch="a7", from_tag="f7", to_tag="t7")
QUOTED = [b"hello", b"SIP/2.0 200 OK", b"INVITE sip:bob@pbx.example SIP/2.0", b"Call-ID: call-7@192.0.2.10",
          b"CSeq: 1 INVITE", b"Content-Length: 0", b"", *FORGED.split(b"\r\n")]
# the log lines of another call's message as the dialect writes them: a body line holding
# a packet logger marker line of the imfile relay is that line, which no reader tells from
# the log's own (see README, What is not promised); nor rsyslog's escapes from a body's text
QUOTABLE = {"full": QUOTED + entry("out", FORGED, WHEN, "full").split(b"\n"),
            "syslog": QUOTED + entry("out", FORGED, WHEN, "syslog").replace(b"#015", b"").split(b"\n")[1:]}


@FUZZ
@given(data=st.data(), dialect=st.sampled_from(["full", "syslog"]), batch_bytes=st.sampled_from([1 << 20, 500, 64]))
def test_a_text_body_quoting_log_lines_forges_no_message(data: st.DataObject, dialect: str, batch_bytes: int) -> None:
    """A MESSAGE anyone may send, its text body any mix of start lines, headers and log lines
    (entries of the log's own dialect) quoting another call: read as one message, its bytes
    whole, and the call's own messages after it as they are."""
    lines = data.draw(st.lists(st.sampled_from(QUOTABLE[dialect]), max_size=30))
    body = b"".join(line.rstrip(b"\r") + b"\r\n" for line in lines)
    message = sip_message("MESSAGE sip:bob@pbx.example SIP/2.0", "quote-1", "1 MESSAGE", branch="q", from_tag="q")
    message = message.replace(b"Content-Length: 0\r\n\r\n", b"Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                              % len(body)) + body
    log = entry("in", message, WHEN, dialect) + b"".join(entry(d, m, WHEN, dialect) for d, m in call(7))
    _, batches = parse(log, dialect, batch_bytes=batch_bytes)
    messages = [m for batch in batches for m in batch.messages]
    assert [m.call_id for m in messages] == ["quote-1"] + ["call-7@192.0.2.10"] * 6
    assert messages[0].raw_message == message and not [r for batch in batches for r in batch.rejects]
