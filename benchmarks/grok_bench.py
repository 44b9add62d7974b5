#!/usr/bin/env python3
"""Throughput of ``sipparse grok match`` against pygrok on the same lines, in one run.

Usage: python3 benchmarks/grok_bench.py [LINES_FILE] [--lines N] [--expr EXPR] [--rounds R]

Without LINES_FILE it writes a syslog-dialect PJSIP log of N lines (default 200000) to a
temporary file. Each tool runs as a whole process reading the file on stdin and writing one
JSON line per input line to /dev/null (start-up and output included), alternately, best of
R rounds. Besides the matching input it times a near-miss variant of it (the syslog prefix
is there but the ``: `` after the program is not), which must be no slower than the
matching one. Prints lines/s and ratios; on a shared machine only ratios mean anything.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

EXPR = "%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:host} %{SYSLOGPROG}: %{GREEDYDATA:msg}"
PYGROK = """
import json, sys
from pygrok import Grok
g = Grok(sys.argv[1])
w = sys.stdout.write
for line in sys.stdin:
    w(json.dumps(g.match(line.rstrip("\\n"))) + "\\n")
"""
SIP_LINES = [
    "INVITE sip:1000@10.0.0.1:5060 SIP/2.0", "Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK{n:x}",
    'From: "Alice" <sip:alice@10.0.0.5>;tag={n}', "To: <sip:1000@10.0.0.1>", "Call-ID: {n:x}@10.0.0.5",
    "CSeq: 1 INVITE", "Content-Length: 0", "#015", "SIP/2.0 200 OK", "v=0", "m=audio 10000 RTP/AVP 0",
]


def make_log(path: Path, count: int) -> None:
    """Syslog-dialect lines like rsyslog writes them for Asterisk's PJSIP logger."""
    rnd = random.Random(42)
    with open(path, "w", encoding="utf-8") as out:
        for n in range(count):
            host = rnd.choice(["pbx-a", "pbx-b", "10.0.0.7"])
            text = rnd.choice(SIP_LINES).format(n=n)
            out.write(f"Feb {1 + n // 86400 % 28:2d} {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d} "
                      f"{host} asterisk[6541]: {text}\n")


def near_miss(source: Path, target: Path) -> None:
    """The same lines without the ': ' after the program: a search that must fail."""
    with open(source, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as out:
        for line in src:
            out.write(line.replace("]: ", "] ", 1))


def timed(argv: list[str], path: Path) -> float:
    with open(path, "rb") as stdin:
        started = time.perf_counter()
        subprocess.run(argv, stdin=stdin, stdout=subprocess.DEVNULL, check=True)
        return time.perf_counter() - started


def best(argv: list[str], path: Path, rounds: int) -> float:
    return min(timed(argv, path) for _ in range(rounds))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lines_file", nargs="?", type=Path)
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--expr", default=EXPR)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    sipparse = shutil.which("sipparse") or sys.exit("sipparse is not on PATH")
    with tempfile.TemporaryDirectory(prefix="grok_bench_") as tmp:
        lines_file = args.lines_file or Path(tmp) / "lines.log"
        if args.lines_file is None:
            make_log(lines_file, args.lines)
        near_file = Path(tmp) / "near.log"
        near_miss(lines_file, near_file)
        count = sum(1 for _ in open(lines_file, "rb"))
        ours = [sipparse, "grok", "match", args.expr]
        theirs = [sys.executable, "-c", PYGROK, args.expr]
        results = {}
        for label, path in (("matching", lines_file), ("near-miss", near_file)):
            results[label] = (best(ours, path, args.rounds), best(theirs, path, args.rounds))
    for label, (mine, pygrok) in results.items():
        print(f"{label:9s} {count} lines: sipparse {count / mine / 1e3:.0f}k lines/s, "
              f"pygrok {count / pygrok / 1e3:.0f}k lines/s, ratio {pygrok / mine:.1f}x")
    near, match = results["near-miss"][0], results["matching"][0]
    print(f"near-miss/matching time of sipparse: {near / match:.2f} (goal <= 1.0); cores: {os.cpu_count()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
