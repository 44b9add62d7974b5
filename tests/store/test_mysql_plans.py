"""What MySQL does with the statements of show, calls, stats and purge on a table of many
calls: each reads through an index what one Call-ID or a --since range asks for, and never
the whole table (EXPLAIN of the very statements they send)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from sipparse.query.calls import CallFilter, list_calls
from sipparse.query.show import show_call
from sipparse.query.stats import gather
from sipparse.sip.message import Source
from sipparse.store import Store, open_store
from sipparse.store.mysql import qmark_to_format
from sipparse.store.purge import purge
from tests.store.factory import mixed_traffic

pytestmark = pytest.mark.mysql
SOURCE = Source("/var/log/asterisk/pjsip", "fp-plans")
START = datetime(2025, 2, 1, 0, 0, 0)
CALLS = 3000  # one a second: 50 minutes
# what EXPLAIN's ``type`` says of a read through an index (ALL is the whole table; ``index``
# the whole of an index)
BY_INDEX = {"const", "eq_ref", "ref", "range", "unique_subquery", "index_subquery", "system"}


@pytest.fixture
def store(mysql_url: str) -> Iterator[Store]:
    traffic = mixed_traffic(SOURCE, CALLS, START)
    with open_store(mysql_url) as opened:
        for start in range(0, len(traffic), 5000):
            opened.write_batch(traffic[start:start + 5000])
        opened.query("ANALYZE TABLE sip_transactions, calls, rejects")
        yield opened


def _sent(store: Store, run: Callable[[], Any]) -> list[tuple[str, tuple[Any, ...]]]:
    """The SELECTs ``run`` sends through ``store``, with their parameters."""
    sent: list[tuple[str, tuple[Any, ...]]] = []
    fetchall, query, execute = store.fetchall, store.query, store.execute

    def seen(real: Callable[..., Any], marks: bool) -> Callable[..., Any]:
        def call(sql: str, params: Any = ()) -> Any:
            if sql.lstrip().upper().startswith(("SELECT", "DELETE")):
                sent.append((qmark_to_format(sql) if marks else sql, tuple(params)))
            return real(sql, params)
        return call

    store.fetchall, store.query = seen(fetchall, True), seen(query, False)  # type: ignore[method-assign]
    store.execute = seen(execute, False)  # type: ignore[method-assign]
    try:
        run()
    finally:
        store.fetchall, store.query, store.execute = fetchall, query, execute  # type: ignore[method-assign]
    assert sent
    return sent


def _scans(store: Store, sent: list[tuple[str, tuple[Any, ...]]]) -> list[tuple[str, str, str]]:
    """(statement, table, access type, extra) of each table a statement reads otherwise than by an
    index. A look in information_schema (which columns a table has: once a store) reads no
    table of the data, only its definition (``Open_frm_only``)."""
    found = []
    for sql, params in sent:
        if "information_schema" in sql:
            continue
        cursor = store._con.cursor(dictionary=True)  # type: ignore[attr-defined]
        cursor.execute("EXPLAIN " + sql, params or None)
        found += [(sql, str(row["table"]), str(row["type"]), row["Extra"]) for row in cursor.fetchall()
                  if row["table"] is not None and row["type"] not in BY_INDEX]
        cursor.close()
    return found


def test_one_call_is_read_by_its_call_id(store: Store) -> None:
    call_id = "call-2345@fp-plans"
    for given in (call_id, "call-2345@"):  # whole, or a prefix
        assert _scans(store, _sent(store, lambda g=given: show_call(store, [g]))) == []


def test_a_since_range_is_read_by_time(store: Store) -> None:
    since, until = START + timedelta(minutes=20), START + timedelta(minutes=25)
    assert _scans(store, _sent(store, lambda: list_calls(store, CallFilter(since=since, until=until)))) == []
    assert _scans(store, _sent(store, lambda: gather(store, since, until))) == []


def test_purge_reads_the_old_rows_by_time(store: Store) -> None:
    cutoff = START + timedelta(minutes=5)
    assert _scans(store, _sent(store, lambda: purge(store, cutoff, dry_run=True))) == []
    assert _scans(store, _sent(store, lambda: purge(store, cutoff))) == []


def test_a_host_is_looked_for_in_the_index_of_a_call_s_messages(store: Store) -> None:
    """``calls --host`` and ``stats --host`` ask of each call whether that host logged any of
    its messages: the index answers (``Using index``), no message row is read. A host that
    logged none of them (a PBX name mistyped) asks it of every call in the range."""
    since, until = START + timedelta(minutes=20), START + timedelta(minutes=25)
    for run in (lambda: list_calls(store, CallFilter(host="pbx-z")),
                lambda: gather(store, since, until, host="pbx-z")):
        for sql, params in _sent(store, run):
            if "m.host" not in sql:
                continue
            cursor = store._con.cursor(dictionary=True)  # type: ignore[attr-defined]
            cursor.execute("EXPLAIN " + sql, params or None)
            lookups = [row for row in cursor.fetchall() if row["table"] == "m"]
            cursor.close()
            assert [(row["key"], "Using index" in str(row["Extra"])) for row in lookups] == [
                ("ix_sip_transactions_call_id_host", True)], sql
