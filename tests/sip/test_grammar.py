"""The SIP grammar compiled from ``grok_patterns/sip``, and from a user's redefinitions."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipparse.grok import GrokError, PatternLibrary
from sipparse.sip import SipMessage, Source
from sipparse.sip.framing import frame_packet
from sipparse.sip.grammar import Grammar
from sipparse.sip.parser import Envelope, MessageParser

INVITE = b"INVITE sip:bob@example.com SIP/2.0\r\nCall-ID: a@b\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"


def grammar_with(tmp_path: Path, text: str) -> Grammar:
    (tmp_path / "mine").write_text(text)
    return Grammar.from_library(PatternLibrary.load(extra_dirs=[tmp_path]))


def test_a_redefinition_without_a_capture_the_parser_reads_is_refused_by_name(tmp_path: Path) -> None:
    """A SIP_REQUEST_LINE capturing ``meth`` for ``method`` failed on the first message as
    'unexpected KeyError: method'."""
    with pytest.raises(GrokError, match=r"^pattern %\{SIP_REQUEST_LINE\} at .*mine:1 must capture method for the "
                                        r"SIP parser \(it captures: meth, request_uri\)$"):
        grammar_with(tmp_path, r"SIP_REQUEST_LINE (?<meth>[A-Z]+) (?<request_uri>[^ ]+) SIP/2\.0" "\n")


def test_a_redefinition_in_syntax_only_the_regex_module_has_is_used(tmp_path: Path) -> None:
    """``\\p{Lu}`` made stdlib ``re`` fail: 'unexpected error: bad escape \\p'."""
    grammar = grammar_with(tmp_path, r"SIP_REQUEST_LINE (?<method>\p{Lu}+) +(?<request_uri>[^ \r\n]+) +"
                                     "%{SIP_VERSION:version} *\n")
    frame = frame_packet(INVITE, False)[0]
    message = MessageParser(grammar).build(INVITE, frame, Envelope(Source("t", "f"), 0, len(INVITE), None), [])
    assert isinstance(message, SipMessage) and (message.sip_method, message.call_id) == ("INVITE", "a@b")
