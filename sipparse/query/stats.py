"""``stats``: traffic and failure figures over a time range, like SIPp's statistics screen.

Definitions (calls are INVITE dialogs of the ``calls`` table, counted by when they began):
  attempted   every call that began in the range;
  answered    a 2xx decided it (states ``answered`` and ``completed``);
  ASR         answered / attempted (answer-seizure ratio);
  NER         (answered + calls the user side ended: 480, 486, 487, 600, 603) / attempted
              (network effectiveness ratio, ITU-T E.425: what the network failed to
              deliver is what is left);
  setup time  first initial INVITE to the deciding final response of answered calls
              (auth round trip included), nearest-rank percentiles;
  PDD         post-dial delay of every call that has one (``calls.pdd_ms``: first INVITE to
              its first response but 100 Trying, answered or not), percentiles likewise;
  duration    answer to BYE of completed calls, in buckets;
  ACD         average call duration: the mean of those durations (ITU-T E.411), and
              talk time, their sum (minutes of use);
  BYE causes  the Q.850 cause of the BYE's Reason header of completed calls.
Messages are counted by their own timestamps; retransmissions over every dialog kind.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sipparse.query.calls import host_condition, seconds_text, setup_text
from sipparse.query.q850 import cause_text
from sipparse.query.render import Terminal, cut, render_table, to_json
from sipparse.query.show import Store, absent_call_columns
from sipparse.query.times import Clock, as_datetime, bound_param, format_time, stored_text

USER_ENDED = frozenset({480, 486, 487, 600, 603})
FAILING_STATES = ("failed", "busy", "no-answer")
DURATION_BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 10s", 10), ("10-30s", 30), ("30s-1m", 60), ("1-5m", 300), ("5-15m", 900), ("15-60m", 3600),
    ("> 1h", math.inf),
)
HISTOGRAM_STEPS = (1, 5, 15, 30, 60, 180, 360, 720, 1440)  # minutes per bar
MAX_BARS = 30
_DAY = 1440  # minutes
TOP = 5
ANSWERED = ("answered", "completed")


class _Query:
    """The WHERE of the calls (by start) and messages (by timestamp) in the range, and of
    one host's, where ``host`` is given (its calls as ``calls --host`` finds them)."""

    def __init__(self, since: datetime | None, until: datetime | None, backend: str,
                 host: str | None = None) -> None:
        self.since, self.until, self.backend, self.host = since, until, backend, host

    def group(self, *columns: str) -> str:
        """GROUP BY that leaves the range to the time index: SQLite would rather scan a whole
        index in group order than sort a few rows, unless the columns are expressions."""
        plus = "+" if self.backend == "sqlite" else ""
        return " GROUP BY " + ", ".join(plus + c for c in columns)

    def calls(self, *extra: str) -> tuple[str, list[Any]]:
        """Calls that began in the range (and that the host logged), meeting ``extra``."""
        if self.host is None:
            return self._where("first_seen", list(extra), [])
        return self._where("first_seen", [*extra, host_condition(self.backend)], [self.host, self.host])

    def messages(self) -> tuple[str, list[Any]]:
        """Messages logged in the range (by the host)."""
        if self.host is None:
            return self._where("timestamp", [], [])
        return self._where("timestamp", ["host = ?"], [self.host])

    def _where(self, column: str, parts: list[str], params: list[Any]) -> tuple[str, list[Any]]:
        for op, moment in ((">=", self.since), ("<", self.until)):
            if moment is not None:
                parts.append(f"{column} {op} ?")
                params.append(bound_param(moment, self.backend))
        return (" WHERE " + " AND ".join(parts)) if parts else "", params


def _in(values: Sequence[str]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _duration_bucket_sql() -> str:
    """The index of a call's duration bucket, computed by the database."""
    whens = " ".join(f"WHEN duration_s < {top} THEN {i}" for i, (_, top) in enumerate(DURATION_BUCKETS[:-1]))
    return f"CASE {whens} ELSE {len(DURATION_BUCKETS) - 1} END"


def gather(store: Store, since: datetime | None = None, until: datetime | None = None,
           host: str | None = None) -> dict[str, list[dict]]:
    """Every figure's raw material, aggregated by the database: memory stays small however
    many calls the range holds (setup times are grouped by value to give exact percentiles).
    With ``host``, only the calls and messages that Asterisk host logged."""
    q = _Query(since, until, store.backend, host)
    calls = "kind = 'call'"
    failing = f"{calls} AND state IN {_in(FAILING_STATES)}"
    queries = {
        # by host too: the By host table comes from the same pass over the calls
        "outcomes": ("SELECT state, final_status, final_reason, q850_cause, host, COUNT(*) AS n FROM calls",
                     q.calls(calls), q.group("state", "final_status", "final_reason", "q850_cause", "host")),
        "setup": ("SELECT setup_ms, COUNT(*) AS n FROM calls",
                  q.calls(calls, f"state IN {_in(ANSWERED)}", "setup_ms IS NOT NULL"),
                  q.group("setup_ms")),
        "pdd": ("SELECT pdd_ms, COUNT(*) AS n FROM calls", q.calls(calls, "pdd_ms IS NOT NULL"),
                q.group("pdd_ms")),
        "durations": (f"SELECT {_duration_bucket_sql()} AS bucket, COUNT(*) AS n, SUM(duration_s) AS seconds "
                      "FROM calls",
                      q.calls(calls, "duration_s IS NOT NULL"), " GROUP BY 1"),
        "to_users": ("SELECT to_user AS who, COUNT(*) AS n FROM calls", q.calls(failing),
                     q.group("to_user") + f" ORDER BY n DESC, who LIMIT {TOP}"),
        "from_users": ("SELECT from_user AS who, COUNT(*) AS n FROM calls", q.calls(failing),
                       q.group("from_user") + f" ORDER BY n DESC, who LIMIT {TOP}"),
        "causes": ("SELECT q850_cause, COUNT(*) AS n FROM calls",
                   q.calls(calls, "state = 'completed'"), q.group("q850_cause")),
        "minutes": ("SELECT SUBSTR(first_seen, 1, 16) AS minute, COUNT(*) AS n, "
                    f"SUM(CASE WHEN state IN {_in(FAILING_STATES)} THEN 1 ELSE 0 END) AS failing FROM calls",
                    q.calls(calls), " GROUP BY 1"),
        "kinds": ("SELECT kind, COUNT(*) AS n, SUM(retransmissions) AS retransmissions FROM calls",
                  q.calls(), q.group("kind")),
        "messages": ("SELECT method, status_code, COUNT(*) AS n FROM sip_transactions",
                     q.messages(), q.group("method", "status_code")),
    }
    if "pdd_ms" in absent_call_columns(store):  # a revision the next ingest adds
        del queries["pdd"]
    found = {name: store.fetchall(head + where + tail, tuple(params))
             for name, (head, (where, params), tail) in queries.items()}
    return {"pdd": [], **found}


def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile (the value below which p% of the values lie)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def weighted_percentile(counts: Sequence[tuple[float, int]], p: float) -> float | None:
    """Nearest-rank percentile of values given with their counts."""
    total = sum(n for _, n in counts)
    if not total:
        return None
    rank, seen = max(1, math.ceil(p / 100 * total)), 0
    for value, n in sorted(counts):
        seen += n
        if seen >= rank:
            return value
    return None


def ratio(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def compute(data: dict[str, list[dict]], clock: Clock) -> dict[str, Any]:
    """Every figure, from what ``gather`` fetched (pure: tests feed it plain dicts)."""
    outcomes = data["outcomes"]
    states: Counter[str] = Counter()
    for row in outcomes:
        states[str(row["state"])] += int(row["n"])
    attempted = sum(states.values())
    answered = states["answered"] + states["completed"]
    user_ended = sum(int(r["n"]) for r in outcomes if r.get("final_status") in USER_ENDED)
    return {
        "calls": {**_call_counts(states, attempted, answered), "user_ended": user_ended},
        "asr": ratio(answered, attempted),
        "ner": ratio(answered + user_ended, attempted),
        "failures": _failures(outcomes),
        "setup_ms": _percentiles(data["setup"], "setup_ms"),
        "pdd_ms": _percentiles(data["pdd"], "pdd_ms"),
        "duration": _durations(data["durations"]),
        **_talk(data["durations"]),
        "messages": _messages(data["messages"]),
        "dialogs": {str(k["kind"]): int(k["n"]) for k in data["kinds"]},
        "retransmissions": sum(int(k.get("retransmissions") or 0) for k in data["kinds"]),
        "top_failing_destinations": _top(data["to_users"]),
        "top_failing_sources": _top(data["from_users"]),
        "bye_causes": _bye_causes(data["causes"]),
        "calls_per_minute": _histogram(data["minutes"], clock),
        "hosts": by_host(outcomes),
    }


def by_host(rows: Sequence[dict]) -> list[dict[str, Any]]:
    """Attempts, answers, failures (failed, busy, no answer), ASR and NER of each Asterisk
    host, most calls first: in a database several PBXs write into, which one is failing.
    Each call counts once, under its row's host (the one that logged its first request),
    so the hosts add up to the whole; ``--host`` also counts a trunk call the other logged."""
    figures: dict[str | None, Counter[str]] = {}
    for row in rows:
        counts = figures.setdefault(row.get("host"), Counter())
        n, state = int(row["n"]), str(row["state"])
        counts["attempted"] += n
        counts["answered"] += n if state in ANSWERED else 0
        counts["failing"] += n if state in FAILING_STATES else 0
        counts["user_ended"] += n if row.get("final_status") in USER_ENDED else 0
    order = sorted(figures.items(), key=lambda item: (-item[1]["attempted"], item[0] is None, item[0] or ""))
    return [{"host": host, "attempted": c["attempted"], "answered": c["answered"], "failing": c["failing"],
             "user_ended": c["user_ended"], "asr": ratio(c["answered"], c["attempted"]),
             "ner": ratio(c["answered"] + c["user_ended"], c["attempted"])}
            for host, c in order]


def _call_counts(states: Counter[str], attempted: int, answered: int) -> dict[str, int]:
    return {
        "attempted": attempted, "answered": answered, "completed": states["completed"],
        "failed": states["failed"], "busy": states["busy"], "no_answer": states["no-answer"],
        "redirected": states["redirected"],
        "cancelled": states["cancelled"], "in_progress": states["in-progress"],
    }


def _failures(outcomes: Sequence[dict]) -> list[dict[str, Any]]:
    """Calls by final status >= 300, most frequent first, with the reason phrase seen most
    and the Q.850 causes the calls carried (a 503 of a trunk out of channels, 34, is not one
    of a network down, 38), most frequent first, those with none as a cause of None."""
    codes: Counter[int] = Counter()
    reasons: dict[int, Counter[str]] = {}
    causes: dict[int, Counter[int | None]] = {}
    for row in outcomes:
        code = row.get("final_status")
        if code is not None and int(code) >= 300:
            code, n = int(code), int(row["n"])
            codes[code] += n
            reasons.setdefault(code, Counter())[str(row.get("final_reason") or "")] += n
            cause = row.get("q850_cause")
            causes.setdefault(code, Counter())[None if cause is None else int(cause)] += n
    return [{"status": code, "reason": reasons[code].most_common(1)[0][0], "count": n,
             "q850_causes": _cause_counts(causes[code])}
            for code, n in sorted(codes.items(), key=lambda item: (-item[1], item[0]))]


def _cause_counts(counts: Counter[int | None]) -> list[dict[str, Any]]:
    """Causes most frequent first (then by value, no cause last)."""
    order = sorted(counts.items(), key=lambda item: (-item[1], item[0] is None, item[0] or 0))
    return [{"cause": cause, "text": None if cause is None else cause_text(cause), "count": n}
            for cause, n in order]


def causes_text(causes: Sequence[dict[str, Any]]) -> str:
    """``17 User busy``; several with their counts: ``34 No circuit/channel available 3, none 1``."""
    if len(causes) == 1:
        return causes[0]["text"] or ""
    return ", ".join(f"{c['text'] or 'none'} {c['count']}" for c in causes)


def _percentiles(rows: Sequence[dict], column: str) -> dict[str, Any]:
    """Count, p50/p95/p99 and max of a column's values grouped with their counts."""
    counts = [(float(r[column]), int(r["n"])) for r in rows]
    return {"count": sum(n for _, n in counts), "p50": weighted_percentile(counts, 50),
            "p95": weighted_percentile(counts, 95), "p99": weighted_percentile(counts, 99),
            "max": max((v for v, _ in counts), default=None)}


def _durations(rows: Sequence[dict]) -> list[dict[str, Any]]:
    counts = {int(r["bucket"]): int(r["n"]) for r in rows}
    return [{"bucket": label, "count": counts.get(i, 0)} for i, (label, _) in enumerate(DURATION_BUCKETS)]


def _talk(rows: Sequence[dict]) -> dict[str, Any]:
    """ACD (the mean duration of the calls whose duration is known) and their talk time in
    all, in seconds: what a carrier's report puts beside ASR."""
    count = sum(int(r["n"]) for r in rows)
    total = sum(float(r.get("seconds") or 0) for r in rows)
    return {"acd_s": round(total / count, 3) if count else None, "talk_time_s": round(total, 3)}


def _messages(rows: Sequence[dict]) -> dict[str, Any]:
    requests: Counter[str] = Counter()
    responses: Counter[str] = Counter()
    for row in rows:
        if row.get("status_code") is not None:
            responses[str(row["status_code"])] += int(row["n"])
        else:
            requests[str(row.get("method") or "?")] += int(row["n"])
    return {"total": sum(requests.values()) + sum(responses.values()),
            "requests": dict(requests.most_common()), "responses": dict(sorted(responses.items()))}


def _top(rows: Sequence[dict]) -> list[dict[str, Any]]:
    return [{"user": str(r.get("who") or ""), "count": int(r["n"])} for r in rows]


def _bye_causes(rows: Sequence[dict]) -> list[dict[str, Any]]:
    counts = [(None if r.get("q850_cause") is None else int(r["q850_cause"]), int(r["n"])) for r in rows]
    return [{"cause": cause, "text": cause_text(cause) if cause is not None else "no Reason header", "count": n}
            for cause, n in sorted(counts, key=lambda item: (-item[1], item[0] or 0))]


def _histogram(rows: Sequence[dict], clock: Clock) -> dict[str, Any]:
    """Calls begun per bar of 1, 5, 15... minutes: the smallest bar that keeps it short; and
    of those the failing ones (failed, busy, no answer), which show when trouble began."""
    minutes = sorted((m, int(r["n"]), int(r.get("failing") or 0))
                     for r in rows if (m := as_datetime(f"{r['minute']}:00")) is not None)
    if not minutes:
        return {"minutes_per_bar": 1, "bars": []}
    span = (minutes[-1][0] - minutes[0][0]).total_seconds() / 60 + 1
    step = _bar_minutes(span)
    starts = _bar_starts(minutes[0][0], minutes[-1][0], step, clock)
    counts: Counter[int] = Counter()
    failing: Counter[int] = Counter()
    for moment, n, failed in minutes:
        counts[bisect_right(starts, moment) - 1] += n
        failing[bisect_right(starts, moment) - 1] += failed
    bars = [{"start": format_time(start, clock, digits=0), "count": counts[i], "failing": failing[i]}
            for i, start in enumerate(starts)]
    return {"minutes_per_bar": step, "bars": bars}


def _bar_starts(first: datetime, last: datetime, step: int, clock: Clock) -> list[datetime]:
    """Where each bar from ``first``'s to ``last``'s begins (naive UTC). Bars of a day or
    more begin at midnight on the wall in the display zone, also across a change to or from
    summer time (that day's bar is 23 or 25 hours long); shorter ones are ``step`` minutes."""
    starts = [_floor(first, step, clock)]
    while True:
        try:
            if step < _DAY:
                following = starts[-1] + timedelta(minutes=step)
            else:
                following = clock.to_utc(clock.to_display(starts[-1]).replace(tzinfo=None) + timedelta(minutes=step))
        except OverflowError:  # past the end of year 9999
            return starts
        if following > last:
            return starts
        starts.append(following)


def _bar_minutes(span: float) -> int:
    """The smallest bar of ``HISTOGRAM_STEPS`` that keeps ``span`` minutes to ``MAX_BARS`` bars;
    past a month, as many whole days as that takes (a year of data in 30 bars, not 365)."""
    fitting = next((s for s in HISTOGRAM_STEPS if span / s <= MAX_BARS), None)
    if fitting is not None:
        return fitting
    return _DAY * math.ceil(span / MAX_BARS / _DAY)


def _floor(moment: datetime, minutes: int, clock: Clock) -> datetime:
    """The start of the bar ``moment`` (naive UTC) falls in, counted from midnight in the
    display zone: a bar of a day is a day of the clock on the wall, as its label says, not
    one that starts at 01:00 because the day began in UTC."""
    shown = clock.to_display(moment)
    wall = shown.replace(tzinfo=None)
    midnight = wall.replace(hour=0, minute=0, second=0, microsecond=0)
    elapsed = int((wall - midnight).total_seconds() // 60)
    # of a repeated hour, the start in the same one of the two as the moment (fold)
    start = (midnight + timedelta(minutes=elapsed - elapsed % minutes)).replace(fold=shown.fold)
    if shown.tzinfo is UTC:  # the zone's, or one it cannot show (see Clock.to_display)
        return start
    try:
        return clock.to_utc(start)
    except (OverflowError, ValueError):  # the machine's zone, at the first hours of year 1
        return moment


def render_stats_json(stats: dict[str, Any], since: datetime | None, until: datetime | None,
                      host: str | None = None) -> str:
    """The figures for scripts, with the range they cover (UTC, None: unbounded) and the host
    they are of (None: every host)."""
    return to_json({"since": stored_text(since), "until": stored_text(until), "host": host, **stats})


def render_stats_text(
    stats: dict[str, Any],
    clock: Clock,
    term: Terminal,
    since: datetime | None = None,
    until: datetime | None = None,
    host: str | None = None,
) -> str:
    """The figures for people: a summary, then one small table per topic."""
    sections = [_summary(stats, clock, since, until, host)]
    sections += [
        s
        for s in (
            _hosts_text(stats.get("hosts", []), term),
            _table(
                "Failures by final status",
                ["status", "reason", "Q.850 cause", "calls"],
                [[f["status"], f["reason"], causes_text(f["q850_causes"]), f["count"]] for f in stats["failures"]],
                term,
            ),
            "\n".join(filter(None, (_setup_text(stats["setup_ms"], "Setup time", "answered calls"),
                                     _setup_text(stats["pdd_ms"], "Post-dial delay", "calls")))),
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
                f"Calls per {_per(stats['calls_per_minute']['minutes_per_bar'])} ({clock.label}); "
                f"{_failing_mark(term)}: failed, busy or not answered",
                [(b["start"], b["count"]) for b in stats["calls_per_minute"]["bars"]],
                term,
                failing=[int(b.get("failing") or 0) for b in stats["calls_per_minute"]["bars"]],
            ),
        )
        if s
    ]
    text = "\n\n".join(sections)
    if term.width is None:
        return text
    return "\n".join(cut(line, term.width, term.ellipsis) for line in text.split("\n"))


def _hosts_text(hosts: Sequence[dict[str, Any]], term: Terminal) -> str:
    """The hosts side by side, when there are several to compare."""
    if len(hosts) < 2:
        return ""
    headers = ["host", "attempted", "answered", "failing", "ASR", "NER"]
    rows = [[h["host"] if h["host"] is not None else "(none)", h["attempted"], h["answered"], h["failing"],
             _percent(h["answered"], h["attempted"]), _percent(h["answered"] + h["user_ended"], h["attempted"])]
            for h in hosts]
    return ("By host (each call under the host that logged its first request)\n"
            + render_table(headers, rows, term, align_right=[h != "host" for h in headers]))


def _per(minutes: int) -> str:
    """``minute``, ``5 minutes``, ``3 hours``, ``day``, ``7 days``: a bar's length as said."""
    unit, size = next((u, s) for u, s in (("day", _DAY), ("hour", 60), ("minute", 1)) if minutes % s == 0)
    count = minutes // size
    return unit if count == 1 else f"{count} {unit}s"


def _percent(part: int, whole: int) -> str:
    """One decimal of the exact ratio: the two of the JSON figure rounded again can be off by
    one in the last place (6 of 13 is 46.15 there, which a second rounding makes 46.1)."""
    return f"{100.0 * part / whole:.1f}%" if whole else "n/a"


def _summary(stats: dict[str, Any], clock: Clock, since: datetime | None, until: datetime | None,
             host: str | None) -> str:
    c = stats["calls"]
    start, end = format_time(since, clock, 0) or "the beginning", format_time(until, clock, 0) or "now"
    span = f"{start} to {end} ({clock.label})"
    dialogs = ", ".join(f"{k} {n}" for k, n in sorted(stats["dialogs"].items())) or "none"
    lines = [
        f"Range:            {span}",
        *([f"Host:             {host}"] if host is not None else []),
        f"Calls attempted:  {c['attempted']}",
        f"  answered:       {c['answered']} (BYE seen: {c['completed']})",
        f"  failed:         {c['failed']}",
        f"  busy:           {c['busy']}",
        f"  no answer:      {c['no_answer']}",
        f"  redirected:     {c['redirected']}",
        f"  cancelled:      {c['cancelled']}",
        f"  in progress:    {c['in_progress']}",
        f"ASR:              {_percent(c['answered'], c['attempted'])} (answered / attempted)",
        f"NER:              {_percent(c['answered'] + c['user_ended'], c['attempted'])}"
        " (answered + ended by the user side / attempted)",
        f"ACD:              {_acd_text(stats)}",
        f"Dialogs by kind:  {dialogs}",
        f"Retransmissions:  {stats['retransmissions']}",
    ]
    return "\n".join(lines)


def _acd_text(stats: dict[str, Any]) -> str:
    if stats["acd_s"] is None:
        return "n/a"
    timed = sum(d["count"] for d in stats["duration"])
    return (f"{seconds_text(stats['acd_s'])} (mean duration of {timed} completed calls; "
            f"talk time {seconds_text(stats['talk_time_s'])})")


def _table(title: str, headers: list[str], rows: list[list[Any]], term: Terminal) -> str:
    if not rows:
        return ""
    right = [h in ("calls", "count", "status", "messages") for h in headers]
    return title + "\n" + render_table(headers, rows, term, align_right=right)


def _setup_text(setup: dict[str, Any], name: str, of: str) -> str:
    """``Setup time (answered calls, n=12): p50 1.200s, ...``: percentiles of milliseconds."""
    if not setup["count"]:
        return ""
    names = ("p50", "p95", "p99", "max")
    # as calls shows them: a log stamped to the second gives whole seconds, not "0.000s"
    fine = any(float(setup[k]) % 1000 for k in names)
    shown = ", ".join(f"{k} {setup_text(setup[k], fine)}" for k in names)
    return f"{name} ({of}, n={setup['count']}): {shown}"


def _messages_text(messages: dict[str, Any], term: Terminal) -> str:
    rows = [[m, n] for m, n in messages["requests"].items()] + [
        [code, n] for code, n in messages["responses"].items()
    ]
    return _table(f"Messages ({messages['total']})", ["method / status", "messages"], rows, term)


def _bars(title: str, items: list[tuple[str, int]], term: Terminal, failing: list[int] | None = None) -> str:
    """A text histogram: label, count, and a bar scaled to the largest count; with
    ``failing``, each item's failing count after its count, and that share of its bar
    drawn with another mark at its end."""
    if not items or not any(n for _, n in items):
        return ""
    label_width = max(len(label) for label, _ in items)
    count_width = max(len(str(n)) for _, n in items)
    failed = [str(f) if f else "" for f in failing] if failing is not None else None
    failed_width = max(map(len, failed)) + 1 if failed is not None else 0
    room = min(50, (term.width or 80) - label_width - count_width - failed_width - 3)
    largest = max(n for _, n in items)
    mark = "█" if term.fancy else "#"
    lines = [title]
    for index, (label, n) in enumerate(items):
        length = math.ceil(n * max(1, room) / largest) if n else 0
        bad = round(length * failing[index] / n) if failing is not None and n else 0
        bar = mark * (length - bad) + _failing_mark(term) * bad
        extra = failed[index].rjust(failed_width - 1) + " " if failed is not None else ""
        lines.append(
            f"{label.ljust(label_width)} {str(n).rjust(count_width)} {extra}{cut(bar, max(1, room))}".rstrip()
        )
    return "\n".join(lines)


def _failing_mark(term: Terminal) -> str:
    return "░" if term.fancy else "x"
