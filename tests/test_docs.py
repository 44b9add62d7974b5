"""Every command has help and is documented in the README; the README's links resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.cli.base import COMMAND_MODULES

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_command_has_help(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert len(result.output.splitlines()) > 3


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_command_is_documented(name: str) -> None:
    assert f"`sipparse {name}" in README


def test_help_lists_exactly_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    listed = re.findall(r"^  (\w+)\s", result.output.split("Commands:")[1], re.M)
    assert sorted(listed) == sorted(COMMAND_MODULES)


def test_readme_links_exist() -> None:
    for target in re.findall(r"\]\(([^)#:]+)\)", README):
        assert (ROOT / target).exists(), target


def test_quick_start_has_two_commands() -> None:
    quick = README.split("## Quick start")[1].split("\n## ")[0]
    assert quick.count("```sh") == 2


def test_the_readme_query_of_a_calls_messages_gives_them_on_sqlite(tmp_path: Path) -> None:
    """The SQL the README gives for an SQLite database finds the seed call's five messages
    through the call's number, without reading the whole table."""
    import sqlite3

    sql = next(block for block in re.findall(r"```sql\n(.*?)```", README, re.S) if "call_ref" in block)
    db = tmp_path / "sip.db"
    argv = ["--db", f"sqlite:///{db}", "ingest", "--year", "2025", "--tz", "UTC", "--no-progress",
            str(ROOT / "tests" / "data" / "seed-call.log")]
    assert CliRunner().invoke(cli, argv).exit_code == 0
    con = sqlite3.connect(db)
    rows = con.execute(sql).fetchall()
    plan = " ".join(str(step) for step in con.execute("EXPLAIN QUERY PLAN " + sql))
    con.close()
    assert len(rows) == 5
    assert "ix_sip_transactions_call_ref" in plan and "SCAN sip_transactions" not in plan


def test_the_readme_ladder_is_what_show_prints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Quick start's ladder of the seed call, as the README shows it, line for line."""
    import time

    monkeypatch.setenv("TZ", "Etc/UTC")
    time.tzset()
    try:
        shown = re.search(r"```\n(Call-ID 9-3973@127\.0\.1\.1 .*?)```", README, re.S)
        assert shown, "no ladder in the README"
        db = f"sqlite:///{tmp_path / 'sip.db'}"
        seed = str(ROOT / "tests" / "data" / "seed-call.log")
        runner = CliRunner()
        assert runner.invoke(cli, ["--db", db, "ingest", "--year", "2025", "--tz", "UTC", "--no-progress",
                                   seed]).exit_code == 0
        result = runner.invoke(cli, ["--db", db, "show", "9-3973@127.0.1.1", "--format", "ladder"])
        assert result.exit_code == 0, result.output
        assert result.output == shown.group(1)
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_readme_show_table_names_its_columns() -> None:
    """The columns the README lists for `show`'s table are the table's, in order."""
    from sipparse.query.show import TABLE_COLUMNS

    listed = re.search(r"sipparse show 9-3973@127\.0\.1\.1 +# table: (.*)", README)
    assert listed
    assert listed.group(1).split(", ") == list(TABLE_COLUMNS)


def test_the_readme_summary_line_is_what_ingest_prints(tmp_path: Path) -> None:
    """The README's summary line is that of tests/data/pjsip-syslog.log, but for its timings;
    the words examples/README.md tells a user to look for are in it."""
    shown = re.search(r"```\n(\d+ files, .*)\n```", README)
    assert shown
    db = f"sqlite:///{tmp_path / 'sip.db'}"
    result = CliRunner().invoke(cli, ["--db", db, "ingest", "--no-progress",
                                      str(ROOT / "tests" / "data" / "pjsip-syslog.log")])
    assert result.exit_code == 0, result.output
    timings = re.compile(r", [\d.]+ s, [\d.]+ MiB/s$")
    assert timings.sub("", result.output.strip()) == timings.sub("", shown.group(1))
    assert timings.search(shown.group(1))
    examples = (ROOT / "examples" / "README.md").read_text()
    step = re.search(r"`sipparse ingest` prints `N (messages new)` with N > 0 and `(0 rejected)`", examples)
    assert step and step.group(1) in result.output and step.group(2) in result.output
