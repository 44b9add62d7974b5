"""Running ingest in-process or as a real process, and comparing databases row for row."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from sipparse.cli import cli
from sipparse.config import parse_db_url
from tests.program import installed_sipparse

COLUMNS = ["call_id", "sip_method", "from_sip", "to_sip", "cseq", "cseq_method", "sdp_content", "timestamp",
           "status_code", "direction", "host", "raw_message"]


def ingest(db_url: str, *args: str) -> Result:
    """``sipparse ingest`` in-process (UTC timestamps, no bar), returning click's result."""
    argv = ["--db", db_url, "ingest", "--tz", "UTC", "--no-progress", *args]
    return CliRunner().invoke(cli, argv, catch_exceptions=True)


def ingest_ok(db_url: str, *args: str) -> str:
    result = ingest(db_url, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def sipparse_bin() -> list[str]:
    """The installed command, else the module: tests run the real process."""
    exe = installed_sipparse()
    return [exe] if exe else [sys.executable, "-m", "sipparse"]


def run_process(db_url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    argv = [*sipparse_bin(), "--db", db_url, "ingest", "--tz", "UTC", "--no-progress", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=_env())


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2]) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def open_db(db_url: str) -> Any:
    from sipparse.store import open_store

    return open_store(parse_db_url(db_url))


def _canon(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, (bytes, bytearray)):
        return hashlib.sha1(bytes(value)).hexdigest()
    return str(value).replace("T", " ") if not isinstance(value, str) else value


def dump(db_url: str) -> list[str]:
    """The canonical content of sip_transactions (ids and ingest times ignored), sorted."""
    store = open_db(db_url)
    try:
        rows = store.fetchall("SELECT " + ", ".join(COLUMNS) + " FROM sip_transactions")
    finally:
        store.close()
    return sorted("\t".join(_canon(row[c]) for c in COLUMNS) for row in rows)


def one_run(tmp_path: Path, *parts: bytes) -> list[str]:
    """``dump`` of a database that one run filled from ``parts`` written as one file: what
    any sequence of runs over the same bytes must store."""
    ref = f"sqlite:///{tmp_path / 'ref.db'}"
    whole = tmp_path / "ref.log"
    whole.write_bytes(b"".join(parts))
    ingest_ok(ref, str(whole))
    return dump(ref)


def dump_calls(db_url: str) -> list[str]:
    """The canonical content of calls (the moment each row was written ignored, and its
    number, which depends on the order calls were stored in: checked to agree with the
    message rows' instead), sorted."""
    from tests.store.helpers import refs_agree

    store = open_db(db_url)
    try:
        rows = store.fetchall("SELECT * FROM calls")
        assert refs_agree(store), f"{db_url}: the numbers of the calls and of their messages disagree"
    finally:
        store.close()
    return sorted("\t".join(_canon(v) for k, v in row.items() if k not in ("updated_at", "call_ref"))
                  for row in rows)


def count(db_url: str, table: str = "sip_transactions") -> int:
    store = open_db(db_url)
    try:
        return int(store.fetchall(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])
    finally:
        store.close()


def checkpoints(db_url: str) -> list[tuple[str, int, int]]:
    store = open_db(db_url)
    try:
        return sorted((cp.fingerprint, cp.offset, cp.size) for cp in store.checkpoints())
    finally:
        store.close()


def execute_raw(db_url: str, sql: str) -> None:
    """Run one statement on the database behind the store's back (to simulate accidents)."""
    url = parse_db_url(db_url)
    if url.is_sqlite:
        import sqlite3

        con = sqlite3.connect(str(url.path))
    else:
        import mysql.connector

        con = mysql.connector.connect(host=url.host, port=url.port or 3306, user=url.user,
                                      password=url.password or "", database=url.database)
    try:
        con.cursor().execute(sql)
        con.commit()
    finally:
        con.close()
