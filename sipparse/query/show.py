"""``show``: every stored message of one or more calls, in order, in four shapes.

A Call-ID is found exactly first; failing that, as a prefix (what a user copies from a
truncated table, its ellipsis and all), or as a SQL ``LIKE`` pattern when it holds ``%``,
and last as a piece of one (the end of a hex id, the word after the ``@``). A prefix or
pattern that matches several calls is an error that lists them, so the user can pick one;
one that matches none names the Call-IDs close to it.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Sequence
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from sipparse.query.errors import AmbiguousCallId, CallNotFound
from sipparse.query.render import Terminal, render_table, to_json
from sipparse.query.times import Clock, format_time, has_fraction, iso_time, stored_text
from sipparse.store.rows import clipped
from sipparse.store.schema import CALL_ID

MAX_CANDIDATES = 20
CANDIDATES_LOOKED_AT = MAX_CANDIDATES * 50  # counted exactly up to this many

MESSAGE_COLUMNS = (
    "id", "call_id", "sip_method", "method", "request_uri", "status_code", "reason_phrase",
    "from_sip", "from_user", "from_host", "from_tag", "to_sip", "to_user", "to_host", "to_tag",
    "cseq", "cseq_method", "via", "via_branch", "contact", "user_agent", "content_type", "content_length",
    "reason_header", "q850_cause", "sdp_content", "timestamp", "direction", "transport", "peer",
    "marker_bytes", "host", "pid", "dialect", "source_file", "source_offset", "problems", "raw_message"
)
TABLE_COLUMNS = (
    "id", "call_id", "sip_method", "from_sip", "to_sip", "cseq", "sdp_content", "timestamp", "direction"
)


class Store(Protocol):
    """What the query layer needs from sipparse.store: read-only SQL with '?' placeholders."""

    backend: str

    def fetchall(self, sql: str, params: Sequence[Any] = ...) -> list[dict[str, Any]]: ...

    def columns(self, table: str) -> set[str]: ...


# ``calls`` columns a schema revision added (sipparse.store.schema): a reader does not apply a
# revision (its account may only SELECT), so a database an earlier sipparse made lacks them
# until the next ingest, and they read as NULL until then.
REVISED_CALL_COLUMNS = ("pdd_ms",)


_ABSENT: WeakKeyDictionary[Any, frozenset[str]] = WeakKeyDictionary()


def absent_call_columns(store: Store) -> frozenset[str]:
    """The revised ``calls`` columns this database does not have yet, looked up once a store:
    on MySQL the look costs a round trip to information_schema, more than a ``calls`` query,
    and a reader never adds them."""
    if (absent := _ABSENT.get(store)) is None:
        absent = _ABSENT[store] = frozenset(REVISED_CALL_COLUMNS) - store.columns("calls")
    return absent


def call_column_list(columns: Sequence[str], absent: Collection[str]) -> str:
    """A SELECT list of ``calls`` columns, NULL in place of those ``absent``."""
    return ", ".join(f"NULL AS {c}" if c in absent else c for c in columns)


def resolve_call_ids(store: Store, given: Sequence[str]) -> list[str]:
    """The stored Call-IDs the user means, in the order given, without repeats."""
    found: list[str] = []
    for text in given:
        call_id = resolve_call_id(store, text)
        if call_id not in found:
            found.append(call_id)
    return found


def resolve_call_id(store: Store, text: str) -> str:
    """One Call-ID from an exact value, a prefix or a ``%`` pattern; errors say which failed.

    An exact value wins, ``%`` and all (a Call-ID may hold one); one too long for the column
    is looked for as it was stored (``rows.clipped``). Spaces around it (a copy from a
    terminal takes them along) are dropped: no stored Call-ID has them, and MySQL's
    collation would ignore trailing ones where SQLite does not.
    """
    text = text.strip()
    stored = clipped(text, CALL_ID.clip or len(text))
    if _exists(store, stored):
        return stored
    candidates = _candidates(store, text) or _candidates_of_cut(store, text)
    if not candidates and "%" not in text:
        candidates = _candidates_holding(store, text)
    if not candidates:
        raise CallNotFound(f"no call with Call-ID {text!r} (nor one starting with it or holding it)",
                           close_call_ids(store, text))
    if len(candidates) > 1:
        shown = candidates[:MAX_CANDIDATES]
        counted = len(candidates) <= CANDIDATES_LOOKED_AT  # one past the limit was asked for
        listed = candidates[:CANDIDATES_LOOKED_AT]
        raise AmbiguousCallId(text, shown, more=len(listed) - len(shown), counted=counted)
    return candidates[0]


def _candidates_of_cut(store: Store, text: str) -> list[str]:
    """The Call-IDs a cell of the ``calls`` table cut to fit stands for: what a user copies
    from it ends in the ellipsis (``…``, ``~`` where the output is not Unicode), and the rest
    is the prefix the table keeps so that ``show`` finds the call."""
    for mark in (Terminal(fancy=True).ellipsis, Terminal().ellipsis):
        if text.endswith(mark) and len(text) > len(mark):
            return _candidates(store, text[: -len(mark)])
    return []


def _candidates_holding(store: Store, text: str) -> list[str]:
    """Call-IDs with ``text`` anywhere in them, case-sensitive as the rest. No index serves
    it: it reads every Call-ID (about 0.2 s a million on SQLite), and only once nothing
    starts with ``text``, which is what an index finds at once."""
    limit = CANDIDATES_LOOKED_AT + 1
    if store.backend == "mysql":
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        sql = "SELECT call_id FROM calls WHERE call_id LIKE ? ORDER BY call_id LIMIT ?"
        return [r["call_id"] for r in store.fetchall(sql, (pattern, limit)) if text in r["call_id"]]
    sql = "SELECT call_id FROM calls WHERE instr(call_id, ?) > 0 ORDER BY call_id LIMIT ?"
    return [r["call_id"] for r in store.fetchall(sql, (text, limit))]


CLOSE_NEIGHBOURS = 25  # Call-IDs read on either side of where an unknown one would sort
MAX_CLOSE = 5


def close_call_ids(store: Store, text: str) -> list[str]:
    """The stored Call-IDs most like ``text`` (a digit mistyped or misread), best first.

    Only the Call-IDs sorting next to it are read, through the key's index: a typo past the
    first characters keeps the rest of a Call-ID's start, so its call sorts near it, and the
    table is never read whole for a hint.
    """
    before = store.fetchall("SELECT call_id FROM calls WHERE call_id < ? ORDER BY call_id DESC LIMIT ?",
                            (text, CLOSE_NEIGHBOURS))
    after = store.fetchall("SELECT call_id FROM calls WHERE call_id >= ? ORDER BY call_id LIMIT ?",
                           (text, CLOSE_NEIGHBOURS))
    near = [r["call_id"] for r in before + after]
    return difflib.get_close_matches(text, near, n=MAX_CLOSE, cutoff=0.75)


def _exists(store: Store, call_id: str) -> bool:
    # every stored message with a Call-ID has its call's row
    rows = store.fetchall("SELECT 1 AS found FROM calls WHERE call_id = ? LIMIT 1", (call_id,))
    return bool(rows)


def like_condition(column: str, pattern: str, backend: str) -> tuple[str, list[Any]]:
    """``column`` matching a user's ``%``/``_`` pattern, byte for byte on either backend.

    MySQL's LIKE on the binary collation is case-sensitive and reads ``\\`` as an escape;
    SQLite's LIKE folds ASCII case and does not: the same pattern would find other calls on
    each. So on SQLite it runs as a GLOB (case-sensitive, as ``=`` and the prefix match are),
    and on MySQL a backslash is doubled to stand for itself, as it does on SQLite.
    """
    if backend == "mysql":
        return f"{column} LIKE ?", [pattern.replace("\\", "\\\\")]
    glob = "".join(_GLOB_OF.get(char, char) for char in pattern)
    return f"{column} GLOB ?", [glob]


_GLOB_OF = {"%": "*", "_": "?", "*": "[*]", "?": "[?]", "[": "[[]"}


def _candidates(store: Store, text: str) -> list[str]:
    """Call-IDs matching a pattern, or starting with a prefix, by an index-friendly query."""
    limit = CANDIDATES_LOOKED_AT + 1  # one more tells whether there were others
    if "%" in text:
        where, params = like_condition("call_id", text, store.backend)
        sql = f"SELECT call_id FROM calls WHERE {where} ORDER BY call_id LIMIT ?"
        return [r["call_id"] for r in store.fetchall(sql, (*params, limit))]
    if store.backend == "mysql":
        # a LIKE on a literal prefix is a range scan of the primary key in MySQL
        pattern = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        sql = "SELECT call_id FROM calls WHERE call_id LIKE ? ORDER BY call_id LIMIT ?"
        rows = store.fetchall(sql, (pattern, limit))
        return [r["call_id"] for r in rows if r["call_id"].startswith(text)]
    # SQLite's LIKE is case-insensitive and skips the index; a range on the key does not
    sql = "SELECT call_id FROM calls WHERE call_id >= ? AND call_id < ? ORDER BY call_id LIMIT ?"
    return [r["call_id"] for r in store.fetchall(sql, (text, text + "\U0010ffff", limit))]


def fetch_messages_sql(count: int, by_ref: bool = False) -> str:
    """The SELECT of every message of ``count`` Call-IDs, in log time order (timestamp, then
    host, then id, a message without a time stamp last: the order the call summary takes,
    ``sipparse.store.calls``); ``by_ref``: found by the calls' numbers (``Store.refs_calls``),
    which the Call-IDs are given twice for."""
    marks = ", ".join("?" for _ in range(count))
    where = f"call_id IN ({marks})"
    if by_ref:
        where = f"call_ref IN (SELECT call_ref FROM calls WHERE call_id IN ({marks})) AND {where}"
    order = "timestamp IS NULL, timestamp, host, id"
    return f"SELECT {', '.join(MESSAGE_COLUMNS)} FROM sip_transactions WHERE {where} ORDER BY {order}"


def fetch_messages(store: Store, call_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Every message of these calls, interleaved in log time order."""
    if store.refs_calls:
        return store.fetchall(fetch_messages_sql(len(call_ids), by_ref=True), (*call_ids, *call_ids))
    return store.fetchall(fetch_messages_sql(len(call_ids)), tuple(call_ids))


def post_dial_delays(store: Store, call_ids: Sequence[str]) -> dict[str, Any]:
    """The post-dial delay of each of these calls that has one, from its ``calls`` row."""
    if not call_ids or absent_call_columns(store):
        return {}
    marks = ", ".join("?" for _ in call_ids)
    rows = store.fetchall(f"SELECT call_id, pdd_ms FROM calls WHERE call_id IN ({marks})", tuple(call_ids))
    return {r["call_id"]: r["pdd_ms"] for r in rows if r["pdd_ms"] is not None}


def show_call(store: Store, given: Sequence[str]) -> tuple[list[str], list[dict[str, Any]]]:
    """Resolve what the user typed and fetch the messages: (Call-IDs, messages)."""
    call_ids = resolve_call_ids(store, given)
    return call_ids, fetch_messages(store, call_ids)


def render_show_table(messages: list[dict[str, Any]], clock: Clock, term: Terminal) -> str:
    """The seed's query result: one row per message, multi-line SDP kept whole; and the host
    that logged each, where several did (a trunk call between two PBXs is logged by both,
    and its messages would read as each sent twice)."""
    several_hosts = len({m.get("host") for m in messages}) > 1
    columns = (*TABLE_COLUMNS, "host") if several_hosts else TABLE_COLUMNS
    headers = [c if c != "timestamp" else f"timestamp ({clock.label})" for c in columns]
    digits = 3 if has_fraction(m.get("timestamp") for m in messages) else 0
    rows = [[_table_value(m, c, clock, digits) for c in columns] for m in messages]
    return render_table(
        headers,
        rows,
        term,
        styles=[_status_style(m) for m in messages],
        align_right=[c in ("id", "cseq") for c in columns],
        keep=[c in ("id", "sip_method", "cseq", "timestamp", "direction", "host") for c in columns],
        drop=[columns.index(c) for c in ("sdp_content", "direction", "cseq", "id")],
    )


def _table_value(message: dict[str, Any], column: str, clock: Clock, digits: int) -> Any:
    if column == "timestamp":
        return format_time(message["timestamp"], clock, digits)
    return message.get(column)


def _status_style(message: dict[str, Any]) -> str | None:
    code = message.get("status_code") or 0
    return "red" if code >= 400 else None


def message_json(message: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """One message for scripts: every column, times as stored (UTC) plus local ISO 8601."""
    out: dict[str, Any] = {}
    for column in MESSAGE_COLUMNS:
        value = message.get(column)
        if column == "timestamp":
            out["timestamp"] = stored_text(value)
            out["time"] = iso_time(value, clock)
        elif column == "raw_message":
            out[column] = bytes(value).decode("utf-8", "replace") if value is not None else None
        else:
            out[column] = value
    return out


def render_show_json(messages: list[dict[str, Any]], clock: Clock) -> str:
    """A JSON array of message objects, in order."""
    return to_json([message_json(m, clock) for m in messages])


def render_show_raw(messages: list[dict[str, Any]], clock: Clock, several: bool) -> bytes:
    """The messages as logged, byte for byte (CRLF, invalid UTF-8 and all: what a bug report
    about a stack's parsing needs), each under a header line: time, direction, peer (and
    Call-ID), with an empty line between them."""
    blocks = []
    for message in messages:
        raw = bytes(message.get("raw_message") or b"")
        header = raw_header(message, clock, several).encode("utf-8", "surrogateescape")
        blocks.append(header + b"\n" + raw + (b"" if raw.endswith(b"\n") else b"\n"))
    return b"\n".join(blocks)


def raw_header(message: dict[str, Any], clock: Clock, several: bool) -> str:
    """``# 2025-02-01 18:32:31 UTC  received from UDP:10.0.0.5:5060 (913 bytes)``."""
    parts = [f"# {format_time(message.get('timestamp'), clock)} {clock.label}"]
    where = f"{message['transport']}:{message['peer']}" if message.get("transport") else message.get("peer")
    direction = message.get("direction")
    if direction == "in":
        parts.append(f"received from {where}" if where else "received")
    elif direction == "out":
        parts.append(f"transmitted to {where}" if where else "transmitted")
    elif where:
        parts.append(f"peer {where}")
    if message.get("marker_bytes"):
        parts.append(f"({message['marker_bytes']} bytes)")
    if message.get("host"):
        parts.append(f"host {message['host']}")
    if several:
        parts.append(f"Call-ID {message.get('call_id')}")
    return "  ".join(parts)
