"""Match a stream of lines and write one JSON value per line: the engine of ``grok match``.

Throughput matters here (a debugger run over a day of logs), so the common case avoids
per-line Python work: input is read in large blocks, one expression that compiles to
stdlib ``re`` is searched over a whole block of lines at once (its line-mode variant,
see ``Grok.line_regex``), and the JSON text of a match with plain string fields is built
from a format string, escaping only the lines that hold a character JSON must escape.
Everything else (several expressions, conversions, nested fields, the ``regex`` module
with its timeout) takes the per-line path with the exact same results.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any, BinaryIO

from sipparse.grok.errors import GrokTimeout
from sipparse.grok.matcher import Grok, MultiGrok

BLOCK_SIZE = 1 << 20
# characters JSON cannot carry raw inside a string (the newline only ends a line here)
_NEEDS_ESCAPE = re.compile(r'[\x00-\x09\x0b-\x1f"\\]')
_dumps = json.JSONEncoder(ensure_ascii=False).encode


@dataclass
class StreamStats:
    """What a run matched: lines read, lines matched, lines whose match timed out."""

    lines: int = 0
    matched: int = 0
    timeouts: int = 0


TimeoutHandler = Callable[[int, GrokTimeout], None]


def match_stream(
    matcher: Grok | MultiGrok, source: BinaryIO, sink: BinaryIO, on_timeout: TimeoutHandler | None = None,
) -> StreamStats:
    """Write to ``sink`` one JSON line per line of ``source``: the fields, or ``null``.

    A line whose match times out gives ``null`` too, and ``on_timeout(line number, error)``.
    """
    stats = StreamStats()
    block_matcher = _BlockMatcher.for_matcher(matcher)
    for block in read_blocks(source):
        if block_matcher is not None:
            text = block_matcher.run(block, stats)
        else:
            text = _per_line(matcher, block, stats, on_timeout)
        sink.write(text.encode("utf-8"))
    return stats


def read_blocks(source: BinaryIO, size: int = BLOCK_SIZE) -> Iterator[str]:
    """Text of whole lines joined by ``\\n`` (no final newline), a block at a time."""
    carry = b""
    while chunk := source.read(size):
        data = carry + chunk
        end = data.rfind(b"\n")
        if end < 0:
            carry = data
            continue
        carry = data[end + 1:]
        yield data[:end].decode("utf-8", "replace")
    if carry:
        yield carry.decode("utf-8", "replace")


def _per_line(matcher: Grok | MultiGrok, block: str, stats: StreamStats, on_timeout: TimeoutHandler | None) -> str:
    out = []
    for line in block.split("\n"):
        stats.lines += 1
        try:
            fields = matcher.match(line)
        except GrokTimeout as exc:
            stats.timeouts += 1
            if on_timeout is not None:
                on_timeout(stats.lines, exc)
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
        keys = [grok.group_fields[name][0] for name in sorted(regex.groupindex, key=regex.groupindex.get)]
        self.flat = grok._simple and len(keys) == regex.groups
        self.keys = [encode_basestring(k) + ": " for k in keys]
        self.escaped = "{" + ", ".join(k + "%s" for k in self.keys) + "}\n"
        self.raw = "{" + ", ".join(k + '"%s"' for k in self.keys) + "}\n"

    @classmethod
    def for_matcher(cls, matcher: Grok | MultiGrok) -> _BlockMatcher | None:
        if isinstance(matcher, MultiGrok) and len(matcher.groks) == 1:
            matcher = matcher.groks[0]
        if not isinstance(matcher, Grok) or matcher.line_regex is None:
            return None
        return cls(matcher, matcher.line_regex)

    def run(self, block: str, stats: StreamStats) -> str:
        """The output lines of a block: each match placed on its line, ``null`` elsewhere."""
        out: list[str] = []
        add = out.append
        count = block.count
        dirty = [m.start() for m in _NEEDS_ESCAPE.finditer(block)]
        dirty.append(len(block) + 1)
        next_dirty = 0
        pos = matched = 0
        for m in self.regex.finditer(block):
            start = m.start()
            if start < pos:
                continue  # an empty match at the end of a line already matched
            if start != pos and (gap := count("\n", pos, start)):
                add("null\n" * gap)
            end = m.end()
            while dirty[next_dirty] < start:
                next_dirty += 1
            add(self.render(m, dirty[next_dirty] >= end))
            matched += 1
            pos = end + 1
        if pos <= len(block):
            add("null\n" * (count("\n", pos) + 1))
        stats.lines += count("\n") + 1
        stats.matched += matched
        return "".join(out)

    def render(self, m: Any, clean: bool) -> str:
        if self.flat:
            groups = m.groups()
            if None not in groups and "" not in groups:
                return self.raw % groups if clean else self.escaped % tuple(map(encode_basestring, groups))
        return _dumps(self.grok.captures(m)) + "\n"
