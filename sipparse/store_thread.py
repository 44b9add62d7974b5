"""Storing batches in a thread of their own while the next batch is parsed.

A MySQL write mostly waits: the server loads the rows and updates its indexes while the
client has nothing to do but hold the connection, and the connector releases Python's
global lock meanwhile. A thread that stores batch N while the main thread parses batch N+1
and builds its rows puts that wait to use. An SQLite write is different: SQLite's own work
runs without the lock, but reading the values, the ``calls`` summaries and the commit hold
it, and a thread that gives the lock up waits for a busy parser to hand it back; measured,
a thread gained 0-6%, within the noise, so that store writes in the caller's thread
(``background=False``).

Batches are stored one at a time, in the order given, each with its checkpoint in one
transaction as before, so the rows and checkpoints are exactly those of a run without the
thread. Once a write fails, nothing later is stored (a later checkpoint would skip the
failed batch): the error is raised in the caller's thread at its next ``put`` or at
``close``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_DONE = object()


class StoreThread(Generic[T]):
    """Calls ``store(item)`` for each ``put`` item in a background thread, in order.

    At most ``depth`` items wait while one is being stored, which bounds the memory of the
    pipeline to ``depth + 2`` batches (one stored, ``depth`` waiting, one being parsed).
    Use as a context manager: leaving it normally waits until everything put is stored;
    leaving it by an exception stores the item in hand and drops those still waiting.
    With ``background=False`` no thread is started and ``put`` stores at once.
    """

    def __init__(self, store: Callable[[T], None], depth: int = 1, name: str = "sipparse-store",
                 background: bool = True) -> None:
        self._store = store
        self._queue: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._abandon = threading.Event()
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name=name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is _DONE:
                return
            if self._error is not None or self._abandon.is_set():
                continue  # drained, never stored: keeps ``put`` from blocking on a full queue
            try:
                self._store(item)  # type: ignore[arg-type]
            except BaseException as exc:  # handed to the caller's thread, which decides
                self._error = exc

    def put(self, item: T) -> None:
        """Queue ``item`` to be stored; raise the error of an earlier write, if one failed."""
        self._raise_failure()
        if self._thread is None:
            self._store(item)
            return
        self._queue.put(item)

    def close(self) -> None:
        """Wait until everything put is stored; raise the error of a failed write."""
        self._finish()
        self._raise_failure()

    def _finish(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def _raise_failure(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._abandon.set()
            raise error

    def __enter__(self) -> StoreThread[T]:
        return self

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is None:
            self.close()
            return
        self._abandon.set()
        self._finish()
