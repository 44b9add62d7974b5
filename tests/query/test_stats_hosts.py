"""``stats`` at 3 a.m.: which Asterisk host of a shared database is failing, and since when."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.query.render import Terminal
from sipparse.query.stats import by_host, render_stats_text
from tests.query.scenarios import standard, store_all
from tests.query.test_stats import CLOCK, call, figures


def row(host: str | None, state: str, final: int | None, n: int) -> dict:
    return {"host": host, "state": state, "final_status": final, "n": n}


def test_each_host_has_its_attempts_answers_failures_and_ratios() -> None:
    rows = [row("pbx-a", "completed", 200, 8), row("pbx-a", "busy", 486, 2), row("pbx-b", "failed", 503, 3),
            row("pbx-b", "answered", 200, 1), row(None, "cancelled", 487, 1)]
    assert by_host(rows) == [
        {"host": "pbx-a", "attempted": 10, "answered": 8, "failing": 2, "user_ended": 2, "asr": 80.0, "ner": 100.0},
        {"host": "pbx-b", "attempted": 4, "answered": 1, "failing": 3, "user_ended": 0, "asr": 25.0, "ner": 25.0},
        {"host": None, "attempted": 1, "answered": 0, "failing": 0, "user_ended": 1, "asr": 0.0, "ner": 100.0},
    ]


def test_the_stats_of_several_hosts_compare_them_and_of_one_do_not(db_url: str) -> None:
    scenarios = standard(datetime.now(UTC).replace(tzinfo=None, microsecond=0))
    store_all(db_url, scenarios)
    calls = [s for s in scenarios if s.kind == "call"]
    result = CliRunner().invoke(cli, ["--db", db_url, "stats", "--format", "json"])
    assert result.exit_code == 0, result.output
    hosts = {h["host"]: h for h in json.loads(result.stdout)["hosts"]}
    assert {name: h["attempted"] for name, h in hosts.items()} == {
        "pbx1": sum(s.host == "pbx1" for s in calls), "pbx2": sum(s.host == "pbx2" for s in calls)}
    assert hosts["pbx2"]["failing"] == 1  # its one call was busy
    text = CliRunner().invoke(cli, ["--db", db_url, "stats"]).stdout
    lines = text.splitlines()
    head = lines.index("By host (each call under the host that logged its first request)")
    assert lines[head + 1].split() == ["host", "attempted", "answered", "failing", "ASR", "NER"]
    assert [line.split()[0] for line in lines[head + 3:head + 5]] == ["pbx1", "pbx2"]
    one = CliRunner().invoke(cli, ["--db", db_url, "stats", "--host", "pbx2"]).stdout
    assert "By host" not in one


def test_one_host_alone_is_not_compared_with_itself() -> None:
    stats = {"hosts": by_host([row("pbx-a", "completed", 200, 3)])}
    assert stats["hosts"]
    assert "By host" not in render_stats_text({**figures([]), **stats}, CLOCK, Terminal())


def test_the_calls_per_time_bars_show_the_failing_ones_so_when_it_began_shows() -> None:
    calls = ([call("completed", 200, minute=0)] * 4 + [call("completed", 200, minute=1)] * 2
             + [call("failed", 503, minute=1)] * 2 + [call("cancelled", 487, minute=2)])
    f = figures(calls)
    assert [(b["count"], b["failing"]) for b in f["calls_per_minute"]["bars"]] == [(4, 0), (4, 2), (1, 0)]
    lines = render_stats_text(f, CLOCK, Terminal()).splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Calls per minute"))
    assert lines[head] == "Calls per minute (UTC); x: failed, busy or not answered"
    assert lines[head + 1:head + 4] == [
        "2025-02-01 18:00:00 4   " + "#" * 50,
        "2025-02-01 18:01:00 4 2 " + "#" * 25 + "x" * 25,
        "2025-02-01 18:02:00 1   " + "#" * 13]
