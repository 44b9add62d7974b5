"""Deleting old data in small transactions, so writers are never blocked for long.

Each round selects up to ``batch_size`` keys of old rows and deletes exactly those, in a
transaction of its own: InnoDB then holds row locks for one short statement at a time and
SQLite's write lock is released between rounds, so ingests keep running during a purge.
Rows without a timestamp are judged by when they were stored.

The messages of a call whose ``calls`` row stays (a call going on across the cut-off) stay
too: the row is made again from all of a call's stored messages when another one arrives,
and without its INVITE and answer it would tell another setup time, start and duration.
Only calls: a REGISTER or SUBSCRIBE dialog refreshed under one Call-ID for months would
keep every message, and its row reports how it stands now anyway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sipparse.store.base import Store

# table -> (key column, age column, fallback age column when the first is NULL)
TARGETS: dict[str, tuple[str, str, str]] = {
    "messages": ("id", "timestamp", "ingested_at"),
    "calls": ("call_id", "last_seen", "updated_at"),
    "rejects": ("id", "timestamp", "created_at"),
}
TABLES = {"messages": "sip_transactions", "calls": "calls", "rejects": "rejects"}
UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
AGE = re.compile(r"(\d+)\s*([smhdw])", re.IGNORECASE)


def parse_older_than(text: str, now: datetime | None = None) -> datetime:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s`` ago, or a date/time; naive UTC result.

    A date/time without a zone is local time, as ``date`` and ``find -newermt`` read it.

    Raises ValueError with a one-line reason for anything else.
    """
    now = now or datetime.now(UTC).replace(tzinfo=None)
    match = AGE.fullmatch(text.strip())
    try:
        if match:
            return now - timedelta(**{UNITS[match.group(2).lower()]: int(match.group(1))})
    except OverflowError:
        raise ValueError(f"{text!r} reaches before year 1") from None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is neither an age (30d, 12h, 90m) nor a date (2025-01-31)") from None
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except (OverflowError, ValueError):  # a naive time's local offset is looked up a day either side
        raise ValueError(f"{text!r} is out of range (years 1 to 9999 in UTC)") from None


def purge(store: Store, older_than: datetime, batch_size: int = 5000, dry_run: bool = False,
          ) -> dict[str, int]:
    """Delete (or with ``dry_run`` count) messages, calls and rejects older than ``older_than``."""
    cutoff = store.fmt_time(older_than)
    counts: dict[str, int] = {}
    for name, (key, age, fallback) in TARGETS.items():
        table = store.q(TABLES[name])
        counts[name] = 0
        for where in (f"{table}.{store.q(age)} < {store.placeholder}",
                      f"{table}.{store.q(age)} IS NULL AND {table}.{store.q(fallback)} < {store.placeholder}"):
            found = _Rows(table, where, [cutoff])
            gone = found
            if name == "messages":
                found = _Rows(f"{table} {_kept_call_join(store)}",
                              f"{where} AND {store.q(TABLES['calls'])}.{store.q('call_id')} IS NULL", [cutoff, cutoff])
                gone = _Rows(table, f"{where} AND NOT EXISTS ({_kept_call(store)})", [cutoff, cutoff])
            if dry_run:
                counts[name] += _count(store, found)
            else:
                counts[name] += _delete(store, f"{table}.{store.q(key)}", found, gone, batch_size)
    return counts


@dataclass(frozen=True)
class _Rows:
    """Rows to purge: the table (or join) they are read from, the condition, its parameters."""

    source: str
    where: str
    params: list[Any]


def _kept_call(store: Store) -> str:
    """The ``calls`` row that purge keeps of a message's call, if any: a call (kind ``call``)
    whose last message, or when that has no timestamp its last update, is not older than the
    cut-off."""
    calls, messages, call_id = store.q(TABLES["calls"]), store.q(TABLES["messages"]), store.q("call_id")
    _, age, fallback = TARGETS["calls"]
    return (f"SELECT 1 FROM {calls} WHERE {calls}.{call_id} = {messages}.{call_id} "
            f"AND {calls}.{store.q('kind')} = 'call' "
            f"AND COALESCE({calls}.{store.q(age)}, {calls}.{store.q(fallback)}) >= {store.placeholder}")


def _kept_call_join(store: Store) -> str:
    """``_kept_call`` as a LEFT JOIN, for finding old messages without one.

    As ``NOT EXISTS`` MariaDB may run it by reading every kept call first (the subquery
    "materialized"), which for a purge of the oldest day of a month reads the whole ``calls``
    table, once per round of ``batch_size`` messages; an outer join on the Call-ID is done
    by one lookup of its primary key per old message, on every server."""
    calls, messages, call_id = store.q(TABLES["calls"]), store.q(TABLES["messages"]), store.q("call_id")
    _, age, fallback = TARGETS["calls"]
    return (f"LEFT JOIN {calls} ON {calls}.{call_id} = {messages}.{call_id} "
            f"AND {calls}.{store.q('kind')} = 'call' "
            f"AND COALESCE({calls}.{store.q(age)}, {calls}.{store.q(fallback)}) >= {store.placeholder}")


def _count(store: Store, found: _Rows) -> int:
    return int(store._read(f"SELECT COUNT(*) FROM {found.source} WHERE {found.where}", found.params)[0][0])


def _delete(store: Store, key: str, found: _Rows, gone: _Rows, batch_size: int) -> int:
    total = 0
    while True:
        seen, deleted = store._transaction(lambda: _delete_round(store, key, found, gone, batch_size))
        total += deleted
        if seen < batch_size:
            return total


def _delete_round(store: Store, key: str, found: _Rows, gone: _Rows, batch_size: int) -> tuple[int, int]:
    """How many old rows were found, and how many of them were deleted."""
    keys = [r[0] for r in store.query(f"SELECT {key} FROM {found.source} WHERE {found.where} "
                                      f"LIMIT {int(batch_size)}", found.params)]
    if not keys:
        return 0, 0
    marks = ", ".join([store.placeholder] * len(keys))
    # The age is asked again: between the SELECT and the DELETE an ingest may have committed
    # a newer message of a call (its ``last_seen`` moved past the cut-off), whose row must
    # stay, or the call's messages would be left without their summary.
    return len(keys), store.execute(f"DELETE FROM {gone.source} WHERE {key} IN ({marks}) AND {gone.where}",
                                    [*keys, *gone.params])
