"""``show``, ``calls`` and ``stats`` through the CLI over a real database (SQLite and MariaDB)."""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sipparse.cli import cli
from sipparse.query.stats import percentile
from sipparse.store import open_store
from tests.ingest.siplog import make_log
from tests.query.scenarios import Scenario, build, standard, store_all


@pytest.fixture
def traffic(db_url: str) -> tuple[str, list[Scenario]]:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    scenarios = standard(now)
    store_all(db_url, scenarios)
    return db_url, scenarios


def run(db_url: str, *args: str, columns: str | None = None) -> Result:
    env = {"COLUMNS": columns} if columns else {}
    return CliRunner(env=env).invoke(cli, ["--db", db_url, *args], catch_exceptions=False)


def ok(db_url: str, *args: str, columns: str | None = None) -> str:
    result = run(db_url, *args, columns=columns)
    assert result.exit_code == 0, result.output
    return result.output


def calls_json(db_url: str, *args: str) -> list[dict]:
    return json.loads(ok(db_url, "calls", "--format", "json", "--limit", "0", *args))


def ids(rows: list[dict]) -> set[str]:
    return {r["call_id"] for r in rows}


def calls_of(scenarios: list[Scenario]) -> list[Scenario]:
    return [s for s in scenarios if s.kind == "call"]


def test_every_call_is_listed_newest_first_with_its_state(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    rows = calls_json(db_url)
    expected = sorted(calls_of(scenarios), key=lambda s: s.start, reverse=True)
    assert [r["call_id"] for r in rows] == [s.call_id for s in expected]
    assert {r["call_id"]: r["state"] for r in rows} == {s.call_id: s.state for s in expected}
    by_id = {r["call_id"]: r for r in rows}
    for sc in expected:
        assert by_id[sc.call_id]["final_status"] == sc.final
        assert by_id[sc.call_id]["from_user"] == sc.from_user
    answered = [s for s in expected if s.final == 200]
    assert {by_id[s.call_id]["setup_ms"] for s in answered} == {s.setup_ms for s in answered}


@pytest.mark.parametrize(
    ("status", "wanted"),
    [
        ("busy", lambda s: s.final in (486, 600)),
        ("failed", lambda s: s.state == "failed"),
        ("answered", lambda s: s.final == 200),
        ("completed", lambda s: s.final == 200 and s.talk_s is not None),
        ("in-progress", lambda s: s.final is None),
        ("cancelled", lambda s: s.cancel),
        ("no-answer", lambda s: s.final == 480),
        ("redirected", lambda s: s.final == 302),
        ("3xx", lambda s: s.final == 302),
        ("486", lambda s: s.final == 486),
        ("4xx", lambda s: s.final is not None and 400 <= s.final < 500),
        ("busy,503", lambda s: s.final in (486, 503)),
    ],
)
def test_status_filter(traffic, status: str, wanted) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    expected = {s.call_id for s in calls_of(scenarios) if wanted(s)}
    assert ids(calls_json(db_url, "--status", status)) == expected


def test_failed_includes_404_and_503(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    got = ids(calls_json(db_url, "--status", "failed"))
    assert {s.call_id for s in scenarios if s.final in (404, 503)} <= got


def test_spaces_around_what_is_typed_find_the_same_calls_on_every_backend(traffic) -> None:  # type: ignore[no-untyped-def]
    """A Call-ID or user copied from a terminal with a space after it: MySQL's collation
    ignores trailing spaces, SQLite does not; both answer as for the value without them."""
    db_url, scenarios = traffic
    shown = json.loads(ok(db_url, "show", " busy-2@pbx ", "--format", "json"))
    assert {m["call_id"] for m in shown} == {"busy-2@pbx"}
    wanted = {s.call_id for s in calls_of(scenarios) if s.from_user == "102"}
    assert wanted and ids(calls_json(db_url, "--from-user", "102 ")) == wanted
    assert ids(calls_json(db_url, "--host", "pbx2\t", "--kind", "all")) == {
        s.call_id for s in scenarios if s.host == "pbx2"}


def test_time_user_host_and_kind_filters(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    now = datetime.now(UTC).replace(tzinfo=None)
    recent = {s.call_id for s in calls_of(scenarios) if s.start >= now - timedelta(hours=1)}
    assert recent and ids(calls_json(db_url, "--since", "1h")) == recent
    assert ids(calls_json(db_url, "--since", "-1h")) == recent  # journalctl's way of writing it
    older = {s.call_id for s in calls_of(scenarios) if s.start < now - timedelta(days=1)}
    assert older and ids(calls_json(db_url, "--until", "1d")) == older
    def where(test) -> set[str]:  # type: ignore[no-untyped-def]
        return {s.call_id for s in scenarios if test(s)}

    assert ids(calls_json(db_url, "--from-user", "102")) == where(lambda s: s.from_user == "102")
    assert ids(calls_json(db_url, "--to-user", "30%")) == where(lambda s: s.to_user.startswith("30"))
    assert ids(calls_json(db_url, "--host", "pbx2")) == where(lambda s: s.host == "pbx2")
    assert ids(calls_json(db_url, "--kind", "all")) == where(lambda s: True)
    assert ids(calls_json(db_url, "--kind", "register")) == where(lambda s: s.kind == "register")


def test_patterns_match_the_same_calls_on_every_backend(db_url: str) -> None:
    """``%`` patterns are case-sensitive, as ``=`` and Call-IDs are, and ``\\``, ``*``, ``?``
    and ``[`` stand for themselves: SQLite's LIKE folds case and MySQL's reads a backslash."""
    t = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    users = {"up@pbx": "Alice", "low@pbx": "alice", "under@pbx": "a_ice", "back@pbx": "al\\ice",
             "star@pbx": "al*ce", "brk@pbx": "[al]ice", "Mixed-1@pbx": "bob", "mixed-2@pbx": "bob"}
    store_all(db_url, [build(Scenario(call_id, t, 200, from_user=user)) for call_id, user in users.items()])

    def by(pattern: str) -> set[str]:
        return ids(calls_json(db_url, "--from-user", pattern))

    assert by("al%") == {"low@pbx", "back@pbx", "star@pbx"}
    assert by("A%") == {"up@pbx"}
    assert by("a_ice%") == {"low@pbx", "under@pbx"}
    assert by("al\\%") == {"back@pbx"}
    assert by("%*%") == {"star@pbx"}
    assert by("al?ce%") == set()
    assert by("[al]%") == {"brk@pbx"}
    shown = json.loads(ok(db_url, "show", "M%", "--format", "json"))
    assert {m["call_id"] for m in shown} == {"Mixed-1@pbx"}


def test_absolute_since_in_the_display_zone(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    cut = max(s.start for s in calls_of(scenarios)) - timedelta(minutes=5)
    local = cut.replace(tzinfo=UTC).astimezone(datetime.now().astimezone().tzinfo)
    text = local.strftime("%Y-%m-%d %H:%M:%S")
    expected = {s.call_id for s in calls_of(scenarios) if s.start >= cut}
    assert ids(calls_json(db_url, "--since", text)) == expected
    assert ids(calls_json(db_url, "--utc", "--since", cut.isoformat(sep=" "))) == expected


def test_limit_keeps_the_newest(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    newest = sorted(calls_of(scenarios), key=lambda s: s.start, reverse=True)[:3]
    rows = json.loads(ok(db_url, "calls", "--format", "json", "--limit", "3"))
    assert [r["call_id"] for r in rows] == [s.call_id for s in newest]


def test_csv_has_the_json_fields(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    rows = list(csv.DictReader(io.StringIO(ok(db_url, "calls", "--format", "csv", "--limit", "0"))))
    assert {r["call_id"] for r in rows} == {s.call_id for s in calls_of(scenarios)}
    busy = [r for r in rows if r["state"] == "busy"]
    assert {r["final_status"] for r in busy} == {"486"}
    assert all(r["final_reason"] == "Busy Here" for r in busy)


def test_json_and_csv_give_every_summary_column(traffic) -> None:  # type: ignore[no-untyped-def]
    """The leg's direction and the answer and end times too: a script can tell a B2BUA's
    inbound leg from its outbound one, and place the answer, without reading the messages."""
    db_url, scenarios = traffic
    by_id = {r["call_id"]: r for r in calls_json(db_url)}
    for sc in calls_of(scenarios):
        row = by_id[sc.call_id]
        assert row["direction"] == "in"
        answered = sc.final is not None and sc.final < 300
        answer = sc.start + timedelta(milliseconds=sc.setup_ms) if answered else None
        end = answer + timedelta(seconds=sc.talk_s) if answer and sc.talk_s is not None else None
        assert (row["answered_at"], row["ended_at"]) == (stored(answer), stored(end))
    text = ok(db_url, "calls", "--format", "csv", "--limit", "0")
    assert list(csv.DictReader(io.StringIO(text)).fieldnames or []) == list(next(iter(by_id.values())))


def test_a_log_stamped_to_the_second_gives_whole_second_figures(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Asterisk's default dateformat has no fraction: a setup of "0.000s" would claim a
    precision the log does not have, so the call list and ladder show whole seconds."""
    log = tmp_path / "full"
    log.write_bytes(make_log(1, dialect="full"))
    ok(db_url, "ingest", "--year", "2025", "--tz", "UTC", "--quiet", str(log))
    row = ok(db_url, "calls", "--utc").splitlines()[2].split()
    assert row[4:9] == ["completed", "200", "OK", "0s", "0s"]
    ladder = ok(db_url, "show", "0-call@10.0.0.1", "--format", "ladder", "--utc")
    assert "12:00:00 " in ladder and "+0s " in ladder and ".000" not in ladder


def stored(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(" ")


def test_table_is_plain_and_fits_columns(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    out = ok(db_url, "calls", "--utc", "--limit", "0")
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["start", "(UTC)", "from"]
    assert len(lines) == 2 + len(calls_of(scenarios))
    assert out.isascii() and "\x1b" not in out
    assert "callee, 16 Normal clearing" in out
    narrow = ok(db_url, "calls", "--limit", "0", columns="70")
    assert all(len(line) <= 70 for line in narrow.splitlines())
    assert "~" in narrow


def test_no_calls_is_said_on_stderr(db_url: str) -> None:
    result = CliRunner().invoke(cli, ["--db", db_url, "calls"])
    assert result.exit_code == 0 and result.stdout == ""
    assert "No calls match." in result.stderr


def test_show_json_has_every_message_in_order(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    sc = next(s for s in scenarios if s.call_id == "ans-2@pbx")
    rows = json.loads(ok(db_url, "show", sc.call_id, "--format", "json"))
    in_order = sorted(sc.messages, key=lambda m: m.timestamp)
    assert [r["sip_method"] for r in rows] == [m.sip_method for m in in_order]
    for key in ("id", "call_id", "from_sip", "to_sip", "cseq", "sdp_content", "timestamp", "direction",
                "status_code", "cseq_method", "host", "peer", "raw_message"):
        assert key in rows[0]
    assert rows[0]["timestamp"] == sc.start.isoformat(sep=" ")


def test_show_finds_prefixes_and_patterns(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, _ = traffic
    prefixed = json.loads(ok(db_url, "show", "busy-2", "--format", "json"))
    assert {r["call_id"] for r in prefixed} == {"busy-2@pbx"}
    pattern = json.loads(ok(db_url, "show", "%nf-1%", "--format", "json"))
    assert {r["call_id"] for r in pattern} == {"nf-1@pbx"}


def test_show_finds_a_call_id_copied_from_a_cut_table_cell(traffic) -> None:  # type: ignore[no-untyped-def]
    """A double click on a Call-ID the calls table cut takes its ellipsis along."""
    db_url, _ = traffic
    for copied in ("busy-2@p…", "busy-2@p~"):
        rows = json.loads(ok(db_url, "show", copied, "--format", "json"))
        assert {r["call_id"] for r in rows} == {"busy-2@pbx"}
    assert run(db_url, "show", "busy…").exit_code == 1  # still two calls
    assert run(db_url, "show", "…").exit_code == 1


def test_ambiguous_and_unknown_call_ids_exit_1(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, _ = traffic
    result = run(db_url, "show", "busy")
    assert result.exit_code == 1
    assert "busy-1@pbx" in result.stderr and "busy-2@pbx" in result.stderr
    result = run(db_url, "show", "nosuchcall")
    assert result.exit_code == 1
    assert result.stderr == "Error: no call with Call-ID 'nosuchcall' (nor one starting with it or holding it)\n"


def test_show_several_legs_interleaved(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    legs = [s for s in scenarios if s.call_id in ("busy-1@pbx", "busy-2@pbx")]
    rows = json.loads(ok(db_url, "show", "busy-1@pbx", "busy-2@pbx", "--format", "json"))
    assert len(rows) == sum(len(s.messages) for s in legs)
    assert [r["timestamp"] for r in rows] == sorted(r["timestamp"] for r in rows)
    ladder = ok(db_url, "show", "busy-1@pbx", "busy-2@pbx", "--format", "ladder")
    assert "[1] Call-ID busy-1@pbx" in ladder and "[2] INVITE" in ladder
    assert "(retransmission)" in ladder


def test_show_table_raw_and_ladder(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    sc = next(s for s in scenarios if s.call_id == "ans-1@pbx")
    table = ok(db_url, "show", sc.call_id, "--utc")
    assert table.splitlines()[0].split() == ["id", "call_id", "sip_method", "from_sip", "to_sip", "cseq",
                                             "sdp_content", "timestamp", "(UTC)", "direction"]
    assert sc.start.isoformat(sep=" ") in table
    raw = ok(db_url, "show", sc.call_id, "--format", "raw", "--utc")
    headers = [line for line in raw.splitlines() if line.startswith("# ")]
    assert len(headers) == len(sc.messages)
    assert headers[0] == f"# {sc.start.isoformat(sep=' ')} UTC  received from UDP:10.0.0.5:5060  host pbx1"
    ladder = ok(db_url, "show", sc.call_id, "--format", "ladder")
    assert "10.0.0.5:5060" in ladder and "Asterisk" in ladder
    assert "INVITE SDP" in ladder and "200 OK SDP" in ladder
    assert "audio 10.0.0.1:17000 PCMU/8000,telephone-event/8000" in ladder


def test_show_raw_prints_each_message_byte_for_byte(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """CRLF and bytes that are not UTF-8 reach a bug report as the PBX logged them."""
    log = tmp_path / "full"
    log.write_bytes(make_log(1, dialect="full").replace(b"Max-Forwards: 70", b"User-Agent: Caf\xe9 \xff", 1))
    ok(db_url, "ingest", "--no-progress", "--tz", "UTC", "--year", "2025", str(log))
    out = CliRunner().invoke(cli, ["--db", db_url, "show", "0-call", "--format", "raw"]).stdout_bytes
    stored = stored_raw_messages(db_url, "0-call@10.0.0.1")
    assert b"User-Agent: Caf\xe9 \xff\r\n" in stored[0]
    assert out.startswith(b"# ") and out.count(b"\n# ") == len(stored) - 1 == 5
    assert all(b"\n" + raw in out for raw in stored) and out.endswith(stored[-1])


def stored_raw_messages(db_url: str, call_id: str) -> list[bytes]:
    """The raw_message of each message of a call, in order, as the database holds it."""
    with open_store(db_url) as store:
        rows = store.fetchall("SELECT raw_message FROM sip_transactions WHERE call_id = ? ORDER BY timestamp, id",
                              (call_id,))
    return [bytes(r["raw_message"]) for r in rows]


def test_show_in_another_zone(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    sc = scenarios[0]
    berlin = sc.start.replace(tzinfo=UTC).astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin"))
    out = ok(db_url, "show", sc.call_id, "--tz", "Europe/Berlin")
    assert "timestamp (Europe/Berlin)" in out
    assert berlin.strftime("%Y-%m-%d %H:%M:%S") in out


def test_stats_figures_match_the_traffic(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    figures = json.loads(ok(db_url, "stats", "--format", "json"))
    calls = calls_of(scenarios)
    answered = [s for s in calls if s.final == 200]
    user_ended = [s for s in calls if s.final in (480, 486, 487, 600, 603)]
    assert figures["calls"]["attempted"] == len(calls)
    assert figures["calls"]["answered"] == len(answered)
    assert figures["calls"]["busy"] == sum(s.state == "busy" for s in calls)
    assert figures["calls"]["redirected"] == sum(s.state == "redirected" for s in calls) == 1
    assert figures["asr"] == round(100 * len(answered) / len(calls), 2)
    assert figures["ner"] == round(100 * (len(answered) + len(user_ended)) / len(calls), 2)
    setups = [float(s.setup_ms) for s in answered]
    assert figures["setup_ms"]["p50"] == percentile(setups, 50)
    assert figures["setup_ms"]["p95"] == percentile(setups, 95)
    assert {f["status"]: f["count"] for f in figures["failures"]}[486] == sum(s.final == 486 for s in calls)
    assert figures["messages"]["total"] == sum(len(s.messages) for s in scenarios)
    assert figures["messages"]["requests"]["INVITE"] == sum(
        m.method == "INVITE" for s in scenarios for m in s.messages)
    assert figures["retransmissions"] >= sum(s.retransmit_invite for s in scenarios)
    assert figures["dialogs"] == {"call": len(calls), "register": 1}
    completed = [s for s in calls if s.state == "completed"]
    assert sum(b["count"] for b in figures["duration"]) == len(completed)
    talk = sum(s.talk_s for s in completed)
    assert figures["talk_time_s"] == pytest.approx(talk)
    assert figures["acd_s"] == pytest.approx(talk / len(completed))
    assert {b["text"]: b["count"] for b in figures["bye_causes"]}["16 Normal clearing"] == sum(
        s.cause == 16 for s in completed)
    assert sum(b["count"] for b in figures["calls_per_minute"]["bars"]) == len(calls)
    assert figures["top_failing_destinations"][0] == {"user": "300", "count": 2}


def test_stats_text_and_range(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    out = ok(db_url, "stats")
    assert "ASR:" in out and "NER:" in out and "486" in out and "Busy Here" in out
    assert "Normal clearing" in out and "Calls per" in out
    recent = json.loads(ok(db_url, "stats", "--since", "1h", "--format", "json"))
    now = datetime.now(UTC).replace(tzinfo=None)
    within = [s for s in calls_of(scenarios) if s.start >= now - timedelta(hours=1)]
    assert recent["calls"]["attempted"] == len(within)


@pytest.mark.parametrize(
    "args",
    [["calls", "--since", "yesterday-ish"], ["calls", "--status", "weird"], ["stats", "--tz", "Mars/Base"],
     ["show", "--format", "pdf", "x"], ["calls", "--limit", "-1"],
     # numbers past what a date or an SQL integer holds
     ["calls", "--limit", "9" * 20], ["rejects", "--limit", "9" * 20], ["calls", "--since", "100000000d"],
     ["calls", "--since", "9" * 20 + "h"], ["calls", "--until", "0001-01-01"], ["stats", "--since", "100000000d"],
     ["purge", "--older-than", "100000000d"], ["purge", "--older-than", "0001-01-01"]],
)
def test_bad_usage_exits_2(sqlite_url: str, args: list[str]) -> None:
    result = run(sqlite_url, *args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output and "unexpected" not in result.output


SEED = Path(__file__).parents[1] / "data" / "seed-call.log"


@pytest.mark.parametrize("command", [["calls"], ["stats"], ["show", "9-3973"]])
def test_an_empty_tz_is_bad_usage_and_local_is_the_machines_zone(sqlite_url: str, command: list[str]) -> None:
    """``--tz "$ZONE"`` with ZONE unset showed the machine's zone as if no --tz had been given;
    ``--tz local``, which ingest takes, was refused as an unknown zone."""
    ok(sqlite_url, "ingest", "--year", "2025", "--tz", "UTC", "--quiet", str(SEED))
    empty = run(sqlite_url, *command, "--tz", "")
    assert empty.exit_code == 2 and "Invalid value for '--tz': empty" in empty.stderr
    assert ok(sqlite_url, *command, "--tz", "local") == ok(sqlite_url, *command)


@pytest.mark.parametrize("args", [
    ["calls", "--since", "1h", "--until", "2h"], ["stats", "--since", "1h", "--until", "2h"],
    ["calls", "--utc", "--since", "2025-02-01", "--until", "2025-02-01"],
])
def test_a_range_that_ends_before_it_starts_is_bad_usage_not_empty(sqlite_url: str, args: list[str]) -> None:
    """``--since 1h --until 2h`` (the two swapped) answered "No calls match", and stats all
    zeros, as if nothing had happened in the hour."""
    result = run(sqlite_url, *args)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--until'" in result.stderr and "is not after --since" in result.stderr


@pytest.mark.parametrize("command", [["calls"], ["stats"], ["show", "x"]])
def test_unreachable_database_is_one_line_exit_1(command: list[str]) -> None:
    result = CliRunner().invoke(cli, ["--db", "mysql://nobody@127.0.0.1:1/sip", *command])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def _logged(call_id: str, first_line: str = "INVITE sip:1@pbx SIP/2.0") -> str:
    packet = (f"{first_line}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1\r\nFrom: <sip:a@pbx>;tag=1\r\n"
              f"To: <sip:b@pbx>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n")
    return (f"[2025-06-01 09:00:00] VERBOSE[1] res_pjsip_logger.c: <--- Received SIP request "
            f"({len(packet)} bytes) from UDP:10.0.0.1:5060 --->\n{packet}\n")


def test_call_ids_too_long_for_the_column_stay_apart_and_can_be_shown(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    alike = "x" * 600
    log = tmp_path / "pjsip"
    log.write_text(_logged(alike + "-A") + _logged(alike + "-B", "SIP/2.0 486 Busy Here")
                   + _logged(alike + "-A", "SIP/2.0 200 OK") + _logged("a%b") + _logged("aXb"))
    ok(db_url, "ingest", "--tz", "UTC", "--no-progress", str(log))
    listed = calls_json(db_url)
    assert len(listed) == 4 and all(len(c["call_id"]) <= 512 for c in listed)
    shown = json.loads(ok(db_url, "show", alike + "-A", "--format", "json"))
    assert [r["sip_method"] for r in shown] == ["INVITE", "200 OK"]
    assert {r["call_id"] for r in shown} == {c["call_id"] for c in listed if c["message_count"] == 2}
    exact = json.loads(ok(db_url, "show", "a%b", "--format", "json"))  # a Call-ID with a % in it
    assert {r["call_id"] for r in exact} == {"a%b"}
    assert run(db_url, "show", "a%").exit_code == 1  # a pattern matching both


def test_a_pattern_of_more_calls_than_are_looked_at_says_over(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """1001 calls: '%' matches them all, and the error must not claim it matches 1000."""
    log = tmp_path / "pjsip.log"
    log.write_bytes(make_log(1001))
    ok(db_url, "ingest", "--no-progress", "--tz", "UTC", "--year", "2025", str(log))
    result = run(db_url, "show", "%")
    assert result.exit_code == 1
    assert "'%' matches over 1000 calls" in result.output and "... and over 980 more" in result.output
    result = run(db_url, "show", "1")  # 1, 10-19, 100-199 and 1000
    assert "'1' matches 112 calls" in result.output and "... and 92 more" in result.output


def test_any_three_digit_status_a_log_holds_can_be_asked_for(db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    log = tmp_path / "pjsip"
    log.write_text(_logged("odd-1") + _logged("odd-1", "SIP/2.0 999 Beyond The Rfc") + _logged("fine-1")
                   + _logged("fine-1", "SIP/2.0 486 Busy Here"))
    ok(db_url, "ingest", "--tz", "UTC", "--no-progress", str(log))
    assert ids(calls_json(db_url, "--status", "999")) == {"odd-1"}
    assert ids(calls_json(db_url, "--status", "9xx")) == {"odd-1"}
    assert ids(calls_json(db_url, "--status", "4xx,999")) == {"odd-1", "fine-1"}


def test_show_lists_a_message_without_a_time_stamp_last_as_the_summary_takes_it(db_url: str) -> None:
    from sipparse.query.show import fetch_messages
    from sipparse.sip.message import Source
    from sipparse.store import open_store
    from tests.store.factory import completed_call

    call = completed_call("nots@x", Source("/var/log/asterisk/pjsip", "fp-nots"), datetime(2025, 5, 1, 9))
    call.messages[2].timestamp = None
    with open_store(db_url) as store:
        store.write_batch(call.messages)
        shown = fetch_messages(store, ["nots@x"])
    assert [m["source_offset"] for m in shown] == [m.offset for m in call.messages[:2] + call.messages[3:]] + [
        call.messages[2].offset]


def test_host_finds_a_call_that_host_logged_after_another_one(db_url: str, tmp_path: Path) -> None:
    """A call over a trunk between two PBXs is in both logs; each host's --host lists it."""
    for host in ("pbx1", "pbx2"):
        log = tmp_path / f"{host}.log"
        log.write_bytes(make_log(2, host=host) if host == "pbx1" else make_log(1, host=host))
        ok(db_url, "ingest", "--no-progress", "--tz", "UTC", "--year", "2025", str(log))
    both = ids(calls_json(db_url))
    assert len(both) == 2
    assert ids(calls_json(db_url, "--host", "pbx1")) == both
    shared = ids(calls_json(db_url, "--host", "pbx2"))
    assert len(shared) == 1 and shared < both
    assert calls_json(db_url, "--host", "pbx3") == []


def test_stats_of_one_host_count_its_calls_and_messages(traffic) -> None:  # type: ignore[no-untyped-def]
    """``stats --host`` gives one PBX's figures: the calls ``calls --host`` lists, and the
    messages that host logged."""
    db_url, scenarios = traffic
    mine = [s for s in scenarios if s.host == "pbx2"]
    figures = json.loads(ok(db_url, "stats", "--host", " pbx2", "--format", "json"))
    assert figures["host"] == "pbx2"
    assert 0 < figures["calls"]["attempted"] == len(calls_of(mine)) < len(calls_of(scenarios))
    assert figures["calls"]["answered"] == sum(s.final == 200 for s in calls_of(mine))
    assert figures["messages"]["total"] == sum(len(s.messages) for s in mine)
    assert figures["dialogs"] == {k: n for k in ("call", "register")
                                  if (n := sum(s.kind == k for s in mine))}
    assert "Host:             pbx2" in ok(db_url, "stats", "--host", "pbx2")
    assert json.loads(ok(db_url, "stats", "--format", "json"))["host"] is None
    nobody = json.loads(ok(db_url, "stats", "--host", "pbx9", "--format", "json"))
    assert nobody["calls"]["attempted"] == nobody["messages"]["total"] == 0


def test_stats_of_a_host_include_the_trunk_calls_another_host_logged_first(db_url: str, tmp_path: Path) -> None:
    logs = {"pbx1": make_log(2, host="pbx1"), "pbx2": make_log(1, host="pbx2")}
    for host, text in logs.items():
        log = tmp_path / f"{host}.log"
        log.write_bytes(text)
        ok(db_url, "ingest", "--no-progress", "--tz", "UTC", "--year", "2025", str(log))
    figures = {host: json.loads(ok(db_url, "stats", "--host", host, "--format", "json")) for host in logs}
    assert figures["pbx2"]["calls"]["attempted"] == len(calls_json(db_url, "--host", "pbx2")) == 1
    assert figures["pbx1"]["calls"]["attempted"] == 2
    total = json.loads(ok(db_url, "stats", "--format", "json"))["messages"]["total"]
    assert figures["pbx1"]["messages"]["total"] + figures["pbx2"]["messages"]["total"] == total


@pytest.mark.parametrize("command", [["calls"], ["stats"], ["rejects"], ["show", "9-3973"]])
def test_debug_shows_the_traceback_of_a_database_error(tmp_path, command: list[str],  # type: ignore[no-untyped-def]
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """As the README says of --debug; without it the same error is one line."""
    from sipparse.cli import run

    (tmp_path / "x.db").write_bytes(b"not a database\n" * 300)
    for debug in ([], ["--debug"]):
        with pytest.raises(SystemExit) as exc:
            run(["--db", f"sqlite:///{tmp_path / 'x.db'}", *debug, *command])
        err = capsys.readouterr().err
        assert exc.value.code == 1
        assert err.endswith("cannot open the database: file is not a database\n")
        assert ("Traceback (most recent call last)" in err) == bool(debug), err


@pytest.mark.parametrize(("stamp", "zone", "shown"), [
    ("0001-01-01T00:30:00Z", "America/New_York", "0001-01-01 00:30:00+00:00"),
    ("9999-12-31T23:30:00Z", "Asia/Tokyo", "9999-12-31 23:30:00+00:00"),
])
def test_a_time_the_display_zone_cannot_hold_is_shown_in_utc(sqlite_url: str, tmp_path: Path, stamp: str,
                                                             zone: str, shown: str) -> None:
    """A log's time in the first hours of year 1 (or last of 9999) is a time of the previous
    (next) year west (east) of Greenwich, which no datetime holds: said in UTC, not a crash."""
    sample = (Path(__file__).parents[1] / "data" / "pjsip-rfc5424.log").read_text()
    log = tmp_path / "pjsip"
    log.write_text("\n".join(stamp + line[line.index(" "):] if line else line for line in sample.split("\n")))
    ok(sqlite_url, "ingest", "--tz", "UTC", "--quiet", str(log))
    assert shown in ok(sqlite_url, "calls", "--tz", zone)
    assert shown in ok(sqlite_url, "show", "1-6347@127.0.0.1", "--tz", zone)
    assert shown in ok(sqlite_url, "stats", "--tz", zone)


@pytest.mark.parametrize(("stamp", "zone", "shown"), [
    ("0001-01-01T00:30:00Z", "Asia/Tokyo", "0001-01-01 09:48:59"),
    ("0001-01-01T00:30:00Z", "America/New_York", "0001-01-01 00:30:00+00:00"),
    ("9999-12-31T23:30:00Z", "Asia/Tokyo", "9999-12-31 23:30:00+00:00"),
])
def test_the_first_and_last_hours_of_datetime_show_in_the_machines_zone(
        sqlite_url: str, tmp_path: Path, stamp: str, zone: str, shown: str, monkeypatch: pytest.MonkeyPatch) -> None:
    sample = (Path(__file__).parents[1] / "data" / "pjsip-rfc5424.log").read_text()
    log = tmp_path / "pjsip"
    log.write_text("\n".join(stamp + line[line.index(" "):] if line else line for line in sample.split("\n")))
    ok(sqlite_url, "ingest", "--tz", "UTC", "--quiet", str(log))
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        for command in (["calls"], ["show", "1-6347@127.0.0.1"], ["stats"]):
            assert shown in ok(sqlite_url, *command), command
    finally:
        monkeypatch.undo()
        time.tzset()


def _pdd(sc: Scenario) -> int | None:
    """A scenario's post-dial delay: its INVITE gets 100 Trying, then its final response."""
    return sc.setup_ms if sc.final is not None else None


def test_calls_give_the_post_dial_delay_in_json_csv_and_the_table(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    rows = calls_json(db_url)
    assert {r["call_id"]: r["pdd_ms"] for r in rows} == {s.call_id: _pdd(s) for s in calls_of(scenarios)}
    assert list(rows[0])[-1] == "pdd_ms"  # after the columns a CSV had before, which keep their places
    text = ok(db_url, "calls", "--format", "csv", "--limit", "0")
    by_id = {r["call_id"]: r for r in csv.DictReader(io.StringIO(text))}
    assert by_id["ans-1@pbx"]["pdd_ms"] == "800"
    table = ok(db_url, "calls", "--utc", "--limit", "0", columns="200").splitlines()
    assert "pdd" in table[0].split()
    row = next(line for line in table if line.endswith(" ans-1@pbx"))
    assert "0.800s" in row.split()


def test_show_names_the_post_dial_delay_in_the_ladder_title(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, _ = traffic
    ladder = ok(db_url, "show", "ans-1@pbx", "--format", "ladder", "--utc")
    assert ladder.splitlines()[0].endswith("(UTC)  PDD 0.800s")
    legs = ok(db_url, "show", "busy-1@pbx", "up-1@pbx", "--format", "ladder", "--utc").splitlines()
    assert "[1] Call-ID busy-1@pbx  PDD 1.500s" in legs and "[2] Call-ID up-1@pbx  PDD 0.900s" in legs


def test_stats_give_post_dial_delay_percentiles(traffic) -> None:  # type: ignore[no-untyped-def]
    db_url, scenarios = traffic
    figures = json.loads(ok(db_url, "stats", "--format", "json"))
    delays = [float(d) for s in calls_of(scenarios) if (d := _pdd(s)) is not None]
    assert figures["pdd_ms"] == {"count": len(delays), "p50": percentile(delays, 50),
                                 "p95": percentile(delays, 95), "p99": percentile(delays, 99), "max": max(delays)}
    text = ok(db_url, "stats")
    setup = next(n for n, line in enumerate(text.splitlines()) if line.startswith("Setup time"))
    assert text.splitlines()[setup + 1].startswith(f"Post-dial delay (calls, n={len(delays)}): p50 ")
