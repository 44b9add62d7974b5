"""Shared helpers for the log parser tests: parse bytes, summarise messages, build logs."""

from __future__ import annotations

import io
import json
import random
import re
from datetime import UTC
from pathlib import Path

from sipparse.logs import LogParser, ParseOptions
from sipparse.sip import Reject, SipMessage, Source

DATA = Path(__file__).parent.parent / "data"
SOURCE = Source("test.log", "fp")


def parse_bytes(data: bytes, start: int = 0, batch_bytes: int = 1 << 20, **options: object):
    """Parse ``data[start:]`` as a file resumed at ``start``: (messages, rejects, skipped, last batch)."""
    options.setdefault("tz", UTC)
    options.setdefault("year", 2026)
    parser = LogParser(SOURCE, start, ParseOptions(**options))  # type: ignore[arg-type]
    messages: list[SipMessage] = []
    rejects: list[Reject] = []
    skipped = 0
    batch = None
    for batch in parser.parse(io.BytesIO(data[start:]), batch_bytes=batch_bytes):
        messages += batch.messages
        rejects += batch.rejects
        skipped += batch.skipped_lines
    assert batch is not None
    return messages, rejects, skipped, batch


def key(m: SipMessage) -> tuple:
    """Every field a resumed run must reproduce exactly."""
    return (
        m.offset, m.end, m.raw_message, m.timestamp, m.sip_method, m.call_id, m.from_sip, m.to_sip,
        m.cseq, m.cseq_method, m.via_branch, m.sdp_content, m.direction, m.transport, m.peer, m.host, m.pid,
    )


def imfile_lines(channel_file: bytes, host: str, pid: int) -> list[bytes]:
    """An Asterisk file channel as rsyslog imfile forwards it: one syslog line per line,
    CR shown as #015, empty lines dropped, Asterisk's own prefix kept inside."""
    out = []
    stamp = b"Nov 29 14:06:32"
    for line in channel_file.split(b"\n"):
        if line.startswith(b"[") and line[16:17] == b"]":
            stamp = line[1:16]
        if not line:
            continue
        text = line[:-1] + b"#015" if line.endswith(b"\r") else line
        out.append(b"%s %s asterisk[%d]: %s\n" % (stamp, host.encode(), pid, text))
    return out


def interleave(streams: list[list[bytes]], seed: int) -> bytes:
    """Merge line lists in a random order that keeps each list's own order."""
    rng = random.Random(seed)
    cursors = [0] * len(streams)
    out = []
    while True:
        live = [i for i, lines in enumerate(streams) if cursors[i] < len(lines)]
        if not live:
            return b"".join(out)
        i = rng.choice(live)
        run = rng.randint(1, 6)
        out += streams[i][cursors[i]:cursors[i] + run]
        cursors[i] += run


_FULL_ENTRY = re.compile(rb"(?m)^\[([^\]\n]+)\] ([A-Z]+)\[([0-9]+)\](?:\[(C-[0-9a-f]+)\])? ([^ \n]+): ")
CUT_AT = 8191  # Asterisk's LOGMSG_SIZE buffer, less its NUL


def asterisk_json(full_log: bytes, hostname: str = "pbx1", reorder: bool = False) -> bytes:
    """A ``full`` log written again as logger.conf's ``[json]`` formatter writes it: each entry
    one line of compact JSON (jansson: UTF-8 as it is), cut at 8191 bytes as Asterisk cuts it.
    ``reorder``: the keys in another order, as a jansson that does not keep insertion order
    writes them."""
    starts = list(_FULL_ENTRY.finditer(full_log))
    out = []
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(full_log)
        stamp, level, lwp, callid, module = m.groups()
        entry = {"hostname": hostname, "timestamp": stamp.decode(),
                 "identifiers": {"lwp": int(lwp), "callid": f"[{callid.decode()}]" if callid else ""},
                 "logmsg": {"location": {"filename": module.decode(), "function": "logging_on_rx_msg", "line": 163},
                            "level": level.decode(), "message": full_log[m.end():end].decode("utf-8")}}
        if reorder:
            entry = dict(reversed(entry.items()))
            entry["logmsg"] = dict(reversed(entry["logmsg"].items()))
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        out.append(line[:CUT_AT] + b"\n")
    return b"".join(out)


def syslog_json(json_log: bytes, host: str = "vm", pid: int = 2899) -> bytes:
    """A ``[json]`` formatter's entries as rsyslog writes them, each behind its syslog prefix:
    Asterisk's ``syslog.local0 => [json]verbose`` channel, or imfile forwarding a ``[json]``
    file channel (the time stamp is the entry's own, as the two differ by no second here)."""
    out = []
    for line in json_log.splitlines():
        stamp = json.loads(line)["timestamp"] if line.endswith(b"}") else "Nov 29 14:00:00"
        out.append(b"%s %s asterisk[%d]: %s\n" % (stamp.encode(), host.encode(), pid, line))
    return b"".join(out)
