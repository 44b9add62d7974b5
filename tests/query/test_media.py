"""SDP media summaries for the ladder."""

from __future__ import annotations

from sipparse.query.media import media_summary

HOLD = "\n".join([
    "v=0", "o=- 1 2 IN IP4 10.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "t=0 0",
    "m=audio 6000 RTP/AVP 8 0 101", "a=rtpmap:101 telephone-event/8000", "a=sendonly",
    "m=video 5002 RTP/AVP 96", "c=IN IP4 10.0.0.2", "a=rtpmap:96 H264/90000",
])


def test_codecs_addresses_and_direction() -> None:
    assert media_summary(HOLD) == [
        "audio 10.0.0.1:6000 PCMA/8000,PCMU/8000,telephone-event/8000 sendonly",
        "video 10.0.0.2:5002 H264/90000",
    ]


def test_session_level_direction_applies_to_every_medium() -> None:
    sdp = "v=0\nc=IN IP4 1.2.3.4\na=inactive\nm=audio 4000 RTP/AVP 0"
    assert media_summary(sdp) == ["audio 1.2.3.4:4000 PCMU/8000 inactive"]


def test_an_ipv6_address_is_bracketed_before_its_port() -> None:
    sdp = "v=0\nc=IN IP6 2001:db8::1\nm=audio 4000 RTP/AVP 8\nm=video 5000 RTP/AVP 96\nc=IN IP4 10.9.9.9\n"
    assert media_summary(sdp) == ["audio [2001:db8::1]:4000 PCMA/8000", "video 10.9.9.9:5000 96"]


def test_nothing_to_summarise() -> None:
    assert media_summary(None) == []
    assert media_summary("v=0\ns=-") == []
    assert media_summary("m=audio") == ["audio port ?"]
