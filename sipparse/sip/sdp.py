"""The SDP body of a message, as the ``sdp_content`` column holds it.

Only a body typed ``application/sdp`` is SDP, directly or as a part of a multipart body
(RFC 5621, e.g. an INVITE carrying SDP plus ISUP or PIDF).  The text is kept as logged
but with its lines joined by LF: no CR, and no line end after the last line.
"""

from __future__ import annotations

import re

_BOUNDARY = re.compile(r';\s*boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))', re.I)
_PART_BLANK = re.compile(rb"\r\n\r\n|\n\r?\n")
_PART_TYPE = re.compile(rb"^content-type[ \t]*:[ \t]*([^\r\n;]*)", re.I | re.M)


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


def _from_multipart(content_type: str, body: bytes) -> str | None:
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    delimiter = b"--" + (match.group(1) or match.group(2)).encode("utf-8", "replace")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        found = _sdp_part(part)
        if found is not None:
            return found
    return None


def _sdp_part(part: bytes) -> str | None:
    # body-part = MIME-part-headers CRLF [body]; the part ends with the CRLF before "--"
    blank = _PART_BLANK.search(part)
    if blank is None:
        return None
    kind = _PART_TYPE.search(part, 0, blank.start())
    if kind is None or kind.group(1).strip().lower() != b"application/sdp":
        return None
    content = part[blank.end():]
    content = content[:-2] if content.endswith(b"\r\n") else content.removesuffix(b"\n")
    return _as_text(content)
