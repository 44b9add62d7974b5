"""Oniguruma (Ruby, as Logstash's grok uses it) regular expressions in Python's dialect.

Logstash compiles every grok expression with Ruby's regex engine (Joni/Oniguruma) and the
``Regexp::MULTILINE`` option. The same pattern text means something else, or does not
compile, in Python, so each expression is parsed once and rewritten. Every translation:

``.``
    Ruby's MULTILINE is Python's DOTALL: ``.`` matches a newline. Patterns are compiled
    with ``DOTALL``; inside ``(?-m)`` the translator writes ``[^\\n]`` instead.
``^`` ``$``
    always line anchors in Ruby: compiled with Python's ``MULTILINE``.
``(?m)`` ``(?-m)`` ``(?m:...)``
    Ruby's ``m`` is Python's ``s`` (dot matches newline); handled by the translator, as is
    ``x`` (extended: whitespace and ``#`` comments are dropped here). ``i`` is kept.
``(?i)`` in the middle of a group
    Ruby applies it to the rest of the enclosing group, alternatives included
    (``a(?i)b|c`` is ``a(?i:b|c)``); Python 3.11 refuses flags after the start, so it
    becomes a scoped group ``(?i:...)`` closed with the enclosing group.
``\\d`` ``\\w`` ``\\s`` (and ``\\D \\W \\S``)
    ASCII-only in Ruby: written as ``[0-9]``, ``[a-zA-Z0-9_]`` and ``[\\t\\n\\v\\f\\r ]``,
    so the rest of the pattern keeps Unicode semantics.
``\\b`` ``\\B``
    Unicode in Ruby (its default ``(?d)`` keeps only ``\\w \\d \\s`` ASCII): no word
    boundary between ``é`` and ``a``. Python's Unicode ``\\b`` is kept (a lookaround on
    Ruby's exact word set, Alphabetic, marks, Nd and Pc, costs a hot path two and a half
    times); they differ only on marks, ``‿``-like connectors and numbers such as ``²``.
    ``\\B`` matches an empty string in Ruby but not in Python's ``re``: ``(?:\\B|\\A\\Z)``.
``\\h`` ``\\H``
    a hex digit in Ruby (not horizontal space as in PCRE): ``[0-9a-fA-F]``.
``\\A`` ``\\z`` ``\\Z``
    ``\\z`` (very end) is Python's ``\\Z``; Ruby's ``\\Z`` (end or before a final newline)
    becomes ``(?=\\n?\\Z)``.
``\\e`` ``\\cX`` ``\\C-X`` ``\\M-X`` ``\\xH`` ``\\x{HHHH}`` ``\\u{HHHH}`` ``\\R``
    escape, control, one-digit and braced hex escapes, linebreak: spelled out (``\\R`` as
    Ruby's atomic ``(?>\\r\\n|[\\n\\v\\f\\r\\x85\\u2028\\u2029])``: it never gives back the ``\\n``).
``(?<name>...)`` ``(?'name'...)`` ``\\k<name>`` ``\\k'name'`` ``\\g<name>``
    named groups are renamed ``(?P<gN>...)`` (Ruby allows a name twice, Python does not);
    the caller maps ``gN`` back to the name. Backreferences follow the latest group of the
    name; subexpression calls need the ``regex`` module (``(?&gN)``) and, as in Ruby, may
    come before the group they call; relative ``\\k<-1>`` ``\\g<+1>`` are made absolute, and
    ``\\g<0>`` (the whole pattern) is allowed beside named groups. A group that calls
    itself before consuming a character (``(?<a>\\g<a>x|y)``) is refused, as Oniguruma
    refuses "never ending recursion".
``(...)``
    in Ruby, plain groups do not capture when the pattern has named groups: they become
    ``(?:...)``. Without named groups they keep their numbers for ``\\1`` references; with
    them a numbered reference (``\\1``, ``\\k<1>``, ``\\g<1>``) is an error, as in Ruby.
``(?>...)`` ``*+`` ``++`` ``?+``
    atomic groups and possessive quantifiers: native in Python 3.11's ``re``.
``X{n,m}+`` ``X{n}?``
    not possessive in Ruby but a stacked ``+``: ``(?:X{n,m})+``; likewise ``X{n}?`` is an
    optional ``(?:X{n})?``, not a lazy ``X{n}`` (``{n,m}?`` stays lazy).
stacked quantifiers ``X?*`` ``X**`` ``X+*`` ...
    Oniguruma accepts them and reduces them by its table (``X?*`` is ``X*``, ``X+?`` stays
    lazy, ``X?+`` possessive, ``X+??`` is ``(?:X+)??``); Python calls them "multiple
    repeat", so the reduced form is written.
``[[:alnum:]]`` and classes nested in classes, ``&&`` intersections
    Ruby unions nested classes. POSIX classes have Ruby's Unicode meaning (``alpha`` is
    the Alphabetic property, ``punct`` punctuation plus ``$+<=>^`|~``, ``space``
    White_Space...), written out as code point ranges so stdlib ``re`` reads them. Nested
    classes are flattened where possible, otherwise written as an alternation of
    one-character atoms (``(?:[...]|[^a])``), negation as ``(?:(?!...)(?s:.))``,
    intersection as ``(?:(?=A)B)``. ``\\p{...}`` needs the ``regex`` module, except the
    POSIX names (``\\p{Alpha}``, ``\\p{Punct}``...), which mean what the brackets mean.
lookbehind
    Python's ``re`` wants fixed width; a pattern that ``re`` refuses is compiled with
    ``regex``, which accepts variable-width lookbehind as Oniguruma does.
``(?(<name>)yes|no)`` ``(?('name')...)`` ``(?(1)...)``
    conditionals: Python's ``(?(gN)yes|no)``.
``(?#...)``
    comments are dropped.

Line mode (``translate(..., line_mode=True)``) writes a variant for searching a block of
lines at once: nothing in it matches a newline and ``\\A``/``\\z``/``\\Z`` become ``^``/``$``.

Known difference: ``(?i)`` folds case by Unicode rules in both engines, but Ruby's
``\\w`` etc. stay ASCII under it here too, which is what Ruby does.
"""

from __future__ import annotations

import array
import functools
import re
from dataclasses import dataclass, field

_ASCII_IN_CLASS = {"d": "0-9", "w": "a-zA-Z0-9_", "s": "\\t\\n\\v\\f\\r ", "h": "0-9a-fA-F"}
_OUT_OF_CLASS = {
    "d": "[0-9]", "D": "[^0-9]", "w": "[a-zA-Z0-9_]", "W": "[^a-zA-Z0-9_]",
    "s": "[\\t\\n\\v\\f\\r ]", "S": "[^\\t\\n\\v\\f\\r ]", "h": "[0-9a-fA-F]", "H": "[^0-9a-fA-F]",
    "b": "\\b", "B": "(?:\\B|\\A\\Z)", "A": "\\A", "z": "\\Z", "Z": "(?=\\n?\\Z)",
    "R": "(?>\\r\\n|[\\n\\v\\f\\r\\x85\\u2028\\u2029])",
}
# In line mode (see ``translate``) these may not match a newline.
_LINE_MODE = {
    "s": "[\\t\\v\\f\\r ]", "D": "[^0-9\\n]", "W": "[^a-zA-Z0-9_\\n]", "H": "[^0-9a-fA-F\\n]",
    "A": "^", "z": "$", "Z": "$", "R": "[\\v\\f\\r\\x85\\u2028\\u2029]",
}
_SIMPLE_ESCAPES = {"n": "\\n", "t": "\\t", "r": "\\r", "f": "\\f", "v": "\\v", "a": "\\a", "e": "\\x1b"}
_REGEX_ONLY_ESCAPES = {"G", "K", "X"}
# POSIX bracket classes, Ruby's Unicode meaning (its tool/enc-unicode.rb), as ``regex``
# module text; ``_posix_items`` turns each into ranges stdlib ``re`` reads.
_GRAPH = "[^\\p{White_Space}\\p{Cc}\\p{Cs}\\p{Cn}]"
_POSIX_PROPERTIES = {
    "alpha": "\\p{Alphabetic}", "alnum": "[\\p{Alphabetic}\\p{Nd}]", "digit": "\\p{Nd}",
    "upper": "\\p{Uppercase}", "lower": "\\p{Lowercase}", "space": "\\p{White_Space}",
    "blank": "[\\p{Zs}\\t]", "cntrl": "\\p{Cc}", "word": "[\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}]",
    # Ruby's punct also holds the ASCII symbols $+<=>^`|~ (Onigmo 6)
    "punct": "[\\p{P}$+<=>^`|~]", "graph": _GRAPH, "print": f"(?:{_GRAPH}|\\p{{Zs}})",
    "xdigit": "[0-9A-Fa-f]", "ascii": "[\\x00-\\x7f]",
}
_WIDE = {".", "[^\\t\\n\\v\\f\\r ]"}
_SIMPLE_QUANTS = ("?", "*", "+", "??", "*?", "+?")
# Oniguruma's ReduceTypeTable: row = inner quantifier, column = outer quantifier.
_DEL, _A, _AQ, _QQ, _P_QQ, _PQ_Q, _ASIS = range(7)
_REDUCE = (
    (_DEL, _A, _A, _QQ, _AQ, _ASIS),
    (_DEL, _DEL, _DEL, _P_QQ, _P_QQ, _DEL),
    (_A, _A, _DEL, _ASIS, _P_QQ, _DEL),
    (_DEL, _AQ, _AQ, _DEL, _AQ, _AQ),
    (_DEL, _DEL, _DEL, _DEL, _DEL, _DEL),
    (_ASIS, _PQ_Q, _DEL, _AQ, _AQ, _DEL),
)
_INTERVAL = re.compile(r"\{(\d*)(,?)(\d*)\}")
_NAMED_GROUP = re.compile(r"\(\?(?:<(?![=!])|'|P<)")


class OnigSyntaxError(ValueError):
    """The expression is not a valid Oniguruma regex; ``pos`` is where reading stopped."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(f"{message} at position {pos}")
        self.pos = pos


@dataclass
class Translation:
    """A Ruby regex rewritten for Python, with what the caller needs to compile and map it.

    :param pattern: the Python pattern text (compile with ``DOTALL | MULTILINE``)
    :param groups: ``(python group name, Ruby group name)`` in order of appearance
    :param needs_regex: uses a feature only the ``regex`` module has
    :param risky: nested or repeated unbounded quantifiers that could backtrack badly
    """

    pattern: str
    groups: list[tuple[str, str]] = field(default_factory=list)
    needs_regex: bool = False
    risky: bool = False
    line_safe: bool = True


@dataclass
class _Atom:
    text: str
    quant: str = ""
    height: int = 0
    wide: bool = False
    quantifiable: bool = True
    # whether it always consumes a character, and the groups it calls before it does
    consumes: bool = True
    head_calls: frozenset[str] = frozenset()

    def render(self) -> str:
        return self.text + self.quant


@dataclass
class _ClassNode:
    items: list[str] = field(default_factory=list)
    atoms: list[str] = field(default_factory=list)
    negated: bool = False

    def render(self) -> str:
        """One-character atom; a flat Python class whenever possible."""
        if not self.items and len(self.atoms) == 1 and not self.negated:
            return self.atoms[0]
        if not self.atoms:
            if not self.items:
                return "(?!)" if not self.negated else "(?s:.)"
            return "[" + ("^" if self.negated else "") + "".join(self.items) + "]"
        alternatives = (["[" + "".join(self.items) + "]"] if self.items else []) + self.atoms
        union = "(?:" + "|".join(alternatives) + ")"
        return f"(?:(?!{union})(?s:.))" if self.negated else union


def translate(source: str, line_mode: bool = False) -> Translation:
    """Rewrite one Oniguruma regex (Ruby syntax) as a Python regex; see the module doc.

    ``line_mode`` writes a variant for searching many lines joined by newlines at once:
    nothing in it can match a newline, ``\\A``/``\\z`` become ``^``/``$``, so each match
    lies within one line and is the match a search of that line alone would find.
    ``line_safe`` is False when that could not be guaranteed.
    """
    translator = _Translator(source, line_mode)
    try:
        return translator.run()
    except RecursionError:
        # Oniguruma has a depth limit too ("parse depth limit over"); Python's stack is lower
        raise OnigSyntaxError("regex nests too deeply", translator.pos) from None


class _Translator:
    def __init__(self, source: str, line_mode: bool = False) -> None:
        self.src = source
        self.line_mode = line_mode
        self.pos = 0
        self.out = Translation("")
        self.names: dict[str, str] = {}
        self.capture_plain = _NAMED_GROUP.search(source) is None
        self.max_height = 0
        self.wide_count = 0
        self.alternation = False
        # for refusing left recursion: group key (Python name, or number) -> calls at its head
        self.head_calls: dict[str, frozenset[str]] = {}
        self.group_consumes: dict[str, bool] = {}
        self.call_at: dict[str, int] = {}
        self.plain_groups = 0
        self.seq_consumes = True
        self.seq_calls: frozenset[str] = frozenset()
        # calls to groups not yet seen (Ruby allows them): (name, position), by placeholder index
        self.forward_calls: list[tuple[str, int]] = []
        self.calls: list[tuple[str, int]] = []  # (name, position) of every call by name
        self.defined: dict[str, int] = {}  # how many groups have each name

    def run(self) -> Translation:
        text = self.sequence(dotall=True, extended=False)
        if self.pos < len(self.src):
            raise OnigSyntaxError("unmatched ')'", self.pos)
        self.head_calls["0"] = self.seq_calls  # \\g<0> calls the whole pattern
        text = self._resolve_forward_calls(text)
        for name, pos in self.calls:
            if self.defined.get(name, 0) > 1:  # Ruby cannot tell which group is meant
                raise OnigSyntaxError(f"multiplex definition name <{name}> call", pos)
        self._refuse_left_recursion()
        self.out.pattern = text
        self.out.risky = self.max_height >= 2 or self.wide_count >= 3
        return self.out

    # -- structure ----------------------------------------------------------------------

    def sequence(self, dotall: bool, extended: bool) -> str:
        """Alternatives up to the closing ``)`` of the enclosing group (not consumed)."""
        atoms: list[_Atom] = []
        while self.pos < len(self.src) and self.src[self.pos] != ")":
            c = self.src[self.pos]
            if extended and self._skip_extended(c):
                continue
            if c == "|":
                self.pos += 1
                atoms.append(_Atom("|", quantifiable=False))
            elif c in "*+?{" and self._at_quantifier():
                self._quantify(atoms)
            elif c == "(" and self._isolated_options():
                atoms.append(self._options_rest(dotall, extended))
                break
            else:
                atoms.append(self.atom(dotall, extended))
        self.alternation = any(a.text == "|" and not a.quantifiable for a in atoms)
        self._note_heads(atoms)
        return "".join(a.render() for a in atoms)

    def _note_heads(self, atoms: list[_Atom]) -> None:
        """Whether every alternative consumes a character, and the calls made before one does."""
        consumes, calls, head = True, set(), True
        for atom in atoms + [_Atom("|", quantifiable=False)]:
            if atom.text == "|" and not atom.quantifiable:
                consumes, head = consumes and not head, True
            elif head:
                calls |= atom.head_calls
                head = not atom.consumes
        self.seq_consumes, self.seq_calls = consumes, frozenset(calls)

    def _resolve_forward_calls(self, text: str) -> str:
        """Point each call written before its group at that group, now that all are known."""
        for index, (name, pos) in enumerate(self.forward_calls):
            if name not in self.names:
                raise OnigSyntaxError(f"undefined name <{name}> reference", pos)
            target = self.names[name]
            text = text.replace(_forward_placeholder(index), f"(?&{target})", 1)
            for key, calls in self.head_calls.items():
                if _forward_placeholder(index) in calls:
                    self.head_calls[key] = calls - {_forward_placeholder(index)} | {target}
            self.call_at.setdefault(target, pos)
        return text

    def _refuse_left_recursion(self) -> None:
        """Oniguruma refuses a group that calls itself before consuming a character; the
        ``regex`` module would recurse until memory runs out."""
        for key in self.head_calls:
            seen, todo = set(), list(self.head_calls[key])
            while todo:
                callee = todo.pop()
                if callee == key:
                    raise OnigSyntaxError("never ending recursion", self.call_at.get(key, 0))
                if callee not in seen:
                    seen.add(callee)
                    todo.extend(self.head_calls.get(callee, ()))

    def _skip_extended(self, c: str) -> bool:
        if c.isspace():
            self.pos += 1
            return True
        if c == "#":
            end = self.src.find("\n", self.pos)
            self.pos = len(self.src) if end < 0 else end + 1
            return True
        return False

    def atom(self, dotall: bool, extended: bool) -> _Atom:
        c = self.src[self.pos]
        self.pos += 1
        if c == "(":
            return self.group(dotall, extended)
        if c == "[":
            text = self._class_atom(self.char_class())
            return _Atom(text, wide=text.startswith("[^") or text.startswith("(?:(?!"))
        if c == "\\":
            return self.escape()
        if c == ".":
            return _Atom("." if dotall and not self.line_mode else "[^\\n]", wide=True)
        if c == "\n" and self.line_mode:
            return _Atom("(?!)")
        if c in "^$":
            return _Atom(c, quantifiable=False, consumes=False)
        if c in "{}":
            return _Atom("\\" + c)
        return _Atom(c)

    def group(self, dotall: bool, extended: bool) -> _Atom:
        src, p = self.src, self.pos
        if src.startswith("?#", p):
            end = src.find(")", p)
            if end < 0:
                raise OnigSyntaxError("unterminated comment", p)
            self.pos = end + 1
            return _Atom("", quantifiable=False, consumes=False)
        for opener in ("?:", "?=", "?!", "?<=", "?<!", "?>"):
            if src.startswith(opener, p):
                self.pos += len(opener)
                atom = self._close("(" + opener, dotall, extended, atomic=opener == "?>", at=p - 1)
                atom.consumes = atom.consumes and opener in ("?:", "?>")
                return atom
        if src.startswith("?<", p) or src.startswith("?'", p) or src.startswith("?P<", p):
            return self._named_group(dotall, extended, p - 1)
        if src.startswith("?(", p):
            return self._conditional(dotall, extended, p - 1)
        if src.startswith("?", p):
            return self._scoped_options(dotall, extended, p - 1)
        if not self.capture_plain:
            return self._close("(?:", dotall, extended, at=p - 1)
        self.plain_groups += 1
        return self._close("(", dotall, extended, at=p - 1, key=str(self.plain_groups))

    def _close(self, opener: str, dotall: bool, extended: bool, atomic: bool = False, at: int = 0,
               key: str | None = None) -> _Atom:
        """The group opened at ``at`` (where an unclosed one is reported), up to its ``)``."""
        before = self.max_height
        self.max_height = 0
        inner = self.sequence(dotall, extended)
        consumes, calls = self.seq_consumes, self.seq_calls
        if key is not None:
            self.head_calls[key], self.group_consumes[key] = calls, consumes
        if self.pos >= len(self.src):
            raise OnigSyntaxError("end pattern with unmatched parenthesis", at)
        self.pos += 1
        # alternatives that overlap under a repeat backtrack like a nested repeat
        height = 0 if atomic else max(self.max_height, 1 if self.alternation else 0)
        self.max_height = max(before, self.max_height)
        return _Atom(opener + inner + ")", height=height, consumes=consumes, head_calls=calls)

    def _named_group(self, dotall: bool, extended: bool, at: int) -> _Atom:
        p = self.pos + (2 if self.src.startswith("?P<", self.pos) else 1)
        close = ">" if self.src[p] == "<" else "'"
        end = self.src.find(close, p + 1)
        if end < 0 or end == p + 1:
            raise OnigSyntaxError("invalid group name", p)
        name = self.src[p + 1:end]
        self.pos = end + 1
        py_name = f"g{len(self.out.groups)}"
        self.out.groups.append((py_name, name))
        self.names[name] = py_name
        self.defined[name] = self.defined.get(name, 0) + 1
        return self._close(f"(?P<{py_name}>", dotall, extended, at=at, key=py_name)

    _CONDITION = re.compile(r"\?\((?:<(\w+)>|'(\w+)'|([0-9]+))\)")

    def _conditional(self, dotall: bool, extended: bool, at: int) -> _Atom:
        """``(?(<name>)yes|no)``, ``(?('name')...)``, ``(?(1)...)``: native in stdlib ``re``."""
        m = self._CONDITION.match(self.src, self.pos)
        if not m:
            raise OnigSyntaxError("invalid conditional pattern", self.pos + 1)
        name = m.group(1) or m.group(2)
        if name is None:
            self._numbered_reference(self.pos + 1)
            target = m.group(3)
        elif name in self.names:
            target = self.names[name]
        else:
            raise OnigSyntaxError(f"undefined name <{name}> reference", self.pos + 1)
        self.pos = m.end()
        atom = self._close(f"(?({target})", dotall, extended, at=at)
        atom.consumes = atom.consumes and self.alternation
        return atom

    _OPTIONS = re.compile(r"\?([imx]*)(?:-([imx]*))?([:)])")

    def _isolated_options(self) -> bool:
        m = self._OPTIONS.match(self.src, self.pos + 1)
        return bool(m and m.group(3) == ")")

    def _parse_options(self, dotall: bool, extended: bool) -> tuple[str, bool, bool, str]:
        m = self._OPTIONS.match(self.src, self.pos)
        if not m:
            raise OnigSyntaxError("undefined group option", self.pos)
        self.pos = m.end()
        on, off = m.group(1), m.group(2) or ""
        dotall = (dotall or "m" in on) and "m" not in off
        extended = (extended or "x" in on) and "x" not in off
        case = ("i" if "i" in on else "") + ("-i" if "i" in off else "")
        return case, dotall, extended, m.group(3)

    def _options_rest(self, dotall: bool, extended: bool) -> _Atom:
        self.pos += 1
        case, dotall, extended, _ = self._parse_options(dotall, extended)
        rest = self.sequence(dotall, extended)
        return _Atom(f"(?{case}:{rest})" if case else f"(?:{rest})", quantifiable=False,
                     consumes=self.seq_consumes, head_calls=self.seq_calls)

    def _scoped_options(self, dotall: bool, extended: bool, at: int) -> _Atom:
        case, dotall, extended, _ = self._parse_options(dotall, extended)
        return self._close(f"(?{case}:" if case else "(?:", dotall, extended, at=at)

    # -- quantifiers --------------------------------------------------------------------

    def _at_quantifier(self) -> bool:
        if self.src[self.pos] != "{":
            return True
        m = _INTERVAL.match(self.src, self.pos)
        return bool(m and (m.group(1) or (m.group(2) and m.group(3))))

    def _read_quantifier(self) -> tuple[str, bool]:
        """The quantifier text (with its lazy/possessive mark) and whether it is a simple one."""
        src = self.src
        if src[self.pos] == "{":
            m = _INTERVAL.match(src, self.pos)
            assert m is not None
            self.pos = m.end()
            low, comma, high = m.group(1) or "0", m.group(2), m.group(3)
            text = "{" + low + comma + high + "}"
            # Ruby reads ``X{n}?`` as an optional ``X{n}``, not a lazy one: the ``?`` stacks
            if comma and self.pos < len(src) and src[self.pos] == "?":
                self.pos += 1
                text += "?"
            return text, False
        text = src[self.pos]
        self.pos += 1
        if self.pos < len(src) and src[self.pos] in "?+":
            text += src[self.pos]
            self.pos += 1
        return text, True

    def _quantify(self, atoms: list[_Atom]) -> None:
        start = self.pos
        quant, _ = self._read_quantifier()
        if not atoms or not atoms[-1].quantifiable:
            raise OnigSyntaxError("target of repeat operator is not specified", start)
        atom = atoms[-1]
        consumes, calls = atom.consumes and not _may_repeat_zero(quant), atom.head_calls
        if atom.quant:
            atom = atoms[-1] = self._stack(atom, quant)
        else:
            atom.quant = quant
        atom.consumes, atom.head_calls = consumes, calls
        self._account(atom)

    def _stack(self, atom: _Atom, outer: str) -> _Atom:
        """Apply a second quantifier the way Oniguruma reduces nested repeats."""
        inner = atom.quant
        if inner in _SIMPLE_QUANTS and outer in _SIMPLE_QUANTS:
            rule = _REDUCE[_SIMPLE_QUANTS.index(inner)][_SIMPLE_QUANTS.index(outer)]
            if rule == _DEL:
                return atom
            if rule in (_A, _AQ, _QQ):
                return _Atom(atom.text, {_A: "*", _AQ: "*?", _QQ: "??"}[rule], atom.height, atom.wide)
            if rule == _P_QQ:
                return _Atom(f"(?:{atom.text}+)", "??", atom.height + 1, atom.wide)
            if rule == _PQ_Q:
                return _Atom(f"(?:{atom.text}+?)", "?", atom.height + 1, atom.wide)
        return _Atom(f"(?:{atom.render()})", outer, self._height_of(atom), False)

    @staticmethod
    def _unbounded(quant: str) -> bool:
        if quant.endswith("+") and len(quant) == 2:
            return False  # possessive: never backtracks
        return quant[0] in "*+" or (quant[0] == "{" and quant.rstrip("?").endswith(",}"))

    def _height_of(self, atom: _Atom) -> int:
        return atom.height + (1 if self._unbounded(atom.quant) else 0)

    def _account(self, atom: _Atom) -> None:
        if self._unbounded(atom.quant):
            self.max_height = max(self.max_height, atom.height + 1)
            if atom.wide:
                self.wide_count += 1

    # -- escapes ------------------------------------------------------------------------

    def escape(self) -> _Atom:
        if self.pos >= len(self.src):
            raise OnigSyntaxError("end pattern at escape", self.pos)
        c = self.src[self.pos]
        self.pos += 1
        if c in _OUT_OF_CLASS:
            text = (_LINE_MODE if self.line_mode and c in _LINE_MODE else _OUT_OF_CLASS)[c]
            return _Atom(text, wide=text in _WIDE, quantifiable=c not in "bBAzZ", consumes=c not in "bBAzZ")
        if c in "kg":
            return self._reference(c)
        if c in _REGEX_ONLY_ESCAPES:
            self.out.needs_regex = True
            self.out.line_safe = False
            return _Atom("\\" + c, quantifiable=c == "X", consumes=c == "X")
        if c in "pP":
            posix = self._posix_property(c)
            return _Atom(self._property(c) if posix is None else self._class_atom(posix))
        if c.isdigit():
            return _Atom(self._digits(c))
        return _Atom(self._char_escape(c))

    def _reference(self, kind: str) -> _Atom:
        src, p = self.src, self.pos
        close = {"<": ">", "'": "'"}.get(src[p] if p < len(src) else "")
        end = src.find(close, p + 1) if close else -1
        if end < 0:
            raise OnigSyntaxError(f"invalid \\{kind} reference", p)
        name = self._absolute(src[p + 1:end], kind, p)
        self.pos = end + 1
        if kind == "g" and not name.isdigit():
            self.calls.append((name, p))
        if name.isdigit():
            if not (kind == "g" and name == "0"):  # the whole pattern has no number to refuse
                self._numbered_reference(p)
            target = name
        elif name in self.names:
            target = self.names[name]
        elif kind == "g":
            target = _forward_placeholder(len(self.forward_calls))
            self.forward_calls.append((name, p))
            self.out.needs_regex = True
            return _Atom(target, head_calls=frozenset({target}))
        else:
            raise OnigSyntaxError(f"undefined name <{name}> reference", p)
        if kind == "k":
            return _Atom(f"(?P={target})" if not name.isdigit() else f"(?:\\{name})", consumes=False)
        self.out.needs_regex = True
        self.call_at.setdefault(target, p - 2)
        return _Atom(f"(?&{target})" if not name.isdigit() else f"(?{name})",
                     consumes=self.group_consumes.get(target, True), head_calls=frozenset({target}))

    def _absolute(self, name: str, kind: str, pos: int) -> str:
        """A relative group number (``\\k<-1>``: the group opened last, ``\\g<+1>``: the next
        one) as an absolute one; any other name as it is."""
        if not re.fullmatch(r"[+-][0-9]+", name):
            return name
        self._numbered_reference(pos)
        number = self.plain_groups + 1 - int(name[1:]) if name[0] == "-" else self.plain_groups + int(name[1:])
        if number < 1 or (name[0] == "+" and kind == "k"):
            raise OnigSyntaxError(f"invalid backref number/name <{name}>", pos)
        return str(number)

    _PROPERTY_NAME = re.compile(r"\{(\^?)([\w -]+)\}")

    def _posix_property(self, c: str) -> _ClassNode | None:
        """``\\p{Alpha}``, ``\\p{Punct}``...: Ruby gives these names its POSIX brackets' meaning
        (the ``regex`` module's ``Punct`` has no ``$``), so they are the same ranges."""
        m = self._PROPERTY_NAME.match(self.src, self.pos)
        key = re.sub(r"[ _-]", "", m.group(2)).lower() if m else ""
        if not m or key not in _POSIX_PROPERTIES:
            return None
        self.pos = m.end()
        return self._posix(key, negated=(c == "P") != bool(m.group(1)))

    def _property(self, c: str) -> str:
        m = re.compile(r"\{(\^?)([\w ]+)\}").match(self.src, self.pos)
        if not m or not _known_property(m.group(2)):
            # here, with its place in the expression: the regex module would name a place in
            # the translation, which the user never wrote
            name = f" {{{m.group(2)}}}" if m else ""
            raise OnigSyntaxError(f"invalid character property name{name}", self.pos - 2)
        self.pos = m.end()
        self.out.needs_regex = True
        self.out.line_safe = False
        negate = (c == "P") != bool(m.group(1))
        return ("\\P" if negate else "\\p") + "{" + m.group(2) + "}"

    def _numbered_reference(self, pos: int) -> None:
        """Ruby numbers no group once some have names: ``\\1`` there is an error, where
        Python would take it for the first named group."""
        if not self.capture_plain:
            raise OnigSyntaxError("numbered backref/call is not allowed. (use name)", pos)

    def _digits(self, first: str) -> str:
        m = re.compile(r"\d*").match(self.src, self.pos)
        digits = first + (m.group() if m else "")
        if first != "0" and len(digits) == 1:  # \\1-\\9 are always backreferences in Ruby
            self._numbered_reference(self.pos - 2)
        if first == "0":
            octal = re.compile(r"[0-7]{0,2}").match(self.src, self.pos)
            self.pos = octal.end() if octal else self.pos
            value = chr(int(first + (octal.group() if octal else ""), 8))
            return "(?!)" if value == "\n" and self.line_mode else _literal(value)
        self.pos += len(digits) - 1
        return f"(?:\\{digits})"

    def _char_escape(self, c: str) -> str:
        """One character written with an escape, as Python text outside a class."""
        value = self._char_value(c)
        return "(?!)" if value == "\n" and self.line_mode else _literal(value)

    def _class_atom(self, node: _ClassNode) -> str:
        """A class as an atom; in line mode, kept from matching a newline."""
        text = node.render()
        if not self.line_mode:
            return text
        try:
            if re.fullmatch(text, "\n", re.DOTALL):
                if not node.atoms and node.negated:
                    return text[:-1] + "\\n]"
                return "(?:(?!\\n)" + text + ")"
        except re.error:
            self.out.line_safe = False
        return text

    def _char_value(self, c: str) -> str:
        src = self.src
        if c in _SIMPLE_ESCAPES:
            return {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "a": "\a", "e": "\x1b"}[c]
        if c in "xu":
            digits = "|([0-9a-fA-F]{1,2})" if c == "x" else "|([0-9a-fA-F]{4})"
            hit = re.compile(r"\{([0-9a-fA-F]{1,8})\}" + digits).match(src, self.pos)
            if not hit:
                raise OnigSyntaxError(f"invalid \\{c} escape", self.pos)
            value = int(hit.group(1) or hit.group(2), 16)
            if value > 0x10FFFF:  # Unicode ends there (Ruby: "invalid code point value")
                raise OnigSyntaxError("invalid code point value", self.pos)
            self.pos = hit.end()
            return chr(value)
        if c in "CM":
            kind = "control" if c == "C" else "meta"
            if self.pos >= len(src):
                raise OnigSyntaxError(f"end pattern at {kind}", self.pos)
            if src[self.pos] != "-":
                raise OnigSyntaxError(f"invalid {kind}-code syntax", self.pos)
            self.pos += 1
            return self._control() if c == "C" else chr(ord(self._escaped_operand("meta")) & 0xFF | 0x80)
        if c == "c":
            return self._control()
        return c

    def _control(self) -> str:
        """The character after ``\\c`` or ``\\C-`` as a control code (Ruby: ``\\c?`` is DEL)."""
        if self.src.startswith("?", self.pos):
            self.pos += 1
            return "\x7f"
        return chr(ord(self._escaped_operand("control")) & 0x9F)

    def _escaped_operand(self, kind: str) -> str:
        """The next character, or the value of the escape there (``\\M-\\C-a``)."""
        if self.pos >= len(self.src):
            raise OnigSyntaxError(f"end pattern at {kind}", self.pos)
        c = self.src[self.pos]
        self.pos += 1
        if c != "\\":
            return c
        if self.pos >= len(self.src):
            raise OnigSyntaxError("end pattern at escape", self.pos)
        self.pos += 1
        return self._char_value(self.src[self.pos - 1])

    # -- character classes --------------------------------------------------------------

    def char_class(self) -> _ClassNode:
        """Read a class after its ``[``; nested classes, POSIX names and ``&&`` included."""
        node = _ClassNode()
        if self.src.startswith("^", self.pos):
            node.negated = True
            self.pos += 1
        first = True
        while True:
            if self.pos >= len(self.src):
                raise OnigSyntaxError("premature end of char-class", self.pos)
            c = self.src[self.pos]
            if c == "]" and not first:
                self.pos += 1
                return node
            first = False
            if self.src.startswith("&&", self.pos):
                self.pos += 2
                return self._intersection(node)
            if c == "[":
                self._nested(node)
            else:
                self._class_item(node)

    def _intersection(self, left: _ClassNode) -> _ClassNode:
        negated, left.negated = left.negated, False
        right = self._class_rest()
        both = f"(?:(?={left.render()}){right.render()})"
        return _ClassNode(atoms=[both], negated=negated)

    def _class_rest(self) -> _ClassNode:
        """The right side of ``&&``: items up to and including the class's ``]``."""
        node = _ClassNode()
        while True:
            if self.pos >= len(self.src):
                raise OnigSyntaxError("premature end of char-class", self.pos)
            if self.src[self.pos] == "]":
                self.pos += 1
                return node
            if self.src.startswith("&&", self.pos):
                self.pos += 2
                return self._intersection(node)
            if self.src[self.pos] == "[":
                self._nested(node)
            else:
                self._class_item(node)

    _POSIX = re.compile(r"\[:(\^?)([a-z]+):\]")

    def _nested(self, node: _ClassNode) -> None:
        m = self._POSIX.match(self.src, self.pos)
        if m:
            self.pos = m.end()
            inner = self._posix(m.group(2), bool(m.group(1)))
        else:
            self.pos += 1
            inner = self.char_class()
        _merge(node, inner)

    def _posix(self, name: str, negated: bool) -> _ClassNode:
        if name in _POSIX_PROPERTIES:
            return _ClassNode(items=[_posix_items(name)], negated=negated)
        raise OnigSyntaxError(f"invalid POSIX bracket type [:{name}:]", self.pos)

    def _class_item(self, node: _ClassNode) -> None:
        single = self._class_single(node)
        if single is None:
            return
        src = self.src
        if src.startswith("-", self.pos) and self.pos + 1 < len(src) and src[self.pos + 1] != "]":
            self.pos += 1
            high = self._class_single(node)
            if high is None:
                raise OnigSyntaxError("char-class value at end of range", self.pos)
            node.items.append(single + "-" + high)
        else:
            node.items.append(single)

    def _class_single(self, node: _ClassNode) -> str | None:
        """One character as class text, or None when the item was a whole set (``\\d``)."""
        c = self.src[self.pos]
        self.pos += 1
        if c != "\\":
            return _class_literal(c)
        if self.pos >= len(self.src):
            raise OnigSyntaxError("end pattern at escape", self.pos)
        e = self.src[self.pos]
        self.pos += 1
        if e in _ASCII_IN_CLASS:
            node.items.append(_ASCII_IN_CLASS[e])
            return None
        if e in "DWSH":
            _merge(node, _ClassNode(items=[_ASCII_IN_CLASS[e.lower()]], negated=True))
            return None
        if e in "pP":
            posix = self._posix_property(e)
            if posix is None:
                node.items.append(self._property(e))
            else:
                _merge(node, posix)
            return None
        if e == "b":
            return "\\x08"
        if e.isdigit():
            octal = re.compile(r"[0-7]{0,3}").match(self.src, self.pos - 1)
            self.pos = octal.end() if octal and octal.group() else self.pos
            return _class_literal(chr(int(octal.group() or "0", 8)) if octal else e)
        return _class_literal(self._char_value(e))


def _forward_placeholder(index: int) -> str:
    """Stands for a call until its group is read; noncharacters no pattern holds."""
    return f"\ufdd0{index}\ufdd1"


def _may_repeat_zero(quant: str) -> bool:
    """Whether a quantifier (``?``, ``*``, ``{0,3}``...) lets its atom match nothing."""
    return quant[0] in "?*" or (quant[0] == "{" and int(quant[1:].split(",")[0].strip("}?") or 0) == 0)


def _known_property(name: str) -> bool:
    """Whether the ``regex`` module knows a ``\\p{...}`` name."""
    import regex

    try:
        regex.compile(f"\\p{{{name}}}")
    except regex.error:
        return False
    return True


@functools.cache
def _posix_items(name: str) -> str:
    """A POSIX class as the ranges of a Python class, read off the ``regex`` module's
    Unicode tables once: stdlib ``re`` has no ``\\p{...}``, and the fast paths need ``re``."""
    import regex

    spans = regex.finditer(_POSIX_PROPERTIES[name] + "+", _every_character())
    return "".join(
        _range_item(m.start(), m.end() - 1) for m in spans
    )


@functools.lru_cache(maxsize=1)
def _every_character() -> str:
    return array.array("I", range(0x110000)).tobytes().decode("utf-32-le", "surrogatepass")


def _range_item(low: int, high: int) -> str:
    if low == high:
        return f"\\U{low:08x}"
    return f"\\U{low:08x}-\\U{high:08x}"


def _merge(node: _ClassNode, inner: _ClassNode) -> None:
    """Union a nested class into its parent, flat when both are plain."""
    if not inner.negated and not inner.atoms:
        node.items.extend(inner.items)
    else:
        node.atoms.append(inner.render())


def _literal(ch: str) -> str:
    if ch.isalnum() or ch == "_" or ord(ch) > 127:
        return ch
    if ch == "\n":
        return "\\n"
    return re.escape(ch)


def _class_literal(ch: str) -> str:
    if ch.isalnum() or ch == "_" or ord(ch) > 127:
        return ch
    if ord(ch) < 32 or ord(ch) == 127:
        return f"\\x{ord(ch):02x}"
    return "\\" + ch
