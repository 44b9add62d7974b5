"""Batches from a forked parse worker to the storing process, over a local stream socket.

A ``multiprocessing.Queue`` pickles each batch whole: a batch's packed rows (2-4 MiB) are
copied into the pickle, read back 64 KiB at a time into a buffer that grows, and copied
once more out of it when unpickled. Here the pickle (protocol 5) leaves large buffers out of
band (``PackedRows`` offers its bytes so): the worker writes them to the socket as they are,
and the storing process reads each straight into a buffer of its own, once: a third to two
thirds less CPU to receive the same bytes (200 MB in batches of 4 MB: 0.54-0.66 s of CPU
through a queue, 0.22-0.36 s here).

The worker hands a batch to a thread of its own that writes it, so it parses the next one
while the socket is full; at most ``depth`` batches wait for that thread, which keeps memory
flat. The storing process likewise receives in a thread of its own, one batch ahead, while
it stores the one before: otherwise it waited a fifth of an ingest's time in ``get``, for
a batch that crossed 64 KiB at a time, each piece once both sides had been woken. The
receiving thread asks for each piece whole (``MSG_WAITALL``), so the kernel copies it
while that thread sleeps. When the worker exits, or is killed, its end closes and ``get``
raises EOFError at once.

A frame is: the pickle's length and the number of buffers (``<QI``), each buffer's length
(``<Q``), the pickle, the buffers.
"""

from __future__ import annotations

import logging
import pickle
import queue
import socket
import struct
import threading
import time
from typing import Any

from sipparse.memory import Mappings

log = logging.getLogger(__name__)

_HEAD = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_END = object()  # closes the writer thread
KEPT_MAPPINGS = 3  # the batch stored, the one received ahead, and the one coming


class Handover:
    """One socket pair, made before the fork: ``put`` and ``close`` in the worker, ``get`` in
    the storing process (after ``parent_side``), ``qsize`` in either."""

    def __init__(self, context: Any, depth: int = 2) -> None:
        self._ours, self._workers = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        # batches handed over by the worker, and taken by the storing process: each counter is
        # written by one process only, so neither needs a lock
        self._sent = context.RawValue("q", 0)
        self._taken = context.RawValue("q", 0)
        # seconds ``get`` waited for an item, written by the storing process only
        self._waited = context.RawValue("d", 0.0)
        self._depth = depth
        self._waiting: queue.Queue[Any] | None = None
        self._writer: threading.Thread | None = None
        self.failure: Exception | None = None  # what ended the worker's writing, if anything
        # what the receiving thread got, and room for it: it receives the next item only once
        # ``get`` has taken the one before, so at most two batches are held here, the one
        # being stored and the next
        self._arrived: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()
        self._room = threading.Semaphore(1)
        self._receiver: threading.Thread | None = None
        self._closing = False
        # the buffers batches are received into, a large one kept for the next batches
        self._mappings = Mappings(KEPT_MAPPINGS)

    def qsize(self) -> int:
        """Batches handed over and not yet taken by ``get``."""
        return int(self._sent.value - self._taken.value)

    def waited(self) -> float:
        """Seconds the storing process has spent in ``get`` waiting for an item, in all."""
        return float(self._waited.value)

    # ---- in the worker -------------------------------------------------------------------

    def put(self, item: Any) -> None:
        """Hand ``item`` over; blocks while ``depth`` batches wait to be written."""
        if self._writer is None:
            self._ours.close()
            self._waiting = queue.Queue(maxsize=self._depth)
            self._writer = threading.Thread(target=self._write_all, name="handover", daemon=True)
            self._writer.start()
        assert self._waiting is not None
        self._sent.value += 1
        self._waiting.put(item)

    def close(self) -> None:
        """Write what was handed over, then close the worker's end."""
        if self._writer is not None:
            assert self._waiting is not None
            self._waiting.put(_END)
            self._writer.join()
        self._workers.close()

    def _write_all(self) -> None:
        """Write each item handed over. After a failure the rest are dropped, and the socket is
        closed at once: the storing process then stops with an error instead of waiting, or
        of going on without a batch. The storing process gone (the socket broken) is no news;
        an item that cannot be pickled is logged. The failure is kept in ``failure``."""
        assert self._waiting is not None
        while (item := self._waiting.get()) is not _END:
            if self._workers.fileno() < 0:
                continue
            try:
                self._write(item)
            except Exception as exc:
                self.failure = exc
                if not isinstance(exc, (OSError, MemoryError)):  # MemoryError: the worker's exit says it
                    log.error("cannot hand a batch over to the storing process: %s", exc)
                self._workers.close()

    def _write(self, item: Any) -> None:
        buffers: list[pickle.PickleBuffer] = []
        data = pickle.dumps(item, protocol=5, buffer_callback=buffers.append)
        raws = [b.raw() for b in buffers]
        head = _HEAD.pack(len(data), len(raws)) + b"".join(_LENGTH.pack(r.nbytes) for r in raws)
        for piece in (head, data, *raws):
            self._workers.sendall(piece, socket.MSG_NOSIGNAL)

    # ---- in the storing process -----------------------------------------------------------

    def parent_side(self) -> None:
        """Close the storing process's copy of the worker's end, once the worker is forked (the
        stream then ends when the worker does), and start receiving."""
        self._workers.close()
        self._receiver = threading.Thread(target=self._receive_all, name="sipparse-receive", daemon=True)
        self._receiver.start()

    def get(self) -> Any:
        """The next item; EOFError when the worker's end closed before one came whole."""
        start = time.monotonic()
        received, value = self._arrived.get()
        self._waited.value += time.monotonic() - start
        if not received:
            self._arrived.put((False, value))  # every later get ends the same way
            raise value
        self._taken.value += 1
        self._room.release()
        return value

    def _receive_all(self) -> None:
        """Receive items one ahead of ``get``, until the stream ends or cannot be read."""
        while self._wait_for_room():
            try:
                entry = (True, self._receive())
            except Exception as exc:  # EOFError at the end; OSError once shut; a broken pickle
                entry = (False, exc)
            self._arrived.put(entry)
            if not entry[0]:
                return

    def _wait_for_room(self) -> bool:
        """Wait until ``get`` has taken the last item received; False once ``close_reader``
        was called (it makes room too, to wake this thread)."""
        self._room.acquire()
        return not self._closing

    def _receive(self) -> Any:
        length, count = _HEAD.unpack(self._read(_HEAD.size))
        lengths = [_LENGTH.unpack(self._read(_LENGTH.size))[0] for _ in range(count)]
        data = self._read(length)
        buffers = [self._read(n) for n in lengths]
        return pickle.loads(data, buffers=buffers)

    def _read(self, size: int) -> memoryview:
        view, got = self._mappings.take(size), 0
        while got < size:
            n = self._ours.recv_into(view[got:], size - got, socket.MSG_WAITALL)
            if not n:
                raise EOFError("the parse worker's stream ended")
            got += n
        return view

    def close_reader(self) -> None:
        """Stop receiving and close the storing process's end: a worker still writing then
        fails at once instead of waiting."""
        self._closing = True
        if self._receiver is not None:
            self._room.release()  # wakes the receiving thread if it waits for room
            try:
                self._ours.shutdown(socket.SHUT_RDWR)  # wakes the receiving thread
            except OSError:
                pass
            self._receiver.join()
            self._receiver = None
        self._ours.close()
