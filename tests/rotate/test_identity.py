"""A file started after a rotation must never be taken for the file it replaced.

Ingest knows a file by a fingerprint of its first bytes. Consecutive SIP messages often
share their first log line ("Nov 29 14:09:11 pbx1 asterisk[6541]: ACK sip:1000@... SIP/2.0"
for every call set up in that second), so the new log may start with the very line the old
one started with.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.logs.files import FINGERPRINT_MIN_BYTES, fingerprint_of
from tests.ingest.helpers import count, ingest_ok

DATA = Path(__file__).resolve().parents[1] / "data"


def two_runs_with_the_same_first_line() -> tuple[bytes, bytes]:
    """Three messages of the sample, then three others whose first line is the same."""
    text = (DATA / "pjsip-syslog.log").read_bytes()
    blocks = [b.lstrip(b"\n") + b"\n\n" for b in text.split(b"\n\n") if b.strip()]
    by_first_line = collections.defaultdict(list)
    for i, block in enumerate(blocks):
        by_first_line[block.split(b"\n", 1)[0]].append(i)
    first, second = next(v for v in by_first_line.values() if len(v) > 1 and v[1] - v[0] >= 3)[:2]
    return b"".join(blocks[first:first + 3]), b"".join(blocks[second:second + 3])


def test_new_log_starting_like_the_rotated_one_is_still_ingested(sqlite_url: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIPPARSE_LOCK_DIR", str(tmp_path / "locks"))
    old, new = two_runs_with_the_same_first_line()
    assert old.split(b"\n", 1)[0] == new.split(b"\n", 1)[0] and old != new
    log = tmp_path / "pjsip"
    log.write_bytes(old)
    ingest_ok(sqlite_url, str(log))
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "rotate", "--tz", "UTC", str(log)])
    assert result.exit_code == 0, result.output
    log.write_bytes(new)
    ingest_ok(sqlite_url, str(log))
    assert count(sqlite_url) == 6


def test_a_log_too_short_for_ingest_to_identify_is_not_rotated_yet(sqlite_url: str, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Once renamed it would never grow into an identity, and its lines would never be read."""
    monkeypatch.setenv("SIPPARSE_LOCK_DIR", str(tmp_path / "locks"))
    log = tmp_path / "pjsip"
    short = b"x" * (FINGERPRINT_MIN_BYTES - 2) + b"\n"
    log.write_bytes(short)
    assert fingerprint_of(short) is None
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "rotate", "-v", str(log)])
    assert result.exit_code == 0
    assert result.output == f"skipped {log}: {len(short)} bytes, too short for ingest to identify yet\n"
    log.write_bytes(short * 2)
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "rotate", str(log)])
    assert result.exit_code == 0 and sorted(p.name for p in tmp_path.iterdir() if "pjsip" in p.name) == [
        "pjsip", "pjsip.1"]
