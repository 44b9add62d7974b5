"""MySQL: rows written by ``LOAD DATA LOCAL INFILE`` are the rows the multi-row INSERT writes.

The same hostile batches (NUL, tab, LF, CR, backslash, ``\\N`` and ``NULL`` as text, empty
strings, invalid UTF-8 and 0xFF bytes in raw messages, emoji, microseconds, big integers,
duplicates within and across batches, rejects) go into two fresh databases, one by the load
and one by INSERTs, and every column of every table must come back the same. Both connectors:
the test process runs the pure-Python one, a child process the C extension (see
``test_prepared.py`` for why it takes a child).
"""

from __future__ import annotations

import ast
import logging
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sipparse.errors import DatabaseError
from sipparse.sip.message import Reject, SipMessage, Source
from sipparse.store import open_store, rows
from sipparse.store.base import MESSAGE_TABLE
from sipparse.store.mysql import LOAD_DIR_PREFIX, STALE_LOAD_DIR, MySQLStore
from tests.conftest import fresh_database, server_global
from tests.store.factory import mixed_traffic

SOURCE = Source("/var/log/asterisk/pjsip", "fp-load")
START = datetime(2025, 2, 1, 18, 32, 31)
ROOT = Path(__file__).resolve().parents[2]
TEXTS = ("", "\\", "\\N", "NULL", "tab\there", "line\nnext", "cr\r\nlf", "nul\x00byte", "emoji \U0001f600 ü",
         "quotes ' \" `", "ctrl-z \x1a", "ends in \\", "\\t not a tab", "\\\\N")
BLOBS = (b"", b"\x00", b"\t\n\\", b"\xff\xfe \xc3\x28 invalid", b"\\N", b"NULL", b"\r\n\r\n", b"\\0\x00\\")
WRITTEN_AT = ("id", "ingested_at", "created_at", "updated_at")  # differ by when and in what order
CHILD = """
import sys
import time
from sipparse.store.mysql import _connector
cext = _connector().HAVE_CEXT
from tests.store.test_mysql_load import stored
print(repr({"cext": bool(cext), "load": stored(sys.argv[1], True), "insert": stored(sys.argv[2], False)}))
"""


def hostile_message(message: SipMessage, n: int) -> SipMessage:
    text = TEXTS[n % len(TEXTS)]
    return replace(
        message,
        raw_message=message.raw_message + BLOBS[n % len(BLOBS)],
        from_display=text,
        to_display=text or None,
        user_agent=text + "\U0001f4de",
        sdp_content=text if n % 3 else None,
        reason_phrase=text if message.status_code else None,
        via_branch=text[:255],
        timestamp=message.timestamp.replace(microsecond=(n * 7919) % 1_000_000 if n % 4 else 0)
        if message.timestamp and n % 9 else None,
        content_length=(1 << 62) + n,
        marker_bytes=-(1 << 62) - n,
        problems=[text, "second"] if n % 5 == 0 else [],
        host="pbx\t\\N\n",  # the same in every row: a column converted once
    )


def hostile_batches() -> list[tuple[list[SipMessage], list[Reject]]]:
    messages = [hostile_message(m, n) for n, m in enumerate(mixed_traffic(SOURCE, 30, START))]
    rejects = [Reject(SOURCE, 10**12 + n, 10**12 + n + 1, TEXTS[n % len(TEXTS)], BLOBS[n % len(BLOBS)] * 3,
                      START.replace(microsecond=n) if n % 2 else None, TEXTS[n % len(TEXTS)][:255] or None)
               for n in range(len(BLOBS) * 2)]
    half = len(messages) // 2
    return [
        (messages[:half] + messages[:5], rejects[:6]),  # repeated within the batch
        (messages[half - 10:], rejects[4:] + rejects[:2]),  # overlapping the first batch
        (messages[:20], rejects[:3]),  # nothing new
    ]


def session_loads(store: MySQLStore) -> int:
    return int(store.query("SHOW SESSION STATUS LIKE 'Com_load'")[0][1])


def stored(url: str, load: bool) -> dict[str, Any]:
    """Write the hostile batches with or without the load; everything stored, as plain values."""
    with open_store(url) as store:
        assert isinstance(store, MySQLStore)
        store._can_load = load  # what a server's refusal sets
        results = [store.write_batch(m, r) for m, r in hostile_batches()]
        loads = session_loads(store)
        assert store.loaded_rows == (sum(len(m) + len(r) for m, r in hostile_batches()) if load else 0)
        tables = {table: [{k: v for k, v in row.items() if k not in WRITTEN_AT}
                          for row in store.fetchall(f"SELECT * FROM {table} ORDER BY {order}")]
                  for table, order in (("sip_transactions", "id"), ("rejects", "id"), ("calls", "call_id"))}
    return {"results": [(r.inserted, r.duplicates, r.rejects, r.calls) for r in results], "loads": loads, **tables}


def check_same(load: dict[str, Any], insert: dict[str, Any]) -> None:
    assert load["loads"] > 0 and insert["loads"] == 0
    assert load["results"] == insert["results"]
    assert load["results"][2][:3] == (0, 20, 0)
    for table in ("sip_transactions", "rejects", "calls"):
        assert load[table] == insert[table], table
    shown = {row["from_display"] for row in load["sip_transactions"]}
    assert set(TEXTS) <= shown and None not in shown
    assert any(b"\xff\xfe \xc3\x28 invalid" in row["raw_message"] for row in load["sip_transactions"])
    assert {row["raw"] for row in load["rejects"]} == {b * 3 for b in BLOBS}
    assert {row["host"] for row in load["sip_transactions"]} == {"pbx\t\\N\n"}


@contextmanager
def server_local_infile(root_url: str, on: bool) -> Iterator[None]:
    """The server's ``local_infile`` set for the block (MySQL 8 ships with it off), then restored."""
    with server_global(root_url, "local_infile", int(on)):
        yield


@pytest.fixture
def local_infile(mysql_root_url: str) -> Iterator[None]:
    with server_local_infile(mysql_root_url, True):
        yield


@pytest.fixture
def other_mysql_url(mysql_root_url: str) -> Iterator[str]:
    """A second fresh database on the same server."""
    with fresh_database(mysql_root_url) as url:
        yield url


@pytest.mark.mysql
@pytest.mark.usefixtures("local_infile")
def test_load_stores_what_insert_stores(mysql_url: str, other_mysql_url: str) -> None:
    check_same(stored(mysql_url, True), stored(other_mysql_url, False))


@pytest.mark.mysql
@pytest.mark.usefixtures("local_infile")
def test_c_extension_load_stores_what_insert_stores(mysql_url: str, other_mysql_url: str) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD, mysql_url, other_mysql_url], cwd=ROOT,
                           capture_output=True, text=True, timeout=180, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    found = ast.literal_eval(child.stdout)
    check_same(found["load"], found["insert"])
    if not found["cext"]:
        pytest.skip("the connector's C extension does not load here; the pure connector was compared")


@pytest.fixture
def store(mysql_url: str, local_infile: None) -> Iterator[MySQLStore]:
    """A MySQL store on a server that allows local loads."""
    with open_store(mysql_url) as store:
        assert isinstance(store, MySQLStore)
        yield store


def message_insert(store: MySQLStore) -> str:
    return store.insert_ignore_sql(MESSAGE_TABLE, rows.ROW_COLUMNS)


def sample_rows(store: MySQLStore, count: int) -> list[tuple[Any, ...]]:
    messages = [hostile_message(m, n) for n, m in enumerate(mixed_traffic(SOURCE, 30, START))][:count]
    return rows.message_rows(messages, START, store.fmt_times).rows


@pytest.mark.mysql
def test_load_warns_of_nothing_and_leaves_no_file(store: MySQLStore) -> None:
    directory = Path(store._load_dir)
    assert not directory.exists()  # made for each load only
    insert = message_insert(store)
    values = sample_rows(store, 100)
    before = session_loads(store)
    assert store.executemany(insert, values) == 100
    assert session_loads(store) == before + 1 and store.loaded_rows == 100
    assert store.query("SHOW WARNINGS") == []
    # all duplicates: more warnings than the server keeps (max_error_count, 64), all of them
    # "Duplicate entry", so the load stands
    assert store.executemany(insert, values) == 0
    assert store.loaded_rows == 200
    assert not directory.exists()
    store.commit()


@pytest.mark.mysql
def test_a_taken_directory_name_sends_nothing_from_it(store: MySQLStore) -> None:
    """Someone who creates the load's directory first gets no say: the rows go by INSERT."""
    insert = message_insert(store)
    planted = Path(store._load_dir)
    planted.mkdir(mode=0o777)
    try:
        (planted / "rows").write_bytes(b"planted\n")
        assert store.executemany(insert, sample_rows(store, 30)) == 30
        assert store.loaded_rows == 0 and (planted / "rows").read_bytes() == b"planted\n"
    finally:
        (planted / "rows").unlink()
        planted.rmdir()
    assert store.executemany(insert, sample_rows(store, 40)) == 10
    assert store.loaded_rows == 40
    store.commit()
    assert store.query("SELECT COUNT(*) FROM sip_transactions") == [(40,)]


@pytest.mark.mysql
def test_load_is_undone_with_its_transaction(store: MySQLStore) -> None:
    insert = message_insert(store)
    assert store.executemany(insert, sample_rows(store, 30)) == 30
    store.rollback()
    assert store.query("SELECT COUNT(*) FROM sip_transactions") == [(0,)]


@pytest.mark.mysql
def test_a_value_the_load_would_truncate_goes_by_insert(store: MySQLStore) -> None:
    """``IGNORE`` makes a too-long value a warning: the load is undone and the INSERT refuses
    the rows as strict mode always did, leaving the transaction's earlier rows alone."""
    insert = message_insert(store)
    good = sample_rows(store, 20)
    assert store.executemany(insert, good[:10]) == 10
    at = rows.ROW_NAMES.index("cseq_method")
    bad = [row[:at] + ("X" * 65,) + row[at + 1:] if n == 5 else row for n, row in enumerate(good[10:])]
    with pytest.raises(store._connector.Error, match="too long"):
        store.executemany(insert, bad)
    assert store.query("SELECT COUNT(*) FROM sip_transactions") == [(10,)]
    assert store._can_load and not Path(store._load_dir).exists()
    assert store.loaded_rows == 10


@pytest.mark.mysql
def test_server_refusing_local_files_falls_back_once(
    mysql_url: str, mysql_root_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with server_local_infile(mysql_root_url, False), caplog.at_level(logging.DEBUG, logger="sipparse.store.mysql"):
        with open_store(mysql_url) as store:
            assert isinstance(store, MySQLStore)
            results = [store.write_batch(m, r) for m, r in hostile_batches()]
            assert not store._can_load
            loaded = store.fetchall("SELECT COUNT(*) AS n FROM sip_transactions")[0]["n"]
    offsets = {m.offset for messages, _ in hostile_batches() for m in messages}
    assert sum(r.inserted for r in results) == loaded == len(offsets)
    assert results[2].inserted == 0
    assert sum("LOAD DATA LOCAL refused" in r.getMessage() for r in caplog.records) == 1


@pytest.mark.mysql
def test_server_cannot_ask_for_another_file(mysql_url: str, tmp_path: Path) -> None:
    """LOAD DATA LOCAL lets the server name the file; the client sends only its own."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the server\n")
    with open_store(mysql_url) as store:
        assert isinstance(store, MySQLStore)
        with pytest.raises((DatabaseError, store._connector.Error)):
            store.execute(f"LOAD DATA LOCAL INFILE '{secret}' INTO TABLE checkpoints (fingerprint)")
    with open_store(mysql_url) as store:
        assert store.query("SELECT COUNT(*) FROM checkpoints") == [(0,)]


@pytest.mark.mysql
def test_directories_left_by_killed_processes_are_swept(mysql_url: str) -> None:
    with open_store(mysql_url) as store:
        assert isinstance(store, MySQLStore)
        base = Path(store._load_dir).parent
    stale, fresh = (base / f"{LOAD_DIR_PREFIX}{kind}{uuid.uuid4().hex[:8]}" for kind in ("stale", "fresh"))
    for directory in (stale, fresh):
        directory.mkdir(mode=0o700)
        (directory / "rows").write_bytes(b"rows of a load cut short\n")
    old = time.time() - STALE_LOAD_DIR - 60
    os.utime(stale, (old, old))
    try:
        open_store(mysql_url).close()
        assert not stale.exists() and (fresh / "rows").exists()
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(fresh, ignore_errors=True)
