"""The per-call summary: one pure function from the stored message rows of a Call-ID.

``summarize(call_id, rows)`` takes the rows of one Call-ID (mappings with the columns of
``INPUT_COLUMNS``, as ``Store.fetchall`` returns them; timestamps as ``datetime`` or as the
stored text) and returns a ``CallSummary``; ``summarize_tuples`` takes the same rows as
tuples in ``INPUT_COLUMNS`` order, which is what the store's write path has at hand.
The store recomputes the summary of every call a batch touches from all of its stored
rows, inside the batch's transaction, so a call ingested over several runs ends with
exactly the summary of the same call ingested at once.

Rows are taken in log order: by timestamp, then by host, then by id (ids increase in log
order). Two hosts that log one call (a call crossing both PBXs) log its messages in the same
second, and no order between their logs can be told; their rows' ids only say which ingest
stored them first, which differs between concurrent runs. The host name settles it instead,
so the summary does not depend on which host's rows were stored first.

Kind (from the methods seen, requests or CSeq methods):
  ``call`` an INVITE, ACK or BYE was seen (ACK and BYE exist only in an INVITE dialog: a log
  that began mid-call may hold nothing else); else ``register`` a REGISTER; else ``options``
  an OPTIONS; else ``other`` (SUBSCRIBE, NOTIFY, MESSAGE, ... dialogs).

The deciding response of a ``call``: the initial INVITEs are the INVITE requests without a
To tag (a re-INVITE inside the dialog has one, and never decides the outcome; a second
initial INVITE with a higher CSeq answers a 401/407 challenge). The first 2xx to an initial
INVITE decides; without one, the final response (>= 200) to the last initial INVITE, or none
while that INVITE has none (a call challenged with 407 and ringing with credentials is in
progress, not failed with the 407). When no INVITE request was logged, INVITE responses
without a To tag on the request side cannot be told apart, so every final INVITE response
counts as initial, but for those to a re-INVITE that was logged (its CSeq and From tag)
once a 2xx says the dialog was established. A call whose log began mid-call, after it was
answered, may then hold re-INVITEs and no response to its initial INVITE, or no INVITE nor
response to one at all, only its ACK or BYE: it is ``answered`` (``completed`` once a BYE is
seen) with no final status, setup time, answer time nor duration to tell (with no INVITE nor
response to one, the ACK, which the caller sends, tells who called whom).

State of a ``call``, first rule that applies:
  ``completed``   answered (a 2xx decided) and a BYE of its dialog was seen;
  ``answered``    a 2xx decided, no BYE yet;
  ``cancelled``   the caller gave up: a CANCEL was seen, or a BYE from the caller before any
                  answer (some phones hang up a ringing call so), and the deciding response
                  is 487 or there is none yet;
  ``busy``        the deciding response is 486 Busy Here or 600 Busy Everywhere;
  ``no-answer``   408 or 480, or 487 without a CANCEL;
  ``redirected``  a 3xx (the caller was sent elsewhere and tried no further in this dialog;
                  sngrep's DIVERTED): not a failure;
  ``failed``      any other final response >= 300 (a 401/407 nobody answered included);
  ``in-progress`` no final response yet.

For ``register``, ``options`` and ``other`` the deciding response is the last final
response of the dialog (a REGISTER refreshed for days reports how it stands now); of those
logged in the same second, the one to the highest CSeq (the 200 OK to a REGISTER sent again
with credentials, not the 401 before it, whichever of them was stored first), and the
state is ``completed`` for 2xx, then ``busy``/``no-answer``/``redirected``/``failed`` as above, else
``in-progress``.

Figures:
  ``setup_ms``   first initial request to the deciding final response, in milliseconds
                 (INVITE to 200 OK for an answered call, the post-dial delay with the
                 auth round trip included); of a dialog without an INVITE, the round trip
                 of the request the deciding response answers (a REGISTER refreshed for
                 days took a second, not days); NULL while none;
  ``pdd_ms``     post-dial delay (RFC 6076 "Session Request Delay"): first initial INVITE
                 to the first response to an initial INVITE that is not 100 Trying (a 18x,
                 or the final response when none came first), in milliseconds. A 401/407
                 challenge answered by a later initial INVITE is not it (RFC 6076 4.2: the
                 caller hears nothing of it), so the delay runs on to the ringing of the
                 INVITE with credentials. NULL for other kinds, and while not known: no
                 such response yet, or no initial INVITE logged (the log began mid-call);
  ``duration_s`` answer (first 2xx) to the first BYE of the dialog it made, in seconds
                 (a BYE to another fork that answered too does not end the call); NULL
                 unless completed;
  ``hangup_by``  ``caller`` when the BYE's From tag is the initial INVITE's From tag (or the
                 call was cancelled), ``callee`` when it is the other side's tag; when the
                 INVITE was not logged, its responses carry its From tag;
  ``q850_cause`` the Q.850 cause of the BYE's Reason header, else the CANCEL's (or that of
                 the caller's BYE that took its place), else the deciding response's;
  ``retransmissions`` rows that repeat an earlier row's (CSeq, method or status,
                 direction, Via branch, To tag, host): a UDP retransmission, or the same
                 message logged twice (the 180s of two forks of one INVITE differ in their
                 To tag, and one message logged by two PBXs in their host);
  ``from_user``/``to_user``/``from_sip``/``to_sip``/``direction``/``host`` come from the
                 first request (the initial INVITE for a call; when it was not logged, as
                 in a rotated file never read, the first response to an INVITE, which
                 carries its From and To), else from the first row; the direction is the
                 request's, so a response's is turned around.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import compress, repeat
from operator import is_, is_not, itemgetter, not_
from typing import Any, NamedTuple

from sipparse.sip.accel import c_module

# The same summary of ordered normal rows in C (``_calls.c``), where it is built.
_C_CALLS: Any = c_module("sipparse.store._calls")
SUMMARIES_IN_C = _C_CALLS is not None  # for ``sipparse info``

INPUT_COLUMNS: tuple[str, ...] = (
    "id", "timestamp", "sip_method", "method", "status_code", "reason_phrase", "cseq", "cseq_method",
    "from_user", "to_user", "from_sip", "to_sip", "from_tag", "to_tag", "via_branch", "direction",
    "q850_cause", "host",
)
BUSY = {486, 600}
CHALLENGES = {401, 407}
NO_ANSWER = {408, 480}
# CSeqs of one method whose first request a long dialog's summary keeps for a late final
# response (``_first_of_waiting_cseqs``): its memory does not grow with how long it went on
WAITING_CSEQS = 8
_OPPOSITE = {"in": "out", "out": "in"}
Row = Mapping[str, Any]


class _Row(NamedTuple):
    """One message row, normalised: a datetime timestamp, the request method, the reason phrase.

    A tuple rather than a dict: the store summarises every call a batch touches, so this is
    built once per stored message on the write path.
    """

    id: Any
    timestamp: datetime | None
    sip_method: str | None
    method: str | None
    status_code: int | None
    reason_phrase: str | None
    cseq: int | None
    cseq_method: str | None
    from_user: str | None
    to_user: str | None
    from_sip: str | None
    to_sip: str | None
    from_tag: str | None
    to_tag: str | None
    via_branch: str | None
    direction: str | None
    q850_cause: int | None
    host: str | None


assert _Row._fields == INPUT_COLUMNS


@dataclass(slots=True)
class CallSummary:
    """One row of the ``calls`` table (``updated_at`` is the store's business)."""

    call_id: str
    kind: str
    state: str
    first_seen: datetime | None
    last_seen: datetime | None
    from_user: str | None
    to_user: str | None
    from_sip: str | None
    to_sip: str | None
    direction: str | None
    final_status: int | None
    final_reason: str | None
    setup_ms: int | None
    duration_s: float | None
    answered_at: datetime | None
    ended_at: datetime | None
    message_count: int
    retransmissions: int
    hangup_by: str | None
    q850_cause: int | None
    host: str | None
    pdd_ms: int | None = None


def to_datetime(value: datetime | str | None) -> datetime | None:
    """A stored timestamp as a naive UTC datetime (SQLite keeps them as text)."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


_as_row = partial(tuple.__new__, _Row)
ROW_TYPE = _Row  # what summarize_tuples takes with normal=True (sipparse.store.rows builds them)
_by_time_host_and_id = itemgetter(1, 17, 0)
_timestamp, _id, _method, _cseq_method = itemgetter(1), itemgetter(0), itemgetter(3), itemgetter(7)
_host = itemgetter(17)
_status_code, _reason = itemgetter(4), itemgetter(5)
# cseq, cseq_method, method, status_code, direction, via_branch, to_tag, host
_repeat_key = itemgetter(6, 7, 3, 4, 15, 14, 13, 17)


def _normal(row: Sequence[Any]) -> _Row:
    """The row with its timestamp as a datetime, and the method and reason phrase that rows
    of the version-1 table only have inside ``sip_method`` ("INVITE", "486 Busy Here")."""
    (id_, stamp, sip_method, method, code, reason) = row[:6]
    if stamp is not None and not isinstance(stamp, datetime):
        stamp = datetime.fromisoformat(stamp)
    elif (method if code is None else method is None and reason is not None):
        return _as_row(row)  # a row of the current table, as the write path has them
    if code is not None:
        method = None
        if reason is None:
            parts = (sip_method or "").split(" ", 1)
            reason = parts[1] if len(parts) == 2 else None
    else:
        method = method or sip_method or None
    return _as_row((id_, stamp, sip_method, method, code, reason, *row[6:]))


def _order_key(row: _Row) -> tuple[bool, datetime, str, Any]:
    return (row.timestamp is None, row.timestamp or datetime.min, row.host or "", row.id or 0)


def _order(rows: list[_Row]) -> None:
    """Sort normal rows in log order, in place. A call's rows of one batch come in log order:
    the C check that they do costs less than the sort's key tuples and the checks below."""
    in_order = None if _C_CALLS is None else _C_CALLS.in_log_order(rows)
    if in_order:
        return
    if in_order is False or all(map(_timestamp, rows)) and None not in map(_id, rows) and None not in map(_host, rows):
        rows.sort(key=_by_time_host_and_id)  # the same order, without a Python call per row
    else:
        rows.sort(key=_order_key)


def normalized(rows: Iterable[Sequence[Any]]) -> list[_Row]:
    """Tuples in ``INPUT_COLUMNS`` order as read from the database, normalised (``_normal``)."""
    return list(map(_normal, rows))


def as_rows(rows: Iterable[Sequence[Any]]) -> list[_Row]:
    """Tuples in ``INPUT_COLUMNS`` order as the rows ``summarize_tuples`` works on, as they are."""
    return list(map(_as_row, rows))


def is_normal(rows: Sequence[Sequence[Any]]) -> bool:
    """Whether every row is normal as it is: what ``_normal`` would give back unchanged.

    Normal: the timestamp a datetime (or missing), a request with its method, a response
    with its reason phrase and no method. The check runs column by column in C, for a whole
    batch, instead of once per row in Python.
    """
    stamps = list(map(_timestamp, rows))
    if not all(map(isinstance, compress(stamps, map(is_not, stamps, repeat(None))), repeat(datetime))):
        return False
    requests = list(map(is_, map(_status_code, rows), repeat(None)))
    if not all(compress(map(_method, rows), requests)):
        return False
    responses = list(map(not_, requests))
    if any(map(is_not, compress(map(_method, rows), responses), repeat(None))):
        return False
    return not any(map(is_, compress(map(_reason, rows), responses), repeat(None)))


def _kind(rows: list[_Row], methods: list[str | None]) -> str:
    """The kind of dialog; ``methods`` holds each row's request method (None for responses)."""
    seen = {*methods, *map(_cseq_method, rows)}
    for method, kind in (("INVITE", "call"), ("ACK", "call"), ("BYE", "call"), ("REGISTER", "register"),
                         ("OPTIONS", "options")):
        if method in seen:
            return kind
    return "other"


KINDS = ("call", "register", "options", "other")  # the first on this list that applies (``_kind``)


def joined_kind(kind: str, rows: Iterable[Sequence[Any]]) -> str:
    """The kind of a dialog of ``kind`` once ``rows`` (tuples in ``INPUT_COLUMNS`` order) are
    added to it: each kind stands for a method seen, and the first on ``KINDS`` wins."""
    added = normalized(rows)
    return min(kind, _kind(added, list(map(_method, added))) if added else "other", key=KINDS.index)


def representatives(rows: list[_Row]) -> list[_Row]:
    """The rows of ``rows`` (normal) that the summary of a dialog without an INVITE takes
    anything from: the first, the first request, the last with a time stamp, the last final
    response and the request it answers (``_summarize_dialog``, ``_build``), in order, and of
    each request method the first request of each CSeq a final response in rows added later
    may answer (``_first_of_waiting_cseqs``). The representatives of rows added to others are
    those of both sides' representatives: a long dialog is summarised from its rows a page at
    a time."""
    ordered = list(rows)
    _order(ordered)
    if not ordered:
        return []
    decided = _latest_final(ordered)
    picks = [ordered[0], next((r for r in ordered if r.method), None),
             next((r for r in reversed(ordered) if r.timestamp is not None), None),
             decided, _answered_request(ordered, decided), *_first_of_waiting_cseqs(ordered)]
    return [r for r in ordered if any(r is p for p in picks)]


def _first_of_waiting_cseqs(rows: list[_Row]) -> list[_Row]:
    """Of each CSeq method, the first request of each of its newest ``WAITING_CSEQS`` CSeqs
    from the highest a final response answered on: a client's next request has a higher
    CSeq, its retransmissions the same, and a late final response may answer a request its
    client already sent again under the next CSeq (a REGISTER's 200 OK after its retry)."""
    answered: dict[str | None, int] = {}
    for row in rows:
        if (row.status_code or 0) >= 200:
            answered[row.cseq_method] = max(answered.get(row.cseq_method, 0), row.cseq or 0)
    firsts: dict[tuple[str | None, int | None], _Row] = {}
    for row in rows:
        if row.status_code is None and (row.cseq or 0) >= answered.get(row.cseq_method, 0):
            firsts.setdefault((row.cseq_method, row.cseq), row)
    by_method: dict[str | None, list[_Row]] = {}
    for (method, _), row in firsts.items():
        by_method.setdefault(method, []).append(row)
    return [row for waiting in by_method.values()
            for row in heapq.nlargest(WAITING_CSEQS, waiting, key=lambda r: r.cseq or 0)]


def _answered_request(rows: list[_Row], response: _Row | None) -> _Row | None:
    """The first request of the transaction a response ends: its CSeq number and method."""
    if response is None:
        return None
    return next((r for r in rows if r.status_code is None and r.cseq == response.cseq
                 and r.cseq_method == response.cseq_method), None)


def _retransmissions(rows: list[_Row]) -> int:
    """Rows that repeat an earlier row's (CSeq, method or status, direction, Via branch, To
    tag, host).

    The To tag tells forks apart: a forked INVITE's provisional and final responses share
    its branch and status code, but each fork answers with a tag of its own. The host tells
    two PBXs apart that both logged one message: a retransmission is one sender's, seen again
    where it was seen first.

    A normalised row has a method or a status code, never both (and never an empty method),
    so the pair (method, status) tells rows apart exactly as "method or status" does."""
    return len(rows) - len(set(map(_repeat_key, rows)))


def _recency(row: _Row) -> tuple[bool, datetime, int]:
    """What makes a final response of a dialog later than another: its time, then its CSeq.

    Rows of one second are in the order they were stored, which is not the log's when a
    rotated file is read after the one that followed it; a client's CSeq grows with each
    request it sends, whichever order its messages were stored in."""
    return (row.timestamp is None, row.timestamp or datetime.min, row.cseq or 0)


def _latest_final(rows: list[_Row]) -> _Row | None:
    """The final response (>= 200) of ordered rows that ``_recency`` puts last, the last of equals."""
    latest = None
    for row in rows:
        if (row.status_code or 0) >= 200 and (latest is None or _recency(row) >= _recency(latest)):
            latest = row
    return latest


def _without_reinvite_answers(rows: list[_Row], finals: list[_Row]) -> list[_Row]:
    """Of the final INVITE responses of a call whose initial INVITE was not logged, those
    that do not answer a logged re-INVITE (its CSeq and From tag: the two sides of a dialog
    number their requests apart), once a 2xx or such a response says the dialog was
    established; a 481 to a re-INVITE of a dialog the other side does not know is all there
    is to tell."""
    reinvites = {(r.cseq, r.from_tag) for r in rows if r.method == "INVITE"}
    if not reinvites:
        return finals
    own = [r for r in finals if (r.cseq, r.from_tag) not in reinvites]
    return own if own or any(r.status_code < 300 for r in finals) else finals


def _deciding_invite_response(rows: list[_Row]) -> _Row | None:
    initial = {r.cseq for r in rows if r.method == "INVITE" and not r.to_tag}
    # final responses (>= 200) to INVITE; the test is inline, as it runs once per row
    finals = [r for r in rows if (r.status_code or 0) >= 200 and r.cseq_method == "INVITE"
              and (not initial or r.cseq in initial)]
    if not initial:
        finals = _without_reinvite_answers(rows, finals)
    answered = [r for r in finals if r.status_code < 300]
    if answered:
        return answered[0]
    if not finals:
        return None
    # The last initial INVITE decides: once a 401/407 is answered with a new INVITE, the
    # challenge no longer says how the call stands, whether or not the new INVITE has its
    # final response yet (still ringing, or cancelled before its 487 is logged).
    last_cseq = max(c or 0 for c in initial) if initial else max(r.cseq or 0 for r in finals)
    return next((r for r in finals if (r.cseq or 0) == last_cseq), None)


def _pdd_response(rows: list[_Row]) -> _Row | None:
    """The response that ends the post-dial delay: the first to an initial INVITE that is
    not 100 Trying (hop by hop, it says nothing of the callee), but a 401/407 challenge to an
    INVITE that a later initial INVITE (higher CSeq) answered with credentials."""
    initial = {r.cseq for r in rows if r.method == "INVITE" and not r.to_tag}
    if not initial:
        return None
    last_cseq = max(c or 0 for c in initial)
    return next((r for r in rows if (r.status_code or 0) > 100 and r.cseq_method == "INVITE"
                 and r.cseq in initial and not (r.status_code in CHALLENGES and (r.cseq or 0) < last_cseq)), None)


def _state(code: int | None, cancelled: bool, answered: bool, bye: bool) -> str:
    if answered:
        return "completed" if bye else "answered"
    if cancelled and code in (None, 487):
        return "cancelled"
    if code is None:
        return "in-progress"
    if code < 300:
        return "completed"
    if code in BUSY:
        return "busy"
    if code in NO_ANSWER or code == 487:
        return "no-answer"
    if code < 400:
        return "redirected"
    return "failed"


def _first(rows: list[_Row], methods: list[str | None], method: str) -> _Row | None:
    """The first row of a request method, found in C in the list of the rows' methods."""
    return rows[methods.index(method)] if method in methods else None


def _initial_invite(rows: list[_Row], methods: list[str | None]) -> _Row | None:
    """The first INVITE without a To tag, else the first INVITE."""
    if "INVITE" not in methods:
        return None
    return next((r for r in rows if r.method == "INVITE" and not r.to_tag), None) or _first(rows, methods, "INVITE")


def _ending_bye(rows: list[_Row], methods: list[str | None], answer: _Row) -> _Row | None:
    """The first BYE of the dialog the answer made (its To tag on either side of the BYE).

    When a forked INVITE is answered by two forks, the caller ACKs the second 200 OK and
    hangs up on it at once (RFC 3261 13.2.2.4): that BYE does not end the call."""
    if not answer.to_tag:
        return _first(rows, methods, "BYE")
    tag = answer.to_tag
    return next((r for r in rows if r.method == "BYE" and (r.from_tag == tag or r.to_tag == tag)), None)


def _abandoning_bye(rows: list[_Row], methods: list[str | None], caller_side: _Row | None) -> _Row | None:
    """The first BYE the caller sent (the initial INVITE's From tag), which on a call not
    answered takes the place of a CANCEL: some phones hang up a ringing call with it."""
    if caller_side is None or not caller_side.from_tag or "BYE" not in methods:
        return None
    return next((r for r in rows if r.method == "BYE" and r.from_tag == caller_side.from_tag), None)


def _first_invite_response(rows: list[_Row]) -> _Row | None:
    """The first response to an INVITE: its From and To are the INVITE's."""
    return next((r for r in rows if r.status_code is not None and r.cseq_method == "INVITE"), None)


def _request_direction(row: _Row) -> str | None:
    """The direction of the request a row is or answers: a response travels the other way."""
    if row.status_code is None:
        return row.direction
    return _OPPOSITE.get(row.direction or "", row.direction)


def _millis(start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None:
        return None
    return max(0, round((end - start).total_seconds() * 1000))


def _hangup_by(invite: _Row | None, bye: _Row | None, cancelled: bool) -> str | None:
    if bye is None:
        return "caller" if cancelled else None
    if invite is None or not invite.from_tag:
        return None
    if bye.from_tag == invite.from_tag:
        return "caller"
    return "callee" if bye.to_tag == invite.from_tag else None


def _cause(*rows: _Row | None) -> int | None:
    return next((r.q850_cause for r in rows if r is not None and r.q850_cause is not None), None)


def summarize(call_id: str, rows: Iterable[Row]) -> CallSummary:
    """The summary of one Call-ID from all of its message rows (see the module docstring)."""
    return summarize_tuples(call_id, [tuple(row[name] for name in INPUT_COLUMNS) for row in rows])


def summarize_tuples(call_id: str, rows: Iterable[Sequence[Any]], normal: bool = False) -> CallSummary:
    """``summarize`` of rows given as tuples in ``INPUT_COLUMNS`` order.

    :param normal: the rows are ``as_rows`` that ``is_normal`` (the write path checks a whole
        batch at once), so they are not looked at one by one again.
    """
    ordered = list(rows) if normal else normalized(rows)
    _order(ordered)
    if not ordered:
        raise ValueError(f"no message rows for Call-ID {call_id!r}")
    if _C_CALLS is not None and (fields := _C_CALLS.summarize(call_id, ordered)) is not None:
        return CallSummary(*fields)
    return _summarize_ordered(call_id, ordered)


def _summarize_ordered(call_id: str, ordered: list[_Row]) -> CallSummary:
    """The summary of ordered normal rows, in Python (the reference of ``_calls.c``)."""
    methods = list(map(_method, ordered))
    kind = _kind(ordered, methods)
    if kind == "call":
        return _summarize_call(call_id, ordered, methods)
    return _summarize_dialog(call_id, kind, ordered)


def _answered_before_the_log(rows: list[_Row], methods: list[str | None], decided: _Row | None) -> bool:
    """Whether the call's INVITEs are all re-INVITEs, with no response to its initial INVITE
    either, or it has no INVITE nor response to one at all but an ACK or BYE: the log began
    mid-call (its start rotated away before the first ingest), after the call was answered."""
    if decided is not None:
        return False
    if "INVITE" in methods:
        return all(r.to_tag for r in rows if r.method == "INVITE")
    return ("ACK" in methods or "BYE" in methods) and _first_invite_response(rows) is None


def _summarize_call(call_id: str, rows: list[_Row], methods: list[str | None]) -> CallSummary:
    invite = _initial_invite(rows, methods)
    caller_side = invite or _first_invite_response(rows)  # who called whom, and the caller's tag
    decided = _deciding_invite_response(rows)
    code = decided.status_code if decided else None
    if _answered_before_the_log(rows, methods, decided):
        return _summarize_mid_call(call_id, rows, methods, caller_side or _first(rows, methods, "ACK"))
    answered = code is not None and code < 300
    bye = _ending_bye(rows, methods, decided) if answered and decided else None
    cancel = _first(rows, methods, "CANCEL")
    abandoned = None if answered else _abandoning_bye(rows, methods, caller_side)
    cancelled = (cancel is not None or abandoned is not None) and not answered
    state = _state(code, cancelled, answered, bye is not None)
    start = invite.timestamp if invite else None
    answered_at = decided.timestamp if answered and decided else None
    ended_at = bye.timestamp if bye else None
    duration = round((ended_at - answered_at).total_seconds(), 6) if ended_at and answered_at else None
    pdd = _pdd_response(rows)
    return _build(
        call_id, "call", state, rows, caller_side, decided,
        setup_ms=_millis(start, decided.timestamp if decided else None),
        duration_s=max(0.0, duration) if duration is not None else None,
        answered_at=answered_at, ended_at=ended_at,
        hangup_by=_hangup_by(caller_side, bye, cancelled) if state in ("completed", "cancelled") else None,
        q850_cause=_cause(bye, cancel, abandoned, decided),
        pdd_ms=_millis(start, pdd.timestamp) if pdd else None,  # pdd: the first INVITE is initial
    )


def _summarize_mid_call(call_id: str, rows: list[_Row], methods: list[str | None],
                        caller_side: _Row | None) -> CallSummary:
    """A call answered before its log began: ``answered``, or ``completed`` once a BYE is
    seen, with no final status, setup time, answer time nor duration to tell."""
    bye = _first(rows, methods, "BYE")
    state = "completed" if bye else "answered"
    return _build(
        call_id, "call", state, rows, caller_side, None, setup_ms=None, duration_s=None,
        answered_at=None, ended_at=bye.timestamp if bye else None,
        hangup_by=_hangup_by(caller_side, bye, False) if bye else None, q850_cause=_cause(bye),
    )


def _summarize_dialog(call_id: str, kind: str, rows: list[_Row]) -> CallSummary:
    request = next((r for r in rows if r.method), None)
    decided = _latest_final(rows)
    code = decided.status_code if decided else None
    answered = _answered_request(rows, decided)
    start = answered.timestamp if answered else None
    return _build(
        call_id, kind, _state(code, False, False, False), rows, request, decided,
        setup_ms=_millis(start, decided.timestamp if decided else None),
        duration_s=None, answered_at=None, ended_at=None, hangup_by=None, q850_cause=_cause(decided),
    )


def _build(
    call_id: str, kind: str, state: str, rows: list[_Row],
    request: _Row | None, decided: _Row | None, **figures: Any,
) -> CallSummary:
    head = request or rows[0]
    # rows are in time order, those without a timestamp last
    last_seen = next((r.timestamp for r in reversed(rows) if r.timestamp is not None), None)
    return CallSummary(
        call_id=call_id, kind=kind, state=state, first_seen=rows[0].timestamp, last_seen=last_seen,
        from_user=head.from_user, to_user=head.to_user,
        from_sip=head.from_sip, to_sip=head.to_sip,
        direction=_request_direction(head), host=head.host,
        final_status=decided.status_code if decided else None,
        final_reason=decided.reason_phrase if decided else None,
        message_count=len(rows), retransmissions=_retransmissions(rows),
        **figures,
    )
