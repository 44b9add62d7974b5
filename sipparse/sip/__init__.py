"""SIP messages: the record model, request/status line, headers, SDP."""

from sipparse.sip.message import Reject, SipMessage, Source

__all__ = ["Reject", "SipMessage", "Source"]
