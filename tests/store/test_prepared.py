"""MySQL's multi-row INSERTs on both connectors: SQL text escaped by the C extension (as
``sipparse`` loads it), prepared statements with the pure-Python one; and the same batches by
``LOAD DATA LOCAL``, which takes the messages and rejects where the server allows it.

The test process itself imports the connector after ``ssl`` (pure Python then), so a child
process that loads it first writes the same batches into MySQL, and what it stored must be
what SQLite stored in this process: long values clipped, huge integers left out with a note,
undecodable text replaced, more batch sizes than the statement cache holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from sipparse.sip.message import SipMessage, Source
from sipparse.store import open_store
from sipparse.store.mysql import STATEMENT_CACHE, MySQLStore
from tests.conftest import server_global
from tests.store.factory import mixed_traffic

SOURCE = Source("/var/log/asterisk/pjsip", "fp-prepared")
START = datetime(2025, 2, 1, 18, 32, 31)
ROOT = Path(__file__).resolve().parents[2]
CHILD = """
import json, sys
from sipparse.store.mysql import _connector
cext = _connector().HAVE_CEXT
from tests.store.test_prepared import write_sample
print(json.dumps({"cext": bool(cext), "stored": write_sample(sys.argv[1], sys.argv[2] == "load")}))
"""


def batches() -> list[list[SipMessage]]:
    messages = mixed_traffic(SOURCE, 60, START)
    messages[3] = replace(messages[3], from_user="u" * 400, call_id="c" * 700)
    messages[5] = replace(messages[5], from_display="bad \udcff byte", content_length=1 << 70)
    messages[8] = replace(messages[8], q850_cause=1 << 40, problems=["no blank line"])
    messages[40] = replace(messages[40], call_id="bad \udcff call")
    sizes = range(1, STATEMENT_CACHE + 5)  # one prepared statement per row count
    out, start = [], 0
    for size in sizes:
        out.append(messages[start:start + size])
        start += size
    return out + [messages[start:]]


def write_sample(url: str, load: bool = False) -> dict[str, Any]:
    """Write the sample batches (twice: the second time changes nothing) and read them back,
    on MySQL by INSERTs only or (``load``) by LOAD DATA where the server allows it."""
    with open_store(url) as store:
        if isinstance(store, MySQLStore):
            store._can_load = load
        results = [store.write_batch(b) for b in batches() for _ in range(2)]
        stored = store.fetchall(
            "SELECT source_offset, call_id, from_user, from_display, content_length, q850_cause, problems "
            "FROM sip_transactions ORDER BY id")
        calls = store.fetchall("SELECT call_id, state, message_count, from_user FROM calls ORDER BY call_id")
    return {"results": [[r.inserted, r.duplicates] for r in results], "rows": stored, "calls": calls}


@pytest.mark.mysql
@pytest.mark.parametrize("path", ["insert", "load"])
def test_c_extension_child_stores_what_sqlite_stores(mysql_url: str, sqlite_url: str, path: str) -> None:
    child = subprocess.run([sys.executable, "-c", CHILD, mysql_url, path], cwd=ROOT, capture_output=True,
                           text=True, timeout=120, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    found = json.loads(child.stdout)
    expected = write_sample(sqlite_url)
    assert found["stored"] == json.loads(json.dumps(expected))
    assert [len(r["call_id"]) for r in expected["rows"]][3] == 512
    assert expected["rows"][5]["from_display"] == "bad \ufffd byte"
    assert expected["rows"][8]["problems"].startswith("no blank line; q850_cause ")
    assert {c["call_id"]: c["message_count"] for c in expected["calls"]}["bad \ufffd call"] == 1
    if not found["cext"]:
        pytest.skip("the connector's C extension does not load here; the pure connector was compared")


@pytest.mark.mysql
@pytest.mark.parametrize("load", [False, True])
def test_pure_connector_in_process_stores_the_same(mysql_url: str, sqlite_url: str, load: bool) -> None:
    assert write_sample(mysql_url, load) == write_sample(sqlite_url)


LEAK_CHILD = """
import json, sys
from sipparse.store.mysql import _connector
cext = _connector().HAVE_CEXT
from dataclasses import replace
from tests.store.test_prepared import SOURCE, START
from tests.store.factory import mixed_traffic
from sipparse.store import open_store

def rss():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0])

calls = mixed_traffic(SOURCE, 600, START)
BATCHES = 20
with open_store(sys.argv[1]) as store:
    sizes = []
    for n in range(BATCHES):
        # calls of their own in each batch: the same work each time (the same calls again
        # would grow by their rows at every batch, and be read back ever longer)
        store.write_batch([replace(m, offset=m.offset + n * 10**9, call_id=f"{m.call_id}-{n}") for m in calls])
        sizes.append(rss())
print(json.dumps({"cext": bool(cext), "messages": BATCHES * len(calls), "rss_kib": sizes}))
"""


@pytest.mark.mysql
def test_memory_stays_flat_over_many_batches(mysql_url: str) -> None:
    """The write path must not leak: ingest --follow writes for weeks in one process."""
    child = subprocess.run([sys.executable, "-c", LEAK_CHILD, mysql_url], cwd=ROOT, capture_output=True,
                           text=True, timeout=300, check=False)
    assert child.returncode == 0, child.stderr[-2000:]
    found = json.loads(child.stdout)
    sizes = found["rss_kib"]
    # the allocator's high-water mark wanders by a few MiB; a leak only grows (the C
    # extension's prepared statements: by 2 to 3 MiB a batch here)
    assert min(sizes[-6:]) - max(sizes[2:8]) < 8192, found


@pytest.fixture
def no_prepared_statements(mysql_root_url: str) -> Iterator[None]:
    """A server that holds no more prepared statements: its max_prepared_stmt_count reached
    (the count is for all sessions: other applications may have taken them all), here 0."""
    with server_global(mysql_root_url, "max_prepared_stmt_count", 0):
        yield


@pytest.mark.mysql
@pytest.mark.usefixtures("no_prepared_statements")
def test_pure_connector_without_prepared_statements_stores_the_same(mysql_url: str, sqlite_url: str) -> None:
    """Error 1461 (max_prepared_stmt_count) for the pure connector's prepared INSERTs: the
    rows go as SQL text instead, as the C extension sends them."""
    assert write_sample(mysql_url) == write_sample(sqlite_url)
