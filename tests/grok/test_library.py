"""Pattern files, layering and expansion errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipparse.errors import SipparseError
from sipparse.grok import GrokError, PatternLibrary, bundled_patterns_dir
from sipparse.grok.library import parse_pattern_line
from tests.grok.helpers import library_with


def test_bundled_dir_holds_the_base_library() -> None:
    directory = bundled_patterns_dir()
    assert (directory / "grok-patterns").is_file()
    assert {"linux-syslog", "httpd"} <= {p.name for p in directory.iterdir()}


@pytest.mark.parametrize(
    ("line", "parsed"),
    [
        ("WORD \\b\\w+\\b", ("WORD", "\\b\\w+\\b")),
        ("  INDENTED\t\tx y ", ("INDENTED", "x y ")),
        ("# a comment", None),
        ("   # indented comment", None),
        ("", None),
        ("NAMEONLY", None),
        ("CRLF a\r", ("CRLF", "a")),
        ("NBSP \u00a0x", ("NBSP", "\u00a0x")),  # Ruby's \s is ASCII: the no-break space is the regex's
    ],
)
def test_pattern_lines_split_like_logstash(line: str, parsed: tuple[str, str] | None) -> None:
    assert parse_pattern_line(line) == parsed


def test_definition_names_file_and_line(tmp_path: Path) -> None:
    lib = library_with(tmp_path, {"extra": "# header\n\nPBX pbx-[a-z]+\n"})
    regex, file, line = lib.definition("PBX")
    assert (regex, Path(file).name, line) == ("pbx-[a-z]+", "extra", 3)


def test_user_dirs_win_over_bundled_and_definitions_over_all(tmp_path: Path) -> None:
    lib = library_with(tmp_path, {"mine": "WORD \\b[0-1]\\b\nONLYMINE x\n"})
    assert lib.compile("%{WORD:w}").match("hello 1") == {"w": "1"}
    assert lib.definition("ONLYMINE").regex == "x"
    lib = library_with(tmp_path, {"mine": "WORD \\b[0-1]\\b\n"}, definitions={"WORD": "h\\w+"})
    assert lib.compile("%{WORD:w}").match("oh hello 1") == {"w": "hello"}
    assert lib.definition("WORD").file == "--define"


def test_later_files_of_a_dir_win(tmp_path: Path) -> None:
    lib = library_with(tmp_path, {"a": "X a\n", "b": "X b\n"})
    assert lib.definition("X").regex == "b"


def test_undefined_pattern_names_the_user(tmp_path: Path) -> None:
    lib = library_with(tmp_path, {"mine": "OUTER x%{INNER}\n"})
    with pytest.raises(GrokError, match=r"pattern %\{INNER\} not defined \(used by %\{OUTER\} at .*mine:1\)"):
        lib.compile("%{OUTER}")
    with pytest.raises(SipparseError, match=r"pattern %\{NOPE\} not defined"):
        lib.compile("%{NOPE:x}")


def test_patterns_that_double_at_each_level_are_refused_before_they_fill_memory(tmp_path: Path) -> None:
    """30 lines, each using the next twice: 2^30 characters if expanded."""
    lines = [f"W{i} %{{W{i + 1}}}%{{W{i + 1}}}" for i in range(30)] + ["W30 x"]
    lib = library_with(tmp_path, {"mine": "\n".join(lines) + "\n"})
    with pytest.raises(GrokError, match=r"%\{W\d+\} at .*mine:\d+ expands to more than 1048576 characters"):
        lib.compile("%{W0}")
    with pytest.raises(GrokError, match=r"the expression expands to more than"):
        lib.compile("%{W20}" * 300)


def test_cycles_are_errors_naming_the_chain(tmp_path: Path) -> None:
    lib = library_with(tmp_path, {"mine": "A a%{B}\nB b%{A}\nSELF %{SELF}\n"})
    with pytest.raises(GrokError, match=r"%\{A\} refers to itself \(A -> B -> A\) at .*mine:1"):
        lib.compile("%{A}")
    with pytest.raises(GrokError, match=r"SELF -> SELF"):
        lib.compile("x %{SELF:s}")


def test_expansion_is_memoised_and_compiles_are_cached() -> None:
    lib = PatternLibrary.load()
    first = lib.compile("%{IPORHOST:h}")
    assert lib.compile("%{IPORHOST:h}") is first
    assert "IPORHOST" in lib._expanded and "IPV4" in lib._expanded


def test_a_new_definition_drops_the_caches() -> None:
    lib = PatternLibrary.load()
    assert lib.compile("%{WORD:w}").match("abc") == {"w": "abc"}
    lib.define("WORD", "b")
    assert lib.compile("%{WORD:w}").match("abc") == {"w": "b"}


def test_missing_patterns_dir_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GrokError, match="does not exist"):
        PatternLibrary.load(extra_dirs=[tmp_path / "absent"])


def test_bad_inline_name_is_an_error() -> None:
    with pytest.raises(GrokError, match="bad pattern name"):
        PatternLibrary.load(definitions={"BAD NAME": "x"})


def test_names_by_prefix() -> None:
    names = PatternLibrary.load().names("SYSLOG5424")
    assert "SYSLOG5424LINE" in names and all(n.startswith("SYSLOG5424") for n in names)


@pytest.mark.parametrize(
    ("expression", "literal"),
    [
        ("%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:host} %{SYSLOGPROG}: %{GREEDYDATA:msg}", ": "),
        ("\\[%{INT:n}\\] seen", "] seen"),
        ("%{INT:n}", None),
        ("a? %{INT:n}", None),  # optional literal: not required
        ("x|y %{INT:n}", None),
        ("(a) %{INT:n}", None),
        ("%{X=\\d+} bar", None),
    ],
)
def test_required_literal_only_when_certain(expression: str, literal: str | None) -> None:
    from sipparse.grok.library import required_literal

    assert required_literal(expression) == literal


def test_a_bad_regex_in_a_pattern_file_names_the_pattern_file_and_line(tmp_path: Path) -> None:
    """The position in the whole expansion of an expression told nothing: the error names
    the innermost pattern at fault, where it is defined, and the expression that used it."""
    lib = library_with(tmp_path, {"mine": "# mine\nBAD (foo\nOUTER %{WORD} %{BAD}\n"})
    with pytest.raises(GrokError, match=r"^bad regex in pattern %\{BAD\} at .*mine:2: end pattern with unmatched "
                                        r"parenthesis at position 0 \(used by '%\{OUTER:o\}'\)$"):
        lib.compile("%{OUTER:o}")


def test_a_bad_redefinition_of_a_dialect_prefix_names_its_file(tmp_path: Path) -> None:
    lib = library_with(tmp_path, {"mine": "ASTERISK_SYSLOG_LINE (?<timestamp>%{SYSLOGTIMESTAMP} x\n"})
    with pytest.raises(GrokError, match=r"pattern %\{ASTERISK_SYSLOG_LINE\} at .*mine:1: end pattern with unmatched "
                                        r"parenthesis \(used by"):
        lib.compile("^(?:%{ASTERISK_SYSLOG_LINE})")


@pytest.mark.parametrize("expression", ["(%{WORD:x}", "%{WORD:w} (?<x>[a-", "x{2,1}"])
def test_a_bad_regex_in_the_expression_itself_names_the_expression(expression: str) -> None:
    with pytest.raises(GrokError, match=r"^bad regex in grok expression '"):
        PatternLibrary.load().compile(expression)


def test_a_bad_inline_definition_is_named(tmp_path: Path) -> None:
    lib = PatternLibrary.load(definitions={"Q": "[z-a]"})
    with pytest.raises(GrokError, match=r"^bad regex in pattern %\{Q\} in --define: "):
        lib.compile("%{Q:q}")


def test_a_user_dir_is_read_like_logstash_reads_it(tmp_path: Path) -> None:
    """Logstash's default ``patterns_files_glob`` is ``*``: every file but dot files, whatever
    its name (``custom.txt`` was skipped, and %{CUSTOM} not defined), no subdirectory."""
    lib = library_with(tmp_path, {"custom.txt": "CUSTOM c\n", "notes.md": "NOTES n\n", "__init__": "INIT i\n",
                                  ".hidden": "HIDDEN h\n"})
    (tmp_path / "patterns" / "sub").mkdir()
    (tmp_path / "patterns" / "sub" / "deeper").write_text("DEEPER d\n")
    assert lib.compile("%{CUSTOM:c} %{NOTES:n} %{INIT:i}").match("c n i") == {"c": "c", "n": "n", "i": "i"}
    assert "HIDDEN" not in lib and "DEEPER" not in lib


def test_the_bundled_dir_leaves_out_its_readme() -> None:
    lib = PatternLibrary.load()
    assert all(Path(lib.definition(n).file).name != "README.md" for n in lib.names())


def test_a_byte_order_mark_is_no_part_of_the_first_name(tmp_path: Path) -> None:
    """A file saved with a BOM defined an invisible "\\ufeffFIRST": %{FIRST} was not defined."""
    directory = tmp_path / "patterns"
    directory.mkdir()
    (directory / "mine").write_bytes(b"\xef\xbb\xbfFIRST one\r\nSECOND two\r\n")
    lib = PatternLibrary.load(extra_dirs=[directory])
    assert lib.compile("%{FIRST:a} %{SECOND:b}").match("one two") == {"a": "one", "b": "two"}


@pytest.mark.parametrize("reference", ["%{MY-PATTERN:x}", "%{MY.PATTERN}"])
def test_a_name_cut_short_by_a_dash_or_dot_says_why(tmp_path: Path, reference: str) -> None:
    """Logstash reads %{MY-PATTERN} as %{MY}: the file defines MY-PATTERN, grok list shows it,
    and "pattern %{MY} not defined" alone left the user puzzled."""
    lib = library_with(tmp_path, {"mine": "MY-PATTERN x\nMY.PATTERN y\n"})
    with pytest.raises(GrokError, match=r"^pattern %\{MY\} not defined \(read from .*PATTERN.*: a pattern name is "
                                        r"letters, digits and _ only"):
        lib.compile(reference)


def test_a_pattern_not_in_utf8_is_an_error_when_used(tmp_path: Path) -> None:
    """A Latin-1 "caf\\xe9" never matched "café", silently; Ruby refuses such a regex. Only a
    pattern in use is an error: a Latin-1 comment or an unused line is not."""
    directory = tmp_path / "patterns"
    directory.mkdir()
    (directory / "latin1").write_bytes(b"# caf\xe9\nCAFE caf\xe9\nPLAIN ok\n")
    lib = PatternLibrary.load(extra_dirs=[directory])
    assert lib.compile("%{PLAIN:p}").match("ok") == {"p": "ok"}
    with pytest.raises(GrokError, match=r"^pattern %\{CAFE\} at .*latin1:2 is not valid UTF-8"):
        lib.compile("x %{CAFE:c}")
