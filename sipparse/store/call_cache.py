"""The summary inputs of calls a store has just written and that may go on, so that the next
batch with more of their messages summarises them without reading their rows back.

A call lasts minutes; the batches of an ingest cover seconds. So most calls are written by
one batch (INVITE ... ACK) and summarised again by a later one (the BYE) from all of their
stored rows: reading those rows back was a quarter of the time of a large ingest into
SQLite, more into MySQL. The cache keeps, per call, the rows a summary is made of, with the
version of the ``calls`` row written from them (its ``message_count`` and ``updated_at``).

A cached call is used only when its ``calls`` row, read inside the transaction (after the
call's lock, on MySQL), still has that version: any other writer (another host logging the
same Call-ID, a ``purge``) changes it, and the call is read back from the database as
before. Entries are staged while a batch is written and kept once it is (its transaction
may go on with later batches, which read the database as it wrote it); a transaction that
rolls back empties the cache. A batch that held messages already stored leaves its calls
out (its rows might be in the database twice over). Calls that are over (completed,
failed, busy...) and calls with many rows are not kept, and the cache holds at most
``MAX_ROWS`` rows (some 25 MiB; the calls written longest ago go first). A PBX at 300 new
calls a second, with calls of a minute or two (``benchmarks/genlog.py --dialect full``,
100 MiB, 25,800 calls): with room for 20,000 rows 11,400 of its calls were read back, with
40,000 4,900, with 60,000 2,400 (calls that had ended, or past ``MAX_CALL_ROWS``); 40,000
keeps a three-process ingest (``--workers 2``) of that log under 200 MiB.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import add, itemgetter
from typing import Any

from sipparse.store import calls

# the states after which a call usually has no more messages
OPEN_STATES = frozenset({"in-progress", "answered"})
MAX_ROWS = 40_000  # rows kept, of all calls: some 600 bytes each
_first, _rest = itemgetter(0), itemgetter(slice(1, None))
MAX_CALL_ROWS = 32  # a call with more rows is read back instead (a REGISTER dialog refreshed all day)
MAX_VERSIONS = 40_000  # versions kept of open calls a parse worker summarises (some 250 bytes each)


def _with_ids(rows: Sequence[Sequence[Any]], ids: Iterable[int]) -> list[Any]:
    """``calls.as_rows`` of the rows with these ids instead of theirs (C-level iteration: this
    runs for most rows of a large ingest)."""
    return calls.as_rows(map(add, zip(ids), map(_rest, rows)))


def _numbered(rows: Sequence[Sequence[Any]], serial: int) -> list[Any]:
    """A batch's rows of a call (ids: places in the batch) with ids ``serial`` + place."""
    return _with_ids(rows, map(serial.__add__, map(_first, rows)))


def _worth_keeping(state: str, rows: int) -> bool:
    """Whether a call in this state, of this many rows, is kept (it may go on, and is small)."""
    return state in OPEN_STATES and rows <= MAX_CALL_ROWS


@dataclass(slots=True)
class _Entry:
    version: tuple[Any, Any]  # (message_count, updated_at) of the calls row written
    rows: list[Any]  # calls.as_rows rows, ids in storing order


class CallCache:
    """Per store: see the module's docstring."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self._entries: dict[str, _Entry] = {}
        self._staged: dict[str, _Entry | None] = {}
        self._max_rows = max_rows
        self._rows = 0  # rows of every entry
        # Row ids of cached rows: a batch's rows get ``serial + place in the batch``, so a
        # call's rows sort as the database's ids would (later batches, larger ids).
        self._serial = 0
        # the version of the ``calls`` row last written of each open call, for ``continues``
        self._versions: dict[str, tuple[Any, Any]] = {}
        self._staged_versions: dict[str, tuple[Any, Any] | None] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def candidates(self, call_ids: Iterable[str]) -> list[str]:
        """The Call-IDs of ``call_ids`` that have an entry (whose version is worth reading)."""
        return [c for c in call_ids if c in self._entries]

    def rows_of(self, call_id: str, version: tuple[Any, Any] | None) -> list[Any] | None:
        """The cached rows of a call whose ``calls`` row has ``version``, else None."""
        entry = self._entries.get(call_id)
        return entry.rows if entry is not None and entry.version == version else None

    def numbered(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """This batch's rows of a call (ids: places in the batch) with ids after every cached row."""
        return _numbered(rows, self._serial)

    def renumbered(self, rows: list[Any]) -> list[Any]:
        """A call's rows as read back (ids of the database) with ids in the same order, before
        this batch's: ``numbered`` gives later batches larger ones."""
        ordered = sorted(rows, key=_first)
        return _with_ids(ordered, range(self._serial - len(ordered), self._serial))

    @staticmethod
    def keeps(state: str) -> bool:
        """Whether a call in this state is kept (it may go on)."""
        return state in OPEN_STATES

    def stage(self, call_id: str, state: str, version: tuple[Any, Any], rows: list[Any] | None) -> None:
        """Keep ``rows`` for this call once the transaction commits (None: forget the call)."""
        kept = rows is not None and _worth_keeping(state, len(rows))
        self._staged[call_id] = _Entry(version, rows) if kept else None

    def forget(self, call_ids: Iterable[str]) -> None:
        """Forget these calls once the transaction commits."""
        forgotten = dict.fromkeys(call_ids)
        self._staged.update(forgotten)
        self._staged_versions.update(forgotten)

    def stage_version(self, call_id: str, state: str, version: tuple[Any, Any] | None) -> None:
        """Remember the version of the ``calls`` row written of an open call once the
        transaction commits (None: forget it)."""
        self._staged_versions[call_id] = version if self.keeps(state) else None

    def continues(self, call_id: str, version: tuple[Any, Any] | None, earlier_rows: int) -> bool:
        """Whether a summary a parse worker made of a call from ``earlier_rows`` rows of its
        earlier batches and this batch's rows is the call's summary: its ``calls`` row is the
        one this store wrote last (``version``, read after the call's lock) and counts as many
        rows. Every row this store wrote of the call is in the database, and a ``calls`` row
        always counts all the stored rows of its call, so those are exactly the worker's."""
        return version is not None and self._versions.get(call_id) == version and version[0] == earlier_rows

    def begin(self) -> None:
        """A batch's write (or another attempt of one) starts: nothing of a failed one is kept."""
        self._staged.clear()
        self._staged_versions.clear()

    def clear(self) -> None:
        """The transaction rolled back: what its batches kept describes rows that are gone."""
        self.begin()
        self._entries.clear()
        self._versions.clear()
        self._rows = 0

    def kept(self, batch_rows: int) -> None:
        """A batch of ``batch_rows`` message rows is written, in a transaction that is
        committed or goes on with later batches (else ``clear``): what it staged is kept."""
        entries = self._entries
        for call_id, entry in self._staged.items():
            old = entries.pop(call_id, None)
            if old is not None:
                self._rows -= len(old.rows)
            if entry is not None:
                entries[call_id] = entry  # at the end: the oldest go first
                self._rows += len(entry.rows)
        self._staged.clear()
        self._serial += batch_rows
        while self._rows > self._max_rows:
            self._rows -= len(entries.pop(next(iter(entries))).rows)
        versions = self._versions
        for call_id, version in self._staged_versions.items():
            versions.pop(call_id, None)
            if version is not None:
                versions[call_id] = version  # at the end: the oldest go first
        self._staged_versions.clear()
        while len(versions) > MAX_VERSIONS:
            del versions[next(iter(versions))]

    @property
    def rows(self) -> int:
        """Rows held, of every call."""
        return self._rows


class CallsAhead:
    """In a parse worker: the summary inputs of the open calls of the batches it prepared, so
    that it summarises a call that goes on from all of its rows of this run, as the storing
    process would from the database, instead of leaving that to the storing process (on logs
    of calls that outlast a batch, some 40% of its work).

    The storing process takes such a summary only when ``CallCache.continues`` says it is the
    call's: else (the worker left a batch to it, the call began before this run, another
    writer added to it, a row was already stored) it summarises the call as before. The same
    calls are kept as a ``CallCache`` keeps, within the same bounds.
    """

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self._entries: dict[str, list[Any]] = {}
        self._max_rows = max_rows
        self._rows = 0
        self._serial = 0  # as CallCache's: ids that sort as the database's would

    def __len__(self) -> int:
        return len(self._entries)

    def summaries(self, by_call: Mapping[str, Sequence[Any]], normal: bool, batch_rows: int
                  ) -> tuple[list[calls.CallSummary], dict[str, int]]:
        """The summary of each call of a batch (``by_call``: its summary inputs, ids places in
        the batch), from its rows of earlier batches too when they are kept; and, of the calls
        that had such rows, how many."""
        entries, summaries, continued = self._entries, [], {}
        for call_id, own in by_call.items():
            earlier = entries.pop(call_id, None)
            if earlier is not None:
                self._rows -= len(earlier)
            if not normal:  # rows this does not keep: the call starts again from its next batch
                summaries.append(calls.summarize_tuples(call_id, own, False))
                continue
            if earlier:
                continued[call_id] = len(earlier)
                rows = earlier + _numbered(own, self._serial)
            else:  # ids that are places sort alike: numbered only if the call is kept
                rows = own
            summary = calls.summarize_tuples(call_id, rows, normal=True)
            summaries.append(summary)
            if _worth_keeping(summary.state, len(rows)):
                entries[call_id] = rows if earlier else _numbered(own, self._serial)  # the oldest go first
                self._rows += len(rows)
        self._serial += batch_rows
        while self._rows > self._max_rows:
            self._rows -= len(entries.pop(next(iter(entries))))
        return summaries, continued
