"""The C reader of addresses, Vias and start lines (``_address.c``) against the grammar's regular expressions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipparse.grok import PatternLibrary
from sipparse.sip import parser as parser_module
from sipparse.sip.grammar import Grammar
from sipparse.sip.parser import MessageParser

pytestmark = pytest.mark.skipif(parser_module._C_ADDRESS is None, reason="the C module is not built")

GRAMMAR = Grammar.from_library(PatternLibrary.load())
# pieces of addresses and Vias, and the characters their rules turn on
PIECES = ['"', "\\", "<", ">", ";", ":", "@", "?", ",", "=", "[", "]", " ", "\t", "sip", "sips", "tel", "tag",
          "TaG", "branch", "BRANCH", "z9hG4bK", "alice", "Bob", "10.0.0.5", "::1", "5060", "a", "1", "+", "-",
          ".", "_", "/", "x-y"]
NOISE = st.lists(st.sampled_from(PIECES), max_size=4).map("".join)
SHAPED = st.tuples(  # display, "<", scheme ":", userinfo "@", host, port, params, ">", params, each perturbed
    st.sampled_from(["", '"Alice"', "Bob Smith", '"a\\"b"', " ", '"unclosed']), NOISE,
    st.sampled_from(["", "<"]), st.sampled_from(["sip:", "sips:", "tel:", "x-1+.z:", "1sip:", ":"]), NOISE,
    st.sampled_from(["", "alice@", "al:pw@", "a?b@", "a;b@", "a>b@", "@", ":@", "u:p:q@"]), NOISE,
    st.sampled_from(["10.0.0.5", "[2001:db8::1]", "[]", "[zz]", "h st", "", "pbx.example.com"]), NOISE,
    st.sampled_from(["", ":5060", ":x"]), st.sampled_from(["", ";transport=udp", ";tag=in"]),
    st.sampled_from(["", ">", ">>"]), NOISE,
    st.sampled_from(["", ";tag=abc", "; TAG =x,y", ";tag=", ";x;tag=z", ";tag =\tq;tag=r"]),
).map("".join)
PLAIN = st.one_of(st.lists(st.sampled_from(PIECES), max_size=24).map("".join), SHAPED)
ANY = st.lists(st.one_of(st.sampled_from(PIECES), st.sampled_from(["\n", "\r", "\x1c", "\x7f", "é", "\u2003"]),
                         st.text(max_size=2)), max_size=16).map("".join)
REAL = [
    '"Alice Smith" <sip:alice@10.0.0.5:5060;transport=udp>;tag=as5c3d',
    "<sip:1001@pbx.example.com>;tag=abc;x=y",
    "sip:1001@pbx.example.com;tag=1928301774",
    'Bob <sips:bob@[2001:db8::1]:5061>',
    '"a \\"quoted\\" name" <sip:q@h>;tag=t',
    "<tel:+15551234>",
    "  <sip:@host>;TAG = x ;tag=y",
    "anonymous <sip:anonymous@anonymous.invalid>",
    "",
    "   ",
]
VIAS = [
    "SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK-524287-1",
    "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1, SIP/2.0/UDP 10.0.0.6;branch=z9hG4bK2",
    "SIP/2.0/TCP h ; BRANCH = z9 ; received=1.2.3.4",
    " , SIP/2.0/UDP h;branch=x",
    "SIP/2.0/UDP h;branch=",
]


def _printable(value: str) -> bool:
    """Printable ASCII and tabs: the values the C reader reads itself."""
    return all(c == "\t" or " " <= c <= "~" for c in value)


def _parsers() -> tuple[MessageParser, MessageParser]:
    with_c, regex_only = MessageParser(GRAMMAR), MessageParser(GRAMMAR)
    regex_only._c_address = regex_only._c_via = regex_only._c_start = None
    return with_c, regex_only


def _same(value: str) -> tuple[object, object]:
    """What C answers (None: declined) and what the regular expressions give."""
    _, regex_only = _parsers()
    return parser_module._C_ADDRESS.parse_address(value), regex_only._parse_address(value)


def _same_via(value: str) -> tuple[object, object]:
    _, regex_only = _parsers()
    return parser_module._C_ADDRESS.via_branch(value), regex_only._via(value)


@pytest.mark.parametrize("value", REAL)
def test_real_addresses(value: str) -> None:
    made, expected = _same(value)
    if "\\" in value:
        assert made is None  # a quoted-pair in the display name: the regular expressions read it
    else:
        assert made == expected


@pytest.mark.parametrize("value", VIAS)
def test_real_vias(value: str) -> None:
    made, expected = _same_via(value)
    assert made == expected


@settings(max_examples=3000, deadline=None)
@given(PLAIN)
def test_printable_addresses_read_as_the_regular_expressions_do(value: str) -> None:
    made, expected = _same(value)
    if made is None:  # only a display name with a quoted-pair is left to them
        assert "\\" in value and '"' in value
    else:
        assert made == expected


@settings(max_examples=1000, deadline=None)
@given(st.one_of(PLAIN, ANY))
def test_vias_read_alike_or_declined(value: str) -> None:
    made, expected = _same_via(value)
    assert made is None or made == expected
    assert (made is None) == (not _printable(value))


def test_a_users_own_address_rule_turns_the_c_reader_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mine").write_text("SIP_TAG_PARAM ;tag=(?<tag>[a-z]+)\n")
    grammar = Grammar.from_library(PatternLibrary.load(extra_dirs=[tmp_path]))
    mine = MessageParser(grammar)
    assert mine._c_address is None and mine._c_via is None
    assert mine._parse_address("<sip:a@b>;tag=abc1")[3] == "abc"
    assert MessageParser(GRAMMAR)._c_address is not None
    assert mine._c_start is not None  # the start line rules are still the bundled ones


def test_a_users_own_start_line_rule_turns_the_c_reader_off(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "mine").write_text("SIP_STATUS_CODE [0-9]{3}[a-z]?\n")
    mine = MessageParser(Grammar.from_library(PatternLibrary.load(extra_dirs=[tmp_path])))
    assert mine._c_start is None and mine._c_address is not None
    assert mine._start_line("SIP/2.0 200a OK") == ("200a OK", None, None, None, "OK")  # no integer code
    assert mine._start_line("SIP/2.0 200 OK") == ("200 OK", None, None, 200, "OK")
    assert MessageParser(GRAMMAR)._c_start is not None


def test_non_text_is_declined() -> None:
    assert parser_module._C_ADDRESS.parse_address(b"<sip:a@b>") is None
    assert parser_module._C_ADDRESS.via_branch(None) is None


# --- start lines ----------------------------------------------------------------------------

LINE_PIECES = ["SIP", "/", "2.0", "2", ".", "0", " ", "  ", "\t", "INVITE", "ACK", "x-Y.!%*_+`'~", "sip:a@b",
               "200", "180", "4860", "OK", "Ringing", "Busy Here", ";", "<", "@", ":", "?", "#", "é"]
START_SHAPED = st.tuples(
    st.sampled_from(["", " ", "\t"]),
    st.sampled_from(["INVITE", "BYE", "x-Y.!%*_+`'~", "SIP", "SIP/2.0", "SIP /2.0", "", "IN VITE", "<x>"]),
    st.sampled_from([" ", "  ", "", "\t"]),
    st.sampled_from(["sip:1001@10.0.0.5:5060;transport=udp", "sip:a\tb", "200", "", "SIP/2.0", "*"]),
    st.sampled_from([" ", "  ", "", "\t"]),
    st.sampled_from(["SIP/2.0", "SIP / 2.0", "SIP/2.", "SIP/.0", "sip/2.0", "SIP/20.10", "SIP/2.0 SIP/2.0", "",
                     "SIP 2.0", "SIP-2.0", "SIP/2,0"]),
    st.sampled_from(["", " ", "\t", " x"]),
).map("".join)
STATUS_SHAPED = st.tuples(
    st.sampled_from(["SIP/2.0", "SIP/ 2.0", "SIP/2.0x", "SIP/2", "SIP/22.33"]),
    st.sampled_from([" ", "   ", "", "\t"]),
    st.sampled_from(["200", "180", "20", "2000", "abc", "486"]),
    st.sampled_from(["", " ", "  ", "\t", " \t"]),
    st.sampled_from(["", "OK", "Busy Here", "Busy\tHere ", " x ", "é"]),
    st.sampled_from(["", " ", "\t"]),
).map("".join)
LINES = st.one_of(START_SHAPED, STATUS_SHAPED, st.lists(st.sampled_from(LINE_PIECES), max_size=10).map("".join))


def _same_start(value: str) -> tuple[object, object]:
    _, regex_only = _parsers()
    return parser_module._C_ADDRESS.start_line(value), regex_only._start_line(value)


@pytest.mark.parametrize("value", ["INVITE sip:1001@10.0.0.5 SIP/2.0", "SIP/2.0 200 OK", "SIP/2.0 100 Trying",
                                   "SIP/2.0 200", "  SIP/2.0   486   Busy Here  ", "OPTIONS * SIP / 2.0",
                                   "SIP/2.0 183 Session\tProgress"])
def test_real_start_lines(value: str) -> None:
    made, expected = _same_start(value)
    assert made is not None and made == expected


@settings(max_examples=3000, deadline=None)
@given(LINES)
def test_start_lines_read_alike_or_declined(value: str) -> None:
    """A start line C reads is read as the expressions read it; one it declines is one they
    do not read either, or one that is not printable ASCII."""
    made, expected = _same_start(value)
    if made is None:
        assert expected is None or not _printable(value)
    else:
        assert made == expected
        assert [type(v) for v in made] == [type(v) for v in expected]  # type: ignore[union-attr]


@pytest.mark.parametrize("read", [_same, _same_start], ids=["address", "start line"])
@settings(max_examples=800, deadline=None)
@given(ANY)
def test_any_value_is_read_alike_or_declined(read, value: str) -> None:  # type: ignore[no-untyped-def]
    """Any text: an address or a start line is read as the expressions read it, or declined
    (always when it is not printable ASCII)."""
    made, expected = read(value)
    assert made is None or made == expected
    if not _printable(value):
        assert made is None
