"""Storage: one interface (``Store``), two backends (SQLite, MySQL/MariaDB).

Typical use::

    with open_store(settings.db_url) as store:
        checkpoint = store.get_checkpoint(fingerprint)
        result = store.write_batch(messages, rejects, [new_checkpoint])

``open_store`` creates the schema on first use and migrates older ones in place.
"""

from __future__ import annotations

from sipparse.config import DatabaseURL, parse_db_url
from sipparse.store.base import Store, WriteResult
from sipparse.store.calls import CallSummary, summarize
from sipparse.store.rows import Checkpoint

__all__ = ["CallSummary", "Checkpoint", "Store", "WriteResult", "open_store", "summarize"]


def open_store(url: DatabaseURL | str, create: bool = True) -> Store:
    """Open the database at ``url`` (creating or migrating its schema); raises DatabaseError.

    ``create=False``: a database without the schema raises ``NoSchema`` instead of getting it.
    """
    parsed = parse_db_url(url) if isinstance(url, str) else url
    if parsed.is_sqlite:
        from sipparse.store.sqlite import SQLiteStore

        return SQLiteStore(parsed, create)
    from sipparse.store.mysql import MySQLStore

    return MySQLStore(parsed, create)
