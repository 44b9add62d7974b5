"""Write throughput of the storage layer, against a bare executemany of the same rows.

Usage::

    python benchmarks/store_bench.py [--messages N] [--batch B] [--backend sqlite|mysql|both]
                                     [--mysql-url mysql://root@127.0.0.1:3306/mysql] [--cpu N]

Messages are built in memory (calls of INVITE/100/180/200/ACK/BYE/200 with SDP bodies, about
as large as real ones). For each backend two fresh databases with the full schema and all
indexes are filled:

* ``store``: ``Store.prepare_batch`` and ``write_prepared`` per batch: row building,
  duplicate-proof inserts, checkpoint upsert and the recomputed ``calls`` rows, in
  transactions of ``batches_per_commit`` batches (SQLite 8, MySQL 1) as ingest writes them;
* ``prepared``: ``Store.write_prepared`` alone, of batches prepared beforehand with
  ``calls_ahead`` (untimed): what the storing process does when ``ingest --workers`` has a
  parse worker build the rows and the new calls' summaries;
* ``bare``: a plain ``executemany`` INSERT of the same, already built, rows, as many
  batches a transaction, on the store's connection with its pragmas: the floor the database
  itself sets;
* for SQLite also ``bare`` on a connection with SQLite's default settings (but for
  ``synchronous = NORMAL``), which shows what the store's pragmas are worth.

It prints messages/s (wall clock, best of ``--rounds``) for both, their ratio (store/bare),
which stays comparable on a busy machine, and messages per CPU second of this process (for
MySQL the server's own work is not in it). Without ``--mysql-url`` a throwaway MariaDB is started when the
suite's helper and a server binary are available. ``--cpu`` pins this process to one core.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from itertools import chain
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sipparse.sip.message import SipMessage, Source  # noqa: E402
from sipparse.store import Checkpoint, Store, open_store, rows  # noqa: E402
from sipparse.store.base import multi_row_sql  # noqa: E402
from sipparse.store.sqlite import ROWS_PER_STATEMENT  # noqa: E402

SDP = (
    "v=0\no=- 1 1 IN IP4 10.0.0.5\ns=Asterisk\nc=IN IP4 10.0.0.5\nt=0 0\nm=audio 14000 RTP/AVP 0 8 101\n"
    "a=rtpmap:0 PCMU/8000\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\na=sendrecv\n"
)
STEPS = (
    ("INVITE", None, True),
    (None, 100, False),
    (None, 180, True),
    (None, 200, True),
    ("ACK", None, True),
    ("BYE", None, True),
    (None, 200, True),
)
REASONS = {100: "Trying", 180: "Ringing", 200: "OK"}


def build_messages(count: int, source: Source) -> list[SipMessage]:
    """``count`` messages of 7-message calls, timestamps increasing, offsets contiguous."""
    out: list[SipMessage] = []
    start, offset = datetime(2025, 2, 1, 18, 0, 0), 0
    for n in range(count):
        call, step = divmod(n, len(STEPS))
        method, code, tagged = STEPS[step]
        cseq_method = "BYE" if step >= 5 else ("ACK" if method == "ACK" else "INVITE")
        message = _message(
            call,
            step,
            method,
            code,
            tagged,
            cseq_method,
            source,
            offset,
            start + timedelta(milliseconds=40 * n),
        )
        offset = message.end
        out.append(message)
    return out


def _message(
    call: int,
    step: int,
    method: str | None,
    code: int | None,
    tagged: bool,
    cseq_method: str,
    source: Source,
    offset: int,
    when: datetime,
) -> SipMessage:
    call_id = f"{call:08x}-4f2a-bench@10.0.0.5"
    first = method or f"{code} {REASONS[code or 200]}"
    sdp = SDP if step in (0, 3) else None
    from_sip = f'"Alice {call}" <sip:{1000 + call % 500}@pbx.example.com>;tag=as{call:08x}'
    to_sip = f"<sip:{2000 + call % 700}@pbx.example.com>" + (f";tag=bx{call:08x}" if tagged and step else "")
    head = f"{method} sip:{2000 + call % 700}@10.0.0.9:5060 SIP/2.0" if method else f"SIP/2.0 {first}"
    raw = (
        f"{head}\r\nVia: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK{call:08x}{step}\r\n"
        f"Max-Forwards: 70\r\nFrom: {from_sip}\r\nTo: {to_sip}\r\nContact: <sip:asterisk@10.0.0.5:5060>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {2 if step >= 5 else 1} {cseq_method}\r\n"
        f"User-Agent: Asterisk PBX 22.1.0\r\nAllow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY\r\n"
        f"Content-Length: {len(sdp or '')}\r\n\r\n{(sdp or '').replace(chr(10), chr(13) + chr(10))}"
    ).encode()
    return SipMessage(
        source=source,
        offset=offset,
        end=offset + len(raw) + 200,
        raw_message=raw,
        timestamp=when,
        sip_method=first,
        method=method,
        request_uri=f"sip:{2000 + call % 700}@10.0.0.9:5060" if method else None,
        status_code=code,
        reason_phrase=REASONS.get(code or 0),
        call_id=call_id,
        from_sip=from_sip,
        from_display=f"Alice {call}",
        from_user=str(1000 + call % 500),
        from_host="pbx.example.com",
        from_tag=f"as{call:08x}",
        to_sip=to_sip,
        to_user=str(2000 + call % 700),
        to_host="pbx.example.com",
        to_tag=f"bx{call:08x}" if tagged and step else None,
        cseq=2 if step >= 5 else 1,
        cseq_method=cseq_method,
        via=f"SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bK{call:08x}{step}",
        via_branch=f"z9hG4bK{call:08x}{step}",
        contact="<sip:asterisk@10.0.0.5:5060>",
        user_agent="Asterisk PBX 22.1.0",
        content_type="application/sdp" if sdp else None,
        content_length=len(sdp or ""),
        reason_header="Q.850;cause=16" if step == 5 else None,
        q850_cause=16 if step == 5 else None,
        sdp_content=sdp,
        direction="in" if step % 2 == 0 else "out",
        transport="UDP",
        peer="10.0.0.9:5060",
        marker_bytes=len(raw),
        host="pbx-a",
        pid=4101,
        dialect="syslog",
    )


def _batches(items: list[SipMessage], size: int) -> Iterator[list[SipMessage]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def run_store(store: Store, messages: list[SipMessage], batch: int) -> float:
    """Seconds to prepare and write everything as ingest does, a checkpoint with each batch."""
    started = time.perf_counter()
    for part in _batches(messages, batch):
        last = part[-1]
        checkpoint = Checkpoint(last.source.fingerprint, last.source.path, last.end, last.end)
        _write_as_ingest(store, store.prepare_batch(part, [], [checkpoint]))
    store.commit_pending()
    return time.perf_counter() - started


def _write_as_ingest(store: Store, prepared: Any) -> None:
    """``write_prepared`` with a transaction left open for ``batches_per_commit`` batches
    (each counted as one byte of log)."""
    store.write_prepared(prepared, 1, store.batches_per_commit)


def run_prepared(store: Store, messages: list[SipMessage], batch: int) -> float:
    """Seconds for ``write_prepared`` alone, of batches prepared beforehand (not timed) with
    ``calls_ahead``: the storing process's share when a parse worker prepares the rows
    (``ingest --workers``)."""
    prepared = []
    for part in _batches(messages, batch):
        last = part[-1]
        checkpoint = Checkpoint(last.source.fingerprint, last.source.path, last.end, last.end)
        prepared.append(store.prepare_batch(part, [], [checkpoint], calls_ahead=True))
    started = time.perf_counter()
    for item in prepared:
        _write_as_ingest(store, item)
    store.commit_pending()
    return time.perf_counter() - started


def run_bare(store: Store, messages: list[SipMessage], batch: int) -> float:
    """Seconds for a plain executemany of the same rows (built beforehand, not timed), on the
    store's own connection: the same pragmas, the same multi-row statements."""
    return _bare(store, messages, batch, store._begin, store.executemany, store.commit)


def run_bare_defaults(store: Store, messages: list[SipMessage], batch: int) -> float:
    """``run_bare`` on a second connection to the same SQLite file with SQLite's own settings
    (page cache, checkpoints, temporary storage) but for ``synchronous = NORMAL`` (the WAL
    mode is the file's): what sipparse's pragmas gain on the bare insert."""
    plain = sqlite3.connect(store.url.path or "", isolation_level=None)
    plain.execute("PRAGMA synchronous = NORMAL")

    def executemany(sql: str, seq: list[tuple[Any, ...]]) -> None:
        whole = len(seq) - len(seq) % ROWS_PER_STATEMENT
        groups = [list(chain.from_iterable(seq[start : start + ROWS_PER_STATEMENT]))
                  for start in range(0, whole, ROWS_PER_STATEMENT)]
        plain.executemany(multi_row_sql(sql, ROWS_PER_STATEMENT), groups)
        plain.executemany(sql, seq[whole:])

    try:
        return _bare(store, messages, batch, lambda: plain.execute("BEGIN IMMEDIATE"), executemany,
                     lambda: plain.execute("COMMIT"))
    finally:
        plain.close()


def _bare(store: Store, messages: list[SipMessage], batch: int, begin: Callable[[], Any],
          executemany: Callable[[str, list[tuple[Any, ...]]], Any], commit: Callable[[], Any]) -> float:
    now = datetime.now(UTC).replace(tzinfo=None)
    built = rows.message_rows(messages, now, store.fmt_times).rows
    names = ", ".join(store.q(c.name) for c in rows.ROW_COLUMNS)
    marks = ", ".join([store.placeholder] * len(rows.ROW_COLUMNS))
    sql = f"INSERT INTO sip_transactions ({names}) VALUES ({marks})"
    per_commit = batch * store.batches_per_commit  # rows a transaction, as ``run_store`` has them
    started = time.perf_counter()
    for start in range(0, len(built), per_commit):
        begin()
        for piece in range(start, min(start + per_commit, len(built)), 1000):  # as write_batch sizes its packets
            executemany(sql, built[piece : min(piece + 1000, start + per_commit)])
        commit()
    return time.perf_counter() - started


def bench(
    name: str, fresh: Callable[[], AbstractContextManager[str]], messages: list[SipMessage], batch: int,
    rounds: int,
) -> None:
    """Best of ``rounds`` for each method, bare and store alternating, fresh database each time."""
    runners: dict[str, Callable[[Store, list[SipMessage], int], float]] = {
        "bare": run_bare, "store": run_store, "prepared": run_prepared}
    if name == "sqlite":
        runners["defaults"] = run_bare_defaults
    wall = dict.fromkeys(runners, 0.0)
    cpu = dict.fromkeys(runners, 0.0)
    for _ in range(rounds):
        for kind, runner in runners.items():
            with fresh() as url, open_store(url) as store:
                started = time.process_time()
                rate = len(messages) / runner(store, messages, batch)
                cpu_rate = len(messages) / max(time.process_time() - started, 1e-9)
                stored = store.fetchall("SELECT COUNT(*) AS n FROM sip_transactions")[0]["n"]
                assert stored == len(messages), (kind, stored)
            wall[kind], cpu[kind] = max(wall[kind], rate), max(cpu[kind], cpu_rate)
    print(
        f"{name:7s} {len(messages):7d} msgs, batch {batch}: store {wall['store']:7.0f} msg/s, "
        f"bare executemany {wall['bare']:7.0f} msg/s, ratio {wall['store'] / wall['bare']:.2f} "
        f"| per client CPU second: store {cpu['store']:7.0f}, bare {cpu['bare']:7.0f}"
    )
    print(f"{'':7s} write_prepared of rows prepared elsewhere (the storing process of ingest --workers) "
          f"{wall['prepared']:7.0f} msg/s (CPU {cpu['prepared']:7.0f}), ratio to store "
          f"{wall['prepared'] / wall['store']:.2f}")
    if "defaults" in runners:
        print(f"{'':7s} bare executemany with SQLite's default settings {wall['defaults']:7.0f} msg/s "
              f"(CPU {cpu['defaults']:7.0f}), ratio ours/defaults {wall['bare'] / wall['defaults']:.2f}")


@contextmanager
def mysql_root(url: str | None) -> Iterator[str | None]:
    if url:
        yield url
        return
    from tests.mysql_server import throwaway_server_url

    with throwaway_server_url() as root:
        yield root


def mysql_database(root: str) -> Callable[[], AbstractContextManager[str]]:
    """A maker of fresh databases of their own on the server of ``root``, dropped after use."""
    from sipparse.config import parse_db_url
    from sipparse.store.mysql import _connector

    connector = _connector()  # as sipparse itself loads it: with the C extension when it can
    parsed = parse_db_url(root)

    def admin(sql: str) -> None:
        con = connector.connect(host=parsed.host, port=parsed.port or 3306, user=parsed.user or "root",
                                password=parsed.password or "")
        con.cursor().execute(sql)
        con.close()

    @contextmanager
    def fresh() -> Iterator[str]:
        name = "sipparse_bench_" + uuid.uuid4().hex[:8]
        admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        try:
            yield root.rsplit("/", 1)[0] + "/" + name
        finally:
            admin(f"DROP DATABASE IF EXISTS `{name}`")

    return fresh


def sqlite_database(directory: str) -> Callable[[], AbstractContextManager[str]]:
    """A maker of fresh SQLite files in ``directory``, deleted after use."""
    counter = iter(range(1 << 30))

    @contextmanager
    def fresh() -> Iterator[str]:
        path = Path(directory) / f"bench{next(counter)}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for leftover in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
                leftover.unlink(missing_ok=True)

    return fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--backend", choices=("sqlite", "mysql", "both"), default="both")
    parser.add_argument("--mysql-url", default=os.environ.get("SIPPARSE_BENCH_MYSQL_URL"))
    parser.add_argument("--rounds", type=int, default=2, help="best of this many runs of each")
    parser.add_argument("--cpu", type=int, default=None, help="pin this process to this core")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    source = Source("/var/log/asterisk/pjsip", "bench-" + uuid.uuid4().hex[:8])
    messages = build_messages(args.messages, source)
    print(
        f"{len(messages)} messages, {sum(len(m.raw_message) for m in messages) / len(messages):.0f} bytes "
        f"raw on average, {len(messages) // len(STEPS)} calls"
    )
    if args.backend in ("sqlite", "both"):
        with tempfile.TemporaryDirectory() as tmp:
            bench("sqlite", sqlite_database(tmp), messages, args.batch, args.rounds)
    if args.backend in ("mysql", "both"):
        from sipparse.store.mysql import _connector

        print(f"mysql connector: {'C extension' if _connector().HAVE_CEXT else 'pure Python'}")
        with mysql_root(args.mysql_url) as root:
            if root is None:
                print("mysql   skipped: no --mysql-url and no server binary for a throwaway one")
                return
            bench("mysql", mysql_database(root), messages, args.batch, args.rounds)


if __name__ == "__main__":
    main()
