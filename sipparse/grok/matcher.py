"""Compiled grok expressions and what a match yields, with the Logstash grok filter's rules.

* Each named group is a capture: the field is the second ``:`` component of its name
  (``%{INT:n:int}`` gives ``n``), or the whole name for a plain ``(?<name>...)``; the
  third component ``int``/``float`` converts, any other leaves the string.
* Captures are visited in order of the first appearance of each group name, every
  occurrence of a repeated name in turn (ruby-grok's ``named_captures``).
* A group that did not take part, or captured ``""``, is dropped unless ``keep_empty``;
  a converted empty string is 0 and kept.
* A field set twice: a string becomes ``[old, new]``, a list grows, any other value
  (an ``:int`` result) is kept and the new one dropped.
* A field reference ``[a][b]`` builds nested objects; under a field that already holds a
  string, list or number it is dropped and that value kept.
* Matching is an unanchored search. A match that runs past its time limit raises
  :class:`GrokTimeout`, never taken for a non-match.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from sipparse.grok.convert import Converter, converter_for
from sipparse.grok.errors import GrokError, GrokTimeout
from sipparse.grok.onig import OnigSyntaxError, Translation, translate

DEFAULT_TIMEOUT = 5.0
FLAGS = re.DOTALL | re.MULTILINE

Fields = dict[str, Any]


def field_path(ref: str) -> tuple[str, ...]:
    """``[a][b]`` -> ``("a", "b")``; a plain name is a path of one."""
    if ref.startswith("[") and ref.endswith("]") and len(ref) > 2:
        return tuple(ref[1:-1].split("]["))
    return (ref,)


def split_capture_name(name: str) -> tuple[str, Converter | None]:
    """``SYNTAX:field:type`` -> (field, converter); ``name`` -> (name, None).

    A reference of one segment is the plain field (``[x]`` is ``x``), as in Logstash.
    """
    parts = name.split(":")
    if len(parts) == 1:
        return name, None
    path = field_path(parts[1])
    return path[0] if len(path) == 1 else parts[1], converter_for(parts[2] if len(parts) > 2 else None)


class Grok:
    """One compiled grok expression.

    :param expression: the expression as written
    :param pattern: the final Python regex text
    :param regex: the compiled pattern (``re.Pattern``, or ``regex.Pattern`` when the
        expression needs that module's features or a timeout); use it in hot loops
    :param group_fields: ``{python group name: (field reference, converter or None)}``
    """

    def __init__(
        self, expression: str, translation: Translation, compiled: Any, *, keep_empty: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT, ruby: str | None = None,
    ) -> None:
        self.expression = expression
        self._ruby = ruby
        self._line_regex: Any = False
        self.pattern = translation.pattern
        self.regex = compiled
        self.keep_empty = keep_empty
        self.uses_regex_module = not isinstance(compiled, re.Pattern)
        # not only chosen for its time limit: stdlib ``re`` would refuse it or read it otherwise
        self.needs_regex_module = translation.needs_regex or (self.uses_regex_module and not _re_compiles(self.pattern))
        self.timeout = timeout if self.uses_regex_module else None
        # the limit of one match on either module (``grok match`` enforces it on ``re`` too)
        self.limit = timeout
        self.group_fields: dict[str, tuple[str, Converter | None]] = {
            py: split_capture_name(name) for py, name in translation.groups
        }
        self._plan = _visit_plan(translation.groups, compiled.groupindex)
        self._simple = self._is_simple()

    def _is_simple(self) -> bool:
        """Distinct flat fields without conversion: a match is just its non-empty groups."""
        fields = [f for f, _ in self.group_fields.values()]
        return (
            not self.keep_empty
            and len(set(fields)) == len(fields)
            and all(c is None and len(field_path(f)) == 1 for f, c in self.group_fields.values())
        )

    @property
    def line_regex(self) -> Any:
        """A pattern to search many lines joined by ``\\n`` at once (``split``, ``finditer``), or None.

        Each of its matches lies within one line, runs to the end of that line, and has
        the groups :meth:`search` finds in that line alone; lines without a match are
        skipped. Only for patterns stdlib ``re`` reads as written; one that was put on the
        ``regex`` module only for its timeout (see ``Translation.risky``) qualifies too, since
        the caller holds it to the time limit with ``alarm.time_limit``.
        """
        if self._line_regex is False:
            self._line_regex = None
            if not self.needs_regex_module and self._ruby is not None:
                t = translate(self._ruby, line_mode=True)
                if t.line_safe:
                    try:
                        self._line_regex = re.compile(f"(?:{t.pattern})[^\\n]*", FLAGS)
                    except re.error:
                        self._line_regex = None
        return self._line_regex

    def search(self, text: str) -> Any:
        """The raw match object of an unanchored search, or None; GrokTimeout past the limit."""
        if self.timeout is None:
            return self.regex.search(text)
        try:
            return self.regex.search(text, timeout=self.timeout)
        except TimeoutError:
            raise GrokTimeout(f"grok match timed out after {self.timeout:g}s: {self.expression}") from None

    def match(self, text: str) -> Fields | None:
        """The captured fields of the first match in ``text``, or None when it does not match."""
        m = self.search(text)
        return None if m is None else self.captures(m)

    def captures(self, m: Any, into: Fields | None = None) -> Fields:
        """The fields of a match object, merged into ``into`` by Logstash's rules."""
        return self.captures_groups(m.groups(), into)

    def captures_groups(self, groups: Sequence[str | None], into: Fields | None = None) -> Fields:
        """The fields of a match given as its ``groups()`` tuple."""
        if self._simple and into is None:
            return {field: groups[i] for i, _, field, _ in self._plan if groups[i]}
        fields: Fields = {} if into is None else into
        for index, path, _, convert in self._plan:
            value = groups[index]
            if value is not None and convert is not None:
                value = convert(value)
            if self.keep_empty or (value is not None and value != ""):
                _handle(fields, path, value)
        return fields


def _visit_plan(
    groups: Sequence[tuple[str, str]], groupindex: Any
) -> list[tuple[int, tuple[str, ...], str, Converter | None]]:
    """(group position, field path, field, converter) in ruby-grok's visiting order."""
    first_seen: dict[str, int] = {}
    for order, (_, name) in enumerate(groups):
        first_seen.setdefault(name, order)
    ordered = sorted(enumerate(groups), key=lambda item: (first_seen[item[1][1]], item[0]))
    plan = []
    for _, (py, name) in ordered:
        field, convert = split_capture_name(name)
        plan.append((groupindex[py] - 1, field_path(field), field, convert))
    return plan


def _handle(fields: Fields, path: tuple[str, ...], value: Any) -> None:
    """Set one captured value the way the grok filter's ``handle`` does.

    Logstash cannot set ``[a][b]`` where ``[a]`` already holds a string, a list or a
    number: the value there stays and the new one is dropped.
    """
    target = fields
    for key in path[:-1]:
        nested = target.get(key)
        if nested is None:
            nested = target[key] = {}
        elif not isinstance(nested, dict):
            return
        target = nested
    key = path[-1]
    old = target.get(key)
    if old is None:
        target[key] = value
    elif isinstance(old, list):
        old.append(value)
    elif isinstance(old, str):
        target[key] = [old, value]


class MultiGrok:
    """Several expressions tried in order, as a Logstash ``match`` list.

    With ``break_on_match`` (the default) the first expression that matches gives the
    fields; without it every matching expression adds its captures to one result.
    """

    def __init__(self, groks: Sequence[Grok], break_on_match: bool = True) -> None:
        self.groks = list(groks)
        self.break_on_match = break_on_match
        self.expression = " | ".join(g.expression for g in self.groks)
        limits = [g.limit for g in self.groks]
        self.limit = None if None in limits else sum(limits)  # type: ignore[arg-type]

    def match(self, text: str) -> Fields | None:
        """The fields of the matching expression(s), or None when none matches."""
        if self.break_on_match:
            hit = self.match_first(text)
            return None if hit is None else hit[1]
        fields: Fields = {}
        matched = False
        for grok in self.groks:
            m = grok.search(text)
            if m is not None:
                matched = True
                grok.captures(m, into=fields)
        return fields if matched else None

    def match_first(self, text: str) -> tuple[int, Fields] | None:
        """(index of the first matching expression, its fields), or None."""
        for index, grok in enumerate(self.groks):
            m = grok.search(text)
            if m is not None:
                return index, grok.captures(m)
        return None


def compile_grok(library: Any, expression: str, *, keep_empty: bool = False,
                 timeout: float | None = DEFAULT_TIMEOUT) -> Grok:
    """Expand, translate and compile an expression (uncached; see ``PatternLibrary.compile``)."""
    ruby = library.expand_ruby(expression)
    try:
        translation = translate(ruby)
        compiled = _compile(translation, expression)
    except (OnigSyntaxError, GrokError) as exc:
        raise _in_pattern(library, expression, exc) from None
    return Grok(expression, translation, compiled, keep_empty=keep_empty, timeout=timeout, ruby=ruby)


def regex_error(ruby: str) -> str | None:
    """Why a Ruby regex does not compile, or None when it does."""
    try:
        _compile(translate(ruby), ruby)
    except OnigSyntaxError as exc:
        return str(exc)
    except GrokError as exc:
        return str(exc).rpartition("': ")[2]
    return None


def _in_pattern(library: Any, expression: str, exc: Exception) -> GrokError:
    """The error of an expression, naming the pattern file and line at fault when the bad
    regex is in a pattern it uses: a position in the whole expansion tells a user nothing."""
    culprit = library.faulty_pattern(expression)
    if culprit is None:
        return exc if isinstance(exc, GrokError) else GrokError(
            f"bad regex in grok expression {_short(expression)}: {exc}")
    name, where, reason = culprit
    return GrokError(f"bad regex in pattern %{{{name}}}{where}: {reason} (used by {_short(expression)})")


def _compile(translation: Translation, expression: str) -> Any:
    """``_compile_either``, a pattern too deep or too large for either engine said as such."""
    try:
        return _compile_either(translation, expression)
    except RecursionError:
        raise GrokError(f"bad regex in grok expression {_short(expression)}: regex nests too deeply") from None
    except OverflowError as exc:
        raise GrokError(f"grok expression {_short(expression)} is too large: {exc}") from None


def _compile_either(translation: Translation, expression: str) -> Any:
    """Prefer stdlib ``re``; the ``regex`` module for its features or a risky pattern."""
    if not (translation.needs_regex or translation.risky):
        try:
            return re.compile(translation.pattern, FLAGS)
        except re.error:
            pass
    import regex

    try:
        return regex.compile(translation.pattern, regex.DOTALL | regex.MULTILINE | regex.V0)
    except regex.error as exc:
        raise GrokError(f"bad regex in grok expression {_short(expression)}: {exc}") from None


def _re_compiles(pattern: str) -> bool:
    try:
        re.compile(pattern, FLAGS)
    except (re.error, RecursionError, OverflowError):
        return False
    return True


def _short(expression: str) -> str:
    return repr(expression if len(expression) <= 120 else expression[:117] + "...")
