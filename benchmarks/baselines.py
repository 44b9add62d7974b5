"""What sipparse is measured against on the same input: pygrok, and a straightforward parser.

* ``pygrok_rate``: the Logstash way, with the pygrok library: one grok expression for the
  line prefix, applied line by line (``Grok.match``), as a Logstash grok filter does.
* ``naive_parse``: the parser one writes first: read line by line, one regex for the
  prefix, one for a start line, one per header line, a dict of headers per message, the
  message closed at the next start line.  It finds the same messages on these logs but
  none of the hard cases (escapes, Content-Length, streams that interleave, TCP dumps).

Both return ``(bytes read, messages or matched lines, CPU seconds)``.
"""

from __future__ import annotations

import re
import time

# The prefixes of sipparse's dialects, written with the standard grok patterns pygrok ships.
GROK_PREFIX = {
    "syslog": "%{SYSLOGTIMESTAMP:timestamp} %{SYSLOGHOST:host} %{PROG:program}(?:\\[%{POSINT:pid}\\])?: "
              "%{GREEDYDATA:message}",
    "rfc5424": "%{TIMESTAMP_ISO8601:timestamp} %{SYSLOGHOST:host} %{PROG:program}(?:\\[%{POSINT:pid}\\])?: "
               "%{GREEDYDATA:message}",
    "full": "\\[%{SYSLOGTIMESTAMP:timestamp}\\] %{WORD:level}\\[%{INT:lwp}\\](?:\\[%{DATA:channel}\\])?:? "
            "%{DATA:module}: %{GREEDYDATA:message}",
}

_SYSLOG = re.compile(
    r"^(\w{3} +\d+ \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT[\d:.+\-Z]+) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?(.*)$")
_FULL = re.compile(r"^\[([^\]]+)\] (\w+)\[(\d+)\](?:\[[^\]]*\])?:? ([\w.\-]+): (.*)$")
_START = re.compile(r"^(?:([A-Z]+) \S+ SIP/2\.0|SIP/2\.0 (\d{3}) ?(.*))$")
_HEADER = re.compile(r"^([A-Za-z\-]+)\s*:\s*(.*)$")
_MARKER = re.compile(r"<--- (Received|Transmitting) SIP")


def pygrok_rate(path: str, dialect: str, limit: int) -> tuple[int, int, float]:
    """Match the dialect's prefix expression on each line of the first ``limit`` bytes."""
    from pygrok import Grok

    grok = Grok(GROK_PREFIX[dialect])
    done = matched = 0
    start = time.process_time()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if grok.match(line.rstrip("\n")) is not None:
                matched += 1
            done += len(line)
            if done >= limit:
                break
    return done, matched, time.process_time() - start


def naive_parse(path: str, dialect: str) -> tuple[int, int, float]:
    """Parse the whole log line by line into header dicts; count the messages."""
    messages: list[dict[str, str]] = []
    open_by_stream: dict[tuple[str, str], dict[str, str]] = {}
    size = 0
    start = time.process_time()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            size += len(line)
            text = line.rstrip("\n")
            if dialect == "full":
                stream, content = ("", ""), text
                m = _FULL.match(text)
                if m is not None:
                    content = m.group(5)
            else:
                m = _SYSLOG.match(text)
                if m is None:
                    continue
                stream, content = (m.group(2), m.group(4) or ""), m.group(5)
                content = content.replace("#015", "").replace("#012", "\n")
                inner = _FULL.match(content)
                if inner is not None:
                    content = inner.group(5)
            _line(content.rstrip("\r"), stream, open_by_stream, messages)
    messages += [m for m in open_by_stream.values() if m]
    return size, len(messages), time.process_time() - start


def _line(content: str, stream: tuple[str, str], open_by_stream: dict, messages: list) -> None:
    start = _START.match(content)
    current = open_by_stream.get(stream)
    if start is not None or _MARKER.search(content):
        if current:
            messages.append(current)
        open_by_stream[stream] = {"_start": content} if start is not None else {}
        return
    if current is None:
        return
    if not current and not content:
        return
    if current and "_start" not in current:
        return
    header = _HEADER.match(content)
    if header is not None:
        current.setdefault(header.group(1).lower(), header.group(2))
