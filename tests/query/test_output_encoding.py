"""Query output on a terminal or pipe whose encoding is not UTF-8."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.ingest.siplog import make_log


def sipparse(db: Path, *args: str, encoding: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONIOENCODING": encoding}
    return subprocess.run([sys.executable, "-m", "sipparse", "--db", f"sqlite:///{db}", *args],
                          capture_output=True, env=env, timeout=60)


def test_a_display_name_the_encoding_lacks_is_escaped_not_an_error(tmp_path: Path) -> None:
    log = tmp_path / "pjsip.log"
    log.write_bytes(make_log(1).replace(b'"Alice 0"', '"山田 太郎"'.encode()))
    db = tmp_path / "sip.db"
    assert sipparse(db, "ingest", "--no-progress", "--tz", "UTC", str(log), encoding="utf-8").returncode == 0
    shown = sipparse(db, "show", "0-call", encoding="latin-1")
    assert shown.returncode == 0, shown.stderr
    assert b'"\\u5c71\\u7530 \\u592a\\u90ce" <sip:alice0@10.0.0.1>' in shown.stdout
    listed = sipparse(db, "calls", "--format", "json", "--utc", encoding="latin-1")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)[0]["from_sip"].startswith('"山田 太郎"')


def test_show_raw_on_a_terminal_shows_escape_sequences_as_escapes(tmp_path: Path) -> None:
    """Anyone can put them in a header; into a pipe the bytes stay as logged."""
    hostile = '"\x1b]0;owned\x07\x1b[2J\x9b2J"'.encode()
    log = tmp_path / "pjsip.log"
    log.write_bytes(make_log(1).replace(b'"Alice 0"', hostile))
    db = tmp_path / "sip.db"
    assert sipparse(db, "ingest", "--no-progress", "--tz", "UTC", str(log), encoding="utf-8").returncode == 0
    assert hostile in sipparse(db, "show", "0-call", "--format", "raw", encoding="utf-8").stdout
    shown = _on_a_terminal(db, "show", "0-call", "--format", "raw")
    assert b'"\\x1b]0;owned\\x07\\x1b[2J\\x9b2J"' in shown, shown
    assert b"\x1b" not in shown and b"\x07" not in shown and b"\xc2\x9b" not in shown


def test_calls_csv_on_a_terminal_and_json_anywhere_show_escape_sequences_as_escapes(tmp_path: Path) -> None:
    hostile = '"\x1b]0;owned\x07\u202e\x9b2J"'
    log = tmp_path / "pjsip.log"
    log.write_bytes(make_log(1).replace(b'"Alice 0"', hostile.encode()))
    db = tmp_path / "sip.db"
    assert sipparse(db, "ingest", "--no-progress", "--tz", "UTC", str(log), encoding="utf-8").returncode == 0
    piped = sipparse(db, "calls", "--format", "csv", encoding="utf-8").stdout
    assert hostile.replace('"', '""').encode() in piped  # whole values for scripts
    shown = _on_a_terminal(db, "calls", "--format", "csv")
    assert b"\\x1b]0;owned\\x07\\u202e\\x9b2J" in shown, shown
    for fmt in ("csv", "json"):
        shown = _on_a_terminal(db, "calls", "--format", fmt)
        assert not any(c in shown.decode() for c in "\x1b\x07\u202e\x9b"), (fmt, shown)
    parsed = json.loads(sipparse(db, "calls", "--format", "json", encoding="utf-8").stdout)
    assert parsed[0]["from_sip"].startswith(hostile)


def _on_a_terminal(db: Path, *args: str) -> bytes:
    """What sipparse writes to a terminal (a pseudo-terminal's other end)."""
    import pty

    leader, follower = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "sipparse", "--db", f"sqlite:///{db}", *args],
                          stdout=follower, stderr=subprocess.DEVNULL) as child:
        os.close(follower)
        shown = _read_all(leader)
        assert child.wait(timeout=60) == 0
    return shown


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # EIO: the child closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks)
