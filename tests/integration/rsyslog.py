"""Run real rsyslogd instances for the pipeline tests, on loopback, inside a temp directory.

Each instance gets its own config, pid file (``-i``), work directory and no /dev/log: it
runs in the foreground (``-n``) as a child of the test and is stopped by it. The configs
are the files of ``examples/rsyslog/`` with their production values (port 514, the log
server's name, /var/log paths) replaced, so the tests check the files users install.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
DEADLINE_SECONDS = 30.0


def rsyslogd_binary() -> str | None:
    """The rsyslogd executable (Debian puts it in /usr/sbin, often not on a user's PATH)."""
    found = shutil.which("rsyslogd")
    if found:
        return found
    return "/usr/sbin/rsyslogd" if os.access("/usr/sbin/rsyslogd", os.X_OK) else None


def require_rsyslogd() -> str:
    """The rsyslogd binary; a loud skip without it, a failure under CI=true."""
    binary = rsyslogd_binary()
    if binary:
        return binary
    reason = "NO rsyslogd: install the Debian package 'rsyslog' to run the real-rsyslog pipeline tests"
    if os.environ.get("CI") == "true":
        pytest.fail(reason + " (required under CI=true)")
    pytest.skip(reason)


def free_port(kind: int) -> int:
    """A port nobody listens on now, of the given socket type (SOCK_STREAM or SOCK_DGRAM)."""
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_pair() -> int:
    """One port number free for both TCP and UDP, as the log server listens on 514/tcp+udp."""
    for _ in range(50):
        port = free_port(socket.SOCK_STREAM)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return port
    raise RuntimeError("no port free for both TCP and UDP on 127.0.0.1")


def adapt(example: str, replacements: list[tuple[str, str]]) -> str:
    """The text of ``examples/<example>`` with each (old, new) applied; every ``old`` must occur.

    Failing on a missing ``old`` keeps the test and the example in step: when someone edits
    the example, the test says which production value it no longer finds.
    """
    text = (EXAMPLES / example).read_text()
    for old, new in replacements:
        if old not in text:
            raise AssertionError(f"examples/{example} no longer contains {old!r}")
        text = text.replace(old, new)
    return text


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = DEADLINE_SECONDS) -> None:
    """Poll ``predicate`` until it holds; fail with ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.05)


class Rsyslogd:
    """One rsyslogd process: a wrapper config (global settings) that includes an example."""

    def __init__(self, root: Path, name: str, wrapper: str, included: str) -> None:
        self.dir = root / name
        self.dir.mkdir(parents=True)
        (self.dir / "work").mkdir()
        self.included = self.dir / "included.conf"
        self.included.write_text(included)
        self.conf = self.dir / "rsyslog.conf"
        self.conf.write_text(wrapper.format(work=self.dir / "work", included=self.included))
        self.pidfile = self.dir / "rsyslogd.pid"
        self.output = self.dir / "rsyslogd.out"
        self.proc: subprocess.Popen[bytes] | None = None
        self.socket: Path | None = None  # the private /dev/log of a forwarder

    def check(self) -> None:
        """``rsyslogd -N1``: the config must be valid, or the test shows rsyslog's own words."""
        done = subprocess.run([require_rsyslogd(), "-N1", "-f", str(self.conf)], capture_output=True,
                              text=True, timeout=DEADLINE_SECONDS, env=_env())
        if done.returncode != 0:
            raise AssertionError(f"rsyslogd -N1 -f {self.conf} failed:\n{done.stdout}{done.stderr}")

    def start(self) -> Rsyslogd:
        self.check()
        with open(self.output, "wb") as out:
            self.proc = subprocess.Popen(
                [require_rsyslogd(), "-n", "-f", str(self.conf), "-i", str(self.pidfile)],
                stdout=out, stderr=subprocess.STDOUT, env=_env(), start_new_session=True)
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "rsyslogd was not started"
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        """SIGTERM (rsyslog flushes its queues and files), SIGKILL after a bounded wait."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def diagnostics(self) -> str:
        """What rsyslogd printed, for assertion messages."""
        return self.output.read_text(errors="replace") if self.output.exists() else ""


def _env() -> dict[str, str]:
    """Zone UTC: traditional timestamps carry no zone, so sender, rsyslog and ingest agree on one."""
    return {**os.environ, "TZ": "UTC"}


CENTRAL_WRAPPER = """\
# the log server's /etc/rsyslog.conf, reduced to what the test needs: no /dev/log, no imklog
global(workDirectory="{work}")
include(file="{included}")
"""

FORWARDER_WRAPPER = """\
# an Asterisk host's /etc/rsyslog.conf: imuxsock on a private socket stands for /dev/log;
# it keeps the timestamp the sender wrote, so the test knows the second of each message
global(workDirectory="{work}" localHostname="%(host)s")
module(load="imuxsock" SysSock.Name="%(socket)s"
       SysSock.UseSysTimeStamp="off" SysSock.IgnoreTimestamp="off")
include(file="{included}")
"""

IMFILE_WRAPPER = """\
# an Asterisk host that only reads Asterisk's log file
global(workDirectory="{work}" localHostname="%(host)s")
include(file="{included}")
"""


# A template users pick that the example does not: the RFC 5424 message itself, in one more file.
PROTOCOL23_ACTION = ('    action(type="omfile" file="/var/log/asterisk-sip/protocol23.log"\n'
                     '           template="RSYSLOG_SyslogProtocol23Format")\n')


# The example's escaping, and what other log servers set instead (each a real deployment's).
ESCAPING = {
    "example": [],
    "unescaped": [('parser.escapeControlCharactersOnReceive="on"', 'parser.escapeControlCharactersOnReceive="off"')],
    "all-escaped": [('parser.escapeControlCharacterTab="off"',
                     'parser.escapeControlCharacterTab="on"\n    parser.escape8BitCharactersOnReceive="on"')],
}


def central(root: Path, port: int, escaping: str = "example") -> Rsyslogd:
    """The log server of ``examples/rsyslog/logserver.conf``, listening on ``port`` tcp+udp,
    also writing every host into ``protocol23.log`` with RSYSLOG_SyslogProtocol23Format;
    ``escaping``: a key of ``ESCAPING``."""
    out = root / "logs"
    all_log = '    action(type="omfile" file="/var/log/asterisk-sip/all.log"'
    included = adapt("rsyslog/logserver.conf", ESCAPING[escaping] + [
        (all_log, PROTOCOL23_ACTION + all_log),
        ("/var/log/asterisk-sip", str(out)),
        ('input(type="imudp" port="514"', f'input(type="imudp" address="127.0.0.1" port="{port}"'),
        ('input(type="imtcp" port="514"', f'input(type="imtcp" address="127.0.0.1" port="{port}"'),
    ])
    return Rsyslogd(root, "central", CENTRAL_WRAPPER, included)


def forwarding(port: int, protocol: str) -> list[tuple[str, str]]:
    """Point an Asterisk host's forwarding action at the test's log server."""
    changes = [("logserver.example.net", "127.0.0.1"), ('port="514"', f'port="{port}"')]
    if protocol == "udp":
        changes += [('protocol="tcp"', 'protocol="udp"'), ('TCP_Framing="octet-counted"\n', "")]
    return changes


def syslog_forwarder(root: Path, host: str, port: int, protocol: str) -> Rsyslogd:
    """An Asterisk host of ``examples/rsyslog/asterisk-host-syslog.conf``; its /dev/log is ``.socket``."""
    name = f"fwd-{host}"
    sock = root / name / "log.sock"
    included = adapt("rsyslog/asterisk-host-syslog.conf", forwarding(port, protocol))
    wrapper = FORWARDER_WRAPPER % {"host": host, "socket": sock}
    daemon = Rsyslogd(root, name, wrapper, included)
    daemon.socket = sock
    return daemon


# What the README has an imfile input add to read each entry of the file whole: its start
# line, the last entry sent after a second; the entry's LFs as imfile's own "\n", or as "#012".
WHOLE_ENTRIES = {
    "lf-escaped": 'startmsg.regex="^\\\\[" readTimeout="1"',
    "lf-as-012": 'startmsg.regex="^\\\\[" escapeLF.replacement="#012" readTimeout="1"',
}


def imfile_forwarder(root: Path, host: str, port: int, logfile: Path, whole_entries: str | None = None) -> Rsyslogd:
    """An Asterisk host of ``examples/rsyslog/asterisk-host-imfile.conf`` reading ``logfile``,
    line by line or an entry at a time (``whole_entries``: a key of ``WHOLE_ENTRIES``)."""
    changes = forwarding(port, "tcp") + [("/var/log/asterisk/pjsip", str(logfile))]
    if whole_entries is not None:
        changes.append(('tag="asterisk:"', f'tag="asterisk:" {WHOLE_ENTRIES[whole_entries]}'))
    included = adapt("rsyslog/asterisk-host-imfile.conf", changes)
    return Rsyslogd(root, f"imfile-{host}", IMFILE_WRAPPER % {"host": host}, included)
