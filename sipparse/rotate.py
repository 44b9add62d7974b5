"""logrotate-like rotation of Asterisk log files that cooperates with ingest and never loses a line.

For each log path, under the same ``LogLock`` that ``sipparse ingest`` takes:

1. ingest the file (and its rotated siblings) to its end, unless ``ingest`` is off;
2. shift the generations (``pjsip.1`` -> ``pjsip.2`` ...) or pick a dated name
   (``pjsip-20261129``, then ``pjsip-20261129-1`` for a second rotation that day);
3. make a new empty file beside the log with its owner, group and mode, rename the log to
   its newest generation and give the new file its name (or, with ``copytruncate``, copy it
   and truncate it in place);
4. run ``postrotate`` so the writer reopens its file;
5. gzip older generations (delaycompress: the newest one stays plain, because the writer may
   still append to it until it has reopened), then drop generations beyond ``keep`` or older
   than ``max_age``.

Lines written between step 1 and the writer's reopen land in the newest generation: ingest
identifies files by a fingerprint of their first bytes, so it finishes the renamed (or later
gzipped) file from its checkpoint on its next run. For the same reason a log still too short
to have a fingerprint (about 512 bytes) is not rotated yet: renamed, it would never be read.

Safe as root: a log path or generation that is a symlink is refused; files are only ever
renamed (which never follows a link), created with ``O_EXCL|O_NOFOLLOW``, and compressed into
a temp file of the same directory that is fsynced and renamed before the plain file goes.
"""

from __future__ import annotations

import enum
import glob
import os
import re
import shlex
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, fields
from typing import Any

from sipparse.config import Settings
from sipparse.errors import ConfigError, LogFileError, SipparseError
from sipparse.logs.files import (
    FINGERPRINT_MAX_BYTES,
    fingerprint_of,
    glob_files,
    is_generation_name,
    rotated_siblings,
)
from sipparse.logs.locks import LockBusy, LogLock
from sipparse.rotate_fs import (
    Generation,
    RotateError,
    compress_file,
    copy_and_truncate,
    fsync_dir,
    log_stat,
    prepare_like,
    put_in_place,
    scan_generations,
    unfinished_compressions,
    unfinished_creations,
)

DEFAULT_LOG = "/var/log/asterisk/pjsip"
SHELL_SYNTAX = re.compile(r"[$`|;&<>]")
IngestFn = Callable[[str], int]  # ingest one log path (and its siblings) to its end, lock held; bytes read
Report = Callable[[str], None]
POSTROTATE_TIMEOUT = 300.0
SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
AGE_UNITS = {"": 86400, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class Outcome(enum.Enum):
    """What became of one log path."""

    ROTATED = "rotated"
    MISSING = "missing"
    TOO_SMALL = "too small"
    BUSY = "busy"
    FAILED = "failed"


@dataclass(frozen=True)
class RotateOptions:
    """What ``sipparse rotate`` does, named after logrotate's directives (cron/README.md maps them).

    :param keep: rotated generations kept (logrotate ``rotate N``), at least 1
    :param min_size: rotate only files of at least this many bytes (empty files never)
    :param max_age: seconds; rotated generations last written longer ago are deleted
    :param delaycompress: leave the newest generation plain (gzip it on the next rotation)
    :param dateext: name generations ``PATH-YYYYMMDD`` instead of ``PATH.N``
    :param copytruncate: copy then truncate in place, for writers that cannot reopen
    :param postrotate: command run after the rename, without a shell unless ``shell``
    :param ingest: ingest each file to its end before rotating it
    :param wait: wait up to ``timeout`` seconds for a lock held by another run
    :param now: the clock (epoch seconds) for dated names and ages; ``None`` is the real one
    """

    keep: int = 7
    min_size: int = 0
    max_age: float | None = None
    compress: bool = True
    delaycompress: bool = True
    dateext: bool = False
    copytruncate: bool = False
    postrotate: str | None = None
    shell: bool = False
    ingest: bool = True
    wait: bool = True
    timeout: float = 600.0
    now: float | None = None

    def clock(self) -> float:
        return time.time() if self.now is None else self.now


_OPTION_KEYS = [f.name for f in fields(RotateOptions) if f.name != "now"]


@dataclass
class FileResult:
    """The outcome for one path; ``error`` is set when it failed, or when its postrotate did."""

    path: str
    outcome: Outcome
    rotated_to: str | None = None
    error: str | None = None


@dataclass
class RotateSummary:
    """The results of one run, path by path, in the order given."""

    results: list[FileResult] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [r.error for r in self.results if r.error]


def parse_size(text: str | int) -> int:
    """``10M``, ``1G``, ``512k``, ``2048`` (bytes; units are powers of 1024, as in logrotate)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return _non_negative(text, str(text))
    match = re.fullmatch(r"\s*(\d+)\s*([kmgt]?)i?b?\s*", str(text), re.IGNORECASE)
    if not match:
        raise ConfigError(f"bad size {text!r}: expected a number with an optional unit k, M, G (e.g. 10M)")
    return int(match[1]) * SIZE_UNITS[match[2].lower()]


def parse_age(text: str | int) -> float:
    """``30d``, ``12h``, ``2w``, ``90m``, ``45s``; a bare number is days (logrotate ``maxage``)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return _non_negative(text, str(text)) * 86400.0
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(text), re.IGNORECASE)
    if not match:
        raise ConfigError(f"bad age {text!r}: expected a number with a unit s, m, h, d, w (e.g. 30d)")
    return float(match[1]) * AGE_UNITS[match[2].lower()]


def _non_negative(value: int, shown: str) -> int:
    if value < 0:
        raise ConfigError(f"bad value {shown}: must not be negative")
    return value


def options_from(config: dict[str, Any], overrides: dict[str, Any]) -> RotateOptions:
    """Options from the config file's ``[rotate]`` section, then the command line (``None`` = not given)."""
    check_section(config)
    merged = {k: v for k, v in config.items() if k in _OPTION_KEYS}
    merged.update({k: v for k, v in overrides.items() if v is not None})
    return _validated(merged)


def check_section(config: dict[str, Any]) -> None:
    """Raise ConfigError, naming the key, for what the config file's ``[rotate]`` section
    cannot hold. Any command that reads the file calls this: only ``sipparse rotate`` uses the
    section, at night from cron, where a typo would first be met."""
    for key, value in config.items():
        if key == "paths":
            if isinstance(value, str) or not isinstance(value, list) or not all(isinstance(p, str) for p in value):
                raise ConfigError(f"[rotate] paths must be a list of strings, not {value!r}")
        elif key not in _OPTION_KEYS:
            raise ConfigError(f"unknown key {key!r} in [rotate] (known: paths, {', '.join(_OPTION_KEYS)})")
    # postrotate's need of a shell is checked with the command line's options (it may say --shell)
    _converted({k: v for k, v in config.items() if k in _OPTION_KEYS}, _config_key)


def check_values(given: dict[str, Any]) -> None:
    """Raise ConfigError for a value of ``given`` (``None``: not given) that is unusable alone."""
    _converted({key: value for key, value in given.items() if value is not None}, _option_name)


def _config_key(key: str) -> str:
    return f"[rotate] {key}"


def _option_name(key: str) -> str:
    return "--" + key.replace("_", "-")


def _validated(values: dict[str, Any]) -> RotateOptions:
    options = _converted(values, _config_key)
    check_postrotate(options.postrotate, options.shell)
    return options


def check_postrotate(command: str | None, shell: bool) -> None:
    """Refuse a postrotate command in shell syntax that is not to run through a shell."""
    if command and not shell and SHELL_SYNTAX.search(command):
        # without a shell, "$(cat pidfile)" would reach the program as a literal argument
        raise ConfigError(f"postrotate {command!r} uses shell syntax: add --shell (config: shell = true)")


def _converted(values: dict[str, Any], name: Callable[[str], str]) -> RotateOptions:
    """The options of ``values``; a value that is unusable is named as ``name`` gives its key."""
    converters: dict[str, Callable[[Any], Any]] = {
        "min_size": parse_size, "max_age": parse_age, "keep": _keep, "timeout": _seconds,
        "postrotate": _text,
    }
    out: dict[str, Any] = {}
    for key, value in values.items():
        convert = converters.get(key, _boolean)
        try:
            out[key] = convert(value)
        except ConfigError as exc:
            raise ConfigError(f"{name(key)}: {exc}") from None
        except (TypeError, ValueError):
            raise ConfigError(f"{name(key)}: bad value {value!r}") from None
    return RotateOptions(**out)


def _keep(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(value)
    if value < 1:
        # keep 0 would delete the renamed file while the writer may still append to it
        raise ConfigError("must be at least 1: the newest generation holds lines written while rotating")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(value)
    if not value >= 0:  # below 0 would not wait at all, NaN would wait for ever
        raise ConfigError(f"must be 0 or more seconds, not {value}")
    return float(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)  # postrotate = 5 would run a program named "5"
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, not {value!r}")
    return value


def ingest_with_lock_held(store: Any, options: Any) -> IngestFn:
    """Rotate's ingest step: ``sipparse ingest`` of one path (and its siblings) under rotate's lock.

    A file ingest could not read is not rotated: its unread lines would then be harder to find.
    """
    from sipparse.ingest import ingest_paths

    def ingest(path: str) -> int:
        summary = ingest_paths(store, [path], options, lock_held=True)
        if summary.failed:
            raise LogFileError(f"not rotated: {summary.failed[0]}")
        return summary.bytes

    return ingest


def default_paths(settings: Settings) -> list[str]:
    """The config's ``[rotate] paths``, else ``[ingest] paths``, else Asterisk's pjsip log."""
    configured = settings.get("rotate", "paths") or settings.get("ingest", "paths") or [DEFAULT_LOG]
    if isinstance(configured, str) or not all(isinstance(p, str) for p in configured):
        raise ConfigError(f"{settings.config_path}: paths must be a list of strings")
    return list(configured)


def expand_paths(patterns: Iterable[str]) -> list[str]:
    """Expand glob patterns, leaving out rotated generations (``*.log`` must not match ``x.log.1``
    nor ``x.1.log``: ``is_generation_name``), temp files (a leading dot) and directories, as
    ingest does. Only a match's own name counts: ``./*`` or a directory ``.logs/`` holds logs too."""
    out: list[str] = []
    for pattern in patterns:
        matches = glob_files(pattern) if glob.has_magic(pattern) else [pattern]
        out.extend(m for m in matches if not _not_a_log(m) and m not in out)
    return out


def _not_a_log(path: str) -> bool:
    return os.path.basename(path).startswith(".") or is_generation_name(path)


def rotate_paths(paths: Iterable[str], options: RotateOptions, ingest: IngestFn | None = None,
                 report: Report | None = None) -> RotateSummary:
    """Rotate each path in turn; a failure on one is recorded and the others still run."""
    summary = RotateSummary()
    say = report or (lambda _line: None)
    for path in paths:
        summary.results.append(_rotate_guarded(os.path.abspath(path), options, ingest, say))
    return summary


def _rotate_guarded(path: str, options: RotateOptions, ingest: IngestFn | None, say: Report) -> FileResult:
    try:
        return rotate_file(path, options, ingest, say)
    except LockBusy:
        say(f"skipped {path}: being processed by another sipparse run")
        return FileResult(path, Outcome.BUSY)
    except SipparseError as exc:
        return FileResult(path, Outcome.FAILED, error=str(exc))
    except OSError as exc:
        where = exc.filename or path
        return FileResult(path, Outcome.FAILED, error=f"cannot rotate {path}: {where}: {exc.strerror or exc}")


def rotate_file(path: str, options: RotateOptions, ingest: IngestFn | None, say: Report) -> FileResult:
    """Rotate one log file under its lock (see the module docstring for the steps)."""
    if log_stat(path) is None and not unfinished_creations(path):
        say(f"skipped {path}: missing")
        return FileResult(path, Outcome.MISSING)
    _check_directory(os.path.dirname(path))
    lock = LogLock(path).acquire(wait=options.wait, timeout=options.timeout if options.wait else None)
    try:
        return _rotate_locked(path, options, ingest, say)
    finally:
        lock.release()


def _rotate_locked(path: str, options: RotateOptions, ingest: IngestFn | None, say: Report) -> FileResult:
    st = log_stat(path)
    for leftover in unfinished_compressions(path):
        os.unlink(leftover)
        say(f"deleted {leftover}: left by a compression that did not finish")
    prepared = unfinished_creations(path)
    if st is None and prepared:
        return _finish_detach(path, prepared, options, say)
    for spare in prepared:
        os.unlink(spare)
        say(f"deleted {spare}: left by a rotation that did not finish")
    if st is None:
        say(f"skipped {path}: missing")
        return FileResult(path, Outcome.MISSING)
    generations = scan_generations(path, options.dateext)
    if st.st_size == 0 or st.st_size < options.min_size:
        say(f"skipped {path}: {st.st_size} bytes, below the minimum size for rotation")
        aged = generations + left_generations(path, generations)
        if _expired(aged, options, None) and options.ingest and ingest is not None:
            # a generation may still hold lines never read (a database down for days)
            say(f"ingested {ingest(path)} bytes from {path} and its generations before deleting old ones")
        _prune_by_age(aged, options, None, say)
        error = None
        if _writer_left_behind(st, generations, options):
            newest = generations[0].base
            say(f"{newest} was written to after {path} was created: running postrotate again")
            error = _postrotate(path, options, say, f"run again: {newest} was written to after {path} was created")
        return FileResult(path, Outcome.TOO_SMALL, error=error)
    if not identifiable(path):
        say(f"skipped {path}: {st.st_size} bytes, too short for ingest to identify yet")
        return FileResult(path, Outcome.TOO_SMALL)
    if options.ingest and ingest is not None:
        say(f"ingested {ingest(path)} bytes from {path}")
    newest = _make_room(path, generations, options, say)
    _detach(path, newest, options, say)
    error = _postrotate(path, options, say)
    _compress_older(scan_generations(path, options.dateext), newest, options, say)
    _prune(path, newest, options, say)
    return FileResult(path, Outcome.ROTATED, rotated_to=newest, error=error)


def _finish_detach(path: str, prepared: list[str], options: RotateOptions, say: Report) -> FileResult:
    """Finish a rotation killed between renaming the log and putting its new file in place.

    Left so, the log would stay missing for good, skipped as such by every later run, while
    its writer appends to the renamed file, never told to reopen: so the new file prepared
    for it takes its name, and postrotate runs.
    """
    first, *spares = prepared
    for spare in spares:
        os.unlink(spare)
    _put_new_log(first, path, say, ": its rotation had stopped after the rename")
    error = _postrotate(path, options, say, f"finished the rotation of {path}")
    return FileResult(path, Outcome.ROTATED, error=error)


def _writer_left_behind(st: os.stat_result, generations: list[Generation], options: RotateOptions) -> bool:
    """Whether the writer still appends to the newest generation, never told to reopen.

    That is what an empty log written to less recently than its newest generation means
    after a postrotate that failed or a run killed before it. Skipping the empty log alone
    would leave it so for good, the generation growing without ever being rotated, where
    logrotate (``ifempty``) would run postrotate again: so postrotate runs again.
    """
    if st.st_size or options.copytruncate or not options.postrotate or not generations:
        return False
    newest = generations[0].plain
    return newest is not None and os.lstat(newest).st_mtime_ns > st.st_mtime_ns


def identifiable(path: str) -> bool:
    """Whether ingest can fingerprint the file yet: one too short would, once renamed, never be read."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        head = os.pread(fd, FINGERPRINT_MAX_BYTES, 0)
    finally:
        os.close(fd)
    return fingerprint_of(head) is not None


def _check_directory(directory: str) -> None:
    """As root, refuse a directory where anyone could swap files under us (logrotate does too)."""
    st = os.stat(directory)
    if os.geteuid() == 0 and st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX:
        raise RotateError(f"refusing to rotate in {directory}: anyone may write there (chmod o-w it)")


def _make_room(path: str, generations: list[Generation], options: RotateOptions, say: Report) -> str:
    """Shift numbered generations up by one (dropping those beyond keep); return the newest name."""
    if options.dateext:
        return _dated_name(path, generations, options.clock())
    for gen in sorted(generations, key=lambda g: g.key, reverse=True):
        if gen.key[0] >= options.keep:
            _delete(gen, say)
        else:
            _move(gen, f"{path}.{gen.key[0] + 1}", say)
    return f"{path}.1"


def _dated_name(path: str, generations: list[Generation], now: float) -> str:
    """``PATH-YYYYMMDD``; a later rotation the same day gets ``-1``, ``-2``... so nothing is clobbered."""
    day = time.strftime("%Y%m%d", time.localtime(now))
    same_day = [g.key[1] for g in generations if g.key[0] == int(day)]
    if not same_day:
        return f"{path}-{day}"
    return f"{path}-{day}-{max(same_day) + 1}"


def _move(gen: Generation, base: str, say: Report) -> None:
    for old in gen.files:
        new = base + (".gz" if old.endswith(".gz") else "")
        os.rename(old, new)
        say(f"renamed {old} -> {new}")


def _delete(gen: Generation, say: Report) -> None:
    for name in gen.files:
        os.unlink(name)
        say(f"deleted {name}")


def _detach(path: str, newest: str, options: RotateOptions, say: Report) -> None:
    """Move the log's content to ``newest``: rename + create, or copy + truncate."""
    if options.copytruncate:
        copied = copy_and_truncate(path, newest)
        say(f"copied {copied} bytes {path} -> {newest}, truncated {path}")
        return
    st = log_stat(path)
    assert st is not None  # we hold the lock and checked it a moment ago
    prepared = prepare_like(path, st)
    try:
        os.rename(path, newest)
    except BaseException:
        os.unlink(prepared)
        raise
    say(f"renamed {path} -> {newest}")
    _put_new_log(prepared, path, say)


def _put_new_log(prepared: str, path: str, say: Report, why: str = "") -> None:
    """Put the new empty log in place, unless its writer created it first; ``why`` ends the line said."""
    if put_in_place(prepared, path):
        st = os.lstat(path)
        say(f"created {path} (mode {stat.S_IMODE(st.st_mode):04o}, uid {st.st_uid}, gid {st.st_gid}){why}")
    else:
        say(f"kept {path}: already recreated by its writer")
    fsync_dir(os.path.dirname(path))


def _postrotate(path: str, options: RotateOptions, say: Report, done_to: str | None = None) -> str | None:
    """Run the postrotate command; return an error line when it failed (the rotation stands).

    :param done_to: what was done to ``path`` that the error line names, ``rotated`` by default.
    """
    done_to = done_to or f"rotated {path}"
    if not options.postrotate:
        return None
    command = options.postrotate
    # with a shell, the log path is $1, as in logrotate's scripts
    argv = ["/bin/sh", "-c", command, "sh", path] if options.shell else shlex.split(command)
    try:
        returncode = _run_bounded(argv)
    except FileNotFoundError:
        say(f"ran postrotate {command!r}: command not found")
        return f"postrotate command not found: {argv[0]} ({done_to})"
    except subprocess.TimeoutExpired:
        say(f"ran postrotate {command!r}: timed out")
        return f"postrotate {command!r} still running after {POSTROTATE_TIMEOUT:.0f} s ({done_to})"
    say(f"ran postrotate {command!r} (exit {returncode})")
    if returncode:
        return f"postrotate {command!r} exited with status {returncode} ({done_to})"
    return None


def _run_bounded(argv: list[str]) -> int:
    """Run the postrotate command in a process group of its own, all of it killed past
    ``POSTROTATE_TIMEOUT``: killed alone, a shell would leave what it started (``a; b``,
    ``b &``) running as root, holding the output cron mails open."""
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=postrotate_environment(os.environ),
                          process_group=0) as child:
        try:
            return child.wait(timeout=POSTROTATE_TIMEOUT)
        except BaseException:  # past its time, or this run interrupted (^C reaches our group only)
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            raise


def postrotate_environment(environ: Any) -> dict[str, str]:
    """The environment of the postrotate command: ours, minus the database credentials.

    The command only has to make a writer reopen its file; it must not be able to read
    the database password (any process of the same user can read a child's environ).
    """
    from sipparse.config import ENV_DB, ENV_DB_PASSWORD, parse_db_url

    env = {k: v for k, v in environ.items() if k != ENV_DB_PASSWORD}
    if env.get(ENV_DB):
        try:
            holds_password = parse_db_url(env[ENV_DB]).password is not None
        except ConfigError:
            holds_password = True  # unparsable: keep nothing that might be a secret
        if holds_password:
            del env[ENV_DB]
    return env


def _compress_older(generations: list[Generation], newest: str, options: RotateOptions, say: Report) -> None:
    """gzip every plain generation, except the newest one under delaycompress."""
    if not options.compress:
        return
    for gen in generations:
        if gen.plain is None or (options.delaycompress and gen.base == newest):
            continue
        if compress_file(gen.plain, gen.plain + ".gz"):
            say(f"compressed {gen.plain} -> {gen.plain}.gz")
        else:
            say(f"left {gen.plain} plain: it grew while being compressed (its writer has not reopened yet)")


def _prune(path: str, newest: str, options: RotateOptions, say: Report) -> None:
    """Drop dated generations beyond keep (numbered ones were dropped while shifting), then old ones."""
    generations = scan_generations(path, options.dateext)
    if options.dateext:
        for gen in generations[options.keep:]:
            _delete(gen, say)
        generations = generations[: options.keep]
    left = left_generations(path, generations)
    by_age = sorted(generations + left, key=lambda gen: gen.mtime, reverse=True)
    for gen in by_age[options.keep:]:
        if gen in left:
            _delete(gen, say)
            by_age.remove(gen)
    _prune_by_age(by_age, options, newest, say)


def left_generations(path: str, own: list[Generation]) -> list[Generation]:
    """The generations of ``path`` named otherwise than this rotation names its own
    (``own``): left by an earlier logrotate setup (``compresscmd bzip2`` or ``xz``,
    ``extension .log``) or by ``dateext`` switched on or off. They are never renamed, but
    count for keep and max-age, oldest first: else they would stay for good. A symbolic
    link among them is passed over."""
    known = {name for gen in own for name in gen.files}
    left = []
    for name in rotated_siblings(path):
        try:
            st = os.lstat(name)
        except FileNotFoundError:
            continue
        if name not in known and stat.S_ISREG(st.st_mode):
            left.append(Generation((0, 0), name, plain=name, mtime=st.st_mtime))
    return left


def _prune_by_age(generations: list[Generation], options: RotateOptions, newest: str | None,
                  say: Report) -> None:
    """Delete generations last written more than max_age ago (never the one made by this run)."""
    for gen in _expired(generations, options, newest):
        _delete(gen, say)


def _expired(generations: list[Generation], options: RotateOptions, newest: str | None) -> list[Generation]:
    """The generations last written more than max_age ago, but the one made by this run."""
    if options.max_age is None:
        return []
    limit = options.clock() - options.max_age
    return [gen for gen in generations if gen.mtime < limit and gen.base != newest]
