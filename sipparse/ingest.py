"""The ingest pipeline: log files -> parser batches -> storage, a transaction per few batches.

Exactly-once comes from two rules. Each batch's rows and the checkpoint that covers them
are committed in one transaction (``Store.write_prepared``), so a crash at any moment leaves
the database and the checkpoint consistent; and a stored message's identity is (file
fingerprint, byte offset), so bytes read twice (after a crash, a lost checkpoint, the same
file given twice or under another name) never make a second row.

Per log path ``P`` a run takes P's ``LogLock`` (a second run over P exits at once with a
note, or waits with ``wait=True``), then reads, oldest first, the rotated generations of P
that still hold unread data (``P.1``, ``P.2.gz``, ``P-20261129``...; only their first bytes
are read to know) and then P itself, each from its checkpoint to the end of its last
complete message. A file that cannot be read is reported and the others go on; a database
failure stops the run, leaving every checkpoint at the last committed batch.

Use::

    from sipparse.ingest import IngestOptions, ingest_paths
    summary = ingest_paths(store, ["/var/log/asterisk/pjsip"], IngestOptions(tz=timezone.utc))
    print(summary.line())

``sipparse rotate`` calls ``ingest_paths(..., lock_held=True)`` while it holds the locks.
"""

from __future__ import annotations

import glob
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from functools import partial
from operator import attrgetter
from typing import Any, BinaryIO, Protocol

from sipparse.distinct import DistinctCount
from sipparse.errors import DatabaseError, LogFileError, SipparseError
from sipparse.handover import Handover
from sipparse.logs import files
from sipparse.logs.dialects import BUILTIN, UnknownLogFormat
from sipparse.logs.files import LogFile
from sipparse.logs.follow import Opened, Tail
from sipparse.logs.locks import LockBusy, LogLock, lock_key
from sipparse.memory import keep_freed_heap, map_large_blocks
from sipparse.store.base import fewer_collections
from sipparse.store.rows import Checkpoint
from sipparse.store_thread import StoreThread

log = logging.getLogger(__name__)

DEFAULT_PATHS = ["/var/log/asterisk/pjsip"]
BUILTIN_DIALECTS = ("auto", *BUILTIN)
# A rotated plain file untouched this long is taken as finished: its writer has moved on,
# so an unterminated last message is flushed instead of waited for.
SETTLED_SECONDS = 300.0
# A compressed file a follow's glob matches is read once it has not changed for this long
# (gzip(1) writes its output for as long as it compresses, then gives it the input's mtime).
COMPRESSING_SECONDS = 1.0


class ProgressBar(Protocol):
    def update(self, n: int) -> Any: ...
    def set_postfix_str(self, s: str) -> Any: ...
    def close(self) -> Any: ...


class NullProgressBar:
    """The bar used under cron and ``--quiet``: it accepts every call and shows nothing."""

    def update(self, n: int) -> None:
        pass

    def set_postfix_str(self, s: str) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(enabled: bool, total: int) -> ProgressBar:
    """A tqdm byte bar on stderr when enabled, else a bar that does nothing."""
    if not enabled:
        return NullProgressBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, dynamic_ncols=True,
                desc="ingest", leave=False)


@dataclass
class IngestOptions:
    """How to read the logs; mirrors the options of ``sipparse ingest``.

    :param dialect: "auto", "syslog", "rfc5424", "syslog-protocol", "full", "json" or a user dialect name.
    :param year: year of yearless syslog timestamps (None: inferred).
    :param tz: zone of zoneless timestamps (None: the machine's local zone).
    :param host: label for messages whose log line names no host (None: this machine).
    :param patterns_dirs: extra grok pattern directories, winning over the bundled ones.
    :param user_dialects: ``[[dialects]]`` tables of the config file.
    :param dry_run: parse and count, write nothing.
    :param wait: wait for a log's lock instead of skipping the log.
    :param progress: show a progress bar on stderr.
    :param workers: parse in this many forked processes, ahead of the storing one (0: in-process;
        None: ``auto_workers``).
    """

    dialect: str = "auto"
    year: int | None = None
    tz: tzinfo | None = None
    host: str | None = None
    patterns_dirs: list[str] = field(default_factory=list)
    user_dialects: list[dict[str, Any]] = field(default_factory=list)
    dry_run: bool = False
    wait: bool = False
    progress: bool = False
    batch_bytes: int | None = None  # log bytes per batch (None: the store's ``batch_bytes``)
    workers: int | None = None


@dataclass
class IngestSummary:
    """What a run did, for the one summary line and for callers such as rotate."""

    sources: set[str] = field(default_factory=set)
    bytes: int = 0
    messages: int = 0
    duplicates: int = 0
    rejects: int = 0
    skipped_lines: int = 0
    calls: DistinctCount = field(default_factory=DistinctCount)  # the Call-IDs seen
    missing: list[str] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # files not read, or not whole: why
    short: list[str] = field(default_factory=list)  # too short yet to be told apart from others
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def files(self) -> int:
        """Files read (by identity: a file read again in follow mode, or under two names, is one)."""
        return len(self.sources)

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    def line(self, dry_run: bool = False) -> str:
        """The summary line of the contract: files, bytes, messages, calls, rejects, s, MiB/s."""
        seconds = self.seconds
        rate = self.bytes / (1 << 20) / seconds if seconds > 0 else 0.0
        stored = "parsed" if dry_run else "new"
        text = (f"{self.files} files, {self.bytes} bytes, {self.messages} messages {stored}, "
                f"{len(self.calls)} calls, {self.rejects} rejected, {seconds:.2f} s, {rate:.1f} MiB/s")
        if self.duplicates:
            text += f"; {self.duplicates} already stored"
        if self.missing:
            text += f"; missing: {', '.join(self.missing)}"
        if self.busy:
            text += f"; busy (another run holds the lock): {', '.join(self.busy)}"
        if self.short:
            text += f"; waiting to grow past {files.FINGERPRINT_MIN_BYTES} bytes: {', '.join(self.short)}"
        return text


def expand_paths(patterns: Iterable[str]) -> list[str]:
    """Expand globs; a pattern matching nothing is kept as is (reported missing later).

    A glob takes no directories, FIFOs, sockets nor devices (``files.glob_files``). The
    same file named twice (or by two globs) is kept once, in first-seen order.
    """
    seen: set[str] = set()
    out: list[str] = []
    for pattern in patterns:
        matches = files.glob_files(pattern) if glob.has_magic(pattern) else []
        for path in matches or [pattern]:
            key = os.path.realpath(path)
            if key not in seen:
                seen.add(key)
                out.append(path)
    return out


def ingest_paths(store: Any, paths: Iterable[str], options: IngestOptions, lock_held: bool = False,
                 summary: IngestSummary | None = None, stop: threading.Event | None = None) -> IngestSummary:
    """Ingest what is new in each log path (and its rotated siblings); see the module docstring.

    :param store: an open ``sipparse.store`` Store.
    :param lock_held: the caller already holds each path's LogLock (``sipparse rotate``).
    :param stop: when set (by a signal), the run ends after the batch being stored.
    :raises DatabaseError: the database failed; committed batches stay committed.
    """
    summary = summary or IngestSummary()
    run = Run(store, options, summary, stop)
    with ExitStack() as stack:
        locked = list(expand_paths(paths)) if lock_held else _lock_all(stack, paths, options, summary)
        plan = run.plan(locked)
        bar = stack.enter_context(_closing(progress_bar(options.progress, sum(w.todo for w in plan))))
        run.bar = bar
        run.read_all(plan)
    summary.finished = time.monotonic()
    return summary


def _lock_all(stack: ExitStack, paths: Iterable[str], options: IngestOptions,
              summary: IngestSummary) -> list[str]:
    """Take each path's lock, in sorted order so that two waiting runs cannot deadlock."""
    locked = []
    for path in sorted(expand_paths(paths), key=os.path.abspath):
        try:
            stack.enter_context(LogLock(path).acquire(wait=options.wait))
        except LockBusy:
            log.info("%s is locked by another run; skipped", path)
            summary.busy.append(path)
            continue
        locked.append(path)
    return locked


@contextmanager
def _closing(bar: ProgressBar) -> Iterator[ProgressBar]:
    try:
        yield bar
    finally:
        bar.close()


@dataclass
class Work:
    """One file to read: where it is, from which offset, and whether it can still grow."""

    file: LogFile
    start: int
    final: bool

    @property
    def todo(self) -> int:
        return max(0, self.file.size - self.start)


# Bytes to read from which a run parses in a worker process by default: the fork, the handover
# and the pickling cost less than the parsing they move to another core (a cron run over a
# few MiB of new log stays in one process).
AUTO_WORKER_BYTES = 32 << 20


def auto_workers(todo: int) -> int:
    """Parse workers for a run with ``todo`` bytes to read: one when the run is large and a
    core is free to take it (parsing and preparing rows then overlaps storing them: about
    1.3x on two cores, with the same stored result), else none."""
    from sipparse.cores import saturated, usable_cores

    cores = usable_cores()
    return 1 if todo >= AUTO_WORKER_BYTES and cores >= 2 and not saturated(cores) else 0


def start_offset(lf: LogFile, cp: Any, final: bool = False) -> int | None:
    """Where to resume reading ``lf`` given its checkpoint, or None when nothing is new.

    Same fingerprint but fewer bytes than the checkpoint saw means copytruncate followed
    by new writes starting like the old ones: read again from 0 (rows dedup by offset).
    """
    if cp is None:
        return 0
    if lf.compressed:
        if lf.size == (cp.size & 0xFFFFFFFF if lf.codec == "gzip" else cp.size):  # gzip's size is mod 4 GiB
            return cp.offset if final and cp.offset < cp.size else None
        return cp.offset
    if lf.size < cp.offset or lf.size < cp.size:
        return 0
    if lf.size == cp.size and not (final and cp.offset < cp.size):
        return None
    return cp.offset


class Run:
    """One ingest run over some paths: planning, reading, writing, counting."""

    def __init__(self, store: Any, options: IngestOptions, summary: IngestSummary,
                 stop: threading.Event | None = None, following: bool = False) -> None:
        self.store = store
        self.following = following
        self.stop = stop or threading.Event()
        self.options = options
        self.batch_bytes = options.batch_bytes or store.batch_bytes
        self.commit_bytes = store.batches_per_commit * self.batch_bytes  # log bytes per transaction
        self.summary = summary
        self.parse_options = make_parse_options(options)
        self.host = options.host or socket.gethostname()
        # the checkpoints of the files this run planned or stored, by fingerprint (None: none
        # stored): looked up file by file, as a table that keeps one per rotated generation
        # ever read grows for as long as the logs are ingested
        self.checkpoints: dict[str, Checkpoint | None] = {}
        self.bar: ProgressBar = NullProgressBar()
        self._seen: set[tuple[int, int]] = set()
        self._dialects: dict[str, str] = {}
        self._unknown_formats: set[str | None] = set()  # followed files already reported
        self._said: set[str] = set()  # files in a compression not read, already reported
        # followed path -> (when a short generation settles, the last look it is new since)
        self._settling: dict[str, tuple[float, float]] = {}
        # batches stored in a transaction not yet committed: counts, bytes, inserted, duplicates
        self._uncounted: list[tuple[BatchCounts, int, int, int]] = []

    def plan(self, paths: list[str]) -> list[Work]:
        """The files to read for these paths: unfinished rotated siblings first, then each path."""
        plan: list[Work] = []
        for path in paths:
            plan += self._plan_siblings(path)
            work = self._plan_file(path, final=False, known=True)
            if work is not None:
                plan.append(work)
        return plan

    def _plan_file(self, path: str, final: bool, known: bool) -> Work | None:
        try:
            lf = files.inspect(path, finished=final, sized=False)
            if lf is not None and lf.fingerprint is not None and (known or self._checkpoint(lf.fingerprint)):
                if read_whole_unchanged(lf, self._checkpoint(lf.fingerprint)):
                    return None
                lf = files.with_size(lf)  # bzip2 data decompressed all to be measured: not an old one's
        except files.UnreadCompression as exc:
            if known and self._first_to_say(exc):
                self._warn(str(exc))
            return None
        except LogFileError as exc:
            if known:
                self._fail(str(exc))
            else:  # an old generation we have no business with: not worth failing the run
                log.info("%s", exc)
            return None
        if lf is None:
            if known:
                self.summary.missing.append(path)
            return None
        if lf.fingerprint is None:
            if known and lf.size > 0:
                self.summary.short.append(path)
            return None
        if (lf.device, lf.inode) in self._seen:
            return None
        cp = self._checkpoint(lf.fingerprint)
        if cp is None and not known:
            return None  # not planned, so not seen: named itself (``pjsip*``), it is read
        self._seen.add((lf.device, lf.inode))
        start = start_offset(lf, cp, final or lf.compressed)
        if start is None and cp is not None:
            self._remember_read_whole(lf, cp)
        return None if start is None else Work(lf, start, final or lf.compressed)

    def _remember_read_whole(self, lf: LogFile, cp: Checkpoint) -> None:
        """Have the checkpoint of a bzip2 generation read to its end name this very file
        (inode, mtime), so that later runs skip it unmeasured (``read_whole_unchanged``):
        its data's size is in no header, and learning it takes decompressing it all."""
        if lf.codec != "bzip2" or cp.offset < lf.size or self.options.dry_run or read_whole_unchanged(lf, cp):
            return
        refreshed = make_checkpoint(lf, cp.offset, lf.size, self.host)
        self.store.write_batch([], [], [refreshed])
        self.checkpoints[refreshed.fingerprint] = refreshed

    def _first_to_say(self, unread: files.UnreadCompression) -> bool:
        """Whether a file in a compression not read is to be said now: once, not at every
        look of a follow, nor at every run of cron whose glob (``old/pjsip*``) names it. A
        checkpoint of its own bytes (``files.unread_mark``), with no offset read, keeps it said."""
        if unread.path in self._said:
            return False
        self._said.add(unread.path)
        mark = files.unread_mark(unread.path, unread.codec)
        if mark is None:
            return True
        if self._checkpoint(mark) is not None:
            return False
        said = self._said_checkpoint(unread.path, mark)
        if said is not None and not self.options.dry_run:
            self.store.write_batch([], [], [said])
        return True

    def _said_checkpoint(self, path: str, mark: str) -> Checkpoint | None:
        """The checkpoint that marks a file in a compression not read as said (None: it is
        gone); it has no mtime, so it is no look at the log's generations (``_last_look``)."""
        try:
            st = os.stat(path)
        except OSError:
            return None
        return Checkpoint(fingerprint=mark, path=os.path.abspath(path), offset=0, size=st.st_size,
                          inode=st.st_ino, device=st.st_dev, host=self.host)

    def _plan_siblings(self, path: str, since: float | None = None) -> list[Work]:
        """Rotated generations with unread data; one never seen is read if written since our
        last look (or since ``since``, an earlier one)."""
        siblings = files.rotated_siblings(path)
        last_look = self._last_look(path, siblings) if since is None else since
        plan = []
        for sibling in siblings:
            st_mtime = _mtime(sibling)
            fresh = last_look is not None and st_mtime is not None and st_mtime >= last_look
            work = self._plan_file(sibling, final=settled(st_mtime), known=fresh)
            if work is not None:
                plan.append(work)
        return plan

    def _checkpoint(self, fingerprint: str) -> Checkpoint | None:
        if fingerprint not in self.checkpoints:
            self.checkpoints[fingerprint] = self.store.get_checkpoint(fingerprint)
        return self.checkpoints[fingerprint]

    def _last_look(self, path: str, siblings: list[str]) -> float | None:
        """The newest mtime recorded in a checkpoint of this path or its siblings."""
        names = sorted({os.path.abspath(p) for p in [path, *siblings]})
        stored = self.store.newest_checkpoint_mtime(names, self.host)
        times = [cp.mtime for cp in self.checkpoints.values()
                 if cp is not None and cp.mtime is not None and cp.path in names]
        times += [stored] if stored is not None else []
        return max(times) if times else None

    def read_all(self, plan: list[Work]) -> None:
        """Read the planned files in order; with workers, parse ahead in forked processes."""
        workers = self.options.workers
        if workers is None:
            # a dry run stores nothing for parsing to overlap with: a worker would only add
            # the handover (1 GiB ``full``: 24.6 s against 15.3 in this process)
            workers = 0 if self.options.dry_run else auto_workers(sum(work.todo for work in plan))
        if workers < 1:
            keep_freed_heap()
            for work in plan:
                if not self.stop.is_set():
                    self.read(work)
            return
        self._read_with_workers(plan, workers)

    def _read_with_workers(self, plan: list[Work], workers: int) -> None:
        pending: deque[tuple[Work, ParseWorker | None]] = deque()
        upcoming = iter(plan)
        try:
            while True:
                while len(pending) < workers and (work := next(upcoming, None)) is not None:
                    pending.append((work, self._start_worker(work)))
                if not pending or self.stop.is_set():
                    return
                work, worker = pending.popleft()
                if worker is not None:
                    with worker:
                        self._consume(work.file, work.start, worker.items(partial(self._prepared, work.file)),
                                      worker.check)
                    self._gzip_ended(work, worker.cut_short, worker.trailing)
        finally:
            # the workers parsing ahead, on a stop or a failure (the database out of reach, which
            # ``--follow`` outlives: each would otherwise wait for good on a full handover)
            for _, worker in pending:
                if worker is not None:
                    worker.__exit__()

    def _start_worker(self, work: Work) -> ParseWorker | None:
        lf = work.file
        try:
            with files.open_log(lf.path, lf.codec) as fh:
                parser = self.parser_for(lf, fh, work.start, work.final)
        except FileNotFoundError:
            self.summary.missing.append(lf.path)
            return None
        except UnknownLogFormat as exc:
            self.summary.warnings.append(str(exc))
            return None
        except files.READ_ERRORS as exc:
            self._fail(f"cannot read {lf.path}: {getattr(exc, 'strerror', None) or exc}")
            return None
        worker = ParseWorker(parser, lf, work.start, self.batch_bytes, work.final,
                             partial(self._prepared, lf, calls_ahead=True), shares=not self.options.dry_run)
        if not lf.compressed:
            try:
                worker.check = os.fdopen(files.open_fd(lf.path), "rb")  # the parent's view of the file the child reads
            except OSError:
                pass  # gone meanwhile: the child reports it
        return worker

    def read(self, work: Work) -> None:
        """Read one file from its start offset, committing batch by batch."""
        lf = work.file
        try:
            fh = files.open_at(lf.path, lf.codec, work.start, settled(lf.mtime))  # compressed: read up to start
        except FileNotFoundError:
            self.summary.missing.append(lf.path)
            return
        except files.READ_ERRORS as exc:
            self._fail(f"cannot read {lf.path}: {getattr(exc, 'strerror', None) or exc}")
            return
        with fh:
            try:
                self.read_stream(lf, fh, work.start, work.final)
            except UnknownLogFormat as exc:
                self._unknown_format(lf, exc)
            self._gzip_ended(work, getattr(fh, "cut_short", False), getattr(fh, "trailing", False))

    def read_stream(self, lf: LogFile, fh: BinaryIO, start: int, final: bool) -> None:
        """Parse ``fh`` (positioned at ``start``) and store its batches."""
        parser = self.parser_for(lf, fh, start, final)
        batches = parser.parse(planned(fh, lf, start, final), batch_bytes=self.batch_bytes)
        self._consume(lf, start, prepared_in_turn(batches, start, partial(self._prepared, lf)),
                      None if lf.compressed else fh)

    def parser_for(self, lf: LogFile, fh: BinaryIO, start: int, final: bool) -> Any:
        """A parser for ``lf`` resuming at ``start`` (the dialect comes from the file's head)."""
        from sipparse.logs import LogParser
        from sipparse.sip.message import Source

        log.debug("reading %s from %d (fingerprint %s, final=%s)", lf.path, start, lf.fingerprint, final)
        options = self._parse_options_for(lf, fh, final)
        return LogParser(Source(lf.path, lf.fingerprint or ""), start, options)

    def _consume(self, lf: LogFile, start: int, items: Iterator[_Prepared], fh: BinaryIO | None = None) -> None:
        """Store each prepared batch with its checkpoint, committed together (a transaction
        may hold a few batches: ``Store.write_prepared``).

        Batches are stored by a ``StoreThread`` while the next one is parsed and prepared
        (here, or in a ``ParseWorker``); the stored result is the same as storing each in
        turn, and every batch stored is committed before this returns (unless it raises:
        then the batches of the open transaction are rolled back, with their checkpoints).

        With ``fh`` (the plain file being read), each batch is stored only if the file is
        still the one ``lf`` describes: another tool's copytruncate may have emptied it and
        new lines taken the place of the old ones mid-read. Those batches are left for the
        next run, which reads the copy and the new file each under its own identity.
        """
        self.summary.sources.add(lf.fingerprint or lf.path)
        with fewer_collections():
            self._uncounted.clear()  # rolled back with a transaction that failed
            with StoreThread(self._store, background=self.store.overlaps_writes) as storing:
                self._put_all(lf, start, items, fh, storing)
            self.store.commit_pending()
            self._count_committed()

    def _put_all(self, lf: LogFile, start: int, items: Iterator[_Prepared], fh: BinaryIO | None,
                 storing: StoreThread[_Prepared]) -> None:
        """Hand each batch to ``storing`` until the file ends, changes (``_consume``), fails to
        be read (reported) or the run is stopped."""
        position = start
        try:
            for item in items:
                if self.stop.is_set():
                    return
                if fh is not None and not still_same(lf, fh, item.counts.end):
                    log.info("%s was truncated and rewritten while read; the rest waits for the next run", lf.path)
                    return
                position = item.counts.end
                storing.put(item)
                del item  # not held while the next one is parsed or received
        except files.READ_ERRORS as exc:
            reason = f"cannot read {lf.path} at byte {position}: {getattr(exc, 'strerror', None) or exc}"
            if isinstance(exc, EOFError) and lf.compressed:  # being compressed right now, perhaps
                reason += f" (read up to there once unchanged for {SETTLED_SECONDS / 60:.0f} minutes)"
            self._fail(reason)

    def _parse_options_for(self, lf: LogFile, fh: BinaryIO, final: bool) -> Any:
        """Per-file options: the dialect is detected from the file's head, never from mid-file;
        yearless time stamps take their year from the file's last change (``written_at``).

        :raises UnknownLogFormat: no dialect fits the head, which holds whole lines; or the
            format given (not ``auto``) fits none of them.
        """
        from sipparse.logs import detect_dialect
        from sipparse.logs.dialects import fits_dialect, holds_log_lines

        dialect = self.options.dialect
        key = lf.fingerprint or ""
        if key not in self._dialects:
            head = files.read_head_of(fh, lf)
            opts = self.parse_options
            if dialect == "auto":
                detected = detect_dialect(head, opts.patterns, opts.user_dialects)
                if detected is None and holds_log_lines(head):
                    raise UnknownLogFormat(lf.path, head)
                self._dialects[key] = detected or "auto"
            else:
                # A format given that fits none of the first lines (a typo, a redefined prefix
                # that matches nothing) would skip every line and move the checkpoint past them
                if holds_log_lines(head) and not any(fits_dialect(head, d) for d in _dialects_read_as(opts, dialect)):
                    raise UnknownLogFormat(lf.path, head, forced=dialect)
                self._dialects[key] = dialect
        return replace(self.parse_options, dialect=self._dialects[key], final=final, now=written_at(lf))

    def _prepared(self, lf: LogFile, batch: Any, nbytes: int, calls_ahead: bool = False) -> _Prepared:
        """The batch's counts, checkpoint and rows (``Store.prepare_batch``), its host labels set:
        all that storing it needs. Made in this process (while the ``StoreThread`` writes the
        previous batch) or in a ``ParseWorker`` (``calls_ahead``: the worker summarises the
        batch's calls too, and sends no message objects)."""
        _label_host(batch.messages, batch.rejects, self.host)
        cp = make_checkpoint(lf, batch.checkpoint, batch.end, self.host)
        rows = None
        if not self.options.dry_run:
            rows = self.store.prepare_batch(batch.messages, batch.rejects, [cp], calls_ahead=calls_ahead)
        return _Prepared(BatchCounts.of(batch), cp, rows, nbytes)

    def _store(self, item: _Prepared) -> None:
        """Write one batch with its checkpoint (in the ``StoreThread``), and count it."""
        counts, cp = item.counts, item.checkpoint
        if item.rows is None:  # a dry run
            inserted, duplicates = counts.messages, 0
        else:
            result = self.store.write_prepared(item.rows, max(0, item.nbytes), self.commit_bytes)
            inserted, duplicates = result.inserted, result.duplicates
        self.checkpoints[cp.fingerprint] = cp
        self._uncounted.append((counts, item.nbytes, inserted, duplicates))
        if item.rows is None or not self.store.holds_uncommitted:
            self._count_committed()
        self.bar.update(max(0, item.nbytes))

    def _count_committed(self) -> None:
        """Count the batches stored since the last count, now that they are committed.

        A batch is counted only with its transaction's COMMIT: one rolled back by a failure
        (a server gone away, which ``--follow`` waits out and reads again) would otherwise
        be counted twice on the summary line."""
        for counts, nbytes, inserted, duplicates in self._uncounted:
            self._count(counts, nbytes, inserted, duplicates)
        self._uncounted.clear()

    def _count(self, counts: BatchCounts, nbytes: int, inserted: int, duplicates: int) -> None:
        s = self.summary
        s.bytes += max(0, nbytes)
        s.messages += inserted
        s.duplicates += duplicates
        s.rejects += counts.rejects
        s.skipped_lines += counts.skipped_lines
        s.calls.update(counts.call_ids)
        self.bar.set_postfix_str(f"{s.messages / max(s.seconds, 1e-3):.0f} msg/s")

    def follow(self, tail: Tail, rotated_elsewhere: bool = False) -> None:
        """One look at a followed path: drain renamed-away files, then read the current one.

        :param rotated_elsewhere: read the path's rotated generations too (a SIGHUP said so).
        """
        settling = self._settled_short(tail.path)
        if tail.unchanged() and not rotated_elsewhere and settling is None:
            tail.expire()
            return
        try:
            lock = LogLock(tail.path).acquire(wait=False)
        except LockBusy:
            return  # another run (a rotate, a cron ingest) is on it; look again next time
        with lock:
            rotated = tail.refresh()
            copied = tail.current is not None and tail.current.truncated()
            for opened in tail.draining:
                self._follow_changed(opened, tail.path)
            # a copytruncate's copy holds the lines before it
            if rotated or rotated_elsewhere or copied or settling is not None:
                self._read_rotated(tail.path, settling)
            if tail.current is not None:
                self._follow_changed(tail.current, tail.path)
            tail.expire()

    def _follow_changed(self, opened: Opened, path: str) -> None:
        if opened.changed():
            opened.grew_at = time.monotonic()
            self._follow_read(opened, path)

    def _read_rotated(self, path: str, since: float | None = None) -> None:
        """The rotated generations of a followed path that hold unread data, as a run's
        start reads them: two rotations between two looks leave a generation that was at the
        path only meanwhile, never opened here.

        :param since: the last look to tell new generations by, when not the stored one.
        """
        self.checkpoints.clear()  # the looks since the last plan moved them
        self._seen.clear()
        look = self.last_look(path) if since is None else since
        self.read_all(self._plan_siblings(path, look))
        self.await_short(path, look)

    def last_look(self, path: str) -> float | None:
        """The last look at ``path`` and its rotated generations (``_last_look``)."""
        return self._last_look(path, files.rotated_siblings(path))

    def await_short(self, path: str, look: float | None) -> None:
        """Note when the newest generations of ``path`` too short to be identified (a quiet
        host's one OPTIONS exchange) will be, once left alone ``SETTLED_SECONDS``: a follow
        reads them then, by the same last look (the live log's reads move the stored one
        past them), instead of at the next rotation, a day later."""
        earlier = self._settling.pop(path, None)
        if look is None:
            return
        due = []
        for sibling in files.rotated_siblings(path):
            with suppress(OSError):
                st = os.stat(sibling)
                if 0 < st.st_size < files.FINGERPRINT_MIN_BYTES and st.st_mtime >= look and not settled(st.st_mtime):
                    due.append(st.st_mtime + SETTLED_SECONDS)
        if due:
            self._settling[path] = (min(due), look if earlier is None else min(look, earlier[1]))

    def _settled_short(self, path: str) -> float | None:
        """The last look to read ``path``'s generations by, once a short one has settled."""
        pending = self._settling.get(path)
        return pending[1] if pending is not None and time.time() > pending[0] else None

    def _follow_read(self, opened: Opened, path: str) -> None:
        if files.compressed_head(os.pread(opened.fh.fileno(), files.MAGIC_BYTES, 0)):
            self._follow_compressed(opened, path)
            return
        lf = files.inspect_open(opened.fh, path)
        if lf.fingerprint is None:
            return
        start = start_offset(lf, self.store.get_checkpoint(lf.fingerprint))
        if start is not None:
            opened.fh.seek(start)
            try:
                self.read_stream(lf, opened.fh, start, final=False)
            except UnknownLogFormat as exc:
                self._unknown_format(lf, exc)
        opened.seen, opened.fingerprint = lf.size, lf.fingerprint

    def _follow_compressed(self, opened: Opened, path: str) -> None:
        """A compressed file a followed glob matches (``old/pjsip*`` and logrotate's
        ``olddir``): its bytes are no log lines, so it is read whole as a run reads it, by its
        path (while the file there is still this one). One changed in the last
        ``COMPRESSING_SECONDS`` may still be being written by its compressor: it is looked at
        again at the next look, not read cut."""
        st = os.fstat(opened.fh.fileno())
        if 0 <= time.time() - st.st_mtime < COMPRESSING_SECONDS:
            return
        self._seen.discard((opened.device, opened.inode))  # read before, perhaps while still written
        self.checkpoints.clear()  # the looks since the last plan moved them
        work = self._plan_file(path, final=True, known=True)
        if work is not None and (work.file.device, work.file.inode) == (opened.device, opened.inode):
            self.read_all([work])
        opened.seen = st.st_size  # after the read: one an outage cut short is looked at again

    def _gzip_ended(self, work: Work, cut_short: bool, trailing: bool) -> None:
        """Say that a compressed file's data ended early, or (gzip) was followed by bytes that
        are not gzip: in the run that read up to there (later runs find nothing new in it, and say
        nothing)."""
        cp = self.checkpoints.get(work.file.fingerprint or "")
        if cp is None or cp.offset <= work.start:
            return
        if cut_short:
            self._warn(
                f"{work.file.path}: its {work.file.codec} data ends early, after {cp.offset} bytes: "
                "the messages up to there are stored (one cut there is a reject)")
        if trailing:
            self._warn(
                f"{work.file.path}: its gzip data is followed by bytes that are not gzip, ignored "
                f"as gzip does: the {cp.offset} bytes before them are read")

    def _unknown_format(self, lf: LogFile, exc: UnknownLogFormat) -> None:
        """A file in no known log format: in the run's summary, or said at once by a
        follower, once per file (not at every look, nor at every rotation that plans it)."""
        if lf.fingerprint in self._unknown_formats:
            return
        if self.following:
            self._unknown_formats.add(lf.fingerprint)
        self._warn(str(exc))

    def _warn(self, reason: str) -> None:
        """A warning: in the run's summary, or said at once by a follower (a service's summary
        comes only when it stops)."""
        if self.following:
            log.warning("%s", reason)
        else:
            self.summary.warnings.append(reason)

    def _fail(self, reason: str) -> None:
        """A file that could not be read: the run's failure, or a follower's warning (a look
        reads a rotated generation that a later one, or a person, may make readable again;
        the service goes on, and its stop is no failure)."""
        if self.following:
            log.warning("%s", reason)
            return
        log.info("%s", reason)
        self.summary.failed.append(reason)


@dataclass(slots=True)
class BatchCounts:
    """What the summary line counts of a parser batch, and where the batch ends."""

    messages: int
    rejects: int
    skipped_lines: int
    call_ids: set[str]
    end: int

    @classmethod
    def of(cls, batch: Any) -> BatchCounts:
        """The counts of a parser batch: its Call-IDs (but empty ones) read in C-level
        iteration, not a Python step per message."""
        return cls(len(batch.messages), len(batch.rejects), batch.skipped_lines,
                   set(filter(None, map(_call_id, batch.messages))), batch.end)


_call_id = attrgetter("call_id")


@dataclass(slots=True)
class _Prepared:
    """A parser batch ready to store: its counts, its checkpoint and its rows
    (``Store.prepare_batch``; None in a dry run); what crosses from a ``ParseWorker``."""

    counts: BatchCounts
    checkpoint: Any
    rows: Any
    nbytes: int


@dataclass(slots=True)
class _Unprepared:
    """A parser batch a ``ParseWorker`` leaves to the storing process to prepare."""

    batch: Any
    nbytes: int


@dataclass
class _Failure:
    """What a parse worker sends instead of a batch when it cannot go on."""

    reason: str
    data_ended: bool = False  # an EOFError: gzip data that ends early
    out_of_memory: bool = False  # a MemoryError: the run ends as one in this process would


_CUT_SHORT = "gzip data cut short"  # what a parse worker sends after the last batch of such a file
_TRAILING = "gzip data followed by other bytes"  # likewise


def prepared_in_turn(batches: Iterable[Any], start: int, prepare: Callable[[Any, int], _Prepared]
                     ) -> Iterator[_Prepared]:
    """Each parser batch through ``prepare(batch, bytes it covers)``, in order.

    Neither the batch nor its prepared form is held while the next one is parsed: each is
    some ten MiB for a few MiB of log, and a process would otherwise hold two of each."""
    position = start
    for batch in batches:
        item = prepare(batch, batch.end - position)
        position = batch.end
        del batch
        yield item
        del item


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with(parent: int) -> None:
    """End this forked process at once when ``parent`` ends (Linux's parent-death signal).

    A parse worker shares its parent's open files, the log's lock among them: a worker
    outliving a SIGKILLed ingest would hold that lock, and every later run would find the
    log busy. So the kernel kills it with its parent; where it cannot, the worker checks
    its parent after each batch."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux
        pass
    exit_if_orphaned(parent)  # it ended before the signal was asked for


def leave_signals_to_parent() -> None:
    """Ignore SIGINT and SIGTERM in this forked process: its parent decides when it ends.

    A fork keeps its parent's Python handlers, and those of ``ingest --follow`` only set a
    stop event (``stop_on_signals``): a worker with them outlived the parent's
    ``terminate()``, and the parent, waiting for it, hung for good, deaf to the signals
    too. A Ctrl-C, or a service manager's SIGTERM, reaches the whole process group: the
    parent then stores what it has and ends the worker itself (``ParseWorker.__exit__``)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)


def exit_if_orphaned(parent: int) -> None:
    """End this forked process at once if ``parent`` has ended."""
    if os.getppid() != parent:
        os._exit(1)


# The first batch a worker parses, and the last ones (of a file whose size is known): the
# storing process waits for the first and the worker for the last, so both are kept small.
PIPELINE_FIRST_BYTES = 256 << 10
# Prepared batches a worker lets wait for its handover thread, besides the one that thread
# writes: with one instead of two, run.py's 1 GiB ``full`` log took as long (100.4 s against
# 100.7) and the worker's peak RSS went from 100 to 94 MiB.
HANDOVER_DEPTH = 1
# The exit status of a parse worker that could not hand a batch over for want of memory: the
# storing process then ends the run as it would on a MemoryError of its own, not as a log
# that could not be read.
OUT_OF_MEMORY_STATUS = 12
# The share of its time the storing process waited for batches above which the parse worker
# leaves it batches to prepare (``ParseWorker._storing_waits``).
SHARE_WHEN_IDLE = 0.35


def pipeline_sizes(total: int, batch_bytes: int) -> list[int]:
    """Read sizes for a worker: doubling up to ``batch_bytes``, full ones, halving at the end.

    Only the sizes of the reads change, not the records (see ``LogParser.parse``); bytes
    appended meanwhile are read in ``batch_bytes`` reads after these.
    """
    ramp = []
    size = PIPELINE_FIRST_BYTES
    while size < batch_bytes:
        ramp.append(size)
        size *= 2
    if total <= 2 * sum(ramp):
        return ramp
    full, rest = divmod(total - 2 * sum(ramp), batch_bytes)
    return ramp + [batch_bytes] * full + ([rest] if rest else []) + ramp[::-1]


def worker_end(exitcode: int | None) -> str:
    """How a parse worker that stopped sending batches ended, in words: a signal by its name
    (SIGKILL: ``kill -9``, or the kernel's OOM killer), else its exit status."""
    if exitcode is None:
        return "the parse worker stopped answering"
    if exitcode < 0:
        try:
            return f"the parse worker was killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"the parse worker was killed by signal {-exitcode}"
    return f"the parse worker ended with status {exitcode}"


class ParseWorker:
    """Parses one file in a forked process and prepares its batches (``Run._prepared``: the
    rows and the new calls' summaries), handing them over a socket (``sipparse.handover``).

    The parent only writes (two cores, one pipeline: the rows cross ready to insert, packed
    by the store where it can, ``Store.pack_rows``, else as plain tuples); the handover's
    bound keeps memory flat. Batches arrive in the parser's order, so the rows and checkpoints are
    exactly those of an in-process run.
    """

    def __init__(self, parser: Any, lf: LogFile, start: int, batch_bytes: int, final: bool,
                 prepare: Callable[[Any, int], _Prepared], shares: bool = True) -> None:
        self.check: BinaryIO | None = None  # set by the parent: see Run._consume
        self.cut_short = False  # the worker found the file's gzip data ending early
        self.trailing = False  # or followed by bytes that are not gzip
        self.final = final
        self.shares = shares  # whether a waiting storing process may be left batches (``_share``)
        ctx = multiprocessing.get_context("fork")
        self.parent = os.getpid()
        self.handover = Handover(ctx, depth=HANDOVER_DEPTH)
        self._time_before, self._waited_before = time.monotonic(), 0.0  # see _storing_waits
        self.process = ctx.Process(target=self._run, args=(parser, lf, start, batch_bytes, prepare), daemon=True)
        try:
            self.process.start()
        finally:
            self.handover.parent_side()

    def _run(self, parser: Any, lf: LogFile, start: int, batch_bytes: int,
             prepare: Callable[[Any, int], _Prepared]) -> None:
        die_with(self.parent)
        leave_signals_to_parent()
        map_large_blocks()  # this process only: its batches' buffers go back to the kernel
        sizes = pipeline_sizes(max(0, lf.size - start), batch_bytes)
        try:
            with fewer_collections(), files.open_at(lf.path, lf.codec, start, settled(lf.mtime)) as fh:
                batches = parser.parse(planned(fh, lf, start, self.final), batch_bytes=batch_bytes, read_sizes=sizes)
                for item in prepared_in_turn(batches, start, partial(self._share, prepare)):
                    exit_if_orphaned(self.parent)  # where die_with cannot ask the kernel
                    self.handover.put(item)
                    del item  # the handover's writer thread holds it until it is written
                if getattr(fh, "cut_short", False):
                    self.handover.put(_CUT_SHORT)
                if getattr(fh, "trailing", False):
                    self.handover.put(_TRAILING)
            self.handover.put(None)
        except files.READ_ERRORS as exc:
            self.handover.put(_Failure(str(getattr(exc, "strerror", None) or exc), isinstance(exc, EOFError)))
        except MemoryError:
            self.handover.put(_Failure("out of memory", out_of_memory=True))
        except BaseException as exc:  # anything else still ends the parent's wait
            self.handover.put(_Failure(f"parser failed: {type(exc).__name__}: {exc}"))
        finally:
            self.handover.close()
        if isinstance(self.handover.failure, MemoryError):  # a batch too large to hand over
            sys.exit(OUT_OF_MEMORY_STATUS)

    def _share(self, prepare: Callable[[Any, int], _Prepared], batch: Any, nbytes: int) -> _Prepared | _Unprepared:
        """The batch prepared here, unless the storing process is the idle side: then it
        prepares the batch itself. So the two processes share the work when parsing is the
        slower part (logs the C reader declines much of). Not in a dry run (``shares``
        False): there preparing is only counting, and the storing process, always idle,
        would be sent every batch's messages, pickled, for nothing."""
        return _Unprepared(batch, nbytes) if self.shares and self._storing_waits() else prepare(batch, nbytes)

    def _storing_waits(self) -> bool:
        """Whether the storing process waits for work: it has taken every batch sent, and it
        waited for more than ``SHARE_WHEN_IDLE`` of the time since the last batch was parsed.

        A batch left unprepared costs more CPU in all, since it crosses as parsed messages,
        pickled. An empty queue alone also happens now and then while the two sides are about
        even, and leaving those batches unprepared made a whole ingest 4-8% slower.
        """
        now, waited = time.monotonic(), self.handover.waited()
        idle = (waited - self._waited_before) / max(now - self._time_before, 1e-9)
        self._time_before, self._waited_before = now, waited
        try:
            return self.handover.qsize() == 0 and idle > SHARE_WHEN_IDLE
        except NotImplementedError:  # no sem_getvalue (macOS)
            return False

    def items(self, prepare: Callable[[Any, int], _Prepared]) -> Iterator[_Prepared]:
        """The batches in order, each prepared (by ``prepare`` here when the worker left it)."""
        while True:
            item = self._next()
            if item is None:
                return
            if isinstance(item, _Failure):
                if item.out_of_memory:
                    raise MemoryError(item.reason)
                raise (EOFError if item.data_ended else OSError)(item.reason)
            if isinstance(item, str) and item == _CUT_SHORT:
                self.cut_short = True  # the gzip file's data ended early; what it held came
                continue
            if isinstance(item, str) and item == _TRAILING:
                self.trailing = True
                continue
            if isinstance(item, _Unprepared):
                item = prepare(item.batch, item.nbytes)
            yield item

    def _next(self) -> Any:
        try:
            return self.handover.get()
        except EOFError:  # it ended without saying why (killed, or its parent's orphan)
            self.process.join(timeout=5)
            if self.process.exitcode == OUT_OF_MEMORY_STATUS:
                raise MemoryError("out of memory") from None
            raise OSError(worker_end(self.process.exitcode)) from None

    def __enter__(self) -> ParseWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.is_alive():
            self.process.kill()  # it ignores SIGTERM (``leave_signals_to_parent``)
        self.process.join()
        self.handover.close_reader()
        if self.check is not None:
            self.check.close()


class _Planned:
    """A growing log read up to the size it had when the run planned its work.

    A cron run reads what was there when it started: a writer appending faster than one
    batch is stored would otherwise keep the run reading (and holding the file's lock, which
    ``rotate`` waits for) as long as it writes.  What comes after waits for the next run, or
    for ``--follow``.  A message cut at the bound waits too, as at any end of data."""

    def __init__(self, fh: BinaryIO, left: int) -> None:
        self._fh = fh
        self._left = left

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        data = self._fh.read(self._left if size < 0 else min(size, self._left))
        self._left -= len(data)
        return data


def read_whole_unchanged(lf: LogFile, cp: Checkpoint | None) -> bool:
    """Whether ``lf`` is a compressed file whose checkpoint says it was read to its end
    while it was this same file (device, inode) last changed at the same time."""
    return (lf.compressed and cp is not None and cp.mtime is not None and cp.offset >= cp.size
            and (cp.device, cp.inode) == (lf.device, lf.inode) and abs(cp.mtime - lf.mtime) < 1e-6)


def settled(mtime: float | None) -> bool:
    """Whether a file last changed at ``mtime`` has been left alone ``SETTLED_SECONDS``."""
    return mtime is not None and time.time() - mtime > SETTLED_SECONDS


def planned(fh: BinaryIO, lf: LogFile, start: int, final: bool) -> Any:
    """``fh`` bounded at the planned size of a plain file that may still grow (see ``_Planned``);
    a final or compressed file is read to its end, as it is."""
    if final or lf.compressed:
        return fh
    return _Planned(fh, max(0, lf.size - start))


def still_same(lf: LogFile, fh: BinaryIO, end: int) -> bool:
    """Whether the open plain file still holds ``end`` bytes and starts as ``lf`` did."""
    fd = fh.fileno()
    if os.fstat(fd).st_size < end:
        return False
    # as a finished file: the same answer for a file past the fingerprint's bytes, and the
    # short finished file's own for one that is not (a growing file that short is not read)
    return files.fingerprint_of(os.pread(fd, files.FINGERPRINT_MAX_BYTES, 0), finished=True) == lf.fingerprint


def _label_host(messages: list[Any], rejects: list[Any], host: str) -> None:
    """Messages from logs that name no host get this machine's (or --host's) name."""
    for record in messages:
        if record.host is None:
            record.host = host
    for record in rejects:
        if record.host is None:
            record.host = host


def written_at(lf: LogFile) -> datetime:
    """When ``lf`` was last written (never later than now): the "now" its yearless time stamps
    must not pass. A log of December read the next November is last year's, not this one's,
    and one of 29 November read on 3 December of the following year is not this year's."""
    return datetime.fromtimestamp(min(lf.mtime, time.time()), UTC)


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def make_checkpoint(lf: LogFile, offset: int, end: int, host: str | None = None) -> Any:
    """The checkpoint stored with a batch: resume at ``offset``, ``end`` bytes seen, on ``host``."""
    return Checkpoint(fingerprint=lf.fingerprint, path=os.path.abspath(lf.path), offset=offset, size=end,
                      inode=lf.inode, device=lf.device, mtime=lf.mtime, host=host)


def make_parse_options(options: IngestOptions) -> Any:
    """The parser's options for this run: the grok library is loaded once, here, and shared
    by every parser of the run (follow mode makes one per poll)."""
    from sipparse.grok import PatternLibrary
    from sipparse.logs import ParseOptions

    patterns = PatternLibrary.load(extra_dirs=list(options.patterns_dirs))
    return ParseOptions(dialect=options.dialect, year=options.year, tz=options.tz, now=None,
                        patterns=patterns, user_dialects=list(options.user_dialects), final=False)


def check_options(options: IngestOptions) -> None:
    """Load the pattern files and compile the dialects as a run does before it reads a byte,
    so that ``sipparse info`` finds a config file the next run would fail on."""
    from sipparse.logs.dialects import build_dialects

    build_dialects(make_parse_options(options).patterns, options.user_dialects)


def _dialects_read_as(options: Any, name: str) -> list[Any]:
    """The compiled dialect of that name (from the run's pattern library and [[dialects]]),
    and those whose lines a log of it is read with too (a syslog log whose format changed)."""
    from sipparse.logs.reader import _Compiled

    compiled = _Compiled.get(options.patterns, list(options.user_dialects))
    return [compiled.dialects[name], *compiled.others(compiled.dialects[name])]


def check_dialect(name: str, user_dialects: list[dict[str, Any]]) -> None:
    """Refuse a dialect name that is neither built in nor defined in the config file."""
    known = list(BUILTIN_DIALECTS) + [str(d.get("name")) for d in user_dialects]
    if name not in known:
        raise SipparseError(f"unknown log format {name!r}: choose one of {', '.join(known)}")


# seconds between attempts to reach a database out of reach, for a followed log
OUTAGE_PAUSES = (1.0, 2.0, 5.0, 10.0, 30.0)


def follow_through_outages(open_store: Callable[[], Any], paths: Iterable[str], options: IngestOptions,
                           stop: threading.Event, warn: Callable[[str], None],
                           hangup: threading.Event | None = None) -> IngestSummary:
    """``follow_paths`` as a service needs it: while the database is out of reach (a restart,
    a network cut), wait and try again, then catch up from the stored checkpoints.

    Nothing read meanwhile is lost, as a checkpoint moves only with the rows it covers, and
    nothing is stored twice. Any other database error (a privilege, a full disk) ends the
    run, as it ends a cron run. ``warn`` hears of each outage once, and of its end.
    """
    summary = IngestSummary()
    with ExitStack() as stack:
        paths = _follow_locks(stack, paths, options, stop, summary)
        if summary.busy:
            warn(f"another sipparse ingest --follow follows {', '.join(summary.busy)}: left to it")
        if paths:
            _follow_while_reachable(open_store, paths, options, stop, warn, hangup, summary)
    summary.finished = time.monotonic()
    return summary


def _follow_while_reachable(open_store: Callable[[], Any], paths: list[str], options: IngestOptions,
                            stop: threading.Event, warn: Callable[[str], None],
                            hangup: threading.Event | None, summary: IngestSummary) -> None:
    outages = 0
    # kept open through an outage: a log deleted meanwhile still holds its unread lines
    tails: dict[str, Tail] = {}
    try:
        while not stop.is_set():
            try:
                with open_store() as store:
                    if outages:
                        warn(f"{store.url.redacted()}: reached again after {outages} attempt(s): following on")
                        outages = 0
                    follow_paths(store, paths, options, stop, summary=summary, hangup=hangup, tails=tails)
                    return
            except DatabaseError as exc:
                if not exc.unreachable:
                    raise
                if not outages:
                    warn(f"{exc}; trying again every few seconds (what is read meanwhile stays in the log)")
                stop.wait(OUTAGE_PAUSES[min(outages, len(OUTAGE_PAUSES) - 1)])
                outages += 1
    finally:
        close_tails(tails)


def _follow_locks(stack: ExitStack, paths: Iterable[str], options: IngestOptions, stop: threading.Event,
                  summary: IngestSummary) -> list[str]:
    """The paths (or globs) no other ``--follow`` follows, each locked for as long as this one
    does: a second one (a unit started twice, a shell beside the service) would only double
    every look. A path followed already is left to it, or waited for with ``--wait``."""
    followed = []
    for path in sorted(set(paths), key=os.path.abspath):
        lock = LogLock(path, role="follow")
        if _acquired(lock, options.wait, stop):
            stack.callback(lock.release)
            followed.append(path)
        else:
            summary.busy.append(path)
    return followed


def _acquired(lock: LogLock, wait: bool, stop: threading.Event) -> bool:
    """Whether ``lock`` was taken: at once, or with ``wait`` before ``stop`` is set (a
    blocking flock would not hear SIGTERM)."""
    while True:
        try:
            lock.acquire(wait=wait, timeout=0.25 if wait else None)
            return True
        except LockBusy:
            if not wait or stop.is_set():
                return False


def follow_paths(store: Any, paths: Iterable[str], options: IngestOptions, stop: threading.Event,
                 poll_seconds: float = 0.25, summary: IngestSummary | None = None,
                 hangup: threading.Event | None = None, tails: dict[str, Tail] | None = None) -> IngestSummary:
    """Catch up like ``ingest_paths``, then tail the paths until ``stop`` is set.

    Each path's lock is taken only for the moment of each read, so ``sipparse rotate`` can
    still rotate a followed log; what each look reads is committed before the next look.
    When ``hangup`` is set (SIGHUP), the next look reads each path's rotated generations too.
    ``tails``: the files followed by an earlier call, left open for the caller to close (a
    follow resumed after a database outage reads those deleted meanwhile to their end).
    """
    options = replace(options, progress=False)
    own = tails is None
    tails = {} if tails is None else tails
    # opened before the catch-up: a file deleted after it, before the first look, is still read
    paths = list(paths)
    add_tails(tails, expand_paths(paths), paths)
    try:
        for tail in tails.values():
            tail.refresh()
            if tail.current is not None:
                tail.current.note_start()
        run = Run(store, options, summary or IngestSummary(), stop, following=True)
        looks = {path: run.last_look(path) for path in tails}  # before the catch-up moves them
        summary = ingest_paths(store, paths, options, summary=run.summary, stop=stop)
        for path, look in looks.items():  # short generations the catch-up left to settle
            run.await_short(path, look)
        while not stop.is_set():
            matched = expand_paths(paths)
            add_tails(tails, matched, paths)
            look_at_each(run, tails, matched, rotated_elsewhere=taken(hangup))
            if store.file_gone():  # opened again, as the next cron run would: see follow_through_outages
                raise DatabaseError(f"{store.url.redacted()}: the database file was removed or replaced",
                                    unreachable=True)
            stop.wait(poll_seconds)
    finally:
        if own:
            close_tails(tails)
    summary.finished = time.monotonic()
    return summary


def add_tails(tails: dict[str, Tail], matched: Iterable[str], paths: Iterable[str]) -> None:
    """A Tail for each matched file not followed yet, but for a file a glob matched that another
    ``--follow`` follows (by name, or through a glob of its own): its follow lock, keyed by the
    file, is busy, and the file is left to it until a later look finds the lock free. A path
    given by name is locked by the caller (``_follow_locks``), not here."""
    given = {lock_key(path) for path in paths if not glob.has_magic(path)}
    for path in matched:
        if path in tails:
            continue
        tail = Tail(path)
        if lock_key(path) not in given:
            try:
                tail.claim = LogLock(path, role="follow").acquire(wait=False)
            except LockBusy:
                continue
        tails[path] = tail


def close_tails(tails: dict[str, Tail]) -> None:
    """Let go of every followed file (a deleted one's disk space is freed only then)."""
    for tail in tails.values():
        tail.close()
    tails.clear()


def taken(event: threading.Event | None) -> bool:
    """Whether ``event`` was set since it was last taken (it is cleared)."""
    if event is None or not event.is_set():
        return False
    event.clear()
    return True


def look_at_each(run: Run, tails: dict[str, Tail], matched: list[str], rotated_elsewhere: bool = False) -> None:
    """One look at each followed path: those the globs match now, and those they matched
    before until their files are drained. A file deleted for good (or renamed out of the
    glob) is read to its end and then closed, instead of being held open, its last lines
    unread and its disk space not freed, for as long as the service runs."""
    for path, tail in list(tails.items()):
        run.follow(tail, rotated_elsewhere)
        if path not in matched and not tail.opened():
            tails.pop(path).close()  # lets go of its follow lock
