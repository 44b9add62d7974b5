"""The SIP grammar as compiled regular expressions, built from ``grok_patterns/sip``.

The definitions live in the pattern file (each quoting its RFC 3261 ABNF), so a user's
``--patterns-dir`` can adjust them like any grok pattern.  Here they are compiled once per
pattern library, with the flags the parser relies on, and each capture is looked up by the
semantic it was given in the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sipparse.grok import GrokError, PatternLibrary


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled pattern plus the group number of each named capture."""

    regex: Any  # re.Pattern[str], or a regex.Pattern for a user's pattern that needs one
    groups: dict[str, int]


def compile_rule(library: Any, expression: str, flags: int = 0, required: Iterable[str] = ()) -> Rule:
    """Compile a grok expression to a pattern with captures by semantic: stdlib ``re``, or
    the ``regex`` module for a user's pattern in syntax only it has (``\\p{L}``).

    :raises GrokError: the expression lacks a capture in ``required`` (one the parser reads)
    """
    grok = library.compile(expression)
    if grok.needs_regex_module:
        import regex as regex_module

        regex: Any = regex_module.compile(grok.regex.pattern, flags | regex_module.V0)
    else:
        regex = re.compile(grok.regex.pattern, flags)
    groups = {}
    for group, spec in grok.group_fields.items():
        name = spec[0] if isinstance(spec, tuple) else spec
        groups[str(name).strip("[]").split("][")[-1]] = regex.groupindex[group]
    missing = [name for name in required if name not in groups]
    if missing:
        raise GrokError(f"{_defined_by(library, expression)} must capture {', '.join(missing)} for the SIP "
                        f"parser (it captures: {', '.join(groups) or 'nothing'})")
    return Rule(regex, groups)


def _defined_by(library: Any, expression: str) -> str:
    """``pattern %{NAME} at FILE:LINE`` for a rule's expression, which names one pattern."""
    name = re.search(r"%\{(\w+)\}", expression)
    if name is None or name.group(1) not in library:
        return f"grok expression {expression!r}"
    return f"pattern {library.located(name.group(1))}"


@dataclass(frozen=True, slots=True)
class Grammar:
    """Every SIP rule the message parser uses."""

    request_line: Rule
    status_line: Rule
    header: Rule
    cseq: Rule
    name_addr: Rule
    addr_spec: Rule
    uri: Rule
    tag: Rule
    branch: Rule
    q850: Rule

    @classmethod
    def from_library(cls, library: PatternLibrary) -> Grammar:
        """Compile the ``SIP_*`` patterns of ``library``."""
        return cls(**compile_rules(library, EXPRESSIONS))


# How each rule of a ``Grammar`` is compiled: its grok expression and its flags.
EXPRESSIONS: dict[str, tuple[str, int]] = {
    "request_line": ("^%{SIP_REQUEST_LINE}$", 0),
    "status_line": ("^%{SIP_STATUS_LINE}$", 0),
    "header": ("%{SIP_HEADER}", re.M),
    "cseq": ("^%{SIP_CSEQ}", 0),
    "name_addr": ("^%{SIP_NAME_ADDR}$", 0),
    "addr_spec": ("^%{SIP_ADDR_SPEC}$", 0),
    "uri": ("^%{SIP_URI}", 0),
    "tag": ("%{SIP_TAG_PARAM}", 0),
    "branch": ("%{SIP_VIA_BRANCH}", 0),
    "q850": ("%{SIP_Q850_CAUSE}", 0),
}

# The captures the parser reads from each rule: a redefinition without one is refused at
# once, by name, rather than failing on the first message as an unexpected KeyError.
CAPTURES: dict[str, tuple[str, ...]] = {
    "request_line": ("method", "request_uri"),
    "status_line": ("status_code", "reason_phrase"),
    "header": ("name", "value"),
    "cseq": ("cseq", "cseq_method"),
    "name_addr": ("uri", "params"),
    "addr_spec": ("uri", "params"),
    "uri": ("user", "host"),
    "tag": ("tag",),
    "branch": ("branch",),
    "q850": ("cause",),
}


def compile_rules(library: Any, names: Iterable[str]) -> dict[str, Rule]:
    """These rules of a ``Grammar`` (names of ``EXPRESSIONS``), compiled from ``library``."""
    return {name: compile_rule(library, *EXPRESSIONS[name], required=CAPTURES[name]) for name in names}
