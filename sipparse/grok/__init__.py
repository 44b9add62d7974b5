"""A grok engine compatible with Logstash's: pattern files, expansion, matching.

    from sipparse.grok import PatternLibrary
    lib = PatternLibrary.load(extra_dirs=["/etc/sipparse/patterns"], definitions={"PBX": "pbx-[a-z]+"})
    g = lib.compile("%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:host} %{SYSLOGPROG}: %{GREEDYDATA:msg}")
    g.match(line)          # {"ts": ..., "host": ..., "program": ..., "msg": ...} or None

``g.regex`` is the compiled pattern for hot loops (``g.captures(m)`` turns a match object
into fields); ``lib.compile_many([...])`` tries several expressions like a Logstash
``match`` list. Errors are :class:`GrokError` (a ``SipparseError``); a match that runs
past its time limit raises :class:`GrokTimeout`.
"""

from sipparse.grok.errors import GrokError, GrokTimeout
from sipparse.grok.library import PatternDefinition, PatternLibrary, bundled_patterns_dir
from sipparse.grok.matcher import DEFAULT_TIMEOUT, Grok, MultiGrok

__all__ = [
    "DEFAULT_TIMEOUT",
    "Grok",
    "GrokError",
    "GrokTimeout",
    "MultiGrok",
    "PatternDefinition",
    "PatternLibrary",
    "bundled_patterns_dir",
]
