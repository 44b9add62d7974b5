"""Finding a call at 3 a.m. from what is at hand: a number on either side, a piece of a Call-ID."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner, Result

from sipparse.cli import cli
from tests.query.scenarios import Scenario, build, store_all


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)


def found(db_url: str, *args: str) -> set[str]:
    result = run(db_url, "calls", "--format", "json", "--limit", "0", *args)
    assert result.exit_code == 0, result.output
    return {r["call_id"] for r in json.loads(result.stdout)}


def _store(db_url: str, users: dict[str, tuple[str, str]]) -> None:
    t = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    store_all(db_url, [build(Scenario(call_id, t + timedelta(seconds=n), 200, from_user=a, to_user=b))
                       for n, (call_id, (a, b)) in enumerate(users.items())])


def test_user_finds_a_number_on_either_side_of_the_call(db_url: str) -> None:
    """sngrep's filter and HOMER's search look at both ends: a customer who says "my calls
    with 1000 fail" does not say which way they went."""
    _store(db_url, {"out@pbx": ("1000", "2000"), "in@pbx": ("3000", "1000"), "other@pbx": ("3000", "2000"),
                    "self@pbx": ("1000", "1000")})
    assert found(db_url, "--user", "1000") == {"out@pbx", "in@pbx", "self@pbx"}
    assert found(db_url, "--user", "2%") == {"out@pbx", "other@pbx"}
    assert found(db_url, "--user", "1000", "--from-user", "3000") == {"in@pbx"}
    assert found(db_url, "--user", "4000") == set()


def test_a_number_typed_with_spaces_or_dashes_finds_the_number_as_sent(db_url: str) -> None:
    """A number is read out and pasted as people write it (``+33 1 23 45 67 89``,
    ``555-0100``, ``(555) 010-0200``); a SIP URI's user carries it without the separators."""
    _store(db_url, {"fr@pbx": ("+33123456789", "100"), "us@pbx": ("100", "5550100"),
                    "dashed@pbx": ("555-0100", "100"), "paren@pbx": ("100", "5550100200")})
    assert found(db_url, "--from-user", "+33 1 23 45 67 89") == {"fr@pbx"}
    assert found(db_url, "--user", "+33.1.23.45.67.89") == {"fr@pbx"}
    assert found(db_url, "--to-user", "555-0100") == {"us@pbx"}
    assert found(db_url, "--from-user", "555-0100") == {"dashed@pbx"}  # as stored, too
    assert found(db_url, "--user", "(555) 010-0200") == {"paren@pbx"}
    assert found(db_url, "--user", "+33 1%") == {"fr@pbx"}


def _calls(db_url: str, *call_ids: str) -> None:
    t = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    store_all(db_url, [build(Scenario(call_id, t, 200)) for call_id in call_ids])


def shown(db_url: str, text: str) -> set[str]:
    result = run(db_url, "show", text, "--format", "json")
    assert result.exit_code == 0, result.output
    return {m["call_id"] for m in json.loads(result.stdout)}


def test_show_finds_a_call_by_a_piece_of_its_call_id(db_url: str) -> None:
    """What is at hand is often not the start of a Call-ID: the random part a phone's log
    shows without the ``@host``'s neighbour, the end of a hex id, a word in the middle."""
    _calls(db_url, "a84b4c76e66710@pc33.atlanta.com", "5f3c9e1d7a2b@10.0.0.5", "5f3c9e1d7a2c@10.0.0.5")
    assert shown(db_url, "e66710") == {"a84b4c76e66710@pc33.atlanta.com"}
    assert shown(db_url, "atlanta") == {"a84b4c76e66710@pc33.atlanta.com"}
    assert shown(db_url, "d7a2c@10.0.0.5") == {"5f3c9e1d7a2c@10.0.0.5"}
    result = run(db_url, "show", "@10.0.0.5")
    assert result.exit_code == 1
    assert "5f3c9e1d7a2b@10.0.0.5" in result.stderr and "5f3c9e1d7a2c@10.0.0.5" in result.stderr


def test_show_of_an_unknown_call_id_names_the_close_ones(db_url: str) -> None:
    """A digit mistyped or misread from a screenshot: the error offers the Call-IDs close to it."""
    _calls(db_url, "7-6947@127.0.0.1", "8-6947@127.0.0.1", "zzz-unrelated@host")
    result = run(db_url, "show", "7-6948@127.0.0.1")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        "Error: no call with Call-ID '7-6948@127.0.0.1' (nor one starting with it or holding it); "
        "close ones:")
    close = [line.strip() for line in result.stderr.splitlines()[1:]]
    assert close[0] == "7-6947@127.0.0.1" and "zzz-unrelated@host" not in close
    result = run(db_url, "show", "nothing-like-any")
    assert result.stderr == ("Error: no call with Call-ID 'nothing-like-any' "
                             "(nor one starting with it or holding it)\n")


def test_a_shell_wildcard_that_finds_nothing_is_answered_with_the_way_to_write_it(db_url: str) -> None:
    """sngrep's and a shell's habit, ``100*``, finds nothing: ``*`` is a character a user
    may hold (``*97``, a feature code), and a pattern is written with ``%``, as in SQL."""
    _store(db_url, {"vm@pbx": ("1000", "*97"), "out@pbx": ("1001", "2000")})
    result = run(db_url, "calls", "--from-user", "100*")
    assert result.exit_code == 0
    assert result.stderr == "No calls match. A pattern is written with %: --from-user '100%'.\n"
    assert run(db_url, "calls", "--user", "20?0").stderr == (
        "No calls match. A pattern is written with % (any text) and _ (one character): --user '20_0'.\n")
    assert found(db_url, "--to-user", "*97") == {"vm@pbx"}
    assert run(db_url, "calls", "--to-user", "*98").stderr == (
        "No calls match. A pattern is written with %: --to-user '%98'.\n")
    assert run(db_url, "calls", "--to-user", "3000").stderr == "No calls match.\n"


def test_show_of_a_call_two_hosts_logged_says_which_host_logged_each_message(db_url: str) -> None:
    """A trunk call between two PBXs is logged by both, each message twice: without the
    host, the table reads as every message sent twice."""
    t = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    store_all(db_url, [build(Scenario("trunk@pbx", t, 486, host="pbx-a")),
                       build(Scenario("trunk@pbx", t, 486, host="pbx-b")),
                       build(Scenario("local@pbx", t, 486, host="pbx-a"))])
    lines = run(db_url, "show", "trunk@pbx").stdout.splitlines()
    assert lines[0].split()[-1] == "host"
    rows = [line.split() for line in lines[2:] if line.split()[0].isdigit()]  # not SDP lines, nor rules
    assert sorted(row[-1] for row in rows) == ["pbx-a"] * 4 + ["pbx-b"] * 4
    assert "host" not in run(db_url, "show", "local@pbx").stdout.splitlines()[0].split()


def test_a_table_cut_by_the_limit_says_so_on_stderr(db_url: str) -> None:
    """Fifty rows look like all of them: the default --limit cut the list without a word."""
    _store(db_url, {f"c{n}@pbx": ("1000", "2000") for n in range(5)})
    cut = run(db_url, "calls", "--limit", "3")
    assert len(cut.stdout.splitlines()) == 2 + 3
    assert cut.stderr == "The 3 newest calls; more match (--limit 0 for all of them).\n"
    whole = run(db_url, "calls", "--limit", "5")
    assert len(whole.stdout.splitlines()) == 2 + 5 and whole.stderr == ""


def test_a_uri_pasted_from_a_header_finds_its_user(db_url: str) -> None:
    """What is at hand is often a From or To header's URI (``sip:1000@10.0.0.5``,
    ``tel:+33-1-23-45-67-89``, ``<sip:+331...;user=phone@gw>``): its user is the number."""
    _store(db_url, {"a@pbx": ("1000", "2000"), "b@pbx": ("+33123456789", "3000")})
    assert found(db_url, "--from-user", "sip:1000@10.0.0.5:5060") == {"a@pbx"}
    assert found(db_url, "--user", "<sips:2000@pbx.example.com;transport=tls>") == {"a@pbx"}
    assert found(db_url, "--user", "tel:+33-1-23-45-67-89") == {"b@pbx"}
    assert found(db_url, "--user", "sip:+33123456789@gw;user=phone") == {"b@pbx"}
    assert found(db_url, "--user", "sip:30%@gw") == {"b@pbx"}
