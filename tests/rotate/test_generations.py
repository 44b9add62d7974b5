"""keep N, compression with delaycompress, dateext, max-age and min-size, on real files."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from sipparse.errors import ConfigError
from sipparse.rotate import Outcome, options_from, parse_age, parse_size
from tests.rotate.helpers import Recorder, all_lines, append_lines, names, read_any, rotate

NOON = time.mktime((2026, 11, 29, 12, 0, 0, 0, 0, -1))


@pytest.fixture
def log(tmp_path: Path) -> Path:
    directory = tmp_path / "log"
    directory.mkdir()
    return directory / "pjsip"


def test_first_rotation_renames_and_recreates_with_same_mode(log: Path) -> None:
    written = append_lines(log, "a")
    os.chmod(log, 0o640)
    summary, actions = rotate(log)
    assert summary.results[0].outcome is Outcome.ROTATED
    assert names(log.parent) == ["pjsip", "pjsip.1"]
    assert (log.parent / "pjsip.1").read_bytes() == b"".join(written)
    assert log.stat().st_size == 0 and (log.stat().st_mode & 0o777) == 0o640
    assert f"renamed {log} -> {log}.1" in actions


def test_delaycompress_keeps_newest_plain_and_gzips_it_when_it_becomes_second(log: Path) -> None:
    first = append_lines(log, "a")
    rotate(log)
    second = append_lines(log, "b")
    rotate(log)
    assert names(log.parent) == ["pjsip", "pjsip.1", "pjsip.2.gz"]
    assert read_any(log.parent / "pjsip.2.gz") == b"".join(first)
    assert (log.parent / "pjsip.1").read_bytes() == b"".join(second)


def test_no_delaycompress_gzips_the_newest_at_once(log: Path) -> None:
    first = append_lines(log, "a")
    rotate(log, delaycompress=False)
    assert names(log.parent) == ["pjsip", "pjsip.1.gz"]
    assert read_any(log.parent / "pjsip.1.gz") == b"".join(first)


def test_no_compress_keeps_every_generation_plain(log: Path) -> None:
    for tag in "abc":
        append_lines(log, tag)
        rotate(log, compress=False)
    assert names(log.parent) == ["pjsip", "pjsip.1", "pjsip.2", "pjsip.3"]


@pytest.mark.parametrize("keep", [1, 2, 4])
def test_keep_n_generations_and_the_newest_lines_survive(log: Path, keep: int) -> None:
    batches = []
    for i in range(keep + 3):
        batches.append(append_lines(log, f"r{i}", 20))
        rotate(log, keep=keep)
    expected = ["pjsip", "pjsip.1"] + [f"pjsip.{n}.gz" for n in range(2, keep + 1)]
    assert names(log.parent) == expected
    kept = [line for batch in batches[-keep:] for line in batch]
    assert all_lines(log.parent) == sorted(kept)
    # generation n holds the n-th newest rotation
    assert read_any(log.parent / expected[-1]) == b"".join(batches[-keep])


def test_compressed_generation_keeps_mode_owner_and_mtime(log: Path) -> None:
    append_lines(log, "a")
    os.chmod(log, 0o604)
    rotate(log)
    plain = log.parent / "pjsip.1"
    os.utime(plain, (NOON, NOON))
    before = plain.stat()
    append_lines(log, "b")
    rotate(log)
    gz = (log.parent / "pjsip.2.gz").stat()
    assert (gz.st_mode & 0o777, gz.st_uid, gz.st_gid) == (0o604, before.st_uid, before.st_gid)
    assert int(gz.st_mtime) == int(NOON)


def test_crash_leftovers_plain_and_gz_of_one_generation_are_resolved_from_the_plain(log: Path) -> None:
    append_lines(log, "cur")
    full = b"".join(append_lines(log.parent / "pjsip.1", "old"))
    with gzip.open(log.parent / "pjsip.1.gz", "wb") as fh:
        fh.write(full[:100])  # a half-written .gz next to the complete plain file
    rotate(log)
    assert names(log.parent) == ["pjsip", "pjsip.1", "pjsip.2.gz"]
    assert read_any(log.parent / "pjsip.2.gz") == full


def test_dateext_names_and_same_day_rotation_does_not_clobber(log: Path) -> None:
    batches = []
    for _ in range(3):
        batches.append(append_lines(log, f"d{len(batches)}"))
        rotate(log, dateext=True, now=NOON)
    assert names(log.parent) == ["pjsip", "pjsip-20261129-1.gz", "pjsip-20261129-2", "pjsip-20261129.gz"]
    assert read_any(log.parent / "pjsip-20261129.gz") == b"".join(batches[0])
    assert read_any(log.parent / "pjsip-20261129-1.gz") == b"".join(batches[1])
    assert (log.parent / "pjsip-20261129-2").read_bytes() == b"".join(batches[2])


def test_dateext_keep_drops_oldest_days(log: Path) -> None:
    for day in range(5):
        append_lines(log, f"day{day}")
        rotate(log, dateext=True, keep=3, now=NOON + day * 86400)
    assert names(log.parent) == ["pjsip", "pjsip-20261201.gz", "pjsip-20261202.gz", "pjsip-20261203"]


def test_max_age_deletes_old_generations_but_never_the_new_one(log: Path) -> None:
    append_lines(log, "a")
    rotate(log, keep=10)
    append_lines(log, "b")
    rotate(log, keep=10)
    for name in ("pjsip.1", "pjsip.2.gz"):
        os.utime(log.parent / name, (NOON - 40 * 86400, NOON - 40 * 86400))
    os.utime(log, (NOON - 50 * 86400, NOON - 50 * 86400))
    append_lines(log, "c")
    os.utime(log, (NOON - 35 * 86400, NOON - 35 * 86400))  # a quiet log: old, yet just rotated
    summary, actions = rotate(log, keep=10, max_age=30 * 86400.0, now=NOON)
    assert names(log.parent) == ["pjsip", "pjsip.1"]
    assert sum(a.startswith("deleted") for a in actions) == 2


def test_max_age_applies_even_when_nothing_is_rotated(log: Path) -> None:
    append_lines(log, "a")
    rotate(log)
    os.utime(log.parent / "pjsip.1", (NOON - 3 * 86400, NOON - 3 * 86400))
    log.write_bytes(b"")
    summary, _ = rotate(log, max_age=86400.0, now=NOON)
    assert summary.results[0].outcome is Outcome.TOO_SMALL
    assert names(log.parent) == ["pjsip"]


def test_min_size_skips_small_files_without_ingesting(log: Path) -> None:
    append_lines(log, "a", 10)
    size = log.stat().st_size
    recorder = Recorder()
    summary, actions = rotate(log, min_size=size + 1, ingest_fn=recorder)
    assert summary.results[0].outcome is Outcome.TOO_SMALL and recorder.calls == []
    assert names(log.parent) == ["pjsip"]
    summary, _ = rotate(log, min_size=size, ingest_fn=recorder)
    assert summary.results[0].outcome is Outcome.ROTATED and len(recorder.calls) == 1


def test_empty_file_is_not_rotated(log: Path) -> None:
    log.write_bytes(b"")
    summary, _ = rotate(log)
    assert summary.results[0].outcome is Outcome.TOO_SMALL
    assert names(log.parent) == ["pjsip"]


def test_ingest_runs_before_the_rename_and_not_with_no_ingest(log: Path) -> None:
    recorder = Recorder()
    append_lines(log, "a")
    rotate(log, ingest_fn=recorder)
    append_lines(log, "b")
    rotate(log, ingest_fn=recorder)
    # each ingest saw the log still in place, before its rename
    assert recorder.calls == [(str(log), ["pjsip"]), (str(log), ["pjsip", "pjsip.1"])]
    append_lines(log, "c")
    summary, _ = rotate(log, ingest_fn=recorder, ingest=False)
    assert summary.results[0].outcome is Outcome.ROTATED and len(recorder.calls) == 2


def test_missing_file_is_not_an_error(log: Path) -> None:
    summary, actions = rotate(log)
    assert summary.results[0].outcome is Outcome.MISSING and summary.errors == []
    assert actions == [f"skipped {log}: missing"]


@pytest.mark.parametrize("text,expected", [("10M", 10 << 20), ("1G", 1 << 30), ("512k", 512 << 10),
                                           ("2048", 2048), ("100MB", 100 << 20), (4096, 4096)])
def test_parse_size(text: str | int, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text,expected", [("30d", 30 * 86400.0), ("12h", 43200.0), ("2w", 14 * 86400.0),
                                           ("7", 7 * 86400.0), ("90m", 5400.0)])
def test_parse_age(text: str, expected: float) -> None:
    assert parse_age(text) == expected


@pytest.mark.parametrize("bad", ["ten", "10X", "-5", ""])
def test_bad_size_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="bad size"):
        parse_size(bad)


def test_config_section_then_command_line(tmp_path: Path) -> None:
    config = {"keep": 3, "compress": False, "min_size": "10M", "max_age": "30d", "paths": ["/x"]}
    options = options_from(config, {"keep": 5, "compress": None, "dateext": True})
    assert (options.keep, options.compress, options.min_size, options.max_age, options.dateext) == (
        5, False, 10 << 20, 30 * 86400.0, True)


@pytest.mark.parametrize("config,message", [
    ({"kep": 3}, "unknown key 'kep'"),
    ({"compress": "yes"}, "must be true or false"),
    ({"keep": 0}, r"\[rotate\] keep: must be at least 1"),
    ({"keep": "many"}, r"\[rotate\] keep: bad value 'many'"),
])
def test_bad_config_values_are_config_errors(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        options_from(config, {})


def _left_by_logrotate(directory: Path, name: str, tool: str | None, age_days: int) -> Path:
    """A generation an earlier logrotate setup left: written, compressed by ``tool``, aged."""
    path = directory / name
    append_lines(path, name)
    if tool is not None:
        subprocess.run([tool, "-q", str(path)], check=True)
        path = path.with_name(f"{name}.{'bz2' if tool == 'bzip2' else 'xz'}")
    when = NOON - age_days * 86400
    os.utime(path, (when, when))
    return path


@pytest.mark.skipif(shutil.which("bzip2") is None or shutil.which("xz") is None, reason="bzip2 or xz is missing")
def test_generations_an_earlier_logrotate_left_are_pruned_by_keep_oldest_first(tmp_path: Path) -> None:
    """``compresscmd bzip2`` / ``xz`` and ``extension .log`` generations count as generations:
    beyond keep the oldest go, never renamed; the log's own are kept."""
    directory = tmp_path / "log"
    directory.mkdir()
    log = directory / "pjsip.log"
    _left_by_logrotate(directory, "pjsip.log.3", "bzip2", 3)
    _left_by_logrotate(directory, "pjsip.log.4", "xz", 4)
    _left_by_logrotate(directory, "pjsip.2.log", None, 2)
    _left_by_logrotate(directory, "pjsip.5.log", "xz", 5)
    append_lines(log, "now")
    summary, actions = rotate(log, keep=3, now=NOON)
    assert summary.results[0].outcome is Outcome.ROTATED
    assert names(directory) == ["pjsip.2.log", "pjsip.log", "pjsip.log.1", "pjsip.log.3.bz2"]
    assert f"deleted {directory / 'pjsip.5.log.xz'}" in actions


@pytest.mark.skipif(shutil.which("bzip2") is None or shutil.which("xz") is None, reason="bzip2 or xz is missing")
@pytest.mark.parametrize("rotated", [True, False])
def test_generations_an_earlier_logrotate_left_are_pruned_by_max_age(tmp_path: Path, rotated: bool) -> None:
    """Whether the log is rotated or too small to be."""
    directory = tmp_path / "log"
    directory.mkdir()
    log = directory / "pjsip"
    _left_by_logrotate(directory, "pjsip.2", "bzip2", 10)
    _left_by_logrotate(directory, "pjsip.3", "xz", 40)
    _left_by_logrotate(directory, "pjsip-20261001", "xz", 50)
    append_lines(log, "now", 50 if rotated else 1)
    rotate(log, max_age=30 * 86400.0, now=NOON, min_size=0 if rotated else 1 << 20)
    assert names(directory) == (["pjsip", "pjsip.1", "pjsip.2.bz2"] if rotated else ["pjsip", "pjsip.2.bz2"])
