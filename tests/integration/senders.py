"""Log SIP messages the way Asterisk's syslog channel does, into rsyslog.

Asterisk (``logger.conf``: ``syslog.local0 => verbose``) hands each PJSIP logger dump to
``syslog(3)`` as ONE message with its CR/LF inside, e.g. (from a real Asterisk 22)::

    VERBOSE[2931]: res_pjsip_logger.c:354 in logging_on_rx_msg: <--- Received SIP request
    (337 bytes) from UDP:127.0.0.1:15080 --->\\nOPTIONS sip:1000@127.0.0.1:5060 SIP/2.0\\r\\n...

The senders below write that message to an rsyslog: through a forwarder's /dev/log as glibc
does (no hostname in the header), or straight to the log server over UDP (one datagram) or
TCP (octet-counted framing, RFC 6587, the only framing that carries an LF inside a message).
"""

from __future__ import annotations

import json
import socket
from datetime import datetime
from pathlib import Path

from tests.integration.pjsip_log import Logged

PID = 2899
PRI_LOCAL0_INFO = 16 * 8 + 6


def asterisk_text(message: Logged) -> str:
    """The text Asterisk's logger passes to syslog() for one PJSIP logger dump."""
    if message.direction == "in":
        where, tid = "res_pjsip_logger.c:354 in logging_on_rx_msg", 2931
    else:
        where, tid = "res_pjsip_logger.c:322 in logging_on_tx_msg", 2926
    return f"VERBOSE[{tid}]: {where}: {message.marker()}\n{message.raw.decode()}\n"


def asterisk_json_text(message: Logged, stamp: datetime) -> str:
    """The text Asterisk's ``[json]`` formatter passes to syslog() for the same dump
    (``syslog.local0 => [json]verbose``): one line of compact JSON, UTF-8 as it is, then an LF."""
    if message.direction == "in":
        function, line, tid = "logging_on_rx_msg", 354, 2931
    else:
        function, line, tid = "logging_on_tx_msg", 322, 2926
    entry = {"hostname": "", "timestamp": rfc3164_time(stamp), "identifiers": {"lwp": tid, "callid": ""},
             "logmsg": {"location": {"filename": "res_pjsip_logger.c", "function": function, "line": line},
                        "level": "VERBOSE", "message": f"{message.marker()}\n{message.raw.decode()}\n"}}
    return json.dumps(entry, ensure_ascii=False, separators=(",", ":")) + "\n"


def rfc3164_time(stamp: datetime) -> str:
    """``Nov  9 14:06:35``: the timestamp of a BSD syslog header (day padded with a space)."""
    return f"{stamp:%b} {stamp.day:2d} {stamp:%H:%M:%S}"


def devlog_datagram(stamp: datetime, text: str) -> bytes:
    """What glibc's syslog() writes to /dev/log: no hostname, the local rsyslog adds it."""
    return f"<{PRI_LOCAL0_INFO}>{rfc3164_time(stamp)} asterisk[{PID}]: {text}".encode()


def network_message(stamp: datetime, host: str, text: str) -> bytes:
    """An RFC 3164 message as a host sends it to a log server: with its hostname."""
    return f"<{PRI_LOCAL0_INFO}>{rfc3164_time(stamp)} {host} asterisk[{PID}]: {text}".encode()


def send_devlog(path: Path, payload: bytes) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(payload, str(path))


def send_udp(port: int, payload: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.sendto(payload, ("127.0.0.1", port))


class OctetCountedSender:
    """A TCP syslog connection with RFC 6587 octet-counting: ``LEN SP MSG`` per message."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)

    def send(self, payload: bytes) -> None:
        self.sock.sendall(str(len(payload)).encode() + b" " + payload)

    def close(self) -> None:
        self.sock.close()
