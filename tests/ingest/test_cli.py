"""`sipparse ingest` and `sipparse rejects` from the outside: summary, options, locks, errors."""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import os
import re
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.logs.locks import LogLock
from tests.ingest.helpers import count, dump, ingest, ingest_ok, open_db, run_process, sipparse_bin
from tests.ingest.siplog import call_messages, full_message, make_log, message_count, syslog_message

SUMMARY = re.compile(r"^(\d+) files, (\d+) bytes, (\d+) messages new, (\d+) calls, (\d+) rejected, "
                     r"[0-9.]+ s, [0-9.]+ MiB/s")



def test_summary_line_counts_what_was_stored(sqlite_url: str, tmp_path: Path) -> None:
    data = make_log(4)
    (tmp_path / "pjsip").write_bytes(data)
    out = ingest_ok(sqlite_url, str(tmp_path / "pjsip"))
    assert len(out.splitlines()) == 1
    match = SUMMARY.match(out)
    assert match, out
    assert [int(g) for g in match.groups()] == [1, len(data), message_count(4), 4, 0]


def test_quiet_prints_nothing_and_dry_run_writes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "pjsip").write_bytes(make_log(2))
    dry = ingest(sqlite_url, "--dry-run", str(tmp_path / "pjsip"))
    assert dry.exit_code == 0 and f"{message_count(2)} messages parsed" in dry.stdout
    assert dry.stderr == ""  # no note that the database it does not need is missing
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # not even an empty database
    assert count(sqlite_url) == 0
    assert ingest_ok(sqlite_url, "--quiet", str(tmp_path / "pjsip")) == ""
    assert count(sqlite_url) == message_count(2)


def test_progress_bar_only_when_asked(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "pjsip").write_bytes(make_log(2))
    argv = ["--db", sqlite_url, "ingest", "--tz", "UTC", "--progress", str(tmp_path / "pjsip")]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0
    assert "ingest" in result.stderr and "B" in result.stderr
    quiet = CliRunner().invoke(cli, ["--db", sqlite_url, "ingest", "--tz", "UTC", str(tmp_path / "pjsip")])
    assert quiet.stderr == ""  # CliRunner's stderr is no terminal: no bar by default


def test_a_locked_file_is_skipped_with_a_note_and_exit_0(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(2))
    (tmp_path / "other").write_bytes(make_log(2, first=10))
    with LogLock(log).acquire():
        result = run_process(sqlite_url, str(log), str(tmp_path / "other"))
    assert result.returncode == 0, result.stderr
    assert f"busy (another run holds the lock): {log}" in result.stdout
    assert count(sqlite_url) == message_count(2)  # the other file was not blocked
    ingest_ok(sqlite_url, str(log))
    assert count(sqlite_url) == message_count(4)


def test_wait_waits_for_the_lock(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(2))
    lock = LogLock(log).acquire()
    argv = [*sipparse_bin(), "--db", sqlite_url, "ingest", "--tz", "UTC", "--wait", str(log)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
    finally:
        lock.release()
    assert proc.wait(timeout=60) == 0
    assert count(sqlite_url) == message_count(2)


GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"


def _corrupted_in_the_middle(data: bytes) -> bytes:
    compressed = gzip.compress(data)
    middle = len(compressed) // 2
    return compressed[:middle] + bytes(b ^ 0xFF for b in compressed[middle:middle + 50]) + compressed[middle + 50:]


@pytest.mark.parametrize("corrupt", [
    lambda: GZIP_HEADER + b"\xff" * 200,  # a deflate block of the reserved type
    lambda: _corrupted_in_the_middle(make_log(40)),  # fails its CRC check, or earlier
], ids=["bad-block", "bad-middle"])
def test_unreadable_file_among_others_exits_1_naming_it(sqlite_url: str, tmp_path: Path,
                                                        corrupt: Callable[[], bytes]) -> None:
    (tmp_path / "good").write_bytes(make_log(2))
    (tmp_path / "bad.gz").write_bytes(corrupt())
    result = run_process(sqlite_url, str(tmp_path / "bad.gz"), str(tmp_path / "good"))
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: cannot read {tmp_path / 'bad.gz'}")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert count(sqlite_url) == message_count(2)


def test_a_file_name_that_is_not_utf8_is_read_and_resumed(sqlite_url: str, tmp_path: Path) -> None:
    """Linux file names are bytes: one of Latin-1 bytes reaches Python as lone surrogates,
    which the database cannot encode; the lookup of its checkpoint must not fail on them."""
    log = tmp_path / os.fsdecode(b"pjsip-caf\xe9.log")
    log.write_bytes(make_log(2))
    assert SUMMARY.match(ingest_ok(sqlite_url, str(log))).group(3) == str(message_count(2))
    assert SUMMARY.match(ingest_ok(sqlite_url, str(log))).group(3) == "0"
    assert count(sqlite_url) == message_count(2)


def test_bad_options_are_usage_errors(sqlite_url: str, tmp_path: Path) -> None:
    assert ingest(sqlite_url, "--tz", "Mars/Olympus", str(tmp_path)).exit_code == 2
    assert ingest(sqlite_url, "--format", "klingon", str(tmp_path)).exit_code == 2


def test_config_file_paths_host_and_dialects(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(1, dialect="full"))
    config = tmp_path / "sipparse.toml"
    config.write_text(f'[ingest]\npaths = ["{log}"]\nhost = "pbx-7"\ntz = "UTC"\n')
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "--config", str(config), "ingest", "--no-progress"])
    assert result.exit_code == 0, result.output
    store = open_db(sqlite_url)
    try:
        hosts = {r["host"] for r in store.fetchall("SELECT host FROM sip_transactions")}
    finally:
        store.close()
    assert hosts == {"pbx-7"}


@pytest.mark.parametrize(("line", "reason"), [
    ('tz = "Europe/Berln"', "[ingest] tz: unknown time zone 'Europe/Berln'"),
    ('format = "sislog"', "[ingest] format: unknown log format 'sislog'"),
    ("year = 1800", "[ingest] year: 1800 is not in the range 1970 to 9999"),
])
def test_a_bad_ingest_value_in_the_config_file_is_named_with_the_file(
        sqlite_url: str, tmp_path: Path, line: str, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Not "Invalid value for --tz" (exit 2) for an option the user never typed."""
    from sipparse.cli import run

    (tmp_path / "pjsip").write_bytes(make_log(1))
    config = tmp_path / "sipparse.toml"
    config.write_text(f"[ingest]\n{line}\n")
    for command in (["ingest"], ["rotate"]):
        with pytest.raises(SystemExit) as exc:
            run(["--db", sqlite_url, "--config", str(config), *command, str(tmp_path / "pjsip")])
        assert exc.value.code == 1
        err = capsys.readouterr().err
        assert err.startswith(f"Error: config file {config}, line 2: {reason}") and len(err.splitlines()) == 1, err


def test_syslog_host_is_kept(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "pjsip").write_bytes(make_log(1, host="pbx-a"))
    ingest_ok(sqlite_url, "--host", "elsewhere", str(tmp_path / "pjsip"))
    assert {row.split("\t")[10] for row in dump(sqlite_url)} == {"pbx-a"}


def test_rejects_are_stored_counted_and_listed(db_url: str, tmp_path: Path) -> None:
    broken = b"Mar  1 12:00:00 pbx1 asterisk[6541]: INVITE sip:x SIP/2.0\n" + \
        b"Mar  1 12:00:00 pbx1 asterisk[6541]: Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\n" + \
        b"Mar  1 12:00:00 pbx1 asterisk[6541]: CSeq: banana\n" + \
        b"Mar  1 12:00:00 pbx1 asterisk[6541]: #015\n\n"
    (tmp_path / "pjsip").write_bytes(make_log(1) + broken + make_log(1, first=1))
    out = ingest_ok(db_url, str(tmp_path / "pjsip"))
    rejected = int(SUMMARY.match(out).group(5))  # type: ignore[union-attr]
    assert count(db_url) == message_count(2)
    assert rejected >= 1 and rejected == count(db_url, "rejects")
    table = CliRunner().invoke(cli, ["--db", db_url, "rejects"])
    assert table.exit_code == 0
    listed = CliRunner().invoke(cli, ["--db", db_url, "rejects", "--format", "json", "--limit", "5"])
    rows = json.loads(listed.output)
    assert len(rows) == min(rejected, 5)
    for row in rows:
        assert row["file"].endswith("pjsip") and row["reason"] and row["raw"]
        assert str(row["id"]) in table.output


def test_rejects_limit_0_lists_them_all_as_calls_does(sqlite_url: str, tmp_path: Path) -> None:
    """``calls --limit 0`` is every call; ``rejects --limit 0`` was refused as out of range."""
    broken = b"".join(b"Mar  1 12:00:%02d pbx1 asterisk[6541]: INVITE sip:x SIP/2.0\n"
                      b"Mar  1 12:00:00 pbx1 asterisk[6541]: CSeq: banana\n"
                      b"Mar  1 12:00:00 pbx1 asterisk[6541]: #015\n\n" % (n % 60) for n in range(55))
    (tmp_path / "pjsip").write_bytes(make_log(1) + broken + make_log(1, first=1))
    ingest_ok(sqlite_url, str(tmp_path / "pjsip"))
    stored = count(sqlite_url, "rejects")
    assert stored > 50
    listed = CliRunner().invoke(cli, ["--db", sqlite_url, "rejects", "--format", "json", "--limit", "0"])
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)) == stored


@pytest.mark.parametrize("command", [["ingest"], ["rotate", "--no-ingest"]])
def test_an_empty_tz_is_bad_usage_not_the_machines_zone(sqlite_url: str, tmp_path: Path, command: list[str]) -> None:
    """``--tz "$ZONE"`` with ZONE unset read every zoneless time in the machine's zone (or
    the config's), as if no --tz had been given: hours off, without a word."""
    (tmp_path / "pjsip").write_bytes(make_log(1))
    result = CliRunner().invoke(cli, ["--db", sqlite_url, *command, "--tz", "", str(tmp_path / "pjsip")])
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--tz': empty" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pjsip"]


def test_no_rejects(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "pjsip").write_bytes(make_log(1))
    ingest_ok(sqlite_url, str(tmp_path / "pjsip"))
    result = CliRunner().invoke(cli, ["--db", sqlite_url, "rejects"])
    assert result.exit_code == 0 and result.stdout == "" and result.stderr == "No rejects match.\n"


@pytest.mark.parametrize("command", [["rejects"], ["calls"], ["stats"], ["show", "x"], ["purge", "--older-than", "1d"]])
def test_reading_a_database_that_does_not_exist_creates_none(tmp_path: Path, command: list[str]) -> None:
    """A mistyped --db is said on stderr, not left behind as a new empty database."""
    missing = tmp_path / "typo" / "sipparse.db"
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{missing}", *command])
    assert result.exit_code == (1 if command[0] == "show" else 0)
    assert result.stderr.startswith(f"Note: no database at {missing} yet")
    assert not missing.parent.exists()


def test_user_dialect_from_the_config_and_patterns_dir(sqlite_url: str, tmp_path: Path) -> None:
    patterns = tmp_path / "patterns"
    patterns.mkdir()
    (patterns / "site").write_text("SITE_PREFIX %{TIMESTAMP_ISO8601:ts} %{HOSTNAME:h} sip\\[%{INT:p}\\]: \n")
    syslog = make_log(2).decode()
    prefix = "Mar  1 12:00:0"
    lines = []
    for line in syslog.splitlines():
        if line.startswith(prefix):
            stamp, rest = line[:15], line.split("asterisk[6541]: ", 1)[1]
            lines.append(f"2025-03-01T12:00:0{stamp[-1]}Z edge-1 sip[77]: {rest}")
        else:
            lines.append(line)
    (tmp_path / "site.log").write_text("\n".join(lines) + "\n")
    config = tmp_path / "sipparse.toml"
    config.write_text('[[dialects]]\nname = "site"\nline = "%{SITE_PREFIX}"\n'
                      'fields = { timestamp = "ts", host = "h", pid = "p" }\nlayout = "syslog"\n')
    argv = ["--db", sqlite_url, "--config", str(config), "ingest", "--tz", "UTC", "--no-progress",
            "--format", "site", "--patterns-dir", str(patterns), str(tmp_path / "site.log")]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, (result.output, result.exception)
    rows = dump(sqlite_url)
    assert len(rows) == message_count(2)
    assert {row.split("\t")[10] for row in rows} == {"edge-1"}


def test_a_patterns_dir_on_the_command_line_wins_over_the_configs(sqlite_url: str, tmp_path: Path) -> None:
    """As for `grok match`: the config's [grok] patterns_dir first, then --patterns-dir, whose
    definitions win (the config's used to win in `ingest`, so a fix tried on the command
    line did not take)."""
    configured, given = tmp_path / "configured", tmp_path / "given"
    configured.mkdir()
    given.mkdir()
    (configured / "site").write_text("ASTERISK_SYSLOG_LINE (?<timestamp>%{TIMESTAMP_ISO8601}) nowhere: \n")
    (given / "site").write_text("ASTERISK_SYSLOG_LINE (?<timestamp>%{SYSLOGTIMESTAMP}) (?<host>[^ ]+) "
                                "(?<program>[a-z]+)\\[(?<pid>[0-9]+)\\]: \n")
    (tmp_path / "pjsip").write_bytes(make_log(2))
    config = tmp_path / "sipparse.toml"
    config.write_text(f'[grok]\npatterns_dir = ["{configured}"]\n')
    argv = ["--db", sqlite_url, "--config", str(config), "ingest", "--tz", "UTC", "--no-progress",
            "--format", "syslog", "--patterns-dir", str(given), str(tmp_path / "pjsip")]
    result = CliRunner().invoke(cli, argv)
    assert result.exit_code == 0, (result.output, result.exception)
    assert len(dump(sqlite_url)) == message_count(2)


def _unknown_format_log(calls: int) -> bytes:
    """A syslog log whose prefix no built-in dialect knows (epoch seconds, then a tag)."""
    return re.sub(rb"(?m)^Mar  1 12:00:0(\d) pbx1 asterisk\[6541\]: ", rb"174066480\1 pbx1 sip: ", make_log(calls))


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_log_in_no_known_format_is_named_and_left_unread(sqlite_url: str, tmp_path: Path, workers: str) -> None:
    (tmp_path / "good").write_bytes(make_log(2))
    odd = tmp_path / "odd.log"
    odd.write_bytes(_unknown_format_log(3))
    result = run_process(sqlite_url, "--workers", workers, str(odd), str(tmp_path / "good"))
    assert result.returncode == 0
    assert result.stderr.startswith(f"Warning: {odd} not read: no known log format in its first lines")
    assert "174066480" in result.stderr and "[[dialects]]" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert count(sqlite_url) == message_count(2)
    assert count(sqlite_url, "checkpoints") == 1  # nothing moved for the odd one
    config = tmp_path / "sipparse.toml"
    config.write_text('[[dialects]]\nname = "epoch"\nlayout = "syslog"\n'
                      'line = "(?<timestamp>[0-9]{10}) (?<host>[^ ]+) sip: "\n')
    argv = ["--db", sqlite_url, "--config", str(config), "ingest", "--no-progress", str(odd)]
    later = CliRunner().invoke(cli, argv)
    assert later.exit_code == 0, later.output
    assert count(sqlite_url) == message_count(2) + message_count(3)
    assert "Warning" not in later.stderr


@pytest.mark.parametrize("workers", ["0", "1"])
def test_a_log_that_the_format_given_does_not_fit_is_named_and_left_unread(sqlite_url: str, tmp_path: Path,
                                                                            workers: str) -> None:
    """--format full for a syslog log, or a redefined prefix that matches nothing: every line
    was skipped and the checkpoint moved past them, so a later right run found nothing."""
    log = tmp_path / "pjsip"
    log.write_bytes(make_log(2, "syslog"))
    result = run_process(sqlite_url, "--workers", workers, "--format", "full", str(log))
    assert result.returncode == 0
    assert result.stderr.startswith(f"Warning: {log} not read: none of its first lines has the prefix of the "
                                    "'full' format it was given")
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert count(sqlite_url) == 0 and count(sqlite_url, "checkpoints") == 0
    later = run_process(sqlite_url, "--workers", workers, "--format", "syslog", str(log))
    assert later.returncode == 0 and later.stderr == ""
    assert count(sqlite_url) == message_count(2)


def test_a_syslog_log_rotated_after_its_format_changed_is_read_as_the_format_given(sqlite_url: str,
                                                                                   tmp_path: Path) -> None:
    """[ingest] format = syslog, and rsyslog's template changed to RFC 3339 time stamps: the
    lines in that format are read in a syslog log (a change midway), so a file that begins
    in it after a rotation is read as well, not refused as a log the format does not fit."""
    log = tmp_path / "pjsip"
    log.write_bytes(re.sub(rb"(?m)^Mar  1 ([0-9:]{8}) ", rb"2025-03-01T\1.000000+00:00 ", make_log(2, "syslog")))
    assert log.read_bytes().startswith(b"2025-03-01T12:00:00.000000+00:00 pbx1 asterisk[6541]: INVITE ")
    result = ingest(sqlite_url, "--format", "syslog", str(log))
    assert result.exit_code == 0 and "Warning" not in result.stderr, result.output
    assert count(sqlite_url) == message_count(2)


@pytest.mark.parametrize("content", [b"", b"\n\n  \n", b"\0" * 4096 + b"\n", b"[Nov 29 14:0"],
                         ids=["empty", "blank", "nul-hole", "first-line-unfinished"])
def test_a_log_with_no_whole_line_yet_is_no_error(sqlite_url: str, tmp_path: Path, content: bytes) -> None:
    (tmp_path / "pjsip").write_bytes(content)
    result = ingest(sqlite_url, str(tmp_path / "pjsip"))
    assert result.exit_code == 0, result.output
    assert count(sqlite_url) == 0


@pytest.mark.parametrize("workers", ["0", "1"])
def test_gzip_data_that_ends_early_is_read_up_to_there_once_settled(sqlite_url: str, tmp_path: Path,
                                                                     workers: str) -> None:
    """A compression cut short (full disk, crash): what the data holds is stored, and said
    once. While the file may still be being written it is an error, and nothing is taken."""
    whole = make_log(20)
    packed = gzip.compress(whole)
    cut = tmp_path / "pjsip.2.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    fresh = run_process(sqlite_url, "--workers", workers, str(cut))
    assert fresh.returncode == 1 and "once unchanged for 5 minutes" in fresh.stderr
    assert count(sqlite_url) == 0
    old = time.time() - 600
    os.utime(cut, (old, old))
    first = run_process(sqlite_url, "--workers", workers, str(cut))
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith(f"Warning: {cut}: its gzip data ends early, after ")
    stored = count(sqlite_url)
    assert message_count(20) // 2 < stored < message_count(20)
    readable = gzip.decompress(packed)[: int(first.stderr.split("after ")[1].split(" ")[0])]
    assert readable.count(b"Call-ID:") in (stored, stored + 1)  # + the message cut there
    again = run_process(sqlite_url, "--workers", workers, str(cut))
    assert again.returncode == 0 and again.stderr == "" and count(sqlite_url) == stored


@pytest.mark.parametrize(("codec", "compress"), [("bzip2", partial(bz2.compress, compresslevel=1)),
                                                 ("xz", lzma.compress)])
def test_bzip2_or_xz_data_that_ends_early_is_read_up_to_there_once_settled(
        sqlite_url: str, tmp_path: Path, codec: str, compress: Callable[[bytes], bytes]) -> None:
    """As gzip data that ends early is (bzip2 data in blocks of 100 kB of log, whole ones)."""
    packed = compress(make_log(60))
    cut = tmp_path / f"pjsip.2.{codec}"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    fresh = run_process(sqlite_url, str(cut))
    assert fresh.returncode == 1 and "once unchanged for 5 minutes" in fresh.stderr, fresh.stderr
    assert count(sqlite_url) == 0
    old = time.time() - 600
    os.utime(cut, (old, old))
    first = run_process(sqlite_url, str(cut))
    assert first.returncode == 0, first.stderr
    assert first.stderr.startswith(f"Warning: {cut}: its {codec} data ends early, after ")
    assert 0 < count(sqlite_url) < message_count(60)
    again = run_process(sqlite_url, str(cut))
    assert (again.returncode, again.stderr) == (0, "")


@pytest.mark.parametrize("workers", ["0", "1"])
def test_bytes_after_the_gzip_data_are_ignored_as_gzip_does(sqlite_url: str, tmp_path: Path, workers: str) -> None:
    """gzip(1) reads such a file whole ("trailing garbage ignored"); so is it read, and said once."""
    generation = tmp_path / "pjsip.2.gz"
    generation.write_bytes(gzip.compress(make_log(20)) + b"not gzip\n")
    first = run_process(sqlite_url, "--workers", workers, str(generation))
    assert first.returncode == 0, first.stderr
    assert first.stderr == (f"Warning: {generation}: its gzip data is followed by bytes that are not gzip, "
                            f"ignored as gzip does: the {len(make_log(20))} bytes before them are read\n")
    assert count(sqlite_url) == message_count(20)
    again = run_process(sqlite_url, "--workers", workers, str(generation))
    assert again.returncode == 0 and again.stderr == "" and count(sqlite_url) == message_count(20)


def test_quiet_still_warns_of_a_path_that_names_nothing(sqlite_url: str, tmp_path: Path) -> None:
    """cron mails what a job prints: a mistyped path must not ingest nothing, silently, forever."""
    (tmp_path / "rotated").write_bytes(make_log(1))
    (tmp_path / "rotated.1").write_bytes(make_log(1))
    os.unlink(tmp_path / "rotated")  # between a rename rotation and the writer's reopening
    result = run_process(sqlite_url, "--quiet", str(tmp_path / "pjsipp"), str(tmp_path / "nothing-*.log"),
                         str(tmp_path / "rotated"))
    assert result.returncode == 0 and result.stdout == ""
    assert sorted(result.stderr.splitlines()) == [
        f"Warning: {tmp_path / name}: no such file, nor a rotated generation of it"
        for name in ("nothing-*.log", "pjsipp")]


@pytest.mark.parametrize(("offset", "utc"), [("+0200", "2025-10-26 00:30:00.123000"),
                                             ("+0100", "2025-10-26 01:30:00.123000")])
def test_a_dateformat_with_its_offset_is_exact_in_the_repeated_hour(sqlite_url: str, tmp_path: Path, offset: str,
                                                                     utc: str) -> None:
    """logger.conf's ``dateformat = %F %T.%3q%z``: 02:30 local is twice on 26 October 2025 in
    Berlin, and the offset says which; --tz is not needed for it."""
    sample = (Path(__file__).parents[1] / "data" / "pjsip-full.log").read_text()
    log = tmp_path / "pjsip"
    log.write_text(re.sub(r"^\[[^\]]+\]", f"[2025-10-26 02:30:00.123{offset}]", sample, flags=re.M))
    ingest_ok(sqlite_url, "--tz", "Europe/Berlin", str(log))
    with open_db(sqlite_url) as store:
        stamps = {str(r[0]) for r in store.query("SELECT DISTINCT timestamp FROM sip_transactions")}
    assert stamps == {utc}


def test_a_bad_tz_is_refused_in_the_words_of_every_other_command(tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    ingest = runner.invoke(cli, [*db, "ingest", "--tz", "Europe/Berln", str(tmp_path / "pjsip")])
    calls = runner.invoke(cli, [*db, "calls", "--tz", "Europe/Berln"])
    assert ingest.exit_code == calls.exit_code == 2
    assert ingest.stderr.splitlines()[-1] == calls.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--tz': unknown time zone 'Europe/Berln': use an IANA name like Europe/Berlin, "
        "or UTC")


def test_a_patterns_dir_that_is_not_there_is_a_usage_error_as_in_grok(tmp_path: Path) -> None:
    runner = CliRunner()
    db = ["--db", f"sqlite:///{tmp_path / 'x.db'}"]
    gone = str(tmp_path / "gone")
    ingest = runner.invoke(cli, [*db, "ingest", "--patterns-dir", gone, str(tmp_path / "pjsip")])
    grok = runner.invoke(cli, ["grok", "match", "--patterns-dir", gone, "%{WORD}"], input="")
    assert ingest.exit_code == grok.exit_code == 2
    assert ingest.stderr.splitlines()[-1] == grok.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--patterns-dir': Directory '{gone}' does not exist.")


def test_a_yearless_log_read_a_year_on_takes_the_year_it_was_last_written(sqlite_url: str, tmp_path: Path) -> None:
    """The sample's 29 November, in a file last written on 30 November two years ago, is
    that year's: not this year's (perhaps still ahead), nor last year's."""
    year = time.gmtime().tm_year - 2
    log = tmp_path / "pjsip"
    log.write_bytes((Path(__file__).parents[1] / "data" / "pjsip-syslog.log").read_bytes())
    written = time.mktime((year, 11, 30, 12, 0, 0, 0, 0, -1))
    os.utime(log, (written, written))
    ingest_ok(sqlite_url, str(log))
    with open_db(sqlite_url) as store:
        years = {str(r[0])[:4] for r in store.query("SELECT DISTINCT timestamp FROM sip_transactions")}
    assert years == {str(year)}


@pytest.mark.parametrize(("name", "stamp"), [("pjsip-full.log", r"[Dec 31 23:59:60]"),
                                             ("pjsip-syslog.log", "Dec 31 23:59:60")])
def test_messages_logged_in_a_leap_second_are_stored_at_the_next_days_start(sqlite_url: str, tmp_path: Path,
                                                                           name: str, stamp: str) -> None:
    sample = (Path(__file__).parents[1] / "data" / name).read_text()
    log = tmp_path / "pjsip"
    log.write_text(sample.replace(stamp.replace("Dec 31 23:59:60", "Nov 29 14:09:10"), stamp))
    ingest_ok(sqlite_url, "--year", "2016", str(log))
    with open_db(sqlite_url) as store:
        stamps = {str(r[0]) for r in store.query("SELECT timestamp FROM sip_transactions WHERE call_id = ?",
                                                  ("1-6347@127.0.0.1",))}
    assert "2017-01-01 00:00:00" in stamps and "None" not in stamps


REPEATED_HOUR_CALLS = [datetime(2025, 10, 25, 23, 30) + timedelta(minutes=10 * n) for n in range(19)]


def _calls_at(instants: list[datetime], first: int, dialect: str) -> bytes:
    """Calls numbered from ``first``, each logged at its instant (UTC) on a Berlin clock."""
    chunks = []
    for n, instant in enumerate(instants, first):
        wall = instant.replace(tzinfo=UTC).astimezone(ZoneInfo("Europe/Berlin")).replace(tzinfo=None)
        for direction, headers, body in call_messages(n):
            chunks.append(full_message(wall, direction, headers, body) if dialect == "full"
                          else syslog_message(wall, "pbx1", headers, body))
    return b"".join(chunks)


def _stored_call_times(db_url: str) -> dict[str, str]:
    with open_db(db_url) as store:
        return {cid: str(ts) for cid, ts in store.query("SELECT DISTINCT call_id, timestamp FROM sip_transactions")}


def _call_times(instants: list[datetime]) -> dict[str, str]:
    return {call_messages(n)[0][1][4].removeprefix("Call-ID: "): f"{instant:%Y-%m-%d %H:%M:%S}"
            for n, instant in enumerate(instants)}


@pytest.mark.parametrize("dialect", ["full", "syslog"])
def test_a_log_through_the_repeated_hour_stays_in_order(sqlite_url: str, tmp_path: Path, dialect: str) -> None:
    """A call every 10 minutes from 01:30 summer time to 03:30 winter time in Berlin, the
    night of 26 October 2025: 02:00 to 02:59 is logged twice, and each second time is the
    later hour's (the nearer one to the message before it)."""
    log = tmp_path / "pjsip"
    log.write_bytes(_calls_at(REPEATED_HOUR_CALLS, 0, dialect))
    ingest_ok(sqlite_url, "--tz", "Europe/Berlin", "--year", "2025", str(log))
    assert _stored_call_times(sqlite_url) == _call_times(REPEATED_HOUR_CALLS)


def test_host_label_is_stored_without_the_spaces_typed_around_it(sqlite_url: str, tmp_path: Path) -> None:
    """`calls --host` and `stats --host` take the spaces around a name as typed, not as the
    host's: the label ingest stores must be the same name, or they never find its calls."""
    (tmp_path / "pjsip").write_bytes((Path(__file__).parents[1] / "data" / "pjsip-full.log").read_bytes())
    ingest_ok(sqlite_url, "--host", " pbx-a ", str(tmp_path / "pjsip"))
    assert {row.split("\t")[10] for row in dump(sqlite_url)} == {"pbx-a"}
    found = CliRunner().invoke(cli, ["--db", sqlite_url, "calls", "--host", "pbx-a", "--format", "json"])
    assert found.exit_code == 0 and json.loads(found.output)


def test_rejects_name_their_host_and_host_lists_one_hosts(db_url: str, tmp_path: Path) -> None:
    """Every PBX of a shared database logs to the same path: the file alone does not say
    whose log a reject came from."""
    broken = b"[Mar  1 12:00:00] VERBOSE[6541] res_pjsip_logger.c: <--- Received SIP request (90 bytes) " \
             b"from UDP:10.0.0.5:5060 --->\nINVITE sip:x SIP/2.0\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bKx\n" \
             b"CSeq: banana\n\n"
    log = tmp_path / "pjsip"
    for host, first in (("pbx-a", 0), ("pbx-b", 1)):
        log.write_bytes(make_log(1, "full", first) + broken + make_log(1, "full", first + 2))
        ingest_ok(db_url, "--host", host, "--format", "full", str(log))
    table = CliRunner().invoke(cli, ["--db", db_url, "rejects"])
    header = table.output.splitlines()[0].split()
    assert table.exit_code == 0 and header[-5:] == ["host", "file", "offset", "reason", "raw"], table.output
    assert "pbx-a" in table.output and "pbx-b" in table.output
    listed = CliRunner().invoke(cli, ["--db", db_url, "rejects", "--host", "pbx-b", "--format", "json"])
    rows = json.loads(listed.output)
    assert rows and {row["host"] for row in rows} == {"pbx-b"}


def test_runs_every_few_minutes_through_the_repeated_hour_store_it_in_order(sqlite_url: str, tmp_path: Path) -> None:
    """A run that resumes within the repeated hour has no message before its first: that
    one is the meaning nearer the time the log was last written."""
    log = tmp_path / "pjsip"
    log.write_bytes(b"")
    for start, end in [(0, 5), (5, 7), (7, 11), (11, 13), (13, 19)]:  # runs resume at 02:20 and 02:30 twice
        with log.open("ab") as fh:
            fh.write(_calls_at(REPEATED_HOUR_CALLS[start:end], start, "full"))
        written = (REPEATED_HOUR_CALLS[end - 1] + timedelta(minutes=2)).replace(tzinfo=UTC).timestamp()
        os.utime(log, (written, written))
        ingest_ok(sqlite_url, "--tz", "Europe/Berlin", "--year", "2025", str(log))
    assert _stored_call_times(sqlite_url) == _call_times(REPEATED_HOUR_CALLS)
