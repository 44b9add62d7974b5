"""Fuzzing the SIP message parser: framing and field extraction of damaged and random packets.

Same budget rules as ``test_reader``: derandomized by default, ``SIPPARSE_FUZZ_EXAMPLES=N``
for a longer random hunt.
"""

from __future__ import annotations

from datetime import datetime

from hypothesis import example, given
from hypothesis import strategies as st

from sipparse.grok import PatternLibrary
from sipparse.sip.framing import frame_packet
from sipparse.sip.grammar import Grammar
from sipparse.sip.message import Reject, SipMessage, Source
from sipparse.sip.parser import Envelope, MessageParser
from tests.fuzz.test_reader import FUZZ
from tests.reliability.helpers import call, sip_message

PARSER = MessageParser(Grammar.from_library(PatternLibrary.load()))
ENVELOPE = Envelope(Source("/var/log/asterisk/pjsip", "f" * 40), 0, 1, datetime(2025, 6, 1, 9, 0, 0))
TOKENS = [b"\r\n", b"\n", b"\r", b":", b";", b",", b"<", b">", b'"', b"\\", b"@", b" ", b"\t", b"\x00", b"\xff",
          b"SIP/2.0", b"Call-ID:", b"i:", b"l: 99999", b"Content-Length: 7", b"CSeq: 4294967296 X",
          b"Content-Type: multipart/mixed;boundary=x", b"--x\r\n", b"\r\n\r\n", b"Reason: Q.850;cause=",
          b";tag=", b";branch=", b"sip:", b"%", b"=", b"\r\n ", b"\r\n\t"]


@st.composite
def damaged_packets(draw: st.DrawFn) -> bytes:
    """One or two messages of a call (the TCP case), with tokens inserted and bytes cut."""
    messages = [msg for _, msg in call(draw(st.integers(0, 9)))]
    data = bytearray(b"".join(draw(st.lists(st.sampled_from(messages), min_size=1, max_size=2))))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            data[at:at] = draw(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=16)))
        else:
            del data[at:at + draw(st.integers(1, 40))]
    return bytes(data)


def build_all(data: bytes, stream: bool) -> list[SipMessage | Reject]:
    return [PARSER.build(data, frame, ENVELOPE, []) for frame in frame_packet(data, stream)]


def _well_formed(data: bytes, records: list[SipMessage | Reject]) -> None:
    for record in records:
        if isinstance(record, Reject):
            assert record.reason and record.raw in data
            continue
        assert record.call_id and record.sip_method
        assert record.raw_message and record.raw_message in data
        assert record.status_code is None or 100 <= record.status_code <= 999
        assert (record.method is None) != (record.status_code is None)
        assert record.cseq is None or 0 <= record.cseq < 2 ** 31
        assert record.sdp_content is None or "\r" not in record.sdp_content


@FUZZ
@given(damaged_packets(), st.booleans())
@example(b"SIP/2.0 200\r\nCall-ID: x\r\n\r\n", False)
@example(b"INVITE sip:a SIP/2.0\r\ni: x\r\nl: 5\r\n\r\nabc", True)
def test_damaged_packets_parse_into_well_formed_records(data: bytes, stream: bool) -> None:
    _well_formed(data, build_all(data, stream))


@FUZZ
@given(st.binary(max_size=2048), st.booleans())
def test_random_bytes(data: bytes, stream: bool) -> None:
    _well_formed(data, build_all(data, stream))


@FUZZ
@given(st.lists(st.sampled_from(TOKENS) | st.text(max_size=8).map(str.encode), max_size=60))
def test_token_soup_after_a_valid_start(tokens: list[bytes]) -> None:
    data = b"INVITE sip:a@b SIP/2.0\r\nCall-ID: soup@fuzz\r\n" + b"".join(tokens)
    records = build_all(data, True)
    _well_formed(data, records)
    assert isinstance(records[0], SipMessage) and records[0].call_id.startswith("soup@fuzz")


def test_every_valid_message_of_a_call_parses_as_written() -> None:
    for _, msg in call(3):
        (record,) = build_all(msg, False)
        assert isinstance(record, SipMessage) and record.raw_message == msg
        assert record.call_id == "call-3@192.0.2.10"
    odd = sip_message("MESSAGE sip:a@b SIP/2.0", "m@fuzz", "4 MESSAGE", branch="x", from_tag="y")
    (record,) = build_all(odd, False)
    assert isinstance(record, SipMessage) and record.method == "MESSAGE" and record.cseq == 4
