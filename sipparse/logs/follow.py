"""``tail -F`` for log paths: keep a file open, notice rename, deletion and truncation.

A ``Tail`` follows a path, not a file. When logrotate renames the file away, the old file
is still open here and is drained (read to its end, and again while its writer has not yet
reopened) before it is let go; the new file at the path is opened as soon as it appears.
Truncation in place (copytruncate) is visible as the open file shrinking, or starting with
other bytes once it has grown past its old size (``Opened.truncated``). The reading
itself is done by the caller (sipparse.ingest), which keeps its checkpoints in storage.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import BinaryIO

from sipparse.logs.files import FINGERPRINT_MAX_BYTES, fingerprint_of, open_fd
from sipparse.logs.locks import LogLock

log = logging.getLogger(__name__)

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
    fingerprint: str | None = None  # what the file started with at the last look

    def size(self) -> int:
        return os.fstat(self.fh.fileno()).st_size

    def changed(self) -> bool:
        """Whether the file's size differs from the last look (grown, or truncated)."""
        return self.size() != self.seen

    def note_start(self) -> None:
        """Note what the file starts with before the run catches up, so that a copytruncate
        before the first look is noticed as one (``truncated``)."""
        self.fingerprint = self._head_fingerprint()

    def _head_fingerprint(self) -> str | None:
        return fingerprint_of(os.pread(self.fh.fileno(), FINGERPRINT_MAX_BYTES, 0))

    def truncated(self) -> bool:
        """Whether the file was emptied in place since the last look (a copytruncate): it is
        smaller than it was, or starts with other bytes (it has grown past its old size
        since). What was written to it just before is then only in the copy."""
        if 0 <= self.seen and self.size() < self.seen:
            return True
        return self.fingerprint is not None and self._head_fingerprint() != self.fingerprint


class Tail:
    """Follow one path across renames and truncation (see the module docstring)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.current: Opened | None = None
        self.draining: list[Opened] = []
        self.refused: str | None = None  # why what is at the path is not followed, said once
        self.claim: LogLock | None = None  # the follow lock of a file a glob matched, held

    def refresh(self) -> bool:
        """Notice a rename or deletion of the path and open whatever is there now; whether
        the file followed until now left the path (a rotation, when another came in its place)."""
        try:
            st = os.stat(self.path)
        except OSError:
            st = None
        cur = self.current
        left = cur is not None and (st is None or (st.st_ino, st.st_dev) != (cur.inode, cur.device))
        if left:
            cur.grew_at = time.monotonic()
            self.draining.append(cur)
            self.current = None
        if self.current is None and st is not None:
            self.current = self._open_regular()
        return left

    def unchanged(self) -> bool:
        """Whether a look would find nothing new: the same file at the path, and no open file
        grown or shrunk. Said by a few stats, without the lock a look takes, which costs more
        (times every file of a glob, four times a second, for as long as the logs are quiet)."""
        cur = self.current
        if cur is None:
            return False
        try:
            st = os.stat(self.path)
        except OSError:
            return False
        return (st.st_ino, st.st_dev) == (cur.inode, cur.device) and not any(o.changed() for o in self.opened())

    def _open_regular(self) -> Opened | None:
        """The file at the path, opened; None (said once) when it is not a regular file
        (opening a FIFO, an rsyslog ``ompipe``, would wait for a writer, signals and all) or
        may not be read (a rotation that created it for another user): it is looked at
        again each time, and read from its start once it can be."""
        opened = _open(self.path)
        if not isinstance(opened, str):
            self.refused = None
            return opened
        if opened != self.refused:
            self.refused = opened
            log.warning("%s", opened)
        return None

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
        if self.claim is not None:
            self.claim.release()
            self.claim = None


def _open(path: str) -> Opened | str | None:
    """``path`` opened for reading; None when nothing is there (any more), else why it is
    not followed.

    Opened without waiting (O_NONBLOCK: a FIFO does not wait for a writer; it changes
    nothing for a regular file)."""
    try:
        fd = open_fd(path, os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot read {path}: {exc.strerror}; trying again until it can be read"
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        return f"{path} is not a regular file; waiting for one there"
    return Opened(os.fdopen(fd, "rb"), st.st_ino, st.st_dev)


def notify_systemd(state: str) -> bool:
    """Tell systemd how a ``Type=notify`` service is (``READY=1``), as ``sd_notify`` does;
    whether it was told (outside such a unit there is no ``$NOTIFY_SOCKET``: nothing to do).
    With ``READY=1`` sent once SIGHUP is handled, ``systemctl reload`` waits for it."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if not address.startswith(("/", "@")):
        return False
    target = "\0" + address[1:] if address.startswith("@") else address  # an abstract socket
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(target)
            sock.sendall(state.encode())
    except OSError as exc:
        log.warning("cannot tell systemd %s at %s: %s", state, address, exc)
        return False
    return True


def stop_on_signals() -> AbstractContextManager[threading.Event]:
    """An event set by SIGINT/SIGTERM, so a follow loop finishes its batch and stops cleanly."""
    return event_on_signals((signal.SIGINT, signal.SIGTERM))


def look_again_on_hangup() -> AbstractContextManager[threading.Event]:
    """An event set by SIGHUP, which logrotate's ``postrotate`` sends to the programs that
    read a log: its default action would end the service. A follow loop takes it as a word
    that logs were rotated, and looks at the rotated generations of every path."""
    return event_on_signals((signal.SIGHUP,))


@contextmanager
def event_on_signals(signums: tuple[int, ...]) -> Iterator[threading.Event]:
    """An event set by any of these signals, for as long as the context lasts."""
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {}
    for signum in signums:
        try:
            previous[signum] = signal.signal(signum, handler)
        except ValueError:  # not the main thread: the caller stops us through the event
            pass
    if previous:  # held since the start (sipparse/__init__.py): one sent meanwhile comes now
        signal.pthread_sigmask(signal.SIG_UNBLOCK, previous)
    try:
        yield stop
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
