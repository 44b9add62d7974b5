"""One ingest or rotate at a time per log file: a local ``flock`` on a lock file.

The lock is keyed by the log's path (not its inode), resolved through symbolic links
(``lock_key``), so ``sipparse ingest`` and ``sipparse rotate`` of ``/var/log/asterisk/pjsip``
exclude each other across a rename, and through any link to it, and runs over other files,
or other hosts writing to the same database, never wait for it.

Lock files live where every user's runs meet: root's cron ingest and an admin's ingest by
hand of the same file must exclude each other. That is ``/run/lock`` (Debian's
``/var/lock``: root's, mode 1777), or ``$SIPPARSE_LOCK_DIR``, as ``sipparse-NAME.DIGEST.lock``
files of mode 0644 (a flock needs only a file one may read, whatever the umask). As any
user may make a name there first, a name is taken only when it is a plain file (not a
link, no second name) and belongs to root, to the user running, or to a user who may read
the log itself (so could run sipparse on it); else, and where there is no shared directory,
the lock file goes to a directory of this user only: for root ``/run/sipparse``, else
``$XDG_RUNTIME_DIR/sipparse``, else ``/tmp/sipparse-<uid>`` (mode 0700, files 0600).
The kernel drops a flock when its holder dies, so a SIGKILLed run never leaves a stale lock.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import stat
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from sipparse.digest import sha1_hex
from sipparse.errors import SipparseError

SHARED_DIR = Path("/run/lock")


class LockBusy(SipparseError):
    """Another sipparse process holds the lock of this log file."""


def lock_dir() -> Path:
    """The directory of this user's own lock files (see the module docstring for the order)."""
    candidates = lock_dir_candidates(os.environ, os.getuid())
    for directory in candidates:
        if _usable_dir(directory):
            return directory
    raise SipparseError(f"no usable lock directory (tried {', '.join(map(str, candidates))}): "
                        "name one, writable by this user only, with SIPPARSE_LOCK_DIR")


def shared_lock_dir(environ: Mapping[str, str] | None = None, default: Path = SHARED_DIR) -> Path | None:
    """The directory all users' runs share (``$SIPPARSE_LOCK_DIR`` when it is one), if any."""
    env = os.environ if environ is None else environ
    directory = Path(env["SIPPARSE_LOCK_DIR"]) if env.get("SIPPARSE_LOCK_DIR") else default
    return directory if is_shared_dir(directory) else None


def is_shared_dir(directory: Path) -> bool:
    """A real directory of root that every user may write to and where only a file's owner
    may remove it (the sticky bit): nobody can take away another user's lock file there."""
    try:
        st = directory.lstat()
    except OSError:
        return False
    return (stat.S_ISDIR(st.st_mode) and st.st_uid == 0 and st.st_mode & stat.S_ISVTX != 0
            and st.st_mode & stat.S_IWOTH != 0)


def lock_dir_candidates(environ: Mapping[str, str], uid: int, run: Path = Path("/run"),
                        tmp: Path = Path("/tmp")) -> list[Path]:
    """This user's own lock directories, in order of preference: where a lock goes when no
    shared one can take it. Root never makes its own in a directory every user may write to
    (``/tmp``): another user could make the name first."""
    given = environ.get("SIPPARSE_LOCK_DIR")
    if given and not is_shared_dir(Path(given)):
        return [Path(given)]
    runtime = [Path(environ["XDG_RUNTIME_DIR"]) / "sipparse"] if environ.get("XDG_RUNTIME_DIR") else []
    if uid == 0:
        return [run / "sipparse", *runtime]
    return [*runtime, tmp / f"sipparse-{uid}"]


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


def lock_key(log_path: str | os.PathLike[str]) -> str:
    """The path a lock is keyed by: the log's directory with its symbolic links and ``..``
    resolved, and the log itself when it is a link. Runs through ``/var/log/pjsip-link``, a
    linked directory or a relative name then meet at one lock. The key stays a path, not an
    inode: a rotation renames the file, never the name the next runs lock."""
    path = os.path.join(os.getcwd(), os.fspath(log_path))
    directory, name = os.path.split(path)
    if name in ("", ".", ".."):
        return os.path.realpath(path)
    resolved = os.path.join(os.path.realpath(directory), name)
    return os.path.realpath(resolved) if os.path.islink(resolved) else resolved


def lock_name(log_path: str | os.PathLike[str], role: str = "") -> str:
    """The lock file's name for one log path: a digest of its key (``lock_key``), plus its
    name for humans (and the role of the lock, when it is not the one of reading the log)."""
    absolute = lock_key(log_path)
    digest = sha1_hex(absolute.encode("utf-8", "surrogateescape"))[:16]
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in os.path.basename(absolute))[:40]
    return f"{name}.{digest}{'.' + role if role else ''}.lock"


def lock_path_for(log_path: str | os.PathLike[str], role: str = "") -> Path:
    """Where the lock file of one log path is first looked for: the shared directory, when
    there is one, else this user's own."""
    shared = shared_lock_dir()
    name = lock_name(log_path, role)
    return shared / f"sipparse-{name}" if shared else lock_dir() / name


def may_read(uid: int, st: os.stat_result) -> bool:
    """Whether user ``uid`` may read a file of status ``st`` by its mode bits."""
    if st.st_mode & stat.S_IROTH or uid == 0:
        return True
    if uid == st.st_uid:
        return st.st_mode & stat.S_IRUSR != 0
    if not st.st_mode & stat.S_IRGRP:
        return False
    try:
        user = pwd.getpwuid(uid)
        return user.pw_gid == st.st_gid or user.pw_name in grp.getgrgid(st.st_gid).gr_mem
    except KeyError:
        return False


def _honoured(lock: os.stat_result, log_path: str) -> bool:
    """Whether a lock file found in the shared directory is one to meet other runs at: a
    plain file of root, of this user, or of a user who may read the log (or no log yet)."""
    if not stat.S_ISREG(lock.st_mode) or lock.st_nlink != 1:
        return False
    if lock.st_uid in (0, os.geteuid()):
        return True
    try:
        return may_read(lock.st_uid, os.stat(log_path))
    except OSError:
        return True


def _open_shared(path: Path, log_path: str) -> int | None:
    """An fd of the lock file ``path`` of the shared directory, made when absent; None when
    the name there is not one to honour (a link, another user's file, ...)."""
    for _ in range(3):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
            except FileExistsError:
                continue  # another run made it in between: open theirs
            except OSError:
                return None
            os.fchmod(fd, 0o644)  # readable by the other users' runs whatever the umask
            return fd
        except OSError:
            return None  # a symbolic link (ELOOP), or a file we may not read
        if _honoured(os.fstat(fd), log_path):
            return fd
        os.close(fd)
        return None
    return None


def _open_own(path: Path) -> int:
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


class LogLock:
    """An exclusive flock for one log path; ``acquire(wait=False)`` raises LockBusy when held.

    Use as ``with LogLock(path).acquire(wait=False): ...``.
    """

    def __init__(self, log_path: str | os.PathLike[str], role: str = "") -> None:
        self.log_path = os.fspath(log_path)
        self.role = role
        self.path = lock_path_for(log_path, role)
        self._fd: int | None = None

    def _open(self) -> int:
        """The shared lock file, or this user's own where the shared one is not to be used."""
        if self.path.name.startswith("sipparse-") and is_shared_dir(self.path.parent):
            fd = _open_shared(self.path, self.log_path)
            if fd is not None:
                return fd
            self.path = lock_dir() / lock_name(self.log_path, self.role)
        return _open_own(self.path)

    def acquire(self, wait: bool = False, timeout: float | None = None) -> LogLock:
        fd = self._open()
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
        _note_pid(fd)
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


def _note_pid(fd: int) -> None:
    """Write the holder's pid into a lock file of this user's (another's is only read)."""
    st = os.fstat(fd)
    if st.st_uid != os.geteuid() or st.st_nlink != 1 or fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
        return
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
