"""The ``json`` dialect: a file channel written by logger.conf's ``[json]`` formatter."""

from __future__ import annotations

import json
import re
from datetime import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipparse.logs import detect_dialect
from sipparse.logs.full import UNREAD_MARKER
from sipparse.logs.jsonl import CUT_PROBLEM, JSON_CUT, NOT_JSON
from sipparse.sip import SipMessage
from tests.logs.helpers import CUT_AT, DATA, asterisk_json, interleave, parse_bytes, syslog_json
from tests.logs.test_samples import _BYE, _INFO, _segment_logged_twice

FULL_LOGS = ("pjsip-full.log", "asterisk-real/full", "asterisk-real/pjsip")
_SAMPLE = (DATA / "pjsip-full.log").read_bytes()
HEAD = _SAMPLE[:_SAMPLE.index(b"\n[", 5000) + 1]  # the sample's first entries, whole
# JSON nested deeper than Python's decoder recurses
NESTED = b'{"a":' + b"[" * 100000 + b'"<--- Received SIP request (3 bytes) from UDP:x --->"\n'


def _fields(m: SipMessage) -> tuple:
    """What a message says, wherever in the file it was logged."""
    return (m.raw_message, m.timestamp, m.sip_method, m.call_id, m.from_sip, m.to_sip, m.cseq, m.cseq_method,
            m.via_branch, m.sdp_content, m.direction, m.transport, m.peer, m.marker_bytes, m.problems)


@pytest.mark.parametrize("name", FULL_LOGS)
@pytest.mark.parametrize("reorder", [False, True], ids=["asterisk-order", "other-order"])
def test_a_json_channel_gives_the_messages_of_the_full_channel(name: str, reorder: bool) -> None:
    full = (DATA / name).read_bytes()
    data = asterisk_json(full, reorder=reorder)
    messages, rejects, skipped, batch = parse_bytes(data)
    expected = parse_bytes(full)[0]
    assert rejects == []
    assert [_fields(m) for m in messages] == [_fields(m) for m in expected]
    assert {m.dialect for m in messages} == {"json"}
    assert skipped == data.count(b"\n") - len(messages)  # dialplan lines, NOTICEs
    assert batch.checkpoint == batch.end == len(data)


def test_the_format_is_told_from_its_first_lines() -> None:
    data = asterisk_json((DATA / "asterisk-real" / "full").read_bytes())
    assert detect_dialect(data[:65536]) == "json"
    assert detect_dialect(asterisk_json((DATA / "pjsip-full.log").read_bytes(), reorder=True)) == "json"
    assert detect_dialect((DATA / "pjsip-full.log").read_bytes()) == "full"


@pytest.mark.parametrize("stamp, expected", [
    ("Feb  1 18:32:31", datetime(2026, 2, 1, 18, 32, 31)),
    ("2025-02-01 18:32:31.123", datetime(2025, 2, 1, 18, 32, 31, 123000)),
    ("2025-02-01 18:32:31.123+0100", datetime(2025, 2, 1, 17, 32, 31, 123000)),
    ("1738434751.5", datetime(2025, 2, 1, 18, 32, 31, 500000)),
])
def test_the_time_stamp_is_read_in_any_dateformat(stamp: str, expected: datetime) -> None:
    full = re.sub(rb"(?m)^\[[^\]\n]+\]", b"[" + stamp.encode() + b"]", HEAD)
    messages = parse_bytes(asterisk_json(full))[0]
    assert messages and {m.timestamp for m in messages} == {expected}


def test_a_line_is_read_once_it_ends() -> None:
    data = asterisk_json((DATA / "pjsip-full.log").read_bytes())
    second = data.index(b"\n") + 1
    messages, _, _, batch = parse_bytes(data[:second + 100])
    assert len(messages) == 1
    assert batch.checkpoint == second
    messages, _, _, _ = parse_bytes(data[:second + 100], final=True)
    assert len(messages) == 1  # the cut line is no message: not JSON, and no cut of Asterisk's


def test_a_tcp_segment_logged_twice_gives_each_message_once() -> None:
    data = asterisk_json(_segment_logged_twice(_INFO, _BYE))
    messages, rejects, _, _ = parse_bytes(data)
    assert rejects == []
    assert [m.cseq_method for m in messages] == ["INFO", "BYE"]
    assert len({m.offset for m in messages}) == 2


def _large_invite(padding: int, filler: str) -> bytes:
    """A full entry whose JSON passes Asterisk's 8191 bytes, its cut falling ``padding`` bytes on."""
    sdp = (f"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns={'-' * (padding + 1)}\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
           "m=audio 4000 RTP/AVP 0\r\n")
    sdp += "".join(f"a=candidate:{n} 1 udp 2122260223 10.0.0.1 {50000 + n} typ host {filler}\r\n" for n in range(130))
    body = sdp.encode("utf-8")
    invite = (b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKbig\r\n"
              b"From: \"J\xc3\xa9r\xc3\xb4me\" <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>\r\n"
              b"Call-ID: big-1\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\n"
              b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    return (b"[Nov 29 14:00:00] VERBOSE[2926] res_pjsip_logger.c: <--- Received SIP request (%d bytes) from "
            b"UDP:10.0.0.1:5060 --->\n%s\n" % (len(invite), invite))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(padding=st.integers(0, 12), filler=st.sampled_from(["generation 0", "\u00e9\u00e8\u00ea", "\t\"q\"\\"]))
def test_an_entry_asterisk_cut_is_stored_as_cut_and_the_next_one_read(padding: int, filler: str) -> None:
    after = HEAD
    full = _large_invite(padding, filler) + after
    data = asterisk_json(full)
    assert len(data.split(b"\n")[0]) == CUT_AT
    messages, rejects, _, _ = parse_bytes(data)
    assert rejects == []
    cut = messages[0]
    assert (cut.call_id, cut.sip_method) == ("big-1", "INVITE")
    assert cut.from_sip == '"J\u00e9r\u00f4me" <sip:alice@example.com>;tag=a1'
    assert CUT_PROBLEM in cut.problems
    assert [_fields(m) for m in messages[1:]] == [_fields(m) for m in parse_bytes(after)[0]]


def test_a_line_that_is_not_asterisks_json_is_a_reject_and_loses_nothing_around_it() -> None:
    data = asterisk_json((DATA / "pjsip-full.log").read_bytes())
    lines = data.splitlines(keepends=True)
    broken = b'{"timestamp":"Nov 29 14:09:10","logmsg":{"message":"<--- Received SIP request (3 bytes) from UDP:x\n'
    other = json.dumps({"timestamp": "Nov 29 14:09:10", "logmsg": {"message": 5}, "note": "<--- "}).encode() + b"\n"
    unread = json.dumps({"timestamp": "Nov 29 14:09:10", "logmsg": {"message": "<--- Received SIP datagram --->\n"}})
    dialplan = json.dumps({"timestamp": "Nov 29 14:09:10", "logmsg": {"message": "Executing [s@x:1] NoOp(\"<--- \")"}})
    dirty = b"".join([*lines[:3], broken, other, unread.encode() + b"\n", dialplan.encode() + b"\n", *lines[3:]])
    messages, rejects, skipped, _ = parse_bytes(dirty)
    assert [_fields(m) for m in messages] == [_fields(m) for m in parse_bytes(data)[0]]
    assert [r.reason for r in rejects] == [NOT_JSON, NOT_JSON, UNREAD_MARKER]
    assert rejects[0].raw == broken.rstrip(b"\n")
    assert skipped == 1


def test_a_line_longer_than_a_batch_and_a_mebibyte_is_rejected_and_the_next_read() -> None:
    data = asterisk_json((DATA / "pjsip-full.log").read_bytes())
    lines = data.splitlines(keepends=True)
    huge = b'{"logmsg":{"message":"<--- ' + b"x" * (1 << 21) + b'"}}\n'
    messages, rejects, _, _ = parse_bytes(b"".join([lines[0], huge, *lines[1:]]), batch_bytes=1 << 16)
    assert len(messages) == len(lines)
    assert len(rejects) == 1 and "longer than" in rejects[0].reason


@pytest.mark.parametrize("name", FULL_LOGS)
def test_json_entries_through_syslog_give_the_messages_of_the_full_channel(name: str, reader: str) -> None:
    """``syslog.local0 => [json]verbose`` through rsyslog, or imfile forwarding a ``[json]``
    file channel: each entry behind a syslog prefix, read as the C reader leaves it."""
    full = (DATA / name).read_bytes()
    data = syslog_json(asterisk_json(full))
    messages, rejects, _, batch = parse_bytes(data)
    assert rejects == []
    assert [_fields(m) for m in messages] == [_fields(m) for m in parse_bytes(full)[0]]
    assert {(m.host, m.pid, m.dialect) for m in messages} == {("vm", 2899, "syslog")}
    assert batch.checkpoint == len(data)


def test_json_entries_of_two_hosts_interleaved_keep_apart(reader: str) -> None:
    json_log = asterisk_json((DATA / "pjsip-full.log").read_bytes())
    lines = [syslog_json(json_log, "pbx-a", 1).splitlines(keepends=True),
             syslog_json(json_log.replace(b"@127.0.0.1", b"@10.9.9.9"), "pbx-b", 2).splitlines(keepends=True)]
    messages, rejects, _, _ = parse_bytes(interleave(lines, seed=5))
    assert rejects == []
    assert len(messages) == 2 * json_log.count(b"\n")
    assert {m.host for m in messages if "@10.9.9.9" in m.call_id} == {"pbx-b"}


def test_a_json_entry_rsyslog_cut_is_stored_as_cut(reader: str) -> None:
    line = syslog_json(asterisk_json(_large_invite(0, "generation 0")))
    cut = line[:8096] + b"\n"  # rsyslog's maxMessageSize
    after = syslog_json(asterisk_json(HEAD))
    messages, rejects, _, _ = parse_bytes(cut + after)
    assert rejects == []
    assert messages[0].call_id == "big-1" and JSON_CUT in messages[0].problems
    assert len(messages) == 1 + after.count(b"\n")


def test_a_json_line_of_nested_brackets_is_a_reject() -> None:
    lines = asterisk_json(HEAD).splitlines(keepends=True)
    messages, rejects, _, _ = parse_bytes(b"".join([lines[0], NESTED, *lines[1:]]))
    assert len(messages) == len(parse_bytes(HEAD)[0])
    assert [r.reason for r in rejects] == [NOT_JSON]


def test_a_syslog_line_of_nested_brackets_is_no_crash(reader: str) -> None:
    hostile = b"Nov 29 14:00:00 vm asterisk[2899]: " + NESTED
    json_log = syslog_json(asterisk_json(HEAD))
    messages, rejects, _, _ = parse_bytes(hostile + json_log)
    assert len(messages) == json_log.count(b"\n")
    assert len(rejects) == 1
