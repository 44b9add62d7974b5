"""``calls --format json|csv`` of every call: read and written a page at a time."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.config import parse_db_url
from sipparse.query import calls as calls_lib
from sipparse.query.times import Clock
from sipparse.store import open_store
from tests.query.scenarios import Scenario, build, store_all


@pytest.fixture
def many(db_url: str) -> str:
    """Calls of every outcome, several starting in the same second (ties to break)."""
    t = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    finals = [200, 486, 404, None, 503]
    store_all(db_url, [build(Scenario(f"c{n:02d}@pbx", t + timedelta(seconds=n // 3), finals[n % 5],
                                      talk_s=5.0 if n % 5 == 0 else None, from_user=f"1{n:02d}"))
                       for n in range(23)])
    return db_url


class Counting:
    """A store that remembers how many rows each of its queries returned."""

    def __init__(self, store: Any) -> None:
        self.store, self.backend, self.refs_calls, self.sizes = store, store.backend, store.refs_calls, []

    def fetchall(self, sql: str, params: Any = ()) -> list[dict[str, Any]]:
        rows = self.store.fetchall(sql, params)
        self.sizes.append(len(rows))
        return rows

    def columns(self, table: str) -> set[str]:
        return self.store.columns(table)


@pytest.mark.parametrize("limit", [None, 7, 9])
def test_calls_are_read_a_page_at_a_time_in_the_order_of_one_query(many: str, limit: int | None) -> None:
    with open_store(parse_db_url(many)) as store:
        whole = calls_lib.list_calls(store, calls_lib.CallFilter(kind="all", limit=limit))
        counting = Counting(store)
        paged = list(calls_lib.iter_calls(counting, calls_lib.CallFilter(kind="all", limit=limit), page_size=3))
    assert [r["call_id"] for r in paged] == [r["call_id"] for r in whole]
    assert paged == whole
    assert max(counting.sizes) <= 3 and len(counting.sizes) >= len(whole) // 3


def test_json_and_csv_are_written_as_they_are_read(many: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """1M calls as one list took 6 GB and 87 s before the first byte came out; a page at
    a time, the output is the same and the memory that of a page."""
    clock = Clock.from_options(utc=True, tz=None)
    with open_store(parse_db_url(many)) as store:
        rows = calls_lib.list_calls(store, calls_lib.CallFilter(limit=None))
    monkeypatch.setattr(calls_lib, "PAGE_SIZE", 4)

    def out(fmt: str) -> str:
        result = CliRunner().invoke(cli, ["--db", many, "calls", "--utc", "--limit", "0", "--format", fmt])
        assert result.exit_code == 0, result.output
        return result.stdout

    assert out("json") == calls_lib.render_calls_json(rows, clock) + "\n"
    assert json.loads(out("json")) == [calls_lib.call_json(r, clock) for r in rows]
    assert out("csv") == calls_lib.render_calls_csv(rows, clock) + "\n"
    assert len(list(csv.DictReader(io.StringIO(out("csv"))))) == len(rows)


def test_no_calls_are_an_empty_array_and_a_header_line(db_url: str) -> None:
    for fmt, expected in (("json", "[]\n"), ("csv", ",".join(calls_lib.CSV_HEADERS) + "\n")):
        result = CliRunner().invoke(cli, ["--db", db_url, "calls", "--format", fmt])
        assert result.exit_code == 0 and result.stdout == expected


def test_calls_without_a_first_time_come_last_in_pages_too(sqlite_url: str) -> None:
    t = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(hours=1)
    store_all(sqlite_url, [build(Scenario(f"c{n}@pbx", t + timedelta(seconds=n // 2), 200)) for n in range(9)])
    with sqlite3.connect(parse_db_url(sqlite_url).path) as con:
        con.execute("UPDATE calls SET first_seen = NULL WHERE call_id IN ('c1@pbx', 'c4@pbx', 'c7@pbx')")
    with open_store(parse_db_url(sqlite_url)) as store:
        whole = calls_lib.list_calls(store, calls_lib.CallFilter(limit=None))
        paged = list(calls_lib.iter_calls(store, calls_lib.CallFilter(limit=None), page_size=2))
    assert [r["call_id"] for r in whole][-3:] == ["c7@pbx", "c4@pbx", "c1@pbx"]
    assert paged == whole
