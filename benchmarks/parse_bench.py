#!/usr/bin/env python3
"""Parse-only speed of the log parser, against a bare ``for line in f`` loop in the same run.

Usage: python3 benchmarks/parse_bench.py LOG [LOG...] [--batch-bytes N]

Make big logs with the generator, e.g.
  python3 benchmarks/genlog.py --seed 2 --size 1G --dialect full --out /tmp/big.log
  python3 benchmarks/genlog.py --seed 2 --size 1G --dialect syslog --out /tmp/big-syslog.log

Prints, per file: MiB/s (wall) and MiB per CPU-second (the one-core figure, which other
load on a shared machine disturbs least), CPU microseconds per message, the ratio to the
baseline loop, the load average, and peak RSS of a child process that does only the
parsing (so the figures of one file do not leak into the next).  Every SipMessage field is
filled, as ingest gets them.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def baseline(path: str) -> float:
    start = time.perf_counter()
    with open(path, "rb") as fh:
        for _ in fh:
            pass
    return time.perf_counter() - start


def parse_only(path: str, batch_bytes: int) -> dict:
    from sipparse.logs import LogParser, ParseOptions
    from sipparse.sip import Source
    from sipparse.store.base import fewer_collections

    parser = LogParser(Source(path, "bench"), 0, ParseOptions(year=2026))
    messages = rejects = 0
    start, cpu = time.perf_counter(), time.process_time()
    # with the collector's threshold ingest parses with (its worker and its own pipeline)
    with open(path, "rb") as fh, fewer_collections():
        for batch in parser.parse(fh, batch_bytes=batch_bytes):
            messages += len(batch.messages)
            rejects += len(batch.rejects)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "cpu": cpu, "messages": messages, "rejects": rejects, "rss_mib": rss_mib,
            "dialect": parser.dialect}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("logs", nargs="+")
    ap.add_argument("--batch-bytes", type=int, default=4 << 20)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(parse_only(args.logs[0], args.batch_bytes)))
        return 0
    for path in args.logs:
        mib = os.path.getsize(path) / (1 << 20)
        base = baseline(path)
        command = [sys.executable, __file__, "--child", "--batch-bytes", str(args.batch_bytes), path]
        out = subprocess.run(command, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout)
        print(f"{os.path.basename(path)} [{r['dialect']}]: {mib:.0f} MiB, {r['messages']} messages, "
              f"{r['rejects']} rejects | parse {mib / r['seconds']:.1f} MiB/s, "
              f"{mib / r['cpu']:.1f} MiB per CPU-s, {r['cpu'] / max(r['messages'], 1) * 1e6:.1f} CPU-us/msg, "
              f"peak RSS {r['rss_mib']:.0f} MiB | baseline for-line {mib / base:.0f} MiB/s | "
              f"ratio {base / r['seconds']:.3f} | load {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
