"""Matching semantics of Logstash's grok filter (see the matcher module doc)."""

from __future__ import annotations

import time

import pytest

from sipparse.grok import GrokError, GrokTimeout, PatternLibrary
from tests.grok.helpers import bundled, grok_match


@pytest.mark.parametrize(
    ("expression", "text", "fields"),
    [
        ("%{NUMBER:foo:int} %{NUMBER:bar:float}", "400 454.33", {"foo": 400, "bar": 454.33}),
        ("%{NUMBER:n:int}", "v=454.99", {"n": 454}),
        ("%{NUMBER:n:int}", "t=-17", {"n": -17}),
        ("%{NUMBER:n:float}", "7", {"n": 7.0}),
        ("%{DATA:x:int}x", "x", {"x": 0}),  # a converted empty string is 0, and kept
        ("%{NUMBER:n:long}", "42", {"n": "42"}),  # unknown type: string
        ("%{INT:n} %{INT:n:int}", "1 2", {"n": ["1", 2]}),
        ("%{INT:n:int} %{INT:n}", "1 2", {"n": 1}),  # non-string first value is kept
        ("%{WORD:w} %{WORD:w} %{WORD:w}", "a b c", {"w": ["a", "b", "c"]}),
        ("%{WORD:w} (%{INT:w})?x", "abc x", {"w": "abc"}),
        ("%{INT:foo}|%{WORD:foo}", "hello world", {"foo": "hello"}),
        ("%{DATA:x}x", "x", {}),  # empty capture dropped
        ("Hello %{WORD}. %{WORD:foo}", "Hello World, yo!", {"foo": "yo"}),  # no semantic: no capture
        ("(?<foo>\\w+)", "hello world", {"foo": "hello"}),
        ("(?<ts>%{DATE_EU} %{TIME})", "at 12-12-12 12:12:12", {"ts": "12-12-12 12:12:12"}),
        ("%{WORD:[a][b]} %{INT:[a][c]:int}", "x 5", {"a": {"b": "x", "c": 5}}),
        # a reference of one segment is the plain field, however it is used
        ("%{WORD:[x]}", "a b", {"x": "a"}),
        ("%{WORD:x} %{WORD:[x]}", "a b", {"x": ["a", "b"]}),
        ("%{WORD:[x]} %{WORD:[y]}", "a b", {"x": "a", "y": "b"}),
        ("%{INT:[n]:int}", "5", {"n": 5}),
        ("%{WORD:foo-bar}", "hello", {"foo-bar": "hello"}),
        ("%{WORD:w - ignored}", "hello", {"w": "hello"}),
        ("%{FIZZLE:num=\\d+}", "hello 1234", {"num": "1234"}),
        ("%{FIZZLE=\\d+}", "hello 1234", {}),
        ("%{INT:n}", "abc 42 def 7", {"n": "42"}),  # unanchored, first match
        ("%{WORD:k}=%{GREEDYDATA:v}", "name=Čierný 中", {"k": "name", "v": "Čierný 中"}),
    ],
)
def test_captures_follow_logstash(expression: str, text: str, fields: dict[str, object]) -> None:
    assert grok_match(expression, text) == fields


def test_no_match_is_none() -> None:
    assert grok_match("^%{WORD:w}$", "hello world") is None


def test_keep_empty_keeps_empty_and_missing_captures() -> None:
    assert grok_match("%{DATA:x}x", "x", keep_empty=True) == {"x": ""}
    assert grok_match("1=%{WORD:a} *(2=%{WORD:b})?", "1=t", keep_empty=True) == {"a": "t", "b": None}


def test_group_fields_and_regex_for_hot_loops() -> None:
    g = bundled().compile("%{INT:n:int} %{WORD:[a][b]}")
    assert [field for field, _ in g.group_fields.values()] == ["n", "[a][b]"]
    m = g.regex.search("x 12 yz")
    assert m is not None and g.captures(m) == {"n": 12, "a": {"b": "yz"}}


def test_break_on_match_takes_the_first_matching_expression() -> None:
    multi = bundled().compile_many(["%{INT:foo}", "%{WORD:bar}"])
    assert multi.match("hello world 123") == {"foo": "123"}
    assert multi.match("hello world") == {"bar": "hello"}
    assert multi.match_first("hello world") == (1, {"bar": "hello"})
    assert multi.match("") is None


def test_without_break_on_match_every_expression_adds() -> None:
    multi = bundled().compile_many(["%{GREEDYDATA:name1}beard", "tree%{GREEDYDATA:name2}"], break_on_match=False)
    assert multi.match("treebeard") == {"name1": "tree", "name2": "beard"}
    assert multi.match("treebranch") == {"name2": "branch"}
    assert multi.match("bush") is None


@pytest.mark.parametrize("expression", ["(%{WORD:x}", "%{WORD:x})", "[abc"])
def test_bad_regex_is_one_line_error(expression: str) -> None:
    with pytest.raises(GrokError) as info:
        bundled().compile(expression)
    assert "\n" not in str(info.value) and expression in str(info.value)


def test_pathological_pattern_times_out_instead_of_hanging() -> None:
    lib = PatternLibrary.load(definitions={"EVIL": "(?:a|aa)+(?:b|ab)+c"})
    g = lib.compile("^%{EVIL:e}$", timeout=0.2)
    assert g.uses_regex_module
    started = time.monotonic()
    with pytest.raises(GrokTimeout, match="timed out"):
        g.match("a" * 60 + "!")
    assert time.monotonic() - started < 5
    assert g.match("aabc") == {"e": "aabc"}


def test_safe_patterns_use_the_standard_library() -> None:
    g = bundled().compile("%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:host} %{SYSLOGPROG}: %{GREEDYDATA:msg}")
    assert not g.uses_regex_module and g.line_regex is not None


@pytest.mark.parametrize("expression", [r"\B", r"(?<x>\B)", r"^\B$", r"\B\p{L}*"])
def test_not_a_word_boundary_matches_an_empty_line(expression: str) -> None:
    """In Ruby an empty string has no word boundary, so ``\\B`` matches it; Python's ``re``
    refuses ``\\B`` on an empty string."""
    assert grok_match(expression, "") == {}


def test_an_empty_line_matches_not_a_word_boundary_in_grok_match(tmp_path: object) -> None:
    from click.testing import CliRunner

    from sipparse.cli import cli

    result = CliRunner().invoke(cli, ["grok", "match", r"^\B$"], input="\n")
    assert result.output.splitlines() == ["{}"]


@pytest.mark.parametrize(
    ("expression", "text", "fields"),
    [
        (r"a(?<r>\R)", "a\r\nb", {"r": "\r\n"}),
        (r"a\R\n", "a\r\n", None),  # Ruby's \R is atomic: it does not give back the \n of \r\n
        (r"a\R\n", "a\n\n", {}),
        (r"a(?<r>\R)", "a\u2028", {"r": "\u2028"}),
        (r"a\R\p{L}", "a\r\nb", {}),
        (r"a\R\n\p{L}", "a\r\nb", None),
    ],
)
def test_linebreak_escape_is_atomic_as_in_ruby(expression: str, text: str, fields: dict[str, str] | None) -> None:
    assert grok_match(expression, text) == fields


@pytest.mark.parametrize(
    ("expression", "text", "fields"),
    [
        (r"\b(?<w>[a-z]+)\b", "éab cd", {"w": "cd"}),  # é is a word character to \b in Ruby
        (r"(?<w>[a-z]+)\b", "abé cd", {"w": "cd"}),
        (r"\b(?<w>[a-z]+)", "中ab", None),
        (r"x\B", "xé", {}),
        (r"%{WORD:w}", "Čab", None),  # \w stays ASCII, and no match begins inside a word
        (r"%{WORD:w}", "Č ab", {"w": "ab"}),
    ],
)
def test_word_boundary_is_unicode_as_in_ruby(expression: str, text: str, fields: dict[str, str] | None) -> None:
    assert grok_match(expression, text) == fields


@pytest.mark.parametrize(
    ("expression", "text", "fields"),
    [
        # Logstash cannot set [a][b] under a string, a list or a number: the first value stays
        ("%{WORD:[a]} %{WORD:[a][b]}", "x y", {"a": "x"}),
        ("%{WORD:a} %{WORD:[a][b]}", "x y", {"a": "x"}),
        ("%{WORD:a} %{WORD:a} %{WORD:[a][b]}", "x y z", {"a": ["x", "y"]}),
        ("%{INT:a:int} %{WORD:[a][b]}", "1 y", {"a": 1}),
        ("%{WORD:[a][b]} %{WORD:[a][b][c]}", "x y", {"a": {"b": "x"}}),
        # and a value under an object is not replaced by a string
        ("%{WORD:[a][b]} %{WORD:[a]}", "x y", {"a": {"b": "x"}}),
        ("%{WORD:[a][b]} %{WORD:[a][c]}", "x y", {"a": {"b": "x", "c": "y"}}),
    ],
)
def test_a_field_reference_under_a_value_keeps_the_value(
    expression: str, text: str, fields: dict[str, object]
) -> None:
    assert grok_match(expression, text) == fields


@pytest.mark.parametrize(
    ("expression", "text", "fields"),
    [
        (r"^\g<b>-(?<b>[0-9]+)$", "12-34", {"b": "34"}),  # Ruby calls a group defined later
        (r"^\g<b>-(?<b>[0-9]+)$", "12-x", None),
        (r"^(?<a>x\g<b>?)(?<b>y\g<a>?)$", "xyxy", {"a": "xyx", "b": "y"}),
    ],
)
def test_a_call_may_name_a_group_defined_later(expression: str, text: str, fields: dict[str, str] | None) -> None:
    assert grok_match(expression, text) == fields


def test_a_call_to_a_group_never_defined_is_refused() -> None:
    with pytest.raises(GrokError, match=r"undefined name <c> reference at position 3"):
        grok_match(r"(\g<c>)(?<b>x)", "x")
