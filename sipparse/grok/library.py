"""Pattern files and the expansion of ``%{SYNTAX:SEMANTIC}`` references, as Logstash has them.

Pattern files hold one ``NAME REGEX`` per line; ``#`` comment lines and lines without a
regex are ignored. Definitions are layered like Logstash's grok filter: the bundled
library first, then each user directory in order (a later definition of a name wins),
then inline definitions (``--define``, Logstash's ``pattern_definitions``), which win over
everything.

An expression is expanded the way ruby-grok does it: ``%{NAME}`` becomes ``(?:REGEX)``
(matched, not captured), ``%{NAME:field}`` and ``%{NAME:field:int}`` a named group whose
name is the whole reference, ``%{NAME:field=REGEX}`` defines NAME first. Anything else
before the closing ``}`` is ignored, as in Logstash. Expansion is recursive and memoised;
the result is then translated from Ruby's regex dialect (see ``onig``) and compiled once.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from sipparse.grok.errors import GrokError

# ruby-grok's reference syntax; ``A-z`` is theirs (it also admits ``[\]^_`` and the backtick).
_REFERENCE = re.compile(r"%\{(?P<name>(?P<pattern>[A-z0-9]+)(?::(?P<subname>[@\[\]A-z0-9_:.-]+))?)[^}]*\}")
_FULL_REFERENCE = (
    r"%\{(?<name>(?<pattern>[A-z0-9]+)(?::(?<subname>[@\[\]A-z0-9_:.-]+))?)"
    r"(?:=(?<definition>(?:(?:[^{}\\]+|\\.+)+|(?<curly>\{(?:(?>[^{}]+|(?>\\[{}])+)|(?&curly))*\})+)+))?"
    r"[^}]*\}"
)
# in the bundled directory (an installed data package) only: its README and package files
_SKIPPED_SUFFIXES = (".md", ".py", ".pyc", ".txt", ".rst", ".orig", ".rej", "~")
MAX_DEPTH = 200
# The longest bundled expansion is 5,200 characters; a file whose patterns each use the one
# below twice doubles its size at each level, 2^30 characters from 30 lines.
MAX_EXPANDED_CHARS = 1 << 20
_UNDECODED = re.compile("[\udc80-\udcff]")
# Ruby's \s: a no-break space in a pattern line belongs to the name or the regex
_RUBY_SPACE = " \t\n\v\f\r"


_SAFE_LITERAL = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 :;,=/@#'\"<>!%&~_-")
_ESCAPED_LITERAL = frozenset("[](){}.*+?|^$\\/-")


def required_literal(expression: str) -> str | None:
    """A text every match of the expression contains, or None when none is certain.

    Only an expression made of references and plain literal text qualifies: each literal
    run then appears in every match, and the longest one is returned (a line without it
    cannot match, which a search can learn far faster than by trying the expression).
    """
    runs, current, pos = [], [], 0
    while pos < len(expression):
        if expression.startswith("%{", pos):
            m = _REFERENCE.match(expression, pos)
            if m is None or expression.startswith("=", m.end("name")):
                return None
            runs.append("".join(current))
            current, pos = [], m.end()
        elif expression[pos] in _SAFE_LITERAL:
            current.append(expression[pos])
            pos += 1
        elif expression[pos] == "\\" and expression[pos + 1:pos + 2] in _ESCAPED_LITERAL and pos + 1 < len(expression):
            current.append(expression[pos + 1])
            pos += 2
        else:
            return None
    runs.append("".join(current))
    return max(runs, key=len) or None


class PatternDefinition(NamedTuple):
    """One named pattern and where it was defined (``line`` 0 for inline definitions)."""

    regex: str
    file: str
    line: int


def bundled_patterns_dir() -> Path:
    """The bundled ``grok_patterns`` directory, installed from a wheel or in a checkout."""
    import sipparse

    package = Path(sipparse.__file__).resolve().parent
    for candidate in (package / "grok_patterns", package.parent / "grok_patterns"):
        if (candidate / "grok-patterns").is_file():
            return candidate
    from importlib.util import find_spec

    spec = find_spec("sipparse.grok_patterns")
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "grok-patterns").is_file():
            return Path(location)
    raise GrokError(f"the bundled grok pattern library is missing (looked in {package})")


def pattern_files(directory: Path, bundled: bool = False) -> list[Path]:
    """The pattern files of a directory in the order they are read (sorted by name).

    A user's directory is read as Logstash's ``patterns_files_glob`` default ``*`` reads it:
    every file whose name does not start with a dot, whatever its suffix (``custom.txt``
    too), subdirectories not entered. The bundled directory leaves out its README and
    package files.
    """
    try:
        entries = sorted(os.listdir(directory))
    except OSError as exc:
        raise GrokError(f"cannot read patterns directory {directory}: {exc.strerror or exc}") from None
    names = [e for e in entries if not e.startswith(".")]
    if bundled:
        names = [e for e in names if not e.startswith("__") and not e.endswith(_SKIPPED_SUFFIXES)]
    return [directory / n for n in names if (directory / n).is_file()]


def parse_pattern_file(path: Path) -> Iterable[tuple[str, PatternDefinition]]:
    """``(name, definition)`` for each pattern line of a file, as Logstash splits them."""
    try:
        text = path.read_text(encoding="utf-8", errors="surrogateescape")
    except OSError as exc:
        raise GrokError(f"cannot read pattern file {path}: {exc.strerror or exc}") from None
    # A byte order mark (Windows editors write one) is no part of the first pattern's name
    for number, line in enumerate(text.removeprefix("\ufeff").split("\n"), 1):
        parsed = parse_pattern_line(line)
        if parsed:
            yield parsed[0], PatternDefinition(parsed[1], str(path), number)


def parse_pattern_line(line: str) -> tuple[str, str] | None:
    """Ruby's ``line.lstrip.split(/\\s+/, 2)`` with the newline chomped; None for no pattern."""
    stripped = line.rstrip("\r").lstrip(_RUBY_SPACE)
    if not stripped or stripped.startswith("#"):
        return None
    parts = re.split(f"[{_RUBY_SPACE}]+", stripped, maxsplit=1)
    if len(parts) < 2 or not parts[1]:
        return None
    return parts[0], parts[1]


class PatternLibrary:
    """Named patterns, layered bundled < user directories < inline definitions.

    Compiled expressions are cached per library: compile an expression once and reuse
    the returned :class:`~sipparse.grok.matcher.Grok` for every line.
    """

    def __init__(self, definitions: Mapping[str, PatternDefinition] | None = None) -> None:
        self._definitions: dict[str, PatternDefinition] = dict(definitions or {})
        self._expanded: dict[str, str] = {}
        self._compiled: dict[tuple[Any, ...], Any] = {}

    @classmethod
    def load(
        cls,
        extra_dirs: Iterable[str | os.PathLike[str]] = (),
        definitions: Mapping[str, str] | None = None,
        bundled: bool = True,
    ) -> PatternLibrary:
        """The bundled library, then each of ``extra_dirs``, then inline ``definitions``."""
        library = cls()
        if bundled:
            library.add_dir(bundled_patterns_dir(), bundled=True)
        for directory in extra_dirs:
            library.add_dir(Path(directory))
        for name, regex in (definitions or {}).items():
            library.define(name, regex)
        return library

    def add_dir(self, directory: Path, bundled: bool = False) -> None:
        """Read every pattern file of a directory; its definitions win over earlier ones."""
        if not directory.is_dir():
            raise GrokError(f"patterns directory {directory} does not exist or is not a directory")
        for path in pattern_files(directory, bundled):
            self.add_file(path)

    def add_file(self, path: Path) -> None:
        for name, definition in parse_pattern_file(path):
            self._set(name, definition)

    def define(self, name: str, regex: str, source: str = "--define") -> None:
        """An inline definition (``--define NAME=REGEX``); it wins over every file."""
        if not re.fullmatch(r"[A-z0-9]+", name):
            raise GrokError(f"bad pattern name {name!r} in {source}: use letters, digits and _")
        self._set(name, PatternDefinition(regex, source, 0))

    def _set(self, name: str, definition: PatternDefinition) -> None:
        self._definitions[name] = definition
        self._expanded.clear()
        self._compiled.clear()

    def definition(self, name: str) -> PatternDefinition:
        """``(regex, file, line)`` of a pattern; GrokError when it is not defined."""
        try:
            return self._definitions[name]
        except KeyError:
            raise GrokError(f"pattern %{{{name}}} not defined") from None

    def located(self, name: str) -> str:
        """``%{NAME} at FILE:LINE`` (or ``in --define``), for messages about a pattern."""
        definition = self.definition(name)
        where = f"at {definition.file}:{definition.line}" if definition.line else f"in {definition.file}"
        return f"%{{{name}}} {where}"

    def __contains__(self, name: object) -> bool:
        return name in self._definitions

    def names(self, prefix: str = "") -> list[str]:
        """Sorted pattern names starting with ``prefix``."""
        return sorted(n for n in self._definitions if n.startswith(prefix))

    def faulty_pattern(self, expression: str) -> tuple[str, str, str] | None:
        """(name, `` at file:line``, why) of the innermost pattern an expression uses whose
        own regex does not compile, or None when they all do."""
        from sipparse.grok.matcher import regex_error

        for name in self.used_by(expression):
            regex = self.definition(name).regex
            try:
                reason = regex_error(self.expand_ruby(regex))
            except GrokError:
                continue  # an undefined name or a cycle below it: reported as such
            if reason is not None:
                if "%{" in regex:  # a position in the expansion, not in the line as written
                    reason = re.sub(r" at position \d+$", "", reason)
                return name, _Expander(self, name)._where(name), reason
        return None

    def used_by(self, expression: str) -> list[str]:
        """The defined patterns an expression uses, each after the ones it uses itself."""
        order: list[str] = []
        seen: set[str] = set()

        def visit(text: str) -> None:
            for m in _REFERENCE.finditer(text):
                name = m.group("pattern")
                if name not in seen and name in self._definitions:
                    seen.add(name)
                    visit(self._definitions[name].regex)
                    order.append(name)

        visit(expression)
        return order

    # -- expansion ----------------------------------------------------------------------

    def expand_ruby(self, expression: str) -> str:
        """The expression with every reference replaced, still in Ruby's regex dialect."""
        return _Expander(self, expression).expand(expression, ())

    def expand(self, expression: str) -> str:
        """The final Python regex of an expression (what ``grok expand`` prints)."""
        from sipparse.grok.matcher import compile_grok

        return compile_grok(self, expression).pattern

    def compile(self, expression: str, *, keep_empty: bool = False, timeout: float | None = None) -> Any:
        """A :class:`Grok` for the expression, compiled once and cached."""
        from sipparse.grok.matcher import DEFAULT_TIMEOUT, compile_grok

        key = (expression, keep_empty, timeout)
        grok = self._compiled.get(key)
        if grok is None:
            limit = DEFAULT_TIMEOUT if timeout is None else timeout
            grok = self._compiled[key] = compile_grok(self, expression, keep_empty=keep_empty, timeout=limit)
        return grok

    def compile_many(
        self, expressions: Iterable[str], *, break_on_match: bool = True, keep_empty: bool = False,
        timeout: float | None = None,
    ) -> Any:
        """A :class:`MultiGrok` trying the expressions in order, as Logstash's ``match`` list."""
        from sipparse.grok.matcher import MultiGrok

        groks = [self.compile(e, keep_empty=keep_empty, timeout=timeout) for e in expressions]
        return MultiGrok(groks, break_on_match=break_on_match)


class _Expander:
    """One expansion: inline ``%{NAME=REGEX}`` definitions live as long as it does."""

    def __init__(self, library: PatternLibrary, expression: str) -> None:
        self.library = library
        self.expression = expression
        self.inline: dict[str, str] = {}
        self.memo = library._expanded

    def expand(self, text: str, stack: tuple[str, ...]) -> str:
        if len(stack) > MAX_DEPTH:
            raise GrokError(f"pattern %{{{stack[-1]}}} nests deeper than {MAX_DEPTH} levels")
        out: list[str] = []
        pos = size = 0
        while (m := self._next_reference(text, pos)) is not None:
            out.append(text[pos:m.start()])
            body = self._resolve_reference(m, stack)
            name = m.group("name")
            out.append(f"(?<{name}>{body})" if m.group("subname") else f"(?:{body})")
            size += len(out[-2]) + len(out[-1])
            self._check_size(size, stack)
            pos = m.end()
        out.append(text[pos:])
        return "".join(out)

    def _check_size(self, size: int, stack: tuple[str, ...]) -> None:
        """Refuse an expansion past ``MAX_EXPANDED_CHARS`` before it takes all memory."""
        if size > MAX_EXPANDED_CHARS:
            what = f"pattern %{{{stack[-1]}}}{self._where(stack[-1])}" if stack else "the expression"
            raise GrokError(f"{what} expands to more than {MAX_EXPANDED_CHARS} characters "
                            "(patterns that each use the next one several times?)")

    def _resolve_reference(self, m: Any, stack: tuple[str, ...]) -> str:
        """``resolve``; an undefined name cut short by a character names may not hold (as
        in ``%{MY-PATTERN}``, which Logstash reads as ``%{MY}``) says so."""
        try:
            return self.resolve(m.group("pattern"), stack)
        except GrokError as exc:
            name, rest = m.group("pattern"), m.string[m.end("pattern"):m.end()]
            if name in self.library or name in self.inline or rest[:1] in (":", "=", "}"):
                raise
            raise GrokError(f"{exc} (read from {m.group()}: a pattern name is letters, digits and _ only, "
                            "as in Logstash)") from None

    def _next_reference(self, text: str, pos: int) -> Any:
        m = _REFERENCE.search(text, pos)
        if m is None or not text.startswith("=", m.end("name")):
            return m
        import regex

        full = regex.compile(_FULL_REFERENCE).match(text, m.start())
        if full is None:
            return m
        if full.group("definition") is not None:
            self.inline[full.group("pattern")] = full.group("definition")
            self.memo = {}
        return full

    def resolve(self, name: str, stack: tuple[str, ...]) -> str:
        """The expanded regex of a named pattern, memoised; cycles and unknowns are errors."""
        if name in stack:
            chain = " -> ".join((*stack[stack.index(name):], name))
            raise GrokError(f"pattern %{{{name}}} refers to itself ({chain}){self._where(name)}")
        cached = self.memo.get(name)
        if cached is not None:
            return cached
        regex = self._definition(name, stack)
        expanded = self.expand(regex, (*stack, name))
        self.memo[name] = expanded
        return expanded

    def _definition(self, name: str, stack: tuple[str, ...]) -> str:
        if name in self.inline:
            return self.inline[name]
        if name in self.library:
            regex = self.library.definition(name).regex
            if _UNDECODED.search(regex):
                # bytes the file's UTF-8 reading kept as they were (surrogateescape); Ruby
                # refuses such a regex ("invalid multibyte character") rather than never match
                raise GrokError(f"pattern %{{{name}}}{self._where(name)} is not valid UTF-8 "
                                "(a file saved in Latin-1 or another encoding?)")
            return regex
        user = f" (used by %{{{stack[-1]}}}{self._where(stack[-1])})" if stack else ""
        raise GrokError(f"pattern %{{{name}}} not defined{user}")

    def _where(self, name: str) -> str:
        if name in self.inline or name not in self.library:
            return ""
        definition = self.library.definition(name)
        return f" at {definition.file}:{definition.line}" if definition.line else f" in {definition.file}"
