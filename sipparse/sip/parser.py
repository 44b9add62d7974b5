"""From the bytes of one logged SIP message to a filled ``SipMessage``.

The parser is lenient the way a troubleshooting tool must be (RFC 3261 section 7.3.1,
RFC 4475): header names match case-insensitively and in compact form, folded lines are
unfolded, whitespace around colons is ignored, LF or bare-CR line ends are accepted.  A
message is refused (a ``Reject`` with the reason) only when it has no request or status
line or no Call-ID, since neither storage nor a user could place it anywhere.

Every field is extracted eagerly, but work that repeats from message to message (the
From/To of one dialog, the canonical spelling of a header name) is cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sipparse.grok import PatternLibrary
from sipparse.sip import accel
from sipparse.sip.framing import Frame
from sipparse.sip.grammar import Grammar, Rule, compile_rules
from sipparse.sip.message import Reject, SipMessage, Source
from sipparse.sip.sdp import sdp_text

# RFC 3261 7.3.3 compact forms, plus those of later RFCs (3265 o/u, 3515 r, 3892 b,
# 3841 a/j/d, 4028 x, 4474 y/n).
_COMPACT = {
    "i": "call-id", "m": "contact", "e": "content-encoding", "l": "content-length",
    "c": "content-type", "f": "from", "s": "subject", "k": "supported", "t": "to",
    "v": "via", "o": "event", "u": "allow-events", "r": "refer-to", "b": "referred-by",
    "a": "accept-contact", "j": "reject-contact", "d": "request-disposition",
    "x": "session-expires", "y": "identity", "n": "identity-info",
}
# The headers a SipMessage needs, and how nearly every stack spells them.
_SPELLINGS = (
    ("Call-ID", "call-id"), ("From", "from"), ("To", "to"), ("CSeq", "cseq"), ("Via", "via"),
    ("Contact", "contact"), ("User-Agent", "user-agent"), ("Server", "server"),
    ("Content-Type", "content-type"), ("Reason", "reason"),
)
_WANTED = frozenset(key for _, key in _SPELLINGS)
_USUAL = frozenset(name for name, _ in _SPELLINGS) | {
    "Max-Forwards", "Content-Length", "Allow", "Supported", "Subject", "Accept", "Expires",
    "Record-Route", "Route", "Allow-Events", "Event", "Require", "Session-Expires", "Min-SE",
    "Authorization", "WWW-Authenticate", "Proxy-Authorization", "Proxy-Authenticate",
    "P-Asserted-Identity", "Remote-Party-ID", "Privacy", "Date", "Organization",
}
# The header rule the C scanner implements (grok_patterns/sip defines SIP_HEADER so).
STANDARD_HEADER_RULES = {"SIP_HEADER": r"^(?<name>[^ \t\n:]+)[ \t]*:[ \t]*(?<value>[^\n]*(?:\n[ \t]+[^\n]*)*)"}
# The address and Via rules the C reader of addresses implements (``_address.c``), as
# grok_patterns/sip defines them, and how ``Grammar`` compiles each.
STANDARD_ADDRESS_RULES = {
    "SIP_QUOTED_STRING": r'"(?:[^"\\]|\\[^\n])*"',
    "SIP_NAME_ADDR": r'[ \t]*(?<display>%{SIP_QUOTED_STRING}|[^<"\n]*?)[ \t]*<(?<uri>[^>\n]*)>(?<params>[^\n]*)',
    "SIP_ADDR_SPEC": r"[ \t]*(?<uri>[^;\n]*?)[ \t]*(?<params>;[^\n]*)?",
    "SIP_URI": r"(?<scheme>[A-Za-z][A-Za-z0-9+\-.]*):(?:(?<user>[^:@?>\n]*)(?::[^@\n]*)?@)?"
               r"(?<host>\[[0-9A-Fa-f:.]+\]|[^:;?>\s]*)(?::(?<port>[0-9]+))?",
    "SIP_TAG_PARAM": r";[ \t]*[Tt][Aa][Gg][ \t]*=[ \t]*(?<tag>[^;, \t\n]+)",
    "SIP_VIA_BRANCH": r";[ \t]*[Bb][Rr][Aa][Nn][Cc][Hh][ \t]*=[ \t]*(?<branch>[^;, \t\n]+)",
}
_ADDRESS_RULES = ("name_addr", "addr_spec", "uri", "tag", "branch")
# The start line rules the same C module reads (``_address.start_line``), as grok_patterns/sip
# defines them.
STANDARD_START_RULES = {
    "SIP_TOKEN": r"[A-Za-z0-9\-.!%*_+`'~]+",
    "SIP_VERSION": r"SIP */ *[0-9]+\.[0-9]+",
    "SIP_METHOD": r"%{SIP_TOKEN}",
    "SIP_REQUEST_LINE": r"%{SIP_METHOD:method} +(?<request_uri>[^ \r\n]+) +%{SIP_VERSION:version} *",
    "SIP_STATUS_CODE": r"[0-9]{3}",
    "SIP_REASON_PHRASE": r"[^\r\n]*",
    "SIP_STATUS_LINE": r"%{SIP_VERSION:version} +(?<status_code>%{SIP_STATUS_CODE})"
                       r"(?: (?<reason_phrase>%{SIP_REASON_PHRASE}))?",
}
_START_RULES = ("request_line", "status_line")
_STANDARD_PATTERNS: dict[tuple[str, ...], tuple[tuple[str, int], ...]] = {}
_C_ADDRESS: Any = accel.c_module("sipparse.sip._address")
REASON_SCAN = 4096  # characters of a Reason value in which its Q.850 cause is looked for (``_q850``)
ADDRESSES_IN_C = _C_ADDRESS is not None  # for ``sipparse info`` (with the bundled address and start line rules)
CACHE_LIMIT = 16384  # entries of each cache of a parser (start lines, CSeqs, Vias, addresses)
_FOLD = re.compile(r"\n[ \t]+")
_QUOTED_PAIR = re.compile(r"\\(.)")
_STRIPPED = ("call-id", "from", "to", "cseq", "via", "contact")
_MISSING: Any = object()

Address = tuple[str | None, str | None, str | None, str | None]  # display, user, host, tag
_NO_ADDRESS: Address = (None, None, None, None)


@dataclass(slots=True)
class Envelope:
    """What the log says around a message: where, when, from whom, which way."""

    source: Source
    offset: int
    end: int
    timestamp: datetime | None
    direction: str | None = None
    transport: str | None = None
    peer: str | None = None
    marker_bytes: int | None = None
    host: str | None = None
    pid: int | None = None
    dialect: str | None = None


class MessageParser:
    """Parses messages with the rules of one ``Grammar``; keeps small caches between calls.

    A log repeats itself: start lines, CSeq values, the Via of a transaction, the From/To of
    a dialog and the Content-Type come back message after message, so what is derived from
    each is computed once and looked up afterwards (the caches are cleared when they fill).
    """

    def __init__(self, grammar: Grammar) -> None:
        self.g = grammar
        self._names = _Canonical()
        self._addresses: dict[str, Address] = {}
        self._starts: dict[str, tuple | None] = {}
        self._cseqs: dict[str, tuple[int | None, str | None, str | None]] = {}
        self._vias: dict[str, tuple[str, str | None]] = {}
        self._header_groups = _pair_groups(grammar.header)
        self._findall = grammar.header.regex.findall if self._header_groups == (1, 2) and \
            grammar.header.regex.groups == 2 else None
        # the C scanner reads headers as the standard SIP_HEADER does, so only with that one
        self.scan = accel.scan_message if _keeps(grammar, STANDARD_HEADER_RULES, ("header",)) else None
        # and the C reader of addresses reads them as the standard address rules do
        addresses = _C_ADDRESS is not None and _keeps(grammar, STANDARD_ADDRESS_RULES, _ADDRESS_RULES)
        self._c_address = _C_ADDRESS.parse_address if addresses else None
        self._c_via = _C_ADDRESS.via_branch if addresses else None
        # and its reader of start lines, the standard start line rules
        starts = _C_ADDRESS is not None and _keeps(grammar, STANDARD_START_RULES, _START_RULES)
        self._c_start = _C_ADDRESS.start_line if starts else None

    def build(self, data: bytes, frame: Frame, env: Envelope, problems: list[str]) -> SipMessage | Reject:
        """Parse ``data[frame.start:frame.end]`` into a record carrying ``env``."""
        return self.record(data, frame, problems, env.source, env.offset, env.end, env.timestamp, env.direction,
                           env.transport, env.peer, env.marker_bytes, env.host, env.pid, env.dialect)

    def record(self, data: bytes, frame: Frame, problems: list[str], source: Source, offset: int, end: int,
               timestamp: datetime | None, direction: str | None = None, transport: str | None = None,
               peer: str | None = None, marker_bytes: int | None = None, host: str | None = None,
               pid: int | None = None, dialect: str | None = None) -> SipMessage | Reject:
        """``build`` with the envelope's fields as arguments (the hot path: no Envelope per message)."""
        fstart = frame.start
        head = data[fstart:frame.header_end].decode("utf-8", "replace")
        if "\r" in head:
            head = head.replace("\r\n", "\n")
            if "\r" in head:
                head = head.replace("\r", "\n")
        first, _, rest = head.partition("\n")
        return self._complete(data[fstart:frame.end], data, frame.body_start, frame.end, frame.content_length,
                              first, self._wanted(rest), problems, frame.problems, source, offset, end, timestamp,
                              direction, transport, peer, marker_bytes, host, pid, dialect)

    def scanned(self, data: bytes, scan: tuple[Any, ...], problems: list[str], source: Source, offset: int,
                end: int, timestamp: datetime | None, direction: str | None = None, transport: str | None = None,
                peer: str | None = None, marker_bytes: int | None = None, host: str | None = None,
                pid: int | None = None, dialect: str | None = None) -> SipMessage | Reject:
        """``record`` of a message the C scanner read (``accel.scan_message``'s tuple)."""
        stop = scan[0]
        return self._complete(data[:stop], data, scan[2], stop, scan[3], scan[4], scan[5:], problems, None, source,
                              offset, end, timestamp, direction, transport, peer, marker_bytes, host, pid, dialect)

    def _complete(self, raw: bytes, data: bytes, body_start: int, body_end: int, content_length: int | None,
                  first: str, wanted: Any, problems: list[str], framing: list[str] | None, source: Source,
                  offset: int, end: int, timestamp: datetime | None, direction: str | None, transport: str | None,
                  peer: str | None, marker_bytes: int | None, host: str | None, pid: int | None,
                  dialect: str | None) -> SipMessage | Reject:
        """The record of a message whose start line and wanted headers are read; ``framing``:
        what framing found wrong, noted after the parser's own findings.

        The caches are read inline (a dict lookup, then the method only on a miss): this runs
        once per message, and a call costs as much as the lookup it wraps."""
        start = self._starts.get(first, _MISSING)
        if start is _MISSING:
            start = self._start_of(first)
        if start is None:
            return Reject(source, offset, end, f"not a SIP request or status line: {first[:80]!r}", raw,
                          timestamp, host)
        call_id, from_sip, to_sip, cseq_value, via, contact, agent, content_type, reason = wanted
        if not call_id:
            return Reject(source, offset, end, "no Call-ID header", raw, timestamp, host)
        cseq, cseq_method, problem = self._cseqs.get(cseq_value) or self._cseq(cseq_value)
        if problem is not None:
            problems.append(problem)
        if framing:
            problems = problems + framing
        if via:
            via_top, branch = self._vias.get(via) or self._via(via)
        else:
            via_top = branch = None
        q850 = None
        if reason:
            reason, q850 = self.reason_and_cause(reason, raw)
        addresses = self._addresses
        return SipMessage(
            source, offset, end, raw, timestamp, *start, call_id,
            from_sip, *(addresses.get(from_sip) or self._address(from_sip)),
            to_sip, *(addresses.get(to_sip) or self._address(to_sip)),
            cseq, cseq_method, via_top, branch, contact, agent, content_type,
            content_length, reason, q850,
            sdp_text(content_type, data[body_start:body_end]) if content_type else None,
            direction, transport, peer, marker_bytes, host, pid, dialect, problems,
        )

    def _wanted(self, text: str) -> tuple[str | None, ...]:
        """Call-ID, From, To, CSeq, Via, Contact, User-Agent (or Server), Content-Type, Reason."""
        if self._findall is not None:
            pairs = self._findall(text)
        else:
            name_group, value_group = self._header_groups
            pairs = [(m.group(name_group), m.group(value_group)) for m in self.g.header.regex.finditer(text)]
        first = dict(reversed(pairs))
        folded = "\n " in text or "\n\t" in text
        if folded or not (_USUAL.issuperset(first) or self._plain(first.keys() - _USUAL)):
            get = self._headers_of(pairs, folded).get
        else:  # every wanted header spelled the usual way: no per-header work
            get = first.get
            call_id, from_sip, to_sip, cseq, via, contact = (
                get("Call-ID"), get("From"), get("To"), get("CSeq"), get("Via"), get("Contact"))
            return (call_id and call_id.strip(), from_sip and from_sip.strip(), to_sip and to_sip.strip(),
                    cseq and cseq.strip(), via and via.strip(), contact and contact.strip(),
                    get("User-Agent") or get("Server"), get("Content-Type"), get("Reason"))
        return (get("call-id"), get("from"), get("to"), get("cseq"), get("via"), get("contact"),
                get("user-agent") or get("server"), get("content-type"), get("reason"))

    def _plain(self, unusual: set[str]) -> bool:
        """Whether none of these header names is another spelling of a wanted header."""
        names = self._names
        return not any(names[name] in _WANTED for name in unusual)

    def _headers_of(self, pairs: list[tuple[str, str]], folded: bool) -> dict[str, str]:
        """Header values by lower-case full name; the first of a repeated header wins."""
        if not pairs:
            return {}
        names, values = zip(*reversed(pairs), strict=True)
        headers = dict(zip(map(self._names.__getitem__, names), values, strict=True))
        if folded:
            headers = {k: _FOLD.sub(" ", v) for k, v in headers.items()}
        for key in _STRIPPED:
            value = headers.get(key)
            if value is not None:
                headers[key] = value.strip()
        return headers

    @staticmethod
    def _remember(cache: dict, key: Any, value: Any) -> Any:
        if len(cache) >= CACHE_LIMIT:
            cache.clear()
        cache[key] = value
        return value

    def _start_of(self, first: str) -> tuple | None:
        """``_start_line``, remembered."""
        return self._remember(self._starts, first, self._start_line(first))

    def _q850(self, reason: str) -> int | None:
        """The Q.850 cause of a Reason header value, looked for in its first ``REASON_SCAN``
        characters: a value of thousands of ``Q.850;"`` (anyone may send one in a MESSAGE or
        a BYE) took SIP_Q850_CAUSE 10 s at 56 KB, and no real Reason is that long."""
        return _int(self._search(self.g.q850, "cause", reason[:REASON_SCAN]))

    def reason_and_cause(self, reason: str, raw: bytes) -> tuple[str, int | None]:
        """The Reason header of a message that has one, and its Q.850 cause (``_scan.c`` too)."""
        q850 = self._q850(reason)
        return (reason, q850) if q850 is not None else self._every_reason(raw, reason)

    def _every_reason(self, raw: bytes, first: str) -> tuple[str, int | None]:
        """The Reason headers of a message as one value, and its Q.850 cause, when the first
        carries none.

        RFC 3326 gives a message one Reason header per protocol, and SBCs and carriers send
        ``Reason: SIP;cause=480`` and ``Reason: Q.850;cause=19`` on lines of their own, in
        either order; RFC 3261 7.3.1 lets such lines be read as one, comma-separated. Only a
        message whose first Reason has no Q.850 cause comes here, so the others pay nothing.
        """
        text = raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
        head = text.split("\n\n", 1)[0].partition("\n")[2]
        name_group, value_group = self._header_groups
        values = [_FOLD.sub(" ", m.group(value_group)).strip() for m in self.g.header.regex.finditer(head)
                  if self._names[m.group(name_group)] == "reason"]
        if len(values) < 2:
            return first, None
        causes = (self._q850(value) for value in values)  # each value's own REASON_SCAN
        return ", ".join(values), next((cause for cause in causes if cause is not None), None)

    def _start_line(self, line: str) -> tuple | None:
        """(sip_method, method, request_uri, status_code, reason_phrase) of the first line."""
        if self._c_start is not None and (found := self._c_start(line)) is not None:
            return found  # type: ignore[no-any-return]
        line = line.strip()
        g = self.g
        if line.startswith("SIP/"):
            m = g.status_line.regex.match(line)
            if m is None:
                return None
            groups = g.status_line.groups
            code, phrase = m.group(groups["status_code"]), m.group(groups["reason_phrase"])
            phrase = phrase.strip() if phrase else ""
            # a user's SIP_STATUS_CODE may admit more than digits: no integer then
            return (f"{code} {phrase}" if phrase else code), None, None, _int(code), phrase or None
        m = g.request_line.regex.match(line)
        if m is None:
            return None
        method = m.group(g.request_line.groups["method"])
        return method, method, m.group(g.request_line.groups["request_uri"]), None, None

    def _cseq(self, value: str | None) -> tuple[int | None, str | None, str | None]:
        """(number, method, problem) of a CSeq value; ``problem`` is None when it reads well."""
        if value is None:
            return None, None, "no CSeq header"
        found = self._cseqs.get(value)
        if found is None:
            found = self._remember(self._cseqs, value, self._read_cseq(value))
        return found

    def _read_cseq(self, value: str) -> tuple[int | None, str | None, str | None]:
        rule = self.g.cseq
        m = rule.regex.match(value)
        if m is None:
            return None, None, f"unreadable CSeq {value[:40]!r}"
        digits = m.group(rule.groups["cseq"])
        # RFC 3261 8.1.1.5: less than 2**31; a longer digit string is not even given to int()
        if len(digits.lstrip("0")) > 10 or int(digits) >= 2**31:
            return None, m.group(rule.groups["cseq_method"]), f"CSeq number {digits[:20]} out of range"
        return int(digits), m.group(rule.groups["cseq_method"]), None

    def _via(self, via: str) -> tuple[str, str | None]:
        """The topmost Via value and its branch (a transaction's messages share their Via)."""
        found = self._vias.get(via)
        if found is None:
            found = self._remember(self._vias, via, self._read_via(via))
        return found

    def _read_via(self, via: str) -> tuple[str, str | None]:
        if self._c_via is not None and (found := self._c_via(via)) is not None:
            return found  # type: ignore[no-any-return]
        top = _first_value(via)
        return top, self._search(self.g.branch, "branch", top)

    def address(self, value: str | None) -> Address:
        """A From or To header value as (display name, user, host, tag), as messages get it:
        what a database migrated from the Logstash table derives from the values it kept."""
        return self._address(value)

    def _address(self, value: str | None) -> Address:
        if value is None:
            return _NO_ADDRESS
        found = self._addresses.get(value)
        if found is None:
            found = self._remember(self._addresses, value, self._parse_address(value))
        return found

    def _parse_address(self, value: str) -> Address:
        if self._c_address is not None and (found := self._c_address(value)) is not None:
            return found
        g = self.g
        m = g.name_addr.regex.match(value)
        rule = g.name_addr
        if m is None:
            m, rule = g.addr_spec.regex.match(value), g.addr_spec
            if m is None:
                return _NO_ADDRESS
        display = _display(m.group(rule.groups["display"])) if "display" in rule.groups else None
        user, host = self._uri_parts(m.group(rule.groups["uri"]) or "")
        return display, user, host, self._search(g.tag, "tag", m.group(rule.groups["params"]))

    def _uri_parts(self, uri: str) -> tuple[str | None, str | None]:
        rule = self.g.uri
        m = rule.regex.match(uri.strip())
        if m is None:
            return None, None
        user, host = m.group(rule.groups["user"]) or None, m.group(rule.groups["host"]) or None
        # RFC 3966: a tel: URI has no host; its number, which the URI rule reads as the host,
        # is who the call is from or to, as a SIP URI's user is (HOMER's and Kamailio's $fU)
        if user is None and "scheme" in rule.groups and m.group(rule.groups["scheme"]).lower() == "tel":
            return host, None
        return user, host

    @staticmethod
    def _search(rule: Rule, group: str, text: str | None) -> str | None:
        if not text:
            return None
        m = rule.regex.search(text)
        return m.group(rule.groups[group]) if m else None


class _Canonical(dict[str, str]):
    """Header names as written -> lower-case full names (compact forms expanded), filled as met."""

    def __missing__(self, name: str) -> str:
        lower = name.lower()
        canonical = self[name] = _COMPACT.get(lower, lower)
        return canonical


def _keeps(grammar: Grammar, definitions: dict[str, str], names: tuple[str, ...]) -> bool:
    """Whether ``grammar``'s rules ``names`` compile as ``definitions`` alone make them: the
    bundled rules a C reader implements, which a user's pattern files may have redefined."""
    return _rule_patterns(grammar, names) == _standard_patterns(definitions, names)


def _rule_patterns(grammar: Any, names: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """The compiled rules ``names`` of ``grammar`` (anything with those attributes)."""
    rules = (getattr(grammar, name) for name in names)
    return tuple((rule.regex.pattern, rule.regex.flags) for rule in rules)


def _standard_patterns(definitions: dict[str, str], names: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """The rules ``names`` compiled from ``definitions`` alone, to recognise a library that keeps them."""
    if names not in _STANDARD_PATTERNS:
        library = PatternLibrary.load(bundled=False, definitions=definitions)
        _STANDARD_PATTERNS[names] = _rule_patterns(SimpleNamespace(**compile_rules(library, names)), names)
    return _STANDARD_PATTERNS[names]


def _pair_groups(rule: Rule) -> tuple[int, int]:
    return rule.groups["name"], rule.groups["value"]


def _first_value(value: str) -> str:
    """The first of a comma-separated list of header values (the topmost Via)."""
    return value.split(",", 1)[0].strip() if "," in value else value


def _display(text: str | None) -> str | None:
    if not text:
        return None
    text = text.strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
        if "\\" in text:
            text = _QUOTED_PAIR.sub(r"\1", text)
    return text or None


def _int(text: str | None) -> int | None:
    """A small decimal number (a Q.850 cause), or None for anything else, however long."""
    return int(text) if text and len(text) <= 18 and text.isascii() and text.isdigit() else None
