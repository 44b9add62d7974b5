"""The ingest step of `sipparse rotate`: with the real ingest, on both backends; no rotation without it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from tests.ingest.helpers import count, dump, ingest_ok
from tests.ingest.siplog import make_log
from tests.rotate.helpers import names

DATA = Path(__file__).resolve().parents[1] / "data"
EXAMPLE_CONFIG = Path(__file__).resolve().parents[2] / "examples" / "sipparse" / "sipparse.toml"


@pytest.fixture
def log(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIPPARSE_LOCK_DIR", str(tmp_path / "locks"))
    monkeypatch.delenv("SIPPARSE_CONFIG", raising=False)
    (tmp_path / "log").mkdir()
    path = tmp_path / "log" / "pjsip"
    shutil.copy(DATA / "pjsip-full.log", path)
    return path


def rotate(db_url: str, *args: str) -> object:
    return CliRunner().invoke(cli, ["--db", db_url, "rotate", "--tz", "UTC", *args])


def test_rotate_ingests_the_whole_file_first_and_says_so(db_url: str, log: Path, tmp_path: Path) -> None:
    size = log.stat().st_size
    result = rotate(db_url, "-v", str(log))
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.output.splitlines()[0] == f"ingested {size} bytes from {log}"
    reference = f"sqlite:///{tmp_path / 'ref.db'}"
    ingest_ok(reference, str(DATA / "pjsip-full.log"))
    assert dump(db_url) == dump(reference)
    # ingest afterwards finds nothing new: the renamed file kept its checkpoint
    assert ingest_ok(db_url, str(log)).startswith("0 files, 0 bytes, 0 messages new")


def test_database_down_means_no_rotation(log: Path) -> None:
    result = rotate("mysql://sipparse@127.0.0.1:9/sip", str(log))
    assert result.exit_code == 1 and "127.0.0.1:9" in str(result.exception)
    assert names(log.parent) == ["pjsip"]


def test_the_example_config_rotate_section_is_understood(tmp_path: Path, log: Path) -> None:
    text = EXAMPLE_CONFIG.read_text().replace("/usr/lib/rsyslog/rsyslog-rotate", "true")
    config = tmp_path / "sipparse.toml"
    config.write_text(_local_config(text, tmp_path, log))
    result = CliRunner().invoke(cli, ["--config", str(config), "rotate", "-v", "--min-size", "1"])
    assert result.exit_code == 0, (result.output, result.exception)
    assert result.output.splitlines()[-1] == "ran postrotate 'true' (exit 0)"
    assert names(log.parent) == ["pjsip", "pjsip.1"]


def _local_config(example: str, tmp_path: Path, log: Path) -> str:
    """The example's [rotate] section, with a local database and log."""
    rotate_section = example[example.index("[rotate]"):]
    return (f'[database]\nurl = "sqlite:///{tmp_path / "sip.db"}"\n'
            f'[ingest]\npaths = ["{log}"]\ntz = "UTC"\n' + rotate_section)


def test_old_generations_are_read_before_max_age_deletes_them(db_url: str, log: Path, tmp_path: Path) -> None:
    """The live file too small to rotate, a generation past max-age that still holds lines
    never read (written after the run that read the rest): read first, then deleted. The
    year is given: the generation's mtime, set 40 days back, may be before its lines' day."""
    sample = (DATA / "pjsip-full.log").read_bytes()
    cut = sample.index(b"\n[", len(sample) // 2) + 1
    log.write_bytes(sample[:cut])
    ingest_ok(db_url, "--year", "2025", str(log))
    with open(log, "ab") as late:  # appended by the writer after the run, then renamed away
        late.write(sample[cut:])
    log.rename(log.parent / "pjsip.1")
    log.write_bytes(b"")
    old = log.stat().st_mtime - 40 * 86400
    os.utime(log.parent / "pjsip.1", (old, old))
    result = rotate(db_url, "-v", "--max-age", "30d", "--min-size", "10M", "--year", "2025", str(log))
    assert result.exit_code == 0, (result.output, result.exception)
    said = result.output.splitlines()
    assert [line.split()[0] for line in said] == ["skipped", "ingested", "deleted"], said
    assert names(log.parent) == ["pjsip"]
    reference = f"sqlite:///{tmp_path / 'ref.db'}"
    ingest_ok(reference, "--year", "2025", str(DATA / "pjsip-full.log"))
    assert dump(db_url) == dump(reference)


@pytest.mark.skipif(shutil.which("xz") is None, reason="xz is not installed")
def test_a_generation_an_earlier_logrotate_left_is_read_before_keep_deletes_it(db_url: str, log: Path,
                                                                              tmp_path: Path) -> None:
    """Its lines never read (written after ingest's last look) are stored first."""
    ingest_ok(db_url, str(log))
    before = count(db_url)
    left = log.parent / "pjsip.2"
    left.write_bytes(make_log(3, first=50))
    subprocess.run(["xz", str(left)], check=True)
    time.sleep(0.01)
    with open(log, "ab") as fh:  # the log goes on, newer than what was left
        fh.write(make_log(2, first=90))
    result = rotate(db_url, "--keep", "1", str(log))
    assert result.exit_code == 0, (result.output, result.exception)
    assert names(log.parent) == ["pjsip", "pjsip.1"]
    reference = f"sqlite:///{tmp_path / 'ref.db'}"
    (tmp_path / "left").write_bytes(make_log(3, first=50))
    ingest_ok(reference, str(tmp_path / "left"))
    assert count(db_url) >= before + count(reference) > before
