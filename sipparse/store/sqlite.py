"""The embedded backend: one SQLite file, in WAL mode, shared safely by several processes.

Write transactions start with ``BEGIN IMMEDIATE`` so a writer takes the write lock before it
reads anything (no lock upgrade, so no SQLITE_BUSY deadlock between two ingests), and
``busy_timeout`` makes a second writer wait for the first instead of failing. The file and
the directory sipparse creates for it are private to the user (0600 / 0700).

Committed pages are copied from the WAL into the database file by a thread of the store's
own (``WalCheckpointer``) after each write transaction, while the writer goes on with the
next: the copy waits for the disk twice (two fsyncs), which the writer would otherwise wait
for itself every ``WAL_CHECKPOINT_BYTES``, a third of an ingest's time on SQLite.
"""

from __future__ import annotations

import logging
import os
import pickle
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cached_property
from itertools import chain
from pathlib import Path
from typing import Any, SupportsIndex
from urllib.parse import quote

from sipparse.errors import DatabaseError
from sipparse.memory import Mappings
from sipparse.store import rows, schema
from sipparse.store.base import MESSAGE_TABLE, PreparedBatch, Store, multi_row_sql
from sipparse.store.rows import text_time, text_times
from sipparse.store.schema import Column

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 60_000
# The index pages a transaction touches, kept for its next rows (the default cache is 2 MiB).
# The rows of a transaction of several batches (``BATCHES_PER_COMMIT``) spill to the WAL
# before the COMMIT whatever the size, so more than this only keeps more index pages: 16 MiB
# measured no faster (``perf_ingest.py``, 256 MiB ``full``, alternating: 27.6 and 29.9 MiB/s
# against 32.2 and 30.4; ``run.py``'s 1 GiB ``full`` log 89.3 s against 90.5) and took 10 MiB
# more of each run's peak RSS (211 against 201 MiB on that log); 4 MiB: 95.6 s, 197 MiB.
CACHE_KIB = 8 * 1024
# Pages of a new database file (an existing file keeps its own). An ingest writes each page
# twice (to the WAL, then to the file) and the index pages of every batch again: in 16 KiB
# pages that is a quarter of the system calls of SQLite's 4 KiB for about the same bytes,
# a tenth of an ingest's CPU time. Point queries read a few pages more, as InnoDB's do.
PAGE_SIZE = 16 * 1024
# The writer copies the WAL into the database file itself (a checkpoint, with two fsyncs,
# inside its COMMIT) only when the WAL holds this much; before that ``WalCheckpointer`` copies
# each commit in the background. The WAL starts over from its beginning only at a
# transaction that finds it all copied (``WAL_RESTART_BYTES``). Each commit of an ingest
# holds the index pages it changed, all over the Call-ID indexes, which grow with the
# database: over 64 MiB a commit once a database passes a few hundred MiB, so a lower limit
# made the writer copy, and wait for the disk, at every COMMIT. Measured on a 1 GiB
# ``genlog.py`` ``full`` log: 64 MiB 63.4 s (28.6 s of it in COMMIT), 512 MiB 51.7-55.4 s
# (6.4-6.9 s), 1 GiB 54.5 s (4.8 s, a WAL of 1.1 GB); 256 MiB logs no change. A
# ``journal_size_limit`` of 64 MiB, which cuts the file back at each start-over, cost 6 s of
# that 1 GiB ingest. A checkpoint moves committed pages only, so a crash at any moment still
# leaves the rows and their checkpoint together.
WAL_CHECKPOINT_BYTES = 512 << 20
# Once the WAL holds this much, the writer waits before its next BEGIN for the background
# copy of its last COMMIT to end (at most ``RESTART_WAIT_SECONDS``): a transaction that
# begins with the WAL all copied writes it again from its start. Without that wait the
# writer, which begins its next transaction at once, never found it all copied: the WAL grew
# by each commit until ``WAL_CHECKPOINT_BYTES``, some 600 MB of fresh file pages, each of which
# costs the kernel (and, on a virtual machine that hands freed memory back, its host) a page
# fault, where a WAL that starts over rewrites pages still in memory. With it the WAL file
# stays near 120 MB. Measured on ``genlog.py`` ``full`` logs, ``--workers 1``, alternating,
# with other work on the machine (load 6): 256 MiB, kernel time 2.41-2.66 -> 2.18-2.31 s in
# four pairs; 1 GiB 122.0 -> 115.9 s and 110.1 -> 87.9 s (kernel 12.6 -> 11.1 s, 11.8 -> 9.6 s).
# A wait lasts one background copy (0.1-0.3 s under that load), some seven per 256 MiB; the
# parse worker goes on meanwhile.
WAL_RESTART_BYTES = 64 << 20
RESTART_WAIT_SECONDS = 1.0
# A WAL file larger than this that holds less than an eighth of it since it started over (a
# ``--follow`` run's small commits after a large catch-up) is copied whole and cut to nothing
# by ``WalCheckpointer``, between two transactions, instead of staying that large on disk for
# as long as the run lasts.
WAL_KEPT_BYTES = 64 << 20
# Bytes ``WalCheckpointer`` copies into the database file before it drops the file's pages
# from the operating system's page cache, and again after each as many: a large catch-up
# writes a database about twice the size of its log and reads back only index pages, most
# of them from SQLite's own cache (``CACHE_KIB``) or the WAL. Kept, those pages would push the
# PBX host's own files out of memory, as PostgreSQL's bulk-write ring avoids; and on a virtual
# machine that hands freed memory back to its host, each page never used before costs a
# fault in the host (on the 2-core machine of the README, dd wrote a fresh file at 280-309
# MB/s and rewrote one at 1-3 GB/s). A cron run's few MiB never reach it, so its pages stay
# cached, as a ``--follow`` run's do between drops. Measured on a 1 GiB ``genlog.py`` ``full``
# log, one core, ``--workers 0``, alternating: 25.9 and 25.0 s without, 20.9 and 20.0 s with
# (system time 10.7 and 10.1 -> 5.4 and 4.8 s; an hour later 34.3 and 33.4 s -> 29.8 and 28.4 s).
DROP_CACHE_BYTES = 64 << 20
# Batches of an ingest one transaction holds (``Store.write_prepared``): 16 MiB of log. Each
# COMMIT writes every page the transaction changed to the WAL, and a batch changes index
# pages all over the Call-ID indexes (Call-IDs are random): with a commit per batch those
# were written again and again, and read back once the indexes outgrew the page cache.
# Measured against one batch a commit: a 120 MiB ``genlog.py`` ``full`` log in one process
# 4.1-4.2 -> 3.5-3.9 CPU-seconds (the kernel's 1.0-1.1 -> 0.6-0.7); ``run.py``'s 1 GiB ``full``
# log 110 -> 87 s (4 batches: 95 s, 16: 85 s). The dirty pages of the batches spill from the
# page cache to the WAL before their COMMIT, so memory stays as it was.
BATCHES_PER_COMMIT = 8
# Mappings of packed batches a parse worker keeps (``pack_rows``). It may hold three batches
# at once (the one it packs, ``ingest.HANDOVER_DEPTH`` waiting to be sent, the one being
# sent), but two kept serve nearly as often (page faults of a 256 MiB ingest, measured when
# two could wait: 184k with four kept, 197-216k with two) and keep the worker 5-10 MiB
# smaller on logs near the 200 MiB bound.
KEPT_PACKINGS = 2
# Rows per INSERT statement: 100 rows of 42 columns stay far below SQLite's 32,766 variables,
# and save most of the per-execution work of one statement per row.
ROWS_PER_STATEMENT = 100


def _as_is(value: Any) -> Any:
    return value


# The sqlite3 module binds str, int and float directly, but looks every other value up in
# its adapter registry, and on a miss asks the protocol for an adapter by an attribute
# lookup that fails, raising and formatting an AttributeError: for every NULL and every blob
# parameter, a fifth of the work of a whole insert of our mostly-NULL rows. Registering
# "bind as is" for the two types sipparse binds besides those ends the search at once and
# binds exactly what was bound before (None as NULL, bytes as a blob).
sqlite3.register_adapter(type(None), _as_is)
sqlite3.register_adapter(bytes, _as_is)


def _c_binder() -> Any:
    """The C binding of INSERT values (``_sqlbind.c``), or None where it is not built, not
    wanted (``SIPPARSE_PURE_PYTHON``) or not known to fit this interpreter's sqlite3 module."""
    import sys

    from sipparse.sip.accel import c_module

    if sys.implementation.name != "cpython" or not (3, 8) <= sys.version_info[:2] <= (3, 13):
        return None
    binder = c_module("sipparse.store._sqlbind")
    if binder is None:
        return None
    try:
        import _sqlite3

        binder.init(_sqlite3.__file__, sqlite3.OperationalError, sqlite3.IntegrityError)
    except (ImportError, AttributeError, OSError) as exc:
        log.debug("INSERT values bound by the sqlite3 module: %s", exc)
        return None
    return binder


BINDER: Any = _c_binder()
BIND_IN_C = BINDER is not None  # for ``sipparse info``


class PackedRows:
    """Rows packed into one buffer (``_sqlbind.pack_rows``), as a parse worker sends a
    batch's message rows: unpickling a bytes object costs the storing process nothing per
    row, and ``executemany`` binds the values from it without making an object of any.
    Packed in a worker (``SQLiteStore.pack_rows``) or received from one, ``data`` is a
    read-only view of the buffer it was packed or arrived in."""

    __slots__ = ("data", "count", "width", "_offsets")

    def __init__(self, data: bytes | memoryview, count: int, width: int) -> None:
        self.data, self.count, self.width = data, count, width
        self._offsets: bytes | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        return PackedRows, (bytes(self.data), self.count, self.width)

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        """From protocol 5 the bytes go as a buffer, which a pickler with a ``buffer_callback``
        leaves out of band (``sipparse.handover``); any other pickler keeps them in."""
        if int(protocol) >= 5:
            return PackedRows, (pickle.PickleBuffer(self.data), self.count, self.width)
        return self.__reduce__()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PackedRows) and (memoryview(self.data), self.count, self.width) == (
            memoryview(other.data), other.count, other.width)

    def __len__(self) -> int:
        return self.count

    def tuples(self) -> list[tuple[Any, ...]]:
        """The rows as tuples again, exactly as they were packed."""
        return BINDER.unpack_rows(self.data, self.count, self.width)  # type: ignore[no-any-return]

    def pick(self, positions: list[int], columns: tuple[int, ...], converted: int = -1,
             convert: Callable[[Any], Any] | None = None, seen: dict[Any, Any] | None = None,
             shared: dict[str, str] | None = None) -> list[tuple[Any, ...]]:
        """(position, *the values of ``columns``) of the rows at ``positions``, without making
        the others; ``columns[converted]`` as ``convert`` gives it, each distinct value once
        (``seen`` keeps them); equal texts of the other columns one object (``shared`` keeps
        them), which a ``CallCache`` holding the rows then keeps once."""
        if self._offsets is None:
            self._offsets = BINDER.row_offsets(self.data, self.count, self.width)
        conversion = (converted, convert, seen) if converted >= 0 else ()
        if shared is not None:
            conversion = (*conversion, shared) if conversion else (-1, None, {}, shared)
        return BINDER.pick_rows(self.data, self._offsets, self.width, positions, columns,  # type: ignore[no-any-return]
                                *conversion)


class SQLiteStore(Store):
    """A ``sqlite:///PATH`` database."""

    backend = "sqlite"
    placeholder = "?"
    _bound_path: str | None = None  # the file's name for BINDER; None: the sqlite3 module binds
    _file_id: tuple[int, int] | None = None  # the file opened (``file_gone``)
    overlaps_writes = False
    batches_per_commit = BATCHES_PER_COMMIT
    defers_calls = True
    refs_calls = True

    def __init__(self, url: Any, create: bool = True) -> None:
        self._multi_row: dict[str, str] = {}  # one-row INSERT -> its ROWS_PER_STATEMENT-row form
        self._packing = Mappings(KEPT_PACKINGS)  # buffers of packed rows (``pack_rows``)
        self._reading = not create  # a command that only reads: a read-only file will do
        super().__init__(url, create)

    def _connect(self) -> None:
        path = self.url.path or ""
        if path != ":memory:":
            _create_private(Path(path), self.url.redacted())
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                self._con = connect_existing(path, BUSY_TIMEOUT_MS / 1000)
                self._set_pragmas()
                self._file_id = _file_id(path)
                self._checkpointer = WalCheckpointer(path) if path != ":memory:" else None
                self._bound_path = self._binder_path(path)
                return
            except sqlite3.OperationalError as exc:
                # Switching a new file to WAL needs an exclusive lock that the busy handler
                # does not wait for: two processes opening a fresh database at once (cron's
                # ingest meeting rotate) retry here instead of failing.
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    if self._reading and on_read_only_fs(path):
                        self._connect_read_only(path)
                        return
                    reason = _unopenable(path) or exc
                    raise DatabaseError(f"{self.url.redacted()}: cannot open the database: {reason}") from None
                if getattr(self, "_con", None) is not None:
                    self._con.close()
                time.sleep(0.05)
            except sqlite3.Error as exc:
                raise DatabaseError(f"{self.url.redacted()}: cannot open the database: {exc}") from None

    def _connect_read_only(self, path: str) -> None:
        """Open a database on a read-only file system (a snapshot, a read-only mount). Without
        the ``-shm`` file beside it, which WAL mode would make and cannot, SQLite reads it as
        immutable, as nothing can change it there."""
        if getattr(self, "_con", None) is not None:
            self._con.close()
        uri = f"file:{quote(os.fsencode(os.path.abspath(path)))}?mode=ro"
        try:
            try:  # a copy with its -wal and -shm files: its last rows are in the -wal
                self._con = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
                self._con.execute("PRAGMA schema_version")
            except sqlite3.OperationalError:
                self._con.close()
                self._con = sqlite3.connect(uri + "&immutable=1", uri=True, isolation_level=None,
                                            check_same_thread=False)
            self._con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
            self._con.execute("PRAGMA temp_store = MEMORY")
        except sqlite3.Error as exc:
            raise DatabaseError(f"{self.url.redacted()}: cannot open the database: {exc}") from None
        self._file_id = _file_id(path)
        self._checkpointer = None
        self._bound_path = None

    def file_gone(self) -> bool:
        return self._file_id is not None and _file_id(self.url.path or "") != self._file_id

    def _set_pragmas(self) -> None:
        self._con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        self._con.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # a new file's only: before WAL
        if self._con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            self._con.execute("PRAGMA journal_mode = WAL")
        self._con.execute("PRAGMA synchronous = NORMAL")
        self._con.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        self._con.execute("PRAGMA temp_store = MEMORY")
        page_size = self._con.execute("PRAGMA page_size").fetchone()[0]
        self._con.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_BYTES // page_size}")

    def _binder_path(self, path: str) -> str | None:
        """The name SQLite gives this database file, when ``BINDER`` may use the connection."""
        if BINDER is None or path == ":memory:":
            return None
        for name in dict.fromkeys((os.path.abspath(path), os.path.realpath(path))):
            try:
                if BINDER.database(self._con, name):
                    return name
            except ValueError:
                continue
        log.debug("INSERT values bound by the sqlite3 module: the connection's file is not %s", path)
        return None

    def _begin(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.let_wal_start_over()
        self._con.execute("BEGIN IMMEDIATE")
        # the numbers of calls are the database's: another writer may have given some since
        self._refs, self._next_ref = {}, None

    def commit(self) -> None:
        if self._con.in_transaction:
            self._con.execute("COMMIT")
            if self._checkpointer is not None:
                self._checkpointer.nudge()

    def rollback(self) -> None:
        if self._con.in_transaction:
            self._con.execute("ROLLBACK")

    def close(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()  # first: the last connection closed removes the WAL
        if self._bound_path is not None:
            BINDER.forget(self._con)  # its kept statements would keep the connection open
        self._con.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return self._con.execute(sql, _params(params)).rowcount

    def pack_rows(self, rows: list[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
        """``PackedRows`` of ``rows`` when this store binds them in C, else the rows. A batch's
        are packed into a mapping that an earlier batch's served in, once that one is sent
        (``Mappings``): a parse worker maps each large block afresh (``map_large_blocks``)."""
        if self._bound_path is None or not rows:
            return rows
        buffer = BINDER.pack_rows(rows, self._packing.take)
        if buffer is None:
            return rows
        return PackedRows(buffer.toreadonly(), len(rows), len(rows[0]))

    def _insert_messages(self, batch: PreparedBatch) -> int:
        """Insert the batch's message rows, each with its call's number (``refs_calls``)."""
        return self.executemany(self._message_insert, batch.messages.rows, self._message_refs(batch))

    @cached_property
    def _message_insert(self) -> str:
        return self.insert_ignore_sql(MESSAGE_TABLE, (*rows.ROW_COLUMNS, schema.CALL_REF))

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]], last: list[Any] | None = None) -> int:
        """executemany of ``sql``; with ``last``, each row's value of its last column (the
        rows do not have it), bound after the row's own."""
        if not seq:
            return 0
        if last is not None and (self._bound_path is None or " VALUES (" not in sql):
            seq, last = _with_last(rows.as_list(seq), last), None
        if isinstance(seq, PackedRows) and (self._bound_path is None or " VALUES (" not in sql):
            seq = seq.tuples()
        if " VALUES (" not in sql:
            return self._con.executemany(sql, seq).rowcount
        many = self._multi_row.get(sql)
        if many is None:
            many = self._multi_row[sql] = multi_row_sql(sql, ROWS_PER_STATEMENT)
        if isinstance(seq, PackedRows):
            return int(BINDER.insert_packed(self._con, self._bound_path, many, ROWS_PER_STATEMENT, sql,
                                            seq.data, seq.count, seq.width, last))
        if self._bound_path is not None and isinstance(seq, list):
            done = BINDER.insert_rows(self._con, self._bound_path, many, ROWS_PER_STATEMENT, sql, seq, last)
            if done is not None:  # else a value of another type: the sqlite3 module binds them all
                return int(done)
        if last is not None:
            seq = _with_last(list(seq), last)
        whole = len(seq) - len(seq) % ROWS_PER_STATEMENT
        groups = [list(chain.from_iterable(seq[start:start + ROWS_PER_STATEMENT]))
                  for start in range(0, whole, ROWS_PER_STATEMENT)]
        total = self._con.executemany(many, groups).rowcount if groups else 0
        return total + (self._con.executemany(sql, seq[whole:]).rowcount if whole < len(seq) else 0)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._con.execute(sql, _params(params)).fetchall()

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            cursor = self._con.execute(sql, _params(params))
            names = [d[0] for d in cursor.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

        return self._guard("run the query", run)

    def fmt_time(self, value: datetime | None) -> Any:
        return text_time(value)

    def fmt_times(self, values: list[datetime | None]) -> list[Any]:
        return text_times(values)

    def insert_ignore_sql(self, table: str, columns: Sequence[Column]) -> str:
        names = ", ".join(self.q(c.name) for c in columns)
        return f"INSERT INTO {self.q(table)} ({names}) VALUES ({self.marks(columns)}) ON CONFLICT DO NOTHING"

    def upsert_sql(self, table: str, columns: Sequence[Column], key: str) -> str:
        names = ", ".join(self.q(c.name) for c in columns)
        marks = self.marks(columns)
        updates = ", ".join(f"{self.q(c.name)} = excluded.{self.q(c.name)}" for c in columns if c.name != key)
        return (f"INSERT INTO {self.q(table)} ({names}) VALUES ({marks}) "
                f"ON CONFLICT ({self.q(key)}) DO UPDATE SET {updates}")

    def tables(self) -> set[str]:
        return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.query(f"PRAGMA table_info({self.q(table)})")}

    def indexes(self) -> set[str]:
        return {r[0] for r in self.query("SELECT name FROM sqlite_master WHERE type = 'index'")}

    def _is_retryable(self, exc: Exception) -> bool:
        """A lock another writer holds, unless this attempt waited the whole busy timeout for
        it already: a writer that holds it that long does not let go (a transaction left open
        in an ``sqlite3`` shell, a stopped process), and waiting as long again, seven times,
        would hold the run, and its log locks, for eight minutes."""
        if not isinstance(exc, sqlite3.OperationalError) or "locked" not in str(exc):
            return False
        return time.monotonic() - self._attempt_started < BUSY_TIMEOUT_MS / 1000

    def _is_db_error(self, exc: Exception) -> bool:
        return isinstance(exc, sqlite3.Error)


def drop_cached_pages(path: str) -> None:
    """Ask the kernel to forget the file's cached pages. It drops only clean ones, and a
    checkpoint has just synced the file, so nothing waits for the disk; where there is no
    ``posix_fadvise`` the pages stay, as they would anyway."""
    if not hasattr(os, "posix_fadvise"):
        return
    fd = _advice_descriptor(path)
    if fd is None:
        return
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    except OSError as exc:
        log.debug("page cache of %s kept: %s", path, exc)


# Descriptors of database files for ``posix_fadvise``, by (device, inode), open until the
# process ends. Closing any descriptor of a file drops every POSIX lock the process holds on
# it, SQLite's own included: the shared lock by which each connection tells others that the
# WAL is in use. A reader closing its connection then finds itself the last one, copies the
# WAL and deletes it under the writer (readers saw "database disk image is malformed").
# SQLite defers closing its own descriptors for that reason; these are never closed.
_ADVICE_FDS: dict[tuple[int, int], int] = {}
_ADVICE_LOCK = threading.Lock()


def _advice_descriptor(path: str) -> int | None:
    """A descriptor of the database file at ``path``, opened once per file and kept."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    with _ADVICE_LOCK:
        fd = _ADVICE_FDS.get((st.st_dev, st.st_ino))
        if fd is None:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                return None
            opened = os.fstat(fd)  # the file at ``path`` now, should it have been replaced
            _ADVICE_FDS.setdefault((opened.st_dev, opened.st_ino), fd)
        return fd


def _frames_copied_since(before: int, now: int) -> int:
    """Frames a checkpoint copied since the last one reported ``before``: its count ``now``
    starts from the WAL's last start-over, which may have come in between."""
    return now - before if now >= before else now


class WalCheckpointer:
    """Copies committed pages from the WAL into the database file, in a thread of its own.

    ``nudge()`` after each COMMIT wakes the thread, which runs a PASSIVE checkpoint on a
    connection of its own: it copies what is committed and no reader still needs, never
    waits for a lock and never blocks the writer, which meanwhile fills the WAL with the next
    transaction (SQLite releases Python's lock for both). The WAL starts over from its
    beginning at the first transaction after a complete copy: between a cron run's small
    transactions, or during a large ingest after the writer's own copy of its last commit
    (``WAL_CHECKPOINT_BYTES``), or once the writer waited for a copy to end
    (``WAL_RESTART_BYTES``). A crash at any moment loses nothing: the WAL keeps every
    committed page until it is in the database file. Started at the first nudge; a failure
    stops it quietly and the writer's own checkpoints (``wal_autocheckpoint``) carry on.
    A WAL file left large by a large ingest is emptied once commits are small again
    (``WAL_KEPT_BYTES``): that checkpoint takes the write lock while it copies the little
    the WAL holds, and gives up at once if the writer has it. A large ingest's pages leave
    the page cache once copied (``DROP_CACHE_BYTES``).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._wake = threading.Event()
        self._copied = threading.Event()  # set when a copy has ended since the last nudge
        self._held = 0  # bytes the WAL held since it started over, at the last copy
        self._too_slow = False  # a copy outlasted the wait: no more waits until the WAL starts over
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.waited = 0.0  # seconds writers waited in ``let_wal_start_over``

    def nudge(self) -> None:
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(target=self._run, name="sipparse-wal-checkpoint", daemon=True)
            self._thread.start()
        self._copied.clear()
        self._wake.set()

    def let_wal_start_over(self) -> None:
        """Before a writer's BEGIN: once the WAL holds ``WAL_RESTART_BYTES``, wait for the copy
        of the last commit to end, so that the transaction finds the WAL all copied and writes
        it again from its start. A copy that a reader's snapshot keeps from finishing ends all
        the same; a thread that has stopped is not waited for. A copy that outlasts
        ``RESTART_WAIT_SECONDS`` (a slow disk) ends the waits until the WAL starts over by
        itself (``WAL_CHECKPOINT_BYTES``): the writer would otherwise wait for the disk at
        every COMMIT."""
        if (self._thread is None or self._held < WAL_RESTART_BYTES or self._too_slow
                or self._copied.is_set()):
            return
        started = time.monotonic()
        self._too_slow = not self._copied.wait(RESTART_WAIT_SECONDS)
        self.waited += time.monotonic() - started

    def stop(self) -> None:
        """Finish the checkpoint under way, if any, and end the thread."""
        self._stopping = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self.waited:
            log.debug("writers waited %.2f s for the WAL to start over", self.waited)

    def _run(self) -> None:
        try:
            # no waiting for locks: a checkpoint that would wait for the writer gives up
            con = connect_existing(self._path, 0)
            page_size = con.execute("PRAGMA page_size").fetchone()[0]
        except (sqlite3.Error, MemoryError) as exc:
            log.debug("no background checkpoints: %r", exc)
            return
        copied_before, copied_since_drop = 0, 0
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                # fetchall ends the statement: an open one would hold a read mark that
                # keeps the WAL from starting over
                _busy, frames, copied = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()[0]
                copied_since_drop += _frames_copied_since(copied_before, copied) * page_size
                copied_before = copied
                self._held = frames * page_size
                if self._held < WAL_RESTART_BYTES:
                    self._too_slow = False
                self._copied.set()
                if copied_since_drop >= DROP_CACHE_BYTES:
                    drop_cached_pages(self._path)
                    copied_since_drop = 0
                if self._worth_cutting(frames * page_size):
                    con.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except (sqlite3.Error, MemoryError) as exc:  # not a traceback of a thread on stderr
            log.debug("background checkpoints stopped: %r", exc)
        finally:
            self._held = 0  # no copy to wait for any more
            self._copied.set()
            con.close()

    def _worth_cutting(self, held: int) -> bool:
        """Whether the WAL file is over ``WAL_KEPT_BYTES`` while it holds little (``held``
        bytes since it started over): then a TRUNCATE checkpoint copies that little and
        empties the file. It takes the write lock, so during a large ingest, whose commits
        are large, it is not tried; if the writer holds the lock it gives up at once."""
        if held * 8 > WAL_KEPT_BYTES:
            return False
        try:
            return os.path.getsize(self._path + "-wal") > WAL_KEPT_BYTES
        except OSError:
            return False


def _with_last(seq: list[tuple[Any, ...]], last: list[Any]) -> list[tuple[Any, ...]]:
    """Each row with its value of ``last`` after its own (where the C binding does not bind)."""
    return [row + (value,) for row, value in zip(seq, last, strict=True)]


def _params(params: Sequence[Any]) -> Sequence[Any]:
    """Datetimes become the stored text, so comparisons with stored timestamps hold."""
    if any(isinstance(p, datetime) for p in params):
        return [text_time(p) if isinstance(p, datetime) else p for p in params]
    return params


def _unopenable(path: str) -> str | None:
    """Why SQLite cannot open the database file that is there, which it says only as "unable
    to open database file": the user may not read and write the file, or not create files
    in its directory, where WAL mode keeps ``-wal`` and ``-shm`` files beside it (a read-only
    file system, a directory of another user, an immutable one). None: neither."""
    if not os.path.exists(path):
        return None
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as exc:
        return exc.strerror or str(exc)
    directory = os.path.dirname(os.path.abspath(path))
    try:
        tempfile.TemporaryFile(dir=directory).close()  # made and gone at once (O_TMPFILE)
    except OSError as exc:
        name = os.path.basename(path)
        return f"{directory} is not writable ({exc.strerror or exc}), where SQLite keeps {name}-wal and {name}-shm"
    return None


def on_read_only_fs(path: str) -> bool:
    """Whether the file system of ``path`` is mounted read-only."""
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _file_id(path: str) -> tuple[int, int] | None:
    """The device and inode of a database file; None for one in memory, or gone."""
    if path == ":memory:":
        return None
    try:
        st = os.stat(path)
    except OSError:
        return (-1, -1)
    return st.st_dev, st.st_ino


def connect_existing(path: str, timeout: float) -> sqlite3.Connection:
    """A connection to the database file at ``path`` that never creates it (``mode=rw``).

    SQLite creates a missing file through a symbolic link planted at its name: run as root
    with the database in a directory another user writes to, that would make a file of
    root's anywhere. ``_create_private`` makes the file first, without following links.
    """
    if path == ":memory:":
        return sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    uri = f"file:{quote(os.fsencode(os.path.abspath(path)))}?mode=rw"  # bytes: a name not in UTF-8 too
    return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None, check_same_thread=False)


def _create_private(path: Path, shown: str) -> None:
    """Create the database file (and its directory) readable by the user only, never through a link."""
    try:
        if not path.parent.exists():
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600))
    except FileExistsError:
        if not path.exists():  # a link to nothing: SQLite would create its target
            raise DatabaseError(f"{shown}: refusing to create the database file: {path} is a symbolic link "
                                f"to {os.readlink(path)}, which does not exist") from None
    except OSError as exc:
        raise DatabaseError(f"{shown}: cannot create the database file: {exc.strerror or exc}") from None
