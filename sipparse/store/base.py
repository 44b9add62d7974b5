"""The storage interface, and everything the SQLite and MySQL backends share.

A backend supplies a connection, its placeholder, its "insert unless present" and
"upsert" SQL, which errors are worth retrying, and how to lock call rows. The write path
lives here, once:

1. rows are built from the records (outside the transaction, once even when retried);
2. one transaction inserts the messages and rejects (a duplicate (fingerprint, offset) is
   skipped), upserts the checkpoints, and recomputes the ``calls`` row of every Call-ID
   the new rows belong to from all of its stored rows (``calls.summarize``): a call first
   seen in this batch is summarised from the batch's own rows, only the calls that already
   had rows are read back, with one query per chunk of Call-IDs, and every ``calls`` row is
   written with one statement per chunk (on SQLite, where a transaction holds several
   batches, that of a call still open only once, at the COMMIT: ``defers_calls``); on
   SQLite each call has a number that its rows carry and are found by (``refs_calls``),
   given before its first rows are inserted;
3. a deadlock or lock wait timeout rolls the whole transaction back and runs it again.

The checkpoints therefore never get ahead of, or fall behind, the rows they cover.
"""

from __future__ import annotations

import gc
import logging
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cached_property
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

from sipparse.config import DatabaseURL
from sipparse.errors import DatabaseError, NoSchema
from sipparse.sip.message import Reject, SipMessage
from sipparse.store import calls, rows, schema
from sipparse.store.call_cache import OPEN_STATES, CallCache, CallsAhead
from sipparse.store.rows import Checkpoint

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRIES = 8
# Allocations between two collections of the youngest generation while batches are parsed
# and written (Python's default is 700); see ``fewer_collections``.
BATCH_GC_THRESHOLD = 50_000
CALL_CHUNK = 1000  # Call-IDs per IN (...) list
# A dialog without an INVITE (a REGISTER refreshed with one Call-ID for weeks, a SUBSCRIBE)
# that has more stored rows than this is summarised from its rows a page at a time
# (``_dialog_summary``), not from all of them at once: a phone refreshing every minute gave
# 86,000 rows a month, and twenty such phones took a cron run past 3 GiB.
LONG_DIALOG_ROWS = 256
DIALOG_PAGE = 5000  # rows of such a dialog read at a time
CALL_CLIPS = rows.clips(schema.CALL_COLUMNS)
_raw_message = attrgetter("raw_message")
_summary_times = attrgetter("first_seen", "last_seen", "answered_at", "ended_at")
_CALL_NAMES = [c.name for c in schema.CALL_COLUMNS]
# a calls row's version (message_count, updated_at) and state, for the CallCache
_call_version = itemgetter(_CALL_NAMES.index("message_count"), _CALL_NAMES.index("updated_at"))
_call_state = itemgetter(_CALL_NAMES.index("state"))
_call_kind = itemgetter(_CALL_NAMES.index("kind"))
# the columns of a ``calls`` row that may be long (the others are numbers, times and short words)
_call_texts = itemgetter(*(_CALL_NAMES.index(name) for name in (
    "call_id", "from_user", "to_user", "from_sip", "to_sip", "final_reason", "host")))
_place = itemgetter(0)  # a summary input's place in its batch
_row_call_id = itemgetter(rows.CALL_ID_AT)
MESSAGE_TABLE, CALLS_TABLE = "sip_transactions", "calls"
REJECTS_TABLE, CHECKPOINTS_TABLE = "rejects", "checkpoints"


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What one ``write_batch`` did: rows inserted, duplicates skipped, rejects stored, calls refreshed."""

    inserted: int
    duplicates: int
    rejects: int
    calls: int


class Store(ABC):
    """A sipparse database: open with ``open_store(url)``; also a context manager.

    :param url: the database to open; the schema is created or migrated on open.
    """

    backend: str = ""
    placeholder: str = "?"
    # bytes of row data per INSERT statement (None: no limit), under max_allowed_packet
    packet_budget: int | None = None
    # whether an upsert's row count tells inserted rows (1) from updated ones (2, or 0)
    counts_upserts = False
    # whether writing in a thread of its own, while the next batch is parsed, pays: it does
    # when the write mostly waits (for a server), not when much of it holds Python's lock
    # (SQLite's binding, the calls summaries, the commit), where the threads take turns
    overlaps_writes = False
    # log bytes an ingest stores per batch: a few thousand messages, whose rows (three times
    # the log's size in Python objects) are held while stored, by each process of a run
    batch_bytes = 2 << 20
    # batches of an ingest one transaction may hold (``write_prepared``'s ``commit_bytes``)
    batches_per_commit = 1
    # whether a transaction of several batches writes the ``calls`` row of a call still open
    # once, at its COMMIT (``_upsert_calls``): right where the transaction holds the only
    # write lock (SQLite), not where other writers' row locks and upsert counts must see
    # every row
    defers_calls = False
    # whether each call has a number (``schema.CALL_REF``) that its ``calls`` row and its
    # message rows carry, by which its messages are found (SQLite: the index of a number
    # given in time order stays small where it changes, see ``schema.CALL_REF``)
    refs_calls = False

    def __init__(self, url: DatabaseURL, create: bool = True) -> None:
        self.url = url
        self.retries = 0  # transactions run again after a deadlock or lock timeout
        self._call_cache = CallCache()
        # log bytes of the batches in the transaction ``write_prepared`` left open (None: none is)
        self._open_bytes: int | None = None
        # ``calls`` rows of the open transaction not written yet, by Call-ID (None: written at once)
        self._pending_calls: dict[str, tuple[Any, ...]] | None = None
        self._calls_ahead: CallsAhead | None = None  # in a parse worker (``calls_ahead``)
        # ``refs_calls``: the number of each call the transaction looked up or gave, and the
        # next number to give (None: not read yet); both start over with each transaction
        self._refs: dict[str, int] = {}
        self._next_ref: int | None = None
        self._connect()
        from sipparse.store.migrate import migrate

        try:
            self._guard("create or migrate the schema", lambda: migrate(self, create))
        except NoSchema:
            self.close()
            raise

    # -- what a backend provides -------------------------------------------------------

    @abstractmethod
    def _connect(self) -> None: ...

    @abstractmethod
    def _begin(self) -> None: ...

    @abstractmethod
    def commit(self) -> None: ...

    @abstractmethod
    def rollback(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def file_gone(self) -> bool:
        """Whether the database's file was removed or replaced since it was opened (a server
        database has none): a long-lived writer would go on writing into it unseen."""
        return False

    @abstractmethod
    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement with the backend's placeholders; return the affected row count."""

    @abstractmethod
    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> int: ...

    def pack_rows(self, rows: list[tuple[Any, ...]]) -> Sequence[tuple[Any, ...]]:
        """The rows in the form that costs least to send to another process and to insert
        there; ``executemany`` takes it (and ``rows.as_list`` gives the tuples back)."""
        return rows

    @abstractmethod
    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query written with ``?`` placeholders, as dicts.

        Values have the same Python types on both backends: timestamps come back as the
        ``YYYY-MM-DD HH:MM:SS[.ffffff]`` text, blobs as ``bytes``, numbers as int/float.
        """

    @abstractmethod
    def fmt_time(self, value: datetime | None) -> Any: ...

    @abstractmethod
    def fmt_times(self, values: list[datetime | None]) -> list[Any]:
        """``fmt_time`` of a whole column of naive UTC datetimes."""

    @abstractmethod
    def insert_ignore_sql(self, table: str, columns: Sequence[schema.Column]) -> str:
        """INSERT of one row that does nothing when a unique key already holds it."""

    @abstractmethod
    def upsert_sql(self, table: str, columns: Sequence[schema.Column], key: str) -> str:
        """INSERT of one row that replaces the other columns when ``key`` already holds it."""

    @abstractmethod
    def _is_retryable(self, exc: Exception) -> bool: ...

    @abstractmethod
    def _is_db_error(self, exc: Exception) -> bool: ...

    @abstractmethod
    def tables(self) -> set[str]:
        """Names of the tables of the database."""

    @abstractmethod
    def columns(self, table: str) -> set[str]:
        """Names of the columns of a table."""

    @abstractmethod
    def indexes(self) -> set[str]:
        """Names of the indexes of the database."""

    @contextmanager
    def long_statements(self) -> Iterator[None]:
        """Let the block's statements take as long as they need (a schema migration); a
        backend whose client gives up on a server that does not answer lifts that limit."""
        yield

    def conform_tables(self) -> None:  # noqa: B027 (optional hook)
        """Give tables that exist already (an earlier version's, or the Logstash pipeline's)
        the table options the current schema needs, before columns and indexes are added."""

    def _lock_calls(self, call_ids: Sequence[str]) -> None:  # noqa: B027 (optional hook)
        """Serialise writers that touch the same calls (SQLite already has one writer)."""

    # whether ``_lock_calls`` waits for other writers, who may change a call before it returns
    locks_calls = False
    # when the attempt ``_retried`` runs began (``time.monotonic``), for ``_is_retryable``
    _attempt_started = 0.0

    # -- the interface ---------------------------------------------------------------

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_checkpoint(self, fingerprint: str) -> Checkpoint | None:
        """The checkpoint of the log file with this fingerprint, if one was stored."""
        found = self._read(f"SELECT {self._checkpoint_columns()} FROM {self.q(CHECKPOINTS_TABLE)} "
                           f"WHERE {self.q('fingerprint')} = {self.placeholder}", (fingerprint,))
        return rows.checkpoint_from_row(found[0]) if found else None

    def newest_checkpoint_mtime(self, paths: Sequence[str], host: str | None = None) -> float | None:
        """The newest file mtime recorded in a checkpoint of any of these (absolute) paths on
        ``host``. Every PBX logs to the same path: another's look says nothing of this one's
        files. A checkpoint that names no host (written before revision 1, or by a sipparse
        not yet upgraded) may be any host's, and counts."""
        if not paths:
            return None
        marks = ", ".join([self.placeholder] * len(paths))
        params = [rows.storable(p) for p in paths]
        on_host = ""
        if host is not None:
            on_host = f" AND ({self.q('host')} = {self.placeholder} OR {self.q('host')} IS NULL)"
            params.append(rows.clip_host(host))
        found = self._read(f"SELECT MAX({self.q('mtime')}) FROM {self.q(CHECKPOINTS_TABLE)} "
                           f"WHERE {self.q('path')} IN ({marks}){on_host}", params)
        return None if not found or found[0][0] is None else float(found[0][0])

    def checkpoints(self) -> list[Checkpoint]:
        """Every stored checkpoint, by path."""
        found = self._read(f"SELECT {self._checkpoint_columns()} FROM {self.q(CHECKPOINTS_TABLE)} "
                           f"ORDER BY {self.q('path')}, {self.q('fingerprint')}")
        return [rows.checkpoint_from_row(r) for r in found]

    def write_batch(
        self,
        messages: Sequence[SipMessage],
        rejects: Sequence[Reject] = (),
        checkpoints: Sequence[Checkpoint] = (),
    ) -> WriteResult:
        """Store messages, rejects and checkpoints in ONE transaction, and refresh their calls.

        Messages and rejects already stored (same source fingerprint and offset) are skipped,
        so writing a batch again changes nothing. Retried whole on deadlock or lock timeout.
        """
        return self.write_prepared(self.prepare_batch(messages, rejects, checkpoints))

    def prepare_batch(
        self,
        messages: Sequence[SipMessage],
        rejects: Sequence[Reject] = (),
        checkpoints: Sequence[Checkpoint] = (),
        calls_ahead: bool = False,
    ) -> PreparedBatch:
        """The part of ``write_batch`` that needs no database: the rows and the calls' summary
        inputs. It may run in another thread than ``write_prepared``, on the next batch while
        the database works on this one (``sipparse.store_thread``).

        :param calls_ahead: also summarise every call of the batch from the batch's own rows
            (the ``calls`` row of a call the database does not know yet), and keep only what
            the transaction needs: for a batch prepared in another process, whose storing
            process then has the least to do and to unpickle.
        """
        with fewer_collections():
            now = datetime.now(UTC).replace(tzinfo=None)
            built = rows.message_rows(messages, now, self.fmt_times)
            prepared = PreparedBatch(
                built,
                rows.reject_rows(rejects, now, self.fmt_time),
                rows.checkpoint_rows(checkpoints, now, self.fmt_time),
                self._row_sizes(messages),
                rows.summary_inputs(built, places=calls_ahead),
            )
            return self._with_call_rows(prepared) if calls_ahead else prepared

    def _with_call_rows(self, batch: PreparedBatch) -> PreparedBatch:
        """``batch`` with the ``calls`` row of each of its calls from its own rows, and without
        the summary inputs and timestamps that only served to make them, its message rows
        packed (``pack_rows``) for the trip to the storing process."""
        by_call = batch.summaries.by_call
        call_ids = list(by_call)
        if self._calls_ahead is None:
            self._calls_ahead = CallsAhead()
        summaries, continued = self._calls_ahead.summaries(by_call, batch.summaries.normal,
                                                           len(batch.messages.rows))
        call_rows = dict(zip(call_ids, self._call_rows(summaries), strict=True))
        packed = self.pack_rows(batch.messages.rows)
        inputs: Mapping[str, list[tuple[Any, ...]]]
        if packed is batch.messages.rows:
            # the summary inputs travel as plain tuples (a named tuple pickles through Python
            # code) for the storing process's CallCache
            inputs = {c: list(map(tuple, entries)) for c, entries in by_call.items()}
        else:  # made there from the packed rows, for the few calls it needs them of
            places = batch.summaries.places
            if places is None:
                places = {c: list(map(_place, entries)) for c, entries in by_call.items()}
            inputs = rows.PackedInputs(packed, places)
        return PreparedBatch(rows.MessageRows(packed, []), batch.rejects, batch.checkpoints, batch.sizes,
                             rows.SummaryInputs(inputs, batch.summaries.normal), call_rows, continued)

    def write_prepared(self, batch: PreparedBatch, log_bytes: int | None = None,
                       commit_bytes: int = 0) -> WriteResult:
        """The transaction of ``write_batch``, for a batch from ``prepare_batch``.

        Given ``log_bytes`` (the log the batch was read from), the transaction may stay open
        for the batches that follow, until they cover ``commit_bytes`` of log (an ingest
        gives ``batches_per_commit`` batches' worth; where that is one, every batch, a short
        one too, is a transaction of its own, retried whole after a lost connection): committing each batch on its own
        writes the index pages it touches (all over the Call-ID indexes: Call-IDs are
        random) to the WAL again each time, a tenth of an ingest's CPU time on SQLite.
        ``commit_pending`` commits what is left open; until then a crash or a failure loses
        those batches and their checkpoints together, so the next run reads them again, as
        it would one uncommitted batch. A batch with values that cannot be bound as they are
        starts a transaction of its own, where it can be written again cleaned
        (``PreparedBatch.sanitized``) after a rollback that loses nothing else.
        """
        with fewer_collections():
            if self._open_bytes is not None and not batch.encodable():
                self.commit_pending()
            alone = self._open_bytes is None and (
                log_bytes is None or log_bytes >= commit_bytes or self.batches_per_commit == 1)
            if alone:  # retried whole, COMMIT included
                result = self._cleaned_if_need_be(lambda b: self._transaction(lambda: self._write(b)), batch)
            elif self._open_bytes is None:
                result = self._write_first(batch)
                self._open_bytes = 0
            else:
                result = self._write_next(batch)
        self._call_cache.kept(len(batch.messages.rows))
        if self._open_bytes is not None:
            self._open_bytes += log_bytes or 0
            if self._open_bytes >= commit_bytes:
                self.commit_pending()
        return result

    @property
    def holds_uncommitted(self) -> bool:
        """Whether ``write_prepared`` left a transaction open: its batches are stored only once
        it commits, and a failure before that rolls all of them back."""
        return self._open_bytes is not None

    def commit_pending(self) -> None:
        """Commit the transaction that ``write_prepared`` left open, if one is."""
        if self._open_bytes is None:
            return
        try:
            self._guard("write", self._flush_and_commit)
        except BaseException:
            self._abandon_open()
            raise
        self._open_bytes = None

    def _flush_and_commit(self) -> None:
        """Write the ``calls`` rows the open transaction deferred, then commit it."""
        pending, self._pending_calls = self._pending_calls, None
        if pending:
            self._write_call_rows(list(pending.values()))
        self.commit()

    @cached_property
    def _calls_upsert(self) -> str:
        """The statement that writes ``calls`` rows, made once per store."""
        return self.upsert_sql(CALLS_TABLE, schema.call_columns(self.backend), "call_id")

    @staticmethod
    def _cleaned_if_need_be(write: Callable[[PreparedBatch], WriteResult], batch: PreparedBatch) -> WriteResult:
        """``write(batch)``, else, when a value could not be encoded (undecodable bytes in
        the log, or in a file name; ``write`` rolled back), ``write`` of the batch cleaned."""
        try:
            return write(batch)
        except UnicodeEncodeError:
            return write(batch.sanitized())

    def _write_first(self, batch: PreparedBatch) -> WriteResult:
        """Begin a transaction and write ``batch`` in it, retried as ``_transaction`` is, and
        leave it open."""
        def begun(prepared: PreparedBatch) -> WriteResult:
            def once() -> WriteResult:
                self._begin()
                self._pending_calls = {} if self.defers_calls else None
                return self._write(prepared)

            return self._guard("write", lambda: self._retried("transaction", once, self._rollback_quietly))

        try:
            return self._cleaned_if_need_be(begun, batch)
        except BaseException:
            self._abandon_open()
            raise

    def _write_next(self, batch: PreparedBatch) -> WriteResult:
        """Write ``batch`` in the open transaction; any failure rolls back the whole of it."""
        try:
            return self._guard("write", lambda: self._write(batch))
        except BaseException:
            self._abandon_open()
            raise

    def _abandon_open(self) -> None:
        """Roll back the open transaction after a failure: the ``CallCache`` forgets what its
        batches kept, since their rows are gone."""
        self._rollback_quietly()
        self._call_cache.clear()
        self._open_bytes = None
        self._pending_calls = None

    def refresh_calls(self, call_ids: Sequence[str]) -> int:
        """Recompute the ``calls`` rows of these Call-IDs in their own transaction."""
        return self._transaction(lambda: self._refresh_calls(sorted(set(call_ids))))

    def purge(self, older_than: datetime, batch_size: int = 5000, dry_run: bool = False) -> dict[str, int]:
        """Delete messages, calls and rejects older than ``older_than`` (naive UTC), in small
        transactions; return the counts per kind (``messages``, ``calls``, ``rejects``).
        With ``dry_run`` only count them."""
        from sipparse.store.purge import purge

        return self._guard("purge", lambda: purge(self, older_than, batch_size, dry_run))

    # -- shared machinery ------------------------------------------------------------

    def q(self, name: str) -> str:
        return schema.quote(name, self.backend)

    def marks(self, columns: Sequence[schema.Column]) -> str:
        """Placeholders of a row (VARCHAR values come clipped, see ``rows.clip_rows``)."""
        return ", ".join([self.placeholder] * len(columns))

    def _checkpoint_columns(self) -> str:
        return ", ".join(self.q(c.name) for c in schema.CHECKPOINT_COLUMNS[:7])

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        # a read is safe to repeat: e.g. a session the server dropped while the process was elsewhere
        self.commit_pending()  # it ends its transaction: the batches left open go in first
        return self._guard("read", lambda: self._retried("read", lambda: self._read_committed(
            lambda: self.query(sql, params))))

    def _read_committed(self, read: Callable[[], T]) -> T:
        """``read()`` in a transaction it ends, so the next one sees what others committed. Left
        by an exception (a Ctrl-C in the middle of the result), a failed rollback is not
        raised in its place."""
        try:
            rows = read()
        except BaseException:
            self._rollback_quietly()
            raise
        self.rollback()
        return rows

    def _transaction(self, work: Callable[[], T]) -> T:
        """Run ``work`` in one transaction; run it again on deadlock, lock wait timeout or a
        lost connection. Batches that ``write_prepared`` left open are committed first."""
        self.commit_pending()

        def once() -> T:
            self._begin()
            result = work()
            self.commit()
            return result

        try:
            return self._retried("transaction", once, self._rollback_quietly)
        except Exception as exc:
            if self._is_db_error(exc):
                raise self._error("write", exc) from None
            raise

    def _retried(self, what: str, attempt: Callable[[], T], after_failure: Callable[[], None] | None = None) -> T:
        """``attempt()``, again (after ``after_failure()``, with a growing pause) while it fails
        with an error the backend calls retryable, up to ``RETRIES`` times."""
        for n in range(RETRIES):
            self._attempt_started = time.monotonic()
            try:
                return attempt()
            except Exception as exc:
                if after_failure is not None:
                    after_failure()
                if not self._is_db_error(exc) or n + 1 >= RETRIES or not self._is_retryable(exc):
                    raise
                self.retries += 1
                log.debug("%s retried after %s", what, exc)
                time.sleep(min(0.05 * 2 ** n, 1.0))
        raise AssertionError("unreachable")

    def _guard(self, what: str, work: Callable[[], T]) -> T:
        """Turn a database exception into a one-line DatabaseError."""
        try:
            return work()
        except Exception as exc:
            if self._is_db_error(exc):
                raise self._error(what, exc) from None
            raise

    def _error(self, what: str, exc: Exception) -> DatabaseError:
        reason = str(getattr(exc, "msg", None) or exc).splitlines()[0] if str(exc) else type(exc).__name__
        if self.url.password:  # as a word of its own: a short one may be part of the user name
            reason = re.sub(rf"(?<!\w){re.escape(self.url.password)}(?!\w)", "***", reason)
        return DatabaseError(f"{self.url.redacted()}: cannot {what}: {reason}", unreachable=self._is_unreachable(exc))

    def _is_unreachable(self, exc: Exception) -> bool:
        """Whether ``exc`` says the server could not be reached or the connection was lost
        (``DatabaseError.unreachable``); an embedded database is never out of reach."""
        return False

    def _rollback_quietly(self) -> None:
        try:
            self.rollback()
        except Exception as exc:  # the connection may be gone; the next attempt reconnects
            log.debug("rollback failed: %s", exc)

    def _write(self, batch: PreparedBatch) -> WriteResult:
        self._call_cache.begin()
        versions = self._number_calls(list(batch.summaries.by_call)) if self.refs_calls else None
        inserted = self._insert_messages(batch)
        stored_rejects = self._insert_rows(REJECTS_TABLE, schema.REJECT_COLUMNS, batch.rejects,
                                           [len(r[5]) + 512 for r in batch.rejects])
        if batch.checkpoints:
            upsert = self.upsert_sql(CHECKPOINTS_TABLE, schema.CHECKPOINT_COLUMNS, "fingerprint")
            self.executemany(upsert, batch.checkpoints)
        if not inserted:
            return WriteResult(0, len(batch.messages.rows), stored_rejects, 0)
        fresh = batch.summaries
        if inserted != len(batch.messages.rows):  # some were stored already: read every call back
            self._call_cache.forget(fresh.by_call)
            fresh = rows.SummaryInputs(fresh.by_call, fresh.normal, cacheable=False)
        refreshed = self._refresh_calls(sorted(fresh.by_call), fresh, batch.call_rows, batch.continued, versions)
        return WriteResult(inserted, len(batch.messages.rows) - inserted, stored_rejects, refreshed)

    def _insert_messages(self, batch: PreparedBatch) -> int:
        """Insert the batch's message rows, skipping those stored already."""
        return self._insert_rows(MESSAGE_TABLE, rows.ROW_COLUMNS, batch.messages.rows, batch.sizes)

    def _insert_rows(self, table: str, columns: Sequence[schema.Column], values: Sequence[tuple[Any, ...]],
                     sizes: list[int] | None) -> int:
        """INSERT IGNORE ``values`` into ``table``, in statements under the packet budget."""
        return self._insert_chunks(self.insert_ignore_sql(table, columns), values, sizes)

    def _number_calls(self, call_ids: list[str]) -> dict[str, tuple[Any, Any]]:
        """The versions of the calls that have a ``calls`` row (``_call_versions``, which
        learns their numbers), having given each of the others the next number: the message
        rows about to be inserted carry them (``refs_calls``)."""
        versions: dict[str, tuple[Any, Any]] = {}
        for chunk in _chunks(sorted(call_ids), CALL_CHUNK):
            versions.update(self._call_versions(chunk))
        for call_id in call_ids:
            if call_id not in self._refs:
                self._refs[call_id] = self._new_ref()
        return versions

    def _new_ref(self) -> int:
        """A number no call of the database has: one past the highest its rows carry."""
        if self._next_ref is None:
            found = self.query(f"SELECT MAX(call_ref) FROM {self.q(MESSAGE_TABLE)}")
            self._next_ref = int(found[0][0] or 0) + 1
        ref, self._next_ref = self._next_ref, self._next_ref + 1
        return ref

    def _message_refs(self, batch: PreparedBatch) -> list[int | None]:
        """The number of each message row's call, in row order (None: a row without a
        Call-ID). Packed rows are not read: their calls' inputs give their places."""
        message_rows, by_call, numbers = batch.messages.rows, batch.summaries.by_call, self._refs
        if isinstance(message_rows, list) or not isinstance(by_call, rows.PackedInputs):
            return list(map(numbers.get, map(_row_call_id, rows.as_list(message_rows))))
        refs: list[int | None] = [None] * len(message_rows)
        for call_id, places in by_call.places():
            ref = numbers[call_id]
            for place in places:
                refs[place] = ref
        return refs

    def _refs_of(self, call_ids: Sequence[str]) -> dict[str, int]:
        """The numbers of these calls that have one, looked up in ``calls`` where the
        transaction has not met them yet."""
        unknown = [c for c in call_ids if c not in self._refs]
        for chunk in _chunks(unknown, CALL_CHUNK):
            marks = ", ".join([self.placeholder] * len(chunk))
            found = self.query(f"SELECT call_id, call_ref FROM {self.q(CALLS_TABLE)} WHERE call_id IN ({marks})", chunk)
            self._refs.update((c, r) for c, r in found if r is not None)
        return {c: self._refs[c] for c in call_ids if c in self._refs}

    def _with_refs(self, call_rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        """``calls`` rows as written: with the call's number last, where ``refs_calls``."""
        if not self.refs_calls:
            return call_rows
        numbers = self._refs
        for call_id in {row[0] for row in call_rows} - numbers.keys():  # none, unless read by Call-ID
            numbers[call_id] = self._new_ref()
        return [row + (numbers[row[0]],) for row in call_rows]

    def _row_sizes(self, messages: Sequence[SipMessage]) -> list[int] | None:
        """An upper bound of each row's bytes, when statements have a size budget.

        Every text column of a message is a piece of its raw text (the SDP body, a header
        value, a part of one), so three times the raw size bounds them all.
        """
        if self.packet_budget is None:
            return None
        return [3 * n + 512 for n in map(len, map(_raw_message, messages))]

    def _insert_chunks(self, sql: str, values: Sequence[tuple[Any, ...]], sizes: list[int] | None) -> int:
        """executemany in pieces that stay well under the server's max_allowed_packet."""
        if sizes is None or self.packet_budget is None:
            return self.executemany(sql, values)
        total = 0
        for start, end in _chunks_by_size(sizes, self.packet_budget):
            total += self.executemany(sql, values[start:end])
        return total

    def _refresh_calls(self, call_ids: Sequence[str], fresh: rows.SummaryInputs | None = None,
                       fresh_rows: dict[str, tuple[Any, ...]] | None = None,
                       continued: dict[str, int] | None = None,
                       versions: Mapping[str, tuple[Any, Any]] | None = None) -> int:
        """Recompute the calls rows of ``call_ids`` from their stored rows.

        ``fresh`` holds the rows this transaction inserted, by Call-ID. A call without a
        ``calls`` row has no other stored rows (rows and their call are committed together),
        so its summary is computed from them (or taken from ``fresh_rows``, where the batch
        brought it ready: ``PreparedBatch.call_rows``) and written once. A call that has a
        row is locked first, then summarised from all of its stored rows: those the
        ``CallCache`` holds, when it may, else those read back; or, when ``continued``
        names it (a parse worker summarised it from its rows of earlier batches too, see
        ``CallsAhead``), the batch's row of it, when ``CallCache.continues`` says that is the
        call's summary. The rows go through ``_upsert_calls``: in a transaction of several
        batches on a backend that ``defers_calls``, a call still open, which the next batch
        may go on with, is written once, at the COMMIT, and its version (``_call_versions``)
        is that of the row kept for it. ``versions``: those of the calls that have a row, where
        the transaction read them already (``_number_calls``).
        """
        count = 0
        for chunk in _chunks(call_ids, CALL_CHUNK):
            # the calls that have a calls row, with its version (``_call_versions``)
            if versions is not None:
                known = {c: versions[c] for c in chunk if c in versions}
            else:
                known = self._call_versions(chunk) if fresh is not None else dict.fromkeys(chunk)
            stored = [c for c in chunk if c in known]
            if stored:
                self._lock_calls(stored)
            # the versions as read with ``known``, where no other writer can change them before
            # the lock (one writer at a time): else read again after it, once for both uses
            versions = known
            if self.locks_calls and stored and _cacheable(fresh):
                versions = self._call_versions(stored)
            ahead = self._continued(stored, fresh, fresh_rows, continued, versions)
            cached, summaries, inputs = self._cached_summaries([c for c in stored if c not in ahead], fresh, versions)
            rest = [c for c in stored if c not in cached and c not in ahead]
            long = self._long_dialogs(rest, fresh, versions)
            read, read_inputs = self._summaries([c for c in rest if c not in long])
            summaries += read + [self._dialog_summary(c, kind) for c, kind in long.items()]
            inputs += read_inputs + [None] * len(long)
            written_rows = self._call_rows(summaries)
            self._upsert_calls(written_rows + list(ahead.values()))
            self._stage(written_rows, inputs)
            self._stage(list(ahead.values()), [None] * len(ahead))
            new = [c for c in chunk if c not in known and c in fresh.by_call] if fresh else []
            if fresh_rows is not None:
                # a worker's row of a call with earlier rows, which the database does not know
                # after all, is remade from the batch's rows
                redo = [c for c in new if continued and continued.get(c)]
                remade = dict(zip(redo, self._call_rows(self._fresh_summaries(redo, fresh)), strict=True))
                new_rows = [remade.get(c) or fresh_rows[c] for c in new]
            else:
                new_rows = self._call_rows(self._fresh_summaries(new, fresh))
            written = self._upsert_calls(new_rows)
            if fresh is not None and _cacheable(fresh) and continued is None:
                self._stage_new(new_rows, fresh)
            self._stage_versions([*written_rows, *ahead.values(), *new_rows], _cacheable(fresh))
            if self.counts_upserts and written != len(new):
                # Not all of them were new after all: another writer created one meanwhile (we
                # waited for it to commit, and now hold its lock), or the server's collation
                # took two Call-IDs for one. Summarise them again from all their stored rows.
                self._call_cache.forget(new)
                self._refresh_calls(new)
            count += len(summaries) + len(new)
        return count

    def _upsert_calls(self, call_rows: list[tuple[Any, ...]]) -> int:
        """Write ``calls`` rows; in a transaction that defers them, keep those of calls still
        open for its COMMIT instead (a later batch's row of the same call replaces the
        earlier one). Rows of ended calls go at once: they seldom change again, and keeping
        them would hold every call of the transaction in memory. The rows written or kept."""
        pending = self._pending_calls
        if pending is None:
            return self._write_call_rows(call_rows)
        ended = []
        for row in call_rows:
            if _call_state(row) in OPEN_STATES:
                pending[row[0]] = row
            else:
                pending.pop(row[0], None)
                ended.append(row)
        if ended:
            self._write_call_rows(ended)
        return len(call_rows)

    def _write_call_rows(self, call_rows: list[tuple[Any, ...]]) -> int:
        """Upsert ``calls`` rows, in statements under the packet budget where there is one: a
        From or To header with a long display name makes a row of kilobytes, and 500 of them
        outgrow a server's 1 MiB max_allowed_packet."""
        written = self._with_refs(call_rows)
        sizes = None if self.packet_budget is None else [_call_row_size(row) for row in written]
        return self._insert_chunks(self._calls_upsert, written, sizes)

    def _continued(self, stored: Sequence[str], fresh: rows.SummaryInputs | None,
                   fresh_rows: dict[str, tuple[Any, ...]] | None, continued: dict[str, int] | None,
                   versions: Mapping[str, tuple[Any, Any] | None]) -> dict[str, tuple[Any, ...]]:
        """The batch's rows of the calls of ``stored`` that a parse worker summarised from all
        of their stored rows (``CallsAhead``, ``CallCache.continues``), by Call-ID; ``versions``:
        their ``calls`` rows' versions, read after the lock."""
        if not continued or fresh_rows is None or not _cacheable(fresh):
            return {}
        cache = self._call_cache
        return {c: fresh_rows[c] for c in stored
                if continued.get(c) and cache.continues(c, versions.get(c), continued[c])}

    def _stage_versions(self, call_rows: Sequence[tuple[Any, ...]], cacheable: bool) -> None:
        """Offer the ``CallCache`` the versions of the ``calls`` rows written, for
        ``CallCache.continues``; after a batch that is not ``cacheable``, forget them."""
        cache = self._call_cache
        for row in call_rows:
            cache.stage_version(row[0], _call_state(row), _call_version(row) if cacheable else None)

    def _cached_summaries(self, call_ids: Sequence[str], fresh: rows.SummaryInputs | None,
                          versions: Mapping[str, tuple[Any, Any] | None]
                          ) -> tuple[set[str], list[calls.CallSummary], list[list[Any]]]:
        """The calls of ``call_ids`` the ``CallCache`` may summarise (their ``calls`` row is the
        one this store wrote last), their summaries, and the rows of each; ``versions``: their
        ``calls`` rows' versions, read after the lock."""
        if not _cacheable(fresh) or not (candidates := self._call_cache.candidates(call_ids)):
            return set(), [], []
        done: set[str] = set()
        summaries, inputs = [], []
        for call_id in candidates:
            cached = self._call_cache.rows_of(call_id, versions.get(call_id))
            if cached is None:
                continue
            ordered = cached + self._call_cache.numbered(fresh.by_call.get(call_id, ()))
            summaries.append(calls.summarize_tuples(call_id, ordered, normal=True))
            inputs.append(ordered)
            done.add(call_id)
        return done, summaries, inputs

    def _call_versions(self, call_ids: Sequence[str]) -> dict[str, tuple[Any, Any]]:
        """(message_count, updated_at) of the rows these calls have, as committed, written by
        this transaction or kept for its COMMIT (a call without one is left out); where
        ``refs_calls``, the numbers of the rows read are learnt on the way."""
        pending = self._pending_calls or {}
        versions = {c: _call_version(pending[c]) for c in call_ids if c in pending}
        unknown = [c for c in call_ids if c not in versions]
        if unknown:
            marks = ", ".join([self.placeholder] * len(unknown))
            ref = ", call_ref" if self.refs_calls else ""
            found = self.query(f"SELECT call_id, message_count, updated_at{ref} FROM {self.q(CALLS_TABLE)} "
                               f"WHERE call_id IN ({marks})", unknown)
            versions.update((r[0], (r[1], r[2])) for r in found)
            if self.refs_calls:
                self._refs.update((r[0], r[3]) for r in found if r[3] is not None)
        return versions

    def _stage(self, call_rows: Sequence[tuple[Any, ...]], inputs: Sequence[list[Any] | None]) -> None:
        """Offer the ``CallCache`` the rows each written ``calls`` row was made of (None: none)."""
        for row, summarized in zip(call_rows, inputs, strict=True):
            self._call_cache.stage(row[0], _call_state(row), _call_version(row), summarized)

    def _stage_new(self, call_rows: Sequence[tuple[Any, ...]], fresh: rows.SummaryInputs) -> None:
        """``_stage`` for calls first seen in this batch (their rows numbered only when kept)."""
        cache = self._call_cache
        for row in call_rows:
            call_id, state = row[0], _call_state(row)
            entries = fresh.by_call[call_id] if cache.keeps(state) else None
            cache.stage(call_id, state, _call_version(row), cache.numbered(entries) if entries else None)

    @staticmethod
    def _fresh_summaries(call_ids: Sequence[str], fresh: rows.SummaryInputs | None) -> list[calls.CallSummary]:
        """Summaries of calls first seen in this batch, from the batch's own rows."""
        if not call_ids or fresh is None:
            return []
        by_call, normal = fresh.by_call, fresh.normal
        return [calls.summarize_tuples(c, by_call[c], normal) for c in call_ids]

    def _summaries(self, call_ids: Sequence[str]) -> tuple[list[calls.CallSummary], list[list[Any]]]:
        """The summaries of these calls from all of their stored rows, and those rows (as the
        ``CallCache`` numbers them: in the order of their ids, before this batch's own)."""
        if not call_ids:
            return [], []
        found = self._stored_rows(call_ids, ", ".join(self.q(c) for c in calls.INPUT_COLUMNS))
        grouped: dict[str, list[tuple[Any, ...]]] = {}
        for row in found:
            grouped.setdefault(row[0], []).append(row[1:])
        summaries, inputs = [], []
        for call_id in call_ids:
            if call_id in grouped:
                ordered = self._call_cache.renumbered(calls.normalized(grouped[call_id]))
                summaries.append(calls.summarize_tuples(call_id, ordered, normal=True))
                inputs.append(ordered)
        return summaries, inputs

    def _long_dialogs(self, call_ids: Sequence[str], fresh: rows.SummaryInputs | None,
                      versions: Mapping[str, tuple[Any, Any] | None]) -> dict[str, str]:
        """The calls of ``call_ids`` for ``_dialog_summary``, with their kind once this batch's
        rows are added: a ``calls`` row (``versions``) of more than ``LONG_DIALOG_ROWS``
        messages, and no INVITE among them (its kind) nor among the batch's."""
        if fresh is None:
            return {}
        many = [c for c in call_ids if (v := versions.get(c)) is not None and (v[0] or 0) > LONG_DIALOG_ROWS]
        if not many:
            return {}
        pending = self._pending_calls or {}
        kinds = {c: _call_kind(pending[c]) for c in many if c in pending}
        unknown = [c for c in many if c not in kinds]
        if unknown:
            marks = ", ".join([self.placeholder] * len(unknown))
            kinds.update(self.query(f"SELECT call_id, kind FROM {self.q(CALLS_TABLE)} WHERE call_id IN ({marks})",
                                    unknown))
        joined = {c: calls.joined_kind(kinds[c], fresh.by_call.get(c, ()))
                  for c in many if kinds.get(c) in calls.KINDS}
        return {c: kind for c, kind in joined.items() if kind != "call"}

    def _dialog_summary(self, call_id: str, kind: str) -> calls.CallSummary:
        """The summary of a dialog of ``kind`` (no INVITE) from all of its stored rows, read
        ``DIALOG_PAGE`` rows at a time: such a summary depends on four of its rows
        (``calls.representatives``), on how many there are, and on how many differ
        (``calls._retransmissions``), which the database counts. So the memory a dialog
        takes does not grow with how long it went on."""
        ref = self._refs_of([call_id]).get(call_id) if self.refs_calls else None
        where = "call_id = ?" if ref is None else "call_ref = ? AND call_id = ?"
        params = [call_id] if ref is None else [ref, call_id]
        where = where.replace("?", self.placeholder)
        table, id_ = self.q(MESSAGE_TABLE), self.q("id")
        columns = ", ".join(self.q(c) for c in calls.INPUT_COLUMNS)
        kept: list[Any] = []
        after = -1
        while page := self.query(f"SELECT {columns} FROM {table} WHERE {where} AND {id_} > {self.placeholder} "
                                 f"ORDER BY {id_} LIMIT {DIALOG_PAGE}", [*params, after]):
            kept = calls.representatives(kept + calls.normalized(page))
            after = page[-1][0]
        # the method of a row as ``calls.normalized`` makes it: a response has none
        method = "CASE WHEN status_code IS NULL THEN COALESCE(NULLIF(method, ''), NULLIF(sip_method, '')) END"
        keys = f"cseq, cseq_method, {method}, status_code, direction, via_branch, to_tag, host"  # calls._repeat_key
        [(count, distinct)] = self.query(
            f"SELECT COUNT(*), (SELECT COUNT(*) FROM (SELECT DISTINCT {keys} FROM {table} WHERE {where}) AS k) "
            f"FROM {table} WHERE {where}", params + params)
        summary = calls.summarize_tuples(call_id, kept, normal=True)
        return replace(summary, kind=kind, message_count=int(count), retransmissions=int(count) - int(distinct))

    def _stored_rows(self, call_ids: Sequence[str], columns: str) -> list[tuple[Any, ...]]:
        """(call_id, ``columns``) of the stored message rows of these calls; where
        ``refs_calls``, found by the calls' numbers (a row of another call with the same
        number, which only a purge of the newest calls could make, is left out)."""
        refs = self._refs_of(call_ids) if self.refs_calls else {}
        found = [r for r in self._rows_where("call_ref", sorted(set(refs.values())), columns) if r[0] in refs]
        # on SQLite a call without a number is read by Call-ID: the whole table
        return found + self._rows_where("call_id", [c for c in call_ids if c not in refs], columns)

    def _rows_where(self, column: str, keys: Sequence[Any], columns: str) -> list[tuple[Any, ...]]:
        """(call_id, ``columns``) of the message rows whose ``column`` is one of ``keys``."""
        if not keys:
            return []
        marks = ", ".join([self.placeholder] * len(keys))
        return self.query(f"SELECT call_id, {columns} FROM {self.q(MESSAGE_TABLE)} WHERE {column} IN ({marks})",
                          list(keys))

    def _call_rows(self, summaries: Sequence[calls.CallSummary]) -> list[tuple[Any, ...]]:
        """``calls`` rows in ``schema.CALL_COLUMNS`` order, VARCHAR values clipped."""
        now = self.fmt_time(datetime.now(UTC).replace(tzinfo=None))
        # the four times of every summary as one column: most are times of the batch's own
        # rows, and a column lets the backend format each distinct one once
        times = self.fmt_times(list(chain.from_iterable(map(_summary_times, summaries))))
        return rows.clip_rows([
            (s.call_id, s.kind, s.state, first, last, s.from_user, s.to_user, s.from_sip,
             s.to_sip, s.direction, s.final_status, s.final_reason, s.setup_ms, s.duration_s, answered,
             ended, s.message_count, s.retransmissions, s.hangup_by, s.q850_cause, s.host, now, s.pdd_ms)
            for s, first, last, answered, ended in zip(summaries, *_every_fourth(times), strict=True)
        ], CALL_CLIPS)


@dataclass(slots=True)
class PreparedBatch:
    """A batch's rows, built outside the transaction (``Store.prepare_batch``).

    ``summaries`` holds the summary inputs of each Call-ID of the rows, as stored (clipped,
    and cleaned if need be): the calls the transaction refreshes. ``call_rows``, when the
    batch was prepared with ``calls_ahead``, holds the ``calls`` row of each of them from the
    batch's rows alone; then ``summaries`` keeps only the Call-IDs, and ``messages`` no
    timestamps."""

    messages: rows.MessageRows
    rejects: list[tuple[Any, ...]]
    checkpoints: list[tuple[Any, ...]]
    sizes: list[int] | None
    summaries: rows.SummaryInputs
    call_rows: dict[str, tuple[Any, ...]] | None = None
    # with ``call_rows``, from a parse worker: the calls it summarised from rows of its
    # earlier batches too, and how many of those (``CallsAhead``)
    continued: dict[str, int] | None = None

    def encodable(self) -> bool:
        """Whether every value can be bound as it is (else ``sanitized`` is the batch to write)."""
        return (rows.encodable(self.messages.rows) and rows.encodable(self.rejects)
                and rows.encodable(self.checkpoints)
                and (self.call_rows is None or rows.encodable(list(self.call_rows.values()))))

    def sanitized(self) -> PreparedBatch:
        """The batch with what the database cannot encode replaced (``rows.sanitize``)."""
        messages = rows.MessageRows(rows.sanitize(rows.as_list(self.messages.rows)), self.messages.stamps)
        if self.call_rows is None:
            summaries = rows.summary_inputs(messages)
            call_rows = None
        else:  # each call row starts with its Call-ID, cleaned as the message rows' are
            call_rows = {row[0]: row for row in rows.sanitize(list(self.call_rows.values()))}
            summaries = rows.SummaryInputs(dict.fromkeys(call_rows, []), self.summaries.normal, cacheable=False)
        return PreparedBatch(messages, rows.sanitize(self.rejects), rows.sanitize(self.checkpoints), self.sizes,
                             summaries, call_rows, self.continued)


@contextmanager
def fewer_collections(threshold: int = BATCH_GC_THRESHOLD) -> Iterator[None]:
    """Run the young-generation garbage collection less often, meanwhile (never more often,
    and not at all when it is off).

    Parsing and storing make a hundred thousand short-lived, acyclic objects per batch
    (records, row tuples, parameters); with the default threshold the collector walks most
    of them, and every object the caller holds, once or twice before they die: a tenth of
    the CPU time of a batch. Used around each write and by ingest around its pipelines."""
    old = gc.get_threshold()
    if 0 < old[0] < threshold:
        gc.set_threshold(threshold, *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def _cacheable(fresh: rows.SummaryInputs | None) -> bool:
    """Whether a batch's summary inputs may go into, or be added to, the ``CallCache``: exactly
    the rows its transaction inserts, normalised already."""
    return fresh is not None and fresh.cacheable and fresh.normal


def _call_row_size(row: tuple[Any, ...]) -> int:
    """An upper bound of a ``calls`` row's bytes in a statement, as ``_row_sizes`` gives for
    message rows: three bytes a character of its text columns (UTF-8, then escaped)."""
    return 3 * sum(map(len, filter(None, _call_texts(row)))) + 512


def _every_fourth(values: list[Any]) -> tuple[list[Any], ...]:
    """``values`` dealt into four columns: the 1st, 5th, 9th...; the 2nd, 6th...; and so on."""
    return values[0::4], values[1::4], values[2::4], values[3::4]


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _chunks_by_size(sizes: Sequence[int], budget: int) -> Iterator[tuple[int, int]]:
    """(start, end) ranges whose sizes add up to at most ``budget`` (at least one item each)."""
    start, used = 0, 0
    for index, size in enumerate(sizes):
        if index > start and used + size > budget:
            yield start, index
            start, used = index, 0
        used += size
    if start < len(sizes):
        yield start, len(sizes)


def multi_row_sql(sql: str, rows: int) -> str:
    """``INSERT ... VALUES (%s, ...) tail`` as the same INSERT of ``rows`` rows, with ``?``.

    One statement of many rows costs each backend less per row than one execution per row
    (SQLite saves its per-execution work; MySQL its round trips).
    """
    head, rest = sql.split(" VALUES ", 1)
    template, tail = _split_row_template(rest)
    if "%s" in tail or "?" in tail:
        raise ValueError(f"parameters after the row template in {sql[:60]!r}")
    row = template.replace("%s", "?")
    return f"{head} VALUES {', '.join([row] * rows)}{tail}"


def _split_row_template(rest: str) -> tuple[str, str]:
    """``(%s, LEFT(%s, 9)) ON DUPLICATE ...`` -> the row's parenthesised template, the tail."""
    depth = 0
    for index, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0:
            return rest[: index + 1], rest[index + 1 :]
    raise ValueError(f"no row template in {rest[:60]!r}")
