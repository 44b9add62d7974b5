"""SIP message parsing: start lines, header forms, addresses, SDP, Reason."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipparse.grok import PatternLibrary
from sipparse.sip import Reject, SipMessage, Source
from sipparse.sip.framing import START_LINE, _skip_noise, frame_packet
from sipparse.sip.grammar import Grammar
from sipparse.sip.parser import Envelope, MessageParser
from sipparse.sip.sdp import sdp_text

PARSER = MessageParser(Grammar.from_library(PatternLibrary.load()))


def parse(text: str | bytes, stream: bool = False) -> SipMessage | Reject:
    data = text.encode() if isinstance(text, str) else text
    frame = frame_packet(data, stream)[0]
    return PARSER.build(data, frame, Envelope(Source("t", "f"), 0, len(data), None), [])


def test_compact_and_odd_case_headers_folding_and_spaces() -> None:
    m = parse("BYE sip:a@b SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1, SIP/2.0/TCP x\r\n"
              "VIA: SIP/2.0/UDP second\r\n"
              "f: \"Al \\\"B\\\"\" <sip:al@example.com:5060>;tag=abc\r\nt  :  <sip:bo@example.org>\r\n"
              "i: cid-1\r\ncseq: 0009\r\n  BYE\r\nUSER-AGENT: phone 1.0\r\n"
              "Reason: SIP;cause=200, Q.850 ;cause=16;text=\"Normal\"\r\nl: 0\r\n\r\n")
    assert isinstance(m, SipMessage)
    assert (m.call_id, m.sip_method, m.cseq, m.cseq_method) == ("cid-1", "BYE", 9, "BYE")
    assert m.via == "SIP/2.0/UDP h;branch=z9hG4bK1" and m.via_branch == "z9hG4bK1"
    assert (m.from_display, m.from_user, m.from_host, m.from_tag) == ('Al "B"', "al", "example.com", "abc")
    assert (m.to_sip, m.to_user, m.to_host, m.to_tag) == ("<sip:bo@example.org>", "bo", "example.org", None)
    assert m.user_agent == "phone 1.0" and m.q850_cause == 16 and m.content_length == 0


@pytest.mark.parametrize("line, method, code, reason", [
    ("SIP/2.0 200 OK", "200 OK", 200, "OK"),
    ("SIP/2.0 183 Session Progress", "183 Session Progress", 183, "Session Progress"),
    ("SIP/2.0 699 ", "699", 699, None),
    ("SIP/2.0 200", "200", 200, None),
    ("FOO.bar-1 sip:x SIP/2.0", "FOO.bar-1", None, None),
])
def test_start_lines(line: str, method: str, code: int | None, reason: str | None) -> None:
    m = parse(f"{line}\r\nCall-ID: x\r\nCSeq: 1 FOO\r\n\r\n")
    assert isinstance(m, SipMessage)
    assert (m.sip_method, m.status_code, m.reason_phrase) == (method, code, reason)


@pytest.mark.parametrize("text, reason", [
    ("hello world\r\nCall-ID: x\r\n\r\n", "not a SIP request or status line"),
    ("OPTIONS sip:x SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n", "no Call-ID header"),
])
def test_rejects_say_why(text: str, reason: str) -> None:
    r = parse(text)
    assert isinstance(r, Reject) and r.reason.startswith(reason) and r.raw == text.encode()


def test_wrong_content_length_is_a_problem_not_a_failure() -> None:
    m = parse("MESSAGE sip:x SIP/2.0\r\nCall-ID: x\r\nCSeq: 2 MESSAGE\r\nContent-Length: 50\r\n\r\nhi")
    assert isinstance(m, SipMessage) and m.raw_message.endswith(b"hi")
    assert m.problems == ["Content-Length 50 but 2 body bytes"]


def test_two_messages_in_one_tcp_segment() -> None:
    one = "ACK sip:x SIP/2.0\r\nCall-ID: a\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    two = one.replace("ACK", "BYE").replace("CSeq: 1", "CSeq: 2")
    assert len(frame_packet((one + two).encode(), stream=True)) == 2
    assert len(frame_packet((one + two).encode(), stream=False)) == 1


def test_sdp_plain_and_in_multipart() -> None:
    sdp = b"v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\n"
    assert sdp_text("application/SDP", sdp) == "v=0\no=- 1 1 IN IP4 h\ns=-"
    body = (b"--b1\r\nContent-Type: application/isup\r\n\r\nxx\r\n"
            b"--b1\r\nContent-Type: application/sdp\r\n\r\n" + sdp + b"\r\n--b1--\r\n")
    assert sdp_text('multipart/mixed;boundary="b1"', body) == "v=0\no=- 1 1 IN IP4 h\ns=-"
    assert sdp_text("text/plain", sdp) is None and sdp_text("application/sdp", b"") is None


@given(st.binary(max_size=600))
def test_any_bytes_parse_or_reject(data: bytes) -> None:
    for frame in frame_packet(data, True):
        result = PARSER.build(data, frame, Envelope(Source("t", "f"), 0, len(data), None), [])
        assert isinstance(result, (SipMessage, Reject))


@given(st.lists(st.sampled_from([b"a", b"-", b" ", b"\r\n", b"\n", b"\r", b":", b"<", b"SIP/2.0", b" 200 OK",
                                 b"INVITE", b" sip:x"]), max_size=16), st.integers(0, 40))
def test_noise_before_a_start_line_is_skipped_to_where_START_LINE_finds_it(parts: list[bytes], at: int) -> None:
    data = b"".join(parts)
    pos = min(at, len(data))
    found = START_LINE.search(data, pos)
    assert _skip_noise(data, pos) == (found.start() if found else pos)


def test_a_long_run_of_token_characters_before_the_message_is_skipped() -> None:
    data = b"a" * 100_000 + b"\r\nOPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"
    [frame] = frame_packet(data, False)
    assert frame.start == 100_002 and frame.problems == ["100002 bytes before the message ignored"]


def _bye_with_reasons(*reasons: str) -> bytes:
    """A BYE as Asterisk's file logger writes it, with these Reason header lines."""
    lines = ["BYE sip:100@10.0.0.5 SIP/2.0", "Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
             "From: <sip:200@10.0.0.1>;tag=b", "To: <sip:100@10.0.0.5>;tag=a", "Call-ID: r1",
             "CSeq: 5 BYE", *(f"Reason: {r}" for r in reasons), "Content-Length: 0", "", ""]
    message = "\r\n".join(lines)
    marker = ("[Mar  1 12:00:09] VERBOSE[1] res_pjsip_logger.c: <--- Transmitting SIP request "
              f"({len(message)} bytes) to UDP:10.0.0.5:5060 --->\n")
    return (marker + message + "\n").encode()


@pytest.mark.parametrize("scanner", [False, True])
@pytest.mark.parametrize(("reasons", "cause"), [
    # RFC 3326: one Reason per protocol, as carriers and SBCs send them, in either order
    (('SIP;cause=480;text="Temporarily Unavailable"', "Q.850;cause=19"), 19),
    (("Q.850;cause=16", 'SIP;cause=200;text="Call completed elsewhere"'), 16),
    (('SIP;cause=200;text="x"',), None),
])
def test_the_q850_cause_of_several_reason_headers(reasons: tuple[str, ...], cause: int | None,
                                                  scanner: bool) -> None:
    from tests.sip.test_accel import _parse, needs_scanner  # noqa: PLC0415 (the scanner's test helpers)

    if scanner and needs_scanner.args[0]:
        pytest.skip("the C scanner is not built")
    messages, rejects, _ = _parse(_bye_with_reasons(*reasons), scanner, "full")
    assert not rejects and [m.q850_cause for m in messages] == [cause]
    assert cause is None or f"cause={cause}" in (messages[0].reason_header or "")


@pytest.mark.parametrize("scanner", [False, True])
@pytest.mark.parametrize(("reason", "cause"), [
    ('Q.850;text="a, b";cause=16', 16),  # a quoted comma is not the end of the value
    ('Q.850;text="x;cause=99, \\"y\\"";cause=17', 17),  # nor is a quoted cause its cause
    ('Q.850;cause=18;text="a, b"', 18),
    ('Q.850;text="a, b", SIP;cause=200', None),  # SIP's cause is not the Q.850 one
])
def test_a_quoted_comma_before_the_cause_keeps_it(reason: str, cause: int | None, scanner: bool) -> None:
    from tests.sip.test_accel import _parse, needs_scanner  # noqa: PLC0415 (the scanner's test helpers)

    if scanner and needs_scanner.args[0]:
        pytest.skip("the C scanner is not built")
    messages, rejects, _ = _parse(_bye_with_reasons(reason), scanner, "full")
    assert not rejects and [(m.reason_header, m.q850_cause) for m in messages] == [(reason, cause)]


_QUOTED_TEXT = st.text(st.sampled_from('ab ,;="\\\t'), max_size=20).map(
    lambda t: '"' + t.replace("\\", "\\\\").replace('"', '\\"') + '"')


@given(st.lists(st.tuples(st.sampled_from(["text", "x-info", "location"]), _QUOTED_TEXT), max_size=3),
       st.integers(0, 127), st.booleans())
def test_any_quoted_params_around_the_cause_leave_it_read(params: list[tuple[str, str]], cause: int,
                                                          before: bool) -> None:
    """Whatever quoted strings (commas, semicolons, escaped quotes, "cause=" itself) stand
    beside it, the Q.850 cause is read, and never one inside them."""
    quoted = "".join(f";{name}={value}" for name, value in params)
    reason = f"Q.850{quoted};cause={cause}" if before else f"Q.850;cause={cause}{quoted}"
    assert PARSER.reason_and_cause(reason, b"")[1] == cause
    assert PARSER.reason_and_cause(f"Q.850{quoted}, SIP;cause=200", b"")[1] is None


@pytest.mark.parametrize("scanner", [False, True])
def test_a_reason_of_thousands_of_open_quotes_is_read_at_once(scanner: bool) -> None:
    """A value no Q.850 cause ends (56 KB of ``Q.850;"``) took its pattern 10 s a message."""
    from tests.sip.test_accel import _parse, needs_scanner  # noqa: PLC0415 (the scanner's test helpers)

    if scanner and needs_scanner.args[0]:
        pytest.skip("the C scanner is not built")
    started = time.monotonic()
    messages, rejects, _ = _parse(_bye_with_reasons('Q.850;"' * 8000, "Q.850;cause=16"), scanner, "full")
    assert time.monotonic() - started < 2  # 10 s before, under a millisecond after
    assert not rejects and [m.q850_cause for m in messages] == [16]


@pytest.mark.parametrize(("value", "user", "host"), [
    # RFC 3966: the number of a tel: URI is who the call is from or to, as a SIP URI's user
    ("<tel:+4930123456;phone-context=+49>;tag=a", "+4930123456", None),
    ("tel:+4930123456;tag=a", "+4930123456", None),
    ('"Tel" <TEL:1000>;tag=a', "1000", None),
    ("<sip:+4930123456@gw.example;user=phone>;tag=a", "+4930123456", "gw.example"),
    ('"tel:" <sip:gw.example>;tag=a', None, "gw.example"),
])
def test_the_user_of_a_tel_uri_is_its_number(value: str, user: str | None, host: str | None) -> None:
    m = parse(f"INVITE sip:x@y SIP/2.0\r\nCall-ID: c\r\nFrom: {value}\r\nTo: {value}\r\nCSeq: 1 INVITE\r\n\r\n")
    assert isinstance(m, SipMessage)
    assert (m.from_user, m.from_host, m.from_tag) == (user, host, "a")
    assert (m.to_user, m.to_host) == (user, host)


@pytest.mark.parametrize("in_c", [True, False])
@pytest.mark.parametrize(("value", "user", "host"), [
    # RFC 3261 25.1: a user may hold ";" (user-unreserved), as carriers' numbers with number
    # portability (RFC 4694 npdi, rn) or a subaddress (isub) in a user=phone URI do
    ("<sip:+15551234567;npdi;rn=+15556660000@gw.example;user=phone>;tag=a",
     "+15551234567;npdi;rn=+15556660000", "gw.example"),
    ('"Sub" <sip:+4930123;isub=12@pbx.example:5060>;tag=a', "+4930123;isub=12", "pbx.example"),
    ("<sip:al;x=1:pw@pbx.example>;tag=a", "al;x=1", "pbx.example"),
    ("<sip:pbx.example;transport=tcp;lr>;tag=a", None, "pbx.example"),
    ("<tel:+15551234567;npdi;rn=+15556660000>;tag=a", "+15551234567", None),
])
def test_a_user_with_parameters_is_the_whole_user(value: str, user: str | None, host: str | None,
                                                   in_c: bool) -> None:
    parser = MessageParser(Grammar.from_library(PatternLibrary.load()))
    if not in_c:
        parser._c_address = None
    elif parser._c_address is None:
        pytest.skip("the C reader of addresses is not built")
    assert parser.address(value)[1:] == (user, host, "a")


SDP_BODY = b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
SDP_TEXT = "v=0\no=- 1 1 IN IP4 192.0.2.10\ns=-\nc=IN IP4 192.0.2.10\nt=0 0\nm=audio 4000 RTP/AVP 0"


@pytest.mark.parametrize(("content_type", "body"), [
    # RFC 5621 3.1: a part may itself be multipart, the SDP and its alternatives inside
    ("multipart/mixed;boundary=outer",
     b"--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
     b"--inner\r\nContent-Type: application/sdp\r\n\r\n" + SDP_BODY + b"\r\n--inner--\r\n"
     b"\r\n--outer\r\nContent-Type: application/pidf+xml\r\n\r\n<presence/>\r\n--outer--\r\n"),
    # RFC 2046 5.1.1: a delimiter is a whole line; "--b" inside a line, or "--b2", is content
    ("multipart/mixed;boundary=b",
     b"--b\r\nContent-Type: text/plain\r\n\r\nsee --b-- below\r\n--b2 here\r\n"
     b"--b\r\nContent-Type: application/sdp\r\n\r\n" + SDP_BODY + b"\r\n--b--\r\n"),
])
def test_the_sdp_of_a_nested_multipart_body(content_type: str, body: bytes) -> None:
    assert sdp_text(content_type, body) == SDP_TEXT


def test_the_sdp_of_a_part_typed_in_the_compact_form() -> None:
    # a SIP stack writes its own compact "c:" in a part too, and Wireshark reads it so
    body = b"--p9\r\nc: application/sdp\r\n\r\n" + SDP_BODY + b"\r\n--p9--\r\n"
    assert sdp_text("multipart/mixed;boundary=p9", body) == SDP_TEXT
    assert sdp_text("multipart/mixed;boundary=p9", body.replace(b"c:", b"cc:")) is None


def test_the_sdp_of_a_multipart_body_nested_without_end_is_read_at_once() -> None:
    started = time.monotonic()
    deep = b"".join(b"--b\r\nContent-Type: multipart/mixed;boundary=b\r\n\r\n" for _ in range(5000))
    assert sdp_text("multipart/mixed;boundary=b", deep) is None
    assert time.monotonic() - started < 1


def test_the_sdp_of_a_multipart_body_cut_before_its_close_delimiter() -> None:
    body = b"--b\r\nContent-Type: application/isup\r\n\r\nxx\r\n--b\r\nContent-Type: application/sdp\r\n\r\n" + SDP_BODY
    assert sdp_text("multipart/mixed; boundary=b", body) == SDP_TEXT
