"""Reading a store back in a form tests can compare across backends and runs."""

from __future__ import annotations

from typing import Any

from sipparse.store import Store
from sipparse.store.sqlite import BINDER

MESSAGE_KEY = "source_fingerprint, source_offset"


def calls_table(store: Store) -> list[dict[str, Any]]:
    """The calls rows, without the moment they were written."""
    rows = store.fetchall("SELECT * FROM calls ORDER BY call_id")
    return [{k: v for k, v in row.items() if k != "updated_at"} for row in rows]


def message_keys(store: Store) -> list[tuple[str, int]]:
    rows = store.fetchall(f"SELECT {MESSAGE_KEY} FROM sip_transactions ORDER BY {MESSAGE_KEY}")
    return [(r["source_fingerprint"], r["source_offset"]) for r in rows]


def count(store: Store, table: str) -> int:
    return int(store.fetchall(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


def pack(rows: list[tuple[Any, ...]]) -> bytes | None:
    """``rows`` packed as a parse worker's store packs them (``_sqlbind.packed_size``, then
    ``pack_into``), or None when they are not to be packed."""
    assert BINDER is not None, "the C binding is not built here"
    size = BINDER.packed_size(rows)
    if size is None:
        return None
    buffer = bytearray(size)
    BINDER.pack_into(rows, buffer)
    return bytes(buffer)
