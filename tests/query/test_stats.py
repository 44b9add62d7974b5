"""Stats figures from plain rows: ratios, percentiles, buckets, causes, histogram bars."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from sipparse.query.q850 import cause_text
from sipparse.query.render import Terminal
from sipparse.query.stats import DURATION_BUCKETS, compute, percentile, render_stats_text, weighted_percentile
from sipparse.query.times import Clock

CLOCK = Clock(zone=UTC)
START = datetime(2025, 2, 1, 18, 0)


def call(state: str, final: int | None, minute: int = 0, **extra: object) -> dict:
    row = {"first_seen": (START + timedelta(minutes=minute)).isoformat(sep=" "), "state": state,
           "final_status": final, "final_reason": {200: "OK", 486: "Busy Here", 503: "Service Unavailable",
                                                   487: "Request Terminated"}.get(final or 0),
           "setup_ms": None, "duration_s": None, "from_user": "100", "to_user": "200", "hangup_by": None,
           "q850_cause": None}
    row.update(extra)
    return row


def aggregate(calls: list[dict]) -> dict[str, list[dict]]:
    """What ``gather``'s GROUP BY queries return, computed the plain way."""
    def grouped(rows: list[dict], *keys: str) -> list[dict]:
        counts = Counter(tuple(r[k] for k in keys) for r in rows)
        return [dict(zip(keys, key, strict=True), n=n) for key, n in counts.items()]

    answered = [c for c in calls if c["state"] in ("answered", "completed") and c["setup_ms"] is not None]
    failing = [dict(c, who=c["to_user"]) for c in calls if c["state"] in ("failed", "busy", "no-answer")]
    timed = [c for c in calls if c["duration_s"] is not None]
    buckets = [next(i for i, (_, top) in enumerate(DURATION_BUCKETS) if c["duration_s"] < top) for c in timed]
    durations = [{"bucket": b, "n": buckets.count(b),
                  "seconds": sum(c["duration_s"] for c, o in zip(timed, buckets, strict=True) if o == b)}
                 for b in sorted(set(buckets))]
    return {
        "outcomes": grouped(calls, "state", "final_status", "final_reason", "q850_cause"),
        "setup": grouped(answered, "setup_ms"),
        "pdd": grouped([c for c in calls if c.get("pdd_ms") is not None], "pdd_ms"),
        "durations": durations,
        "to_users": sorted(grouped(failing, "who"), key=lambda r: -r["n"])[:5],
        "from_users": sorted(grouped([dict(c, who=c["from_user"]) for c in failing], "who"), key=lambda r: -r["n"]),
        "causes": grouped([c for c in calls if c["state"] == "completed"], "q850_cause"),
        "minutes": [dict(r, failing=sum(c["first_seen"][:16] == r["minute"] and c["state"] in
                                        ("failed", "busy", "no-answer") for c in calls))
                    for r in grouped([{"minute": c["first_seen"][:16]} for c in calls], "minute")],
        "kinds": [{"kind": "call", "n": len(calls), "retransmissions": 2}],
        "messages": [{"method": "INVITE", "status_code": None, "n": 3}, {"method": None, "status_code": 200, "n": 2}],
    }


def figures(calls: list[dict]) -> dict:
    return compute(aggregate(calls), CLOCK)


@given(st.lists(st.tuples(st.integers(0, 5000), st.integers(1, 20)), min_size=1, max_size=50),
       st.sampled_from([1, 50, 95, 99, 100]))
def test_percentile_of_grouped_values_is_the_plain_one(counts: list[tuple[int, int]], p: int) -> None:
    values = [float(v) for v, n in counts for _ in range(n)]
    assert weighted_percentile([(float(v), n) for v, n in counts], p) == percentile(values, p)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=200), st.sampled_from([50, 95, 99]))
def test_nearest_rank_percentile(values: list[float], p: int) -> None:
    value = percentile(values, p)
    assert value in values
    below = sum(v <= value for v in values)
    assert below >= p / 100 * len(values)
    assert sum(v < value for v in values) < p / 100 * len(values) or value == min(values)


def test_ratios_and_counts() -> None:
    calls = [call("completed", 200, setup_ms=800, duration_s=12, q850_cause=16),
             call("answered", 200, setup_ms=1200), call("busy", 486, to_user="300"),
             call("failed", 503, to_user="300", from_user="101"), call("cancelled", 487),
             call("in-progress", None, minute=40)]
    f = figures(calls)
    assert f["calls"]["attempted"] == 6 and f["calls"]["answered"] == 2
    assert f["asr"] == round(100 * 2 / 6, 2)
    assert f["ner"] == round(100 * 4 / 6, 2)  # answered + 486 + 487
    assert [(x["status"], x["reason"], x["count"]) for x in f["failures"]] == [
        (486, "Busy Here", 1), (487, "Request Terminated", 1), (503, "Service Unavailable", 1)]
    assert f["setup_ms"]["p50"] == 800 and f["setup_ms"]["max"] == 1200
    assert {b["bucket"]: b["count"] for b in f["duration"]}["10-30s"] == 1
    assert f["top_failing_destinations"] == [{"user": "300", "count": 2}]
    assert f["bye_causes"] == [{"cause": 16, "text": "16 Normal clearing", "count": 1}]
    assert f["messages"] == {"total": 5, "requests": {"INVITE": 3}, "responses": {"200": 2}}
    assert f["retransmissions"] == 2


def test_failures_by_status_name_the_q850_causes_behind_them() -> None:
    """A 503 is a trunk out of channels (34) or a network down (38): what to do about it at
    3 a.m. differs, and sngrep and HOMER show the Reason header beside the status."""
    calls = ([call("failed", 503, q850_cause=34)] * 3 + [call("failed", 503, q850_cause=38)]
             + [call("failed", 503)] + [call("busy", 486, q850_cause=17)] * 2)
    f = figures(calls)
    assert f["failures"] == [
        {"status": 503, "reason": "Service Unavailable", "count": 5, "q850_causes": [
            {"cause": 34, "text": cause_text(34), "count": 3}, {"cause": 38, "text": cause_text(38), "count": 1},
            {"cause": None, "text": None, "count": 1}]},
        {"status": 486, "reason": "Busy Here", "count": 2, "q850_causes": [
            {"cause": 17, "text": "17 User busy", "count": 2}]}]
    lines = render_stats_text(f, CLOCK, Terminal()).splitlines()
    head = lines.index("Failures by final status")
    assert lines[head + 1].split() == ["status", "reason", "Q.850", "cause", "calls"]
    assert lines[head + 3] == ("   503  Service Unavailable  34 No circuit/channel available 3, "
                               "38 Network out of order 1, none 1      5")
    assert lines[head + 4].startswith("   486  Busy Here            17 User busy")


def test_ratios_shown_are_the_exact_ones_rounded_once() -> None:
    calls = [call("completed", 200)] * 6 + [call("busy", 486)] * 2 + [call("failed", 503)] * 5
    f = figures(calls)
    assert (f["asr"], f["ner"], f["calls"]["user_ended"]) == (46.15, 61.54, 2)
    text = render_stats_text(f, CLOCK, Terminal())
    assert "ASR:              46.2% (answered / attempted)" in text  # 6/13 = 46.154%, not 46.1%
    assert "NER:              61.5% (answered + ended by the user side / attempted)" in text


def test_empty_range_has_no_ratios() -> None:
    f = figures([])
    assert f["asr"] is None and f["ner"] is None and f["setup_ms"]["p50"] is None
    text = render_stats_text(f, CLOCK, Terminal())
    assert "ASR:              n/a" in text


def test_histogram_widens_its_bars_to_stay_short() -> None:
    short = figures([call("completed", 200, minute=m) for m in (0, 0, 3)])["calls_per_minute"]
    assert short["minutes_per_bar"] == 1 and [b["count"] for b in short["bars"]] == [2, 0, 0, 1]
    day = figures([call("completed", 200, minute=m) for m in range(0, 24 * 60, 7)])["calls_per_minute"]
    assert day["minutes_per_bar"] == 60 and len(day["bars"]) <= 30
    assert sum(b["count"] for b in day["bars"]) == len(range(0, 24 * 60, 7))


def test_histogram_of_months_stays_short_with_bars_of_whole_days() -> None:
    year = figures([call("completed", 200, minute=m) for m in range(0, 365 * 1440, 1440)])
    bars = year["calls_per_minute"]
    assert bars["minutes_per_bar"] == 13 * 1440 and len(bars["bars"]) <= 30
    assert sum(b["count"] for b in bars["bars"]) == 365
    assert "Calls per 13 days (UTC)" in render_stats_text(year, CLOCK, Terminal())
    hours = figures([call("completed", 200, minute=m) for m in range(0, 3 * 1440, 7)])
    assert "Calls per 3 hours (UTC)" in render_stats_text(hours, CLOCK, Terminal())


def test_histogram_bars_begin_on_the_hour_and_at_midnight_of_the_display_zone() -> None:
    berlin = Clock(zone=ZoneInfo("Europe/Berlin"))
    # 20 days across the change to summer time (2025-03-30): bars of a day
    start = datetime(2025, 3, 20, 23, 30)  # 00:30 on 21 March in Berlin
    rows = [call("completed", 200, minute=int((start - START).total_seconds() // 60) + d * 1440)
            for d in range(20)]
    bars = compute(aggregate(rows), berlin)["calls_per_minute"]
    assert bars["minutes_per_bar"] == 1440
    assert all(b["start"].endswith(" 00:00:00") for b in bars["bars"])
    assert bars["bars"][0]["start"] == "2025-03-21 00:00:00" and all(b["count"] == 1 for b in bars["bars"])
    kolkata = Clock(zone=ZoneInfo("Asia/Kolkata"))  # UTC+05:30
    hours = compute(aggregate([call("completed", 200, minute=m) for m in range(0, 1440, 7)]), kolkata)
    assert all(b["start"].endswith(":00:00") for b in hours["calls_per_minute"]["bars"])


def test_histogram_of_the_second_of_two_repeated_hours_begins_in_it() -> None:
    """Calls at 02:30 and 02:50 of the second 02:00 to 03:00 in Berlin (winter time, 25
    October 2026): no bars of the first one, an hour earlier, come before them."""
    berlin = Clock(zone=ZoneInfo("Europe/Berlin"))
    first = int((datetime(2026, 10, 25, 1, 30) - START).total_seconds() // 60)
    bars = compute(aggregate([call("completed", 200, minute=first + m) for m in (0, 20)]), berlin)["calls_per_minute"]
    assert bars["bars"][0] == {"start": "2026-10-25 02:30:00+01:00", "count": 1, "failing": 0}
    assert len(bars["bars"]) == 21


def test_acd_is_the_mean_duration_of_the_calls_whose_duration_is_known() -> None:
    calls = [call("completed", 200, duration_s=s) for s in (30, 90, 187.5)] + [call("answered", 200),
                                                                              call("busy", 486)]
    f = figures(calls)
    assert (f["acd_s"], f["talk_time_s"]) == (102.5, 307.5)
    text = render_stats_text(f, CLOCK, Terminal())
    assert "ACD:              1:42 (mean duration of 3 completed calls; talk time 5:08)" in text
    assert "ACD:              n/a" in render_stats_text(figures([call("busy", 486)]), CLOCK, Terminal())


def test_every_duration_lands_in_one_bucket() -> None:
    seconds = [0, 9.9, 10, 59, 60, 299, 300, 899, 900, 3599, 3600, 86400]
    f = figures([call("completed", 200, duration_s=s) for s in seconds])
    assert sum(b["count"] for b in f["duration"]) == len(seconds)
    assert [b["bucket"] for b in f["duration"]] == [label for label, _ in DURATION_BUCKETS]


def test_q850_words() -> None:
    assert cause_text(16) == "16 Normal clearing"
    assert cause_text(17) == "17 User busy"
    assert cause_text(34) == "34 No circuit/channel available"
    assert cause_text(127) == "127 Interworking, unspecified"
    assert cause_text(250) == "250 Unknown cause"
    # Asterisk puts cause 0 (its AST_CAUSE_NOTDEFINED) in the Reason of every 487 after a
    # CANCEL, and the barred-call causes 52 and 54 in its own table
    assert cause_text(0) == "0 Not defined"
    assert cause_text(52) == "52 Outgoing call barred"
    assert cause_text(54) == "54 Incoming call barred"
    assert cause_text(24) == "24 Call rejected due to feature at the destination"
    assert cause_text(None) == ""


def test_text_report_sections() -> None:
    text = render_stats_text(figures([call("busy", 486, minute=1), call("completed", 200, duration_s=5)]),
                             CLOCK, Terminal(width=60))
    for title in ("Failures by final status", "Call duration", "Messages (5)", "Top failing destinations",
                  "Calls per minute (UTC)"):
        assert title in text
    assert all(len(line) <= 60 for line in text.splitlines())


def test_setup_times_of_a_log_stamped_to_the_second_are_whole_seconds() -> None:
    """As calls shows them: 0.000s would claim an instant answer the log cannot tell."""
    whole = figures([call("completed", 200, setup_ms=ms, duration_s=5) for ms in (0, 1000, 2000)])
    fine = figures([call("completed", 200, setup_ms=ms, duration_s=5) for ms in (2, 1004, 2000)])
    assert "p50 1s, p95 2s, p99 2s, max 2s" in render_stats_text(whole, CLOCK, Terminal())
    assert "p50 1.004s, p95 2.000s" in render_stats_text(fine, CLOCK, Terminal())
