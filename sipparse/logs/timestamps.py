"""Log time stamps to naive UTC datetimes.

Syslog and Asterisk's default time stamps have no year and no zone.  The year is
``ParseOptions.year`` when given, else inferred: the latest year that does not put the
time stamp in the future relative to ``now`` (so a log of December 31st read on January
1st is last year's; ingest's ``now`` is the file's mtime, so a log read a year late is
not moved to the current year).  One day of slack absorbs clock skew between hosts,
which must not throw a message a year back.  Zoneless times are in ``tz`` (default: the
local zone).

A zoneless time of the hour that repeats when summer time ends is read as the meaning
nearer the time parsed before it, so a log crossing that hour stays in order.

Time stamps repeat (a log has one per second at most for most lines), so every distinct
text is parsed once (but for those of a repeated hour): ISO 8601 by
``datetime.fromisoformat``, the syslog shape by a compiled pattern, seconds since 1970
(Asterisk's ``dateformat = %s``) as UTC, anything else (a customised Asterisk
``dateformat``, a user dialect) by python-dateutil.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import parser as dateutil_parser
from dateutil import tz as dateutil_tz

UTC = UTC
_CACHE_LIMIT = 65536
_SLACK = timedelta(days=1)
_MONTHS = {m: i for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split(), 1)}
_SYSLOG = re.compile(
    r"(?P<mon>[A-Z][a-z]{2}) +(?P<day>\d{1,2}) (?P<h>\d\d):(?P<m>\d\d):(?P<s>\d\d)"
    r"(?:[.,](?P<f>\d+))?(?: (?P<y>\d{4}))?"
)
# Seconds since 1970 (Asterisk's ``dateformat = %s``, or ``%s.%3q``): nine digits or more, so
# not an ISO 8601 basic date (``20261129``), which ``fromisoformat`` reads first.
_EPOCH = re.compile(r"(?P<s>[0-9]{9,12})(?:[.,](?P<f>[0-9]{1,9}))?")
_EPOCH_START = datetime(1970, 1, 1)
_LEAP_SECOND = re.compile(r"(?<=\d\d:\d\d):60(?!\d)")
_ONE_SECOND = timedelta(seconds=1)


class TimestampParser:
    """Turns time stamp texts into naive UTC datetimes (``None`` when unreadable).

    :param year: year for yearless time stamps, or ``None`` to infer it from ``now``
    :param tz: zone of zoneless time stamps, ``None`` for the local zone
    :param now: the reference "now" (aware or naive UTC), ``None`` for the current time
    """

    def __init__(
        self, year: int | None = None, tz: tzinfo | None = None, now: datetime | None = None
    ) -> None:
        self.year = year
        self.tz = tz if tz is not None else local_zone(os.environ.get("TZ"))
        now = now if now is not None else datetime.now(UTC)
        self.now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
        self._cache: dict[str | bytes, datetime | None] = {}
        self._may_repeat = not isinstance(self.tz, timezone)  # a fixed offset has no repeated hour
        self._offset_changes: dict[int, bool] = {}  # by day (ordinal): whether the zone's offset changes
        self._last: datetime | None = None  # the latest time parsed
        self._repeated = False  # whether the time being parsed is one of a repeated hour
        self._names: dict[str, tzinfo] | None = None  # the zone's abbreviations, once dateutil needs them

    def __call__(self, text: str | bytes) -> datetime | None:
        try:
            return self._cache[text]
        except KeyError:
            pass
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        decoded = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
        self._repeated = False
        value = self._parse(decoded.strip())
        if value is not None:
            self._last = value
        if not self._repeated:  # which of the two it is depends on the time before it
            self._cache[text] = value
        return value

    def _parse(self, text: str) -> datetime | None:
        value = self._read(text)
        if value is None and ":60" in text:
            return self._leap_second(text)
        return value

    def _leap_second(self, text: str) -> datetime | None:
        """A time of a leap second (``23:59:60``, which no datetime holds) as the next
        minute's first instant: a second late at most, and in order with its neighbours."""
        leap = _LEAP_SECOND.search(text)
        if leap is None:
            return None
        value = self._read(f"{text[:leap.start()]}:59{text[leap.end():]}")
        try:
            return None if value is None else value + _ONE_SECOND
        except OverflowError:  # the last second of year 9999
            return None

    def _read(self, text: str) -> datetime | None:
        if not text:
            return None
        if text[0].isdigit():
            try:
                return self._to_utc(datetime.fromisoformat(text.replace(",", ".")))
            except ValueError:
                pass
            epoch = _EPOCH.fullmatch(text)
            if epoch:
                return _from_epoch(epoch)
        match = _SYSLOG.fullmatch(text)
        if match:
            return self._from_syslog(match)
        return self._from_dateutil(text)

    def _from_syslog(self, match: re.Match[str]) -> datetime | None:
        month = _MONTHS.get(match["mon"])
        if month is None:
            return None
        fraction = int((match["f"] or "0")[:6].ljust(6, "0"))
        fields = (month, int(match["day"]), int(match["h"]), int(match["m"]), int(match["s"]), fraction)
        if match["y"]:
            return self._build(int(match["y"]), fields)
        return self._yearless(fields)

    def _from_dateutil(self, text: str) -> datetime | None:
        # Parsed with two different default years: if they disagree, the text had no year.
        if self._names is None:
            self._names = abbreviations(self.tz, self.now)
        try:
            first = dateutil_parser.parse(text, default=datetime(2000, 1, 1), tzinfos=self._names)
            second = dateutil_parser.parse(text, default=datetime(2004, 1, 1), tzinfos=self._names)
        except (ValueError, OverflowError):
            return None
        if first.year == second.year:
            return self._to_utc(first)
        fields = (first.month, first.day, first.hour, first.minute, first.second, first.microsecond)
        return self._yearless(fields, first.tzinfo)

    def _yearless(self, fields: tuple[int, ...], zone: tzinfo | None = None) -> datetime | None:
        if self.year is not None:
            return self._build(self.year, fields, zone)
        latest = self.now + _SLACK
        for year in range(latest.year, latest.year - 9, -1):  # Feb 29 waits for a leap year
            value = self._build(year, fields, zone)
            if value is not None and value.replace(tzinfo=UTC) <= latest:
                return value
        return None

    def _build(self, year: int, fields: tuple[int, ...], zone: tzinfo | None = None) -> datetime | None:
        try:
            return self._to_utc(datetime(year, *fields, tzinfo=zone))
        except ValueError:
            return None

    def _to_utc(self, value: datetime) -> datetime | None:
        """``value`` in naive UTC, or None when that falls outside year 1 to 9999 (a time of
        year 1 east of Greenwich, of year 9999 west of it)."""
        if value.tzinfo is None:
            value = value.replace(tzinfo=self.tz)
            if self._may_repeat and self._offset_changes_on(value) and (
                    value.utcoffset() > value.replace(fold=1).utcoffset()):  # type: ignore[operator]
                return self._nearer_meaning(value)
        try:
            return value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            return None

    def _offset_changes_on(self, value: datetime) -> bool:
        """Whether the zone's offset changes on ``value``'s day: only then may its time be
        twice. Asked once a day, as telling a repeated time from the offsets of its two
        meanings takes about half as long as reading it."""
        day = value.toordinal()
        changes = self._offset_changes.get(day)
        if changes is None:
            if len(self._offset_changes) >= _CACHE_LIMIT:
                self._offset_changes.clear()
            midnight = value.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
            last = value.replace(hour=23, minute=59, second=59, microsecond=999999, fold=1)
            changes = self._offset_changes[day] = midnight.utcoffset() != last.utcoffset()
        return changes

    def _nearer_meaning(self, value: datetime) -> datetime:
        """Of a local time that is twice (the hour that repeats when summer time ends), the
        meaning nearer the time parsed before, so a log that crosses the hour stays in order.
        With none before (a run resuming within the hour), the later one unless it is after
        ``now`` (ingest's: when the log was last written), which is right for runs less
        than an hour apart. Such a time is not cached: its meaning changes as the log goes on."""
        self._repeated = True
        first, second = (v.astimezone(UTC).replace(tzinfo=None) for v in (value, value.replace(fold=1)))
        last = self._last
        if last is None:
            return second if second <= self.now.astimezone(UTC).replace(tzinfo=None) else first
        return second if abs(second - last) <= abs(first - last) else first


def _from_epoch(match: re.Match[str]) -> datetime | None:
    """Seconds since 1970 as naive UTC: no zone shifts them, whatever ``tz`` says."""
    fraction = int((match["f"] or "0")[:6].ljust(6, "0"))
    try:
        return _EPOCH_START + timedelta(seconds=int(match["s"]), microseconds=fraction)
    except OverflowError:
        return None


@cache
def local_zone(tz_variable: str | None) -> tzinfo:
    """The machine's zone as the C library finds it (``TZ``, else ``/etc/localtime``), with
    its rules for every date, as ``--tz`` naming it reads times: dateutil's ``tzlocal`` has
    only today's two offsets (wrong for a past year whose were other) and reads a time of
    the hour summer time skips with the offset after it. ``tzlocal`` still serves a ``TZ``
    that names no zone file (a POSIX rule like ``CET-1CEST,M3.5.0,M10.5.0/3``) or one it
    cannot read."""
    name = (tz_variable or "").lstrip(":")
    try:
        if tz_variable is None or name.startswith("/"):
            with open(name or "/etc/localtime", "rb") as fh:
                return ZoneInfo.from_file(fh)
        return ZoneInfo(name) if name else UTC
    except (OSError, ValueError, ZoneInfoNotFoundError):
        return dateutil_tz.tzlocal()


def abbreviations(zone: tzinfo, around: datetime) -> dict[str, tzinfo]:
    """The names ``zone`` gives its offsets (``CET``, ``CEST``) in the year either side of
    ``around``, each as its offset: what a dateformat with ``%Z`` writes, which tells the
    two meanings of a repeated hour apart. Looked at weekly, the nearest week last (a name
    whose offset changed keeps the one of the log's time); dateutil knows none of them."""
    names: dict[str, tzinfo] = {}
    for week in sorted(range(-53, 54), key=abs, reverse=True):
        try:
            moment = (around + timedelta(weeks=week)).astimezone(zone)
        except (OverflowError, ValueError):
            continue
        name, offset = moment.tzname(), moment.utcoffset()
        if name and offset is not None:
            names[name] = timezone(offset, name)
    return names
