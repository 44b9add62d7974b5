"""Oniguruma -> Python translation: each documented rewrite, checked by what it matches."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sipparse.grok.onig import OnigSyntaxError, translate

FLAGS = re.DOTALL | re.MULTILINE


def rx(source: str) -> re.Pattern[str]:
    return re.compile(translate(source).pattern, FLAGS)


def finds(source: str, text: str) -> str | None:
    m = rx(source).search(text)
    return None if m is None else m.group()


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        (r"a.c", "a\nc", "a\nc"),  # Ruby MULTILINE: dot matches newline
        (r"(?-m)a.c", "a\nc", None),
        (r"(?m:a.c)", "a\nc", "a\nc"),
        (r"^b$", "a\nb\nc", "b"),  # ^ and $ are line anchors
        (r"\h+", "xyz09afAFg", "09afAF"),  # hex digit, not horizontal space
        (r"x\H", "x1xg", "xg"),
        (r"\d+", "٣٤12", "12"),  # ASCII digits only
        (r"\w+", "éab_1é", "ab_1"),
        (r"\s+", "a\u00a0 \tb", " \t"),
        (r"\bab", "éab ab", "ab"),
        (r"ab\z", "ab\n", None),
        (r"ab\Z", "ab\n", "ab"),
        (r"\Aab", "x\nab", None),
        (r"a?*b", "aab", "aab"),  # stacked quantifiers Oniguruma accepts
        (r"a**b", "aab", "aab"),
        (r"a+*b", "b", "b"),
        (r"a{2}+", "aaaaa", "aaaa"),  # {n}+ is not possessive in Ruby
        (r"^a{2}?$", "", ""),  # {n}? is optional in Ruby, not a lazy {n}
        (r"^a{2}?$", "aa", "aa"),
        (r"xa{2}?", "xa", "x"),
        (r"^(?:ab){1}?c", "c", "c"),
        (r"a{1,2}?", "aa", "a"),  # {n,m}? stays lazy
        (r"a{2,}?", "aaa", "aa"),
        (r"a++a", "aaa", None),  # possessive
        (r"(?>a+)a", "aaa", None),  # atomic
        (r"[[:alnum:]]+", "-Čierný中_", "Čierný中"),  # POSIX classes are Unicode-aware
        (r"[[[:alnum:]]_]+", "-Čierný_中-", "Čierný_中"),  # nested class is a union
        (r"[^[:alnum:]]+", "ab-+cd", "-+"),
        (r"[a-z&&[^aeiou]]+", "aebcdi", "bcd"),  # intersection
        (r"[\x21-\x5a]+", "  !AZ[", "!AZ"),
        (r"\e\x41\x{42}\u0043", "\x1bABC", "\x1bABC"),
        (r"a(?#comment)b", "ab", "ab"),
        ("(?x) a b # spaced\n c", "abc", "abc"),
        (r"a(?i)b|c", "aB", "aB"),  # isolated option covers the rest of the group
        (r"a(?i)b|c", "aC", "aC"),
        (r"a(?i)b|c", "C", None),
        (r"(?<=ab)c", "abc", "c"),
        (r"[\]a]+", "]a]", "]a]"),
    ],
)
def test_translation_matches_like_ruby(source: str, text: str, found: str | None) -> None:
    assert finds(source, text) == found


def test_named_groups_are_renamed_and_mapped_back() -> None:
    t = translate(r"(?<word>\w+) (?'num'\d+) (?<word>\w+)")
    assert [name for _, name in t.groups] == ["word", "num", "word"]
    m = re.compile(t.pattern, FLAGS).search("ab 12 cd")
    assert m is not None and [m.group(py) for py, _ in t.groups] == ["ab", "12", "cd"]


def test_plain_groups_do_not_capture_beside_named_ones() -> None:
    assert re.compile(translate(r"(a)(?<n>b)").pattern).groups == 1
    assert re.compile(translate(r"(a)(b)\2").pattern).search("abb") is not None


def test_backreference_by_name_follows_the_latest_group() -> None:
    t = translate(r"(?<q>['\"])x\k<q>")
    assert re.compile(t.pattern).search("'x'") and not re.compile(t.pattern).search("'x\"")


@pytest.mark.parametrize("source", [r"(a", r"a)", r"*a", r"[abc", r"(?<n>a)\k<m>", r"[[:nonsense:]]", "a\\",
                                    r"\x{110000}", r"[\x{ffffffff}]"])
def test_malformed_regexes_are_errors_with_a_position(source: str) -> None:
    with pytest.raises(OnigSyntaxError, match="position"):
        translate(source)


@pytest.mark.parametrize("source", ["x(?<timestamp>[0-9]+ ", "x(?:a", "x(?i:a", "x(?>a", "x(?=a", "x(a", "x(a)(b"])
def test_an_unclosed_group_is_reported_where_it_opens(source: str) -> None:
    """The position was that of the end of the opener (12 for ``(?<timestamp>``), which
    points at nothing a user can see."""
    with pytest.raises(OnigSyntaxError) as caught:
        translate(source)
    assert caught.value.pos == source.rindex("(")


def test_regex_module_features_are_flagged() -> None:
    assert translate(r"\p{Greek}+").needs_regex
    assert not translate(r"[[:upper:]]").needs_regex
    assert not translate(r"[[:alnum:]]").needs_regex


@pytest.mark.parametrize(("source", "risky"), [(r"(a+)+b", True), (r"(?:x.*){3}", False),
                                               (r".*a.*b.*c", True), (r"(?>a+)+b", False), (r"[a-z]+\d+", False)])
def test_backtracking_risk_is_detected(source: str, risky: bool) -> None:
    assert translate(source).risky is risky


LINE_MODE_PATTERNS = [r"a.c", r"[^x]+", r"\s+\S+", r"\Aab", r"ab\z", r"(?<!\s)b", r"[[:space:]]+x", r"\D+"]


@pytest.mark.parametrize("source", LINE_MODE_PATTERNS)
@given(lines=st.lists(st.text(alphabet="ab c\txA1", max_size=8), min_size=1, max_size=5))
def test_line_mode_finds_what_a_search_of_each_line_finds(source: str, lines: list[str]) -> None:
    whole = re.compile(translate(source).pattern, FLAGS)
    per_line = re.compile(f"(?:{translate(source, line_mode=True).pattern})[^\\n]*", FLAGS)
    expected = [m.groups() if (m := whole.search(line)) else None for line in lines]
    block = "\n".join(lines)
    found: list[tuple[str | None, ...] | None] = [None] * len(lines)
    for m in per_line.finditer(block):
        index = block.count("\n", 0, m.start())
        if found[index] is None and m.start() >= block.rfind("\n", 0, m.start()) + 1:
            found[index] = m.groups()
            assert "\n" not in m.group()
    assert [f is not None for f in found] == [e is not None for e in expected]


@pytest.mark.parametrize(("source", "pos"), [(r"(?<x>\p{Foo})", 5), (r"ab[\p{Bar}]", 3), (r"\P{^Nope}", 0)])
def test_an_unknown_property_is_reported_where_it_is_written(source: str, pos: int) -> None:
    """The regex module reported it at a position in the translation (14 for the first)."""
    with pytest.raises(OnigSyntaxError, match="invalid character property name") as caught:
        translate(source)
    assert caught.value.pos == pos


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        (r"[[:punct:]]+", "a$+<=>^`|~!-b", "$+<=>^`|~!-"),  # Ruby adds these ASCII symbols
        (r"[[:punct:]]", "€©", None),  # other symbols are not punctuation
        (r"[[:^punct:]]+", "$ab$", "ab"),
        (r"[[:alpha:]]+", "²1कि", "कि"),  # Alphabetic: a vowel sign counts, a superscript not
        (r"[[:alpha:]]+", "_Ⅻé", "Ⅻé"),
        (r"[[:alnum:]]+", "²a1_", "a1"),
        (r"[[:upper:]]+", "aⅫB", "ⅫB"),
        (r"[[:lower:]]+", "Aªb", "ªb"),
        (r"[[:space:]]", "\x1c\x1f", None),  # not White_Space, though Python's \s says so
        (r"[[:space:]]+", "a\u00a0\u2028 b", "\u00a0\u2028 "),
        (r"[[:blank:]]+", "a\u00a0\u3000\tb", "\u00a0\u3000\t"),
        (r"[[:word:]]+", "-a\u0301\u203fb-", "a\u0301\u203fb"),
        (r"[[:graph:]]+", " a€\u200b ", "a€\u200b"),
        (r"[[:print:]]+", "\x01a b\x02", "a b"),
        (r"[[:cntrl:]]", "\u200b\u00ad", None),
        (r"[[:digit:]]+", "²١2", "١2"),
        (r"[[:alpha:][:digit:]]+", "-é1-", "é1"),
    ],
)
def test_posix_brackets_have_rubys_unicode_meaning(source: str, text: str, found: str | None) -> None:
    assert finds(source, text) == found
    assert not translate(source).needs_regex  # stdlib re reads them: the fast paths stay open


@pytest.mark.parametrize(
    "source",
    [r"(?<a>\g<a>x|y)", r"(?<a>y|\g<a>x)", r"(?<a>x?\g<a>)", r"(?<a>(?:x|)\g<a>y|z)", r"(?<a>(?<b>\g<a>)z|y)",
     r"(?<a>^\b\g<a>)", r"(?<a>x*+\g<a>)", r"(a\g<1>?|(\g<1>))",
     r"(?<a>(?=x)\g<a>|y)"],
)
def test_left_recursive_calls_are_refused_as_oniguruma_does(source: str) -> None:
    with pytest.raises(OnigSyntaxError, match="never ending recursion"):
        translate(source)


@pytest.mark.parametrize(
    "source", [r"(?<a>x\g<a>|y)", r"(?<a>\(\g<a>*\)|x)", r"(?<a>x{2}\g<a>?)", r"(?<a>y)\g<a>\g<a>",
               r"(?<b>z)(?<a>\g<b>\g<a>?)"],
)
def test_calls_after_a_consumed_character_are_accepted(source: str) -> None:
    assert translate(source).needs_regex


def test_a_left_recursive_pattern_is_one_line_error() -> None:
    from sipparse.grok import GrokError
    from tests.grok.helpers import bundled

    with pytest.raises(GrokError, match=r"bad regex in grok expression .*never ending recursion"):
        bundled().compile(r"(?<a>\g<a>x|y)")


def test_a_left_recursion_through_a_later_group_is_refused() -> None:
    with pytest.raises(OnigSyntaxError, match="never ending recursion"):
        translate(r"(?<a>\g<b>x|y)(?<b>\g<a>z)")


@pytest.mark.parametrize("source", [r"(?<a>x) (b)\1", r"(?<a>\w+) \1", r"\k<1>(?<a>x)", r"(?<a>x)\g<1>",
                                    r"(?<a>x)\k'1'"])
def test_numbered_references_beside_named_groups_are_refused_as_in_ruby(source: str) -> None:
    """Ruby numbers no group when some have names, so ``\\1`` there is an error, not a
    reference to the first named group."""
    with pytest.raises(OnigSyntaxError, match=r"numbered backref/call is not allowed. \(use name\)"):
        translate(source)


@pytest.mark.parametrize(("source", "text", "found"), [(r"(b)\1", "abb", "bb"), (r"(?<a>x)\k<a>", "xx", "xx")])
def test_numbered_references_without_named_groups_still_work(source: str, text: str, found: str) -> None:
    assert finds(source, text) == found


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        (r"\p{Punct}+", "a$+<=>^`|~!b", "$+<=>^`|~!"),  # Ruby's POSIX punct, as [[:punct:]]
        (r"\p{punct}+", "a$!b", "$!"),  # names ignore case, spaces, '-' and '_'
        (r"\p{X_Digit}+", "g0fF１", "0fF"),  # ASCII only, not the fullwidth digit
        (r"\P{Alpha}+", "ab12cd", "12"),
        (r"\p{^Alpha}+", "ab12cd", "12"),
        (r"[\p{Alpha}\d]+", "-ab12-", "ab12"),
        (r"[^\p{Space}]+", " ab ", "ab"),
        (r"[x\P{Digit}]+", "12ab3", "ab"),
    ],
)
def test_posix_names_as_properties_mean_what_the_brackets_mean(source: str, text: str, found: str) -> None:
    assert finds(source, text) == found


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        (r"\C-a", "C-a\x01", "\x01"),  # Ruby's control escape, like \ca
        (r"[\C-a]+", "Cb\x01", "\x01"),  # not a range from C to a
        (r"\c?", "\x1f\x7f", "\x7f"),  # \c? is DEL
        (r"\C-?", "\x7f", "\x7f"),
        (r"\M-a", "M-a\xe1", "\xe1"),  # meta: the code with bit 7 set
        (r"\M-\C-a", "\x81", "\x81"),
        (r"\C-\M-a", "\x81", "\x81"),
    ],
)
def test_control_and_meta_escapes_as_in_ruby(source: str, text: str, found: str) -> None:
    assert finds(source, text) == found


@pytest.mark.parametrize("source", [r"\C", r"\Ca", r"\M", r"\M+a", r"\M-"])
def test_malformed_control_and_meta_escapes_are_errors(source: str) -> None:
    with pytest.raises(OnigSyntaxError):
        translate(source)


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        (r"(?<q><)?a(?(<q>)>|!)", "<a> a!", "<a>"),
        (r"(?<q><)?a(?(<q>)>|!)", "<a! a!", "a!"),
        (r"(?<q><)?a(?('q')>)", "a>", "a"),
        (r"(<)?a(?(1)>|!)", "a! <a>", "a!"),
    ],
)
def test_conditionals_as_in_ruby(source: str, text: str, found: str) -> None:
    assert finds(source, text) == found
    assert not translate(source).needs_regex


@pytest.mark.parametrize("source", [r"(?(<q>)a)", r"(?<q>x)(?(q)a)", r"(?<q>x)(?(1)a)"])
def test_malformed_conditionals_are_errors(source: str) -> None:
    with pytest.raises(OnigSyntaxError):
        translate(source)


@pytest.mark.parametrize("source", [r"(?<a>x)(?<a>y)\g<a>", r"\g<a>(?<a>x)(?<a>y)", r"(?<a>x)\g<a>(?<a>y)"])
def test_a_call_to_a_name_defined_twice_is_refused_as_in_ruby(source: str) -> None:
    with pytest.raises(OnigSyntaxError, match=r"multiplex definition name <a> call"):
        translate(source)


@pytest.mark.parametrize(
    ("source", "text", "found"),
    [
        (r"(a)(b)\k<-1>", "abb", "abb"),  # relative backreferences and calls, as in Ruby
        (r"(a)(b)\k<-2>", "aba", "aba"),
        (r"(a)\g<+1>(b)", "abb", "abb"),
        (r"(a|b)\g<-1>", "ab", "ab"),
    ],
)
def test_relative_references(source: str, text: str, found: str) -> None:
    t = translate(source)
    assert __import__("regex").search(t.pattern, text, FLAGS).group() == found


def test_a_whole_pattern_call_is_allowed_beside_named_groups() -> None:
    import regex

    t = translate(r"\((?<x>[a-z]*)(?:\g<0>[a-z]*)?\)")
    assert regex.search(t.pattern, "((ab)c)", FLAGS).group() == "((ab)c)"


def test_a_left_recursive_whole_pattern_call_is_refused() -> None:
    with pytest.raises(OnigSyntaxError, match="never ending recursion"):
        translate(r"a|\g<0>b")
