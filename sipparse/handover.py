"""Batches from a forked parse worker to the storing process, over a pipe.

A ``multiprocessing.Queue`` pickles each batch whole: a batch's packed rows (2-4 MiB) are
copied into the pickle, read back 64 KiB at a time into a buffer that grows, and copied
once more out of it when unpickled. Here the pickle (protocol 5) leaves large buffers out of
band (``PackedRows`` offers its bytes so): the worker writes them to the pipe as they are,
and the storing process reads each straight into a buffer of its own, once: a third to two
thirds less CPU to receive the same bytes (200 MB in batches of 4 MB: 0.54-0.66 s of CPU
through a queue, 0.22-0.36 s here).

The worker hands a batch to a thread of its own that writes it, so it parses the next one
while the pipe is full; at most ``depth`` batches wait for that thread, which keeps memory
flat. When the worker exits, or is killed, its end of the pipe closes and ``get`` raises
EOFError at once.

A frame is: the pickle's length and the number of buffers (``<QI``), each buffer's length
(``<Q``), the pickle, the buffers.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import struct
import threading
from typing import Any

log = logging.getLogger(__name__)

_HEAD = struct.Struct("<QI")
_LENGTH = struct.Struct("<Q")
_END = object()  # closes the writer thread


class Handover:
    """One pipe, made before the fork: ``put`` and ``close`` in the worker, ``get`` in the
    storing process (after ``parent_side``), ``qsize`` in either."""

    def __init__(self, context: Any, depth: int = 2) -> None:
        self._read_fd, self._write_fd = os.pipe()
        # batches handed over by the worker, and taken by the storing process: each counter is
        # written by one process only, so neither needs a lock
        self._sent = context.RawValue("q", 0)
        self._taken = context.RawValue("q", 0)
        self._depth = depth
        self._waiting: queue.Queue[Any] | None = None
        self._writer: threading.Thread | None = None
        self._reader: Any = None

    def qsize(self) -> int:
        """Batches handed over and not yet taken."""
        return int(self._sent.value - self._taken.value)

    # ---- in the worker -------------------------------------------------------------------

    def put(self, item: Any) -> None:
        """Hand ``item`` over; blocks while ``depth`` batches wait to be written."""
        if self._writer is None:
            os.close(self._read_fd)
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
        self._close_write_end()

    def _close_write_end(self) -> None:
        if self._write_fd >= 0:
            os.close(self._write_fd)
            self._write_fd = -1

    def _write_all(self) -> None:
        """Write each item handed over. After a failure the rest are dropped, and the pipe is
        closed at once: the storing process then stops with an error instead of waiting, or
        of going on without a batch. The storing process gone (the pipe broken) is no news;
        an item that cannot be pickled is logged."""
        assert self._waiting is not None
        while (item := self._waiting.get()) is not _END:
            if self._write_fd < 0:
                continue
            try:
                self._write(item)
            except Exception as exc:
                if not isinstance(exc, OSError):
                    log.error("cannot hand a batch over to the storing process: %s", exc)
                self._close_write_end()

    def _write(self, item: Any) -> None:
        buffers: list[pickle.PickleBuffer] = []
        data = pickle.dumps(item, protocol=5, buffer_callback=buffers.append)
        raws = [b.raw() for b in buffers]
        head = _HEAD.pack(len(data), len(raws)) + b"".join(_LENGTH.pack(r.nbytes) for r in raws)
        for piece in (head, data, *raws):
            view = memoryview(piece)
            while view:
                view = view[os.write(self._write_fd, view):]

    # ---- in the storing process -----------------------------------------------------------

    def parent_side(self) -> None:
        """Close the storing process's copy of the worker's end, once the worker is forked:
        the pipe then ends when the worker does."""
        os.close(self._write_fd)
        self._reader = open(self._read_fd, "rb", buffering=0)  # noqa: SIM115 (closed by close_reader)

    def get(self) -> Any:
        """The next item; EOFError when the worker's end closed before one came whole."""
        length, count = _HEAD.unpack(self._read(_HEAD.size))
        lengths = [_LENGTH.unpack(self._read(_LENGTH.size))[0] for _ in range(count)]
        data = self._read(length)
        buffers = [self._read(n) for n in lengths]
        self._taken.value += 1
        return pickle.loads(data, buffers=buffers)

    def _read(self, size: int) -> bytearray:
        out = bytearray(size)
        view, got = memoryview(out), 0
        while got < size:
            n = self._reader.readinto(view[got:])
            if not n:
                raise EOFError("the parse worker's pipe ended")
            got += n
        return out

    def close_reader(self) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None
