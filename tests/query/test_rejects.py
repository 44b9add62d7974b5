"""``rejects`` as asked at 3 a.m.: is it still happening, and since when?"""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner, Result

from sipparse.cli import cli
from tests.ingest.siplog import make_log


def broken(hhmmss: str) -> bytes:
    line = f"Mar  1 {hhmmss} pbx1 asterisk[6541]: ".encode()
    return (line + b"INVITE sip:x SIP/2.0\n" + line + b"CSeq: banana\n" + line + b"#015\n\n")


def run(db_url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--db", db_url, *args], catch_exceptions=False)


def test_rejects_show_when_and_take_a_time_range(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1) + broken("12:00:05") + make_log(1, first=1) + broken("13:00:07")
                    + make_log(1, first=2))
    assert run(db_url, "ingest", "--year", "2025", "--tz", "UTC", "--quiet", str(log)).exit_code == 0
    every = json.loads(run(db_url, "rejects", "--format", "json").stdout)
    assert len(every) == 2
    late = json.loads(run(db_url, "rejects", "--format", "json", "--utc", "--since", "2025-03-01 12:30").stdout)
    assert [r["timestamp"][:19] for r in late] == ["2025-03-01 13:00:07"]
    early = json.loads(run(db_url, "rejects", "--format", "json", "--utc", "--until", "2025-03-01 12:30").stdout)
    assert [r["timestamp"][:19] for r in early] == ["2025-03-01 12:00:05"]
    table = run(db_url, "rejects", "--utc").stdout.splitlines()
    assert table[0].split()[:3] == ["id", "time", "(UTC)"]
    assert table[2].split()[1:3] == ["2025-03-01", "13:00:07"]
    assert run(db_url, "rejects", "--tz", "Europe/Paris").stdout.splitlines()[2].split()[1:3] == [
        "2025-03-01", "14:00:07"]


def test_no_rejects_is_said_on_stderr_as_no_calls_is(db_url: str, tmp_path: Path) -> None:
    """A script counting the lines of ``rejects`` counted "no rejects stored" as one."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1) + broken("12:00:05") + make_log(1, first=1))
    assert run(db_url, "ingest", "--year", "2025", "--tz", "UTC", "--quiet", str(log)).exit_code == 0
    result = run(db_url, "rejects", "--since", "1h")
    assert result.exit_code == 0 and result.stdout == ""
    assert result.stderr == "No rejects match.\n"
