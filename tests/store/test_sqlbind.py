"""The C binding of SQLite INSERT values (``_sqlbind.c``) stores what the sqlite3 module stores.

The sqlite3 module's ``executemany`` is the specification: for any rows, the same table
content and the same row count, or the same exception (text that is not UTF-8, an integer
past 64 bits, a constraint, a missing table). Values of a type the C binding does not bind
leave the whole call to the sqlite3 module.
"""

from __future__ import annotations

import pickle
import sqlite3
import threading
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipparse.sip.message import Source
from sipparse.store import open_store
from sipparse.store import rows as rows_module
from sipparse.store import sqlite as sqlite_store
from tests.store.factory import mixed_traffic
from tests.store.helpers import calls_table, message_keys, pack

if sqlite_store.BINDER is None:
    pytest.skip("the C binding is not built here", allow_module_level=True)
BINDER = sqlite_store.BINDER
SOURCE = Source("/var/log/asterisk/pjsip", "fp-sqlbind")
START = datetime(2025, 4, 1, 8, 0, 0)

VALUES = st.one_of(
    st.none(),
    st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1),
    st.floats(allow_nan=False),
    st.text(),
    st.binary(),
)
ONE = "INSERT INTO t (a, b, c) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"
MANY = "INSERT INTO t (a, b, c) VALUES " + ", ".join(["(?, ?, ?)"] * 4) + " ON CONFLICT DO NOTHING"


def fresh(path: Path) -> sqlite3.Connection:
    path.unlink(missing_ok=True)
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("CREATE TABLE t (a, b, c, UNIQUE (a, b, c))")
    con.execute("BEGIN IMMEDIATE")
    return con


def by_module(con: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> Any:
    try:
        whole = len(rows) - len(rows) % 4
        total = con.executemany(MANY, [list(chain.from_iterable(rows[i:i + 4])) for i in range(0, whole, 4)]).rowcount
        return max(total, 0) + max(con.executemany(ONE, rows[whole:]).rowcount, 0)
    except Exception as exc:  # noqa: BLE001 (the exception is the outcome compared)
        return type(exc)


def by_c(con: sqlite3.Connection, path: Path, rows: list[tuple[Any, ...]]) -> Any:
    try:
        return BINDER.insert_rows(con, str(path), MANY, 4, ONE, rows)
    except Exception as exc:  # noqa: BLE001
        return type(exc)


def content(con: sqlite3.Connection) -> list[tuple[Any, ...]]:
    return con.execute("SELECT a, typeof(a), b, typeof(b), c, typeof(c) FROM t ORDER BY rowid").fetchall()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(VALUES, VALUES, VALUES), max_size=11))
def test_random_rows_are_stored_as_the_sqlite3_module_stores_them(tmp_path: Path, rows: list[tuple[Any, ...]]) -> None:
    module, c = fresh(tmp_path / "module.db"), fresh(tmp_path / "c.db")
    assert by_c(c, tmp_path / "c.db", rows) == by_module(module, rows)
    assert content(c) == content(module)
    module.close()
    c.close()


LASTS = st.one_of(st.none(), st.integers(min_value=-(1 << 63), max_value=(1 << 63) - 1))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(VALUES, VALUES, LASTS), max_size=11))
def test_a_last_value_given_apart_is_stored_as_part_of_its_row(tmp_path: Path, rows: list[tuple[Any, ...]]) -> None:
    """``last`` (a call's number, which the rows of a parse worker do not have) is bound
    after each row's own values, from rows as tuples or packed."""
    firsts, last = [r[:2] for r in rows], [r[2] for r in rows]
    module, c, packed = (fresh(tmp_path / f"{name}.db") for name in ("module", "c", "packed"))
    expected = by_module(module, rows)
    assert BINDER.insert_rows(c, str(tmp_path / "c.db"), MANY, 4, ONE, firsts, last) == expected
    if firsts:
        assert BINDER.insert_packed(packed, str(tmp_path / "packed.db"), MANY, 4, ONE, pack(firsts),
                                    len(firsts), 2, last) == expected
        assert content(packed) == content(module)
    assert content(c) == content(module)
    for con in (module, c, packed):
        con.close()


def test_inserting_batches_of_every_size_in_turn_stores_each_its_own_rows(tmp_path: Path) -> None:
    """The values of a batch are read into an array kept from call to call, grown for a larger
    batch, with room for ``last`` or without: neither a smaller batch after a larger one, nor
    one with ``last`` after one without, nor a batch refused halfway in between leaves
    anything of another batch in what is stored."""
    module, c, packed = (fresh(tmp_path / f"{name}.db") for name in ("module", "c", "packed"))
    for turn, size in enumerate((1, 700, 3, 2000, 2, 5)):
        rows = [(f"{size}-{n}", n * 0.5 if n % 3 else None, n if turn % 2 else None) for n in range(size)]
        firsts, last = [r[:2] for r in rows], [r[2] for r in rows] if turn % 2 else None
        assert BINDER.insert_rows(c, str(tmp_path / "c.db"), MANY, 4, ONE, [*firsts[:-1], (object(), 1)]) is None
        expected = by_module(module, rows)
        if last is None:
            firsts = [(*r, None) for r in firsts]
        assert BINDER.insert_rows(c, str(tmp_path / "c.db"), MANY, 4, ONE, firsts, last) == expected
        assert BINDER.insert_packed(packed, str(tmp_path / "packed.db"), MANY, 4, ONE, pack(firsts), len(firsts),
                                    len(firsts[0]), last) == expected
    assert content(c) == content(packed) == content(module)
    for con in (module, c, packed):
        con.close()


def test_a_last_value_that_is_not_one_int_or_none_per_row_is_refused(tmp_path: Path) -> None:
    con = fresh(tmp_path / "c.db")
    for last, error in (([1], ValueError), ((1, 2), ValueError), ([1, "x"], TypeError), ([1, 1 << 64], OverflowError)):
        with pytest.raises(error):
            BINDER.insert_rows(con, str(tmp_path / "c.db"), MANY, 4, ONE, [(1, 2), (3, 4)], last)
    assert content(con) == []
    con.close()


@pytest.mark.parametrize("bad", ["lone \udcff surrogate", 1 << 64, -(1 << 63) - 1])
def test_values_it_cannot_bind_raise_as_the_sqlite3_module_does(tmp_path: Path, bad: Any) -> None:
    rows = [(1, 2, 3), (4, 5, bad)]
    module, c = fresh(tmp_path / "module.db"), fresh(tmp_path / "c.db")
    assert by_c(c, tmp_path / "c.db", rows) == by_module(module, rows) != 2
    module.close()
    c.close()


@pytest.mark.parametrize("odd", [True, 2.5j, bytearray(b"x"), ("nested",)])
def test_a_value_of_another_type_leaves_the_call_to_the_sqlite3_module(tmp_path: Path, odd: Any) -> None:
    con = fresh(tmp_path / "c.db")
    assert BINDER.insert_rows(con, str(tmp_path / "c.db"), MANY, 4, ONE, [(1, 2, 3)] * 5 + [(1, 2, odd)]) is None
    assert content(con) == []  # nothing was run
    con.close()


def test_errors_of_sqlite_are_its_exceptions(tmp_path: Path) -> None:
    con = fresh(tmp_path / "c.db")
    con.execute("CREATE TABLE strict_t (a INTEGER NOT NULL)")
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL constraint failed: strict_t.a"):
        strict = "INSERT INTO strict_t (a) VALUES (?)"
        BINDER.insert_rows(con, str(tmp_path / "c.db"), strict, 1, strict, [(None,)])
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        BINDER.insert_rows(con, str(tmp_path / "c.db"), "INSERT INTO nope VALUES (?)", 1, "INSERT INTO nope VALUES (?)",
                           [(1,)])
    con.close()


def test_another_file_or_no_transaction_is_refused(tmp_path: Path) -> None:
    con = fresh(tmp_path / "c.db")
    with pytest.raises(ValueError, match="not"):
        BINDER.insert_rows(con, str(tmp_path / "other.db"), MANY, 4, ONE, [(1, 2, 3)])
    con.execute("COMMIT")
    with pytest.raises(ValueError, match="transaction"):
        BINDER.insert_rows(con, str(tmp_path / "c.db"), MANY, 4, ONE, [(1, 2, 3)])
    con.close()


def test_the_store_writes_the_same_with_and_without_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    traffic = mixed_traffic(SOURCE, 40, START)
    with open_store(f"sqlite:///{tmp_path}/c.db") as store:
        assert store._bound_path is not None
        store.write_batch(traffic)
        with_c = message_keys(store), calls_table(store), store.fetchall("SELECT * FROM sip_transactions")
    monkeypatch.setattr(sqlite_store, "BINDER", None)
    with open_store(f"sqlite:///{tmp_path}/module.db") as store:
        assert store._bound_path is None
        store.write_batch(traffic)
        without = message_keys(store), calls_table(store), store.fetchall("SELECT * FROM sip_transactions")
    strip = [{k: v for k, v in row.items() if k != "ingested_at"} for row in with_c[2]]
    assert (with_c[0], with_c[1], strip) == (without[0], without[1],
                                             [{k: v for k, v in row.items() if k != "ingested_at"}
                                              for row in without[2]])



# -- packed rows: what a parse worker sends instead of the tuples --------------------------

def by_packed(con: sqlite3.Connection, path: Path, rows: list[tuple[Any, ...]]) -> Any:
    packed = pack(rows)
    assert packed is not None
    try:
        return BINDER.insert_packed(con, str(path), MANY, 4, ONE, packed, len(rows), 3)
    except Exception as exc:  # noqa: BLE001
        return type(exc)


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(VALUES, VALUES, VALUES), min_size=1, max_size=11))
def test_packed_rows_unpack_to_the_same_and_are_stored_the_same(tmp_path: Path, rows: list[tuple[Any, ...]]) -> None:
    packed = pack(rows)
    assert BINDER.unpack_rows(packed, len(rows), 3) == rows
    assert sqlite_store.PackedRows(packed, len(rows), 3).tuples() == rows
    module, c = fresh(tmp_path / "module.db"), fresh(tmp_path / "c.db")
    assert by_packed(c, tmp_path / "c.db", rows) == by_module(module, rows)
    assert content(c) == content(module)
    module.close()
    c.close()


def test_packing_batches_of_every_size_in_turn_gives_each_its_own_rows() -> None:
    """Packing keeps its working memory from call to call, growing it for a larger batch:
    neither a smaller batch after a larger one nor a batch refused halfway in between
    leaves anything of another batch in the result."""
    refused = [(7, "ok", b"", 1.0)] * 900 + [(7, "lone \udcff", b"", 1.0)]
    for size in (1, 700, 3, 2000, 2):
        rows = [(n, f"text {size}-{n}", b"\x00" * (n % 5), 0.5 * n) for n in range(size)]
        assert pack(refused) is None
        assert BINDER.unpack_rows(pack(rows), len(rows), 4) == rows


def test_a_store_packs_large_batches_into_mappings_that_serve_again(sqlite_url: str) -> None:
    """A parse worker's store packs each large batch into a mapping an earlier batch's served in
    once nothing holds that batch any more, never into one still held."""
    sizes = (1500, 1200, 1800, 1100, 1600)
    batches = [[(n, f"row {size}-{n}", b"x" * 1024, None) for n in range(size)] for size in sizes]
    with open_store(sqlite_url) as store:
        held = store.pack_rows(batches[0])
        mappings = [held.data.obj]
        for rows in batches[1:]:
            packed = store.pack_rows(rows)
            assert BINDER.unpack_rows(packed.data, len(rows), 4) == rows
            assert pickle.loads(pickle.dumps(packed)) == packed
            mappings.append(packed.data.obj)
            del packed  # sent: its mapping may serve again
        small = store.pack_rows(batches[0][:3])
    assert BINDER.unpack_rows(held.data, len(batches[0]), 4) == batches[0]
    assert len({id(m) for m in mappings}) == 2  # the held one, and one serving in turn
    assert BINDER.unpack_rows(small.data, 3, 4) == batches[0][:3] and held.data.readonly


def test_packing_gives_the_packed_rows_to_the_buffer_take_gives() -> None:
    """The rows are packed as they are read, then copied into what ``take(size)`` gives: a
    buffer of another size is refused, and a ``take`` that packs other rows meanwhile (the
    kept working memory is then in use) leaves each call its own rows."""
    rows = [(n, f"text {n}", b"\x01" * n, None) for n in range(50)]
    others = [(n, "other", b"", 2.5) for n in range(3000)]
    with pytest.raises(ValueError, match="another size"):
        BINDER.pack_rows(rows, lambda size: bytearray(size + 1))
    inner: list[bytes] = []

    def take(size: int) -> bytearray:
        inner.append(pack(others))
        return bytearray(size)

    packed = BINDER.pack_rows(rows, take)
    assert BINDER.unpack_rows(packed, len(rows), 4) == rows
    assert BINDER.unpack_rows(inner[0], len(others), 4) == others
    assert BINDER.unpack_rows(pack(rows), len(rows), 4) == rows


@pytest.mark.parametrize("odd", [True, 2.5j, "lone \udcff surrogate", ("nested",)])
def test_rows_it_cannot_pack_travel_as_they_are(odd: Any) -> None:
    assert pack([(1, 2, 3), (1, 2, odd)]) is None
    assert pack([]) is None


@pytest.mark.parametrize("cut", [1, 2, 5, 9])
def test_packed_bytes_that_are_not_the_rows_announced_are_refused(tmp_path: Path, cut: int) -> None:
    packed = pack([(None, 7, "text"), (b"blob", 2.5, "")])
    con = fresh(tmp_path / "c.db")
    for data, count in ((packed[:-cut], 2), (packed + b"\x00" * cut, 2), (packed, 3), (b"\x07" + packed[1:], 2)):
        with pytest.raises(ValueError, match="packed rows"):
            BINDER.unpack_rows(data, count, 3)
        with pytest.raises(ValueError, match="packed rows"):
            BINDER.insert_packed(con, str(tmp_path / "c.db"), MANY, 4, ONE, data, count, 3)
    assert content(con) == []
    con.close()


def test_a_batch_prepared_for_another_process_is_packed_and_stored_the_same(tmp_path: Path) -> None:
    traffic = mixed_traffic(SOURCE, 40, START)
    with open_store(f"sqlite:///{tmp_path}/packed.db") as store:
        prepared = store.prepare_batch(traffic, calls_ahead=True)
        assert isinstance(prepared.messages.rows, sqlite_store.PackedRows)
        assert len(prepared.messages.rows) == len(traffic)
        store.write_prepared(pickle.loads(pickle.dumps(prepared)))
        packed = message_keys(store), calls_table(store), store.fetchall("SELECT * FROM sip_transactions")
    with open_store(f"sqlite:///{tmp_path}/tuples.db") as store:
        store.write_batch(traffic)
        tuples = message_keys(store), calls_table(store), store.fetchall("SELECT * FROM sip_transactions")
    assert packed[:2] == tuples[:2]
    assert [{k: v for k, v in row.items() if k != "ingested_at"} for row in packed[2]] == \
        [{k: v for k, v in row.items() if k != "ingested_at"} for row in tuples[2]]


def test_a_packed_batch_is_unpacked_where_the_store_cannot_bind_in_c(tmp_path: Path) -> None:
    traffic = mixed_traffic(SOURCE, 10, START)
    with open_store(f"sqlite:///{tmp_path}/c.db") as store:
        prepared = store.prepare_batch(traffic, calls_ahead=True)
        assert isinstance(prepared.messages.rows, sqlite_store.PackedRows)
        sanitized = prepared.sanitized()  # the tuples again, cleaned
        assert isinstance(sanitized.messages.rows, list)
        assert sanitized.messages.rows == prepared.messages.rows.tuples()
        store._bound_path = None  # as where the C binding does not fit the connection
        assert store.write_prepared(prepared).inserted == len(traffic)


@settings(max_examples=300)
@given(st.lists(st.tuples(VALUES, VALUES, VALUES), min_size=1, max_size=11), st.data())
def test_picked_rows_are_those_columns_of_the_unpacked_rows(rows: list[tuple[Any, ...]], data: Any) -> None:
    packed = sqlite_store.PackedRows(pack(rows), len(rows), 3)
    places = data.draw(st.lists(st.integers(0, len(rows) - 1), max_size=8))
    columns = tuple(data.draw(st.lists(st.integers(0, 2), max_size=4)))
    assert packed.pick(places, columns) == [(p, *(rows[p][c] for c in columns)) for p in places]
    if columns:  # one column converted, each distinct value once; None stays None
        made: list[Any] = []
        seen: dict[Any, Any] = {}
        picked = packed.pick(places, columns, 0, lambda v: made.append(v) or ("made", v), seen)
        assert picked == [(p, None if rows[p][columns[0]] is None else ("made", rows[p][columns[0]]),
                           *(rows[p][c] for c in columns[1:])) for p in places]
        assert len(made) == len(set(map(repr, made))) == len(seen)
    shared: dict[str, str] = {}  # equal texts picked are one object, and the values the same
    picked = packed.pick(places, columns, shared=shared) + packed.pick(places, columns, shared=shared)
    assert picked == [(p, *(rows[p][c] for c in columns)) for p in places] * 2
    texts = [v for row in picked for v in row[1:] if isinstance(v, str)]
    assert len({id(v) for v in texts}) == len(set(texts)) == len(shared)


def test_picking_outside_the_packed_rows_is_refused() -> None:
    packed = pack([(None, 7, "text"), (b"blob", 2.5, "")])
    offsets = BINDER.row_offsets(packed, 2, 3)
    for place, column in ((2, 0), (-1, 0), (0, 3), (0, -1)):
        with pytest.raises(IndexError):
            BINDER.pick_rows(packed, offsets, 3, [place], (column,))
    with pytest.raises(TypeError, match="convert"):
        BINDER.pick_rows(packed, offsets, 3, [0], (0,), 0, None, {})
    with pytest.raises(ZeroDivisionError):  # the conversion's own error
        BINDER.pick_rows(packed, offsets, 3, [0], (1,), 0, lambda v: 1 / 0, {})
    with pytest.raises(ValueError, match="packed rows"):
        BINDER.row_offsets(packed[:-1], 2, 3)
    with pytest.raises(ValueError, match="packed rows"):  # offsets of other rows: never read past the bytes
        BINDER.pick_rows(packed[:9], offsets, 3, [1], (0,))


def test_a_worker_batch_sends_row_places_and_its_calls_inputs_are_made_from_the_packed_rows(tmp_path: Path) -> None:
    traffic = mixed_traffic(SOURCE, 40, START)
    with open_store(f"sqlite:///{tmp_path}/packed.db") as store:
        plain = store.prepare_batch(traffic)
        prepared = store.prepare_batch(traffic, calls_ahead=True)
        inputs = prepared.summaries.by_call
        assert isinstance(inputs, rows_module.PackedInputs)
        sent = pickle.dumps(prepared)
        assert len(sent) < len(prepared.messages.rows.data) * 1.1  # the packed rows travel once
        inputs = pickle.loads(sent).summaries.by_call
        assert sorted(inputs) == sorted(plain.summaries.by_call) and len(inputs) == len(plain.summaries.by_call)
        for call_id, entries in plain.summaries.by_call.items():
            assert call_id in inputs
            assert inputs[call_id] == [tuple(entry) for entry in entries]
        assert "no such call" not in inputs and inputs.get("no such call") is None


# -- statements kept prepared between calls -------------------------------------------------

def test_kept_statements_belong_to_their_connection(tmp_path: Path) -> None:
    cons = {name: fresh(tmp_path / f"{name}.db") for name in "ab"}
    for round_ in range(3):  # the same SQL on two connections, in turns
        for name, con in cons.items():
            rows = [(name, round_, i) for i in range(6)]
            assert BINDER.insert_rows(con, str(tmp_path / f"{name}.db"), MANY, 4, ONE, rows) == 6
    for name, con in cons.items():
        assert {row[0] for row in content(con)} == {name}
        assert len(content(con)) == 18
        BINDER.forget(con)
        con.close()


def test_a_failed_insert_leaves_its_kept_statement_fit_for_the_next(tmp_path: Path) -> None:
    con = fresh(tmp_path / "c.db")
    con.execute("CREATE TABLE strict_t (a INTEGER NOT NULL)")
    strict = "INSERT INTO strict_t (a) VALUES (?)"
    with pytest.raises(sqlite3.IntegrityError):
        BINDER.insert_rows(con, str(tmp_path / "c.db"), strict, 1, strict, [(1,), (None,)])
    assert BINDER.insert_rows(con, str(tmp_path / "c.db"), strict, 1, strict, [(2,), (3,)]) == 2
    assert [r[0] for r in con.execute("SELECT a FROM strict_t ORDER BY a")] == [1, 2, 3]
    BINDER.forget(con)
    con.close()


def test_the_connection_serves_other_threads_after_inserts_failed_or_not(tmp_path: Path) -> None:
    """The inserts hold the handle's mutex while they run: they must let it go, on every path,
    or the next thread to use the connection waits for ever."""
    path = tmp_path / "c.db"
    con = fresh(path)
    con.close()
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    con.execute("CREATE TABLE strict_t (a INTEGER NOT NULL)")
    con.execute("BEGIN IMMEDIATE")
    strict = "INSERT INTO strict_t (a) VALUES (?)"
    with pytest.raises(sqlite3.IntegrityError):
        BINDER.insert_rows(con, str(path), strict, 1, strict, [(1,), (None,)])
    assert BINDER.insert_rows(con, str(path), MANY, 4, ONE, [(1, 2, 3)] * 3 + [(4, 5, 6)] * 2) == 2
    counted: list[int] = []
    other = threading.Thread(target=lambda: counted.append(con.execute("SELECT count(*) FROM t").fetchone()[0]),
                             daemon=True)
    other.start()
    other.join(timeout=10)
    assert not other.is_alive(), "the connection's mutex was kept"
    assert counted == [2]
    BINDER.forget(con)
    con.close()


def test_a_null_is_stored_where_the_kept_statement_last_bound_a_value(tmp_path: Path) -> None:
    """NULL values are not bound (every parameter is NULL when a run starts): a slot that held
    a value in the statement's last run, or in a run that failed, must still store NULL."""
    path = tmp_path / "c.db"
    con = fresh(path)
    values = [(1, 2, 3), (4, 5, 6), (7, 8, 9), (1, 1, 1), (2, 2, 2)]
    assert BINDER.insert_rows(con, str(path), MANY, 4, ONE, values) == 5
    nulls = [(10, None, None), (11, None, 12), (None, None, None), (13, None, None), (14, None, None)]
    assert BINDER.insert_rows(con, str(path), MANY, 4, ONE, nulls) == 5
    assert [row[::2] for row in content(con)[5:]] == nulls

    con.execute("CREATE TABLE checked (a, b CHECK (b IS NULL OR b > 0))")
    pair = "INSERT INTO checked (a, b) VALUES (?, ?), (?, ?)"
    with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):  # both rows bound, the step fails
        BINDER.insert_rows(con, str(path), pair, 2, pair, [(1, 5), (2, -1)])
    assert BINDER.insert_rows(con, str(path), pair, 2, pair, [(3, None), (4, None)]) == 2
    assert con.execute("SELECT a, b FROM checked ORDER BY a").fetchall() == [(3, None), (4, None)]
    BINDER.forget(con)
    con.close()


def test_a_closed_store_leaves_no_connection_open_behind_its_statements(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with open_store(f"sqlite:///{path}") as store:
        store.write_batch(mixed_traffic(SOURCE, 10, START))
    # the last connection closed removes the WAL: none is left open as a zombie
    assert not Path(f"{path}-wal").exists()
