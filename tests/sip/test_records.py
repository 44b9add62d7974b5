"""The record model crosses processes intact, and the framing's fast paths agree with the regexes."""

from __future__ import annotations

import pickle
import re
from dataclasses import fields

from hypothesis import given
from hypothesis import strategies as st

from sipparse.sip import SipMessage
from sipparse.sip.framing import _BLANK, _blank
from tests.logs.helpers import DATA, parse_bytes


def sample_messages() -> list[SipMessage]:
    messages = []
    for name in ("pjsip-full.log", "pjsip-syslog.log", "pjsip-rfc5424.log"):
        messages += parse_bytes((DATA / name).read_bytes(), final=True)[0]
    return messages


def values(message: SipMessage) -> tuple:
    return tuple(getattr(message, f.name) for f in fields(message))


def test_messages_pickle_to_equal_messages() -> None:
    messages = sample_messages()
    assert len(messages) > 300
    back = pickle.loads(pickle.dumps(messages))
    assert [values(m) for m in back] == [values(m) for m in messages]
    assert all(type(m) is SipMessage for m in back)


@given(st.lists(st.sampled_from([b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"a", b" ", b"\t"]), max_size=40),
       st.integers(min_value=0, max_value=8))
def test_blank_line_found_where_the_regex_finds_it(parts: list[bytes], start: int) -> None:
    data = b"".join(parts)
    start = min(start, len(data))
    found = _BLANK.search(data, start)
    assert _blank(data, start) == (found.span() if found else None)


def test_blank_regex_is_the_documented_one() -> None:
    # _blank's fast path is only right for these three forms of the empty line
    assert _BLANK.pattern == rb"\r\n\r\n|\n\r?\n|\r\r" and _BLANK.flags == re.compile(b"").flags
