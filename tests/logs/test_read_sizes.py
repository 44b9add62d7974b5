"""Reads of any sizes give the same records; the syslog layout's Content-Length search agrees
with the line-anchored expression it stands for."""

from __future__ import annotations

import io
import re
from dataclasses import fields

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sipparse.logs import LogParser, ParseOptions
from sipparse.logs.lines import _content_length_in
from tests.logs.helpers import DATA, SOURCE

LOGS = {name: (DATA / name).read_bytes() for name in
        ("pjsip-full.log", "pjsip-syslog.log", "pjsip-rfc5424.log", "pjsip-syslog-markers.log")}
# What _content_length_in answered before it searched behind an LF: the same expression at line starts.
_LINE_START = re.compile(
    rb"^[ \t\r\x0b\x0c]*(?:[Cc][Oo][Nn][Tt][Ee][Nn][Tt]-[Ll][Ee][Nn][Gg][Tt][Hh]|[Ll])[ \t\r\x0b\x0c]*:([^\n]*)", re.M)


def records(data: bytes, read_sizes: list[int] = ()) -> list[tuple]:  # type: ignore[assignment]
    parser = LogParser(SOURCE, 0, ParseOptions(year=2026, final=True))
    out = []
    for batch in parser.parse(io.BytesIO(data), batch_bytes=1 << 16, read_sizes=read_sizes):
        for record in batch.messages + batch.rejects:
            out.append(tuple(getattr(record, f.name) for f in fields(record)))
    return out


EXPECTED = {name: records(data) for name, data in LOGS.items()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(LOGS)), st.lists(st.integers(min_value=0, max_value=40000), max_size=12))
def test_read_sizes_change_no_record(name: str, sizes: list[int]) -> None:
    got = records(LOGS[name], sizes)
    assert got == EXPECTED[name]
    assert len(got) > 100


def reference(text: bytes, end: int) -> int | None:
    found = _LINE_START.search(text, 0, end)
    if found is None:
        return None
    value = found.group(1)
    value = value[:-4] if value.endswith(b"#015") else value[:-1] if value.endswith(b"\r") else value
    value = value.strip()
    return int(value) if value.isdigit() and len(value) <= 18 else None


LINES = [b"Content-Length: 12", b"l: 3", b"  content-LENGTH :7#015", b"L:x", b"Via: a", b"", b"#015",
         b"xl: 4", b"Content-Length: 99", b"\tl\t:\t5", b"Content-Lengthy: 1"]


@given(st.lists(st.sampled_from(LINES), max_size=12), st.integers(min_value=0, max_value=200))
def test_content_length_search_behind_an_lf(lines: list[bytes], cut: int) -> None:
    text = b"\n".join(lines)
    end = min(cut, len(text))
    assert _content_length_in(text, end) == reference(text, end)
