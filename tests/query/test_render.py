"""Tables fit the terminal, cut with an ellipsis, and stay whole in JSON/CSV."""

from __future__ import annotations

import csv
import io
import json

from hypothesis import given
from hypothesis import strategies as st

from sipparse.query.render import Terminal, cut, display_width, fit_widths, render_table, to_csv, to_json

PLAIN = Terminal()


def test_cut_marks_what_is_lost() -> None:
    assert cut("abcdef", 6) == "abcdef"
    assert cut("abcdef", 4) == "abc~"
    assert cut("abcdef", 4, "…") == "abc…"


@given(st.lists(st.integers(1, 200), min_size=1, max_size=8), st.integers(20, 300))
def test_fit_widths_meets_the_budget_or_the_minimums(natural: list[int], budget: int) -> None:
    minimum = [min(n, 4) for n in natural]
    widths = fit_widths(natural, minimum, budget)
    assert all(m <= w <= n for w, m, n in zip(widths, minimum, natural, strict=True))
    assert sum(widths) <= budget or widths == minimum


def test_wide_and_combining_characters_keep_the_columns_in_line() -> None:
    names = ['"山田太郎" <sip:202@pbx>', '"Zoe\u0308 Smith" <sip:203@pbx>', '"Bob" <sip:204@pbx>']
    out = render_table(["from_sip", "cseq"], [[name, 1000] for name in names], PLAIN)
    lines = out.splitlines()
    assert {display_width(line) for line in lines[2:]} == {display_width(lines[0])}
    assert display_width("山田") == 4 and display_width("Zoe\u0308") == 3


def test_cut_counts_columns_not_characters() -> None:
    assert cut("山田太郎", 5) == "山田~"
    assert display_width(cut("山田太郎 <sip:1@x>", 7, "…")) <= 7
    narrow = render_table(["from"], [["山田太郎" * 5]], Terminal(width=12))
    assert all(display_width(line) <= 12 for line in narrow.splitlines())


def test_table_without_width_keeps_every_value_whole() -> None:
    out = render_table(["id", "call_id"], [[1, "x" * 300]], PLAIN)
    assert "x" * 300 in out
    assert out.isascii()


def test_table_fits_the_width_and_keeps_kept_columns() -> None:
    term = Terminal(width=40)
    rows = [[1, "2025-02-01 18:32:31", "y" * 100]]
    out = render_table(["id", "timestamp", "from"], rows, term, keep=[True, True, False])
    lines = out.splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert "2025-02-01 18:32:31" in lines[2]
    assert lines[2].endswith("~")


def test_multiline_cells_take_several_lines_and_rows_are_ruled() -> None:
    out = render_table(["a", "sdp"], [[1, "v=0\ns=-"], [2, None]], PLAIN)
    lines = out.splitlines()
    assert lines[2].split() == ["1", "v=0"]
    assert lines[3].split() == ["s=-"]
    assert set(lines[4].replace(" ", "")) == {"."}
    assert lines[5].split() == ["2"]


def test_fancy_terminal_draws_boxes_and_colours() -> None:
    term = Terminal(width=80, fancy=True, color=True)
    out = render_table(["state"], [["failed"]], term, styles=["red"])
    assert "─" in out and "\x1b[31m" in out
    assert "\x1b" not in render_table(["state"], [["failed"]], PLAIN, styles=["red"])


def test_a_coloured_row_cut_to_the_width_keeps_it_and_ends_its_colour() -> None:
    term = Terminal(width=30, fancy=True, color=True)
    out = render_table(["a", "b"], [["x" * 12, "y" * 20]], term, styles=["red"])
    row = out.splitlines()[2]
    assert row.startswith("\x1b[31m") and row.endswith("\x1b[0m")
    assert len(row) - len("\x1b[31m\x1b[0m") == 30


def test_json_and_csv_keep_whole_values() -> None:
    value = "line1\nline2, with comma and \"quotes\""
    assert json.loads(to_json([{"v": value, "b": b"\xff"}])) == [{"v": value, "b": "\ufffd"}]
    rows = list(csv.reader(io.StringIO(to_csv(["v", "n"], [[value, None]]))))
    assert rows == [["v", "n"], [value, ""]]


def test_detect_on_a_pipe_is_plain(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("COLUMNS", raising=False)
    term = Terminal.detect(io.StringIO())
    assert term == Terminal(width=None, fancy=False, color=False)
    monkeypatch.setenv("COLUMNS", "72")
    assert Terminal.detect(io.StringIO()).width == 72


class _Tty(io.StringIO):
    encoding = "utf-8"

    def isatty(self) -> bool:
        return True


def test_detect_on_a_terminal_draws_and_colours(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert Terminal.detect(_Tty()) == Terminal(width=100, fancy=True, color=True)
    monkeypatch.setenv("NO_COLOR", "1")
    assert Terminal.detect(_Tty()).color is False


HOSTILE = "evil\x1b[2J\x1b]0;pwned\x07\x08\x7f\x9b31m\u202eok\t"


def test_table_cells_show_what_a_terminal_would_act_on_as_escapes() -> None:
    """From, To and Call-ID come from whoever sent the packet: none reaches the terminal as is."""
    for term in (PLAIN, Terminal(width=200, fancy=True)):
        out = render_table(["from", "to"], [[HOSTILE, HOSTILE.encode()]], term)
        assert not any(ch in out for ch in "\x1b\x07\x08\x7f\x9b\u202e\t")
        assert "\\x1b[2J" in out and "\\u202e" in out


@given(st.text())
def test_no_control_character_survives_a_cell(text: str) -> None:
    out = render_table(["v"], [[text]], PLAIN)
    assert all(ch == "\n" or (ord(ch) >= 0x20 and not 0x7f <= ord(ch) <= 0x9f) for ch in out)
