"""Where SIP messages begin and end inside a logged packet.

Asterisk logs what it sent or received: normally one message, but a UDP datagram may carry
trailing octets (RFC 4475 3.1.1.8) and a TCP segment may carry several messages.  Framing
follows RFC 3261 18.3: the header section ends at the first empty line, the body is
Content-Length bytes.  Logs are not wire captures, so every departure is tolerated and
described (``Frame.problems``) instead of refused: LF or bare-CR line ends, no empty line,
a missing, unreadable, too large or repeated Content-Length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# The empty line that ends the header section: CRLF CRLF, or the LF-only / bare-CR forms
# some stacks and log converters produce.
_BLANK = re.compile(rb"\r\n\r\n|\n\r?\n|\r\r")
# Content-Length = ( "Content-Length" / "l" ) HCOLON 1*DIGIT   (RFC 3261 20.14, 7.3.3)
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*)", re.I | re.M)
# A request line or a status line, enough to tell a message from trailing noise.
START_LINE = re.compile(
    rb"[!%'*+\-.0-9A-Z_`a-z~]+ +[^ \r\n]+ +SIP/\d\.\d *\r?$|SIP/\d\.\d +\d{3}(?: |\r?$)", re.M
)
# START_LINE for search, finding the same first match: where START_LINE matches right after
# a token character, it matches from that character too, further left. Without the
# look-behind a search tries every character of a run of token characters and reads the
# rest of the run from each, quadratic in its length: 40 KiB of noise took 20 s.
_START_LINE_SEARCH = re.compile(
    rb"(?<![!%'*+\-.0-9A-Z_`a-z~])[!%'*+\-.0-9A-Z_`a-z~]+ +[^ \r\n]+ +SIP/\d\.\d *\r?$"
    rb"|SIP/\d\.\d +\d{3}(?: |\r?$)", re.M
)
_LEADING_EOL = b"\r\n \t"
_LEADING_SET = frozenset((b"", b"\r", b"\n", b" ", b"\t"))


@dataclass(slots=True)
class Frame:
    """One message inside a packet: ``data[start:end]``, headers up to ``header_end``."""

    start: int
    header_end: int
    body_start: int
    end: int
    content_length: int | None
    problems: list[str] = field(default_factory=list)


def frame_packet(data: bytes, stream: bool) -> list[Frame]:
    """Split a logged packet into messages.

    :param data: the packet as logged, escapes decoded
    :param stream: True for TCP/TLS/WS (several messages may follow each other); for UDP
        octets after the first message are noise (RFC 4475 3.1.1.8) and only reported
    """
    if data[:1] not in _LEADING_SET and START_LINE.match(data):
        frame = _frame_one(data, 0)
        if frame.end >= len(data) or _skip_eol(data, frame.end) >= len(data):
            return [frame]  # the usual packet: one message, nothing around it
    frames: list[Frame] = []
    pos = _skip_eol(data, 0)
    start = _skip_noise(data, pos)
    while start < len(data):
        frame = _frame_one(data, start)
        if start > pos:
            frame.problems.insert(0, f"{start - pos} bytes before the message ignored")
        frames.append(frame)
        pos = start = _skip_eol(data, frame.end)
        if pos >= len(data):
            break
        if not (stream and START_LINE.match(data, pos)):
            frame.problems.append(f"{len(data) - pos} bytes after the message ignored")
            break
    return frames


def _skip_noise(data: bytes, pos: int) -> int:
    """Where the first start line is, when a packet dump begins with something else."""
    if START_LINE.match(data, pos):
        return pos
    found = _START_LINE_SEARCH.search(data, pos)
    return found.start() if found else pos


def _skip_eol(data: bytes, pos: int) -> int:
    while pos < len(data) and data[pos] in _LEADING_EOL:
        pos += 1
    return pos


def _blank(data: bytes, start: int) -> tuple[int, int] | None:
    """The span of the first empty line at or after ``start``, as ``_BLANK.search`` finds it.

    The CRLF CRLF of a well-formed message is found by ``bytes.find``, which is several
    times faster than the regex; it is the answer when none of the other forms starts
    before it."""
    found = data.find(b"\r\n\r\n", start)
    if found >= 0 and data.find(b"\n\n", start, found + 1) < 0 and data.find(b"\r\r", start, found + 1) < 0 \
            and data.find(b"\n\r\n", start, found + 2) < 0:
        return found, found + 4
    blank = _BLANK.search(data, start)
    return None if blank is None else blank.span()


def _frame_one(data: bytes, start: int) -> Frame:
    blank = _blank(data, start)
    if blank is None:
        frame = Frame(start, len(data), len(data), len(data), None, ["no empty line after the headers"])
        frame.content_length = _content_length(data, start, len(data), frame.problems)
        return frame
    problems: list[str] = []
    header_end, body_start = blank
    length = _content_length(data, start, header_end, problems)
    end = len(data) if length is None else body_start + length
    if end > len(data):
        problems.append(f"Content-Length {length} but {len(data) - body_start} body bytes")
        end = len(data)
    return Frame(start, header_end, body_start, end, length, problems)


# More digits than this is no body a log holds, and more than int() or a BIGINT column takes.
_MAX_DIGITS = 18


def _content_length(data: bytes, start: int, end: int, problems: list[str]) -> int | None:
    # the usual spelling, once, found without a regex scan
    usual = data.find(b"\nContent-Length:", start, end)
    if usual >= 0 and data.find(b"ength", usual + 16, end) < 0 and data.find(b"\nl", start, end) < 0:
        line_end = data.find(b"\n", usual + 16, end)
        text = data[usual + 16:line_end if line_end >= 0 else end].strip()
        if text.isdigit() and len(text) <= _MAX_DIGITS:
            return int(text)
    values = _CONTENT_LENGTH.findall(data, start, end)
    if not values:
        return None
    if len(values) > 1:
        problems.append(f"{len(values)} Content-Length headers")
    text = values[0].strip()
    if text.isdigit() and len(text) <= _MAX_DIGITS:
        return int(text)
    problems.append(f"unreadable Content-Length {text[:40].decode('utf-8', 'replace')!r}")
    return None
