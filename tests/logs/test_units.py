"""Escapes, time stamps, dialect detection and user dialects."""

from __future__ import annotations

import re
import time
import tomllib
import warnings
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipparse.errors import ConfigError, SipparseError
from sipparse.grok import PatternLibrary
from sipparse.logs import detect_dialect
from sipparse.logs.dialects import UnknownLogFormat
from sipparse.logs.escapes import decode_escapes, decoded_length
from sipparse.logs.timestamps import TimestampParser
from tests.logs.helpers import DATA, imfile_lines, interleave, parse_bytes

UTC = UTC


def test_escapes() -> None:
    assert decode_escapes(b"a#015#012b#011#303#251") == b"a\r\nb\t\xc3\xa9"
    assert decode_escapes(b"call #100 and #999") == b"call #100 and #999"  # printable: never escaped


@given(st.binary(max_size=200))
def test_escape_round_trip(raw: bytes) -> None:
    escaped = b"".join(b"#%03o" % c if c < 32 or c >= 127 else bytes([c]) for c in raw)
    if b"#" not in raw:
        assert decode_escapes(escaped) == raw


@given(st.lists(st.sampled_from([b"a", b"#", b"0", b"1", b"7", b"#015", b"#011", b"#000", b"#377", b"#100", b"#08"]),
                max_size=30))
def test_decoded_length_is_the_length_decode_escapes_gives(parts: list[bytes]) -> None:
    data = b"".join(parts)
    assert decoded_length(data) == len(decode_escapes(data))


def test_year_inference_and_new_year() -> None:
    parse = TimestampParser(tz=UTC, now=datetime(2026, 1, 1, 0, 5, tzinfo=UTC))
    assert parse("Dec 31 23:59:59") == datetime(2025, 12, 31, 23, 59, 59)
    assert parse("Jan  1 00:04:00") == datetime(2026, 1, 1, 0, 4)
    assert parse("Feb 29 10:00:00") == datetime(2024, 2, 29, 10)
    assert TimestampParser(year=2025, tz=UTC)("Feb  1 18:32:31") == datetime(2025, 2, 1, 18, 32, 31)


@given(st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2030, 1, 1)))
def test_yearless_never_in_the_future(now: datetime) -> None:
    parse = TimestampParser(tz=UTC, now=now)
    for stamp in (now, now + timedelta(days=40), now - timedelta(days=300)):
        value = parse(stamp.strftime("%b %d %H:%M:%S"))
        assert value is not None and value <= now + timedelta(days=1)


def test_zones_and_fractions() -> None:
    parse = TimestampParser(tz=timezone(timedelta(hours=2)))
    assert parse("2026-11-29T14:09:10.721014+01:00") == datetime(2026, 11, 29, 13, 9, 10, 721014)
    assert parse("2025-02-01 18:32:31.123") == datetime(2025, 2, 1, 16, 32, 31, 123000)
    assert parse("not a time") is None


@pytest.mark.parametrize("text, expected", [
    ("Dec 31 23:59:60", datetime(2017, 1, 1)),
    ("Dec 31 23:59:60.250", datetime(2017, 1, 1, 0, 0, 0, 250000)),
    ("Dec 31 23:59:60 2016", datetime(2017, 1, 1)),
    ("2016-12-31T23:59:60Z", datetime(2017, 1, 1)),
    ("2016-12-31 23:59:60,5", datetime(2017, 1, 1, 0, 0, 0, 500000)),
    ("2017-01-01T00:59:60+01:00", datetime(2017, 1, 1)),
    ("31/12/2016 23:59:60", datetime(2017, 1, 1)),
])
def test_a_leap_second_is_the_next_minutes_first(text: str, expected: datetime) -> None:
    """UTC inserts 23:59:60 now and then (31 December 2016 the last time); syslog and
    Asterisk write it as the clock showed it."""
    assert TimestampParser(year=2016, tz=UTC)(text) == expected


@pytest.mark.parametrize("text", ["Dec 31 23:60:00", "Dec 31 23:59:61", "2016-12-31T23:59:600"])
def test_no_other_second_or_minute_past_59_is_read(text: str) -> None:
    assert TimestampParser(year=2016, tz=UTC)(text) is None


REPEATED_HOUR = [  # Berlin, 26 October 2025: 02:00 to 02:59 twice, the second time an hour later
    ("Oct 26 01:59:59", datetime(2025, 10, 25, 23, 59, 59)), ("Oct 26 02:00:00", datetime(2025, 10, 26, 0, 0)),
    ("Oct 26 02:59:59", datetime(2025, 10, 26, 0, 59, 59)), ("Oct 26 02:00:00", datetime(2025, 10, 26, 1, 0)),
    ("Oct 26 02:00:00", datetime(2025, 10, 26, 1, 0)), ("2025-10-26 02:30:00", datetime(2025, 10, 26, 1, 30)),
    ("Oct 26 02:59:59", datetime(2025, 10, 26, 1, 59, 59)), ("Oct 26 03:00:00", datetime(2025, 10, 26, 2, 0)),
]


@pytest.mark.parametrize("local", [False, True])
def test_a_time_of_the_repeated_hour_is_the_one_nearer_the_time_before(local: bool, monkeypatch: pytest.MonkeyPatch
                                                                      ) -> None:
    if local:  # the machine's zone, as when --tz is not given
        monkeypatch.setenv("TZ", "Europe/Berlin")
        time.tzset()
    try:
        parse = TimestampParser(year=2025, tz=None if local else ZoneInfo("Europe/Berlin"))
        assert [parse(text) for text, _ in REPEATED_HOUR] == [expected for _, expected in REPEATED_HOUR]
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(("zone", "text", "expected"), [
    ("Europe/Berlin", "Mar 30 02:30:00", datetime(2025, 3, 30, 1, 30)),  # the hour skipped: the offset before it
    (":Europe/Moscow", "2012-06-01 12:00:00", datetime(2012, 6, 1, 8, 0)),  # UTC+4 from 2011 to 2014
    ("America/Sao_Paulo", "2015-01-10 12:00:00", datetime(2015, 1, 10, 14, 0)),  # summer time until 2019
])
def test_the_machines_zone_reads_as_when_named(zone: str, text: str, expected: datetime,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --tz, a time is read with the rules of the machine's zone for its date, as
    with --tz naming that zone: not with today's offsets."""
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert TimestampParser(year=2025)(text) == expected
        assert TimestampParser(year=2025, tz=ZoneInfo(zone.lstrip(":")))(text) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_repeated_hour_that_ends_the_day_is_told_too() -> None:
    """Santiago's clocks go from 24:00 back to 23:00 on 5 April 2025."""
    parse = TimestampParser(year=2025, tz=ZoneInfo("America/Santiago"), now=datetime(2025, 4, 6, 3))
    stamps = ["Apr  5 23:59:59", "Apr  5 23:00:00", "Apr  5 23:20:00", "Apr  5 23:40:00", "Apr  5 23:59:59",
              "Apr  6 00:00:00"]
    assert [parse(text) for text in stamps] == [
        datetime(2025, 4, 6, 2, 59, 59), datetime(2025, 4, 6, 3, 0), datetime(2025, 4, 6, 3, 20),
        datetime(2025, 4, 6, 3, 40), datetime(2025, 4, 6, 3, 59, 59), datetime(2025, 4, 6, 4, 0)]


@pytest.mark.parametrize(("now", "expected"), [(datetime(2025, 10, 26, 1, 25), datetime(2025, 10, 26, 0, 30)),
                                             (datetime(2025, 10, 26, 1, 35), datetime(2025, 10, 26, 1, 30)),
                                             (datetime(2026, 12, 3), datetime(2025, 10, 26, 1, 30))])
def test_a_time_of_the_repeated_hour_read_first_is_the_later_one_unless_that_is_yet_to_come(
        now: datetime, expected: datetime) -> None:
    """A run resuming within the hour: 02:30 is 01:30 UTC, unless the log was last written
    before that (``now``, ingest's mtime), so it is 00:30 UTC."""
    assert TimestampParser(year=2025, tz=ZoneInfo("Europe/Berlin"), now=now)("Oct 26 02:30:00") == expected


def test_a_time_of_the_repeated_hour_is_then_the_nearer_one() -> None:
    parse = TimestampParser(year=2025, tz=ZoneInfo("Europe/Berlin"), now=datetime(2025, 10, 26, 0, 35))
    assert parse("Oct 26 02:30:00") == datetime(2025, 10, 26, 0, 30)
    assert parse("Oct 26 03:30:00") == datetime(2025, 10, 26, 2, 30)
    assert parse("Oct 26 02:30:00") == datetime(2025, 10, 26, 1, 30)
    assert parse("Oct 26 01:00:00") == datetime(2025, 10, 25, 23, 0)
    assert parse("Oct 26 02:30:00") == datetime(2025, 10, 26, 0, 30)


@pytest.mark.parametrize(("text", "expected"), [
    ("2025-10-26 02:30:00 CEST", datetime(2025, 10, 26, 0, 30)),  # the repeated hour: the name says which
    ("2025-10-26 02:30:00 CET", datetime(2025, 10, 26, 1, 30)),
    ("Sun Oct 26 02:30:00 CEST 2025", datetime(2025, 10, 26, 0, 30)),
    ("Oct 26 02:30:00.5 CEST", datetime(2025, 10, 26, 0, 30, 0, 500000)),
    ("2025-07-01 12:00:00 CET", datetime(2025, 7, 1, 11, 0)),  # as written, though summer time was on
])
def test_a_zone_name_of_the_zone_is_read_with_its_offset(text: str, expected: datetime) -> None:
    """A dateformat with %Z writes the zone's abbreviation, which tells the two 02:30s apart."""
    parse = TimestampParser(tz=ZoneInfo("Europe/Berlin"), now=datetime(2025, 11, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # dateutil's UnknownTimezoneWarning
        assert parse(text) == expected


@pytest.mark.parametrize("text, year, zone", [
    ("0001-01-01T00:00:00+01:00", None, UTC),  # before year 1 in UTC
    ("9999-12-31T23:59:59-14:00", None, UTC),  # after year 9999 in UTC
    ("9999-12-31 23:59:59.999", None, timezone(timedelta(hours=-5))),
    ("0001-01-01 00:00:00", None, timezone(timedelta(hours=9))),
    ("Dec 31 23:59:59", 9999, timezone(timedelta(hours=-12))),
    ("Jan  1 00:00:00 0001", None, timezone(timedelta(hours=1))),
])
def test_a_time_outside_the_years_datetime_holds_is_none(text: str, year: int | None, zone: timezone) -> None:
    assert TimestampParser(year=year, tz=zone)(text) is None


@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
       st.integers(-14 * 60, 14 * 60), st.sampled_from(["{y}-{t:%m-%d}T{t:%H:%M:%S}", "{y}-{t:%m-%d %H:%M:%S}",
                                                       "{t:%b} {t.day:2d} {t:%H:%M:%S} {y}"]))
def test_any_time_of_any_year_parses_without_raising(value: datetime, minutes: int, layout: str) -> None:
    zone = timezone(timedelta(minutes=minutes))
    parsed = TimestampParser(tz=zone)(layout.format(y=f"{value.year:04d}", t=value))
    assert parsed == (value - timedelta(minutes=minutes)).replace(microsecond=0)


@pytest.mark.parametrize("name, dialect", [
    ("pjsip-full.log", "full"), ("pjsip-syslog.log", "syslog"), ("pjsip-rfc5424.log", "rfc5424"),
    ("asterisk-real/pjsip", "full"), ("asterisk-real/rsyslog-fileformat.log", "rfc5424"),
])
def test_detect_from_the_middle(name: str, dialect: str) -> None:
    data = (DATA / name).read_bytes()
    middle = len(data) // 2
    assert detect_dialect(data[:65536]) == dialect
    assert detect_dialect(data[middle:middle + 65536]) == dialect


def _as_syslog_protocol(data: bytes, structured: bytes = b"-", before: bytes = b" ") -> bytes:
    """RSYSLOG_FileFormat lines rewritten as RSYSLOG_SyslogProtocol23Format writes them;
    ``before``: what separates the structured data from the message."""
    line = re.compile(rb"(?m)^(\S+) (\S+) ([^\[: ]+)\[(\d+)\]: ")
    return line.sub(lambda m: b"<134>1 %s %s %s %s - %s%s" % (m[1], m[2], m[3], m[4], structured, before), data)


@pytest.mark.parametrize("name", ["pjsip-rfc5424.log", "asterisk-real/rsyslog-fileformat.log"])
@pytest.mark.parametrize("structured", [b"-", rb'[meta sequenceId="7"][origin ip="10.0.0.5" x="a\]b"]'])
@pytest.mark.parametrize("before", [b" ", b"  "])
def test_the_rfc5424_message_format_itself(name: str, structured: bytes, before: bytes) -> None:
    """The same log through rsyslog's protocol-23 template: the same messages, from the
    PRI, version, structured data and all. A message that reached rsyslog in RFC 3164 (from
    /dev/log, or forwarded so) keeps the space after its tag's colon as its first byte, and
    the template writes it after its own: ``<134>1 ... asterisk 2899 - -  VERBOSE[2931]: ...``
    (rsyslog 8.2302)."""
    rfc3339 = (DATA / name).read_bytes()
    protocol = _as_syslog_protocol(rfc3339, structured, before)
    assert protocol.startswith(b"<134>1 ") and protocol.count(b"<134>1 ") > 100
    assert detect_dialect(protocol[:65536]) == "syslog-protocol"
    plain, _, _, _ = parse_bytes(rfc3339)
    got, rejects, _, _ = parse_bytes(protocol)
    assert not rejects and len(got) == len(plain)
    fields = ("call_id", "sip_method", "cseq", "from_sip", "to_sip", "timestamp", "host", "pid", "raw_message")
    assert [[getattr(m, f) for f in fields] for m in got] == [[getattr(m, f) for f in fields] for m in plain]


BOM = "\ufeff".encode()


def _assert_read_alike(data: bytes, changed: bytes) -> None:
    """``changed``, a log ``data`` as another syslog setup writes it, gives the same messages
    (every field a query shows) and skips the same lines, with no reject."""
    plain, _, skipped, _ = parse_bytes(data)
    got, rejects, changed_skipped, _ = parse_bytes(changed)
    assert not rejects and changed_skipped == skipped and len(got) == len(plain) > 0
    fields = ("call_id", "sip_method", "cseq", "from_sip", "to_sip", "timestamp", "host", "pid", "raw_message",
              "direction", "peer")
    assert [[getattr(m, f) for f in fields] for m in got] == [[getattr(m, f) for f in fields] for m in plain]


@pytest.mark.parametrize("name", ["pjsip-syslog.log", "pjsip-rfc5424.log", "asterisk-real/rsyslog-traditional.log",
                                  "asterisk-real/rsyslog-fileformat.log", "syslog-protocol"])
def test_a_byte_order_mark_before_each_message_is_not_part_of_it(name: str) -> None:
    """RFC 5424 marks a UTF-8 MSG with a BOM; rsyslog keeps it as the first bytes of the
    message in every template, so it sits between the prefix and what Asterisk logged."""
    data = (DATA / name).read_bytes() if name != "syslog-protocol" else _as_syslog_protocol(
        (DATA / "pjsip-rfc5424.log").read_bytes())
    prefix = re.compile(rb"(?m)^(<134>1 \S+ \S+ \S+ \S+ - - |\S+(?: +\d+ \S+)? \S+ [^\[: ]+\[\d+\]: )")
    marked = prefix.sub(lambda m: m[1] + BOM, data)
    assert marked.count(BOM) > 100
    _assert_read_alike(data, marked)


@pytest.mark.parametrize("name, dialect", [("pjsip-syslog-markers.log", "syslog"), ("pjsip-rfc5424.log", "rfc5424"),
                                           ("asterisk-real/rsyslog-traditional.log", "syslog"),
                                           ("asterisk-real/rsyslog-fileformat.log", "rfc5424")])
def test_lines_that_keep_their_syslog_pri(name: str, dialect: str) -> None:
    """A server writing what it received (``%rawmsg%``) or with a forwarding template keeps
    the ``<PRI>`` before the time stamp: ``<134>Nov 29 14:06:32 vm asterisk[2899]: ...``."""
    data = (DATA / name).read_bytes()
    forwarded = re.sub(rb"(?m)^(?=\S)", b"<134>", data)
    assert forwarded.count(b"\n<134>") > 100
    assert detect_dialect(forwarded[:65536]) == dialect
    _assert_read_alike(data, forwarded)


@pytest.mark.parametrize("name, tag", [
    ("pjsip-syslog-markers.log", rb"\1[\2] "), ("pjsip-syslog-markers.log", rb"\1 "),
    ("asterisk-real/rsyslog-traditional.log", rb"\1[\2] "), ("asterisk-real/rsyslog-traditional.log", rb"\1 "),
    ("pjsip-rfc5424.log", rb"\1[\2] "), ("asterisk-real/rsyslog-fileformat.log", rb"\1[\2] ")])
def test_a_tag_without_its_colon(name: str, tag: bytes) -> None:
    """A message that reached the log server in RFC 5424 is written by RSYSLOG_FileFormat and
    RSYSLOG_TraditionalFileFormat with its APP-NAME and PROCID as the tag, and no colon:
    ``2026-11-29T14:09:10.721014+00:00 pbx1 asterisk[6541] Via: ...`` (rsyslog 8.2302)."""
    data = (DATA / name).read_bytes()
    colonless = re.sub(rb"(?m)^(\S+(?: +\d+ \S+)? \S+ [^\[: ]+)\[(\d+)\]: ", tag, data)
    assert colonless != data and colonless.count(b"\n") == data.count(b"\n")
    plain, _, skipped, _ = parse_bytes(data)
    got, rejects, colonless_skipped, _ = parse_bytes(colonless)
    assert not rejects and colonless_skipped == skipped and len(got) == len(plain) > 0
    fields = ("call_id", "sip_method", "cseq", "from_sip", "to_sip", "timestamp", "host", "raw_message",
              "direction", "peer")
    assert [[getattr(m, f) for f in fields] for m in got] == [[getattr(m, f) for f in fields] for m in plain]
    assert {m.pid for m in got} == ({m.pid for m in plain} if b"[" in tag else {None})


def test_an_application_log_is_no_syslog_without_a_colon() -> None:
    """Behind an RFC 3339 time stamp a tag without colon needs its PROCID: the lines of many an
    application's log would read as syslog lines otherwise, and such a log is no known format."""
    app = b"".join(b"2026-11-29 14:09:1%d,123 INFO app.module started\n" % i for i in range(10))
    assert detect_dialect(app) is None
    assert detect_dialect(app.replace(b" INFO app.module ", b" pbx asterisk[6541] ")) == "rfc5424"


@pytest.mark.parametrize("text, expected", [
    ("1795961195", datetime(2026, 11, 29, 14, 6, 35)),
    ("1795961195.123", datetime(2026, 11, 29, 14, 6, 35, 123000)),
    ("1795961195,000042", datetime(2026, 11, 29, 14, 6, 35, 42)),
    ("999999999", datetime(2001, 9, 9, 1, 46, 39)),
])
def test_seconds_since_the_epoch_are_utc_whatever_the_zone(text: str, expected: datetime) -> None:
    """Asterisk's ``dateformat = %s`` (or ``%s.%3q``) writes the seconds since 1970, which no
    zone shifts."""
    assert TimestampParser(tz=ZoneInfo("Europe/Paris"))(text) == expected
    assert TimestampParser(tz=UTC, year=2020)(text) == expected


def test_a_full_log_with_epoch_time_stamps_is_read_as_full(reader: str) -> None:
    """Asterisk's ``dateformat = %s.%3q``: the file is detected as ``full`` with no
    configuration, every message at its time, by the C reader as by Python's."""
    data = (DATA / "asterisk-real/pjsip").read_bytes()
    epoch = re.sub(rb"(?m)^\[Nov 29 14:(\d\d):(\d\d)\]",
                   lambda m: b"[%d.250]" % (1795960800 + int(m[1]) * 60 + int(m[2])), data)
    assert epoch.count(b"\n[1795961") > 100 and detect_dialect(epoch) == "full"
    plain, _, skipped, _ = parse_bytes(data)
    got, rejects, epoch_skipped, _ = parse_bytes(epoch)
    assert not rejects and epoch_skipped == skipped and len(got) == len(plain) > 0
    assert [m.timestamp for m in got] == [m.timestamp + timedelta(microseconds=250000) for m in plain]
    assert [(m.raw_message, m.direction, m.peer) for m in got] == [(m.raw_message, m.direction, m.peer) for m in plain]


@pytest.mark.parametrize("dateformat", [
    "%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M:%S %Z", "%a %b %e %H:%M:%S %Y", "%d/%m/%Y %H:%M:%S", "%b %d %Y %H:%M:%S",
])
def test_a_full_log_in_another_dateformat_is_read_as_full(reader: str, dateformat: str) -> None:
    """Asterisk's ``dateformat`` is any strftime format; whatever it writes between the
    brackets before a level and LWP is the entry's time stamp: the file is detected as
    ``full``, each entry at the time it was logged (by Asterisk in Paris)."""
    data = (DATA / "asterisk-real/pjsip").read_bytes()
    paris = ZoneInfo("Europe/Paris")
    stamp = re.compile(rb"(?m)^\[Nov 29 (\d\d):(\d\d):(\d\d)\]")

    def restamped(m: re.Match[bytes]) -> bytes:
        when = datetime(2026, 11, 29, *map(int, m.groups()), tzinfo=UTC).astimezone(paris)
        return b"[%s]" % when.strftime(dateformat).encode()

    changed = stamp.sub(restamped, data)
    assert changed.count(b"\n[") == data.count(b"\n[") and detect_dialect(changed) == "full"
    plain, _, skipped, _ = parse_bytes(data)
    got, rejects, changed_skipped, _ = parse_bytes(changed, tz=paris)
    assert not rejects and changed_skipped == skipped and len(got) == len(plain) > 0
    assert [(m.timestamp, m.raw_message) for m in got] == [(m.timestamp, m.raw_message) for m in plain]


@pytest.mark.parametrize("level", [b"FAX", b"compliance", b"CEL_2"])
def test_entries_of_any_level_begin_entries_in_another_dateformat(reader: str, level: bytes) -> None:
    """A file channel in ``dateformat = %s`` logging ``*``: an entry of a level a module
    registers (res_fax's FAX) or of logger.conf's ``custom_levels`` after a packet is an
    entry of its own, skipped, not text after the packet, and no message is lost."""
    data = (DATA / "asterisk-real/pjsip").read_bytes()
    entry = re.compile(rb"(?m)^\[Nov 29 14:(\d\d):(\d\d)\] ")

    def epoch_with_other_level(m: re.Match[bytes]) -> bytes:
        stamp = b"[%d] " % (1795960800 + int(m[1]) * 60 + int(m[2]))
        return stamp + level + b"[2931][C-00000001] res_fax.c: a line of another level\n" + stamp

    changed = entry.sub(epoch_with_other_level, data)
    plain, _, skipped, _ = parse_bytes(data)
    got, rejects, changed_skipped, _ = parse_bytes(changed)
    assert not rejects and changed_skipped == skipped + data.count(b"\n[Nov 29 ") + 1
    assert [(m.raw_message, m.problems) for m in got] == [(m.raw_message, m.problems) for m in plain]


def test_an_imfile_relay_of_a_channel_in_another_dateformat_reads_as_the_default_one(reader: str) -> None:
    """imfile forwarding a ``pjsip`` channel written with ``dateformat = %s``: Asterisk's own
    prefix inside each syslog line, its epoch stamp and all, is read as with the default
    stamp: every message, with the direction, transport and peer of its marker."""
    channel = (DATA / "asterisk-real/pjsip").read_bytes()
    epoch = re.sub(rb"(?m)^\[Nov 29 14:(\d\d):(\d\d)\]",
                   lambda m: b"[%d]" % (1795960800 + int(m[1]) * 60 + int(m[2])), channel)
    relayed = b"".join(imfile_lines(channel, "pbx-a", 4101))
    relayed_epoch = b"".join(imfile_lines(epoch, "pbx-a", 4101))
    assert relayed_epoch.count(b"asterisk[4101]: [1795961") > 100
    fields = ("call_id", "sip_method", "cseq", "raw_message", "direction", "transport", "peer")
    plain, _, skipped, _ = parse_bytes(relayed)
    got, rejects, epoch_skipped, _ = parse_bytes(relayed_epoch)
    assert not rejects and epoch_skipped == skipped and len(got) == len(plain) > 100
    assert [[getattr(m, f) for f in fields] for m in got] == [[getattr(m, f) for f in fields] for m in plain]


@pytest.mark.parametrize("version", [b"22.10.1", b"certified/18.9-cert5"])
def test_a_banner_after_a_logger_reload_begins_an_entry_in_another_dateformat(reader: str, version: bytes) -> None:
    """A file channel writes its "Asterisk ... built by" banner whenever it opens the file
    (``logger reload``, ``logger rotate``), also in the middle of the file: in
    ``dateformat = %s`` it is a line skipped, not text after the packet before it."""
    data = (DATA / "asterisk-real/pjsip").read_bytes()
    entry = re.compile(rb"(?m)^\[Nov 29 14:(\d\d):(\d\d)\] ")
    banner = b"Asterisk " + version + b" built by root @ vm on a x86_64 running Linux on 2026-11-29 14:00:04 UTC\n"

    def epoch_after_a_reload(m: re.Match[bytes]) -> bytes:
        stamp = b"[%d] " % (1795960800 + int(m[1]) * 60 + int(m[2]))
        return stamp + banner + stamp

    changed = entry.sub(epoch_after_a_reload, data)
    plain, _, skipped, _ = parse_bytes(data)
    got, rejects, changed_skipped, _ = parse_bytes(changed)
    assert not rejects and changed_skipped == skipped + data.count(b"\n[Nov 29 ") + 1
    assert [(m.raw_message, m.problems) for m in got] == [(m.raw_message, m.problems) for m in plain]


def readme_dialect(name: str) -> dict[str, object]:
    """The ``[[dialects]]`` table of that name in the README, as a user would copy it."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    for block in re.findall(r"```toml\n(.*?)```", readme, re.S):
        for table in tomllib.loads(block).get("dialects", []):
            if table["name"] == name:
                return table
    raise AssertionError(f"the README gives no [[dialects]] table named {name!r}")


def test_rfc3339_lines_without_a_procid_read_through_the_readme_dialect() -> None:
    """imfile's lines forwarded in RFC 5424 (RSYSLOG_SyslogProtocol23Format) and written by
    RSYSLOG_FileFormat: ``2026-...+00:00 pbx-a.example.com asterisk [Nov 29 14:06:35] ...``, no
    PROCID, no colon. No built-in dialect reads them; the README's table reads them as the
    same lines with a traditional prefix, hosts named by FQDN or address kept apart."""
    channel = (DATA / "asterisk-real/pjsip").read_bytes()
    streams = [imfile_lines(channel.replace(b"@127.0.0.1", b"@" + host.encode()), host, 4101)
               for host in ("pbx-a.example.com", "192.0.2.10")]
    traditional = interleave(streams, seed=5)
    rfc3339 = re.sub(rb"(?m)^Nov 29 (\S+) (\S+) asterisk\[4101\]: ",
                     rb"2026-11-29T\1.000000+00:00 \2 asterisk ", traditional)
    assert rfc3339.count(b" asterisk [Nov 29 ") > 100 and detect_dialect(rfc3339) is None
    spec = readme_dialect("rfc3339-no-procid")
    plain, _, skipped, _ = parse_bytes(traditional)
    got, rejects, rfc3339_skipped, _ = parse_bytes(rfc3339, user_dialects=[spec])
    assert not rejects and rfc3339_skipped == skipped and len(got) == len(plain) > 200
    fields = ("call_id", "sip_method", "cseq", "timestamp", "host", "raw_message", "direction", "transport", "peer")
    assert [[getattr(m, f) for f in fields] for m in got] == [[getattr(m, f) for f in fields] for m in plain]
    assert {m.pid for m in got} == {None}


@pytest.mark.parametrize("first, table", [
    (b"2026-11-29T14:06:35.123392+00:00 pbx1.example.com asterisk [Nov 29 14:06:35] VERBOSE[2931] x",
     "rfc3339-no-procid"),
    (b"2026-11-29 14:09:10,123 INFO app started", None),
])
def test_a_log_in_no_known_format_is_told_the_readme_table_for_its_shape(first: bytes, table: str | None) -> None:
    """A shape the README gives a [[dialects]] table for is named with that table, so that its
    user knows what to write; any other is only told to describe its prefix."""
    message = str(UnknownLogFormat("odd.log", first + b"\n" + first + b"\n"))
    assert "Describe its line prefix in a [[dialects]] table" in message
    if table is None:
        assert "README's" not in message
    else:
        assert message.endswith(f"the README's {table} table reads it")


def test_user_dialect_from_configuration() -> None:
    data = (DATA / "pjsip-syslog.log").read_bytes()[:6000].replace(b"Nov 29 14:09:10 pbx1 asterisk[6541]: ",
                                                                   b"<pbx1|6541|2026-11-29 14:09:10> ")
    spec = {"name": "piped", "line": r"<%{HOSTNAME:h}\|%{INT:p}\|%{TIMESTAMP_ISO8601:t}> ",
            "fields": {"timestamp": "t", "host": "h", "pid": "p"}}
    messages, _, _, _ = parse_bytes(data, user_dialects=[spec])
    assert messages and {(m.dialect, m.host, m.pid) for m in messages} == {("piped", "pbx1", 6541)}
    assert messages[0].timestamp == datetime(2026, 11, 29, 14, 9, 10)
    with pytest.raises(ConfigError):
        parse_bytes(data, user_dialects=[{"name": "bad", "line": "%{INT:x} "}])


def test_a_user_dialect_that_captures_no_stream_field_reads_every_line_as_one_stream() -> None:
    """A ``[[dialects]]`` prefix that captures the time stamp only: rsyslog's RFC 3339 time
    stamps differ from line to line of one message (imfile stamps each line as it reads
    it), and each line was taken as a stream of its own, so no message was ever whole."""
    data = (DATA / "pjsip-rfc5424.log").read_bytes()
    tick = iter(range(10**6))
    stamped = re.sub(rb"(?m)^(2026-11-29T\d\d:\d\d:\d\d)\.\d{6}",
                     lambda m: b"%s.%06d" % (m[1], next(tick) % 10**6), data)
    spec = {"name": "stamp-only", "line": "%{TIMESTAMP_ISO8601:timestamp} [^ ]+ [^ ]+: "}
    plain, _, _, _ = parse_bytes(stamped)
    got, rejects, _, _ = parse_bytes(stamped, dialect="stamp-only", user_dialects=[spec])
    assert not rejects and len(got) == len(plain) > 300
    assert [(m.call_id, m.timestamp, m.raw_message) for m in got] == [(m.call_id, m.timestamp, m.raw_message)
                                                                     for m in plain]


@pytest.mark.parametrize("host", [r"\p{L}+[0-9]", "[[:lower:]]+[0-9]", r"(?<=<|&<)[a-z]+[0-9]"])
def test_a_user_prefix_in_syntax_only_the_regex_module_has_reads_as_written(host: str) -> None:
    """``\\p{L}``, ``[[:lower:]]`` or a variable-width lookbehind: stdlib ``re`` refused the
    first and the last (an unexpected error) and read the second as a set of brackets and
    letters (no line had the prefix, so the log was not read)."""
    data = (DATA / "pjsip-syslog.log").read_bytes()[:6000].replace(b"Nov 29 14:09:10 pbx1 asterisk[6541]: ",
                                                                   b"<pbx1|2026-11-29 14:09:10> ")
    spec = {"name": "piped", "line": f"<(?<host>{host})\\|%{{TIMESTAMP_ISO8601:timestamp}}> "}
    messages, _, _, _ = parse_bytes(data, user_dialects=[spec])
    assert messages and {(m.dialect, m.host) for m in messages} == {("piped", "pbx1")}


def test_an_overridden_prefix_in_regex_only_syntax_reads_as_written(tmp_path: Path) -> None:
    """The same through a patterns dir that redefines a bundled dialect's prefix."""
    (tmp_path / "mine").write_text(
        r"ASTERISK_SYSLOG_LINE (?<timestamp>%{SYSLOGTIMESTAMP}) \[(?<host>[[:lower:]]+[0-9])\] "
        r"(?<program>\p{L}+)\[(?<pid>[0-9]+)\]: ?" "\n")
    data = (DATA / "pjsip-syslog.log").read_bytes()[:6000].replace(b"pbx1 asterisk", b"[pbx1] asterisk")
    messages, _, _, _ = parse_bytes(data, dialect="syslog", patterns=PatternLibrary.load(extra_dirs=[tmp_path]))
    assert messages and {(m.host, m.pid) for m in messages} == {("pbx1", 6541)}


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("%{NOPE:timestamp} ", r"^dialect 'mine': pattern %\{NOPE\} not defined$"),
        ("(?<timestamp>[0-9]+ ", r"^dialect 'mine': bad regex in grok expression '\(\?<timestamp>\[0-9\]\+ ': "
                                 r"end pattern with unmatched parenthesis at position 0$"),
        ("%{DATA:ts} ", r"^dialect 'mine': its line expression '%\{DATA:ts\} ' captures no timestamp field "
                        r"\(it captures: ts\)$"),
    ],
)
def test_a_broken_user_dialect_is_named(line: str, error: str) -> None:
    """The error named neither the dialect nor its line as written (but the anchored form
    compiled from it, with positions in that)."""
    with pytest.raises(SipparseError, match=error):
        parse_bytes(b"x\n", user_dialects=[{"name": "mine", "line": line}])


@pytest.mark.parametrize(
    ("table", "error"),
    [
        ({"feilds": {"host": "h"}}, r"^dialect 'mine': unknown key 'feilds' \(known: name, line, fields, layout\)$"),
        ({"fields": "h"}, r"^dialect 'mine': fields must be a table of field = capture names, not 'h'$"),
        ({"fields": {"host": 3}}, r"^dialect 'mine': fields must be a table of field = capture names, "
                                  r"not \{'host': 3\}$"),
        ({"fields": {"hots": "h"}}, r"^dialect 'mine': fields names no field 'hots' \(known: timestamp, host, program, "
                                    r"pid, message\)$"),
        ({"fields": {"host": "hostname"}}, r"^dialect 'mine': fields\.host is 'hostname', which its line expression "
                                           r"'%\{INT:timestamp\} %\{HOSTNAME:h\} ' does not capture \(it captures: "
                                           r"timestamp, h\)$"),
    ],
)
def test_a_dialect_table_that_would_be_read_otherwise_than_written_is_refused(table: dict[str, object],
                                                                               error: str) -> None:
    """Every other section of the config names a key misspelt or mistyped; a [[dialects]]
    table took it silently (a host it names unread, every message without its host) or
    failed with an unexpected ValueError."""
    spec = {"name": "mine", "line": "%{INT:timestamp} %{HOSTNAME:h} ", **table}
    with pytest.raises(SipparseError, match=error):
        parse_bytes(b"x\n", user_dialects=[spec])


def test_a_broken_override_of_a_dialect_prefix_is_named(tmp_path: Path) -> None:
    (tmp_path / "mine").write_text("ASTERISK_SYSLOG_LINE %{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:host}: \n")
    with pytest.raises(SipparseError, match=r"^dialect 'syslog': its line expression '%\{ASTERISK_SYSLOG_LINE\}' "
                                            r"captures no timestamp field \(it captures: ts, host\)$"):
        parse_bytes(b"x\n", dialect="syslog", patterns=PatternLibrary.load(extra_dirs=[tmp_path]))


def test_a_user_dialect_maps_field_references_as_written() -> None:
    """``fields`` named ECS-style captures as written (``[process][pid]``): they were known
    only by their last part, so this was "captures no [log][ts] field", and of
    ``[host][name]`` and ``[process][name]`` only the first could be mapped."""
    data = (DATA / "pjsip-syslog.log").read_bytes()[:6000]
    spec = {"name": "ecs", "line": "%{SYSLOGTIMESTAMP:[log][ts]} %{SYSLOGHOST:[host][name]} "
                                   r"%{PROG:[process][name]}\[%{POSINT:[process][pid]}\]: ?",
            "fields": {"timestamp": "[log][ts]", "host": "[host][name]", "program": "[process][name]",
                       "pid": "[process][pid]"}}
    messages, _, _, _ = parse_bytes(data, dialect="ecs", user_dialects=[spec])
    assert messages and {(m.dialect, m.host, m.pid) for m in messages} == {("ecs", "pbx1", 6541)}


@pytest.mark.parametrize("message", ["%{GREEDYDATA:message}", "%{GREEDYDATA:[message]}$", "%{GREEDYDATA:text}"])
def test_a_logstash_line_expression_ending_in_the_message_reads_as_a_prefix(message: str) -> None:
    """A Logstash user's whole-line expression, ``... %{GREEDYDATA:message}``: the prefix took
    in every line whole and left nothing to read, so every line was skipped without a word."""
    data = (DATA / "pjsip-syslog.log").read_bytes()[:6000]
    spec = {"name": "whole", "line": "%{SYSLOGTIMESTAMP:timestamp} %{SYSLOGHOST:host} "
                                     r"%{DATA:program}(?:\[%{POSINT:pid}\])?: " + message}
    if "text" in message:
        spec["fields"] = {"message": "text"}
    messages, _, _, _ = parse_bytes(data, dialect="whole", user_dialects=[spec])
    plain, _, _, _ = parse_bytes(data, dialect="syslog")
    assert messages and [m.raw_message for m in messages] == [m.raw_message for m in plain]


def test_a_redefined_marker_without_a_capture_the_reader_needs_is_refused_by_name(tmp_path: Path) -> None:
    """It failed at the first marker as 'unexpected KeyError: verb'."""
    (tmp_path / "mine").write_text(
        r"ASTERISK_PJSIP_MARKER <--- +(?<v>Received|Transmitting) SIP (?<kind>request|response) "
        r"\((?<bytes>[0-9]+) bytes\) (?:from|to) (?<transport>[A-Za-z]+):(?<peer>[^ \n]+) --->" "\n")
    with pytest.raises(SipparseError, match=r"^pattern %\{ASTERISK_PJSIP_MARKER\} at .*mine:1 must capture verb "
                                            r"\(it captures: v, kind, bytes, transport, peer\)$"):
        parse_bytes((DATA / "pjsip-full.log").read_bytes()[:4000], patterns=PatternLibrary.load(extra_dirs=[tmp_path]))


def test_each_pattern_library_reads_with_its_own_overrides(tmp_path: Path) -> None:
    """Libraries made one after another, each dropped before the next: a new one may be given
    the address of the last, and must still read with its own prefix, not the last one's."""
    data = (DATA / "pjsip-syslog.log").read_bytes()[:6000].replace(b"pbx1 asterisk", b"[pbx1] asterisk")
    for n in range(20):
        mine = tmp_path / str(n)
        mine.mkdir()
        host = r"\[(?<host>[a-z0-9]+)\]" if n % 2 else r"(?<host>\S+)"
        (mine / "mine").write_text(rf"ASTERISK_SYSLOG_LINE (?<timestamp>%{{SYSLOGTIMESTAMP}}) {host} "
                                   r"(?<program>[a-z]+)\[(?<pid>[0-9]+)\]: ?" "\n")
        messages, _, _, _ = parse_bytes(data, dialect="syslog", patterns=PatternLibrary.load(extra_dirs=[mine]))
        assert {m.host for m in messages} == {"pbx1" if n % 2 else "[pbx1]"}, n
