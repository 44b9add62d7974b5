#!/usr/bin/env python3
"""Instructions an ingest executes, counted by valgrind's callgrind: a figure that does not
drift with the machine's load, for comparing two versions on a shared machine.

Usage: python3 benchmarks/instructions.py [--size 16M] [--dialect full|syslog|rfc5424]
                                          [--input LOG] [--workers 0] [--worker] [--keep DIR]

Wall-clock figures on a shared machine move by a factor of two from one hour to the next,
which hides any change of a few per cent. callgrind runs the program on a simulated CPU
and counts the instructions of every function: the same count, busy machine or idle. The
log is ingested once (``sipparse ingest --workers 0``, everything in one process, into a
new SQLite file) and once empty, so the interpreter's start-up is taken out; what remains
is given per message and per byte, and split into the parts of an ingest: SQLite's work,
the binding of values (``_sqlbind``), the C readers of the log (``_scan``, ``_address``),
and the rest (Python, the C library, the kernel's entry points as seen from user space).

With ``--worker`` the parse worker of a one-worker ingest is counted alone: its run and its
sending thread (callgrind collects inside them only), every batch prepared there (a worker
otherwise leaves some to the storing process when that one waits, as timing decides).

Instructions are not time: a cache miss or an atomic lock costs more than an add, and
callgrind counts each byte of ``rep movsb`` (large copies) as one instruction. Use the
counts to compare versions of the same code, and wall times (``run.py``) for speed.
Needs valgrind (``apt-get install valgrind``); 16 MiB take a minute or two.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
# inclusive counts of these functions give the parts of an ingest (they do not nest)
PARTS = {
    "SQLite (sqlite3_step)": r"sqlite3_step",
    "binding values (sqlite3_bind_*)": r"sqlite3_bind_(?:text|blob|int64|double|null)",
    "C log readers, messages made (_scan)": r"read_full_entries|syslog_messages",
}


def callgrind(argv: list[str], out: Path) -> None:
    """Run ``argv`` under callgrind, its counts in ``out``; raise if it fails."""
    cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *argv]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"instructions: {' '.join(argv)} failed under valgrind:\n{done.stderr[-2000:]}")


def inclusive(out: Path) -> tuple[int, dict[str, int]]:
    """The program's total and each function's inclusive count (the largest of its entries)."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", str(out)],
                          capture_output=True, text=True, check=True).stdout
    total = int(re.search(r"([\d,]+) \([^)]*\)\s+PROGRAM TOTALS", text).group(1).replace(",", ""))
    counts: dict[str, int] = {}
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+) \([^)]*\)\s+\S*?:([\w.]+)(?:'\d+)? ", line)
        if m:
            name, count = m.group(2), int(m.group(1).replace(",", ""))
            counts[name] = max(count, counts.get(name, 0))
    return total, counts


def parts(counts: dict[str, int]) -> dict[str, int]:
    """Each part's instructions: the sum of its functions' inclusive counts."""
    return {label: sum(c for name, c in counts.items() if re.fullmatch(pattern, name))
            for label, pattern in PARTS.items()}


# A one-worker ingest whose worker prepares every batch, its run and its sending thread each
# inside a call of functools.reduce, which ``--toggle-collect`` names: callgrind counts them
# alone, in the worker's own file.
WORKER_ONLY = """
import functools, sys
from sipparse import handover, ingest
ingest.ParseWorker._storing_waits = lambda self: False
run, write_all = ingest.ParseWorker._run, handover.Handover._write_all
ingest.ParseWorker._run = lambda self, *a: functools.reduce(lambda _x, _y: run(self, *a), [0, 0])
handover.Handover._write_all = lambda self: functools.reduce(lambda _x, _y: write_all(self), [0, 0])
from sipparse.cli import main
sys.argv[0] = "sipparse"
main()
"""


def ingest_argv(db: Path, log: Path, workers: int, worker_only: bool = False) -> list[str]:
    start = [sys.executable, "-c", WORKER_ONLY] if worker_only else [sys.executable, "-m", "sipparse"]
    return [*start, "--db", f"sqlite:///{db}", "ingest", "--tz", "UTC", "--no-progress", "--workers", str(workers),
            str(log)]


def worker_callgrind(db: Path, log: Path, out: Path) -> int:
    """The instructions of the parse worker of a one-worker ingest, alone (``WORKER_ONLY``)."""
    cmd = ["valgrind", "--tool=callgrind", "--toggle-collect=functools_reduce",
           f"--callgrind-out-file={out}.%p", *ingest_argv(db, log, 1, worker_only=True)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"instructions: the worker's run failed under valgrind:\n{done.stderr[-2000:]}")
    return max(collected(path) for path in out.parent.glob(f"{out.name}.*"))


def collected(out: Path) -> int:
    """The instructions callgrind collected in one process's file (0 for the storing process's,
    where it collected none)."""
    text = subprocess.run(["callgrind_annotate", str(out)], capture_output=True, text=True, check=True).stdout
    found = re.search(r"([\d,]+) \([^)]*\)\s+PROGRAM TOTALS", text)
    return int(found.group(1).replace(",", "")) if found else 0


def messages_in(db: Path) -> int:
    import sqlite3

    with sqlite3.connect(db) as con:
        return int(con.execute("SELECT count(*) FROM sip_transactions").fetchone()[0])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="16M", help="size of the generated log (default 16M)")
    ap.add_argument("--dialect", default="full", choices=["full", "syslog", "rfc5424"])
    ap.add_argument("--input", help="count the ingest of this log instead of a generated one")
    ap.add_argument("--workers", type=int, default=0, help="parse workers (default 0: one process)")
    ap.add_argument("--worker", action="store_true",
                    help="count the parse worker of a one-worker ingest alone, every batch prepared there")
    ap.add_argument("--keep", help="keep the log, the databases and callgrind's files in this directory")
    args = ap.parse_args()
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        print("instructions: valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    work = Path(args.keep or tempfile.mkdtemp(prefix="sipparse-instructions-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        log = Path(args.input) if args.input else work / f"genlog-{args.dialect}-{args.size}.log"
        if not args.input and not log.exists():
            subprocess.run([sys.executable, str(HERE / "genlog.py"), "--size", args.size, "--dialect", args.dialect,
                            "--out", str(log)], check=True, stdout=subprocess.DEVNULL)
        empty = work / "empty.log"
        empty.write_bytes(b"")
        for name in ("full.db", "empty.db"):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{work / name}{suffix}").unlink(missing_ok=True)
        # a run outside valgrind first: modules compiled then (no ``.pyc`` yet in a fresh
        # checkout) would count in the first measured run and not in the second
        subprocess.run(ingest_argv(work / "empty.db", empty, args.workers), check=True, capture_output=True)
        Path(work / "empty.db").unlink()
        if args.worker:
            for stale in work.glob("callgrind.worker.*"):
                stale.unlink()
            count = worker_callgrind(work / "full.db", log, work / "callgrind.worker")
            messages = messages_in(work / "full.db")
            print(f"{log.name}: {os.path.getsize(log) / 2**20:.1f} MiB, {messages} messages, the parse worker "
                  f"alone: {count / 1e6:,.0f} million instructions, {count / max(messages, 1):,.0f} a message")
            return 0
        callgrind(ingest_argv(work / "full.db", log, args.workers), work / "callgrind.full")
        callgrind(ingest_argv(work / "empty.db", empty, args.workers), work / "callgrind.empty")
        total, counts = inclusive(work / "callgrind.full")
        start_up, start_counts = inclusive(work / "callgrind.empty")
        report(log, messages_in(work / "full.db"), total - start_up, parts(counts), parts(start_counts), args.workers)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(log: Path, messages: int, work: int, split: dict[str, int], start_split: dict[str, int],
           workers: int) -> None:
    size = os.path.getsize(log)
    processes = f"--workers {workers}, the storing process only" if workers else "one process"
    print(f"{log.name}: {size / 2**20:.1f} MiB, {messages} messages, {processes}")
    print(f"  ingest, start-up taken out: {work / 1e6:,.0f} million instructions, "
          f"{work / max(messages, 1):,.0f} a message, {work / max(size, 1):,.1f} a byte")
    rest = work
    for label, count in split.items():
        count -= start_split.get(label, 0)
        rest -= count
        print(f"  {label:38s} {count / 1e6:9,.0f} million  {count / max(work, 1):6.1%}  "
              f"{count / max(messages, 1):8,.0f} a message")
    print(f"  {'the rest (Python, C library...)':38s} {rest / 1e6:9,.0f} million  {rest / max(work, 1):6.1%}  "
          f"{rest / max(messages, 1):8,.0f} a message")


if __name__ == "__main__":
    sys.exit(main())
