"""rsyslog's control-character escapes.

rsyslog (``$EscapeControlCharactersOnReceive``, on by default) writes every control
character of a message as ``#`` and three octal digits: CR as ``#015``, LF as ``#012``,
TAB as ``#011``; with ``$Escape8BitCharactersOnReceive`` bytes above 127 too.  Only those
values are decoded: rsyslog never escapes a printable character, so ``#100`` in a logged
SIP line is text, not ``@``.
"""

from __future__ import annotations

import re

_ESCAPE = re.compile(rb"#(0[0-3][0-7]|177|[23][0-7][0-7])")
_BYTES = {b"#%03o" % n: bytes([n]) for n in (*range(32), *range(127, 256))}


def decode_escapes(data: bytes) -> bytes:
    """Return ``data`` with rsyslog's ``#NNN`` escapes of control and 8-bit bytes decoded."""
    if b"#" not in data:
        return data
    # Escapes cannot overlap (a "#" is never one of the three digits) and decoding makes no
    # new "#", so the two common ones can go first with plain replaces.
    data = data.replace(b"#015", b"\r").replace(b"#012", b"\n")
    if b"#" not in data:
        return data
    return _ESCAPE.sub(_replace, data)


def decoded_length(data: bytes) -> int:
    """The length of ``data`` once its escapes are decoded: each ``#NNN`` is one byte (a line
    of a body counts what the message held, not what rsyslog wrote)."""
    if b"#" not in data:
        return len(data)
    return len(data) - 3 * len(_ESCAPE.findall(data))


def _replace(match: re.Match[bytes]) -> bytes:
    return _BYTES[match.group()]
