"""Hostile input: no crash, bounded memory, nothing valid after garbage lost."""

from __future__ import annotations

import os
import re
import resource

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipparse.logs import MAX_MESSAGE
from tests.logs.helpers import DATA, parse_bytes

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
        assert len(messages) >= 2 * _count(good) - 1
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
