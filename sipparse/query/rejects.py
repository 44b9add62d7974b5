"""``rejects``: the pieces of logs that could not be parsed, newest first, by host and time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sipparse.query.show import Store
from sipparse.query.times import bound_param


def list_rejects(store: Store, limit: int = 50, host: str | None = None, since: datetime | None = None,
                 until: datetime | None = None) -> list[dict[str, Any]]:
    """The most recent stored rejects, newest first (``limit`` 0: all); with ``host``, that
    host's only; with ``since``/``until`` (naive UTC), those logged in that range, which tells
    whether a parse failure is still happening."""
    parts: list[str] = []
    params: list[Any] = []
    for sql, value in (("host = ?", host), ("timestamp >= ?", since), ("timestamp < ?", until)):
        if value is not None:
            parts.append(sql)
            params.append(value if isinstance(value, str) else bound_param(value, store.backend))
    where = f"WHERE {' AND '.join(parts)} " if parts else ""
    last = ""
    if limit:
        last, params = "LIMIT ?", [*params, int(limit)]
    return list(store.fetchall(
        "SELECT id, source_file, source_offset, source_end, reason, timestamp, host, raw "
        f"FROM rejects {where}ORDER BY id DESC {last}", tuple(params)))
