"""RFC 4475 torture messages (and other stacks' test messages) logged as Asterisk would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.logs.helpers import parse_bytes

SENTINEL = ("OPTIONS sip:probe@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-{n}\r\n"
            "From: <sip:probe@127.0.0.1>;tag={n}\r\nTo: <sip:probe@127.0.0.1>\r\n"
            "Call-ID: sentinel-{n}@test\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n")


def _full(message: bytes, stamp: str) -> bytes:
    kind = b"response" if message.startswith(b"SIP/") else b"request"
    marker = b"<--- Received SIP %s (%d bytes) from UDP:127.0.0.1:5070 --->" % (kind, len(message))
    return b"[%s] VERBOSE[4242] res_pjsip_logger.c: %s\n%s\n" % (stamp.encode(), marker, message)


def _syslog(message: bytes, stamp: str) -> bytes:
    lines = message.replace(b"\r\n", b"\n").split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    prefix = b"%s pbx1 asterisk[4242]: " % stamp.encode()
    return b"".join(prefix + (line or b"#015") + b"\n" for line in lines) + b"\n"


def _entries(shared_dir: Path) -> list[tuple[dict, bytes]]:
    corpus = shared_dir / "conformance" / "torture"
    if not corpus.is_dir():
        pytest.skip(f"no torture corpus at {corpus}")
    entries = []
    for sub in ("rfc4475", "other"):
        for entry in json.loads((corpus / sub / "index.json").read_text()):
            entries.append((entry, (corpus / entry["file"]).read_bytes()))
    return entries


@pytest.mark.parametrize("dialect", ["full", "syslog"])
def test_torture_corpus(shared_dir: Path, dialect: str) -> None:
    log_as = _full if dialect == "full" else _syslog
    failures = []
    for n, (entry, message) in enumerate(_entries(shared_dir)):
        data = (log_as(SENTINEL.format(n=f"pre{n}").encode(), "Nov 29 12:00:00")
                + log_as(message, "Nov 29 12:00:01")
                + log_as(SENTINEL.format(n=n).encode(), "Nov 29 12:00:02"))
        messages, rejects, _, batch = parse_bytes(data)
        call_ids = [m.call_id for m in messages]
        if f"sentinel-pre{n}@test" not in call_ids or f"sentinel-{n}@test" not in call_ids:
            failures.append((entry["name"], "sentinel lost", call_ids))
        if batch.checkpoint != len(data):
            failures.append((entry["name"], "checkpoint held back", batch.checkpoint))
        if entry["valid"] and not any(_fits(m, entry) for m in messages):
            failures.append((entry["name"], "fields", [(m.call_id, m.sip_method, m.cseq) for m in messages]))
        for r in rejects:
            assert r.reason and r.raw, entry["name"]
    assert failures == []


def _fits(m, entry: dict) -> bool:
    if m.call_id != entry["call_id"]:
        return False
    if entry["kind"] == "request" and m.method != entry["method"]:
        return False
    if entry["kind"] == "response" and m.status_code != entry["status"]:
        return False
    want = (entry.get("cseq") or {}).get("seq")
    return want is None or m.cseq == want


def test_dblreq_trailing_invite_is_not_a_message(shared_dir: Path) -> None:
    message = dict((e["name"], raw) for e, raw in _entries(shared_dir))["dblreq"]
    # the last entry of a log still growing would wait: bytes follow its last message's body
    messages, rejects, _, _ = parse_bytes(_full(message, "Nov 29 12:00:01"), final=True)
    assert [m.method for m in messages] == ["REGISTER"] and rejects == []
    assert any("after the message ignored" in p for p in messages[0].problems)
