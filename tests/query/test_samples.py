"""The query commands over the ingested samples, checked against what the samples hold.

``seed-call.log`` must show as the seed document's table; the SIPp capture's answers
(which calls were busy, failed, answered, their setup times, every message in order) are
derived from ``truth.jsonl``, Wireshark's reading of the same traffic.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sipparse.cli import cli

DATA = Path(__file__).resolve().parents[1] / "data"
SEED_KEYS = ("call_id", "sip_method", "from_sip", "to_sip", "cseq", "cseq_method", "sdp_content", "timestamp")


def sipparse(db_url: str, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def ingest(db_url: str, name: str, year: int) -> None:
    path = str(DATA / name)
    sipparse(db_url, "ingest", "--year", str(year), "--tz", "UTC", "--no-progress", "--quiet", path)


def truth() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (DATA / "truth.jsonl").read_text().splitlines()]


def dialogs() -> dict[str, list[dict[str, Any]]]:
    calls: dict[str, list[dict[str, Any]]] = {}
    for message in truth():
        calls.setdefault(message["call_id"], []).append(message)
    return calls


def invite_dialogs() -> dict[str, list[dict[str, Any]]]:
    return {cid: ms for cid, ms in dialogs().items() if any(m["method"] == "INVITE" for m in ms)}


def finals(messages: list[dict[str, Any]]) -> set[int]:
    return {m["status_code"] for m in messages
            if m["type"] == "response" and m["cseq_method"] == "INVITE" and m["status_code"] >= 200}


def sample_year() -> int:
    return int(truth()[0]["time_iso"][:4])


def table_rows(text: str) -> list[dict[str, str]]:
    """Read back a plain table: columns start where their header starts; continuation
    lines of a multi-line cell are joined with newlines; dotted rules separate rows."""
    lines = text.splitlines()
    header = lines[0]
    names = header.split("  ")
    names = [n.strip() for n in names if n.strip()]
    starts = [header.index(n) for n in names]
    rows: list[dict[str, list[str]]] = []
    for line in lines[2:]:
        if set(line.replace(" ", "")) <= {"."}:
            continue
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [len(line) + 1], strict=True)]
        if cells[0]:
            rows.append({n: [c] for n, c in zip(names, cells, strict=True)})
        else:
            for n, c in zip(names, cells, strict=True):
                if c:
                    rows[-1][n].append(c)
    return [{n: "\n".join(v for v in vs if v) for n, vs in row.items()} for row in rows]


def test_seed_call_shows_as_the_seed_table(db_url: str) -> None:
    expected = json.loads((DATA / "seed-call.expected.json").read_text())
    ingest(db_url, "seed-call.log", 2025)
    call_id = expected[0]["call_id"]
    rows = json.loads(sipparse(db_url, "show", call_id, "--format", "json"))
    assert [{k: r[k] for k in SEED_KEYS} for r in rows] == [{k: e[k] for k in SEED_KEYS} for e in expected]
    table = table_rows(sipparse(db_url, "show", call_id, "--utc"))
    assert len(table) == len(expected) == 5
    for shown, want in zip(table, expected, strict=True):
        for key in ("call_id", "sip_method", "from_sip", "to_sip", "cseq", "sdp_content"):
            assert shown[key] == str(want[key] if want[key] is not None else ""), key
        assert shown["timestamp (UTC)"] == want["timestamp"]
    assert [int(r["id"]) for r in table] == sorted(int(r["id"]) for r in table)


def test_seed_call_by_prefix_in_every_shape(sqlite_url: str) -> None:
    ingest(sqlite_url, "seed-call.log", 2025)
    ladder = sipparse(sqlite_url, "show", "9-3973", "--format", "ladder", "--utc")
    assert "127.0.1.1:5060" in ladder and "192.168.29.146:5060" in ladder
    assert "audio 192.168.29.146:17492 PCMU/8000 sendrecv" in ladder
    raw = sipparse(sqlite_url, "show", "9-39%", "--format", "raw", "--utc")
    assert raw.count("# 2025-02-01 18:32:31 UTC") == 5
    assert "Reason: Q.850;cause=16" in raw
    calls = json.loads(sipparse(sqlite_url, "calls", "--format", "json"))
    assert [(c["state"], c["hangup_by"], c["q850_text"]) for c in calls] == [
        ("completed", "callee", "16 Normal clearing")]


def test_calls_of_the_capture_match_the_truth(db_url: str) -> None:
    ingest(db_url, "pjsip-full.log", sample_year())
    invites = invite_dialogs()
    listed = json.loads(sipparse(db_url, "calls", "--format", "json", "--limit", "0"))
    assert {c["call_id"] for c in listed} == set(invites)
    busy = {cid for cid, ms in invites.items() if finals(ms) & {486, 600}}
    got = json.loads(sipparse(db_url, "calls", "--status", "busy", "--format", "json", "--limit", "0"))
    assert busy and {c["call_id"] for c in got} == busy
    failed = {cid for cid, ms in invites.items() if finals(ms) & {404, 503}}
    got = json.loads(sipparse(db_url, "calls", "--status", "failed", "--format", "json", "--limit", "0"))
    assert failed and failed <= {c["call_id"] for c in got}
    code_486 = json.loads(sipparse(db_url, "calls", "--status", "486", "--format", "json", "--limit", "0"))
    assert {c["call_id"] for c in code_486} == {cid for cid, ms in invites.items() if 486 in finals(ms)}
    everything = json.loads(sipparse(db_url, "calls", "--kind", "all", "--format", "json", "--limit", "0"))
    assert {c["call_id"] for c in everything} == set(dialogs())


def test_show_has_every_message_of_every_call_in_order(db_url: str) -> None:
    ingest(db_url, "pjsip-full.log", sample_year())
    for call_id, messages in dialogs().items():
        rows = json.loads(sipparse(db_url, "show", call_id, "--format", "json"))
        assert [r["sip_method"].split(" ")[0] for r in rows] == [m["method"] or str(m["status_code"])
                                                                 for m in messages], call_id
        assert [r["direction"] for r in rows] == [{"received": "in"}.get(m["direction"], "out")
                                                  for m in messages], call_id


def test_ladder_of_a_marked_log_puts_asterisk_between_peers(sqlite_url: str) -> None:
    ingest(sqlite_url, "pjsip-full.log", sample_year())
    call_id, messages = next(iter(invite_dialogs().items()))
    ladder = sipparse(sqlite_url, "show", call_id, "--format", "ladder")
    peer = messages[0]["src"] if messages[0]["direction"] == "received" else messages[0]["dst"]
    header = ladder.splitlines()[2]
    assert header.split() == [peer, "Asterisk"]
    arrows = [line for line in ladder.splitlines() if ">|" in line or "|<" in line]
    assert len(arrows) == len(messages)
    assert "INVITE" in ladder and "200 OK" in ladder


def test_setup_times_match_the_truth(sqlite_url: str) -> None:
    """The RFC 5424 log keeps microseconds, so setup times can be compared to the capture."""
    ingest(sqlite_url, "pjsip-rfc5424.log", sample_year())
    out = sipparse(sqlite_url, "calls", "--status", "answered", "--format", "json", "--limit", "0")
    listed = json.loads(out)
    assert listed
    for call in listed:
        messages = dialogs()[call["call_id"]]
        invite = next(m for m in messages if m["method"] == "INVITE")
        answer = next(m for m in messages if m["type"] == "response" and m["cseq_method"] == "INVITE"
                      and 200 <= m["status_code"] < 300)
        expected = (_moment(answer) - _moment(invite)).total_seconds() * 1000
        assert abs(call["setup_ms"] - expected) <= 1, call["call_id"]


def _moment(message: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(message["time_iso"]).replace(tzinfo=None)


def test_stats_of_the_capture_match_the_truth(db_url: str) -> None:
    ingest(db_url, "pjsip-full.log", sample_year())
    figures = json.loads(sipparse(db_url, "stats", "--format", "json"))
    invites = invite_dialogs()
    answered = [cid for cid, ms in invites.items() if any(200 <= f < 300 for f in finals(ms))]
    assert figures["calls"]["attempted"] == len(invites)
    assert figures["calls"]["answered"] == len(answered)
    assert figures["asr"] == round(100 * len(answered) / len(invites), 2)
    assert figures["calls"]["busy"] == sum(1 for ms in invites.values() if finals(ms) & {486, 600})
    by_code = {f["status"]: f for f in figures["failures"]}
    assert by_code[486]["count"] == sum(1 for ms in invites.values() if 486 in finals(ms))
    assert by_code[486]["reason"] == "Busy Here"
    messages = truth()
    assert figures["messages"]["total"] == len(messages)
    assert figures["messages"]["requests"] == dict(Counter(m["method"] for m in messages if m["method"]))
    codes = Counter(m["status_code"] for m in messages if m["status_code"])
    assert figures["messages"]["responses"] == {str(k): v for k, v in codes.items()}
    text = sipparse(db_url, "stats")
    assert "ASR:" in text and "Busy Here" in text


@pytest.mark.parametrize("fmt", ["table", "json", "raw", "ladder"])
def test_unknown_call_is_one_line_exit_1(sqlite_url: str, fmt: str) -> None:
    ingest(sqlite_url, "seed-call.log", 2025)
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "show", "no-such-call", "--format", fmt])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
