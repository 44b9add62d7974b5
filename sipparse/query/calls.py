"""``calls``: one row per call with its outcome, like sngrep's call list and HOMER's search.

Reads the ``calls`` summary table (kept current by storage as messages arrive), so a
filter over millions of messages costs an index range scan over calls, not messages.

``--status`` takes a state, a final status code (``503``), a class (``4xx``), or several
of these separated by commas. States are those of the summary (sipparse.store.calls):
``answered`` means the call was answered, whether or not its BYE has been seen yet (so it
includes ``completed``); every other state matches only itself: ``failed`` is a final
response >= 400 other than busy (486/600), no-answer (408/480, or 487 without CANCEL) and
cancelled (CANCEL, or the caller's BYE before any answer, then 487); a 3xx is ``redirected``.
"""

from __future__ import annotations

import csv
import io
import re
import textwrap
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sipparse.query.errors import QueryError
from sipparse.query.q850 import cause_text
from sipparse.query.render import Terminal, render_table, to_json
from sipparse.query.show import Store, absent_call_columns, call_column_list, like_condition
from sipparse.query.times import Clock, bound_param, format_time, has_fraction, iso_time, stored_text

STATES: dict[str, tuple[str, ...]] = {
    "answered": ("answered", "completed"),
    "completed": ("completed",),
    "failed": ("failed",),
    "busy": ("busy",),
    "cancelled": ("cancelled",),
    "no-answer": ("no-answer",),
    "redirected": ("redirected",),
    "in-progress": ("in-progress",),
}
KINDS = ("call", "register", "options", "other", "all")
CALL_COLUMNS = (
    "call_id", "first_seen", "last_seen", "kind", "state", "from_user", "to_user", "from_sip", "to_sip",
    "final_status", "final_reason", "setup_ms", "duration_s", "message_count", "retransmissions",
    "hangup_by", "q850_cause", "host"
)
# Summary columns the JSON and CSV give after the readable extras, so that the columns a CSV
# had before keep their places: the leg's direction (``in``: Asterisk received the INVITE,
# ``out``: it placed the call) tells a B2BUA's two legs apart; answer and end times as stored;
# the post-dial delay.
LATER_COLUMNS = ("direction", "answered_at", "ended_at", "pdd_ms")
TIME_COLUMNS = ("first_seen", "last_seen", "answered_at", "ended_at")
STATE_STYLES: dict[str, str | None] = {
    "answered": "green",
    "completed": "green",
    "in-progress": None,
    "busy": "yellow",
    "no-answer": "yellow",
    "cancelled": "yellow",
    "redirected": "yellow",
}
_CODE = re.compile(r"\d\d\d")  # any a log may hold, 999 included (RFC 3261 bounds none)
_CLASS = re.compile(r"(\d)xx", re.IGNORECASE)


@dataclass
class CallFilter:
    """What the user asked for; times are naive UTC (see sipparse.query.times)."""

    since: datetime | None = None
    until: datetime | None = None
    from_user: str | None = None
    to_user: str | None = None
    status: str | None = None
    host: str | None = None
    kind: str = "call"
    limit: int | None = 50
    user: str | None = None  # either side: the from or the to user

    def __post_init__(self) -> None:
        """Users, host and patterns without the spaces around them as typed: stored ones have
        none, and MySQL's collation ignores trailing spaces where SQLite compares them, so
        ``'1000 '`` would find calls on one and none on the other."""
        self.from_user, self.to_user, self.user, self.host = (
            value.strip() if value else value
            for value in (self.from_user, self.to_user, self.user, self.host))


def status_condition(text: str) -> tuple[str, list[Any]]:
    """SQL for ``--status``: a state, a code, a class, or a comma list of them."""
    parts, params = [], []
    for word in (w.strip().lower() for w in text.split(",") if w.strip()):
        sql, args = _one_status(word)
        parts.append(sql)
        params += args
    if not parts:
        raise QueryError("empty --status: use a state, a code like 503 or a class like 4xx")
    return "(" + " OR ".join(parts) + ")", params


def _one_status(word: str) -> tuple[str, list[Any]]:
    if word in STATES:
        states = STATES[word]
        return f"state IN ({', '.join('?' for _ in states)})", list(states)
    if _CODE.fullmatch(word):
        return "final_status = ?", [int(word)]
    match = _CLASS.fullmatch(word)
    if match:
        low = int(match.group(1)) * 100
        return "(final_status >= ? AND final_status < ?)", [low, low + 100]
    raise QueryError(
        f"unknown status {word!r}: use one of {', '.join(STATES)}, a code like 503 or a class like 4xx"
    )


# A phone number as people write and paste it: digits, a leading +, RFC 3966's visual
# separators (``-`` ``.`` ``(`` ``)``) and spaces, maybe with a ``%`` of a pattern
_WRITTEN_NUMBER = re.compile(r"\+?[\d\s().%-]*\d[\d\s().%-]*")
_SEPARATORS = re.compile(r"[\s().-]")


# A URI pasted from a From or To header: its user (RFC 3261 19.1.1, RFC 3966), up to the
# host or the first parameter
_PASTED_URI = re.compile(r"<?(?:sips?|tel):([^@;>]+)(?:[@;>].*)?", re.IGNORECASE)


def user_spellings(value: str) -> list[str]:
    """What a typed user may be stored as: itself; the user of a URI pasted from a header
    (``sip:1000@10.0.0.5``, ``tel:+33-1-23-45-67-89``); and for a number written with
    separators (``+33 1 23 45 67 89``, ``(555) 010-0200``) the same without them, as a SIP
    URI's user carries it. All are looked for: a user name may hold a dash (``555-0100``)."""
    uri = _PASTED_URI.fullmatch(value)
    spellings = [value, uri.group(1)] if uri else [value]
    for spelling in list(spellings):
        if _WRITTEN_NUMBER.fullmatch(spelling):
            spellings.append(_SEPARATORS.sub("", spelling))
    return list(dict.fromkeys(spellings))


def _user_condition(column: str, value: str, backend: str) -> tuple[str, list[Any]]:
    """Exact match, or a LIKE pattern when the user wrote ``%``, of each of its spellings."""
    spellings = user_spellings(value)
    if "%" not in value:
        return f"{column} IN ({', '.join('?' for _ in spellings)})", spellings
    parts = [like_condition(column, spelling, backend) for spelling in spellings]
    return "(" + " OR ".join(sql for sql, _ in parts) + ")", [arg for _, args in parts for arg in args]


def _either_user_condition(value: str, backend: str) -> tuple[str, list[Any]]:
    """``--user``: the from or the to user, as sngrep's filter and HOMER's search look at both."""
    from_sql, from_args = _user_condition("from_user", value, backend)
    to_sql, to_args = _user_condition("to_user", value, backend)
    return f"({from_sql} OR {to_sql})", from_args + to_args


def no_match_text(flt: CallFilter) -> str:
    """What to say when no call matches: with a user written as a shell or sngrep pattern
    (``100*``), how to write it. ``*`` and ``?`` stand for themselves (``*97`` is a feature
    code a user dials), so such a filter quietly finds nothing."""
    for option, value in (("--from-user", flt.from_user), ("--to-user", flt.to_user), ("--user", flt.user)):
        if value and "%" not in value and ("*" in value or "?" in value):
            pattern = value.replace("*", "%").replace("?", "_")
            pattern = "'" + pattern.replace("'", "'\"'\"'") + "'"  # as a shell takes it whole
            how = "% (any text) and _ (one character)" if "?" in value else "%"
            return f"No calls match. A pattern is written with {how}: {option} {pattern}."
    return "No calls match."


def host_condition(backend: str) -> str:
    """Calls any of whose messages this host logged (two placeholders, the host twice).

    A call's row names the host of its first request; a call over a trunk between two PBXs
    is logged by both, and each one's ``--host`` must find it. The row's host answers most
    calls at once; the others look at their messages through the index that finds a call's
    messages (its number on SQLite, its Call-ID on MySQL).
    """
    key = "call_ref" if backend == "sqlite" else "call_id"
    return (f"(host = ? OR EXISTS (SELECT 1 FROM sip_transactions AS m "
            f"WHERE m.{key} = calls.{key} AND m.host = ?))")


def where_clause(flt: CallFilter, backend: str) -> tuple[str, list[Any]]:
    """The WHERE of a calls query (empty string when nothing filters)."""
    parts: list[str] = []
    params: list[Any] = []
    if flt.kind not in KINDS:
        raise QueryError(f"unknown kind {flt.kind!r}: use one of {', '.join(KINDS)}")
    if flt.kind != "all":
        parts.append("kind = ?")
        params.append(flt.kind)
    if flt.since is not None:
        parts.append("first_seen >= ?")
        params.append(bound_param(flt.since, backend))
    if flt.until is not None:
        parts.append("first_seen < ?")
        params.append(bound_param(flt.until, backend))
    for column, value in (("from_user", flt.from_user), ("to_user", flt.to_user)):
        if value:
            sql, args = _user_condition(column, value, backend)
            parts.append(sql)
            params += args
    if flt.user:
        sql, args = _either_user_condition(flt.user, backend)
        parts.append(sql)
        params += args
    if flt.host:
        parts.append(host_condition(backend))
        params += [flt.host, flt.host]
    if flt.status:
        sql, args = status_condition(flt.status)
        parts.append(sql)
        params += args
    return (" WHERE " + " AND ".join(parts)) if parts else "", params


def calls_query(flt: CallFilter, backend: str, absent: Collection[str] = ()) -> tuple[str, list[Any]]:
    """The whole SELECT, newest first (the index on first_seen serves order and range);
    ``absent``: columns of a revision the database does not have yet, read as NULL."""
    where, params = where_clause(flt, backend)
    columns = call_column_list(CALL_COLUMNS + LATER_COLUMNS, absent)
    sql = f"SELECT {columns} FROM calls{where} ORDER BY first_seen DESC, call_id DESC"
    if flt.limit is not None:
        sql += " LIMIT ?"
        params.append(int(flt.limit))
    return sql, params


def list_calls(store: Store, flt: CallFilter) -> list[dict[str, Any]]:
    """The calls matching the filter, newest first."""
    sql, params = calls_query(flt, store.backend, absent_call_columns(store))
    return store.fetchall(sql, tuple(params))


def list_calls_cut(store: Store, flt: CallFilter) -> tuple[list[dict[str, Any]], bool]:
    """``list_calls``, and whether the limit left out calls that match: one more is asked
    for, so that a table of the 50 newest does not pass for all of them."""
    if flt.limit is None:
        return list_calls(store, flt), False
    rows = list_calls(store, replace(flt, limit=flt.limit + 1))
    return rows[:flt.limit], len(rows) > flt.limit


def cut_text(count: int) -> str:
    """The line that says a table holds only the newest calls that match."""
    return f"The {count} newest calls; more match (--limit 0 for all of them)."


PAGE_SIZE = 5000  # calls read per query by iter_calls


def iter_calls(store: Store, flt: CallFilter, page_size: int | None = None) -> Iterator[dict[str, Any]]:
    """``list_calls`` a page at a time, for output that can be written as it is read: a
    million calls as one list took 6 GB. Each page starts after the last call of the one
    before in the order of ``calls_query`` (keyset paging: an index range, never an OFFSET
    that reads again what was skipped); calls with no first time come last, as there."""
    size = page_size or PAGE_SIZE
    left = flt.limit
    absent = absent_call_columns(store)
    for timed in (True, False):
        if not timed and (flt.since is not None or flt.until is not None):
            return  # a time range holds no call without a time
        after: dict[str, Any] | None = None
        while left is None or left > 0:
            want = size if left is None else min(size, left)
            sql, params = _page_query(flt, store.backend, timed, after, want, absent)
            rows = store.fetchall(sql, tuple(params))
            yield from rows
            left = None if left is None else left - len(rows)
            if len(rows) < want:
                break
            after = rows[-1]


def _page_query(flt: CallFilter, backend: str, timed: bool, after: dict[str, Any] | None,
                size: int, absent: Collection[str] = ()) -> tuple[str, list[Any]]:
    """The SELECT of the page of ``size`` calls after the call ``after`` (None: the first),
    among those with a first time (``timed``) or those without; ``absent`` as in ``calls_query``."""
    where, params = where_clause(flt, backend)
    parts = [where[len(" WHERE "):]] if where else []
    parts.append("first_seen IS NOT NULL" if timed else "first_seen IS NULL")
    if after is not None and timed:
        # a range on first_seen the index serves, less the calls of its last second already given
        parts.append("first_seen <= ? AND NOT (first_seen = ? AND call_id >= ?)")
        params += [after["first_seen"], after["first_seen"], after["call_id"]]
    elif after is not None:
        parts.append("call_id < ?")
        params.append(after["call_id"])
    columns = call_column_list(CALL_COLUMNS + LATER_COLUMNS, absent)
    sql = (f"SELECT {columns} FROM calls WHERE {' AND '.join(parts)} "
           f"ORDER BY first_seen DESC, call_id DESC LIMIT ?")
    return sql, [*params, size]


def final_text(call: dict[str, Any]) -> str:
    """``486 Busy Here``, or empty while no final response has been seen."""
    if call.get("final_status") is None:
        return ""
    return f"{call['final_status']} {call.get('final_reason') or ''}".strip()


def seconds_text(value: Any, fine: bool = True) -> str:
    """A duration as people read it: ``12.5s``, ``3:07``, ``1:02:03``; ``12s`` when not ``fine``."""
    if value is None:
        return ""
    seconds = float(value)
    if seconds < 60:
        return f"{seconds:.1f}s" if fine else f"{seconds:.0f}s"
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


def setup_text(value: Any, fine: bool = True) -> str:
    """``1.250s``; ``1s`` when not ``fine``."""
    if value is None:
        return ""
    return f"{float(value) / 1000:.3f}s" if fine else f"{float(value) / 1000:.0f}s"


def timed_finely(call: dict[str, Any]) -> bool:
    """Whether the call's log gave fractions of a second. A log stamped to the second (Asterisk's
    default dateformat) cannot tell 0 ms from 999 ms: its setup and durations are shown in whole
    seconds rather than as "0.000s", which reads like an instant answer."""
    return has_fraction(call.get(c) for c in TIME_COLUMNS)


def hangup_text(call: dict[str, Any]) -> str:
    """Who hung up and why: ``caller``, ``callee, 16 Normal clearing``."""
    parts = [str(call["hangup_by"])] if call.get("hangup_by") else []
    if call.get("q850_cause") is not None:
        parts.append(cause_text(int(call["q850_cause"])))
    return ", ".join(parts)


CALL_ID_WIDTH = 16  # enough of a Call-ID to use as a prefix for ``show``
TABLE_HEADERS = (
    "start",
    "from",
    "to",
    "state",
    "final",
    "pdd",
    "setup",
    "duration",
    "msgs",
    "hangup / cause",
    "call_id",
)


def render_calls_table(calls: Sequence[dict[str, Any]], clock: Clock, term: Terminal) -> str:
    """The call list for people: local times, words, durations; long cells cut to fit."""
    headers = [f"start ({clock.label})", *TABLE_HEADERS[1:]]
    rows = [
        [
            format_time(c.get("first_seen"), clock, digits=0),
            c.get("from_user"),
            c.get("to_user"),
            c.get("state"),
            final_text(c),
            setup_text(c.get("pdd_ms"), timed_finely(c)),
            setup_text(c.get("setup_ms"), timed_finely(c)),
            seconds_text(c.get("duration_s"), timed_finely(c)),
            c.get("message_count"),
            hangup_text(c),
            c.get("call_id"),
        ]
        for c in calls
    ]
    styles = [STATE_STYLES.get(str(c.get("state")), "red") for c in calls]
    return render_table(
        headers,
        rows,
        term,
        styles=styles,
        align_right=[h in ("pdd", "setup", "duration", "msgs") for h in TABLE_HEADERS],
        keep=[h in ("start", "state", "pdd", "setup", "duration", "msgs") for h in TABLE_HEADERS],
        drop=[TABLE_HEADERS.index(h) for h in ("pdd", "msgs", "setup", "hangup / cause", "duration", "final")],
        least=[CALL_ID_WIDTH if h == "call_id" else 0 for h in TABLE_HEADERS],
    )


def call_json(call: dict[str, Any], clock: Clock) -> dict[str, Any]:
    """One call for scripts: every summary column (times as stored, UTC) plus readable extras."""
    out: dict[str, Any] = {c: call.get(c) for c in CALL_COLUMNS}
    out["start"] = iso_time(call.get("first_seen"), clock)
    out["q850_text"] = cause_text(int(call["q850_cause"])) if call.get("q850_cause") is not None else None
    out.update((c, call.get(c)) for c in LATER_COLUMNS)
    for column in TIME_COLUMNS:
        out[column] = stored_text(call.get(column))
    return out


def render_calls_json(calls: Iterable[dict[str, Any]], clock: Clock) -> str:
    return "".join(iter_calls_json(calls, clock))


def iter_calls_json(calls: Iterable[dict[str, Any]], clock: Clock) -> Iterator[str]:
    """The JSON array of the calls in pieces, one call each, as ``to_json`` writes it whole
    (no newline after the closing bracket)."""
    first = True
    for call in calls:
        yield ("[\n" if first else ",\n") + textwrap.indent(to_json(call_json(call, clock)), "  ")
        first = False
    yield "[]" if first else "\n]"


CSV_HEADERS = (*CALL_COLUMNS, "start", "q850_text", *LATER_COLUMNS)  # call_json's keys


def render_calls_csv(calls: Iterable[dict[str, Any]], clock: Clock) -> str:
    """CSV with the JSON's fields, one call per line."""
    return "".join(iter_calls_csv(calls, clock)).rstrip("\n")


def iter_calls_csv(calls: Iterable[dict[str, Any]], clock: Clock) -> Iterator[str]:
    """RFC 4180 CSV in lines (a field holding a line end stays in its quoted line): the
    header, then one call each; whole values, NULL as an empty field."""
    yield _csv_line(CSV_HEADERS)
    for call in calls:
        record = call_json(call, clock)
        yield _csv_line(["" if record[h] is None else record[h] for h in CSV_HEADERS])


def _csv_line(values: Sequence[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()
