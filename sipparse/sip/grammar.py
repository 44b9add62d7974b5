"""The SIP grammar as compiled regular expressions, built from ``grok_patterns/sip``.

The definitions live in the pattern file (each quoting its RFC 3261 ABNF), so a user's
``--patterns-dir`` can adjust them like any grok pattern.  Here they are compiled once per
pattern library, with the flags the parser relies on, and each capture is looked up by the
semantic it was given in the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sipparse.grok import PatternLibrary


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled pattern plus the group number of each named capture."""

    regex: re.Pattern[str]
    groups: dict[str, int]


def compile_rule(library: Any, expression: str, flags: int = 0) -> Rule:
    """Compile a grok expression to a stdlib ``re`` pattern with captures by semantic."""
    grok = library.compile(expression)
    regex = re.compile(grok.regex.pattern, flags)
    groups = {}
    for group, spec in grok.group_fields.items():
        name = spec[0] if isinstance(spec, tuple) else spec
        groups[str(name).strip("[]").split("][")[-1]] = regex.groupindex[group]
    return Rule(regex, groups)


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
        return cls(
            request_line=compile_rule(library, "^%{SIP_REQUEST_LINE}$"),
            status_line=compile_rule(library, "^%{SIP_STATUS_LINE}$"),
            header=compile_rule(library, "%{SIP_HEADER}", re.M),
            cseq=compile_rule(library, "^%{SIP_CSEQ}"),
            name_addr=compile_rule(library, "^%{SIP_NAME_ADDR}$"),
            addr_spec=compile_rule(library, "^%{SIP_ADDR_SPEC}$"),
            uri=compile_rule(library, "^%{SIP_URI}"),
            tag=compile_rule(library, "%{SIP_TAG_PARAM}"),
            branch=compile_rule(library, "%{SIP_VIA_BRANCH}"),
            q850=compile_rule(library, "%{SIP_Q850_CAUSE}"),
        )
