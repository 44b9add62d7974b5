"""``tail -F`` for log paths: keep a file open, notice rename, deletion and truncation.

A ``Tail`` follows a path, not a file. When logrotate renames the file away, the old file
is still open here and is drained (read to its end, and again while its writer has not yet
reopened) before it is let go; the new file at the path is opened as soon as it appears.
Truncation in place (copytruncate) is visible as the open file shrinking. The reading
itself is done by the caller (sipparse.ingest), which keeps its checkpoints in storage.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import BinaryIO

# How long a renamed-away file is still watched after it last grew: the writer keeps
# writing to it until it reopens its log (rsyslog on HUP, Asterisk on `logger reload`).
DRAIN_SECONDS = 5.0


@dataclass
class Opened:
    """One open file of a followed path, with the size up to which it was looked at."""

    fh: BinaryIO
    inode: int
    device: int
    seen: int = -1
    grew_at: float = 0.0

    def size(self) -> int:
        return os.fstat(self.fh.fileno()).st_size

    def changed(self) -> bool:
        """Whether the file's size differs from the last look (grown, or truncated)."""
        return self.size() != self.seen


class Tail:
    """Follow one path across renames and truncation (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.current: Opened | None = None
        self.draining: list[Opened] = []

    def refresh(self) -> None:
        """Notice a rename or deletion of the path and open whatever is there now."""
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        cur = self.current
        if cur is not None and (st is None or (st.st_ino, st.st_dev) != (cur.inode, cur.device)):
            cur.grew_at = time.monotonic()
            self.draining.append(cur)
            self.current = None
        if self.current is None and st is not None:
            self.current = _open(self.path)

    def expire(self) -> None:
        """Let go of renamed-away files that have stopped growing."""
        now = time.monotonic()
        keep = []
        for old in self.draining:
            if now - old.grew_at < DRAIN_SECONDS:
                keep.append(old)
            else:
                old.fh.close()
        self.draining = keep

    def opened(self) -> list[Opened]:
        """Every open file of this path, the renamed-away ones first (they are older)."""
        return self.draining + ([self.current] if self.current else [])

    def close(self) -> None:
        for item in self.opened():
            item.fh.close()
        self.current, self.draining = None, []


def _open(path: str) -> Opened | None:
    try:
        fh = open(path, "rb")
    except OSError:
        return None
    st = os.fstat(fh.fileno())
    return Opened(fh, st.st_ino, st.st_dev)


@contextmanager
def stop_on_signals(signums: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[threading.Event]:
    """An event set by SIGINT/SIGTERM, so a follow loop finishes its batch and stops cleanly."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    for signum in signums:
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: the caller stops us through the event
            pass
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
