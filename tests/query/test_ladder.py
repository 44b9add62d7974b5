"""The call flow diagram: columns, arrow directions, labels, SDP, legs."""

from __future__ import annotations

from datetime import UTC

from sipparse.query.ladder import build_hops, endpoint_order, render_ladder, top_via_sent_by, uri_hostport
from sipparse.query.render import Terminal
from sipparse.query.times import Clock, zone_by_name
from tests.query.helpers import message

CLOCK = Clock(zone=UTC)
SDP = "v=0\nc=IN IP4 10.0.0.1\nm=audio 6000 RTP/AVP 0"


def flow_without_markers() -> list[dict]:
    return [
        message(1, "INVITE", sdp=SDP, ts="2025-02-01 18:32:31.100"),
        message(2, "100 Trying", ts="2025-02-01 18:32:31.150"),
        message(3, "200 OK", ts="2025-02-01 18:32:32.600"),
        message(4, "ACK", ts="2025-02-01 18:32:32.700", cseq_method="ACK"),
        message(5, "BYE", from_tag="b", via="10.0.0.2:5060", ruri="sip:100@10.0.0.1:5060",
                cseq=2, cseq_method="BYE", ts="2025-02-01 18:33:00"),
        message(6, "200 OK", from_tag="b", cseq=2, cseq_method="BYE", ts="2025-02-01 18:33:00.010"),
    ]


def test_helpers_read_via_and_uri() -> None:
    assert top_via_sent_by(b"INVITE x SIP/2.0\r\nv: SIP/2.0/TCP [::1]:5061;branch=z\r\n\r\n") == "[::1]:5061"
    assert top_via_sent_by(b"INVITE x SIP/2.0\r\n\r\nVia: SIP/2.0/UDP 1.1.1.1") is None
    assert uri_hostport("sip:1000@192.168.29.146:5060;transport=udp") == "192.168.29.146:5060"
    assert uri_hostport("sips:example.com") == "example.com"


def test_without_markers_the_tags_tell_the_sides_apart() -> None:
    hops = build_hops(flow_without_markers(), ["c1"])
    assert endpoint_order(hops) == ["10.0.0.1:5060", "10.0.0.2:5060"]
    caller, callee = "10.0.0.1:5060", "10.0.0.2:5060"
    forth, back = (caller, callee), (callee, caller)
    assert [(h.src, h.dst) for h in hops] == [forth, back, back, forth, back, forth]
    assert hops[0].label == "INVITE SDP"
    assert hops[5].label == "200 OK (BYE)"


def test_with_markers_the_local_side_is_asterisk() -> None:
    rows = [
        message(1, "INVITE", direction="in", peer="10.0.0.5:5060"),
        message(2, "100 Trying", direction="out", peer="10.0.0.5:5060"),
        message(3, "INVITE", call_id="c2", direction="out", peer="10.0.0.9:5060", from_tag="x"),
        message(4, "486 Busy Here", call_id="c2", direction="in", peer="10.0.0.9:5060", from_tag="x"),
        message(5, "486 Busy Here", direction="out", peer="10.0.0.5:5060"),
        message(6, "486 Busy Here", direction="out", peer="10.0.0.5:5060"),
    ]
    rows[5]["via_branch"] = rows[4]["via_branch"]
    hops = build_hops(rows, ["c1", "c2"])
    assert endpoint_order(hops) == ["10.0.0.5:5060", "Asterisk", "10.0.0.9:5060"]
    assert hops[3].src == "10.0.0.9:5060" and hops[3].dst == "Asterisk"
    assert hops[2].label == "[2] INVITE"
    assert hops[5].label == "[1] 486 Busy Here (retransmission)"


def test_the_ringing_of_two_forks_is_not_a_retransmission() -> None:
    rows = [message(1, "INVITE", direction="out", peer="10.0.0.9:5060")]
    for n, fork in ((2, "fork-1"), (3, "fork-2"), (4, "fork-2")):
        rows.append({**message(n, "180 Ringing", direction="in", peer="10.0.0.9:5060"), "to_tag": fork})
        rows[-1]["via_branch"] = rows[0]["via_branch"]
    hops = build_hops(rows, ["c1"])
    assert [h.label for h in hops[1:]] == ["180 Ringing", "180 Ringing", "180 Ringing (retransmission)"]


def test_rendered_diagram_has_arrows_times_deltas_and_media() -> None:
    out = render_ladder(flow_without_markers(), ["c1"], CLOCK, Terminal())
    lines = out.splitlines()
    assert lines[0] == "Call-ID c1  2025-02-01 (UTC)"
    invite = next(i for i, line in enumerate(lines) if "INVITE SDP" in line)
    assert lines[invite].startswith("18:32:31.100")
    assert "|---" in lines[invite + 1] and lines[invite + 1].rstrip().endswith(">|")
    assert "audio 10.0.0.1:6000 PCMU/8000" in lines[invite + 2]
    ok = next(i for i, line in enumerate(lines) if "200 OK" in line and "BYE" not in line)
    assert lines[ok + 1].startswith("+1.450s") and "|<---" in lines[ok + 1]
    assert out.isascii()


def test_a_log_stamped_to_the_second_shows_whole_seconds() -> None:
    rows = [{**row, "timestamp": row["timestamp"][:19]} for row in flow_without_markers()]
    lines = render_ladder(rows, ["c1"], CLOCK, Terminal()).splitlines()
    ok = next(i for i, line in enumerate(lines) if "200 OK" in line and "BYE" not in line)
    assert lines[ok].startswith("18:32:32 ") and lines[ok + 1].startswith("+1s ")
    assert not any(".000" in line for line in lines)


def test_diagram_fits_a_narrow_terminal() -> None:
    rows = flow_without_markers()
    rows[0]["sdp_content"] = SDP.replace("6000 RTP/AVP 0", "6000 RTP/AVP 0 8 9 18 3 4 101")
    out = render_ladder(rows, ["c1"], CLOCK, Terminal(width=50, fancy=True))
    assert all(len(line) <= 50 for line in out.splitlines())
    assert "▶" in out and "◀" in out and "│" in out


def test_several_hosts_name_each_asterisk() -> None:
    rows = [
        message(1, "INVITE", direction="in", peer="10.0.0.5:5060", host="pbx-a"),
        message(2, "INVITE", direction="out", peer="10.0.0.9:5060", host="pbx-b"),
    ]
    assert endpoint_order(build_hops(rows, ["c1"])) == ["10.0.0.5:5060", "Asterisk pbx-a", "Asterisk pbx-b",
                                                        "10.0.0.9:5060"]


def test_the_stored_via_column_names_the_caller() -> None:
    rows = flow_without_markers()
    rows[0]["via"] = "SIP/2.0/TLS pbx.example.net:5061;branch=z9hG4bK1;rport"
    assert endpoint_order(build_hops(rows, ["c1"]))[0] == "pbx.example.net:5061"


def test_hostile_values_reach_the_ladder_as_escapes() -> None:
    evil = "c\x1b]0;pwned\x07\u202e"
    rows = [dict(m, call_id=evil, peer="10.0.0.9\x1b[2J:5060", direction="in", sip_method=m["sip_method"] + "\x08")
            for m in flow_without_markers()]
    out = render_ladder(rows, [evil], CLOCK, Terminal(width=120, fancy=True))
    assert not any(ch in out for ch in "\x1b\x07\x08\u202e")
    assert "Call-ID c\\x1b]0;pwned\\x07\\u202e" in out and "10.0.0.9\\x1b[2J:5060" in out


def test_a_call_past_midnight_says_when_the_day_changes() -> None:
    """The title gives the day the call began; a message of a later day (in the zone shown)
    is preceded by its date, or 00:00:09 would read as before the 23:59:58 above it."""
    rows = [
        message(1, "INVITE", ts="2025-12-31 23:59:58"),
        message(2, "200 OK", ts="2025-12-31 23:59:59"),
        message(3, "ACK", ts="2026-01-01 00:00:00", cseq_method="ACK"),
        message(4, "BYE", cseq=2, cseq_method="BYE", ts="2026-01-01 00:00:09"),
    ]
    lines = render_ladder(rows, ["c1"], CLOCK, Terminal()).splitlines()
    assert lines[0].endswith("2025-12-31 (UTC)")
    marks = [n for n, line in enumerate(lines) if line.startswith("2026-01-01")]
    assert len(marks) == 1 and lines[marks[0] + 1].startswith("00:00:00") and "ACK" in lines[marks[0] + 1]
    assert not any(line.startswith("2025-12-31") for line in lines)
    # seen from Berlin, where it is an hour later, the whole call lies in the new year
    berlin = render_ladder(rows, ["c1"], Clock(zone=zone_by_name("Europe/Berlin")), Terminal()).splitlines()
    assert "2026-01-01" in berlin[0] and not any(line.startswith("2026-01-01") for line in berlin)
