"""Message rows as ``Store.fetchall`` returns them, for tests of pure rendering code."""

from __future__ import annotations

from typing import Any


def message(
    n: int,
    first: str,
    *,
    call_id: str = "c1",
    ts: str = "2025-02-01 18:32:31",
    from_tag: str | None = "a",
    direction: str | None = None,
    peer: str | None = None,
    via: str = "10.0.0.1:5060",
    ruri: str | None = "sip:200@10.0.0.2:5060",
    cseq: int = 1,
    cseq_method: str = "INVITE",
    sdp: str | None = None,
    host: str | None = None,
) -> dict[str, Any]:
    """One row; ``first`` is the request method or "200 OK"."""
    is_response = first[0].isdigit()
    line = f"SIP/2.0 {first}" if is_response else f"{first} {ruri} SIP/2.0"
    raw = f"{line}\r\nVia: SIP/2.0/UDP {via};branch=z9hG4bK{n}\r\nCall-ID: {call_id}\r\n\r\n{sdp or ''}"
    return {
        "id": n, "call_id": call_id, "sip_method": first,
        "method": None if is_response else first,
        "status_code": int(first.split()[0]) if is_response else None,
        "request_uri": None if is_response else ruri,
        "from_tag": from_tag, "from_host": "10.0.0.1", "to_host": "10.0.0.2",
        "cseq": cseq, "cseq_method": cseq_method, "via_branch": f"z9hG4bK{n}",
        "sdp_content": sdp, "timestamp": ts, "direction": direction, "peer": peer,
        "transport": "UDP" if peer else None, "host": host, "raw_message": raw.encode(),
    }
