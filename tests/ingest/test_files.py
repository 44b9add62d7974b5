"""File identity: fingerprints stable as a file grows, across rename and gzip; siblings; resume rules."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipparse.errors import LogFileError
from sipparse.ingest import expand_paths, start_offset
from sipparse.logs import files
from tests.ingest.helpers import count, dump, dump_calls, ingest, ingest_ok
from tests.ingest.siplog import make_log
from tests.logs.helpers import DATA, asterisk_json

LOG = make_log(3)
COMPRESSORS = {".gz": gzip.compress, ".bz2": partial(bz2.compress, compresslevel=1), ".xz": lzma.compress}


@dataclass
class Cp:
    """The fields of a stored checkpoint that resume decisions read."""

    offset: int
    size: int


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@given(st.integers(min_value=0, max_value=len(LOG)))
@settings(max_examples=60, deadline=None)
def test_fingerprint_never_changes_once_it_exists(cut: int) -> None:
    whole = files.fingerprint_of(LOG)
    assert whole is not None
    prefix = files.fingerprint_of(LOG[:cut])
    assert prefix in (None, whole)


def test_fingerprint_needs_a_first_line_or_enough_bytes() -> None:
    first_line_end = LOG.index(b"\n", files.FINGERPRINT_MIN_BYTES - 1) + 1
    assert files.fingerprint_of(LOG[: first_line_end - 1]) is None
    assert files.fingerprint_of(LOG[:first_line_end]) == files.fingerprint_of(LOG)
    no_newline = b"x" * files.FINGERPRINT_MAX_BYTES
    assert files.fingerprint_of(no_newline) == files.fingerprint_of(no_newline + b"more\n")


def test_leading_blank_lines_do_not_make_files_alike() -> None:
    a = b"\n\n" + make_log(1, first=1)
    b = b"\n\n" + make_log(1, first=2)
    assert files.fingerprint_of(a) != files.fingerprint_of(b)


def test_identity_survives_rename_and_gzip(tmp_path: Path) -> None:
    live = files.inspect(str(write(tmp_path / "pjsip", LOG)))
    os.rename(tmp_path / "pjsip", tmp_path / "pjsip.1")
    renamed = files.inspect(str(tmp_path / "pjsip.1"))
    packed = tmp_path / "pjsip.2.gz"
    packed.write_bytes(gzip.compress(LOG))
    compressed = files.inspect(str(packed))
    assert live and renamed and compressed
    assert live.fingerprint == renamed.fingerprint == compressed.fingerprint
    assert compressed.compressed and compressed.size == len(LOG) == live.size
    with files.open_at(str(packed), "gzip", 100) as fh:
        assert fh.read() == LOG[100:]


def test_inspect_missing_and_unreadable(tmp_path: Path) -> None:
    assert files.inspect(str(tmp_path / "nope")) is None
    with pytest.raises(LogFileError, match="not a regular file"):
        files.inspect(str(tmp_path))
    bad = write(tmp_path / "bad.gz", b"\x1f\x8bnot really gzip at all")
    with pytest.raises(LogFileError, match=r"cannot read .*bad\.gz"):
        files.inspect(str(bad))


def test_rotated_siblings_are_found_oldest_first(tmp_path: Path) -> None:
    names = ["pjsip.3.gz", "pjsip.2.gz", "pjsip-20261129", "pjsip-20261130-2", "pjsip.1"]
    for age, name in enumerate(reversed(names)):
        path = write(tmp_path / name, LOG)
        os.utime(path, (1_000_000 + age, 1_000_000 + age))
    for other in ["pjsip", "pjsip.lock", "pjsipx.1", "other.1", "pjsip-old", "pjsip.bak"]:
        write(tmp_path / other, LOG)
    found = [os.path.basename(p) for p in files.rotated_siblings(str(tmp_path / "pjsip"))]
    assert found == list(reversed(names))


@pytest.mark.parametrize(
    ("size", "cp", "final", "expected"),
    [
        (500, None, False, 0),            # never seen: from the start
        (500, Cp(400, 450), False, 400),  # grown: from the checkpoint
        (450, Cp(400, 450), False, None),  # nothing new
        (450, Cp(400, 450), True, 400),   # nothing new, but a finished file flushes its tail
        (300, Cp(400, 450), False, 0),    # shrank below the checkpoint: copytruncate
        (420, Cp(400, 450), False, 0),    # shrank below what was seen: copytruncate
    ],
)
def test_start_offset(tmp_path: Path, size: int, cp: Cp | None, final: bool, expected: int | None) -> None:
    lf = files.LogFile("p", "fp", size, 1, 1, 0.0)
    assert start_offset(lf, cp, final) == expected


def test_start_offset_of_gzip_uses_the_trailer_size() -> None:
    lf = files.LogFile("p.gz", "fp", 450, 1, 1, 0.0, codec="gzip")
    assert start_offset(lf, Cp(400, 450)) is None
    assert start_offset(lf, Cp(400, 430)) == 400
    assert start_offset(lf, Cp(400, 450), final=True) == 400


def test_expand_paths_globs_and_duplicates(tmp_path: Path) -> None:
    a, b = write(tmp_path / "a.log", LOG), write(tmp_path / "b.log", LOG)
    got = expand_paths([str(tmp_path / "*.log"), str(a), str(tmp_path / "missing*"), str(b)])
    assert got == [str(a), str(b), str(tmp_path / "missing*")]


def test_a_glob_passes_over_what_is_no_file(tmp_path: Path, sqlite_url: str) -> None:
    """A glob over a log directory may match a FIFO (an rsyslog ``ompipe``), a socket, or a
    link to a device (``/dev/null``, where a log was silenced): never a log to read, as a
    directory is not, and each made every cron run of ingest (and rotate) exit 1. Named
    itself, it is still reported; a name that cannot be looked at (a symlink loop) is still
    taken, to be reported."""
    log = write(tmp_path / "pjsip", LOG)
    os.mkfifo(tmp_path / "pjsip.fifo")
    (tmp_path / "pjsip.null").symlink_to("/dev/null")
    (tmp_path / "pjsip.d").mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(tmp_path / "pjsip.sock"))
        assert expand_paths([str(tmp_path / "pjsip*")]) == [str(log)]
        result = ingest(sqlite_url, str(tmp_path / "pjsip*"))
    assert result.exit_code == 0, result.output
    alone = f"sqlite:///{tmp_path / 'alone.db'}"
    assert ingest(alone, str(log)).exit_code == 0
    assert count(sqlite_url) == count(alone) > 0
    (tmp_path / "pjsip.loop").symlink_to(tmp_path / "pjsip.loop")
    assert expand_paths([str(tmp_path / "pjsip*")]) == [str(log), str(tmp_path / "pjsip.loop")]
    result = ingest(sqlite_url, str(tmp_path / "pjsip.fifo"))
    assert result.exit_code == 1 and str(result.exception) == f"{tmp_path / 'pjsip.fifo'} is not a regular file"


def test_a_fifo_that_takes_a_logs_place_after_the_look_at_it_is_not_waited_on(tmp_path: Path) -> None:
    """Between the look at a log (a regular file) and its opening, another file may take its
    place. A FIFO there (an rsyslog ``ompipe``) made the opening wait for a writer, for ever:
    the run held its locks, and every later cron run passed over the busy logs. A log is
    opened without waiting: a FIFO without a writer reads as nothing."""
    fifo = tmp_path / "pjsip"
    os.mkfifo(fifo)

    def waited(signum: int, frame: object) -> None:
        raise TimeoutError("the opening waited for a writer")

    previous = signal.signal(signal.SIGALRM, waited)
    signal.alarm(5)
    try:
        with os.fdopen(files.open_fd(str(fifo)), "rb") as fh:
            assert fh.read() == b""
        assert files.read_head(str(fifo), None) == b""
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def write_oldest_first(directory: Path, names: list[str]) -> None:
    """A log under each of ``names``, each newer than the one before (``rotated_siblings``
    lists generations by mtime)."""
    for age, name in enumerate(names):
        path = write(directory / name, LOG)
        os.utime(path, (1_000_000 + age, 1_000_000 + age))


def test_generations_named_by_logrotate_extension_keep_the_log_s_extension(tmp_path: Path) -> None:
    """logrotate's ``extension .log`` puts the number (or date) before the extension and the
    compression's after it: ``pjsip.1.log``, ``pjsip.2.log.gz``, ``pjsip-20261129.log``."""
    names = ["pjsip.2.log.gz", "pjsip-20261129.log", "pjsip.1.log"]
    write_oldest_first(tmp_path, names)
    for other in ["pjsip.log", "pjsip.txt", "pjsip.1.txt", "pjsipx.1.log", "pjsip.log.lock"]:
        write(tmp_path / other, LOG)
    found = [os.path.basename(p) for p in files.rotated_siblings(str(tmp_path / "pjsip.log"))]
    assert found == names


def test_only_names_logrotate_gives_generations_are_taken_for_them(tmp_path: Path) -> None:
    """``pbx-2`` is another PBX's log, not a generation of ``pbx``: a dash is followed by a
    date in logrotate's names (``dateext``), a dot by a number."""
    generations = ["pbx.log.1", "pbx.log.2.gz", "pbx.log-20261203", "pbx.log-20261204-2", "pbx.log-2026120405.bz2",
                   "pbx.log-1764806400", "pbx.log-2026-12-05.xz"]
    write_oldest_first(tmp_path, generations)
    for other in ["pbx.log-2", "pbx-2.log", "pbx.log-1.2", "pbx.log.1-old", "pbx.log.20261203.bak"]:
        write(tmp_path / other, LOG)
    assert [os.path.basename(p) for p in files.rotated_siblings(str(tmp_path / "pbx.log"))] == generations
    write(tmp_path / "pbx", LOG)
    assert files.rotated_siblings(str(tmp_path / "pbx-2")) == []
    assert files.rotated_siblings(str(tmp_path / "pbx")) == []


@pytest.mark.parametrize("suffix", [".bz2", ".xz"])
def test_identity_survives_bzip2_and_xz(tmp_path: Path, suffix: str) -> None:
    live = files.inspect(str(write(tmp_path / "pjsip", LOG)))
    packed = write(tmp_path / f"pjsip.2{suffix}", COMPRESSORS[suffix](LOG))
    compressed = files.inspect(str(packed))
    assert live and compressed
    assert compressed.fingerprint == live.fingerprint
    assert compressed.compressed and compressed.size == len(LOG)
    with files.open_at(str(packed), compressed.codec, 100) as fh:
        assert fh.read() == LOG[100:]


@pytest.mark.parametrize("suffix", [".bz2", ".xz"])
def test_bzip2_or_xz_data_that_does_not_decompress_is_a_clear_error(tmp_path: Path, suffix: str) -> None:
    whole = COMPRESSORS[suffix](make_log(60))
    cut = files.inspect(str(write(tmp_path / f"pjsip.2{suffix}", whole[: len(whole) // 2])))
    assert cut is not None and 0 < cut.size < len(make_log(60))  # measured up to there: reading says the rest
    broken = write(tmp_path / f"pjsip.3{suffix}", whole[:40] + bytes(200) + whole[240:])
    with pytest.raises(LogFileError, match=rf"cannot read .*pjsip\.3\{suffix}: "):
        files.inspect(str(broken))


def test_the_size_of_xz_data_is_read_from_its_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not by decompressing it all at every run, as bzip2 data must be."""
    one = write(tmp_path / "pjsip.2.xz", lzma.compress(LOG))
    two = write(tmp_path / "pjsip.3.xz", lzma.compress(LOG) + lzma.compress(LOG[:1000], check=lzma.CHECK_SHA256))
    sizes = {path: files.inspect(str(path)).size for path in (one, two)}  # type: ignore[union-attr]
    assert sizes == {one: len(LOG), two: len(LOG) + 1000}

    def refused(*args: object) -> int:
        raise AssertionError("decompressed to learn its size")

    monkeypatch.setattr(files, "_size_by_reading", refused)
    assert [files.inspect(str(path)).size for path in (one, two)] == [len(LOG), len(LOG) + 1000]  # type: ignore[union-attr]


@pytest.mark.parametrize("suffix", [".gz", ".xz"])
def test_a_generation_cut_short_within_its_first_kilobytes_keeps_its_identity(tmp_path: Path, suffix: str) -> None:
    """Its head is what could be decoded, as for a longer one: not nothing."""
    packed = COMPRESSORS[suffix](LOG[:3000])
    cut = files.inspect(str(write(tmp_path / f"pjsip.2{suffix}", packed[: len(packed) * 3 // 4])), finished=True)
    assert cut is not None and cut.fingerprint == files.fingerprint_of(LOG)


@pytest.mark.skipif(shutil.which("xz") is None, reason="xz is not installed")
def test_an_xz_file_with_stream_padding_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Zero bytes after a stream (stream padding) are valid xz: ``xz -t`` accepts them, between
    two streams as after the last, and so does reading: not data that ends early."""
    plain = write(tmp_path / "pjsip.2", LOG)
    subprocess.run(["xz", "-k", str(plain)], check=True)
    stream = (tmp_path / "pjsip.2.xz").read_bytes()
    padded = write(tmp_path / "pjsip.3.xz", stream + bytes(8) + lzma.compress(LOG[:1000]) + bytes(4))
    subprocess.run(["xz", "-t", str(padded)], check=True)
    lf = files.inspect(str(padded))
    assert lf is not None and lf.size == len(LOG) + 1000
    with files.open_log(str(padded), "xz", settled=True) as fh:
        assert fh.read() == LOG + LOG[:1000]
        assert not fh.cut_short  # type: ignore[attr-defined]
    with files.open_log(str(padded), "xz") as fh:
        assert fh.read() == LOG + LOG[:1000]

    def refused(*args: object) -> int:
        raise AssertionError("decompressed to learn its size")

    monkeypatch.setattr(files, "_size_by_reading", refused)
    assert files.inspect(str(padded)).size == len(LOG) + 1000  # type: ignore[union-attr]


def test_a_json_channel_stores_what_the_full_channel_stores(db_url: str, tmp_path: Path) -> None:
    """logger.conf's ``[json]`` formatter: told by itself, or named with --format, appended
    to between runs; the rows and calls are those of the same log written by the default one."""
    full = (DATA / "asterisk-real" / "full").read_bytes()
    data = asterisk_json(full)
    log = tmp_path / "pjsip"
    cut = data.index(b"\n", len(data) // 2) + 40  # mid-line
    log.write_bytes(data[:cut])
    ingest_ok(db_url, str(log))
    log.write_bytes(data)
    ingest_ok(db_url, "--format", "json", str(log))
    reference = f"sqlite:///{tmp_path / 'full.db'}"
    (tmp_path / "full").write_bytes(full)
    ingest_ok(reference, str(tmp_path / "full"))
    assert dump(db_url) == dump(reference)
    assert dump_calls(db_url) == dump_calls(reference)
