"""Nothing in a log can break or subvert sipparse: torture messages, injection, bad bytes, giants.

Each hostile piece sits between valid messages. The run must end normally (exit 0, no
traceback) in bounded time and memory; the hostile message is stored or rejected with a
reason; and the valid messages around it are stored as usual.
"""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.reliability.helpers import (
    call,
    child_env,
    entry,
    ingest_argv,
    ingest_ok,
    make_log,
    measured,
    raw_messages,
    run,
    select,
    sip_message,
    sipparse_argv,
)

WHEN = datetime(2025, 6, 1, 9, 0, 0)
DIALECTS = ["full", "syslog"]
MAX_SECONDS = 30.0
MAX_EXTRA_RSS_MIB = 96.0  # over a run of a small normal log: the 1 MiB cap plus batch buffers



def sentinel(n: object) -> bytes:
    return sip_message("OPTIONS sip:probe@192.0.2.1 SIP/2.0", f"sentinel-{n}@hostile", "1 OPTIONS",
                       branch=f"s{n}", from_tag=f"s{n}")


def between(dialect: str, *pieces: bytes) -> bytes:
    """Each piece (a logged entry) after a sentinel, and a last sentinel at the end."""
    out = []
    for n, piece in enumerate(pieces):
        out += [entry("in", sentinel(n), WHEN + timedelta(seconds=n), dialect), piece]
    out.append(entry("in", sentinel("end"), WHEN, dialect))
    return b"".join(out)


def call_ids(db_url: str) -> list[str]:
    return [str(row[0]) for row in select(db_url, "SELECT call_id FROM sip_transactions")]


def assert_sentinels(db_url: str, count: int) -> None:
    stored = set(call_ids(db_url))
    missing = [n for n in [*range(count), "end"] if f"sentinel-{n}@hostile" not in stored]
    assert not missing, f"valid messages lost after hostile ones: {missing}"


@pytest.fixture(scope="module")
def baseline_rss(tmp_path_factory: pytest.TempPathFactory) -> float:
    """Peak RSS of a run over a small normal log, the yardstick of the memory bounds."""
    where = tmp_path_factory.mktemp("baseline")
    log = where / "pjsip"
    log.write_bytes(between("full", entry(*call(1)[0], WHEN, "full")))
    done = measured(ingest_argv(f"sqlite:///{where / 'db'}", str(log)))
    assert done.result.returncode == 0, done.result.stderr
    return done.peak_rss_mib


# -- RFC 4475 and other stacks' torture messages ------------------------------------------

def torture_entries(shared: Path) -> list[dict]:
    corpus = shared / "conformance" / "torture"
    entries: list[dict] = []
    for sub in ("rfc4475", "other"):
        for item in json.loads((corpus / sub / "index.json").read_text()):
            item["bytes_"] = (corpus / item["file"]).read_bytes()
            entries.append(item)
    return entries


def _matches(item: dict, row: tuple) -> bool:
    method, status, cseq = row
    if item["kind"] == "request" and method != item["method"]:
        return False
    if item["kind"] == "response" and item["status"] is not None and status != item["status"]:
        return False
    want = (item.get("cseq") or {}).get("seq")
    return want is None or (cseq is not None and int(cseq) == want)


@pytest.mark.parametrize("dialect", DIALECTS)
def test_torture_messages_in_one_log(db_url: str, tmp_path: Path, shared_dir: Path, dialect: str) -> None:
    entries = torture_entries(shared_dir)
    log = tmp_path / "pjsip"
    log.write_bytes(between(dialect, *(entry("in", e["bytes_"], WHEN, dialect) for e in entries)))
    done = ingest_ok(db_url, str(log))
    assert done.stderr == ""
    assert_sentinels(db_url, len(entries))
    rows: dict[str, list[tuple]] = {}
    for cid, method, status, cseq in select(db_url, "SELECT call_id, method, status_code, cseq "
                                                    "FROM sip_transactions"):
        rows.setdefault(cid, []).append((method, status, cseq))
    wrong = []
    for item in (e for e in entries if e["valid"]):
        found = [r for r in rows.get(item["call_id"], []) if _matches(item, r)]
        if not found:
            wrong.append(item["name"])
        else:
            rows[item["call_id"]].remove(found[0])
    assert not wrong, f"valid torture messages not stored as the index says: {wrong}"


# -- injection, bad bytes ----------------------------------------------------------------------

INJECTED_CALL_ID = "x'); DROP TABLE sip_transactions; --@h"


def _injection() -> bytes:
    msg = sip_message("INVITE sip:'or'1'='1@pbx SIP/2.0", INJECTED_CALL_ID, "1 INVITE", branch="i",
                      from_tag="t'--", extra=["User-Agent: Robert'); DROP TABLE calls;--",
                                              "Subject: %s %(x)s ? ?? `id` \\' \\\\ ${jndi:ldap://x}"])
    return msg.replace(b'"Alice"', b"\"'); DROP TABLE calls; --\"")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_injection_looking_values_are_stored_verbatim_never_run(db_url: str, tmp_path: Path,
                                                                dialect: str) -> None:
    msg = _injection()
    log = tmp_path / "pjsip"
    log.write_bytes(between(dialect, entry("in", msg, WHEN, dialect)))
    ingest_ok(db_url, str(log))
    assert_sentinels(db_url, 1)
    found = select(db_url, "SELECT from_sip, user_agent, request_uri, raw_message FROM sip_transactions "
                           "WHERE call_id = ?", (INJECTED_CALL_ID,))
    assert len(found) == 1
    from_sip, agent, ruri, raw = found[0]
    assert from_sip == "\"'); DROP TABLE calls; --\" <sip:alice@192.0.2.10>;tag=t'--"
    assert agent == "Robert'); DROP TABLE calls;--"
    assert ruri == "sip:'or'1'='1@pbx"
    assert bytes(raw) == msg
    shown = run([*sipparse_argv(), "--db", db_url, "show", "--format", "json", INJECTED_CALL_ID])
    assert shown.returncode == 0 and INJECTED_CALL_ID in json.dumps(json.loads(shown.stdout)), shown.stderr
    listed = run([*sipparse_argv(), "--db", db_url, "calls", "--format", "json", "--from-user", "' OR '1'='1"])
    assert listed.returncode == 0 and json.loads(listed.stdout) == [], listed.stdout
    assert len(call_ids(db_url)) == 3  # every table is still there and holds what it held


TITLE = "\x1b]0;owned\x07\x1b[2J\nError: forged"  # sets the title, clears the screen, adds a line


def test_file_names_made_to_drive_a_terminal_show_as_escapes(sqlite_url: str, tmp_path: Path) -> None:
    """Another user writing the log directory names files that a glob or rotate then prints."""
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / f"short{TITLE}").write_bytes(b"x\n")
    (logs / f"dir{TITLE}").mkdir()
    runs = [run(ingest_argv(sqlite_url, str(logs / "*"))), run(ingest_argv(sqlite_url, str(logs / f"dir{TITLE}"))),
            run([*sipparse_argv(), "--db", sqlite_url, "rotate", "-v", "--min-size", "1", str(logs / "short*")])]
    for done in runs:
        shown = done.stdout + done.stderr
        assert "\\x1b]0;owned\\x07\\x1b[2J\\x0aError: forged" in shown, shown
        assert "\x1b" not in shown and "\x07" not in shown and "\nError: forged" not in shown, shown


def test_debug_lines_show_file_names_as_escapes(sqlite_url: str, tmp_path: Path) -> None:
    log = tmp_path / f"pjsip{TITLE}"
    log.write_bytes(make_log(2))
    done = run([*ingest_argv(sqlite_url, str(log)), "--debug"])
    assert done.returncode == 0, done.stderr
    assert "\\x1b]0;owned\\x07\\x1b[2J\\x0aError: forged" in done.stderr, done.stderr
    assert "\x1b" not in done.stderr and "\x07" not in done.stderr


@pytest.mark.parametrize("dialect", DIALECTS)
def test_invalid_utf8_and_nul_bytes_are_kept_losslessly(db_url: str, tmp_path: Path, dialect: str) -> None:
    msg = sip_message("OPTIONS sip:a@b SIP/2.0", "utf8@hostile", "1 OPTIONS", branch="u", from_tag="u")
    msg = msg.replace(b"Max-Forwards: 70", b"X-Bad: \xff\xfe\xc3\x28 \x00nul\x00 \xed\xa0\x80\r\n"
                                           b"X-Ok: caf\xc3\xa9 \xf0\x9f\x93\x9e\r\nMax-Forwards: 70")
    msg = msg.replace(b'"Alice"', b'"Al\xffice\x00"')
    log = tmp_path / "pjsip"
    log.write_bytes(between(dialect, entry("in", msg, WHEN, dialect)))
    ingest_ok(db_url, str(log))
    assert_sentinels(db_url, 1)
    assert msg in raw_messages(db_url)
    from_sip = select(db_url, "SELECT from_sip FROM sip_transactions WHERE call_id = 'utf8@hostile'")[0][0]
    assert from_sip.startswith('"Al') and "\x00" in from_sip  # text columns: valid UTF-8, bad bytes replaced


# -- giants ------------------------------------------------------------------------------------

def _giant_line(dialect: str) -> bytes:
    junk = b"X" * (10 << 20)
    if dialect == "full":
        return b"[Jun  1 09:00:00] VERBOSE[4101] res_pjsip_logger.c: " + junk + b"\n"
    return b"Jun  1 09:00:00 pbx-a asterisk[4101]: " + junk + b"\n"


def _many_headers(count: int) -> bytes:
    return sip_message("OPTIONS sip:a@b SIP/2.0", f"headers-{count}@hostile", "1 OPTIONS", branch="h",
                       from_tag="h", extra=[f"X-H{i}: v{i}" for i in range(count)])


def _nested_multipart(depth: int) -> bytes:
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.4\r\ns=-\r\nc=IN IP4 192.0.2.4\r\nt=0 0\r\n"
    kind = b"application/sdp"
    for i in range(depth):
        boundary = b"b%d" % i
        body = (b"--" + boundary + b"\r\nContent-Type: " + kind + b"\r\n\r\n" + body + b"\r\n--" + boundary
                + b"--\r\n")
        kind = b"multipart/mixed;boundary=" + boundary
    head = (b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKn\r\nFrom: <sip:a@b>;tag=1\r\n"
            b"To: <sip:c@d>\r\nCall-ID: nested-%d@hostile\r\nCSeq: 1 INVITE\r\nContent-Type: %s\r\n"
            b"Content-Length: %d\r\n\r\n") % (depth, kind, len(body))
    return head + body


def _bounded(db_url: str, log: Path, baseline_rss: float) -> subprocess.CompletedProcess[str]:
    done = measured(ingest_argv(db_url, str(log)), timeout=120)
    assert done.result.returncode == 0, done.result.stderr
    assert "Traceback" not in done.result.stderr
    assert done.seconds < MAX_SECONDS, f"{done.seconds:.1f} s"
    assert done.peak_rss_mib < baseline_rss + MAX_EXTRA_RSS_MIB, (done.peak_rss_mib, baseline_rss)
    return done.result


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_10_mib_line_is_rejected_and_reading_goes_on(sqlite_url: str, tmp_path: Path, dialect: str,
                                                       baseline_rss: float) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(between(dialect, _giant_line(dialect)))
    _bounded(sqlite_url, log, baseline_rss)
    assert_sentinels(sqlite_url, 1)
    rejected = select(sqlite_url, "SELECT reason, LENGTH(raw) FROM rejects")
    assert len(rejected) == 1, rejected  # one line, one reject: its first MiB, the rest skipped
    assert "1048576 bytes" in rejected[0][0] and rejected[0][1] == 1 << 20


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_message_of_100000_headers(sqlite_url: str, tmp_path: Path, dialect: str, baseline_rss: float) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(between(dialect, entry("in", _many_headers(100_000), WHEN, dialect),
                            entry("in", _many_headers(30_000), WHEN, dialect)))
    _bounded(sqlite_url, log, baseline_rss)
    assert_sentinels(sqlite_url, 2)
    assert "headers-30000@hostile" in call_ids(sqlite_url)  # under the 1 MiB limit: stored in full
    big = select(sqlite_url, "SELECT length(raw_message), problems FROM sip_transactions "
                             "WHERE call_id = 'headers-100000@hostile'")
    assert big and big[0][0] <= 1 << 20 and "cut" in big[0][1], big  # 1.7 MB: stored cut, and said so
    assert select(sqlite_url, "SELECT COUNT(*) FROM sip_transactions WHERE call_id LIKE 'headers-%'")[0][0] \
        + select(sqlite_url, "SELECT COUNT(*) FROM rejects")[0][0] == 2


@pytest.mark.parametrize("dialect", DIALECTS)
def test_deeply_nested_multipart(sqlite_url: str, tmp_path: Path, dialect: str, baseline_rss: float) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(between(dialect, *(entry("in", _nested_multipart(d), WHEN, dialect) for d in (1, 5000))))
    _bounded(sqlite_url, log, baseline_rss)
    assert_sentinels(sqlite_url, 2)
    sdp = dict(select(sqlite_url, "SELECT call_id, sdp_content FROM sip_transactions "
                                  "WHERE call_id LIKE 'nested-%'"))
    assert sdp["nested-1@hostile"].startswith("v=0\no=- 1 1 IN IP4 192.0.2.4")
    assert "nested-5000@hostile" in sdp


# -- numbers too large for any column ------------------------------------------------------------

def _with(old: bytes, new: bytes) -> bytes:
    msg = sip_message("OPTIONS sip:a@b SIP/2.0", "number@hostile", "1 OPTIONS", branch="n", from_tag="n",
                      extra=["Reason: Q.850;cause=16"])
    assert old in msg
    return msg.replace(old, new)


HUGE_NUMBERS = {
    "content-length-2^63": _with(b"Content-Length: 0", b"Content-Length: 9223372036854775808"),
    "content-length-5000-digits": _with(b"Content-Length: 0", b"Content-Length: " + b"9" * 5000),
    "cseq-5000-digits": _with(b"CSeq: 1 OPTIONS", b"CSeq: " + b"7" * 5000 + b" OPTIONS"),
    "q850-cause-60000-digits": _with(b"cause=16", b"cause=" + b"1" * 60000),
    "q850-cause-2^31": _with(b"cause=16", b"cause=2147483648"),
}


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", list(HUGE_NUMBERS))
def test_numbers_too_large_for_any_column(db_url: str, tmp_path: Path, dialect: str, name: str) -> None:
    log = tmp_path / "pjsip"
    log.write_bytes(between(dialect, entry("in", HUGE_NUMBERS[name], WHEN, dialect)))
    done = ingest_ok(db_url, str(log))
    assert done.stderr == ""
    assert_sentinels(db_url, 1)
    column = {"content": "content_length", "cseq": "cseq", "q850": "q850_cause"}[name.split("-")[0]]
    stored = select(db_url, f"SELECT {column}, problems FROM sip_transactions WHERE call_id = 'number@hostile'")
    assert stored, "the message itself is stored, without the number"
    value, notes = stored[0]
    assert value is None
    assert len(notes or "") < 1000


@pytest.mark.parametrize("size", [b"9223372036854775808", b"9" * 60000], ids=["2^63", "60000-digits"])
def test_a_marker_announcing_an_absurd_size(db_url: str, tmp_path: Path, size: bytes) -> None:
    marker = (b"[Jun  1 09:00:00] VERBOSE[1] res_pjsip_logger.c: <--- Received SIP request (" + size
              + b" bytes) from UDP:192.0.2.20:5060 --->\n")
    log = tmp_path / "pjsip"
    log.write_bytes(between("full", marker + _with(b"Content-Length: 0", b"Content-Length: 0") + b"\n"))
    ingest_ok(db_url, str(log))
    assert_sentinels(db_url, 1)


@pytest.mark.parametrize("stamp, zone", [
    (b"[9999-12-31 23:59:59.999]", "America/New_York"),  # past year 9999 once in UTC
    (b"[0001-01-01 00:00:00]", "Asia/Tokyo"),  # before year 1 once in UTC
    (b"[2025-02-30 10:00:00]", "UTC"),  # no such day
])
def test_a_time_stamp_past_the_years_a_date_holds(db_url: str, tmp_path: Path, stamp: bytes, zone: str) -> None:
    odd = entry("in", sentinel("odd"), WHEN, "full").replace(b"[Jun  1 09:00:00]", stamp, 1)
    assert odd.startswith(stamp)
    log = tmp_path / "pjsip"
    log.write_bytes(between("full", odd))
    done = ingest_ok(db_url, "--tz", zone, str(log))
    assert done.stderr == ""
    assert_sentinels(db_url, 1)
    stored = select(db_url, "SELECT timestamp, problems FROM sip_transactions WHERE call_id = 'sentinel-odd@hostile'")
    assert stored == [(None, "no time stamp: the log line's was not a date (or not one UTC can hold)")]


def test_a_syslog_pid_of_5000_digits(sqlite_url: str, tmp_path: Path) -> None:
    hostile = entry("in", sentinel("pid"), WHEN, "syslog").replace(b"asterisk[4101]", b"asterisk[" + b"7" * 5000 + b"]")
    log = tmp_path / "pjsip"
    log.write_bytes(between("syslog", hostile))
    ingest_ok(sqlite_url, str(log))
    assert_sentinels(sqlite_url, 1)


# -- regular-expression denial of service ------------------------------------------------------

N = 60_000


def _variant(extra: list[str] | None = None, first: str = "OPTIONS sip:a@b SIP/2.0",
             replace: tuple[bytes, bytes] | None = None) -> bytes:
    msg = sip_message(first, "redos@hostile", "1 OPTIONS", branch="r", from_tag="r", extra=extra or [])
    return msg.replace(*replace) if replace else msg


REDOS_MESSAGES = {
    "spaces in a value": _variant(["X-S: " + " " * N + "x"]),
    "spaces before a colon": _variant(["X-S" + " " * N + ":x"]),
    "folded lines": _variant(["X-F: a" + "\r\n b" * (N // 4)]),
    "escaped quotes in a display name": _variant(replace=(b'"Alice"', b'"' + b'\\"' * (N // 2))),
    "unterminated quoted string": _variant(replace=(b'"Alice"', b'"' + b"a\\" * (N // 2))),
    "many parameters": _variant(replace=(b";tag=r", b";tag=r" + b";a=b" * (N // 4))),
    "many angle brackets": _variant(replace=(b"<sip:alice", b"<" * N + b"sip:alice")),
    "many at signs": _variant(replace=(b"sip:alice@", b"sip:" + b"a@" * (N // 2))),
    "many Via values": _variant(replace=(b"branch=z9hG4bKr", b"branch=z9hG4bKr" + b", SIP/2.0/UDP h" * (N // 16))),
    "spaces in the request line": _variant(first="OPTIONS " + " " * N + "sip:a@b SIP/2.0"),
    "a long reason phrase": _variant(first="SIP/2.0 200 " + "OK " * N),
    "a token run before the start line": _variant(replace=(b"OPTIONS sip:a@b SIP/2.0",
                                                           b"a" * N + b"\r\nOPTIONS sip:a@b SIP/2.0")),
}
REDOS_LINES = {
    "a long syslog host": b"Jun  1 09:00:00 " + b"a" * N + b" asterisk[1]: x\n",
    "digits": b"1" * N + b"\n",
    "brackets": b"[" * N + b"\n",
    "spaces": b" " * N + b"\n",
    "a long level pid": b"[Jun  1 09:00:00] VERBOSE[" + b"1" * N + b"] x\n",
    "a marker-like line": b"[Jun  1 09:00:00] VERBOSE[1] res_pjsip_logger.c: <--- Received SIP request (1 " * 900
                          + b"\n",
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_inputs_built_to_make_regular_expressions_backtrack(sqlite_url: str, tmp_path: Path, dialect: str,
                                                            baseline_rss: float) -> None:
    pieces = [entry("in", msg, WHEN, dialect) for msg in REDOS_MESSAGES.values()]
    pieces += [line * 5 for line in REDOS_LINES.values()]
    log = tmp_path / "pjsip"
    log.write_bytes(between(dialect, *pieces))
    _bounded(sqlite_url, log, baseline_rss)
    assert_sentinels(sqlite_url, len(pieces))
    assert call_ids(sqlite_url).count("redos@hostile") == len(REDOS_MESSAGES)


def test_a_catastrophic_user_pattern_times_out_instead_of_hanging() -> None:
    """A --define'd pattern that backtracks exponentially: that line times out, the next ones match."""
    lines = "x\n" + "a" * 40 + "\n" + "aaab\n"
    done = subprocess.run([*sipparse_argv(), "grok", "match", "--define", "EVIL=(a|a)+b", "%{EVIL:x}"],
                          input=lines, capture_output=True, text=True, timeout=60, env=child_env())
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["null", "null", '{"x": "aaab"}']
    assert "timed out" in done.stderr and "line 2" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_user_dialect_that_backtracks_times_out_instead_of_hanging_ingest(sqlite_url: str,
                                                                            tmp_path: Path) -> None:
    """A [[dialects]] prefix of DATA chains takes cubic time on a long line of spaces (hours
    for this one): the line times out like a grok match, and the lines after it are read."""
    config = tmp_path / "sipparse.toml"
    config.write_text('[[dialects]]\nname = "chained"\nlayout = "syslog"\n'
                      "line = '%{DATA:timestamp} %{DATA:host} %{DATA:program}\\[%{POSINT:pid}\\]: '\n")
    log = tmp_path / "chained.log"
    log.write_bytes(b"2025-06-01T09:00:00 " + b" " * 5000 + b"x\n"
                    + b"".join(b"2025-06-01T09:00:00 pbx asterisk[7]: " + line + b"#015\n"
                               for line in sentinel(1).split(b"\r\n")[:-1]))
    done = run([*sipparse_argv(), "--config", str(config), "--db", sqlite_url, "ingest", "--format", "chained",
                "--tz", "UTC", "--no-progress", str(log)], timeout=60)
    assert done.returncode == 0, done.stderr
    assert "timed out" in done.stderr and "Traceback" not in done.stderr
    assert call_ids(sqlite_url) == ["sentinel-1@hostile"]
