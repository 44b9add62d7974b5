"""``stats``: traffic and failure figures over a time range, like SIPp's statistics screen.

Definitions (calls are INVITE dialogs of the ``calls`` table, counted by when they began):
  attempted   every call that began in the range;
  answered    a 2xx decided it (states ``answered`` and ``completed``);
  ASR         answered / attempted (answer-seizure ratio);
  NER         (answered + calls the user side ended: 480, 486, 487, 600, 603) / attempted
              (network effectiveness ratio, ITU-T E.425: what the network failed to
              deliver is what is left);
  setup time  first initial INVITE to the deciding final response of answered calls
              (post-dial delay, auth round trip included), nearest-rank percentiles;
  duration    answer to BYE of completed calls, in buckets;
  BYE causes  the Q.850 cause of the BYE's Reason header of completed calls.
Messages are counted by their own timestamps; retransmissions over every dialog kind.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sipparse.query.q850 import cause_text
from sipparse.query.render import Terminal, cut, render_table, to_json
from sipparse.query.show import Store
from sipparse.query.times import Clock, as_datetime, bound_param, format_time, stored_text

USER_ENDED = frozenset({480, 486, 487, 600, 603})
FAILING_STATES = ("failed", "busy", "no-answer")
DURATION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 10s", 10),
    ("10-30s", 30),
    ("30s-1m", 60),
    ("1-5m", 300),
    ("5-15m", 900),
    ("15-60m", 3600),
    ("> 1h", math.inf),
)
HISTOGRAM_STEPS = (1, 5, 15, 30, 60, 180, 360, 720, 1440)  # minutes per bar
MAX_BARS = 30
TOP = 5
CALL_FIELDS = (
    "first_seen",
    "state",
    "final_status",
    "final_reason",
    "setup_ms",
    "duration_s",
    "from_user",
    "to_user",
    "hangup_by",
    "q850_cause",
)


def _range_sql(
    column: str, since: datetime | None, until: datetime | None, backend: str
) -> tuple[str, list[Any]]:
    parts, params = [], []
    if since is not None:
        parts.append(f"{column} >= ?")
        params.append(bound_param(since, backend))
    if until is not None:
        parts.append(f"{column} < ?")
        params.append(bound_param(until, backend))
    return " AND ".join(parts), params


def gather(
    store: Store, since: datetime | None = None, until: datetime | None = None
) -> dict[str, list[dict]]:
    """The three queries stats needs: calls, dialogs by kind, messages by method and status."""
    where, params = _range_sql("first_seen", since, until, store.backend)
    calls_where = " AND " + where if where else ""
    any_where = " WHERE " + where if where else ""
    msg_where, msg_params = _range_sql("timestamp", since, until, store.backend)
    return {
        "calls": store.fetchall(
            f"SELECT {', '.join(CALL_FIELDS)} FROM calls WHERE kind = ?{calls_where}", ("call", *params)
        ),
        "kinds": store.fetchall(
            "SELECT kind, COUNT(*) AS n, SUM(retransmissions) AS retransmissions "
            f"FROM calls{any_where} GROUP BY kind",
            tuple(params),
        ),
        "messages": store.fetchall(
            "SELECT method, status_code, COUNT(*) AS n FROM sip_transactions"
            f"{' WHERE ' + msg_where if msg_where else ''} GROUP BY method, status_code",
            tuple(msg_params),
        ),
    }


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the value below which p% of the values lie)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def ratio(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def compute(data: dict[str, list[dict]], clock: Clock) -> dict[str, Any]:
    """Every figure, from the rows ``gather`` fetched (pure: tests feed it plain dicts)."""
    calls = data["calls"]
    states = Counter(str(c.get("state")) for c in calls)
    answered = states["answered"] + states["completed"]
    user_ended = sum(1 for c in calls if c.get("final_status") in USER_ENDED)
    return {
        "calls": _call_counts(states, len(calls), answered),
        "asr": ratio(answered, len(calls)),
        "ner": ratio(answered + user_ended, len(calls)),
        "failures": _failures(calls),
        "setup_ms": _setup(calls),
        "duration": _durations(calls),
        "messages": _messages(data["messages"]),
        "dialogs": {str(k["kind"]): int(k["n"]) for k in data["kinds"]},
        "retransmissions": sum(int(k.get("retransmissions") or 0) for k in data["kinds"]),
        "top_failing_destinations": _top(calls, "to_user"),
        "top_failing_sources": _top(calls, "from_user"),
        "bye_causes": _bye_causes(calls),
        "calls_per_minute": _histogram(calls, clock),
    }


def _call_counts(states: Counter[str], attempted: int, answered: int) -> dict[str, int]:
    return {
        "attempted": attempted,
        "answered": answered,
        "completed": states["completed"],
        "failed": states["failed"],
        "busy": states["busy"],
        "no_answer": states["no-answer"],
        "cancelled": states["cancelled"],
        "in_progress": states["in-progress"],
    }


def _failures(calls: Sequence[dict]) -> list[dict[str, Any]]:
    """Calls by final status >= 300, most frequent first, with the reason phrase seen most."""
    codes: Counter[int] = Counter()
    reasons: dict[int, Counter[str]] = {}
    for call in calls:
        code = call.get("final_status")
        if code is not None and int(code) >= 300:
            codes[int(code)] += 1
            reasons.setdefault(int(code), Counter())[str(call.get("final_reason") or "")] += 1
    return [
        {"status": code, "reason": reasons[code].most_common(1)[0][0], "count": n}
        for code, n in sorted(codes.items(), key=lambda item: (-item[1], item[0]))
    ]


def _setup(calls: Sequence[dict]) -> dict[str, Any]:
    values = [
        float(c["setup_ms"])
        for c in calls
        if c.get("state") in ("answered", "completed") and c.get("setup_ms") is not None
    ]
    return {
        "count": len(values),
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
    }


def _durations(calls: Sequence[dict]) -> list[dict[str, Any]]:
    counts = Counter()
    for call in calls:
        if call.get("duration_s") is not None:
            seconds = float(call["duration_s"])
            counts[next(label for label, top in DURATION_BUCKETS if seconds < top)] += 1
    return [{"bucket": label, "count": counts[label]} for label, _ in DURATION_BUCKETS]


def _messages(rows: Sequence[dict]) -> dict[str, Any]:
    requests: Counter[str] = Counter()
    responses: Counter[str] = Counter()
    for row in rows:
        if row.get("status_code") is not None:
            responses[str(row["status_code"])] += int(row["n"])
        else:
            requests[str(row.get("method") or "?")] += int(row["n"])
    return {
        "total": sum(requests.values()) + sum(responses.values()),
        "requests": dict(requests.most_common()),
        "responses": dict(sorted(responses.items())),
    }


def _top(calls: Sequence[dict], column: str) -> list[dict[str, Any]]:
    counts = Counter(str(c.get(column) or "") for c in calls if c.get("state") in FAILING_STATES)
    return [{"user": user, "count": n} for user, n in counts.most_common(TOP)]


def _bye_causes(calls: Sequence[dict]) -> list[dict[str, Any]]:
    counts: Counter[int | None] = Counter(
        None if c.get("q850_cause") is None else int(c["q850_cause"])
        for c in calls
        if c.get("state") == "completed"
    )
    return [
        {"cause": cause, "text": cause_text(cause) if cause is not None else "no Reason header", "count": n}
        for cause, n in sorted(counts.items(), key=lambda item: (-item[1], item[0] or 0))
    ]


def _histogram(calls: Sequence[dict], clock: Clock) -> dict[str, Any]:
    """Calls begun per bar of 1, 5, 15... minutes: the smallest bar that keeps it short."""
    starts = sorted(t for t in (as_datetime(c.get("first_seen")) for c in calls) if t is not None)
    if not starts:
        return {"minutes_per_bar": 1, "bars": []}
    span = (starts[-1] - starts[0]).total_seconds() / 60 + 1
    step = next((s for s in HISTOGRAM_STEPS if span / s <= MAX_BARS), HISTOGRAM_STEPS[-1])
    origin = _floor(starts[0], step)
    counts = Counter(int((t - origin).total_seconds() // (step * 60)) for t in starts)
    bars = [
        {"start": format_time(origin + timedelta(minutes=i * step), clock, digits=0), "count": counts[i]}
        for i in range(max(counts) + 1)
    ]
    return {"minutes_per_bar": step, "bars": bars}


def _floor(moment: datetime, minutes: int) -> datetime:
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((moment - midnight).total_seconds() // 60)
    return midnight + timedelta(minutes=elapsed - elapsed % minutes)


def render_stats_json(stats: dict[str, Any], since: datetime | None, until: datetime | None) -> str:
    """The figures for scripts, with the range they cover (UTC, None: unbounded)."""
    return to_json({"since": stored_text(since), "until": stored_text(until), **stats})


def render_stats_text(
    stats: dict[str, Any],
    clock: Clock,
    term: Terminal,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """The figures for people: a summary, then one small table per topic."""
    sections = [_summary(stats, clock, since, until)]
    sections += [
        s
        for s in (
            _table(
                "Failures by final status",
                ["status", "reason", "calls"],
                [[f["status"], f["reason"], f["count"]] for f in stats["failures"]],
                term,
            ),
            _setup_text(stats["setup_ms"]),
            _bars(
                "Call duration (completed calls)",
                [(d["bucket"], d["count"]) for d in stats["duration"]],
                term,
            ),
            _messages_text(stats["messages"], term),
            _table(
                "Top failing destinations",
                ["to_user", "calls"],
                [[t["user"], t["count"]] for t in stats["top_failing_destinations"]],
                term,
            ),
            _table(
                "Top failing sources",
                ["from_user", "calls"],
                [[t["user"], t["count"]] for t in stats["top_failing_sources"]],
                term,
            ),
            _table(
                "BYE causes (Q.850)",
                ["cause", "calls"],
                [[b["text"], b["count"]] for b in stats["bye_causes"]],
                term,
            ),
            _bars(
                f"Calls per {_per(stats['calls_per_minute']['minutes_per_bar'])} ({clock.label})",
                [(b["start"], b["count"]) for b in stats["calls_per_minute"]["bars"]],
                term,
            ),
        )
        if s
    ]
    text = "\n\n".join(sections)
    if term.width is None:
        return text
    return "\n".join(cut(line, term.width, term.ellipsis) for line in text.split("\n"))


def _per(minutes: int) -> str:
    return "minute" if minutes == 1 else f"{minutes} minutes"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


def _summary(stats: dict[str, Any], clock: Clock, since: datetime | None, until: datetime | None) -> str:
    c = stats["calls"]
    start, end = format_time(since, clock, 0) or "the beginning", format_time(until, clock, 0) or "now"
    span = f"{start} to {end} ({clock.label})"
    dialogs = ", ".join(f"{k} {n}" for k, n in sorted(stats["dialogs"].items())) or "none"
    lines = [
        f"Range:            {span}",
        f"Calls attempted:  {c['attempted']}",
        f"  answered:       {c['answered']} (BYE seen: {c['completed']})",
        f"  failed:         {c['failed']}",
        f"  busy:           {c['busy']}",
        f"  no answer:      {c['no_answer']}",
        f"  cancelled:      {c['cancelled']}",
        f"  in progress:    {c['in_progress']}",
        f"ASR:              {_percent(stats['asr'])} (answered / attempted)",
        f"NER:              {_percent(stats['ner'])} (answered + ended by the user side / attempted)",
        f"Dialogs by kind:  {dialogs}",
        f"Retransmissions:  {stats['retransmissions']}",
    ]
    return "\n".join(lines)


def _table(title: str, headers: list[str], rows: list[list[Any]], term: Terminal) -> str:
    if not rows:
        return ""
    right = [h in ("calls", "count", "status", "messages") for h in headers]
    return title + "\n" + render_table(headers, rows, term, align_right=right)


def _setup_text(setup: dict[str, Any]) -> str:
    if not setup["count"]:
        return ""
    shown = ", ".join(f"{k} {float(setup[k]) / 1000:.3f}s" for k in ("p50", "p95", "p99", "max"))
    return f"Setup time (answered calls, n={setup['count']}): {shown}"


def _messages_text(messages: dict[str, Any], term: Terminal) -> str:
    rows = [[m, n] for m, n in messages["requests"].items()] + [
        [code, n] for code, n in messages["responses"].items()
    ]
    return _table(f"Messages ({messages['total']})", ["method / status", "messages"], rows, term)


def _bars(title: str, items: list[tuple[str, int]], term: Terminal) -> str:
    """A text histogram: label, count, and a bar scaled to the largest count."""
    if not items or not any(n for _, n in items):
        return ""
    label_width = max(len(label) for label, _ in items)
    count_width = max(len(str(n)) for _, n in items)
    room = min(50, (term.width or 80) - label_width - count_width - 3)
    largest = max(n for _, n in items)
    mark = "█" if term.fancy else "#"
    lines = [title]
    for label, n in items:
        bar = mark * (math.ceil(n * max(1, room) / largest) if n else 0)
        lines.append(
            f"{label.ljust(label_width)} {str(n).rjust(count_width)} {cut(bar, max(1, room))}".rstrip()
        )
    return "\n".join(lines)
