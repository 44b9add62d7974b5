"""What the fault and hostile-input tests share: logs to ingest, real processes, database dumps.

Everything here talks to real things: ``sipparse`` runs as a separate process (so it can be
SIGKILLed, starved of privileges or measured), databases are read back with plain SQL, and
the MariaDB that the outage tests stop and start is a server of their own.
"""

from __future__ import annotations

import hashlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sipparse.config import parse_db_url
from tests.mysql_server import ThrowawayServer
from tests.program import installed_sipparse

ROOT = Path(__file__).resolve().parents[2]

# -- logs ------------------------------------------------------------------------------

SDP_LINES = ["v=0", "o=- {n} {n} IN IP4 192.0.2.{h}", "s=-", "c=IN IP4 192.0.2.{h}", "t=0 0",
             "m=audio {port} RTP/AVP 0 8 101", "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
             "a=sendrecv"]


def sip_message(first: str, call_id: str, cseq: str, *, branch: str, from_tag: str, to_tag: str | None = None,
                body: Sequence[str] = (), extra: Sequence[str] = ()) -> bytes:
    """One SIP message with CRLF line ends and a Content-Length that matches its body."""
    payload = "".join(line + "\r\n" for line in body).encode()
    to = "<sip:bob@pbx.example>" + (f";tag={to_tag}" if to_tag else "")
    headers = [first, f"Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK{branch}",
               f"From: \"Alice\" <sip:alice@192.0.2.10>;tag={from_tag}", f"To: {to}",
               f"Call-ID: {call_id}", f"CSeq: {cseq}", "Max-Forwards: 70", *extra]
    if body:
        headers.append("Content-Type: application/sdp")
    headers.append(f"Content-Length: {len(payload)}")
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + payload


def call(n: int, prefix: str = "call") -> list[tuple[str, bytes]]:
    """(direction, message) of one call: INVITE, 100, 200 with SDP, ACK, BYE, 200."""
    cid = f"{prefix}-{n}@192.0.2.10"
    sdp = [line.format(n=n, h=n % 200 + 1, port=20000 + 2 * (n % 5000)) for line in SDP_LINES]
    ruri = "sip:bob@pbx.example"

    def m(first: str, cseq: str, branch: str, to_tag: str | None = None, body: Sequence[str] = ()) -> bytes:
        return sip_message(first, cid, cseq, branch=f"{branch}{n}", from_tag=f"f{n}", to_tag=to_tag,
                           body=body)

    return [
        ("in", m(f"INVITE {ruri} SIP/2.0", "1 INVITE", "a", body=sdp)),
        ("out", m("SIP/2.0 100 Trying", "1 INVITE", "a")),
        ("out", m("SIP/2.0 200 OK", "1 INVITE", "a", f"t{n}", sdp)),
        ("in", m(f"ACK {ruri} SIP/2.0", "1 ACK", "b", f"t{n}")),
        ("in", m(f"BYE {ruri} SIP/2.0", "2 BYE", "c", f"t{n}")),
        ("out", m("SIP/2.0 200 OK", "2 BYE", "c", f"t{n}")),
    ]


def marker(direction: str, msg: bytes) -> bytes:
    kind = b"response" if msg.startswith(b"SIP/") else b"request"
    if direction == "in":
        return b"<--- Received SIP %s (%d bytes) from UDP:192.0.2.20:5060 --->" % (kind, len(msg))
    return b"<--- Transmitting SIP %s (%d bytes) to UDP:192.0.2.20:5060 --->" % (kind, len(msg))


def as_full(direction: str, msg: bytes, when: datetime) -> bytes:
    """Asterisk's file channel: a prefixed marker line, the packet verbatim, one LF."""
    stamp = f"[{when:%b} {when.day:2d} {when:%H:%M:%S}] VERBOSE[4101] res_pjsip_logger.c: ".encode()
    return stamp + marker(direction, msg) + b"\n" + msg + b"\n"


def as_syslog(direction: str, msg: bytes, when: datetime, host: str = "pbx-a") -> bytes:
    """rsyslog forwarding the pjsip file: one syslog line per SIP line, CR as #015."""
    prefix = f"{when:%b} {when.day:2d} {when:%H:%M:%S} {host} asterisk[4101]: ".encode()
    lines = [prefix + f"[{when:%b} {when.day:2d} {when:%H:%M:%S}] VERBOSE[4101] res_pjsip_logger.c: ".encode()
             + marker(direction, msg)]
    body = msg.split(b"\n")
    if body[-1] == b"":
        body.pop()
    for line in body:  # rsyslog splits at LF; a CR before it is shown as #015
        lines.append(prefix + (line[:-1] + b"#015" if line.endswith(b"\r") else line or b"#015"))
    return b"\n".join(lines) + b"\n"


def entry(direction: str, msg: bytes, when: datetime, dialect: str, host: str = "pbx-a") -> bytes:
    return as_full(direction, msg, when) if dialect == "full" else as_syslog(direction, msg, when, host)


def make_log(calls: int, dialect: str = "full", first: int = 0, prefix: str = "call", host: str = "pbx-a",
             start: datetime = datetime(2025, 6, 1, 9, 0, 0)) -> bytes:
    """A log of ``calls`` calls, six messages each, numbered from ``first``."""
    out = []
    for n in range(first, first + calls):
        when = start + timedelta(seconds=n)
        out += [entry(d, msg, when, dialect, host) for d, msg in call(n, prefix)]
    return b"".join(out)


def cut_at_message(data: bytes, fraction: float) -> int:
    """An offset near ``fraction`` of ``data`` where a logged message (its marker line) begins."""
    found = data.index(b"<---", int(len(data) * fraction))
    return data.rindex(b"\n", 0, found) + 1


# -- running sipparse ------------------------------------------------------------------

def sipparse_argv() -> list[str]:
    exe = installed_sipparse()
    return [exe] if exe else [sys.executable, "-m", "sipparse"]


def child_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def ingest_argv(db_url: str, *args: str) -> list[str]:
    return [*sipparse_argv(), "--db", db_url, "ingest", "--tz", "UTC", "--year", "2025", "--no-progress",
            *args]


def run(argv: Sequence[str], timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("env", child_env())
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, **kwargs)


def ingest(db_url: str, *args: str, timeout: float = 120, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return run(ingest_argv(db_url, *args), timeout=timeout, **kwargs)


def ingest_ok(db_url: str, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = ingest(db_url, *args, **kwargs)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    return done


def assert_one_line_error(done: subprocess.CompletedProcess[str], *, code: int = 1) -> str:
    """The failure shape of the contract: exit ``code``, one ``Error:`` line, no traceback."""
    assert done.returncode == code, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


@dataclass
class Measured:
    """A finished child process with its peak resident memory and its wall time."""

    result: subprocess.CompletedProcess[str]
    peak_rss_mib: float
    seconds: float


def measured(argv: Sequence[str], timeout: float = 120) -> Measured:
    """Run ``argv`` in a fresh child and report its own peak RSS (from wait4's rusage)."""
    started = time.monotonic()
    proc = subprocess.Popen(list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
    deadline = started + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"{argv[-1]}: still running after {timeout} s")
        time.sleep(0.02)
    seconds = time.monotonic() - started
    out, err = proc.stdout.read().decode(errors="replace"), proc.stderr.read().decode(errors="replace")  # type: ignore[union-attr]
    proc.returncode = os.waitstatus_to_exitcode(status)
    done = subprocess.CompletedProcess(list(argv), proc.returncode, out, err)
    return Measured(done, usage.ru_maxrss / 1024, seconds)


def children_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# -- reading databases back ------------------------------------------------------------

MESSAGE_KEY = ["call_id", "sip_method", "from_sip", "to_sip", "cseq", "cseq_method", "sdp_content",
               "timestamp", "status_code", "direction", "host", "source_fingerprint", "source_offset",
               "raw_message"]
CALL_KEY = ["call_id", "state", "first_seen", "last_seen", "from_user", "to_user", "final_status", "setup_ms",
            "duration_s", "message_count", "retransmissions", "hangup_by"]


def connect(db_url: str) -> Any:
    """A plain DB-API connection, behind sipparse's back."""
    url = parse_db_url(db_url)
    if url.is_sqlite:
        import sqlite3

        return sqlite3.connect(str(url.path), timeout=30)
    import mysql.connector

    return mysql.connector.connect(host=url.host, port=url.port or 3306, user=url.user or "root",
                                   password=url.password or "", database=url.database, autocommit=True)


def select(db_url: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    con = connect(db_url)
    try:
        cur = con.cursor()
        cur.execute(sql if parse_db_url(db_url).is_sqlite else sql.replace("?", "%s"), tuple(params))
        return [tuple(row) for row in cur.fetchall()]
    finally:
        con.close()


def _canon(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha256(bytes(value)).hexdigest()
    if isinstance(value, float):
        return f"{value:.3f}"
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _rows(db_url: str, table: str, columns: Sequence[str]) -> list[str]:
    quote = '"' if parse_db_url(db_url).is_sqlite else "`"
    names = ", ".join(f"{quote}{c}{quote}" for c in columns)
    return sorted("\t".join(map(_canon, row)) for row in select(db_url, f"SELECT {names} FROM {table}"))


def messages(db_url: str, identity: bool = True) -> list[str]:
    """Canonical content of ``sip_transactions``: one sorted line per row, ids ignored.

    Without ``identity`` the source (file fingerprint and offset) is left out, to compare
    messages read from rotated generations with those of one file holding the same lines.
    """
    key = MESSAGE_KEY if identity else [c for c in MESSAGE_KEY if not c.startswith("source_")]
    return _rows(db_url, "sip_transactions", key)


def calls(db_url: str) -> list[str]:
    """Canonical content of ``calls`` (the summary columns, not when they were refreshed)."""
    return _rows(db_url, "calls", CALL_KEY)


def checkpoints(db_url: str) -> list[tuple[str, int, int]]:
    """(fingerprint, offset, size) of every checkpoint, sorted."""
    quote = '"' if parse_db_url(db_url).is_sqlite else "`"
    found = select(db_url, f"SELECT fingerprint, {quote}offset{quote}, size FROM checkpoints")
    return sorted((str(f), int(o), int(s)) for f, o, s in found)


def raw_messages(db_url: str) -> list[bytes]:
    found = select(db_url, "SELECT raw_message FROM sip_transactions ORDER BY source_offset")
    return [bytes(r[0]) for r in found]


def assert_sane(db_url: str) -> None:
    """No message stored twice, every checkpoint inside what its file had, calls add up."""
    total = select(db_url, "SELECT COUNT(*) FROM sip_transactions")[0][0]
    distinct = select(db_url, "SELECT COUNT(*) FROM (SELECT DISTINCT source_fingerprint, source_offset "
                              "FROM sip_transactions) AS d")[0][0]
    assert total == distinct, f"{total - distinct} messages stored twice"
    for fingerprint, offset, size in checkpoints(db_url):
        assert 0 <= offset <= size, (fingerprint, offset, size)
    per_call = dict(select(db_url, "SELECT call_id, COUNT(*) FROM sip_transactions GROUP BY call_id"))
    summary = dict(select(db_url, "SELECT call_id, message_count FROM calls"))
    assert {k: int(v) for k, v in summary.items()} == {k: int(v) for k, v in per_call.items()}


@dataclass
class Content:
    """Everything a clean run leaves, to compare a faulty history with."""

    messages: list[str]
    calls: list[str]
    checkpoints: list[tuple[str, int, int]]
    plain: list[str]  # the messages without their source identity

    @classmethod
    def of(cls, db_url: str) -> Content:
        return cls(messages(db_url), calls(db_url), checkpoints(db_url), messages(db_url, identity=False))


def reference(tmp_path: Path, logs: dict[str, bytes], *args: str) -> Content:
    """One clean ingest of ``logs`` (file name -> bytes) into a fresh SQLite database.

    The files are written under the same names in their own directory, so fingerprints and
    offsets (part of the canonical rows) match those of the files under test.
    """
    where = tmp_path / f"reference-{len(list(tmp_path.glob('reference-*')))}"
    where.mkdir()
    paths = []
    for name, data in logs.items():
        (where / name).write_bytes(data)
        paths.append(str(where / name))
    url = f"sqlite:///{where / 'ref.db'}"
    for path in paths:  # one run per file: no rotated-sibling logic between them
        ingest_ok(url, *args, path)
    return Content.of(url)


# -- a MariaDB the tests may stop and start --------------------------------------------

class RestartableServer(ThrowawayServer):
    """A throwaway server whose datadir and port survive ``halt()`` / ``resume()``."""

    def __init__(self, lock_wait_timeout: int = 2) -> None:
        super().__init__()
        self.lock_wait_timeout = lock_wait_timeout
        self.url = ""

    def start(self) -> str:
        self.url = super().start()
        self.admin(f"SET GLOBAL innodb_lock_wait_timeout = {self.lock_wait_timeout}")
        return self.url

    def halt(self) -> None:
        """Stop the server (cleanly, as an operator or a package upgrade would)."""
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(timeout=60)

    def crash(self) -> None:
        """Kill the server outright (a crash, an OOM kill)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=60)

    def freeze(self) -> None:
        """Stop the server answering, its connections left open (SIGSTOP: a hung machine, or
        a network path that drops packets without a reset)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def resume(self) -> None:
        """Start the server again on the same datadir and port."""
        assert self.tmp is not None and self.server
        user = ["--user=root"] if os.geteuid() == 0 else []
        log = open(self.tmp / "server.log", "ab")
        self.proc = subprocess.Popen(
            [self.server, "--no-defaults", f"--datadir={self.tmp / 'data'}",
             f"--socket={self.tmp / 'mysql.sock'}",
             f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={self.tmp / 'server.pid'}",
             "--skip-name-resolve", "--innodb-buffer-pool-size=64M", "--innodb-flush-log-at-trx-commit=2",
             f"--innodb-lock-wait-timeout={self.lock_wait_timeout}", *user],
            stdout=log, stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def admin(self, sql: str, database: str | None = None) -> list[tuple[Any, ...]]:
        import mysql.connector

        con = mysql.connector.connect(host="127.0.0.1", port=self.port, user="root", password="",
                                      database=database, autocommit=True)
        try:
            cur = con.cursor()
            cur.execute(sql)
            return [tuple(r) for r in cur.fetchall()] if cur.with_rows else []
        finally:
            con.close()

    def database(self, name: str) -> str:
        """A fresh database on this server; its URL."""
        self.admin(f"DROP DATABASE IF EXISTS `{name}`")
        self.admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return f"mysql://root@127.0.0.1:{self.port}/{name}"
