"""One ingest or rotate at a time per log file: a local ``flock`` on a lock file.

The lock is keyed by the log's absolute path (not its inode), so ``sipparse ingest`` and
``sipparse rotate`` of ``/var/log/asterisk/pjsip`` exclude each other across a rename, and
runs over other files, or other hosts writing to the same database, never wait for it.
Lock files live in ``$SIPPARSE_LOCK_DIR``, else, for root, ``/run/sipparse`` (else
``$XDG_RUNTIME_DIR/sipparse``), and for other users ``/run/lock/sipparse`` when writable, else
``$XDG_RUNTIME_DIR/sipparse``, else ``/tmp/sipparse-<uid>``; they are created mode 0600 in
a directory of mode 0700 (or the shared ``/run/lock`` one owned by the same user).
The kernel drops a flock when its holder dies, so a SIGKILLed run never leaves a stale lock.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from sipparse.digest import sha1_hex
from sipparse.errors import SipparseError


class LockBusy(SipparseError):
    """Another sipparse process holds the lock of this log file."""


def lock_dir() -> Path:
    """The directory for lock files (see the module docstring for the order)."""
    candidates = lock_dir_candidates(os.environ, os.getuid())
    for directory in candidates:
        if _usable_dir(directory):
            return directory
    raise SipparseError(f"no usable lock directory (tried {', '.join(map(str, candidates))}): "
                        "name one, writable by this user only, with SIPPARSE_LOCK_DIR")


def lock_dir_candidates(environ: Mapping[str, str], uid: int, run: Path = Path("/run"),
                        tmp: Path = Path("/tmp")) -> list[Path]:
    """Where lock files may go, in order of preference.

    Root never takes a name in a directory every user may write to (``/run/lock``, ``/tmp``):
    another user could make it first, and root would then fall back to the next one, or find
    none, and cron's runs would fail or, as the name comes and goes, stop excluding each other.
    """
    if environ.get("SIPPARSE_LOCK_DIR"):
        return [Path(environ["SIPPARSE_LOCK_DIR"])]
    runtime = [Path(environ["XDG_RUNTIME_DIR"]) / "sipparse"] if environ.get("XDG_RUNTIME_DIR") else []
    if uid == 0:
        return [run / "sipparse", *runtime]
    return [run / "lock" / "sipparse", *runtime, tmp / f"sipparse-{uid}"]


def _usable_dir(directory: Path) -> bool:
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return False
    st = directory.lstat()
    # never use a directory someone else planted (symlink or foreign owner) for our locks
    if not os.path.isdir(directory) or directory.is_symlink() or st.st_uid != os.getuid():
        return False
    return os.access(directory, os.W_OK | os.X_OK)


def lock_path_for(log_path: str | os.PathLike[str], role: str = "") -> Path:
    """The lock file of one log path: a digest of its absolute path, plus its name for humans
    (and the role of the lock, when it is not the one of reading the log)."""
    absolute = os.path.abspath(os.fspath(log_path))
    digest = sha1_hex(absolute.encode("utf-8", "surrogateescape"))[:16]
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in os.path.basename(absolute))[:40]
    return lock_dir() / f"{name}.{digest}{'.' + role if role else ''}.lock"


class LogLock:
    """An exclusive flock for one log path; ``acquire(wait=False)`` raises LockBusy when held.

    Use as ``with LogLock(path).acquire(wait=False): ...``.
    """

    def __init__(self, log_path: str | os.PathLike[str], role: str = "") -> None:
        self.log_path = os.fspath(log_path)
        self.path = lock_path_for(log_path, role)
        self._fd: int | None = None

    def acquire(self, wait: bool = False, timeout: float | None = None) -> LogLock:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait and deadline is None else fcntl.LOCK_NB))
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    os.close(fd)
                    raise
                if not wait or (deadline is not None and time.monotonic() >= deadline):
                    os.close(fd)
                    raise LockBusy(f"{self.log_path} is being processed by another sipparse run") from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> LogLock:
        if self._fd is None:
            self.acquire()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()
