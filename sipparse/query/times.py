"""Time ranges users type and times users read.

Stored times are naive UTC (SQLite TEXT ``YYYY-MM-DD HH:MM:SS[.ffffff]``, MySQL DATETIME(6)).
Users type ``--since 1h`` or ``--since "2025-02-01 18:00"`` and read local times, so this
module converts both ways through one ``Clock``: the display zone (local, ``--utc`` or
``--tz ZONE``) plus "now", injectable so that tests are deterministic.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sipparse.query.errors import QueryError

_UTC_OFFSET = "+00:00"
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RELATIVE = re.compile(r"(?:\s*(\d+)\s*([smhdw]))+\s*", re.IGNORECASE)
_RELATIVE_PART = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)
# An age spelt out (`1hour`, `5 minutes`): dateutil would read it as a time of day on
# 1 January (`1hour` is 01:00), so it is refused instead of quietly meaning that.
_SPELT_AGE = re.compile(
    r"(?:\s*\d+\s*(?:secs?|seconds?|mins?|minutes?|hrs?|hours?|days?|weeks?|months?|years?)\b)+"
    r"(?:\s*ago)?\s*", re.IGNORECASE)


def zone_by_name(name: str) -> tzinfo:
    """An IANA zone (``Europe/Berlin``) or ``UTC``; a QueryError names an unknown one."""
    if name.upper() in ("UTC", "Z", "GMT"):
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise QueryError(f"unknown time zone {name!r}: use an IANA name like Europe/Berlin, or UTC") from None


def local_zone_name() -> str:
    """The machine's zone as a name a user recognises (IANA name when it can be found): the
    one TZ sets, as the C library reads it, else /etc/localtime's."""
    if "TZ" in os.environ:
        return _tz_variable_name(os.environ["TZ"].lstrip(":"))
    return _zone_file_name("/etc/localtime")


def _tz_variable_name(value: str) -> str:
    """TZ's zone: a zone file's path by its IANA name, a POSIX rule (``EST5EDT``, ``JST-9``) as
    written. An empty TZ, or one that is neither (``Bogus/Zone``), is UTC to the C library."""
    if value.startswith("/"):
        return _zone_file_name(value)
    try:
        ZoneInfo(value)
        return value
    except (ZoneInfoNotFoundError, ValueError):
        return value if any(char.isdigit() for char in value) else "UTC"


def _zone_file_name(path: str) -> str:
    try:
        target = str(Path(path).resolve())
    except OSError:
        target = ""
    if "zoneinfo/" in target:
        return target.split("zoneinfo/", 1)[1]
    return time.tzname[0] or "local"


@dataclass(frozen=True)
class Clock:
    """The display zone and the present moment, as the commands see them."""

    zone: tzinfo | None = None  # None: the machine's local zone
    now_utc: datetime = field(default_factory=lambda: datetime.now(UTC).replace(tzinfo=None))

    @classmethod
    def from_options(cls, utc: bool = False, tz: str | None = None) -> Clock:
        """``--utc`` wins over ``--tz ZONE``, which wins over the local zone (``local``, as
        ingest's ``--tz`` names it)."""
        if utc:
            return cls(zone=UTC)
        return cls(zone=zone_by_name(tz) if tz and tz.lower() != "local" else None)

    @property
    def label(self) -> str:
        """How the zone is named in column headers."""
        if self.zone is None:
            return local_zone_name()
        if self.zone is UTC:
            return "UTC"
        return str(getattr(self.zone, "key", None) or self.zone.tzname(None) or self.zone)

    def to_display(self, utc: datetime) -> datetime:
        """A naive UTC time as an aware time in the display zone; in UTC when that zone's
        would be before year 1 or after 9999 (a log's time in the first hours of year 1,
        west of Greenwich), which no datetime holds."""
        aware = utc.replace(tzinfo=UTC)
        try:
            return aware.astimezone(self.zone) if self.zone is not None else aware.astimezone()
        except OverflowError:
            return aware

    def to_utc(self, local: datetime) -> datetime:
        """A time typed by the user (naive: in the display zone) as naive UTC."""
        if local.tzinfo is None:
            local = local.replace(tzinfo=self.zone) if self.zone is not None else local.astimezone()
        return local.astimezone(UTC).replace(tzinfo=None)


def parse_time_bound(text: str, clock: Clock) -> datetime:
    """``1h``, ``30m``, ``2d``, ``1h30m`` (that long before now, also written ``-1h`` as
    journalctl does), ``now``, or a date/time.

    A date or time without a zone is read in the display zone; the result is naive UTC.
    """
    value = text.strip()
    if not value:
        raise QueryError("empty time: use e.g. 1h, 30m, 2d or '2025-02-01 18:00'")
    if value.lower() == "now":
        return clock.now_utc
    age = value[1:] if value.startswith("-") else value
    try:
        if _RELATIVE.fullmatch(age):
            seconds = sum(int(n) * _UNITS[u.lower()] for n, u in _RELATIVE_PART.findall(age))
            return clock.now_utc - timedelta(seconds=seconds)
        if value.startswith(("-", "+")):  # dateutil would take -1 for 1 January, -18:00 for 18:00
            raise QueryError(f"cannot read time {value!r}: write an age as 1h or -1h, 30m, 2d or 1w")
        return clock.to_utc(_parse_absolute(value, clock.to_display(clock.now_utc).date()))
    except (OverflowError, ValueError):  # before year 1 or after 9999, once in UTC
        raise QueryError(f"time {value!r} is out of range (years 1 to 9999)") from None


def _parse_absolute(value: str, today: date) -> datetime:
    """A date and time as typed: a time of day alone (``14:00``, ``2pm``) is ``today``'s, a date
    without its year (``Feb 1 18:00``) is of ``today``'s year."""
    if _SPELT_AGE.fullmatch(value):
        raise QueryError(f"cannot read time {value!r}: write an age as 1h, 30m, 2d or 1w")
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        pass
    from dateutil import parser as dateutil_parser  # only for the rare free-form date

    new_year, this_day = datetime(today.year, 1, 1), datetime(today.year, today.month, today.day)
    try:
        moment = dateutil_parser.parse(value, default=new_year)
        if moment.date() == new_year.date():  # no date typed, or 1 January
            on_this_day = dateutil_parser.parse(value, default=this_day)
            moment = on_this_day if on_this_day.date() == today else moment
        return moment
    except (ValueError, OverflowError):
        raise QueryError(
            f"cannot read time {value!r}: use e.g. 1h, 30m, 2d, '2025-02-01 18:00' or 2025-02-01T18:00:00Z"
        ) from None


def as_datetime(value: object) -> datetime | None:
    """A stored time (datetime from MySQL, text from SQLite) as a naive UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return (
            value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
        )
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def stored_text(value: object) -> str | None:
    """A stored time in the contract's text form ``YYYY-MM-DD HH:MM:SS[.ffffff]`` (UTC)."""
    moment = as_datetime(value)
    if moment is None:
        return None
    return moment.isoformat(sep=" ", timespec="microseconds" if moment.microsecond else "seconds")


def bound_param(moment: datetime, backend: str) -> object:
    """A time bound as a query parameter that compares right against stored times.

    SQLite compares text: the bound must have the stored shape (no ``.000000`` when the
    fraction is zero, or ``18:00:00`` would sort before ``18:00:00.000000``).
    """
    if backend == "mysql":
        return moment
    return stored_text(moment)


def format_time(value: object, clock: Clock, digits: int | None = None, date: bool = True) -> str:
    """A stored time for people, in the display zone (the zone is named in the header).

    :param digits: digits of the seconds' fraction (None: as many as stored, trailing zeros cut)
    """
    moment = as_datetime(value)
    if moment is None:
        return ""
    shown = clock.to_display(moment)
    text = f"{shown.date().isoformat()} {shown:%H:%M:%S}" if date else f"{shown:%H:%M:%S}"  # %Y: "999"
    fraction = f"{shown.microsecond:06d}"
    if digits is None:
        text += "." + fraction.rstrip("0") if moment.microsecond else ""
    else:
        text += "." + fraction[:digits] if digits else ""
    return text + (_UTC_OFFSET if _shown_in_utc_instead(shown, clock) else _offset_if_repeated(shown, clock))


def _shown_in_utc_instead(shown: datetime, clock: Clock) -> bool:
    """Whether ``to_display`` gave UTC for want of the display zone's time (see there)."""
    return shown.tzinfo is UTC and clock.zone is not UTC


def _offset_if_repeated(shown: datetime, clock: Clock) -> str:
    """The UTC offset (``+01:00``) of a time of the hour that repeats when summer time ends,
    else nothing: 02:30 CEST and 02:30 CET are an hour apart, and newest first would list
    02:05 above 02:55 without telling which 02:05 it is."""
    wall = shown.replace(tzinfo=None)
    if clock.zone is None:  # the machine's zone: a naive time's timestamp() reads its fold
        try:
            repeated = wall.replace(fold=0).timestamp() != wall.replace(fold=1).timestamp()
        except (OverflowError, ValueError):  # it looks a day either side: year 0 or 10000
            return ""
    else:
        repeated = wall.replace(tzinfo=clock.zone, fold=0).utcoffset() != wall.replace(
            tzinfo=clock.zone, fold=1).utcoffset()
    if not repeated:
        return ""
    offset = shown.strftime("%z")
    return f"{offset[:3]}:{offset[3:]}"


def has_fraction(values: Iterable[object]) -> bool:
    """Whether any of these stored times has a fraction of a second (to show them alike)."""
    return any((m := as_datetime(v)) is not None and m.microsecond for v in values)


def iso_time(value: object, clock: Clock) -> str | None:
    """A stored time as ISO 8601 with the display zone's offset, for scripts."""
    moment = as_datetime(value)
    return None if moment is None else clock.to_display(moment).isoformat()
