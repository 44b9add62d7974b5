"""Match a stream of lines and write one JSON value per line: the engine of ``grok match``.

Throughput matters here (a debugger run over a day of logs), so the common case avoids
per-line Python work: input is read in large blocks, one expression that compiles to
stdlib ``re`` is searched over a whole block of lines at once with ``split`` (its
line-mode variant, see ``Grok.line_regex``), and when the fields are plain strings the
JSON of the block is assembled with list operations that run in C (see ``_flat``).
Large inputs are spread over worker processes, in order. Everything else (several
expressions, the ``regex`` module with its timeout) takes the per-line path, with the
exact same results.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, BinaryIO

from sipparse.grok.alarm import TimeLimitExpired, time_limit
from sipparse.grok.convert import LongInt
from sipparse.grok.errors import GrokTimeout
from sipparse.grok.library import required_literal
from sipparse.grok.matcher import Grok, MultiGrok

# Blocks small enough for the allocator to reuse their memory (bigger ones cost page faults)
BLOCK_SIZE = 1 << 17
# blocks matched in this process before worker processes are worth starting
INLINE_BLOCKS = 8
# JSON of a list with a newline between items: no encoded string holds a raw newline
_LINES_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=("\n", ":")).encode
_strict_dumps = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode


def _dumps(fields: Any) -> str:
    """Fields as JSON; a ``:float`` beyond a double (``1e999``, Ruby's Infinity) goes as the
    string ``"Infinity"``, since JSON has no such number and a parser would refuse the line.
    An ``:int`` past Python's digit limit (a :class:`LongInt`) goes as a number with every digit."""
    try:
        return _strict_dumps(fields)
    except ValueError:
        longs: list[LongInt] = []
        marker = f"long-int-{secrets.token_hex(8)}-"
        text = _strict_dumps(_encodable(fields, longs, marker))
        for index, number in enumerate(longs):
            text = text.replace(f'"{marker}{index}"', number.text, 1)
        return text


def _encodable(value: Any, longs: list[LongInt], marker: str) -> Any:
    """``value`` with non-finite floats as strings and long integers as numbered markers."""
    if isinstance(value, float) and not math.isfinite(value):
        return {math.inf: "Infinity", -math.inf: "-Infinity"}.get(value, "NaN")
    if isinstance(value, LongInt):
        longs.append(value)
        return f"{marker}{len(longs) - 1}"
    if isinstance(value, dict):
        return {key: _encodable(item, longs, marker) for key, item in value.items()}
    if isinstance(value, list):
        return [_encodable(item, longs, marker) for item in value]
    return value


@dataclass
class StreamStats:
    """What a run matched: lines read, lines matched, lines whose match timed out."""

    lines: int = 0
    matched: int = 0
    timeouts: int = 0


TimeoutHandler = Callable[[int, GrokTimeout], None]


def match_stream(
    matcher: Grok | MultiGrok, source: BinaryIO, sink: BinaryIO, on_timeout: TimeoutHandler | None = None,
    workers: int | None = None, block_size: int = BLOCK_SIZE,
) -> StreamStats:
    """Write to ``sink`` one JSON line per line of ``source``: the fields, or ``null``.

    A line whose match times out gives ``null`` too, and ``on_timeout(line number, error)``;
    the limit holds on stdlib ``re`` too (see ``alarm``): a block that runs out of time is
    matched again line by line, each line under the limit.
    ``workers``: processes for large inputs (default: one per core, at most 4, or 1 when the
    machine is saturated; 1 = none).
    """
    stats = StreamStats()
    block_matcher = _BlockMatcher.for_matcher(matcher)
    if block_matcher is None:
        for block in read_blocks(source, block_size):
            sink.write(_per_line(matcher, block, stats, on_timeout).encode("utf-8"))
        return stats
    for data, lines, matched, expired in _map_blocks(block_matcher, read_blocks(source, block_size), workers):
        for index in expired:
            _timed_out(matcher, stats.lines + index + 1, stats, on_timeout)
        stats.lines += lines
        stats.matched += matched
        sink.write(data)
    return stats


def _timed_out(matcher: Grok | MultiGrok, line: int, stats: StreamStats, on_timeout: TimeoutHandler | None,
               error: GrokTimeout | None = None) -> None:
    stats.timeouts += 1
    if on_timeout is not None:
        on_timeout(line, error or GrokTimeout(f"grok match timed out after {matcher.limit:g}s: {matcher.expression}"))


_WORKER: _BlockMatcher | None = None


def _run_block(block: str) -> tuple[bytes, int, int, list[int]]:
    """A block's output as UTF-8 with its counts and the indexes of its lines that ran out
    of time (runs in a worker process too)."""
    assert _WORKER is not None
    stats = StreamStats()
    try:
        with time_limit(_WORKER.grok.limit):
            text = _WORKER.run(block, stats)
    except TimeLimitExpired:
        return _run_lines(block)
    return text.encode("utf-8"), stats.lines, stats.matched, []


def _run_lines(block: str) -> tuple[bytes, int, int, list[int]]:
    """``_run_block`` for a block that ran out of time: each line on its own, under the limit."""
    assert _WORKER is not None
    stats, outs, expired = StreamStats(), [], []
    for index, line in enumerate(block.split("\n")):
        try:
            with time_limit(_WORKER.grok.limit):
                outs.append(_WORKER.run(line, stats))
        except TimeLimitExpired:
            stats.lines += 1
            outs.append("null\n")
            expired.append(index)
    return "".join(outs).encode("utf-8"), stats.lines, stats.matched, expired


def _map_blocks(
    block_matcher: _BlockMatcher, blocks: Iterator[str], workers: int | None
) -> Iterator[tuple[bytes, int, int, list[int]]]:
    """Blocks in order; past the first megabyte or so, in worker processes when there are cores.

    Worker processes are forked (they inherit the compiled expression), so a short input
    never pays for them, and results come back in input order.
    """
    global _WORKER
    _WORKER = block_matcher
    for index, block in enumerate(blocks):
        yield _run_block(block)
        if index == INLINE_BLOCKS - 1:
            break
    count = _worker_count(workers)
    if count < 2:
        yield from map(_run_block, blocks)
        return
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(count) as pool:
        yield from pool.imap(_run_block, blocks, chunksize=8)


def _worker_count(workers: int | None) -> int:
    """One process per core, unless the machine is already saturated."""
    from sipparse.cores import saturated, usable_cores

    if workers is not None:
        return workers
    cores = usable_cores()
    return 1 if saturated(cores) else min(cores, 4)


def read_blocks(source: BinaryIO, size: int = BLOCK_SIZE) -> Iterator[str]:
    """Text of whole lines joined by ``\\n`` (no final newline), a block at a time.

    The reads of a line longer than a block are kept in a list and joined once its end
    comes: adding each read to the ones before copied the line again at every read, which
    took minutes for a line of a few hundred megabytes.
    """
    pending: list[bytes] = []
    while chunk := source.read(size):
        end = chunk.rfind(b"\n")
        if end < 0:
            pending.append(chunk)
            continue
        pending.append(chunk[:end])
        yield b"".join(pending).decode("utf-8", "replace")
        pending = [chunk[end + 1:]]
    carry = b"".join(pending)
    if carry:
        yield carry.decode("utf-8", "replace")


def _per_line(
    matcher: Grok | MultiGrok, block: str, stats: StreamStats, on_timeout: TimeoutHandler | None
) -> str:
    """The output lines of a block, one match call per line; under the limit as a whole, else
    line by line (what a first try counted and reported is dropped with it)."""
    first = StreamStats()
    reports: list[tuple[int, GrokTimeout]] = []
    try:
        with time_limit(matcher.limit):
            text = _match_lines(matcher, block, first, stats.lines, reports.append, limited=False)
    except TimeLimitExpired:
        first, reports = StreamStats(), []
        text = _match_lines(matcher, block, first, stats.lines, reports.append, limited=True)
    stats.lines += first.lines
    stats.matched += first.matched
    for line, error in reports:
        _timed_out(matcher, line, stats, on_timeout, error)
    return text


def _match_lines(matcher: Grok | MultiGrok, block: str, stats: StreamStats, before: int,
                 report: Callable[[tuple[int, GrokTimeout]], None], limited: bool) -> str:
    out = []
    for line in block.split("\n"):
        stats.lines += 1
        try:
            if limited:
                with time_limit(matcher.limit):
                    fields = matcher.match(line)
            else:
                fields = matcher.match(line)
        except GrokTimeout as exc:
            report((before + stats.lines, exc))
            fields = None
        except TimeLimitExpired:
            report((before + stats.lines, GrokTimeout(
                f"grok match timed out after {matcher.limit:g}s: {matcher.expression}")))
            fields = None
        if fields is not None:
            stats.matched += 1
        out.append("null" if fields is None else _dumps(fields))
    out.append("")
    return "\n".join(out)


class _BlockMatcher:
    """One ``re`` expression searched over a block of lines with ``finditer``."""

    def __init__(self, grok: Grok, regex: Any) -> None:
        self.grok = grok
        self.regex = regex
        names = sorted(regex.groupindex, key=regex.groupindex.get)
        keys = [encode_basestring(grok.group_fields[name][0]) + ": " for name in names]
        # Plain string fields, none repeated: a match whose groups are all set and
        # non-empty (the usual case) is this format, filled without escaping when the
        # line holds nothing JSON must escape.
        self.flat = bool(keys) and grok._simple and len(keys) == regex.groups
        self.literal = required_literal(grok.expression)
        self.keys = ["{" + keys[0]] + [", " + k for k in keys[1:]] if keys else []

    @classmethod
    def for_matcher(cls, matcher: Grok | MultiGrok) -> _BlockMatcher | None:
        if isinstance(matcher, MultiGrok) and len(matcher.groks) == 1:
            matcher = matcher.groks[0]
        if not isinstance(matcher, Grok) or matcher.line_regex is None:
            return None
        return cls(matcher, matcher.line_regex)

    def run(self, block: str, stats: StreamStats) -> str:
        """The output lines of a block: each match on its line, ``null`` elsewhere."""
        literal = self.literal
        if literal and block.count(literal) <= block.count("\n"):
            return self._prefiltered(block, literal, stats)
        return self._run_all(block, stats)

    def _prefiltered(self, block: str, literal: str, stats: StreamStats) -> str:
        """Some line lacks a text every match holds: search only the lines that have it.

        Lines of a near miss (the prefix is there but not the ``: ``) then cost a substring
        test instead of a failing search at every position.
        """
        lines = block.split("\n")
        has = [literal in line for line in lines]
        kept = [line for line, ok in zip(lines, has, strict=True) if ok]
        outs = iter(self._run_all("\n".join(kept), stats).split("\n") if kept else ())
        stats.lines += len(lines) - len(kept)
        return "\n".join([next(outs) if ok else "null" for ok in has]) + "\n"

    def _run_all(self, block: str, stats: StreamStats) -> str:
        # split() hands back, all in C, the text between matches followed by each
        # match's groups: no match object, no per-line search call.
        width = self.regex.groups + 1
        parts = self.regex.split(block)
        between = parts[::width]
        if self.flat and len(between) > 1:
            del parts[::width]
            text = self._flat(between, parts)
        else:
            text = self._general(between, parts, width)
        lines = text.count("\n")
        stats.lines += lines
        stats.matched += lines - text.count("null\n")
        return text

    def _flat(self, between: list[str], values: list[str | None]) -> str:
        """Plain string fields: the JSON of the whole block built by C-level list operations.

        The values of all matches are JSON-encoded in one call (with a newline between
        items, which no encoded string contains), then interleaved with the keys by slice
        assignment; only matches with a missing or empty field, and lines between
        matches, take a Python step each.
        """
        count, k = len(between) - 1, len(self.keys)
        json_text = _LINES_ENCODER(values)
        encoded = json_text[1:-1].split("\n")
        stride = 2 * k + 1
        pieces = [""] * (stride * count)
        for j, key in enumerate(self.keys):
            pieces[2 * j::stride] = [key] * count
            pieces[2 * j + 1::stride] = encoded[j::k]
        pieces[2 * k::stride] = ["}\n"] * count
        # a None is "null", an empty string '""' in the JSON; their absence is the usual case
        gaps = _rows_with_gaps(values, k) if "null" in json_text or '""' in json_text else []
        for row in gaps:
            line = self.render(tuple(values[row * k:(row + 1) * k]))
            pieces[row * stride:(row + 1) * stride] = [line + "\n"] + [""] * (stride - 1)
        middle = between[1:-1]
        if middle.count("\n") != len(middle):
            for row, text in enumerate(middle, 1):
                if text != "\n":
                    if text:
                        pieces[row * stride] = "null\n" * (text.count("\n") - 1) + pieces[row * stride]
                    else:  # an empty match at the end of a line already matched
                        pieces[row * stride:(row + 1) * stride] = [""] * stride
        head = "null\n" * between[0].count("\n")
        return head + "".join(pieces) + "null\n" * between[-1].count("\n")

    def _general(self, between: list[str], parts: list[str | None], width: int) -> str:
        if width > 1:
            rows = list(zip(*[parts[i::width] for i in range(1, width)], strict=True))
        else:
            rows = [()] * (len(between) - 1)
        lines = self._place(between, [self.render(row) for row in rows])
        return "\n".join(lines) + "\n"

    @staticmethod
    def _place(between: list[str], outs: list[str]) -> list[str]:
        """One output per line; ``between[i]`` is the text before match i (after match i-1)."""
        if not outs:
            return ["null"] * (between[0].count("\n") + 1)
        middle = between[1:-1]
        head = ["null"] * between[0].count("\n")
        if middle.count("\n") == len(middle):
            lines = head + outs if head else outs
        else:
            # the text between two matches holds one newline more than lines without a match
            lines = head + [outs[0]]
            add = lines.append
            for text, out in zip(middle, outs[1:], strict=True):
                if text != "\n":
                    if not text:
                        continue  # an empty match at the end of a line already matched
                    lines.extend(["null"] * (text.count("\n") - 1))
                add(out)
        lines.extend(["null"] * between[-1].count("\n"))
        return lines

    def render(self, groups: tuple[str | None, ...]) -> str:
        return _dumps(self.grok.captures_groups(groups))


def _rows_with_gaps(values: list[str | None], width: int) -> list[int]:
    """Rows of a row-major value list holding None or "" (found by C-level ``index``)."""
    rows: set[int] = set()
    for missing in (None, ""):
        start = 0
        while True:
            try:
                at = values.index(missing, start)
            except ValueError:
                break
            rows.add(at // width)
            start = at + 1
    return sorted(rows)
