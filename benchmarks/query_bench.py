#!/usr/bin/env python3
"""How fast ``show CALL_ID`` and ``calls --since 1h`` answer on a big database.

Builds (or reuses) a database of synthetic calls with the store's own schema and indexes,
then times the query layer exactly as the commands run it (resolve the Call-ID, fetch,
render; filter, fetch, render), in-process, against a bare indexed SELECT of the same rows
on the same connection (the in-run baseline), and prints the query plans (EXPLAIN) so a
missing index shows. Targets: show under 50 ms, calls --since 1h under 1 s.

Usage:
  python3 benchmarks/query_bench.py [--messages N] [--backend sqlite|mysql|both]
                                    [--sqlite PATH] [--mysql-url URL] [--rebuild] [--repeat K]

Defaults: 10,000,000 messages, both backends; the SQLite file is kept in
/tmp/sipparse-query-bench/ and reused by later runs with the same --messages; without
--mysql-url a throwaway MariaDB is started (tests/mysql_server.py) and the database rebuilt.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sipparse.config import parse_db_url  # noqa: E402
from sipparse.query import calls as calls_lib  # noqa: E402
from sipparse.query import show as show_lib  # noqa: E402
from sipparse.query.render import Terminal  # noqa: E402
from sipparse.query.times import Clock, as_datetime, parse_time_bound  # noqa: E402
from sipparse.store import open_store, schema  # noqa: E402

SPAN = timedelta(days=30)
BATCH = 200_000
MESSAGE_COLS = (
    "call_id", "sip_method", "method", "status_code", "reason_phrase", "from_sip", "from_user", "from_tag",
    "to_sip", "to_user", "to_tag", "cseq", "cseq_method", "via_branch", "sdp_content", "timestamp",
    "direction", "transport", "peer", "host", "source_fingerprint", "source_offset", "source_end",
    "raw_message",
)
CALL_COLS = (
    "call_id", "kind", "state", "first_seen", "last_seen", "from_user", "to_user", "from_sip", "to_sip",
    "final_status", "final_reason", "setup_ms", "duration_s", "message_count", "retransmissions", "hangup_by",
    "q850_cause", "host",
)
SDP = ("v=0\no=- 1 1 IN IP4 10.1.0.{n}\ns=-\nc=IN IP4 10.1.0.{n}\nt=0 0\nm=audio 6000 RTP/AVP 0"
       "\na=rtpmap:0 PCMU/8000")
# (offset s, first line, method, code, cseq, cseq method, direction, sdp?)
ANSWERED = (
    (0.0, "INVITE", "INVITE", None, 1, "INVITE", "in", True),
    (0.02, "100 Trying", None, 100, 1, "INVITE", "out", False),
    (0.5, "180 Ringing", None, 180, 1, "INVITE", "out", False),
    (3.0, "200 OK", None, 200, 1, "INVITE", "out", True),
    (3.05, "ACK", "ACK", None, 1, "ACK", "in", False),
    (63.0, "BYE", "BYE", None, 2, "BYE", "in", False),
    (63.02, "200 OK", None, 200, 2, "BYE", "out", False),
    (63.5, "200 OK", None, 200, 2, "BYE", "out", False),  # a retransmission
)
BUSY = (
    (0.0, "INVITE", "INVITE", None, 1, "INVITE", "in", True),
    (0.02, "100 Trying", None, 100, 1, "INVITE", "out", False),
    (1.0, "486 Busy Here", None, 486, 1, "INVITE", "out", False),
    (1.05, "ACK", "ACK", None, 1, "ACK", "in", False),
)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def text_time(moment: datetime) -> str:
    return moment.isoformat(sep=" ", timespec="microseconds" if moment.microsecond else "seconds")


def pattern_of(n: int) -> tuple[tuple[Any, ...], ...]:
    """Every fifth call is busy, the others are answered and hung up by the caller."""
    return BUSY if n % 5 == 4 else ANSWERED


def count_calls(total: int) -> int:
    calls = made = 0
    while made < total:
        made += len(pattern_of(calls))
        calls += 1
    return calls


def synthetic(total: int, end: datetime) -> Iterator[tuple[tuple[Any, ...] | None, tuple[Any, ...] | None]]:
    """(message row, None) for each message and (None, call row) after each call, in time order;
    each row ends with its call's number (``call_ref``, which only SQLite stores)."""
    calls = count_calls(total)
    step = SPAN / calls
    start0 = end - SPAN
    made = offset = 0
    for n in range(calls):
        pattern = pattern_of(n)
        start = start0 + n * step
        call_id = f"{n:08x}-{random.getrandbits(48):012x}@bench.example.net"
        frm, to = f"1{n % 900:03d}", f"2{n % 97:03d}"
        for at, first, method, code, cseq, cseq_method, direction, has_sdp in pattern:
            if made >= total:
                return
            ts = text_time(start + timedelta(seconds=at))
            raw = f"{first} SIP/2.0\r\nCall-ID: {call_id}\r\nCSeq: {cseq} {cseq_method}\r\n\r\n".encode()
            sdp = SDP.format(n=n % 250) if has_sdp else None
            yield (call_id, first, method, code, first[4:] if code else None,
                   f"<sip:{frm}@10.1.0.9>;tag=a{n}", frm, f"a{n}", f"<sip:{to}@10.0.0.1>", to,
                   f"b{n}" if code or cseq > 1 else None, cseq,
                   cseq_method, f"z9hG4bK{n}-{cseq}", sdp, ts, direction,
                   "UDP", f"10.1.0.{n % 250}:5060", "pbx1", "bench", offset, offset + len(raw), raw, n + 1), None
            offset += len(raw) + 80
            made += 1
        busy = pattern is BUSY
        last = start + timedelta(seconds=pattern[-1][0])
        yield None, (call_id, "call", "busy" if busy else "completed", text_time(start), text_time(last),
                     frm, to, f"<sip:{frm}@10.1.0.9>;tag=a{n}", f"<sip:{to}@10.0.0.1>", 486 if busy else 200,
                     "Busy Here" if busy else "OK", 1000 if busy else 3000, None if busy else 60.0,
                     len(pattern), 0 if busy else 1, None if busy else "caller", None if busy else 16, "pbx1", n + 1)


class Backend:
    """A raw DB-API connection for building and for the baseline query."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.parsed = parse_db_url(url)
        self.name = "mysql" if self.parsed.is_mysql else "sqlite"
        self.mark = "%s" if self.name == "mysql" else "?"
        refs = ("call_ref",) if self.name == "sqlite" else ()
        self.message_cols, self.call_cols = MESSAGE_COLS + refs, CALL_COLS + refs
        self.con: Any = None

    def connect(self) -> None:
        if self.name == "sqlite":
            self.con = sqlite3.connect(self.parsed.path or "")
            return
        import mysql.connector

        p = self.parsed
        self.con = mysql.connector.connect(host=p.host, port=p.port or 3306, user=p.user,
                                           password=p.password or "", database=p.database, autocommit=False,
                                           allow_local_infile=True)

    def q(self, name: str) -> str:
        return schema.quote(name, self.name)

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.con.cursor()
        cur.execute(sql.replace("?", self.mark), params)
        found = cur.fetchall()
        cur.close()
        return found

    def insert_sql(self, table: str, columns: tuple[str, ...]) -> str:
        names = ", ".join(self.q(c) for c in columns)
        return f"INSERT INTO {self.q(table)} ({names}) VALUES ({', '.join([self.mark] * len(columns))})"


def count_messages(db: Backend) -> int:
    try:
        return int(db.rows("SELECT COUNT(*) FROM sip_transactions")[0][0])
    except Exception:
        return -1


def build(db: Backend, total: int) -> float:
    """Fill an empty database made by open_store; secondary indexes are rebuilt afterwards."""
    started = time.perf_counter()
    open_store(db.parsed).close()
    db.connect()
    indexes = schema.indexes(db.name)
    names = [n for n, (table, _, unique) in indexes.items() if table in ("sip_transactions", "calls")]
    for name in names:
        table = indexes[name][0]
        db.rows(f"DROP INDEX {name} ON {table}" if db.name == "mysql" else f"DROP INDEX IF EXISTS {name}")
    if db.name == "sqlite":
        db.con.execute("PRAGMA synchronous=OFF")
    msg_sql, call_sql = db.insert_sql("sip_transactions", db.message_cols), db.insert_sql("calls", db.call_cols)
    messages: list[tuple[Any, ...]] = []
    calls: list[tuple[Any, ...]] = []
    width = len(db.message_cols), len(db.call_cols)
    for message, call in synthetic(total, utc_now()):
        if message:
            messages.append(message[:width[0]])
        else:
            calls.append(call[:width[1]])  # type: ignore[index]
        if len(messages) >= BATCH:
            _flush(db, msg_sql, messages, call_sql, calls)
    _flush(db, msg_sql, messages, call_sql, calls)
    for name in names:
        db.rows(schema.create_index(name, db.name))
    db.con.commit()
    if db.name == "sqlite":
        db.con.execute("ANALYZE")
    else:
        db.rows("ANALYZE TABLE sip_transactions, calls")
    return time.perf_counter() - started


def _flush(db: Backend, msg_sql: str, messages: list, call_sql: str, calls: list) -> None:  # type: ignore[type-arg]
    if db.name == "mysql":
        _load_data(db, "sip_transactions", db.message_cols, messages)
        _load_data(db, "calls", db.call_cols, calls)
    else:
        cur = db.con.cursor()
        cur.executemany(msg_sql, messages)
        cur.executemany(call_sql, calls)
    db.con.commit()
    messages.clear()
    calls.clear()


def _escaped(value: Any) -> str:
    """A field that may hold tabs, newlines or backslashes, escaped as LOAD DATA reads it."""
    text = value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r").replace("\0", "\\0"))


def _tsv(rows: list[tuple[Any, ...]], columns: tuple[str, ...]) -> bytes:
    """Rows as LOAD DATA's default format: tab-separated, NULL as \\N, escapes where needed."""
    free = [i for i, c in enumerate(columns) if c in ("sdp_content", "raw_message", "from_sip", "to_sip")]
    lines = []
    for row in rows:
        fields = ["\\N" if v is None else str(v) for v in row]
        for i in free:
            if row[i] is not None:
                fields[i] = _escaped(row[i])
        lines.append("\t".join(fields))
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape")


def _load_data(db: Backend, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """MySQL's bulk path: the rows as a tab-separated file, read by LOAD DATA LOCAL INFILE."""
    if not rows:
        return
    with tempfile.NamedTemporaryFile("wb", suffix=".tsv") as fh:
        fh.write(_tsv(rows, columns))
        fh.flush()
        names = ", ".join(db.q(c) for c in columns)
        cur = db.con.cursor()
        cur.execute(f"LOAD DATA LOCAL INFILE '{fh.name}' INTO TABLE {db.q(table)} CHARACTER SET utf8mb4 "
                    f"FIELDS TERMINATED BY '\\t' LINES TERMINATED BY '\\n' ({names})")
        cur.close()


def timed(func: Callable[[], Any], repeat: int) -> list[float]:
    """Milliseconds of each of ``repeat`` calls."""
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        out.append((time.perf_counter() - started) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ordered = sorted(ms)
    p95 = ordered[max(0, int(round(0.95 * len(ordered))) - 1)]
    return f"median {statistics.median(ms):7.2f} ms  p95 {p95:7.2f} ms  max {max(ms):7.2f} ms"


def explain(db: Backend, sql: str, params: tuple[Any, ...]) -> list[str]:
    prefix = "EXPLAIN QUERY PLAN " if db.name == "sqlite" else "EXPLAIN "
    rows = db.rows(prefix + sql, params)
    if db.name == "sqlite":
        return [str(r[-1]) for r in rows]
    return [f"table={r[2]} type={r[3]} key={r[5]} rows={r[8]} extra={r[9]}" for r in rows]


def full_scan(db: Backend, plan: list[str]) -> bool:
    if db.name == "sqlite":
        return any(line.startswith("SCAN") and "INDEX" not in line for line in plan)
    return any(" type=ALL " in line for line in plan)


def measure(db: Backend, repeat: int) -> dict[str, Any]:
    """Time show and calls as the commands run them, and the bare baseline query."""
    store = open_store(db.parsed)
    clock, term = Clock(), Terminal(width=160)
    sample = [r[0] for r in db.rows("SELECT call_id FROM calls ORDER BY first_seen DESC LIMIT 2000")]
    picks = [random.choice(sample) for _ in range(repeat)]
    it = iter(picks * 3)

    def show() -> None:
        ids, messages = show_lib.show_call(store, [next(it)])
        show_lib.render_show_table(messages, clock, term)

    by_ref = db.name == "sqlite"  # SQLite finds a call's messages by its number (schema version 4)
    bare_sql = ("SELECT * FROM sip_transactions WHERE call_ref = (SELECT call_ref FROM calls WHERE call_id = ?) "
                "ORDER BY timestamp, id" if by_ref else
                "SELECT * FROM sip_transactions WHERE call_id = ? ORDER BY timestamp, id")
    # "--since 1h" before the newest call, so a database built days ago measures the same thing
    newest = db.rows("SELECT first_seen FROM calls ORDER BY first_seen DESC LIMIT 1")[0][0]
    newest_clock = Clock(now_utc=min(clock.now_utc, as_datetime(newest) or clock.now_utc))
    flt = calls_lib.CallFilter(since=parse_time_bound("1h", newest_clock))

    def calls() -> None:
        calls_lib.render_calls_table(calls_lib.list_calls(store, flt), clock, term)

    def calls_all() -> None:
        calls_lib.render_calls_table(calls_lib.list_calls(store, calls_lib.CallFilter()), clock, term)

    since_sql, since_params = calls_lib.calls_query(flt, db.name)
    _, check = show_lib.show_call(store, [picks[0]])
    assert check and bytes(check[0]["raw_message"]).startswith(check[0]["sip_method"].encode()), "bad rows"
    result = {
        "show": timed(show, repeat),
        "bare": timed(lambda: db.rows(bare_sql, (next(it),)), repeat),
        "calls_1h": timed(calls, repeat),
        "calls_newest": timed(calls_all, repeat),
        "plan_show": explain(db, show_lib.fetch_messages_sql(1, by_ref), (picks[0],) * (1 + by_ref)),
        "plan_calls": explain(db, since_sql, tuple(since_params)),
        "process": timed(lambda: subprocess.run(
            [sys.executable, "-m", "sipparse", "--db", db.url, "show", picks[1]], check=True,
            capture_output=True, cwd=ROOT), 3),
        "recent_calls": len(calls_lib.list_calls(store, calls_lib.CallFilter(since=flt.since, limit=None))),
    }
    store.close()
    return result


def report(db: Backend, total: int, built: float | None, result: dict[str, Any]) -> bool:
    print(f"\n== {db.name}: {total:,} messages" + (f" (built in {built:.0f} s)" if built else " (reused)"))
    print(f"show CALL_ID            {summary(result['show'])}")
    print(f"  bare SELECT baseline  {summary(result['bare'])}")
    ratio = statistics.median(result["show"]) / max(1e-9, statistics.median(result["bare"]))
    print(f"  show / baseline       {ratio:.1f}x")
    recent = result["recent_calls"]
    print(f"calls --since 1h        {summary(result['calls_1h'])}  ({recent} calls in that hour)")
    print(f"calls (newest 50)       {summary(result['calls_newest'])}")
    print(f"sipparse show (process) {summary(result['process'])}  (start-up and imports included)")
    for name in ("plan_show", "plan_calls"):
        print(f"  {name}: " + " | ".join(result[name]))
    fine = (statistics.median(result["show"]) < 50 and statistics.median(result["calls_1h"]) < 1000
            and not full_scan(db, result["plan_show"]) and not full_scan(db, result["plan_calls"]))
    print(f"  targets (show < 50 ms, calls --since 1h < 1 s, indexes used): {'met' if fine else 'NOT MET'}")
    return fine


def run_backend(url: str, total: int, rebuild: bool, repeat: int) -> bool:
    db = Backend(url)
    built = None
    if db.name == "sqlite" and rebuild and Path(db.parsed.path or "").exists():
        os.unlink(db.parsed.path or "")
    if db.name == "sqlite":
        db.connect()
    if db.name == "mysql" or count_messages(db) != total:
        if db.name == "sqlite" and Path(db.parsed.path or "").exists():
            db.con.close()
            os.unlink(db.parsed.path or "")
        built = build(db, total)
    elif db.con is None:
        db.connect()
    return report(db, total, built, measure(db, repeat))


def mysql_url(given: str | None) -> tuple[str, Any]:
    """A fresh benchmark database on the given server, or on a throwaway one."""
    server = None
    if given is None:
        from tests.mysql_server import ThrowawayServer

        server = ThrowawayServer()
        if not server.available:
            raise SystemExit("no mariadbd/mysqld to start; give --mysql-url")
        given = server.start()
    import mysql.connector

    p = parse_db_url(given)
    con = mysql.connector.connect(host=p.host, port=p.port or 3306, user=p.user, password=p.password or "")
    cur = con.cursor()
    cur.execute("DROP DATABASE IF EXISTS sipparse_query_bench")
    cur.execute("CREATE DATABASE sipparse_query_bench CHARACTER SET utf8mb4")
    con.close()
    auth = p.user + (f":{p.password}" if p.password else "")
    return f"mysql://{auth}@{p.host}:{p.port or 3306}/sipparse_query_bench", server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=10_000_000)
    parser.add_argument("--backend", choices=["sqlite", "mysql", "both"], default="both")
    parser.add_argument("--sqlite", default=None, help="SQLite file (default /tmp/sipparse-query-bench/N.db)")
    parser.add_argument("--mysql-url", default=None, help="server URL with rights to create a database")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    random.seed(7)
    fine = True
    if args.backend in ("sqlite", "both"):
        path = Path(args.sqlite or f"/tmp/sipparse-query-bench/{args.messages}.db")
        path.parent.mkdir(parents=True, exist_ok=True)
        fine &= run_backend(f"sqlite:///{path}", args.messages, args.rebuild, args.repeat)
    if args.backend in ("mysql", "both"):
        url, server = mysql_url(args.mysql_url)
        try:
            fine &= run_backend(url, args.messages, True, args.repeat)
        finally:
            if server:
                server.stop()
    return 0 if fine else 1


if __name__ == "__main__":
    sys.exit(main())
