"""Reading a store back in a form tests can compare across backends and runs."""

from __future__ import annotations

from typing import Any

from sipparse.store import Store
from sipparse.store.sqlite import BINDER

MESSAGE_KEY = "source_fingerprint, source_offset"


def calls_table(store: Store) -> list[dict[str, Any]]:
    """The calls rows, without the moment they were written, nor their number (SQLite's,
    given in the order calls were stored: ``refs_agree`` checks it)."""
    rows = store.fetchall("SELECT * FROM calls ORDER BY call_id")
    assert refs_agree(store), "the numbers of the calls and of their messages disagree"
    return [{k: v for k, v in row.items() if k not in ("updated_at", "call_ref")} for row in rows]


def refs_agree(store: Store) -> bool:
    """Whether, where calls are numbered (``Store.refs_calls``), every call has a number of
    its own and every message row its call's: what finding a call's messages by it needs."""
    if not store.refs_calls:
        return True
    calls = store.fetchall("SELECT call_id, call_ref FROM calls")
    numbers = {c["call_id"]: c["call_ref"] for c in calls}
    if None in numbers.values() or len(set(numbers.values())) != len(numbers):
        return False
    messages = store.fetchall("SELECT call_id, call_ref FROM sip_transactions WHERE call_id IS NOT NULL")
    return all(numbers.get(m["call_id"]) == m["call_ref"] for m in messages)


def message_keys(store: Store) -> list[tuple[str, int]]:
    rows = store.fetchall(f"SELECT {MESSAGE_KEY} FROM sip_transactions ORDER BY {MESSAGE_KEY}")
    return [(r["source_fingerprint"], r["source_offset"]) for r in rows]


def count(store: Store, table: str) -> int:
    return int(store.fetchall(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])


def pack(rows: list[tuple[Any, ...]]) -> bytes | None:
    """``rows`` packed as a parse worker's store packs them (``_sqlbind.pack_rows``), or None
    when they are not to be packed."""
    assert BINDER is not None, "the C binding is not built here"
    buffer = BINDER.pack_rows(rows, bytearray)
    return None if buffer is None else bytes(buffer)
