"""The base library (grok_patterns/grok-patterns): each family on inputs that must and must not match."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.grok.helpers import grok_match


def whole(name: str, text: str) -> str | None:
    """The text an anchored %{NAME:v} captures, or None."""
    fields = grok_match(f"^%{{{name}:v}}$", text)
    return None if fields is None else fields.get("v", "")


@pytest.mark.parametrize(
    ("name", "good", "bad"),
    [
        ("INT", ["0", "-12", "+7"], ["1.5", "x"]),
        ("POSINT", ["1", "9000"], ["0", "-1", "01"]),
        ("NONNEGINT", ["0", "17"], ["-1"]),
        ("NUMBER", ["1", "-2.5", ".5", "+3.25"], ["1.", "abc", "1e5"]),
        ("BASE16NUM", ["0x1F", "ff", "-0xA"], ["xyz"]),
        ("WORD", ["abc_1"], ["a b", "é"]),
        ("NOTSPACE", ["a/b:c"], ["a b"]),
        ("QUOTEDSTRING", ['"a \\" b"', "'it'", "''", "`x`", '""'], ['"open', "'a'b'", '\\"x"']),
        ("UUID", ["123e4567-e89b-12d3-a456-426614174000"], ["123e4567-e89b-12d3-a456-42661417400"]),
        ("URN", ["urn:isbn:0451450523", "urn:ietf:rfc:2648", "urn:a:%2F"], ["urn:-a:b", "urn:a:", "isbn:1"]),
        ("MAC", ["00:1A:2b:3c:4D:5e", "00-1a-2b-3c-4d-5e", "001a.2b3c.4d5e"], ["00:1a:2b:3c:4d", "zz:1a:2b:3c:4d:5e"]),
        ("HOSTNAME", ["pbx-a", "sip.example.org", "example.org."], ["-bad", "a..b"]),
        ("IPORHOST", ["10.0.0.5", "::1", "pbx1"], ["a b"]),
        ("HOSTPORT", ["10.0.0.5:5060", "pbx.example.net:5061"], ["pbx:0", "pbx"]),
        ("UNIXPATH", ["/var/log/asterisk/full", "/opt/Čierný_Peter/.中", "/"], ["var/log", "/a b"]),
        ("WINPATH", ["C:\\Windows\\system32", "\\\\server\\share"], ["C:/Windows", "C:\\a?b"]),
        ("TTY", ["/dev/pts/1", "/dev/tty0"], ["/dev/sda"]),
        ("URIPROTO", ["sip", "svn+ssh"], ["1sip"]),
        ("URIPATHPARAM", ["/a/b?x=1&y=2", "/"], ["a/b"]),
        ("URI", ["http://user:pw@example.com:8080/a?b=c", "sip://10.0.0.1"], ["example.com/a"]),
        ("MONTH", ["Jan", "January", "Mär", "März", "Dez", "oct"], ["Foo", "Janu", "Sept"]),
        ("MONTHNUM", ["1", "09", "12"], ["13", "00"]),
        ("MONTHDAY", ["1", "09", "31"], ["32", "00"]),
        ("DAY", ["Mon", "Thursday"], ["Thurs"]),
        ("TIME", ["18:32:31", "00:00:00.123", "23:59:60"], ["24:00:00", "18:32"]),
        ("SYSLOGTIMESTAMP", ["Feb  1 18:32:31", "Dec 31 23:59:59"], ["Feb 1", "2025-02-01 18:32:31"]),
        ("TIMESTAMP_ISO8601", ["2025-02-01T18:32:31.123456+00:00", "2025-02-01 18:32:31", "2025-02-01T18:32Z"],
         ["2025-02-01", "01/02/2025 18:32:31"]),
        ("DATE_US", ["02/01/2025", "2-1-25"], ["2025/02/01"]),
        ("DATE_EU", ["01.02.2025", "1/2/25"], ["2025.02.01"]),
        ("DATESTAMP", ["01.02.2025 18:32:31", "02/01/25-18:32:31"], ["01.02.2025"]),
        ("DATESTAMP_RFC822", ["Sat Feb 1 2025 18:32:31 UTC"], ["Sat Feb 1 2025 18:32:31"]),
        ("DATESTAMP_RFC2822", ["Sat, 1 Feb 2025 18:32:31 +0000"], ["Sat, 1 Feb 2025 18:32:31 GMT"]),
        ("DATESTAMP_OTHER", ["Sat Feb 1 18:32:31 UTC 2025"], ["Sat Feb 1 18:32:31 2025"]),
        ("DATESTAMP_EVENTLOG", ["20250201183231"], ["2025020118"]),
        ("HTTPDATE", ["01/Feb/2025:18:32:31 +0000"], ["01/Feb/2025 18:32:31"]),
        ("LOGLEVEL", ["WARNING", "warn", "Err", "EMERGENCY", "info", "Information"], ["loud"]),
    ],
)
def test_core_family(name: str, good: list[str], bad: list[str]) -> None:
    for text in good:
        assert whole(name, text) == text, f"{name} should match {text!r}"
    for text in bad:
        assert whole(name, text) is None, f"{name} should not match {text!r}"


def test_number_stays_off_the_tail_of_a_longer_number() -> None:
    assert grok_match("%{NUMBER:n}", "v1.2.3") == {"n": "1.2"}
    assert grok_match("x%{BASE10NUM:n}", "x-5") == {"n": "-5"}


def test_urihost_captures_the_port() -> None:
    assert grok_match("%{URIHOST}", "example.org:8080") == {"port": "8080"}


def test_syslog_base_captures() -> None:
    line = "Feb  1 18:32:31 pbx-a asterisk[6541]: CSeq: 1 INVITE"
    assert grok_match("%{SYSLOGBASE} %{GREEDYDATA:message}", line) == {
        "timestamp": "Feb  1 18:32:31", "logsource": "pbx-a", "program": "asterisk", "pid": "6541",
        "message": "CSeq: 1 INVITE",
    }
    assert grok_match("%{SYSLOGFACILITY}", "<4.6>") == {"facility": "4", "priority": "6"}


@given(st.integers(min_value=-(10**30), max_value=10**30))
def test_int_and_number_match_any_integer(value: int) -> None:
    assert whole("INT", str(value)) == str(value)
    assert whole("NUMBER", str(value)) == str(value)


@given(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e12, max_value=1e12))
def test_number_float_conversion_round_trips(value: float) -> None:
    text = f"{value:.6f}"
    assert grok_match("^%{NUMBER:n:float}$", text) == {"n": float(text)}


@given(st.integers(min_value=1, max_value=10**20))
def test_posint_matches_positive_integers(value: int) -> None:
    assert whole("POSINT", str(value)) == str(value)


@given(st.ip_addresses(v=4))
def test_ipv4_matches_every_address(address: ipaddress.IPv4Address) -> None:
    assert whole("IPV4", str(address)) == str(address)
    assert whole("IP", str(address)) == str(address)


@given(st.lists(st.integers(min_value=0, max_value=999), min_size=4, max_size=4))
def test_ipv4_rejects_what_is_not_an_address(octets: list[int]) -> None:
    text = ".".join(map(str, octets))
    valid = all(o <= 255 for o in octets)
    assert (whole("IPV4", text) == text) is valid


@given(st.ip_addresses(v=6))
def test_ipv6_matches_every_address_in_every_notation(address: ipaddress.IPv6Address) -> None:
    for text in {str(address), address.exploded}:
        assert whole("IPV6", text) == text
        assert whole("IPORHOST", text) == text


@pytest.mark.parametrize("text", ["1:2:3:4:5:6:7", "1::2::3", "12345::1", "::ffff:1.2.3.256", ":1:2"])
def test_ipv6_rejects_malformed(text: str) -> None:
    assert whole("IPV6", text) is None
