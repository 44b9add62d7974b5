"""Rotation-aware ingest: rename, gzip, copytruncate, several files, globs, deleted files."""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import shutil
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sipparse.store import Checkpoint, open_store
from sipparse.store.base import Store
from tests.ingest.helpers import checkpoints, count, dump, dump_calls, ingest_ok, one_run, run_process
from tests.ingest.siplog import full_message, make_log, message_count

A, B, C = make_log(3, first=0), make_log(3, first=3), make_log(3, first=6)


@pytest.mark.parametrize(("name", "generation"), [("pjsip", "pjsip.1"),
                                                ("pjsip.log", "pjsip.1.log")])  # logrotate: extension .log
def test_rename_rotation_finishes_the_old_file(db_url: str, tmp_path: Path, name: str, generation: str) -> None:
    log = tmp_path / name
    log.write_bytes(A)
    ingest_ok(db_url, str(log))
    with open(log, "ab") as fh:  # written after the run, before the rename
        fh.write(B)
    os.rename(log, tmp_path / generation)
    log.write_bytes(C)
    out = ingest_ok(db_url, str(log))
    assert out.startswith("2 files,")
    assert dump(db_url) == one_run(tmp_path, A, B, C)


def test_rotated_then_compressed_file_is_read_transparently(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(A + B[:700])  # cut inside a message
    ingest_ok(db_url, str(log))
    with open(log, "ab") as fh:
        fh.write(B[700:])
    os.rename(log, tmp_path / "pjsip.1")
    with open(tmp_path / "pjsip.1", "rb") as src, gzip.open(tmp_path / "pjsip.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(tmp_path / "pjsip.1")
    log.write_bytes(C)
    ingest_ok(db_url, str(log))
    assert dump(db_url) == one_run(tmp_path, A, B, C)
    assert ingest_ok(db_url, str(log)).startswith("0 files,")  # finished .gz: only its head is read


def test_rotated_file_never_seen_but_written_since_the_last_run(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(A)
    ingest_ok(db_url, str(log))
    os.rename(log, tmp_path / "pjsip.1")
    log.write_bytes(B)  # a whole generation lived and was rotated between two runs
    os.utime(tmp_path / "pjsip.1", (1, 1))  # the old one is old
    os.rename(log, tmp_path / "pjsip.0")
    (tmp_path / "pjsip.0").touch()
    log.write_bytes(C)
    ingest_ok(db_url, str(log))
    assert dump(db_url) == one_run(tmp_path, A, B, C)


def test_old_unknown_siblings_are_left_alone(sqlite_url: str, tmp_path: Path) -> None:
    old = tmp_path / "pjsip.5"
    old.write_bytes(B)
    os.utime(old, (1, 1))
    (tmp_path / "pjsip").write_bytes(A)
    ingest_ok(sqlite_url, str(tmp_path / "pjsip"))
    assert count(sqlite_url) == message_count(3)


def test_copytruncate_reads_the_new_content_from_the_start(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(A + B)
    ingest_ok(db_url, str(log))
    shutil.copyfile(log, tmp_path / "pjsip.1")
    with open(log, "r+b") as fh:
        fh.truncate(0)
    log.write_bytes(C)  # smaller than before, other first line
    ingest_ok(db_url, str(log))
    assert dump(db_url) == one_run(tmp_path, A, B, C)


def test_copytruncate_with_the_same_first_line_rereads_from_the_start(db_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(A + B)
    ingest_ok(db_url, str(log))
    log.write_bytes(A)  # truncated, and the same first call logged again: one fingerprint, fewer bytes
    out = ingest_ok(db_url, str(log))
    assert out.startswith(f"1 files, {len(A)} bytes, 0 messages new")
    assert [cp[1:] for cp in checkpoints(db_url)] == [(len(A), len(A))]
    assert count(db_url) == message_count(6)


def test_two_files_given_at_once_and_the_same_file_twice(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "pbx-a").write_bytes(A)
    (tmp_path / "pbx-b").write_bytes(B)
    out = ingest_ok(db_url, str(tmp_path / "pbx-a"), str(tmp_path / "pbx-b"), str(tmp_path / "pbx-a"))
    assert out.startswith("2 files,")
    assert dump(db_url) == one_run(tmp_path, A, B)


def test_glob(db_url: str, tmp_path: Path) -> None:
    for name, data in [("a.log", A), ("b.log", B), ("c.txt", C)]:
        (tmp_path / name).write_bytes(data)
    ingest_ok(db_url, str(tmp_path / "*.log"))
    assert count(db_url) == message_count(6)


def test_deleted_file_is_reported_not_an_error(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "pjsip").write_bytes(A)
    out = ingest_ok(db_url, str(tmp_path / "pjsip"), str(tmp_path / "gone"))
    assert f"missing: {tmp_path / 'gone'}" in out
    assert count(db_url) == message_count(3)


def test_a_broken_old_generation_does_not_fail_the_run(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "pjsip.4.gz").write_bytes(b"\x1f\x8b" + os.urandom(64))
    (tmp_path / "pjsip").write_bytes(A)
    assert ingest_ok(sqlite_url, str(tmp_path / "pjsip")).startswith("1 files,")


def test_logs_that_start_alike_are_told_apart(db_url: str, tmp_path: Path) -> None:
    first_line = A[: A.index(b"\n") + 1]
    for n, data in enumerate([B, C]):  # same first line, then another call
        (tmp_path / f"host{n}.log").write_bytes(first_line + data)
    ingest_ok(db_url, str(tmp_path / "host0.log"))
    ingest_ok(db_url, str(tmp_path / "host1.log"))
    assert count(db_url) == message_count(6)


SHORT = (b"[Jun  1 10:00:00] VERBOSE[1] res_pjsip_logger.c: <--- Received SIP request (150 bytes) "
         b"from UDP:10.0.0.5:5060 --->\nOPTIONS sip:100@10.0.0.1 SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.5:5060;"
         b"branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\nCall-ID: short-1\nCSeq: 1 OPTIONS\n"
         b"Content-Length: 0\n\n\n")


def test_a_generation_too_short_to_fingerprint_is_read_once_it_is_rotated(db_url: str, tmp_path: Path) -> None:
    """A quiet host's log holding one OPTIONS exchange: no identity while it may grow, so it
    waits; rotated and left alone, it is identified by all its bytes and read, once."""
    assert len(SHORT) < 512
    log, now = tmp_path / "pjsip", time.time()
    before, after = make_log(3, dialect="full"), make_log(3, first=3, dialect="full")
    log.write_bytes(before)
    os.utime(log, (now - 1200, now - 1200))
    ingest_ok(db_url, str(log))
    os.rename(log, tmp_path / "pjsip.1")
    log.write_bytes(SHORT)
    os.utime(log, (now - 600, now - 600))  # written after that run; untouched since
    assert "waiting to grow past 512 bytes: " + str(log) in ingest_ok(db_url, str(log))
    os.rename(tmp_path / "pjsip.1", tmp_path / "pjsip.2")
    os.rename(log, tmp_path / "pjsip.1")
    log.write_bytes(after)
    ingest_ok(db_url, str(log))
    assert dump(db_url) == one_run(tmp_path, before, SHORT, after)
    with open(tmp_path / "pjsip.1", "rb") as src, gzip.open(tmp_path / "pjsip.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    os.unlink(tmp_path / "pjsip.1")
    assert ingest_ok(db_url, str(log)).startswith("0 files,")  # compressed, still the same file
    assert dump(db_url) == one_run(tmp_path, before, SHORT, after)


def test_a_run_reads_the_checkpoints_of_its_own_files_only(db_url: str, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Years of rotated generations leave a checkpoint each: a run looks up those of the
    files it meets, not the whole table, so its cost does not grow with the logs' age."""
    old = [Checkpoint(f"fp-{n}", f"/var/log/asterisk/pjsip-2020{n:04d}", 100, 100, mtime=1.0e9) for n in range(300)]
    with open_store(db_url) as store:
        store.write_batch([], checkpoints=old)
    log = tmp_path / "pjsip"
    log.write_bytes(A)
    ingest_ok(db_url, str(log))
    os.rename(log, tmp_path / "pjsip.1")
    log.write_bytes(B)
    read, most = Store._read, [0]

    def counted(store: Store, sql: str, params: Any = ()) -> list[tuple[Any, ...]]:
        found = read(store, sql, params)
        most[0] = max(most[0], len(found))
        return found

    monkeypatch.setattr(Store, "_read", counted)
    assert ingest_ok(db_url, str(log)).startswith("1 files,")
    assert most[0] < 10
    assert dump(db_url) == one_run(tmp_path, A, B)
    assert len(checkpoints(db_url)) == 302


def _register_log(cseq: int, code: int, reason: str) -> bytes:
    """A REGISTER and its final response, both logged at 12:00:00."""
    when = datetime(2025, 3, 1, 12, 0, 0)
    common = ["From: <sip:1001@pbx.example>;tag=ft", "To: <sip:1001@pbx.example>", "Call-ID: reg-1@phone",
              f"CSeq: {cseq} REGISTER", "Content-Length: 0"]
    via = f"Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKr{cseq}"
    return (full_message(when, "in", ["REGISTER sip:pbx.example SIP/2.0", via, *common], [])
            + full_message(when, "out", [f"SIP/2.0 {code} {reason}", via, *common], []))


def test_a_rotated_file_read_after_the_next_one_gives_the_calls_of_the_log_in_order(
        db_url: str, tmp_path: Path) -> None:
    """A REGISTER challenged at the end of pjsip.1 and sent again with credentials at the start
    of pjsip, in the same second: the dialog stands as its last answer says, whichever file
    was read first."""
    challenged, registered = _register_log(1, 401, "Unauthorized"), _register_log(2, 200, "OK")
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "pjsip.1").write_bytes(challenged)
    (tmp_path / "pjsip").write_bytes(registered)
    ingest_ok(db_url, str(tmp_path / "pjsip"))
    ingest_ok(db_url, str(tmp_path / "old" / "pjsip.1"))
    in_order = f"sqlite:///{tmp_path / 'in-order.db'}"
    ingest_ok(in_order, str(tmp_path / "old" / "pjsip.1"))
    ingest_ok(in_order, str(tmp_path / "pjsip"))
    assert dump_calls(db_url) == dump_calls(in_order)
    assert "\tcompleted\t" in dump_calls(db_url)[0]


def test_another_hosts_checkpoint_of_the_same_path_does_not_hide_a_rotated_generation(
        db_url: str, tmp_path: Path) -> None:
    """Every PBX logs to /var/log/asterisk/pjsip: a look another host took at its own file
    there, later than this host's last, says nothing of what this host has read since."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(3, first=9, host="pbx-a"))
    later = time.time() + 3600
    os.utime(log, (later, later))  # pbx-a ingests its own pjsip after pbx-b's rotation below
    ingest_ok(db_url, "--host", "pbx-a", str(log))
    log.write_bytes(A)
    ingest_ok(db_url, "--host", "pbx-b", str(log))
    os.rename(log, tmp_path / "pjsip.1")
    log.write_bytes(B)  # a whole generation lived and was rotated between two runs of pbx-b
    os.utime(tmp_path / "pjsip.1", (1, 1))
    os.rename(log, tmp_path / "pjsip.0")
    (tmp_path / "pjsip.0").touch()
    log.write_bytes(C)
    ingest_ok(db_url, "--host", "pbx-b", str(log))
    with open_store(db_url) as store:
        found = store.fetchall("SELECT host, COUNT(*) AS n FROM sip_transactions GROUP BY host ORDER BY host")
    assert [(r["host"], r["n"]) for r in found] == [("pbx-a", message_count(3)), ("pbx1", message_count(9))]


def test_another_pbx_s_log_is_not_taken_for_a_generation(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pbx"
    log.write_bytes(A)
    ingest_ok(sqlite_url, str(log))
    (tmp_path / "pbx-2").write_bytes(B)  # the second PBX's log, written since
    with open(log, "ab") as fh:
        fh.write(C)
    ingest_ok(sqlite_url, str(log))
    assert dump(sqlite_url) == one_run(tmp_path, A, C)


@pytest.mark.parametrize(("suffix", "compress"), [(".bz2", bz2.compress), (".xz", lzma.compress)])
def test_a_bzip2_or_xz_generation_is_finished_like_a_gzip_one(sqlite_url: str, tmp_path: Path, suffix: str,
                                                              compress: Any) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(A + B[:700])  # cut inside a message
    ingest_ok(sqlite_url, str(log))
    (tmp_path / f"pjsip.2{suffix}").write_bytes(compress(A + B))  # logrotate: compresscmd bzip2 / xz
    log.write_bytes(C)
    ingest_ok(sqlite_url, str(log))
    assert dump(sqlite_url) == one_run(tmp_path, A, B, C)
    assert ingest_ok(sqlite_url, str(log)).startswith("0 files,")


def test_a_bzip2_generation_that_does_not_decompress_is_a_counted_error(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(A)
    ingest_ok(sqlite_url, str(log))
    whole = bz2.compress(A + B)
    (tmp_path / "pjsip.2.bz2").write_bytes(whole[:40] + bytes(100) + whole[140:])
    log.write_bytes(C)
    result = run_process(sqlite_url, str(log))
    assert result.returncode == 1
    assert result.stderr == f"Error: cannot read {tmp_path / 'pjsip.2.bz2'}: Invalid data stream\n"
    assert dump(sqlite_url) == one_run(tmp_path, A, C)


ZSTD_FRAME = bytes.fromhex("28b52ffd2000690000") + b"x" * 600  # what `zstd` writes first; the rest is not read
LZ4_FRAME = bytes.fromhex("04224d18647040") + b"x" * 600
COMPRESS_Z = bytes.fromhex("1f9d90") + b"x" * 600  # compress(1), logrotate's oldest compresscmd


@pytest.mark.parametrize(("name", "data", "why"), [
    ("pjsip.2.zst", ZSTD_FRAME, "zstd"), ("pjsip.2.lz4", LZ4_FRAME, "lz4"), ("pjsip.2.Z", COMPRESS_Z, "compress"),
])
def test_a_generation_compressed_in_a_way_not_read_is_said_once(sqlite_url: str, tmp_path: Path, name: str,
                                                               data: bytes, why: str) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(A)
    ingest_ok(sqlite_url, str(log))
    (tmp_path / name).write_bytes(data)  # logrotate: compresscmd zstd, lz4 or compress
    log.write_bytes(A + C)
    result = run_process(sqlite_url, "--quiet", str(log))
    assert result.returncode == 0
    said = result.stderr.splitlines()
    assert len(said) == 1 and str(tmp_path / name) in said[0] and f"{why}-compressed" in said[0], said
    assert "gzip, bzip2 or xz" in said[0]
    assert dump(sqlite_url) == one_run(tmp_path, A, C)
    with open(log, "ab") as fh:
        fh.write(B)
    again = run_process(sqlite_url, "--quiet", str(log))
    assert (again.returncode, again.stderr) == (0, "")  # said once, for the run that found it new


def test_bzip2_history_never_read_is_not_decompressed_at_every_run(sqlite_url: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Generations older than sipparse's first look at the log are left alone: learning the
    size of bzip2 data takes decompressing it all, which is not done for them."""
    from sipparse.logs import files

    for n in range(2, 5):
        old = tmp_path / f"pjsip.{n}.bz2"
        old.write_bytes(bz2.compress(make_log(3, first=10 * n)))
        os.utime(old, (1, 1))
    log = tmp_path / "pjsip"
    log.write_bytes(A)
    ingest_ok(sqlite_url, str(log))
    measured: list[str] = []
    real = files._size_by_reading
    monkeypatch.setattr(files, "_size_by_reading", lambda path, codec: measured.append(path) or real(path, codec))
    with open(log, "ab") as fh:
        fh.write(B)
    ingest_ok(sqlite_url, str(log))
    assert measured == []
    assert dump(sqlite_url) == one_run(tmp_path, A, B)


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd is not installed")
def test_a_generation_not_read_that_a_glob_names_is_said_once_over_runs(db_url: str, tmp_path: Path) -> None:
    """``[ingest] paths = ["old/pjsip*"]`` names it at every run of cron: said by the first
    run only, and not again when logrotate renames it (``pjsip.3.zst`` -> ``pjsip.4.zst``)."""
    old = tmp_path / "old"
    old.mkdir()
    (old / "pjsip.2").write_bytes(make_log(3))
    plain = old / "pjsip.3"
    plain.write_bytes(make_log(3, first=10))
    subprocess.run(["zstd", "-q", "--rm", str(plain)], check=True)
    pattern = str(old / "pjsip*")
    first = run_process(db_url, "--quiet", pattern)
    assert first.returncode == 0
    said = first.stderr.splitlines()
    assert len(said) == 1 and f"{old / 'pjsip.3.zst'} not read" in said[0], said
    again = run_process(db_url, "--quiet", pattern)
    assert (again.returncode, again.stderr) == (0, "")
    (old / "pjsip.3.zst").rename(old / "pjsip.4.zst")
    renamed = run_process(db_url, "--quiet", pattern)
    assert (renamed.returncode, renamed.stderr) == (0, "")
    (old / "pjsip.5").write_bytes(make_log(3, first=20))
    subprocess.run(["zstd", "-q", "--rm", str(old / "pjsip.5")], check=True)
    another = run_process(db_url, "--quiet", pattern)
    assert another.returncode == 0 and len(another.stderr.splitlines()) == 1
    assert f"{old / 'pjsip.5.zst'} not read" in another.stderr


@pytest.mark.skipif(shutil.which("bzip2") is None, reason="bzip2 is not installed")
def test_a_bzip2_generation_read_to_its_end_is_not_decompressed_again_while_unchanged(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Its data's size is not in the file: it is learnt once, by the run that finds it
    compressed; later runs skip it while it is the same file, unchanged (inode, mtime)."""
    from sipparse.logs import files

    log = tmp_path / "pjsip"
    log.write_bytes(A)
    ingest_ok(db_url, str(log))
    log.rename(tmp_path / "pjsip.2")  # logrotate: compresscmd bzip2, delaycompress
    subprocess.run(["bzip2", str(tmp_path / "pjsip.2")], check=True)
    log.write_bytes(B)
    measured: list[str] = []
    real = files._size_by_reading
    monkeypatch.setattr(files, "_size_by_reading", lambda path, codec: measured.append(path) or real(path, codec))
    ingest_ok(db_url, str(log))
    assert measured == [str(tmp_path / "pjsip.2.bz2")]
    with open(log, "ab") as fh:
        fh.write(C)
    ingest_ok(db_url, str(log))
    assert measured == [str(tmp_path / "pjsip.2.bz2")]  # not again
    assert dump(db_url) == one_run(tmp_path, A, B, C)
    os.utime(tmp_path / "pjsip.2.bz2")  # changed, as far as can be told: measured again
    ingest_ok(db_url, str(log))
    assert measured == [str(tmp_path / "pjsip.2.bz2")] * 2
