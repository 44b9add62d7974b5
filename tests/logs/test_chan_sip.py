"""chan_sip's packet dumps (``sip set debug on``): no packet logger output, so not read, but
said. Posts for help hold them as often as res_pjsip's, and a ``full`` log of a system that
runs both channel drivers has them between the packet logger's entries."""

from __future__ import annotations

from pathlib import Path

from sipparse.logs.full import CHAN_SIP_REASON
from tests.ingest.helpers import ingest
from tests.logs.helpers import parse_bytes

CRLF = b"\r\n"
OPTIONS = CRLF.join([b"OPTIONS sip:100@192.0.2.1 SIP/2.0", b"Via: SIP/2.0/UDP 192.0.2.50:5060;branch=z9hG4bK-cs",
                     b"From: <sip:mon@192.0.2.50>;tag=cs1", b"To: <sip:100@192.0.2.1>", b"Call-ID: chan-sip-1",
                     b"CSeq: 102 OPTIONS", b"Content-Length: 0"]) + CRLF + CRLF
PJSIP = CRLF.join([b"OPTIONS sip:200@192.0.2.1 SIP/2.0", b"Via: SIP/2.0/UDP 192.0.2.51:5060;branch=z9hG4bK-pj",
                   b"From: <sip:mon@192.0.2.51>;tag=pj1", b"To: <sip:200@192.0.2.1>", b"Call-ID: pjsip-1",
                   b"CSeq: 7 OPTIONS", b"Content-Length: 0"]) + CRLF + CRLF


def _chan_sip_entries(stamp: bytes) -> bytes:
    """A packet read and a response sent, as chan_sip logs them to the full file."""
    prefix = b"[Dec  3 11:40:%s] VERBOSE[2210][C-00000009] chan_sip.c: \n" % stamp
    return (prefix + b"<--- SIP read from UDP:192.0.2.50:5060 --->\n" + OPTIONS + b"<------------->\n"
            + b"[Dec  3 11:40:%s] VERBOSE[2210][C-00000009] chan_sip.c: --- (7 headers 0 lines) ---\n" % stamp
            + prefix + b"<--- Reliably Transmitting (NAT) to 192.0.2.50:5060 --->\n"
            + OPTIONS.replace(b"OPTIONS sip:100@192.0.2.1 SIP/2.0", b"SIP/2.0 200 OK") + b"<------------>\n")


def test_chan_sip_dumps_in_a_full_log_are_rejects_that_say_what_they_are(reader: str) -> None:
    pjsip = (b"[Dec  3 11:40:02] VERBOSE[2211] res_pjsip_logger.c: <--- Received SIP request (%d bytes) "
             b"from UDP:192.0.2.51:5060 --->\n" % len(PJSIP)) + PJSIP + b"\n"
    data = _chan_sip_entries(b"01") + pjsip + _chan_sip_entries(b"03")
    messages, rejects, skipped, _ = parse_bytes(data)
    assert [m.call_id for m in messages] == ["pjsip-1"]
    assert [r.reason for r in rejects] == [CHAN_SIP_REASON] * 4
    assert all(b"chan-sip-1" in r.raw for r in rejects)
    assert skipped == 2  # the "--- (7 headers 0 lines) ---" lines


def test_a_console_capture_of_chan_sip_is_named_as_such(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / "sip-debug.txt"
    log.write_bytes(b"pbx*CLI> sip set debug on\nSIP Debugging enabled\n\n"
                    + (b"<--- SIP read from UDP:192.0.2.50:5060 --->\n" + OPTIONS + b"<------------->\n") * 4)
    result = ingest(sqlite_url, str(log))
    assert result.exit_code == 0
    assert "not read: no known log format" in result.stderr
    assert "chan_sip's packet dumps (sip set debug on)" in result.stderr
