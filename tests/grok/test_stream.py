"""``match_stream``: the block-wise fast path gives exactly what matching line by line gives."""

from __future__ import annotations

import io
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipparse.grok import GrokTimeout, PatternLibrary
from sipparse.grok.stream import _BlockMatcher, match_stream, read_blocks
from tests.grok.helpers import bundled

EXPRESSIONS = [
    "%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:host} %{SYSLOGPROG}: %{GREEDYDATA:msg}",
    "%{INT:n}",
    "%{INT:n:int} %{WORD:[a][b]}",
    "^%{WORD:w}$",
    "%{DATA:d}",
    "%{WORD:w} %{WORD:w}",
    "(?<q>\\S+) %{NOTSPACE}",
    "\\A%{WORD:first}",
    # three unbounded captures: compiled on ``regex`` for its timeout, searched a block at a time
    "\\[%{DATA:ts}\\] %{WORD:level}\\[%{INT:tid}\\] %{DATA:source}: %{GREEDYDATA:msg}",
    "%{DATA:a} %{DATA:b} %{GREEDYDATA:c}",
]
LINE = st.one_of(
    st.sampled_from(["Feb  1 18:32:31 pbx-a asterisk[6541]: CSeq: 1 INVITE", "Feb  1 18:32:31 pbx-a asterisk[6541]",
                     "[Feb  1 00:00:00] VERBOSE[6573] res_pjsip_logger.c: <--- Received SIP request --->",
                     "[Feb  1 00:00:00] VERBOSE[6589][C-00000001] pjsip: x",
                     'From: "Alice" <sip:alice@x>', "12 ab", "", "x 7\ty", "a\\b 3", "Čierný 5 中"]),
    st.text(alphabet="ab 1:\"\\\t-é", max_size=12),
)


def run(expression: str, data: bytes, **options: object) -> list[object]:
    out = io.BytesIO()
    match_stream(bundled().compile(expression), io.BytesIO(data), out, **options)  # type: ignore[arg-type]
    return [json.loads(line) for line in out.getvalue().decode().splitlines()]


@pytest.mark.parametrize("expression", EXPRESSIONS)
@settings(max_examples=60, deadline=None)
@given(lines=st.lists(LINE, min_size=1, max_size=12), final_newline=st.booleans())
def test_block_path_equals_matching_each_line(expression: str, lines: list[str], final_newline: bool) -> None:
    grok = bundled().compile(expression)
    assert _BlockMatcher.for_matcher(grok) is not None
    data = ("\n".join(lines) + ("\n" if final_newline else "")).encode()
    expected = [grok.match(line) for line in data.decode().split("\n")]
    if data.endswith(b"\n") or not data:
        expected.pop()  # what follows the last newline is no line
    assert run(expression, data, workers=1) == json.loads(json.dumps(expected))
    assert run(expression, data, workers=1, block_size=7) == json.loads(json.dumps(expected))


def test_worker_processes_keep_the_order() -> None:
    lines = [f"Feb  1 18:32:{i % 60:02d} pbx asterisk[{i + 1}]: line {i}" if i % 3 else f"noise {i}"
             for i in range(3000)]
    data = ("\n".join(lines) + "\n").encode()
    expression = EXPRESSIONS[0]
    single = run(expression, data, workers=1, block_size=4096)
    assert len(data) > 4096 * 8 * 2  # past the blocks matched before workers start
    assert run(expression, data, workers=2, block_size=4096) == single
    assert [r is None for r in single] == [i % 3 == 0 for i in range(3000)]


def test_several_expressions_and_timeouts_go_line_by_line() -> None:
    lib = PatternLibrary.load(definitions={"EVIL": "(?:a|aa)+(?:b|ab)+c"})
    multi = lib.compile_many(["^%{EVIL:e}$", "%{INT:n}"], timeout=0.1)
    out = io.BytesIO()
    seen: list[tuple[int, GrokTimeout]] = []
    stats = match_stream(multi, io.BytesIO(b"aabc\n" + b"a" * 40 + b"!\nx 5\n"), out,
                         lambda n, e: seen.append((n, e)))
    assert out.getvalue().decode().splitlines() == ['{"e": "aabc"}', "null", '{"n": "5"}']
    assert [n for n, _ in seen] == [2] and (stats.lines, stats.matched, stats.timeouts) == (3, 2, 1)


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert run("%{GREEDYDATA:x}", b"ok \xff\n") == [{"x": "ok \ufffd"}]


@pytest.mark.parametrize(("expressions", "spaces"), [
    (["%{DATA:a} %{DATA:b}x"], 1500), (["%{DATA:a} %{DATA:b}x", "%{INT:n}"], 1500),
    (["%{DATA:a} %{DATA:b}%{DATA:c}x"], 400),  # searched on ``re`` a block at a time too
])
@pytest.mark.parametrize("workers", [1, 2])
def test_a_line_that_backtracks_on_re_times_out_too(expressions: list[str], spaces: int, workers: int) -> None:
    """Two %{DATA} compile to stdlib ``re``, which has no timeout, and take cubic time on a
    long line of spaces (minutes at 3,000): the limit now holds there too, for that line only,
    in a worker process as well (past the blocks matched before workers start)."""
    lib = PatternLibrary.load()
    matcher = lib.compile_many(expressions, timeout=0.3)
    assert not matcher.groks[0].needs_regex_module
    data = b"c d x\n" * 8000 + b" " * spaces + b"\n" + b"a b x\n"
    out = io.BytesIO()
    seen: list[tuple[int, GrokTimeout]] = []
    stats = match_stream(matcher, io.BytesIO(data), out, lambda n, e: seen.append((n, e)), workers=workers,
                         block_size=4096)
    lines = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    assert lines == [matcher.match("c d x")] * 8000 + [None, matcher.match("a b x")]
    assert lines[0] in ({"a": "c", "b": "d "}, {"a": "c", "c": "d "})
    assert [n for n, _ in seen] == [8001] and "timed out after" in str(seen[0][1])
    assert (stats.lines, stats.matched, stats.timeouts) == (8002, 8001, 1)


@given(st.lists(st.sampled_from([b"a", b"b", b"\n", b"\xc3\xa9"]), max_size=40).map(b"".join),
       st.integers(min_value=1, max_value=8))
def test_blocks_hold_the_lines_whatever_the_read_size(data: bytes, size: int) -> None:
    lines = "\n".join(read_blocks(io.BytesIO(data), size)).split("\n") if data else []
    assert lines == data.decode().splitlines()


def test_a_line_longer_than_many_blocks_is_read_in_linear_time() -> None:
    """Each read of a long line was added to the ones before it: 12 MiB read 4 KiB at a time
    took seconds (a few hundred MiB, minutes)."""
    data = b"x" * (12 << 20) + b"\nend\n"
    started = time.perf_counter()
    blocks = list(read_blocks(io.BytesIO(data), 4096))
    assert time.perf_counter() - started < 1.0
    assert "\n".join(blocks).split("\n") == ["x" * (12 << 20), "end"]
