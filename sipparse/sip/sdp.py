"""The SDP body of a message, as the ``sdp_content`` column holds it.

Only a body typed ``application/sdp`` is SDP, directly or as a part of a multipart body
(RFC 5621, e.g. an INVITE carrying SDP plus ISUP or PIDF).  The text is kept as logged
but with its lines joined by LF: no CR, and no line end after the last line.
"""

from __future__ import annotations

import functools
import re

_BOUNDARY = re.compile(r';\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.I)
_PART_BLANK = re.compile(rb"\r\n\r\n|\n\r?\n")
# a part's Content-Type, also in the compact form a SIP stack may write there too (Wireshark reads it)
_PART_TYPE = re.compile(rb"^(?:content-type|c)[ \t]*:[ \t]*([^\r\n]*)", re.I | re.M)
MAX_NESTING = 4  # multipart parts inside multipart parts looked into for the SDP


def sdp_text(content_type: str | None, body: bytes) -> str | None:
    """Return the SDP carried by a body of type ``content_type``, or ``None``."""
    if not content_type or not body:
        return None
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "application/sdp":
        return _as_text(body)
    if kind.startswith("multipart/"):
        return _from_multipart(content_type, body)
    return None


def _as_text(body: bytes) -> str | None:
    text = body.decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text.rstrip("\n") or None


def _from_multipart(content_type: str, body: bytes, depth: int = 0) -> str | None:
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    for part in _parts(body, (match.group(1) or match.group(2)).encode("utf-8", "replace")):
        found = _sdp_part(part, depth)
        if found is not None:
            return found
    return None


def _parts(body: bytes, boundary: bytes) -> list[bytes]:
    """The body parts between the delimiter lines of ``boundary`` (RFC 2046 5.1.1): a line
    of "--" and the boundary, "--" after it on the last, padding blanks allowed. A part's
    content ends before the line end that precedes the next delimiter, so "--b" inside a
    line, or a line "--b2", is content, not a delimiter of "b"."""
    delimiters = list(_delimiter(boundary).finditer(body))
    parts = []
    for here, after in zip(delimiters, [*delimiters[1:], None], strict=False):
        if here.group(1):  # the close delimiter: what follows is the epilogue
            break
        # a body cut short (a log's Content-Length, a truncated dump) keeps its last part
        parts.append(body[here.end():after.start() if after is not None else len(body)])
    return parts


@functools.lru_cache(maxsize=64)
def _delimiter(boundary: bytes) -> re.Pattern[bytes]:
    return re.compile(rb"(?:\A|\r?\n)--" + re.escape(boundary) + rb"(--)?[ \t]*(?=\r?\n|\Z)")


def _sdp_part(part: bytes, depth: int) -> str | None:
    # body-part = MIME-part-headers CRLF [body]
    blank = _PART_BLANK.search(part)
    if blank is None:
        return None
    kind = _PART_TYPE.search(part, 0, blank.start())
    if kind is None:
        return None
    value = kind.group(1).decode("utf-8", "replace")
    media = value.split(";", 1)[0].strip().lower()
    if media == "application/sdp":
        return _as_text(part[blank.end():])
    # RFC 5621 3.1: a part may be multipart itself (the SDP among alternatives)
    if media.startswith("multipart/") and depth < MAX_NESTING:
        return _from_multipart(value, part[blank.end():], depth + 1)
    return None
