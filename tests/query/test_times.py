"""Time ranges as users type them, and times as users read them."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipparse.query.errors import QueryError
from sipparse.query.times import (
    Clock,
    as_datetime,
    bound_param,
    format_time,
    iso_time,
    parse_time_bound,
    stored_text,
    zone_by_name,
)

NOW = datetime(2025, 2, 1, 18, 0, 0)
UTC_CLOCK = Clock(zone=UTC, now_utc=NOW)
BERLIN = Clock(zone=zone_by_name("Europe/Berlin"), now_utc=NOW)


@pytest.mark.parametrize(
    ("text", "delta"),
    [("1h", timedelta(hours=1)), ("30m", timedelta(minutes=30)), ("2d", timedelta(days=2)),
     ("1h30m", timedelta(minutes=90)), ("45s", timedelta(seconds=45)), ("1w", timedelta(days=7)),
     ("2H", timedelta(hours=2))],
)
def test_relative_bounds_are_before_now(text: str, delta: timedelta) -> None:
    assert parse_time_bound(text, UTC_CLOCK) == NOW - delta


@pytest.mark.parametrize(("text", "delta"), [
    ("-1h", timedelta(hours=1)), ("-30m", timedelta(minutes=30)), ("-2d", timedelta(days=2)),
    ("-1h30m", timedelta(minutes=90)), ("- 10s", timedelta(seconds=10)),
])
def test_an_age_with_a_minus_sign_is_that_long_before_now_as_journalctl_reads_it(text: str, delta: timedelta) -> None:
    """``-1h`` was read as 01:00 today and ``-30m`` as 00:30: a query that silently missed
    everything but the last hours, or took in the whole day."""
    assert parse_time_bound(text, UTC_CLOCK) == NOW - delta


@pytest.mark.parametrize("text", ["-5", "+1h", "-18:00", "-2025-02-01", "+2d"])
def test_other_signed_times_are_refused_not_read_as_a_day_or_an_hour(text: str) -> None:
    with pytest.raises(QueryError, match="cannot read time"):
        parse_time_bound(text, UTC_CLOCK)


def test_absolute_times_are_read_in_the_display_zone() -> None:
    assert parse_time_bound("2025-02-01 18:00", UTC_CLOCK) == datetime(2025, 2, 1, 18, 0)
    # Berlin is UTC+1 in February
    assert parse_time_bound("2025-02-01 18:00", BERLIN) == datetime(2025, 2, 1, 17, 0)
    assert parse_time_bound("2025-02-01", BERLIN) == datetime(2025, 1, 31, 23, 0)


def test_a_time_with_its_own_zone_keeps_it() -> None:
    assert parse_time_bound("2025-02-01T18:00:00Z", BERLIN) == datetime(2025, 2, 1, 18, 0)
    assert parse_time_bound("2025-02-01T18:00:00+02:00", UTC_CLOCK) == datetime(2025, 2, 1, 16, 0)


def test_now_and_free_form_dates() -> None:
    assert parse_time_bound("now", UTC_CLOCK) == NOW
    assert parse_time_bound("Feb 1 2025 18:30", UTC_CLOCK) == datetime(2025, 2, 1, 18, 30)


@pytest.mark.parametrize(("text", "clock", "utc"), [
    ("14:00", UTC_CLOCK, datetime(2025, 2, 1, 14, 0)),
    ("14:30:15", UTC_CLOCK, datetime(2025, 2, 1, 14, 30, 15)),
    ("2pm", UTC_CLOCK, datetime(2025, 2, 1, 14, 0)),
    ("14:00", BERLIN, datetime(2025, 2, 1, 13, 0)),
    ("14:00Z", BERLIN, datetime(2025, 2, 1, 14, 0)),
    # 07:00 on 2 February in Auckland (UTC+13) when it is 18:00 on the 1st in UTC
    ("14:00", Clock(zone=zone_by_name("Pacific/Auckland"), now_utc=NOW), datetime(2025, 2, 2, 1, 0)),
])
def test_a_time_of_day_alone_is_today_in_the_display_zone(text: str, clock: Clock, utc: datetime) -> None:
    assert parse_time_bound(text, clock) == utc


def test_a_date_without_its_time_of_day_is_not_today() -> None:
    assert parse_time_bound("Jan 1 2025 14:00", UTC_CLOCK) == datetime(2025, 1, 1, 14, 0)
    assert parse_time_bound("Feb 2024", UTC_CLOCK) == datetime(2024, 2, 1)


def test_a_date_without_its_year_is_of_the_display_zones_year() -> None:
    """At 18:00 UTC on 31 December it is already 1 January in Auckland."""
    auckland = Clock(zone=zone_by_name("Pacific/Auckland"), now_utc=datetime(2024, 12, 31, 18, 0))
    assert parse_time_bound("Jan 1 09:00", auckland) == datetime(2024, 12, 31, 20, 0)
    assert parse_time_bound("Feb 1 18:30", UTC_CLOCK) == datetime(2025, 2, 1, 18, 30)


@pytest.mark.parametrize("text", ["", "yesterday-ish", "1x", "2025-13-45"])
def test_unreadable_times_are_one_line_errors(text: str) -> None:
    with pytest.raises(QueryError) as info:
        parse_time_bound(text, UTC_CLOCK)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["1hour", "5 minutes", "2 hours", "30 sec", "1hour ago"])
def test_an_age_spelt_out_is_refused_not_read_as_a_time_of_day(text: str) -> None:
    with pytest.raises(QueryError, match="write an age as 1h, 30m, 2d or 1w"):
        parse_time_bound(text, UTC_CLOCK)


def test_unknown_zone_is_an_error() -> None:
    with pytest.raises(QueryError, match="unknown time zone"):
        Clock.from_options(tz="Mars/Olympus")


def test_utc_wins_over_tz_and_labels() -> None:
    assert Clock.from_options(utc=True, tz="Europe/Berlin").label == "UTC"
    assert Clock.from_options(tz="Europe/Berlin").label == "Europe/Berlin"


def test_stored_times_from_both_backends_read_alike() -> None:
    assert as_datetime("2025-02-01 18:32:31") == datetime(2025, 2, 1, 18, 32, 31)
    assert as_datetime(datetime(2025, 2, 1, 18, 32, 31, 5)) == datetime(2025, 2, 1, 18, 32, 31, 5)
    assert as_datetime(None) is None
    assert stored_text("2025-02-01 18:32:31.500000") == "2025-02-01 18:32:31.500000"
    assert stored_text(datetime(2025, 2, 1, 18, 32, 31)) == "2025-02-01 18:32:31"


def test_display_in_zone() -> None:
    assert format_time("2025-02-01 18:32:31", UTC_CLOCK) == "2025-02-01 18:32:31"
    assert format_time("2025-02-01 18:32:31", BERLIN) == "2025-02-01 19:32:31"
    assert format_time("2025-02-01 18:32:31.25", BERLIN) == "2025-02-01 19:32:31.25"
    assert format_time("2025-02-01 18:32:31.25", BERLIN, digits=3, date=False) == "19:32:31.250"
    assert format_time("2025-02-01 18:32:31.25", BERLIN, digits=0) == "2025-02-01 19:32:31"
    assert iso_time("2025-07-01 18:00:00", BERLIN) == "2025-07-01T20:00:00+02:00"


@pytest.mark.parametrize(("zone", "stored", "shown"), [
    ("America/New_York", "0001-01-01 00:30:00", "0001-01-01 00:30:00+00:00"),  # year 0 in New York
    ("America/New_York", "9999-12-31 23:30:00", "9999-12-31 18:30:00"),
    ("Asia/Tokyo", "0001-01-01 00:30:00", "0001-01-01 09:48:59"),
    ("Asia/Tokyo", "9999-12-31 23:30:00", "9999-12-31 23:30:00+00:00"),  # year 10000 in Tokyo
])
def test_the_first_and_last_hours_of_datetime_show_in_the_machines_zone(
        zone: str, stored: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert format_time(stored, Clock(now_utc=NOW)) == shown
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(("tz", "label"), [
    ("Europe/Berlin", "Europe/Berlin"), (":Europe/Berlin", "Europe/Berlin"),
    ("/usr/share/zoneinfo/America/New_York", "America/New_York"), ("EST5EDT", "EST5EDT"),
    ("JST-9", "JST-9"), ("Bogus/Zone", "UTC"), ("", "UTC"),
])
def test_the_machines_zone_is_named_as_tz_sets_it(tz: str, label: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With TZ=/usr/share/zoneinfo/America/New_York or TZ=EST5EDT, New York's times were shown
    under a heading naming /etc/localtime's zone (Etc/UTC); with a TZ the C library does not
    know, UTC times under that name."""
    if tz.startswith("/") and not Path(tz).exists():
        pytest.skip(f"{tz} not installed")
    monkeypatch.setenv("TZ", tz)
    time.tzset()
    try:
        assert Clock(now_utc=NOW).label == label
    finally:
        monkeypatch.undo()
        time.tzset()


def test_a_year_before_1000_is_shown_with_four_digits_as_stored() -> None:
    assert format_time("0999-02-01 18:32:31", UTC_CLOCK) == "0999-02-01 18:32:31"
    assert format_time("0001-01-01 00:30:00", BERLIN) == "0001-01-01 01:23:28"  # Berlin's mean solar time


@pytest.mark.parametrize(
    ("stored", "shown"),
    [("2026-10-25 00:30:00", "2026-10-25 02:30:00+02:00"),  # the first 02:30, summer time
     ("2026-10-25 01:30:00", "2026-10-25 02:30:00+01:00"),  # the second, an hour later
     ("2026-10-25 02:30:00", "2026-10-25 03:30:00"),
     ("2026-03-29 01:30:00", "2026-03-29 03:30:00")],
)
def test_a_time_of_the_repeated_hour_names_its_offset(
    stored: str, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert format_time(stored, BERLIN, digits=0) == shown
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    try:
        assert format_time(stored, Clock(now_utc=NOW), digits=0) == shown
    finally:
        monkeypatch.undo()
        time.tzset()


@given(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2099, 1, 1)))
def test_sqlite_bounds_sort_like_the_times_they_stand_for(moment: datetime) -> None:
    """Text comparison in SQLite must agree with time comparison, fraction or not."""
    bound = bound_param(moment, "sqlite")
    for other in (moment, moment.replace(microsecond=0), moment + timedelta(microseconds=1),
                  moment - timedelta(microseconds=1)):
        stored = stored_text(other)
        assert (stored >= bound) == (other >= moment)
        assert (stored < bound) == (other < moment)
