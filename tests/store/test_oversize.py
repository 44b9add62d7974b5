"""Rows too large for one statement of max_allowed_packet: what is set apart, what is cut."""

from __future__ import annotations

from sipparse.store import oversize

NAMES = ("call_id", "sdp_content", "raw_message", "problems")
ALLOWED = 64 * 1024


def test_a_row_whose_values_each_fit_is_set_apart_whole() -> None:
    sdp, raw = "v=0\r\n" + "a" * 40_000, b"INVITE\r\n" + b"b" * 40_000
    row = ("c@pbx", sdp, raw, None)
    assert not oversize.fits(row, ALLOWED)
    parts = oversize.split(row, NAMES, 3, ALLOWED)
    assert parts.row == ("c@pbx", "", b"", None)
    assert parts.later == [(1, sdp), (2, raw)]


def test_a_value_no_statement_carries_is_cut_and_said_after_earlier_notes() -> None:
    raw = b"'" * 10 + b"x" * 100_000  # a quote is sent as two bytes
    parts = oversize.split(("c@pbx", None, raw, "no blank line"), NAMES, 3, ALLOWED)
    (index, kept), = parts.later
    assert index == 2 and raw.startswith(kept) and oversize.sent_size(kept) == ALLOWED - oversize.OVERHEAD
    assert parts.row[3] == (f"no blank line; raw_message of {len(raw)} bytes cut to {len(kept)}: "
                            f"the server's max_allowed_packet is {ALLOWED} bytes")


def test_a_text_is_cut_between_characters() -> None:
    text = "😀" * 30_000  # four bytes each
    (_, kept), = oversize.split(("c@pbx", text, None, None), NAMES, 3, ALLOWED).later
    assert text.startswith(kept) and len(kept) == (ALLOWED - oversize.OVERHEAD) // 4
