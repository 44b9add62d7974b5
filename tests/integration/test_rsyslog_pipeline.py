"""Asterisk -> real rsyslogd -> ``sipparse ingest`` -> database, with the configs of examples/.

Two runs of a real log server (``examples/rsyslog/logserver.conf``), each writing every host
into ONE traditional file and one RFC 3339 file per host (and, beyond the example, every host
into ONE RSYSLOG_SyslogProtocol23Format file):

* the syslog channel (``syslog.local0 => verbose``): real SIP messages, one syslog message
  each with CR/LF inside, from four Asterisk hosts: two forwarding rsyslogds of
  ``asterisk-host-syslog.conf`` (TCP octet-counted, and UDP) fed through their /dev/log, and
  two senders talking to the log server directly (one UDP datagram; TCP octet-counted);
* the file channel read by imfile (``asterisk-host-imfile.conf``) on two Asterisk hosts,
  whose lines interleave in the one central file.

Every file is then ingested and every message must come out with the fields it was sent
with. rsyslogd missing is a loud skip, and a failure under CI=true.
"""

from __future__ import annotations

import re
import socket
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.config import parse_db_url
from tests.integration import rsyslog, senders
from tests.integration.pjsip_log import (
    Logged,
    big_invite,
    expected_row,
    normalised,
    read_full_log,
    with_call_id,
)

pytestmark = pytest.mark.slow

SAMPLES = rsyslog.REPO.parent / "shared" / "samples"
REAL_PJSIP = SAMPLES / "asterisk-real" / "pjsip"  # a real Asterisk 22 `pjsip => verbose` channel
SIPP_FULL = SAMPLES / "pjsip-full.log"  # SIPp traffic in the same format, with tshark truth
COMPARED = ("call_id", "sip_method", "from_sip", "to_sip", "cseq", "cseq_method", "sdp_content",
            "status_code", "direction", "host", "raw")


@dataclass
class Run:
    """What one log server wrote and the rows its files must give."""

    traditional: list[Path]  # every host in one file, RSYSLOG_TraditionalFileFormat
    rfc3339: list[Path]  # one file per host, RSYSLOG_FileFormat
    protocol23: list[Path]  # every host in one file, RSYSLOG_SyslogProtocol23Format
    expected: list[dict[str, Any]]


def _samples() -> None:
    if not REAL_PJSIP.exists() or not SIPP_FULL.exists():
        pytest.skip(f"the shared samples are not beside the checkout ({SAMPLES})")


def _markers(path: Path, needle: bytes = b"res_pjsip_logger.c") -> int:
    return path.read_bytes().count(needle) if path.exists() else 0


def _wait_ready(server: rsyslog.Rsyslogd, port: int, out: Path) -> None:
    """Probe the log server over UDP until a probe reaches its file: inputs and outputs are up."""
    text = "VERBOSE[1]: probe.c:1 in probe: ready"
    probe = senders.network_message(datetime.now(UTC), "probe", text)

    def arrived() -> bool:
        assert server.alive(), "log server rsyslogd died:\n" + server.diagnostics()
        senders.send_udp(port, probe)
        return _markers(out / "all.log", b"probe.c:1") > 0

    rsyslog.wait_until(arrived, "the log server to accept messages")


def _stop(*daemons: rsyslog.Rsyslogd) -> None:
    for daemon in daemons:
        daemon.stop()


# -- run (a): Asterisk's syslog channel -------------------------------------------------------


def _dialogs_for(messages: list[Logged], hosts: list[str], big: bool = True) -> dict[str, list[Logged]]:
    """Deal whole dialogs round-robin to the hosts, renamed per host, plus one big INVITE each
    (unless not ``big``)."""
    order: list[str] = []
    for message in messages:
        call_id = expected_row(message, None)["call_id"]
        if call_id not in order:
            order.append(str(call_id))
    template = next(m for m in messages if m.raw.startswith(b"INVITE ") and b"\r\n\r\nv=0" in m.raw)
    dealt: dict[str, list[Logged]] = {host: [] for host in hosts}
    for message in messages:
        call_id = str(expected_row(message, None)["call_id"])
        host = hosts[order.index(call_id) % len(hosts)]
        dealt[host].append(with_call_id(message, f"{call_id}-{host}"))
    for host in hosts if big else []:
        dealt[host].insert(len(dealt[host]) // 2, big_invite(template, f"big-{host}@127.0.0.1"))
    return dealt


def _send_syslog_channel(root: Path, port: int, dealt: dict[str, list[Logged]], json: bool = False) -> list[str]:
    """Send each host's messages its own way, as the default formatter writes them or as the
    ``[json]`` one does; return the second each was stamped with, in order."""
    forwarders = {"pbx-fwd-tcp": rsyslog.syslog_forwarder(root, "pbx-fwd-tcp", port, "tcp").start(),
                  "pbx-fwd-udp": rsyslog.syslog_forwarder(root, "pbx-fwd-udp", port, "udp").start()}
    try:
        for daemon in forwarders.values():
            rsyslog.wait_until(lambda d=daemon: d.socket.exists() or not d.alive(), "a forwarder's /dev/log")
            assert daemon.alive(), "forwarder rsyslogd died:\n" + daemon.diagnostics()
        stamps: list[str] = []
        tcp = senders.OctetCountedSender(port)
        for host, messages in dealt.items():
            for message in messages:
                stamp = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
                text = senders.asterisk_json_text(message, stamp) if json else senders.asterisk_text(message)
                if host in forwarders:
                    senders.send_devlog(forwarders[host].socket, senders.devlog_datagram(stamp, text))
                elif host == "pbx-direct-udp":
                    senders.send_udp(port, senders.network_message(stamp, host, text))
                else:
                    tcp.send(senders.network_message(stamp, host, text))
                stamps.append(str(stamp))
        tcp.close()
        _wait_for_counts(root / "logs", {host: len(messages) for host, messages in dealt.items()})
    finally:
        _stop(*forwarders.values())
    return stamps


def _wait_for_counts(out: Path, counts: dict[str, int]) -> None:
    """Until every host's file holds all its messages and the one central file holds them all."""
    total = sum(counts.values())

    def complete() -> bool:
        per_host = all(_markers(out / "hosts" / f"{host}.log") >= n for host, n in counts.items())
        return per_host and _markers(out / "all.log") >= total

    rsyslog.wait_until(complete, f"{total} SIP messages in {out}")


def _syslog_channel_run(root: Path, json: bool = False) -> Run:
    rsyslog.require_rsyslogd()
    _samples()
    port = rsyslog.free_port_pair()
    server = rsyslog.central(root, port).start()
    try:
        _wait_ready(server, port, root / "logs")
        hosts = ["pbx-fwd-tcp", "pbx-fwd-udp", "pbx-direct-udp", "pbx-direct-tcp"]
        # Asterisk cuts a [json] entry at 8191 bytes: no big INVITE passes whole
        dealt = _dialogs_for(read_full_log(REAL_PJSIP), hosts, big=not json)
        stamps = _send_syslog_channel(root, port, dealt, json)
    finally:
        _stop(server)
    sent = [(host, message) for host, messages in dealt.items() for message in messages]
    expected = [expected_row(message, host) | {"timestamp": stamp, "transport": message.transport,
                                               "peer": message.peer}
                for (host, message), stamp in zip(sent, stamps, strict=True)]
    out = root / "logs"
    return Run([out / "all.log"], sorted((out / "hosts").glob("pbx-*.log")), [out / "protocol23.log"], expected)


@pytest.fixture(scope="module")
def syslog_channel_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _syslog_channel_run(tmp_path_factory.mktemp("syslog-channel"))


@pytest.fixture(scope="module")
def json_channel_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The syslog channel with logger.conf's json formatter: ``syslog.local0 => [json]verbose``."""
    return _syslog_channel_run(tmp_path_factory.mktemp("json-channel"), json=True)


def _with_text(message: Logged) -> Logged:
    """The message with a header holding a TAB and UTF-8 (a display name, a subject), which the
    escaping settings write three ways: as they are, as ``#011`` and ``#303#251``."""
    extra = "Subject:\tH\u00e9llo w\u00f6rld \u2713\r\n".encode()
    raw = message.raw.replace(b"\r\nCall-ID:", b"\r\n" + extra + b"Call-ID:", 1)
    return Logged(message.direction, message.transport, message.peer, raw)


@pytest.fixture(scope="module", params=[name for name in rsyslog.ESCAPING if name != "example"])
def escaping_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A log server escaping otherwise than the example, fed the syslog channel of two hosts
    straight (an FQDN and an address as host names, one tag without its pid)."""
    rsyslog.require_rsyslogd()
    _samples()
    root = tmp_path_factory.mktemp(f"escaping-{request.param}")
    port = rsyslog.free_port_pair()
    server = rsyslog.central(root, port, request.param).start()
    hosts = ["pbx1.example.com", "192.0.2.10"]
    sent: list[tuple[str, Logged, str]] = []
    try:
        _wait_ready(server, port, root / "logs")
        tcp = senders.OctetCountedSender(port)
        for i, message in enumerate(read_full_log(REAL_PJSIP)[:40]):
            host, message = hosts[i % 2], _with_text(message)
            stamp = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
            payload = senders.network_message(stamp, host, senders.asterisk_text(message))
            tcp.send(payload if i % 4 else payload.replace(b" asterisk[2899]: ", b" asterisk: ", 1))
            sent.append((host, message, str(stamp)))
        tcp.close()
        _wait_for_counts(root / "logs", {host: sum(1 for h, _, _ in sent if h == host) for host in hosts})
    finally:
        _stop(server)
    expected = [expected_row(message, host) | {"timestamp": stamp, "transport": message.transport,
                                               "peer": message.peer} for host, message, stamp in sent]
    out = root / "logs"
    written = (out / "all.log").read_bytes()
    assert (b"\tH\xc3\xa9llo" in written) if request.param == "unescaped" else (b"#011H#303#251llo" in written)
    return Run([out / "all.log"], sorted((out / "hosts").glob("*.log")), [out / "protocol23.log"], expected)


# -- run (b): the file channel read by imfile, two hosts into one file ------------------------


def _append_interleaved(targets: list[tuple[bytes, Path]], chunk: int = 2048, pause: float = 0.002) -> None:
    """Grow both Asterisk logs a chunk at a time, alternately, cutting lines anywhere.

    Small chunks with a pause make both forwarders send at once, so their lines interleave
    in the central file, also inside messages, as on a busy log server.
    """
    offsets = [0] * len(targets)
    while any(offset < len(data) for offset, (data, _) in zip(offsets, targets, strict=True)):
        for i, (data, path) in enumerate(targets):
            with open(path, "ab") as fh:
                fh.write(data[offsets[i]:offsets[i] + chunk])
            offsets[i] += chunk
        time.sleep(pause)


@pytest.fixture(scope="module")
def imfile_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    rsyslog.require_rsyslogd()
    _samples()
    root = tmp_path_factory.mktemp("imfile")
    port = rsyslog.free_port_pair()
    sources = {"pbx-a": REAL_PJSIP, "pbx-b": SIPP_FULL}
    logs = {host: root / f"{host}.pjsip" for host in sources}
    for path in logs.values():
        path.write_bytes(b"")
    server = rsyslog.central(root, port).start()
    forwarders = []
    try:
        _wait_ready(server, port, root / "logs")
        forwarders = [rsyslog.imfile_forwarder(root, host, port, logs[host]).start() for host in sources]
        _append_interleaved([(sources[host].read_bytes(), logs[host]) for host in sources])
        _wait_for_counts(root / "logs", {host: _markers(path) for host, path in sources.items()})
    finally:
        _stop(*forwarders, server)
    expected = [expected_row(m, host) | {"transport": m.transport, "peer": m.peer}
                for host, path in sources.items() for m in read_full_log(path)]
    out = root / "logs"
    return Run([out / "all.log"], sorted((out / "hosts").glob("pbx-*.log")), [out / "protocol23.log"], expected)


@pytest.fixture(scope="module", params=list(rsyslog.WHOLE_ENTRIES))
def imfile_entries_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """One Asterisk host whose imfile reads the file channel an entry at a time, as the README
    says (``rsyslog.WHOLE_ENTRIES``): each SIP message is one syslog message."""
    rsyslog.require_rsyslogd()
    _samples()
    root = tmp_path_factory.mktemp(f"imfile-entries-{request.param}")
    port = rsyslog.free_port_pair()
    log = root / "pbx-e.pjsip"
    log.write_bytes(b"")
    server = rsyslog.central(root, port).start()
    forwarder = None
    try:
        _wait_ready(server, port, root / "logs")
        forwarder = rsyslog.imfile_forwarder(root, "pbx-e", port, log, whole_entries=request.param).start()
        _append_interleaved([(REAL_PJSIP.read_bytes(), log)])
        _wait_for_counts(root / "logs", {"pbx-e": _markers(REAL_PJSIP)})
    finally:
        _stop(*([forwarder] if forwarder else []), server)
    expected = [expected_row(m, "pbx-e") | {"transport": m.transport, "peer": m.peer}
                for m in read_full_log(REAL_PJSIP)]
    out = root / "logs"
    return Run([out / "all.log"], sorted((out / "hosts").glob("pbx-*.log")), [out / "protocol23.log"], expected)


# -- reading the database back ----------------------------------------------------------------


def _rows(url: str, table: str) -> list[dict[str, Any]]:
    parsed = parse_db_url(url)
    if parsed.is_sqlite:
        with sqlite3.connect(str(parsed.path)) as con:
            con.row_factory = sqlite3.Row
            return [dict(row) for row in con.execute(f"SELECT * FROM {table}")]
    import mysql.connector

    con = mysql.connector.connect(host=parsed.host, port=parsed.port or 3306, user=parsed.user,
                                  password=parsed.password or "", database=parsed.database)
    try:
        cursor = con.cursor(dictionary=True)
        cursor.execute(f"SELECT * FROM {table}")
        return list(cursor.fetchall())
    finally:
        con.close()


def _comparable(row: dict[str, Any], fields: tuple[str, ...]) -> tuple[Any, ...]:
    raw = row.get("raw_message", row.get("raw"))
    if isinstance(raw, (bytes, bytearray, str)):
        raw = normalised(bytes(raw) if not isinstance(raw, str) else raw)
    values = {**row, "raw": raw}
    return tuple(values.get(name) for name in fields)


def _ingest(url: str, paths: list[Path]) -> str:
    result = CliRunner().invoke(cli, ["--db", url, "ingest", "--tz", "UTC", "--no-progress",
                                      *map(str, paths)])
    assert result.exit_code == 0, f"ingest failed ({result.exit_code}): {result.output}\n{result.exception!r}"
    return result.output


def _assert_all_came_out(url: str, run: Run, fields: tuple[str, ...]) -> None:
    stored = Counter(_comparable(row, fields) for row in _rows(url, "sip_transactions"))
    wanted = Counter(_comparable(row, fields) for row in run.expected)
    missing, extra = wanted - stored, stored - wanted
    assert not missing and not extra, (
        f"{sum(missing.values())} sent messages not stored as sent, "
        f"{sum(extra.values())} stored rows not sent;"
        f"\nfirst missing: {next(iter(missing), None)}\nfirst extra:   {next(iter(extra), None)}")


TEMPLATES = ["traditional", "rfc3339", "protocol23"]


@pytest.mark.parametrize("template", TEMPLATES)
def test_syslog_channel_messages_come_out_as_sent(syslog_channel_run: Run, template: str,
                                                  db_url: str) -> None:
    _ingest(db_url, getattr(syslog_channel_run, template))
    _assert_all_came_out(db_url, syslog_channel_run, COMPARED + ("transport", "peer"))
    assert _rows(db_url, "rejects") == []


@pytest.mark.parametrize("template", TEMPLATES)
def test_json_formatter_syslog_channel_messages_come_out_as_sent(json_channel_run: Run, template: str,
                                                                 sqlite_url: str) -> None:
    entries = getattr(json_channel_run, template)
    assert b'"logmsg":{' in entries[0].read_bytes(), "rsyslog did not write the JSON entries"
    _ingest(sqlite_url, entries)
    _assert_all_came_out(sqlite_url, json_channel_run, COMPARED + ("transport", "peer"))
    assert _rows(sqlite_url, "rejects") == []


@pytest.mark.parametrize("template", TEMPLATES)
def test_syslog_channel_keeps_the_second_it_was_logged(syslog_channel_run: Run, template: str,
                                                       sqlite_url: str) -> None:
    _ingest(sqlite_url, getattr(syslog_channel_run, template))
    key = ("call_id", "sip_method", "cseq", "timestamp")
    rows = _rows(sqlite_url, "sip_transactions")
    stored = [row | {"timestamp": str(row["timestamp"])[:19]} for row in rows]
    assert Counter(_comparable(row, key) for row in stored) == Counter(
        _comparable(row, key) for row in syslog_channel_run.expected)


@pytest.mark.parametrize("template", TEMPLATES)
def test_imfile_two_hosts_one_file_messages_come_out_as_sent(imfile_run: Run, template: str,
                                                             db_url: str) -> None:
    _ingest(db_url, getattr(imfile_run, template))
    _assert_all_came_out(db_url, imfile_run, COMPARED + ("transport", "peer"))
    assert _rows(db_url, "rejects") == []


@pytest.mark.parametrize("template", TEMPLATES)
def test_imfile_whole_entries_come_out_as_sent(imfile_entries_run: Run, template: str, sqlite_url: str) -> None:
    entries = getattr(imfile_entries_run, template)
    assert re.search(rb"---> ?(#012|\\n)OPTIONS ", entries[0].read_bytes()), "imfile did not send each entry whole"
    _ingest(sqlite_url, entries)
    _assert_all_came_out(sqlite_url, imfile_entries_run, COMPARED + ("transport", "peer"))
    assert _rows(sqlite_url, "rejects") == []


@pytest.mark.parametrize("template", TEMPLATES)
def test_every_escaping_gives_the_messages_as_sent(escaping_run: Run, template: str, sqlite_url: str) -> None:
    _ingest(sqlite_url, getattr(escaping_run, template))
    _assert_all_came_out(sqlite_url, escaping_run, COMPARED + ("transport", "peer", "timestamp"))
    assert _rows(sqlite_url, "rejects") == []


def test_big_messages_pass_whole(syslog_channel_run: Run) -> None:
    """The 64k maxMessageSize of the examples: every >8 kB INVITE reached the files whole."""
    big = [row for row in syslog_channel_run.expected if str(row["call_id"]).startswith("big-")]
    assert len(big) == 4 and all(len(str(row["raw"])) > 8192 for row in big)
    central = syslog_channel_run.traditional[0].read_text()
    for row in big:
        last_candidate = str(row["sdp_content"]).rsplit("\n", 1)[-1]
        assert last_candidate in central, f"{row['host']}: the big INVITE was cut"


def test_a_second_ingest_adds_nothing(syslog_channel_run: Run, sqlite_url: str) -> None:
    _ingest(sqlite_url, syslog_channel_run.traditional)
    first = len(_rows(sqlite_url, "sip_transactions"))
    _ingest(sqlite_url, syslog_channel_run.traditional)
    assert len(_rows(sqlite_url, "sip_transactions")) == first == len(syslog_channel_run.expected)


def test_free_port_pair_is_free_on_both_transports() -> None:
    port = rsyslog.free_port_pair()
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", port))


def test_imfile_central_file_has_the_documented_shape(imfile_run: Run) -> None:
    """What sipparse must read (CONTRACT.md, the seed's deployment), as a real rsyslog writes it."""
    lines = imfile_run.traditional[0].read_text().splitlines()
    body = [line.split(": ", 1)[1] for line in lines if " pbx-" in line]
    hosts = {line.split()[3] for line in lines if " pbx-" in line}
    assert hosts == {"pbx-a", "pbx-b"}
    markers = [text for text in body if "res_pjsip_logger.c: <--- " in text]
    assert len(markers) == len(imfile_run.expected)
    assert all(text.startswith("[Nov ") for text in markers), "the marker keeps Asterisk's own prefix"
    assert "#015" in body, "the header/body separator is a line that is just #015"
    assert "" not in body, "imfile drops the empty line after each message"


# -- the least-privilege MySQL account of examples/mysql/create-user.sql ----------------------


def _statements(sql: str) -> list[str]:
    text = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    return [statement.strip() for statement in text.split(";") if statement.strip()]


@pytest.fixture
def least_privilege(mysql_root_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The example's database, accounts and option file, on the throwaway server."""
    import mysql.connector

    tag = uuid.uuid4().hex[:10]
    names = {"db": f"sip_lp_{tag}", "user": f"sp_{tag}", "viewer": f"sv_{tag}", "password": f"pw-{tag}-Aa1!"}
    sql = rsyslog.adapt("mysql/create-user.sql", [
        (" sip ", f" `{names['db']}` "), (" sip.* ", f" `{names['db']}`.* "),
        ("'sipparse'@'10.0.0.20'", f"'{names['user']}'@'%'"),
        ("'sipviewer'@'10.0.0.%'", f"'{names['viewer']}'@'%'"),
        ("change-me-to-a-long-random-password", names["password"]),
        ("another-long-random-password", names["password"]),
    ])
    root = parse_db_url(mysql_root_url)
    admin = mysql.connector.connect(host=root.host, port=root.port or 3306, user=root.user or "root",
                                    password=root.password or "")
    for statement in _statements(sql):
        admin.cursor().execute(statement)
    cnf = tmp_path / "my.cnf"
    password = [("change-me-to-a-long-random-password", names["password"])]
    cnf.write_text(rsyslog.adapt("sipparse/my.cnf", password))
    cnf.chmod(0o600)
    base = f"{root.host}:{root.port or 3306}/{names['db']}"
    names["url"] = f"mysql://{names['user']}@{base}?option_files={cnf}"
    names["viewer_url"] = f"mysql://{names['viewer']}:{names['password']}@{base}"
    names["admin_url"] = f"mysql://{root.user or 'root'}:{root.password or ''}@{base}"
    try:
        yield names
    finally:
        cursor = admin.cursor()
        cursor.execute(f"DROP DATABASE IF EXISTS `{names['db']}`")
        for user in (names["user"], names["viewer"]):
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        admin.close()


@pytest.mark.mysql
def test_least_privilege_account_creates_the_schema_and_ingests(syslog_channel_run: Run,
                                                                least_privilege: dict[str, str]) -> None:
    """The GRANTs of the example suffice, and the password comes from the option file only."""
    assert ":" not in least_privilege["url"].split("//", 1)[1].split("@", 1)[0]
    _ingest(least_privilege["url"], syslog_channel_run.traditional)
    _assert_all_came_out(least_privilege["admin_url"], syslog_channel_run, COMPARED)
    viewer = CliRunner().invoke(cli, ["--db", least_privilege["viewer_url"], "calls", "--format", "json",
                                      "--limit", "1000"])
    assert viewer.exit_code == 0, f"the read-only account cannot list calls: {viewer.output}"
    assert "big-pbx-fwd-tcp@127.0.0.1" in viewer.output


# -- sipparse rotate against the live log server, as [rotate] postrotate of the example ------


def _send_all(tcp: senders.OctetCountedSender, host: str, batch: list[Logged], pause: float = 0.0) -> None:
    for message in batch:
        tcp.send(senders.network_message(datetime.now(UTC), host, senders.asterisk_text(message)))
        time.sleep(pause)


def test_rotate_while_rsyslog_writes_loses_no_message(tmp_path: Path, sqlite_url: str) -> None:
    """Ingest, rename, HUP (what /usr/lib/rsyslog/rsyslog-rotate does), while a host keeps sending."""
    rsyslog.require_rsyslogd()
    _samples()
    port = rsyslog.free_port_pair()
    server = rsyslog.central(tmp_path, port).start()
    messages = [with_call_id(m, f"{expected_row(m, None)['call_id']}-rot") for m in read_full_log(REAL_PJSIP)]
    half = len(messages) // 2
    log = tmp_path / "logs" / "all.log"
    try:
        _wait_ready(server, port, tmp_path / "logs")
        tcp = senders.OctetCountedSender(port)
        _send_all(tcp, "pbx-r", messages[:half])
        rsyslog.wait_until(lambda: _markers(log) >= half, "the first half in all.log")
        sender = threading.Thread(target=_send_all, args=(tcp, "pbx-r", messages[half:], 0.003))
        sender.start()
        rotated = CliRunner().invoke(cli, ["--db", sqlite_url, "rotate", "--tz", "UTC", "--keep", "3",
                                           "--shell", "--postrotate", f"kill -HUP {server.pid}", str(log)])
        sender.join(timeout=30)
        tcp.close()
        assert rotated.exit_code == 0, rotated.output
        rsyslog.wait_until(lambda: _markers(log) + _markers(log.with_name("all.log.1")) >= len(messages),
                           "every message in all.log or all.log.1")
    finally:
        _stop(server)
    assert _markers(log) > 0, "rsyslog did not reopen all.log after the HUP"
    _ingest(sqlite_url, [log])
    run = Run([], [], [], [expected_row(m, "pbx-r") for m in messages])
    _assert_all_came_out(sqlite_url, run, COMPARED)
