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
        for where in (f"{store.q(age)} < {store.placeholder}",
                      f"{store.q(age)} IS NULL AND {store.q(fallback)} < {store.placeholder}"):
            params = [cutoff]
            if name == "messages":
                where, params = f"{where} AND {_not_of_a_kept_call(store)}", [cutoff, cutoff]
            if dry_run:
                counts[name] += _count(store, table, where, params)
            else:
                counts[name] += _delete(store, table, store.q(key), where, params, batch_size)
    return counts


def _not_of_a_kept_call(store: Store) -> str:
    """The condition that a message is not of a call (kind ``call``) whose ``calls`` row purge
    keeps (its last message, or when that has no timestamp its last update, not older than
    the cut-off)."""
    calls, messages, call_id = store.q(TABLES["calls"]), store.q(TABLES["messages"]), store.q("call_id")
    _, age, fallback = TARGETS["calls"]
    return (f"NOT EXISTS (SELECT 1 FROM {calls} WHERE {calls}.{call_id} = {messages}.{call_id} "
            f"AND {calls}.{store.q('kind')} = 'call' "
            f"AND COALESCE({calls}.{store.q(age)}, {calls}.{store.q(fallback)}) >= {store.placeholder})")


def _count(store: Store, table: str, where: str, params: list[Any]) -> int:
    return int(store._read(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)[0][0])


def _delete(store: Store, table: str, key: str, where: str, params: list[Any], batch_size: int) -> int:
    total = 0
    while True:
        found, deleted = store._transaction(lambda: _delete_round(store, table, key, where, params, batch_size))
        total += deleted
        if found < batch_size:
            return total


def _delete_round(store: Store, table: str, key: str, where: str, params: list[Any], batch_size: int,
                  ) -> tuple[int, int]:
    """How many old rows were found, and how many of them were deleted."""
    keys = [r[0] for r in store.query(f"SELECT {key} FROM {table} WHERE {where} LIMIT {int(batch_size)}",
                                      params)]
    if not keys:
        return 0, 0
    marks = ", ".join([store.placeholder] * len(keys))
    # The age is asked again: between the SELECT and the DELETE an ingest may have committed
    # a newer message of a call (its ``last_seen`` moved past the cut-off), whose row must
    # stay, or the call's messages would be left without their summary.
    return len(keys), store.execute(f"DELETE FROM {table} WHERE {key} IN ({marks}) AND {where}", [*keys, *params])
