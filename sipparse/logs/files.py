"""Log files as ingest sees them: identity that survives rotation, compression, rotated siblings.

A log file is identified by a *fingerprint* of its first bytes, not by its name or inode:
logrotate renames ``pjsip`` to ``pjsip.1`` and later compresses it to ``pjsip.2.gz``, and
the checkpoint of what was read must follow the content through both. The fingerprint is
the SHA-1 of the file's first lines: the bytes up to the first newline found at or after
byte ``FINGERPRINT_MIN_BYTES`` (512, so that files starting with the same banner or the
same first header line are still told apart), capped at ``FINGERPRINT_MAX_BYTES``. Once a
file holds that much it never changes as the file grows. A shorter file has no fingerprint
yet and is left for a later run: it holds at most one small message, and that message is
read, from offset 0, as soon as the file has grown past the threshold. A short file that
will not grow any more (a rotated generation left untouched, or gzip-compressed) is
identified by all of its bytes instead (``finished``), so that a quiet host's one OPTIONS
exchange is not lost when logrotate moves it away. For compressed files (gzip, bzip2, xz)
the fingerprint is taken over the decompressed bytes, so compression keeps the identity.

copytruncate is recognised without any help from the rotating tool: the truncated file
either starts with other bytes (another fingerprint: a new file, read from 0) or is smaller
than the checkpoint says it was (same fingerprint, read again from 0; storage dedups).
"""

from __future__ import annotations

import bz2
import errno
import glob
import gzip
import io
import lzma
import os
import re
import stat
import struct
import zlib
from dataclasses import dataclass, replace
from typing import BinaryIO

from sipparse.digest import sha1_hex
from sipparse.errors import LogFileError

# Enough to hold something unique to the file (a Call-ID, a branch, a tag): logs that
# start alike (the same banner, the same first header line) must not share a checkpoint.
FINGERPRINT_MIN_BYTES = 512
FINGERPRINT_MAX_BYTES = 4096
GZIP_MAGIC = b"\x1f\x8b"
# What logrotate's usual ``compresscmd``s write, by their magic bytes: all are read
MAGICS = {"gzip": GZIP_MAGIC, "bzip2": b"BZh", "xz": b"\xfd7zXZ\x00"}
# ... and those Python's standard library cannot decompress: such a file is said, not read
UNREAD_MAGICS = {"zstd": b"\x28\xb5\x2f\xfd", "lz4": b"\x04\x22\x4d\x18", "compress": b"\x1f\x9d"}
MAGIC_BYTES = max(len(magic) for magic in (*MAGICS.values(), *UNREAD_MAGICS.values()))
HEAD_BYTES = 64 << 10
READ_PIECE = 1 << 20  # decompressed bytes per step of ``_CutReads.read``
# What reading a log may raise: the file's own errors, and its compressed data's
READ_ERRORS = (OSError, EOFError, zlib.error, lzma.LZMAError)
UNKNOWN_SIZE = -1  # of bzip2 data not decompressed yet (``inspect``'s ``sized``)

# What logrotate's ``dateext`` appends: ``dateformat`` (``-%Y%m%d`` by default; ``-%Y-%m-%d``,
# ``-%Y%m%d%H``, ``.%Y-%m-%d``...), then ``-N`` for a second rotation the same day (`sipparse
# rotate`) or the epoch seconds of ``%s``; or ``-%s`` alone.
_DATE = r"(?:19|20)[0-9]{2}[-_.]?[0-9]{2}[-_.]?[0-9]{2}(?:[-_T]?[0-9]{2}){0,3}"
_DATED = rf"[-._](?:{_DATE}(?:[-_.][0-9]+){{0,2}}|[0-9]{{9,10}})"
# A generation's number, or its date (``dateext``)
_GENERATION = rf"(?:\.[0-9]+|{_DATED})"
# A compressed generation's suffix: logrotate's ``compressext`` for its usual ``compresscmd``s
_COMPRESSION_SUFFIX = r"\.(?:gz|bz2|xz|lzma|zst|lz4|Z)"
_COMPRESSED = rf"(?:{_COMPRESSION_SUFFIX})?"
# A name's extension: a suffix that is not a number (``.log``, not ``.1``)
_EXTENSION_TEXT = r"\.[^.]*[^.0-9][^.]*"
# What logrotate and `sipparse rotate` append to NAME for a rotated generation: NAME.1,
# NAME.2.gz, NAME-20261129, NAME-20261129-2, NAME-20261129.1.gz; never NAME-2 (another log)
_ROTATED_SUFFIX = re.compile(rf"{_GENERATION}{_COMPRESSED}")
# NAME's extension, which logrotate's ``extension`` keeps last: pjsip.log -> pjsip.1.log, pjsip.2.log.gz
_EXTENSION = re.compile(rf"(.+)({_EXTENSION_TEXT})")
# A name ending as a generation's does, whatever its log: pjsip.1, pjsip.log-20261203, x.2.gz, x.xz
_GENERATION_END = re.compile(rf"(?:{_GENERATION}{_COMPRESSED}|{_COMPRESSION_SUFFIX})\Z")
# ... or a name logrotate's ``extension`` gives: STEM.1.log of STEM.log
_KEPT_EXTENSION_GENERATION = re.compile(rf"(.+){_GENERATION}({_EXTENSION_TEXT}){_COMPRESSED}")


class UnreadCompression(LogFileError):
    """A log compressed by a program whose format is not read (zstd, lz4, compress)."""

    def __init__(self, path: str, codec: str) -> None:
        self.path, self.codec = path, codec
        super().__init__(
            f"{path} not read: it is {codec}-compressed, which sipparse does not decompress. Have logrotate "
            f"compress with gzip, bzip2 or xz (compresscmd), or decompress it ({_UNPACK[codec]}) for the "
            "next run to read it")


_UNPACK = {"zstd": "zstd -d", "lz4": "lz4 -d", "compress": "uncompress"}


@dataclass(frozen=True, slots=True)
class LogFile:
    """One log file as found on disk, with the identity ingest keys its checkpoint by.

    ``size`` is the on-disk size for plain files and the decompressed size for compressed
    ones (from the gzip trailer, modulo 4 GiB; bzip2 and xz ones are decompressed to learn
    it); ``fingerprint`` is None while the file is too short to have one. ``codec`` names
    the compression (``gzip``, ``bzip2``, ``xz``) of a compressed file.
    """

    path: str
    fingerprint: str | None
    size: int
    inode: int
    device: int
    mtime: float
    codec: str | None = None

    @property
    def compressed(self) -> bool:
        """Whether its data is compressed (``codec`` says how)."""
        return self.codec is not None


def fingerprint_of(head: bytes, finished: bool = False) -> str | None:
    """The fingerprint of a file starting with ``head``, or None when it is too short yet.

    ``finished``: the file will not grow (``head`` is all of it when shorter than
    ``FINGERPRINT_MAX_BYTES``), so a short one is identified by all its bytes. Those
    differ in length from every growing file's, so the two kinds never share an identity.
    """
    newline = head.find(b"\n", FINGERPRINT_MIN_BYTES - 1)
    if newline >= 0:
        end = min(newline + 1, FINGERPRINT_MAX_BYTES)
    elif len(head) >= FINGERPRINT_MAX_BYTES or (finished and head):
        end = FINGERPRINT_MAX_BYTES
    else:
        return None
    return sha1_hex(head[:end])


def open_fd(path: str, flags: int = 0) -> int:
    """A descriptor of ``path`` for reading; a symbolic link is followed only if root or this
    user made it. One of another user, planted where they may write (``/var/log/asterisk`` is
    often the ``asterisk`` user's) and named by a glob, would have this run read for them a
    file they may not: its first line quoted in a warning, SIP in it stored.

    Opened without waiting (O_NONBLOCK, which changes nothing for a regular file): a FIFO
    that took the log's place after it was looked at (an rsyslog ``ompipe``) would have the
    opening wait for a writer, for ever, the run holding its locks."""
    flags |= os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK
    try:
        return os.open(path, flags | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            raise
    owner = os.lstat(path).st_uid
    if owner not in (0, os.geteuid()):
        raise PermissionError(errno.EPERM, f"a symbolic link of another user (uid {owner}), not followed", path)
    return os.open(path, flags)


def codec_of(path: str) -> str | None:
    """The compression of a file (``gzip``, ``bzip2``, ``xz``) by its magic bytes (the name
    may not say it: ``compressext`` is free), None for a plain file.

    :raises UnreadCompression: it is compressed in a format that is not read: read as plain,
        its binary data would be passed over in silence, or taken for an unknown log format.
    """
    with os.fdopen(open_fd(path), "rb") as fh:
        head = fh.read(6)
    unread = next((codec for codec, magic in UNREAD_MAGICS.items() if head.startswith(magic)), None)
    if unread is not None:
        raise UnreadCompression(path, unread)
    return next((codec for codec, magic in MAGICS.items() if head.startswith(magic)), None)


def compressed_head(head: bytes) -> bool:
    """Whether a file starting with ``head`` is compressed, in a format read or not."""
    return any(head.startswith(magic) for magic in (*MAGICS.values(), *UNREAD_MAGICS.values()))


def unread_mark(path: str, codec: str) -> str | None:
    """An identity of a file in a compression not read (``UnreadCompression``), by its own
    first bytes as they are (its data cannot be reached): kept through renames, as a
    fingerprint is; None when it cannot be read. It never equals a fingerprint (a SHA-1 alone)."""
    try:
        with os.fdopen(open_fd(path), "rb") as fh:
            head = fh.read(FINGERPRINT_MAX_BYTES)
    except OSError:
        return None
    return f"{codec}:{sha1_hex(head)}"


def inspect(path: str, finished: bool = False, sized: bool = True) -> LogFile | None:
    """Look at a log file cheaply (stat + its first bytes); None when it does not exist.

    ``finished``: the file is known not to grow any more (compressed files never do), so a
    short one gets a fingerprint too (``fingerprint_of``).
    ``sized``: learn the size of bzip2 data, which takes decompressing it all; else its
    ``size`` is ``UNKNOWN_SIZE`` until ``with_size`` learns it.
    Raises LogFileError when it exists but cannot be read, or its head not decompressed.
    """
    try:
        st = os.stat(path)
        if not stat.S_ISREG(st.st_mode):
            raise LogFileError(f"{path} is not a regular file")
        codec = codec_of(path)
        head = read_head(path, codec, FINGERPRINT_MAX_BYTES)
        if not codec:
            size = st.st_size
        elif codec == "bzip2" and not sized:
            size = UNKNOWN_SIZE
        else:
            size = _decompressed_size(path, codec)
    except FileNotFoundError:
        return None
    except READ_ERRORS as exc:  # gzip.BadGzipFile is an OSError
        raise LogFileError(f"cannot read {path}: {_reason(exc)}") from None
    return LogFile(path, fingerprint_of(head, finished or codec is not None), size, st.st_ino, st.st_dev,
                   st.st_mtime, codec)


def with_size(lf: LogFile) -> LogFile:
    """``lf`` with its size learnt, when ``inspect`` left it unknown (``sized``).

    Raises LogFileError when its data cannot be decompressed."""
    if lf.size != UNKNOWN_SIZE or lf.codec is None:
        return lf
    try:
        return replace(lf, size=_decompressed_size(lf.path, lf.codec))
    except READ_ERRORS as exc:
        raise LogFileError(f"cannot read {lf.path}: {_reason(exc)}") from None


def inspect_open(fh: BinaryIO, path: str) -> LogFile:
    """Like ``inspect`` for a plain file already open (it may have been renamed since)."""
    st = os.fstat(fh.fileno())
    head = os.pread(fh.fileno(), FINGERPRINT_MAX_BYTES, 0)
    return LogFile(path, fingerprint_of(head), st.st_size, st.st_ino, st.st_dev, st.st_mtime)


def read_head_of(fh: BinaryIO, lf: LogFile) -> bytes:
    """The first bytes of an open log, without moving its position (plain files) or by path
    (compressed ones)."""
    if lf.codec:
        return read_head(lf.path, lf.codec)
    return os.pread(fh.fileno(), HEAD_BYTES, 0)


def read_head(path: str, codec: str | None, limit: int = HEAD_BYTES) -> bytes:
    """The first ``limit`` bytes of a file, decompressed when it is compressed (``codec``);
    of data that ends before, what could be decoded (read whole, not lost with the EOFError)."""
    with open_log(path, codec, settled=True) as fh:
        return _read_upto(fh, limit)


def _read_upto(fh: BinaryIO, limit: int) -> bytes:
    """Read up to ``limit`` bytes; a truncated gzip member yields what could be decoded."""
    chunks: list[bytes] = []
    got = 0
    try:
        while got < limit:
            chunk = fh.read(limit - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
    except EOFError:
        pass
    return b"".join(chunks)


class _CutReads:
    """A compressed stream whose data may end early (a compression cut short by a full disk
    or a crash): it yields all it holds, then ends as if whole, and says so in ``cut_short``.

    Only for a file that has stopped changing: one still being compressed ends early too,
    and read as it is, its last message would be taken cut. Others raise EOFError there.

    Bytes after the last member that are not another member (padding a copy tool or a
    filesystem left, a stray write) end the data too, as gzip(1) ends it ("trailing garbage
    ignored"), and ``trailing`` says so: Python's gzip raises there, after the data, and
    the file's last messages would never be read. (bzip2 and xz streams end so of themselves.)
    """

    cut_short = False
    trailing = False
    tolerant = True

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all, when negative), gathered piece by piece (``read1``): a
        single read of the whole size would lose what it decoded before the data ended."""
        wanted = -1 if size is None or size < 0 else size
        pieces, got = [], 0
        while not (self.cut_short or self.trailing) and (wanted < 0 or got < wanted):
            try:
                step = READ_PIECE if wanted < 0 else min(READ_PIECE, wanted - got)
                piece = self.read1(step)  # type: ignore[attr-defined]  # the stream's own
            except EOFError:
                if not self.tolerant:
                    raise
                self.cut_short = True
                break
            except gzip.BadGzipFile as exc:
                # raised for a member's magic bytes only; the first member's were checked (codec_of)
                if not str(exc).startswith("Not a gzipped file"):
                    raise
                self.trailing = True
                break
            if not piece:
                break
            pieces.append(piece)
            got += len(piece)
        return b"".join(pieces)


class CutGzipFile(_CutReads, gzip.GzipFile):
    """A gzip stream read as ``_CutReads`` says."""


class CutBZ2File(_CutReads, bz2.BZ2File):
    """A bzip2 stream (logrotate's ``compresscmd bzip2``) read as ``_CutReads`` says."""


class CutLZMAFile(_CutReads, lzma.LZMAFile):
    """An xz stream (logrotate's ``compresscmd xz``) read as ``_CutReads`` says, stream
    padding included: Python's own reader takes zero bytes after a stream for data that
    ends early (at the file's end) or for trailing garbage (before another stream)."""

    def __init__(self, raw: BinaryIO, mode: str = "rb") -> None:
        super().__init__(raw, mode=mode)
        reader = type(self._buffer.raw)  # the standard library's (its module moved in Python 3.14)
        self._buffer = io.BufferedReader(reader(self._fp, _PaddedXZDecompressor, trailing_error=lzma.LZMAError))


class _PaddedXZDecompressor:
    """An xz stream's decompressor that first passes over the zero bytes of stream padding
    before it; given nothing but padding, it is at an end (what follows may be nothing)."""

    def __init__(self) -> None:
        self._stream: lzma.LZMADecompressor | None = None
        self._padding_only = False

    def decompress(self, data: bytes, max_length: int = -1) -> bytes:
        if self._stream is None:
            data = data.lstrip(b"\0")
            self._padding_only = not data
            if not data:
                return b""
            self._stream = lzma.LZMADecompressor(lzma.FORMAT_XZ)
        return self._stream.decompress(data, max_length)

    @property
    def eof(self) -> bool:
        return self._padding_only or (self._stream is not None and self._stream.eof)

    @property
    def needs_input(self) -> bool:
        return self._stream is None or self._stream.needs_input

    @property
    def unused_data(self) -> bytes:
        return b"" if self._stream is None else self._stream.unused_data


def _decompressing(codec: str, raw: BinaryIO) -> _CutReads:
    """``raw``'s bytes decompressed as ``codec`` says."""
    if codec == "gzip":
        return CutGzipFile(fileobj=raw, mode="rb")
    if codec == "bzip2":
        return CutBZ2File(raw, mode="rb")
    return CutLZMAFile(raw, mode="rb")


def open_log(path: str, codec: str | None, settled: bool = False) -> BinaryIO:
    """Open a log for reading as a binary stream of its (decompressed) bytes; ``codec`` is
    its compression (``codec_of``), None for a plain file.

    ``settled``: the file has stopped changing, so compressed data that ends early is read up
    to there (``_CutReads``) instead of raising EOFError.
    """
    raw = os.fdopen(open_fd(path), "rb")
    if not codec:
        return raw
    try:
        fh = _decompressing(codec, raw)
    except BaseException:
        raw.close()
        raise
    fh.tolerant = settled
    return fh  # type: ignore[return-value]


def open_at(path: str, codec: str | None, offset: int, settled: bool = False) -> BinaryIO:
    """Open a log positioned at ``offset`` of its decompressed bytes (``settled``: see open_log)."""
    fh = open_log(path, codec, settled)
    if offset:
        if codec:
            _skip(fh, offset)
        else:
            fh.seek(offset)
    return fh


def _skip(fh: BinaryIO, count: int) -> None:
    """Gzip streams cannot seek for free: decompress and drop, in bounded chunks."""
    while count > 0:
        chunk = fh.read(min(count, 1 << 20))
        if not chunk:
            return
        count -= len(chunk)


def _decompressed_size(path: str, codec: str) -> int:
    """The size of a compressed file's data: gzip's from its trailer, xz's from its index,
    bzip2's (whose streams do not hold it) by decompressing it all. Data that ends early is
    measured up to there: whether that is an error (a file being compressed still) is for
    its reading to say (``open_log``'s ``settled``), as for a gzip file."""
    if codec == "gzip":
        return _gzip_size(path)
    if codec == "xz":
        size = _xz_size(path)
        if size is not None:
            return size
    return _size_by_reading(path, codec)


def _size_by_reading(path: str, codec: str) -> int:
    """The size of a compressed file's data, decompressed in bounded pieces and counted."""
    size = 0
    with open_log(path, codec, settled=True) as fh:
        while piece := fh.read(READ_PIECE):
            size += len(piece)
    return size


def _xz_size(path: str) -> int | None:
    """The size of an xz file's data as the indexes of its streams say it, read from the end
    in O(streams), stream padding passed over; None when they cannot be read so (cut short: ``_size_by_reading``
    then tells what can be decompressed). The data itself is checked as it is read."""
    with os.fdopen(open_fd(path), "rb") as fh:
        end = fh.seek(0, io.SEEK_END)
        total = 0
        while (end := _before_padding(fh, end)) > 0:
            try:
                found = _xz_stream_before(fh, end)
            except ValueError:
                return None
            if found is None:
                return None
            start, size = found
            total, end = total + size, start
        return total


def _before_padding(fh: BinaryIO, end: int) -> int:
    """Where the xz stream padding (zero bytes, in fours) that ends at ``end`` starts."""
    while end >= 4:
        fh.seek(end - 4)
        if fh.read(4) != bytes(4):
            break
        end -= 4
    return end


def _xz_stream_before(fh: BinaryIO, end: int) -> tuple[int, int] | None:
    """(start, data size) of the xz stream that ends at ``end``, from its footer and index."""
    if end < 24:
        return None
    fh.seek(end - 12)
    footer = fh.read(12)
    if footer[10:] != b"YZ":
        return None
    index_size = (struct.unpack("<I", footer[4:8])[0] + 1) * 4
    if index_size > end - 24:
        return None
    fh.seek(end - 12 - index_size)
    index = fh.read(index_size)
    if not index or index[0] != 0:
        return None
    records, pos = _varint(index, 1)
    blocks = data = 0
    for _ in range(records):
        unpadded, pos = _varint(index, pos)
        uncompressed, pos = _varint(index, pos)
        blocks += (unpadded + 3) & ~3
        data += uncompressed
    start = end - 12 - index_size - blocks - 12
    if start < 0:
        return None
    fh.seek(start)
    return (start, data) if fh.read(6) == MAGICS["xz"] else None


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """An xz multibyte integer at ``pos``: (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("bad xz index")
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos, shift = pos + 1, shift + 7
        if not byte & 0x80:
            return value, pos


def _gzip_size(path: str) -> int:
    """The decompressed size from the gzip trailer (ISIZE, modulo 2**32), read in O(1)."""
    with os.fdopen(open_fd(path), "rb") as fh:
        fh.seek(0, io.SEEK_END)
        if fh.tell() < 18:
            return 0
        fh.seek(-4, io.SEEK_END)
        return int(struct.unpack("<I", fh.read(4))[0])


def glob_files(pattern: str) -> list[str]:
    """What a glob names that could be a log, sorted: everything it matches but directories,
    FIFOs, sockets and devices.

    ``/var/log/asterisk/*`` also matches Asterisk's own ``cdr-csv/`` (or an rsyslog ``ompipe``
    FIFO, a log linked to ``/dev/null``), which would fail every run of ingest and of rotate;
    one named as such is still reported by them, and so is a match that cannot be looked at
    (a symlink loop, a dangling link).
    """
    return sorted(p for p in glob.glob(pattern) if _may_be_a_log(p))


def _may_be_a_log(path: str) -> bool:
    """Whether ``path`` is a regular file, or cannot be looked at (to be reported)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True


def is_generation_name(path: str) -> bool:
    """Whether ``path`` is named as a rotated generation is: a number or a date appended to
    a log's name (``pjsip.1``, ``pjsip-20261129``), a compression's suffix (``pjsip.2.bz2``),
    or, where the log it was rotated from is beside it, a number or date before that log's
    extension (``pjsip.1.log`` of ``pjsip.log``; ``10.0.0.5.log`` alone is a host's log)."""
    directory, name = os.path.split(path)
    if _GENERATION_END.search(name):
        return True
    kept = _KEPT_EXTENSION_GENERATION.fullmatch(name)
    return kept is not None and os.path.lexists(os.path.join(directory, kept[1] + kept[2]))


def rotated_siblings(path: str) -> list[str]:
    """The rotated generations of ``path`` in its directory, oldest first (by mtime)."""
    directory, name = os.path.split(os.path.abspath(path))
    try:
        entries = os.listdir(directory)
    except OSError:
        return []
    kept_extension = _kept_extension_pattern(name)
    found = []
    for entry in entries:
        if entry == name:
            continue
        if (entry.startswith(name) and _ROTATED_SUFFIX.fullmatch(entry, len(name))) or (
                kept_extension is not None and kept_extension.fullmatch(entry)):
            full = os.path.join(directory, entry)
            try:
                found.append((os.stat(full).st_mtime, full))
            except OSError:
                continue
    return [full for _, full in sorted(found)]


def _kept_extension_pattern(name: str) -> re.Pattern[str] | None:
    """The names of NAME's generations made with logrotate's ``extension``, which keeps NAME's
    extension after the number or date (``pjsip.1.log``, ``pjsip-20261129.log.gz``); None when
    NAME has no extension."""
    parts = _EXTENSION.fullmatch(name)
    if parts is None:
        return None
    stem, extension = map(re.escape, parts.groups())
    return re.compile(rf"{stem}{_GENERATION}{extension}{_COMPRESSED}")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    if isinstance(exc, EOFError):
        return "its compressed data ends early (being compressed still, or cut short)"
    return str(exc) or type(exc).__name__
