"""Reading a growing log in pieces, resuming at each checkpoint, gives the one-shot result."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipparse.logs.packets import DUMPS_SLACK
from tests.logs.helpers import DATA, asterisk_json, imfile_lines, interleave, key, parse_bytes
from tests.logs.test_samples import _BYE, _INFO, _as_syslog_channel, _segment_logged_twice


def _head(data: bytes, messages: int, marker: bytes) -> bytes:
    """The first ``messages`` log entries of a sample, cut at an entry start."""
    pos = -1
    for _ in range(messages + 1):
        pos = data.find(marker, pos + 1)
        if pos < 0:
            return data
    return data[:data.rfind(b"\n", 0, pos) + 1]


FULL = _head((DATA / "pjsip-full.log").read_bytes(), 30, b"\n[")
SYSLOG = (DATA / "pjsip-syslog.log").read_bytes()[:12000]
SYSLOG = SYSLOG[:SYSLOG.rfind(b"\n\n") + 2]
MULTI_HOST = interleave(
    [imfile_lines((DATA / "asterisk-real" / "pjsip").read_bytes()[40000:62000], "pbx-a", 1),
     imfile_lines((DATA / "asterisk-real" / "full").read_bytes()[60000:80000], "pbx-b", 2)], seed=3)
# TCP segments of two messages, each logged once per message (the second pair of one length)
_SEGMENTS = (DATA / "tcp" / "same-length-segment.full").read_bytes()
TCP_FULL = _SEGMENTS + _segment_logged_twice(_INFO, _BYE) + _SEGMENTS.replace(b"opt-", b"opu-")
# another TCP message of the stream logged between the two dumps of a segment
_SECOND_DUMP = _SEGMENTS.index(b"\n[") + 1
TCP_BETWEEN = (_SEGMENTS[:_SECOND_DUMP] + b"[Dec  2 17:16:33] VERBOSE[2931] res_pjsip_logger.c: <--- Received SIP "
               b"request (%d bytes) from TCP:10.0.0.1:5060 --->\n%s\n" % (len(_BYE), _BYE) + _SEGMENTS[_SECOND_DUMP:])
LOGS = {"full": FULL, "syslog": SYSLOG, "multi-host": MULTI_HOST, "tcp-full": TCP_FULL,
        "tcp-imfile": b"".join(imfile_lines(TCP_FULL, "pbx-a", 4101)), "tcp-channel": _as_syslog_channel(_SEGMENTS),
        "tcp-between": b"".join(imfile_lines(TCP_BETWEEN, "pbx-a", 4101)), "json": asterisk_json(FULL),
        "tcp-json": asterisk_json(TCP_FULL)}


def _incremental(data: bytes, cuts: list[int], batch_bytes: int) -> dict[int, tuple]:
    """Parse ``data`` as a file appended to at each cut, each run resuming at the last checkpoint."""
    seen: dict[int, tuple] = {}
    checkpoint = 0
    for size in [*sorted(set(cuts)), len(data)]:
        messages, _, _, batch = parse_bytes(data[:size], checkpoint, batch_bytes=batch_bytes)
        for m in messages:
            assert seen.setdefault(m.offset, key(m)) == key(m), "a message changed when emitted again"
        assert checkpoint <= batch.checkpoint <= size
        checkpoint = batch.checkpoint
    return seen


def _whole(data: bytes) -> dict[int, tuple]:
    return {m.offset: key(m) for m in parse_bytes(data)[0]}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(LOGS)), data=st.data(), batch_bytes=st.sampled_from([97, 1024, 1 << 20]))
def test_any_split_gives_the_same_messages(name: str, data: st.DataObject, batch_bytes: int) -> None:
    log = LOGS[name]
    cuts = data.draw(st.lists(st.integers(0, len(log)), max_size=6))
    assert _incremental(log, cuts, batch_bytes) == _whole(log)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(LOGS)), junk=st.lists(st.binary(max_size=300), min_size=1, max_size=4),
       data=st.data())
def test_junk_between_messages_loses_nothing(name: str, junk: list[bytes], data: st.DataObject) -> None:
    log = LOGS[name]
    clean = parse_bytes(log)[0]
    boundaries = sorted({m.end for m in clean})
    spots = sorted(data.draw(st.lists(st.sampled_from(boundaries), min_size=len(junk), max_size=len(junk))))
    pieces, last = [], 0
    for spot, garbage in zip(spots, junk, strict=True):
        pieces += [log[last:spot], garbage.replace(b"\n", b"") + b"\n"]
        last = spot
    dirty = b"".join(pieces) + log[last:]
    messages = parse_bytes(dirty, final=True)[0]
    got = {(m.call_id, m.sip_method, m.cseq, m.host) for m in messages}
    assert {(m.call_id, m.sip_method, m.cseq, m.host) for m in clean} <= got


def test_checkpoint_waits_for_an_unfinished_message() -> None:
    cut = FULL.find(b"a=rtpmap", FULL.find(b"INVITE sip:"))
    messages, _, _, batch = parse_bytes(FULL[:cut])
    assert batch.checkpoint < cut
    assert all(m.end <= batch.checkpoint for m in messages)
    resumed = parse_bytes(FULL, batch.checkpoint)[0]
    assert resumed[0].offset == batch.checkpoint


@pytest.mark.parametrize("name", ["tcp-full", "tcp-imfile", "tcp-channel", "tcp-between"])
def test_a_run_ending_between_the_dumps_of_a_tcp_segment(name: str) -> None:
    """Asterisk logs a segment of two messages once per message: a run that ends after the
    first dump resumes at it, so that the next run knows which message the second is about."""
    log = LOGS[name]
    for cut in [at + 1 for at in range(len(log)) if log[at] == 10]:
        assert _incremental(log, [cut], 1 << 20) == _whole(log), cut


@pytest.mark.parametrize("channel", ["full", "syslog"])
def test_a_tcp_segment_dumped_once_holds_the_checkpoint_only_for_a_while(channel: str) -> None:
    """A segment of two messages of one length logged once, its next dump never coming: the
    checkpoint waits for that dump only while it could still come, not for the rest of the
    log, which every later run would otherwise read again."""
    once = _SEGMENTS[:_SEGMENTS.index(b"\n[") + 1]
    later = (DATA / "asterisk-real" / "full").read_bytes() * 3
    log = once + later if channel == "full" else _as_syslog_channel(once + later)
    assert len(log) > DUMPS_SLACK
    assert parse_bytes(log)[3].checkpoint == len(log)
    assert parse_bytes(log[:len(once) * 4])[3].checkpoint == 0


def test_checkpoint_waits_for_a_tcp_segment_whose_next_message_is_begun() -> None:
    """The last entry of a growing file holds a TCP segment's first message and the first
    bytes of its next ("O", too few to read as a start line): it is not over yet."""
    segment = (DATA / "tcp" / "same-length-segment.full").read_bytes()
    second = segment.find(b"OPTIONS sip:", segment.find(b"Content-Length: 0"))
    for cut in (second + 1, second + 20):
        messages, _, _, batch = parse_bytes(segment[:cut])
        assert messages == [] and batch.checkpoint == 0
    flushed = parse_bytes(segment[:second + 1], final=True)[0]
    assert [(m.call_id, m.problems) for m in flushed] == [
        ("raw-opt-1@127.0.0.1", ["1 bytes after the message ignored"])]


def test_final_flushes_the_last_message() -> None:
    data = SYSLOG.rstrip(b"\n")
    data = data[:data.rfind(b"\n")]  # the body's last line is missing
    assert len(parse_bytes(data)[0]) < len(parse_bytes(data, final=True)[0])
    last = parse_bytes(data, final=True)[0][-1]
    assert "log ended inside the message" in last.problems
