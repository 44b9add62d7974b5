"""The call flow as a sequence diagram in the terminal, like sngrep's call flow.

One column per endpoint, one arrow per message (method or status, time, delta since the
previous message), and the SDP media under the messages that carry it. Where each message
went comes from the log when it says so: the ``<--- Received / Transmitting --->`` marker
gives the direction and the peer, and the local side is "Asterisk". Logs without markers
only hold the message, so the two sides of a dialog are told apart by its tags (RFC 3261
12: a request carries its sender's tag in From; a response carries the From of the request
it answers): the caller column is named after the first request's top Via sent-by, the
callee column after its Request-URI host.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sipparse.query.calls import setup_text
from sipparse.query.media import media_summary
from sipparse.query.render import Terminal, cut, visible
from sipparse.query.times import Clock, as_datetime, has_fraction

LOCAL = "Asterisk"
TIME_WIDTH = 13  # "HH:MM:SS.mmm "
MIN_SPACING, MAX_SPACING = 12, 44
_VIA = re.compile(
    r"^(?:via|v)[ \t]*:[ \t]*SIP[ \t]*/[ \t]*2\.0[ \t]*/[ \t]*\S+[ \t]+([^;,\s]+)",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass
class Hop:
    """One arrow of the diagram."""

    message: dict[str, Any]
    src: str
    dst: str
    label: str
    media: list[str] = field(default_factory=list)
    moment: datetime | None = None


def top_via_sent_by(raw: bytes | bytearray | None) -> str | None:
    """The sent-by (host[:port]) of the first Via header of a raw message."""
    if not raw:
        return None
    head = bytes(raw).split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    match = _VIA.search(head)
    return match.group(1) if match else None


def _via_sent_by(value: str | None) -> str | None:
    """The sent-by of a stored topmost Via value (``SIP/2.0/UDP host:port;branch=...``)."""
    parts = (value or "").split(None, 1)
    return re.split(r"[;,\s]", parts[1].strip(), maxsplit=1)[0] or None if len(parts) == 2 else None


def uri_hostport(uri: str | None) -> str | None:
    """``sip:1000@10.0.0.5:5060;transport=udp`` -> ``10.0.0.5:5060``."""
    if not uri:
        return None
    rest = uri.split(":", 1)[1] if ":" in uri.split("@")[0] else uri
    rest = rest.split("@", 1)[-1]
    return re.split(r"[;?>]", rest, maxsplit=1)[0] or None


class _Dialog:
    """The two sides of one Call-ID, for messages whose log does not say where they went."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        first = next((m for m in messages if m.get("method")), messages[0])
        self.caller_tag = first.get("from_tag")
        via = _via_sent_by(first.get("via")) or top_via_sent_by(first.get("raw_message"))
        self.caller = via or first.get("from_host") or "caller"
        self.callee = uri_hostport(first.get("request_uri")) or first.get("to_host") or "callee"
        if self.callee == self.caller:
            self.callee += " (callee)"

    def ends(self, message: dict[str, Any]) -> tuple[str, str]:
        from_caller = self.caller_tag is None or message.get("from_tag") in (None, self.caller_tag)
        if message.get("method"):
            return (self.caller, self.callee) if from_caller else (self.callee, self.caller)
        return (self.callee, self.caller) if from_caller else (self.caller, self.callee)


def build_hops(messages: Sequence[dict[str, Any]], call_ids: Sequence[str]) -> list[Hop]:
    """The arrows, in the order of ``messages`` (time order), each labelled with its leg."""
    legs = {cid: n for n, cid in enumerate(call_ids, start=1)}
    dialogs = {
        cid: _Dialog([m for m in messages if m.get("call_id") == cid])
        for cid in call_ids
        if any(m.get("call_id") == cid for m in messages)
    }
    local = _local_names(messages)
    seen: set[tuple[Any, ...]] = set()
    hops = []
    for message in messages:
        src, dst = _ends(message, dialogs, local)
        label = _label(message, legs if len(call_ids) > 1 else {}, seen, src, dst)
        media = media_summary(message.get("sdp_content")) if message.get("sdp_content") else []
        hops.append(Hop(message, visible(src), visible(dst), visible(label), [visible(m) for m in media],
                        as_datetime(message.get("timestamp"))))
    return hops


def _local_names(messages: Sequence[dict[str, Any]]) -> dict[str | None, str]:
    """ "Asterisk", or "Asterisk <host>" per host when the call crossed several Asterisk hosts."""
    hosts = {m.get("host") for m in messages if m.get("direction") in ("in", "out")}
    if len(hosts) <= 1:
        return {h: LOCAL for h in hosts}
    return {h: f"{LOCAL} {h}" if h else LOCAL for h in hosts}


def _ends(
    message: dict[str, Any], dialogs: dict[str, _Dialog], local: dict[str | None, str]
) -> tuple[str, str]:
    direction = message.get("direction")
    if direction in ("in", "out"):
        me = local.get(message.get("host"), LOCAL)
        peer = message.get("peer") or "?"
        return (peer, me) if direction == "in" else (me, peer)
    dialog = dialogs.get(message.get("call_id") or "")
    return dialog.ends(message) if dialog else ("?", "?")


def _label(
    message: dict[str, Any], legs: dict[str, int], seen: set[tuple[Any, ...]], src: str, dst: str
) -> str:
    text = str(message.get("sip_method") or "?")
    if not message.get("method") and message.get("cseq_method") and message.get("cseq_method") != "INVITE":
        text += f" ({message['cseq_method']})"
    if message.get("sdp_content"):
        text += " SDP"
    # The To tag is in the key as in the call summary's count: the 180s of two forks of one
    # INVITE share its branch, but are two answers, not one sent twice.
    key = (
        message.get("call_id"),
        message.get("sip_method"),
        message.get("cseq"),
        message.get("cseq_method"),
        message.get("via_branch"),
        message.get("to_tag"),
        src,
        dst,
    )
    if key in seen:
        text += " (retransmission)"
    seen.add(key)
    if legs:
        text = f"[{legs.get(message.get('call_id') or '', '?')}] {text}"
    return text


def endpoint_order(hops: Sequence[Hop]) -> list[str]:
    """Columns in order of first appearance, as sngrep lays them out."""
    order: list[str] = []
    for hop in hops:
        for name in (hop.src, hop.dst):
            if name not in order:
                order.append(name)
    return order


class _Canvas:
    """One line of the diagram: characters placed at columns, some of them coloured."""

    def __init__(self, width: int) -> None:
        self.chars = [" "] * width
        self.spans: list[tuple[int, int, str]] = []

    def put(self, x: int, text: str, style: str | None = None) -> None:
        text = text[: max(0, len(self.chars) - x)]
        self.chars[x : x + len(text)] = list(text)
        if style and text:
            self.spans.append((x, x + len(text), style))

    def render(self, term: Terminal) -> str:
        line = "".join(self.chars)
        for start, end, style in sorted(self.spans, reverse=True):
            line = line[:start] + term.paint(line[start:end], style) + line[end:]
        return line.rstrip()


@dataclass
class _Layout:
    positions: list[int]
    width: int
    spacing: int


def _layout(names: list[str], hops: Sequence[Hop], term: Terminal) -> _Layout:
    """Where each column goes: wide enough for labels, narrow enough for the terminal."""
    index = {name: i for i, name in enumerate(names)}
    need = max([len(n) + 2 for n in names] + [MIN_SPACING])
    for hop in hops:
        gaps = max(1, abs(index[hop.dst] - index[hop.src]))
        need = max(need, math.ceil((len(hop.label) + 4) / gaps))
    spacing = min(need, MAX_SPACING)
    if term.width is not None and len(names) > 1:
        room = term.width - TIME_WIDTH - spacing // 2 - 2
        spacing = max(MIN_SPACING // 2, min(spacing, room // (len(names) - 1) if room > 0 else spacing))
    first = TIME_WIDTH + spacing // 2
    positions = [first + i * spacing for i in range(len(names))]
    return _Layout(positions, positions[-1] + spacing // 2 + 1, spacing)


def render_ladder(
    messages: Sequence[dict[str, Any]], call_ids: Sequence[str], clock: Clock, term: Terminal,
    delays: Mapping[str, Any] | None = None,
) -> str:
    """The whole diagram as text (legs of several Call-IDs interleaved by time); ``delays``:
    the post-dial delay of each call that has one, named in the title."""
    hops = build_hops(messages, call_ids)
    if not hops:
        return ""
    names = endpoint_order(hops)
    layout = _layout(names, hops, term)
    # A log stamped to the second (Asterisk's default dateformat) says nothing finer: its
    # times and gaps are shown in whole seconds, as the message table shows them, not as
    # "+0.000s" that reads like an instant answer.
    digits = 3 if has_fraction(h.moment for h in hops) else 0
    lines = _title(call_ids, hops, clock, delays or {}, digits > 0) + _header(names, layout, term)
    previous: datetime | None = None
    day = _first_day(hops, clock)
    for hop in hops:
        # the title gives the first day; a call past midnight says when the next one begins,
        # or 00:00:09 would read as before the 23:59:58 above it
        if hop.moment is not None and (today := clock.to_display(hop.moment).date()) != day:
            day = today
            lines.append(_day_line(today, layout, term))
        lines += _hop_lines(hop, names, layout, term, clock, previous, digits)
        previous = hop.moment or previous
    lines.append(_bars(layout, term).render(term))
    return "\n".join(lines)


def _first_day(hops: Sequence[Hop], clock: Clock) -> date | None:
    """The day, in the zone shown, of the first message with a time stamp."""
    start = next((h.moment for h in hops if h.moment), None)
    return clock.to_display(start).date() if start else None


def _day_line(day: date, layout: _Layout, term: Terminal) -> str:
    """The date in the time column, where a new day begins."""
    canvas = _bars(layout, term)
    canvas.put(0, day.isoformat(), "bold")
    return canvas.render(term)


def _title(call_ids: Sequence[str], hops: Sequence[Hop], clock: Clock, delays: Mapping[str, Any],
           fine: bool) -> list[str]:
    day = _first_day(hops, clock)
    title = [f"{day.isoformat() if day else '?'} ({clock.label})"]

    def delay(call_id: str) -> str:
        return f"  PDD {setup_text(delays[call_id], fine)}" if delays.get(call_id) is not None else ""

    if len(call_ids) == 1:
        title[0] = f"Call-ID {visible(call_ids[0])}  {title[0]}{delay(call_ids[0])}"
    else:
        title += [f"[{n}] Call-ID {visible(cid)}{delay(cid)}" for n, cid in enumerate(call_ids, start=1)]
    return title + [""]


def _bars(layout: _Layout, term: Terminal) -> _Canvas:
    canvas = _Canvas(layout.width)
    for x in layout.positions:
        canvas.put(x, "│" if term.fancy else "|")
    return canvas


def _header(names: list[str], layout: _Layout, term: Terminal) -> list[str]:
    canvas = _Canvas(layout.width)
    for name, x in zip(names, layout.positions, strict=True):
        shown = cut(name, layout.spacing - 1, term.ellipsis)
        canvas.put(max(0, x - len(shown) // 2), shown, "bold")
    return [canvas.render(term), _bars(layout, term).render(term)]


def _hop_lines(
    hop: Hop, names: list[str], layout: _Layout, term: Terminal, clock: Clock, previous: datetime | None,
    digits: int = 3,
) -> list[str]:
    a, b = layout.positions[names.index(hop.src)], layout.positions[names.index(hop.dst)]
    left, right = min(a, b), max(a, b)
    style = _style(hop.message)
    label_line = _bars(layout, term)
    room = max(1, right - left - 3) if right > left else layout.spacing - 2
    label = cut(hop.label, room, term.ellipsis)
    label_x = (left + right - len(label)) // 2 + 1 if right > left else left + 2
    label_line.put(0, _clock_text(hop.moment, clock, digits))
    label_line.put(label_x, label, style)
    arrow_line = _bars(layout, term)
    arrow_line.put(0, _delta_text(hop.moment, previous, digits))
    arrow_line.put(left + 1, _arrow(right - left - 1, a > b, term) if right > left else _loop(term), style)
    return [label_line.render(term), arrow_line.render(term)] + _media_lines(hop, left, layout, term)


def _arrow(length: int, leftward: bool, term: Terminal) -> str:
    body, head_r, head_l = ("─", "▶", "◀") if term.fancy else ("-", ">", "<")
    length = max(1, length)
    return head_l + body * (length - 1) if leftward else body * (length - 1) + head_r


def _loop(term: Terminal) -> str:
    return "──┐" if term.fancy else "--+"


def _media_lines(hop: Hop, left: int, layout: _Layout, term: Terminal) -> list[str]:
    lines = []
    for text in hop.media:
        canvas = _bars(layout, term)
        shown = text if term.width is None else cut(text, max(8, term.width - left - 3), term.ellipsis)
        canvas.chars.extend([" "] * max(0, left + 3 + len(shown) - layout.width))
        canvas.put(left + 3, shown, "dim")
        lines.append(canvas.render(term))
    return lines


def _style(message: dict[str, Any]) -> str | None:
    code = message.get("status_code")
    if code is None:
        return None
    if code >= 400:
        return "red"
    return "yellow" if code >= 300 else ("green" if code >= 200 else "dim")


def _clock_text(moment: datetime | None, clock: Clock, digits: int = 3) -> str:
    if moment is None:
        return "?"
    shown = clock.to_display(moment)
    return shown.strftime("%H:%M:%S") + (f".{shown.microsecond // 1000:03d}" if digits else "")


def _delta_text(moment: datetime | None, previous: datetime | None, digits: int = 3) -> str:
    if moment is None or previous is None:
        return ""
    return f"+{(moment - previous).total_seconds():.{digits}f}s"
