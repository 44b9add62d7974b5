"""The file operations of rotation, written to be safe when run as root in a directory
another user can write to (``/var/log/asterisk`` is often owned by ``asterisk``).

Rules kept throughout: a name is looked at with ``lstat`` and a symlink is refused; files are
opened with ``O_NOFOLLOW`` and created with ``O_EXCL`` (or put in place by ``link``), so a
link planted between a check and an open makes the open fail instead of writing through it;
content moves by ``rename``, which replaces a name and never follows a link; and a new file
gets its owner, group and mode from the file it replaces, so rotation never widens access to
a log.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import tempfile
from dataclasses import dataclass

from sipparse.errors import SipparseError

CHUNK = 1 << 20
GZIP_LEVEL = 6
NOFOLLOW_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
NEW_SUFFIX = ".new"


class RotateError(SipparseError):
    """A log file could not be rotated safely."""


@dataclass
class Generation:
    """One rotated generation, ``PATH.3`` / ``PATH.3.gz`` or ``PATH-20261129[-N][.gz]``.

    Both forms exist at once only after a crash during compression; the plain one is then the
    complete one (the .gz was being written from it).
    """

    key: tuple[int, int]  # (n, 0) for PATH.n, (yyyymmdd, seq) for dated names
    base: str  # the name without .gz
    plain: str | None = None
    gz: str | None = None
    mtime: float = 0.0

    @property
    def files(self) -> list[str]:
        return [name for name in (self.plain, self.gz) if name is not None]


def log_stat(path: str) -> os.stat_result | None:
    """``lstat`` of a log or generation; ``None`` when missing, refused when not a plain file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(st.st_mode):
        raise RotateError(f"refusing to rotate {path}: it is a symbolic link (give the real file instead)")
    if not stat.S_ISREG(st.st_mode):
        raise RotateError(f"refusing to rotate {path}: not a regular file")
    return st


def scan_generations(path: str, dateext: bool) -> list[Generation]:
    """The rotated generations of ``path``, newest first; a symlink among them is refused."""
    directory, name = os.path.split(path)
    pattern = _dated_pattern(name) if dateext else _numbered_pattern(name)
    found: dict[tuple[int, int], Generation] = {}
    for entry in os.listdir(directory or "."):
        match = pattern.fullmatch(entry)
        if match:
            _add(found, os.path.join(directory, entry), match, dateext)
    # PATH.1 is the newest numbered one; PATH-20261130 is newer than PATH-20261129-2
    return sorted(found.values(), key=lambda g: g.key, reverse=dateext)


def unfinished_compressions(path: str) -> list[str]:
    """Temp files of a compression of ``path``'s generations that was killed before its rename.

    Only a rotation of ``path`` writes them, under its lock: found by the next one, they are
    the leftovers of a run that died (SIGKILL, power loss), never work in progress.
    """
    directory, name = os.path.split(path)
    pattern = re.compile(r"\." + re.escape(name) + r"(?:\.[0-9]+|-[0-9]{8}(?:-[0-9]+)?)\.gz\.[^/]+\.tmp")
    return sorted(os.path.join(directory, entry) for entry in os.listdir(directory or ".")
                  if pattern.fullmatch(entry))


def _numbered_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"\.([1-9][0-9]{0,5})(\.gz)?")


def _dated_pattern(name: str) -> re.Pattern[str]:
    return re.compile(re.escape(name) + r"-([0-9]{8})(?:-([1-9][0-9]{0,5}))?(\.gz)?")


def _add(found: dict[tuple[int, int], Generation], full: str, match: re.Match[str], dateext: bool) -> None:
    st = log_stat(full)
    if st is None:  # deleted since listdir
        return
    key = (int(match[1]), int(match[2] or 0)) if dateext else (int(match[1]), 0)
    base = full[:-3] if full.endswith(".gz") else full
    gen = found.setdefault(key, Generation(key, base))
    if full.endswith(".gz"):
        gen.gz = full
    else:
        gen.plain = full
    gen.mtime = max(gen.mtime, st.st_mtime)


def prepare_like(path: str, st: os.stat_result) -> str:
    """An empty file beside ``path`` with the owner, group and mode of ``st``, to take its name.

    It is made before the log is renamed, so that a disk refusing a new file (no inode
    left) stops the rotation before anything moved: the log never goes missing with its
    writer still appending to the renamed file and no postrotate to tell it.
    """
    directory, name = os.path.split(path)
    fd, prepared = tempfile.mkstemp(prefix=f".{name}.", suffix=NEW_SUFFIX, dir=directory or ".")
    try:
        copy_ownership(fd, st)
    except BaseException:
        os.unlink(prepared)
        raise
    finally:
        os.close(fd)
    return prepared


def put_in_place(prepared: str, path: str) -> bool:
    """Give ``prepared`` the name ``path``; False, and ``prepared`` dropped, if ``path`` exists already.

    ``link`` never replaces a name, nor follows a link planted there: a file the writer
    created first keeps the lines it holds. Where a link is refused (a file system without
    them, a tmpfs out of inodes counts each link as one) ``rename`` does it: ``path`` was
    free a moment ago, and the writer has not been told to reopen yet.
    """
    try:
        os.link(prepared, path, follow_symlinks=False)
    except FileExistsError:
        os.unlink(prepared)
        return False
    except OSError:
        os.rename(prepared, path)
        return True
    os.unlink(prepared)
    return True


def unfinished_creations(path: str) -> list[str]:
    """New files prepared for ``path`` (``prepare_like``) by a rotation killed before it put them in place.

    Found with ``path`` missing, one means the log was renamed and its new file never put
    in place; found beside ``path``, they are spares of a run killed before its rename.
    """
    directory, name = os.path.split(path)
    pattern = re.compile(r"\." + re.escape(name) + r"\.[a-z0-9_]{8}" + re.escape(NEW_SUFFIX))  # mkstemp's
    try:
        entries = os.listdir(directory or ".")
    except FileNotFoundError:  # a log in a directory not made yet is just missing
        return []
    return sorted(os.path.join(directory, entry) for entry in entries if pattern.fullmatch(entry))


def copy_ownership(fd: int, st: os.stat_result) -> None:
    """Give an open file the owner, group and mode of ``st`` (owner only where we may)."""
    try:
        os.fchown(fd, st.st_uid, st.st_gid)
    except PermissionError:
        if os.geteuid() == 0:
            raise
        # not root: we can only keep our own uid; a group we are not in is refused by the kernel
    os.fchmod(fd, stat.S_IMODE(st.st_mode))


def fsync_dir(directory: str) -> None:
    """Make renames and creations in ``directory`` durable."""
    fd = os.open(directory or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def compress_file(plain: str, target: str) -> bool:
    """gzip ``plain`` into ``target`` atomically and remove ``plain``; False (nothing changed) if it grew.

    The .gz is written to a temp file in the same directory, fsynced, given the plain file's
    owner, mode and mtime (max-age reads it), and renamed into place; the plain file is
    unlinked last, and only if nothing was appended to it meanwhile.
    """
    src = os.open(plain, NOFOLLOW_READ)
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode):
            raise RotateError(f"refusing to compress {plain}: not a regular file")
        tmp = _write_gzip(src, target, st)
    finally:
        os.close(src)
    if _grew(plain, st):
        os.unlink(tmp)
        return False
    os.rename(tmp, target)
    fsync_dir(os.path.dirname(target))
    if _grew(plain, st):
        # appended between the check and the rename: the plain file stays the complete copy
        os.unlink(target)
        return False
    os.unlink(plain)
    fsync_dir(os.path.dirname(plain))
    return True


def _write_gzip(src: int, target: str, st: os.stat_result) -> str:
    directory, name = os.path.split(target)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory or ".")
    try:
        with os.fdopen(fd, "wb", closefd=False) as raw:
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=GZIP_LEVEL,
                               mtime=int(st.st_mtime)) as gz:
                _copy_exactly(src, gz, st.st_size)
            raw.flush()
            copy_ownership(fd, st)
            os.fsync(fd)
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    except BaseException:
        os.unlink(tmp)
        raise
    finally:
        os.close(fd)
    return tmp


def _copy_exactly(src: int, out: gzip.GzipFile, size: int) -> None:
    """Copy the first ``size`` bytes: what the file held when we looked at it."""
    left = size
    while left > 0:
        chunk = os.read(src, min(CHUNK, left))
        if not chunk:
            raise RotateError(f"file shrank while being compressed (fd {src})")
        out.write(chunk)
        left -= len(chunk)


def _grew(path: str, before: os.stat_result) -> bool:
    now = os.lstat(path)
    return now.st_ino != before.st_ino or now.st_size != before.st_size


def copy_and_truncate(path: str, target: str) -> int:
    """copytruncate: copy ``path`` to a new ``target`` then truncate ``path`` in place.

    Lines the writer appends between the last read and the truncate are lost; that window
    is kept to a few system calls by copying in two passes: the bulk (then fsync), and
    right before truncating whatever arrived during the bulk copy.
    """
    src = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        st = os.fstat(src)
        if not stat.S_ISREG(st.st_mode):
            raise RotateError(f"refusing to rotate {path}: not a regular file")
        if st.st_nlink > 1:  # another name may be a file of someone else (/etc/shadow), emptied too
            raise RotateError(f"refusing to truncate {path}: it has {st.st_nlink} hard links")
        return _copy_then_truncate(src, target, st)
    finally:
        os.close(src)


def _copy_then_truncate(src: int, target: str, st: os.stat_result) -> int:
    dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        copy_ownership(dst, st)
        copied = _drain(src, dst)
        os.fsync(dst)
        copied += _drain(src, dst)
        os.ftruncate(src, 0)
        os.fsync(dst)
    except BaseException:
        os.close(dst)
        raise
    os.close(dst)
    fsync_dir(os.path.dirname(target))
    return copied


def _drain(src: int, dst: int) -> int:
    """Copy from the current offset of ``src`` to its end; return the bytes copied."""
    total = 0
    while True:
        chunk = os.read(src, CHUNK)
        if not chunk:
            return total
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view):]
        total += len(chunk)
