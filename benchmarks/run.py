#!/usr/bin/env python3
"""sipparse end to end, against its baselines, on logs it generates: one command.

Usage::

    python3 benchmarks/run.py                       # 100 MiB, syslog and full, SQLite and MariaDB
    python3 benchmarks/run.py --size 100M --size 1G --dialect syslog --dialect full
    python3 benchmarks/run.py --input /tmp/other.log   # also any log (a benchmarks/genlog.py one)
    python3 benchmarks/run.py --mysql-url mysql://root@127.0.0.1:3306/test --workers 2

For every input (made by ``benchmarks/genlog.py`` unless given), side by side on the same
file and in the same run, since the machine is shared and absolute figures drift:

* ``cat`` and ``wc -l`` (what the disk and the page cache allow), and a bare Python line loop;
* pygrok applying the dialect's prefix expression line by line (on the first
  ``--pygrok-mib`` MiB: it is slow), and a straightforward per-line-regex parser;
* sipparse parsing only (``LogParser``, every field extracted);
* ``sipparse ingest`` into SQLite with one process, and with ``--workers N``: ``--rounds``
  of each, alternating, the fastest of each reported (with the largest peak RSS of any);
* ``sipparse ingest`` into MariaDB/MySQL: ``--mysql-url`` (a fresh database is created on
  that server and dropped afterwards), else the local server on 127.0.0.1:3306 as root when
  it answers, else a throwaway server (``tests/mysql_server.py``); ``--no-mysql`` skips it.
  ``--mysql-server-option`` starts a throwaway server with those options (a tuned server,
  see the README's "Tuning the MariaDB server for ingest"); on a throwaway server the check
  also gives the CPU time the server itself spent on the ingest.

Each ingest is checked afterwards: the database must hold exactly the messages the
generator wrote (count, no rejects) and the same fields for every message of a sample of
calls; the ``--workers`` run and the MariaDB run must hold the same rows as the first one.
A fast run that loses data is reported as FAILED, and the exit status is 1.

Prints MiB/s, messages/s, CPU seconds, peak RSS (of the whole process tree) and ratios,
and writes the table to ``benchmarks/RESULTS.md`` (``--results``).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

import baselines  # noqa: E402
import genlog  # noqa: E402

TRUTH_COLUMNS = ("sip_method", "cseq", "cseq_method", "from_sip", "to_sip", "direction", "status_code",
                 "timestamp")
DIGEST_COLUMNS = ("source_offset", "call_id", "sip_method", "from_sip", "to_sip", "cseq", "cseq_method",
                  "sdp_content", "timestamp", "status_code", "direction", "raw_message")
SKIPPED = "not measured"
TARGETS = {"parse": 60.0, "sqlite": 40.0, "mysql": 25.0, "rss_mib": 200.0, "pygrok_x": 10.0, "workers_x": 1.6}


@dataclass
class Result:
    """One measurement of one input."""

    name: str
    seconds: float
    cpu: float | None = None
    messages: int | None = None
    rss_mib: float | None = None
    check: str = ""
    nbytes: int | None = None  # when only part of the input was read

    @property
    def measured(self) -> bool:
        """Whether the figures are those of a run that did its work: a failed or skipped one's
        seconds are those of a crash, and no rate or ratio may come from them."""
        return not self.check.startswith(("FAILED", SKIPPED))


@dataclass
class Input:
    """A log to measure, and what it is known to hold."""

    path: str
    dialect: str
    size: int
    messages: int | None
    sample: dict[str, list[dict]] = field(default_factory=dict)
    results: list[Result] = field(default_factory=list)

    @property
    def mib(self) -> float:
        return self.size / (1 << 20)

    def rate(self, r: Result) -> float:
        return (r.nbytes if r.nbytes is not None else self.size) / (1 << 20) / max(r.seconds, 1e-9)

    def cpu_rate(self, r: Result) -> float:
        """MiB per CPU-second of the process tree: what one core does, whatever else runs."""
        return (r.nbytes if r.nbytes is not None else self.size) / (1 << 20) / max(r.cpu or 0.0, 1e-9)

    def get(self, name: str) -> Result | None:
        return next((r for r in self.results if r.name == name), None)


# -- running things ---------------------------------------------------------------------


def tree_rss_kib(root: int) -> int:
    """VmRSS summed over a process and its descendants (worker processes count too)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                children.setdefault(int(stat[stat.rfind(")") + 2:].split()[1]), []).append(int(entry))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        with contextlib.suppress(OSError, StopIteration, ValueError):
            with open(f"/proc/{pid}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
    return total


def run_measured(argv: list[str]) -> tuple[float, float, float, subprocess.CompletedProcess[str]]:
    """Run a command: (wall seconds, CPU seconds of it and its children, peak tree RSS MiB, result).

    The peak is sampled, every 20 ms, as the sum of VmRSS over the process tree (worker
    processes count too). ``ru_maxrss`` cannot serve: Linux carries the parent's peak into
    a forked child across ``exec``, so every command would show at least this script's own.
    CPU comes from ``wait4``: the command and the children it waited for.
    """
    peak = [0]
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs: dict[str, str] = {}

    def sample() -> None:
        while proc.returncode is None and not outputs.get("done"):
            peak[0] = max(peak[0], tree_rss_kib(proc.pid))
            time.sleep(0.02)

    readers = [threading.Thread(target=lambda name=name, stream=stream: outputs.__setitem__(name, stream.read()))
               for name, stream in (("out", proc.stdout), ("err", proc.stderr))]
    sampler = threading.Thread(target=sample, daemon=True)
    for thread in (*readers, sampler):
        thread.start()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    outputs["done"] = "yes"
    for thread in (*readers, sampler):
        thread.join()
    cpu = usage.ru_utime + usage.ru_stime
    peak_mib = peak[0] / 1024
    result = subprocess.CompletedProcess(argv, proc.returncode, outputs.get("out", ""), outputs.get("err", ""))
    return seconds, cpu, peak_mib, result


def child(*args: str) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", *args]


def sipparse_command() -> list[str]:
    found = shutil.which("sipparse")
    return [found] if found else [sys.executable, "-m", "sipparse"]


# -- the measurements --------------------------------------------------------------------


def measure_hardware(inp: Input) -> None:
    seconds, cpu, _, _ = run_measured(["sh", "-c", 'cat "$0" > /dev/null', inp.path])
    inp.results.append(Result("cat", seconds, cpu))
    seconds, cpu, _, out = run_measured(["wc", "-l", inp.path])
    inp.results.append(Result("wc -l", seconds, cpu, check=out.stdout.split()[0] + " lines"))
    seconds, cpu, _, _ = run_measured([sys.executable, "-c", f"for _ in open({inp.path!r}, 'rb'): pass"])
    inp.results.append(Result("python line loop", seconds, cpu))


def measure_baselines(inp: Input, pygrok_bytes: int) -> None:
    for name, args in (("pygrok prefix, line by line", ("pygrok", str(pygrok_bytes))),
                       ("naive per-line regex parser", ("naive",))):
        if args[0] == "pygrok" and importlib.util.find_spec("pygrok") is None:
            # a baseline, not part of sipparse: `pip install .` does not bring it, '.[test]' does
            inp.results.append(Result(name, 0.0, check=f"{SKIPPED}: pygrok is not installed (pip install pygrok)"))
            continue
        seconds, cpu, rss, out = run_measured(child(*args, inp.dialect, inp.path))
        if out.returncode:
            inp.results.append(Result(name, seconds, cpu, check="FAILED: " + _last(out.stderr)))
            continue
        done, count, inner = json.loads(out.stdout)
        unit = "lines matched" if args[0] == "pygrok" else "messages found"
        # timed inside the child, on its CPU clock: the start-up and the loading of pygrok stay out
        inp.results.append(Result(name, inner, inner, count, rss, f"{count} {unit}", nbytes=done))


def measure_parse(inp: Input) -> None:
    seconds, cpu, rss, out = run_measured(child("parse", inp.path))
    if out.returncode:
        inp.results.append(Result("sipparse parse only", seconds, cpu, check="FAILED: " + _last(out.stderr)))
        return
    r = json.loads(out.stdout)
    ok = inp.messages is None or r["messages"] == inp.messages
    check = (f"{r['messages']} messages, {r['rejects']} rejects" + ("" if ok else f" (expected {inp.messages})"))
    inp.results.append(Result("sipparse parse only", r["seconds"], r["cpu"], r["messages"], rss,
                              check if ok else "FAILED: " + check))


def measure_ingest(inp: Input, name: str, url: str, workers: int, reference: str | None,
                   server_pid: int | None = None) -> str:
    """Ingest into ``url``, check the rows; return the digest of what was stored. With
    ``server_pid`` the check also gives the CPU time that server spent meanwhile."""
    argv = [*sipparse_command(), "--db", url, "ingest", "--tz", "UTC", "--year", "2026", "--no-progress",
            "--quiet", "--workers", str(workers), inp.path]
    server_before = process_cpu(server_pid)
    seconds, cpu, rss, out = run_measured(argv)
    server_after = process_cpu(server_pid)
    server_note = ("" if server_before is None or server_after is None
                   else f"; server {server_after - server_before:.1f} CPU-s")
    if out.returncode:
        inp.results.append(Result(name, seconds, cpu, None, rss, "FAILED: " + _last(out.stderr)))
        return ""
    count, rejects, digest, problems = check_store(url, inp)
    if reference is not None and digest != reference:
        problems.append("rows differ from the one-process SQLite run")
    check = (f"{count} rows, {rejects} rejects" + ("; " + "; ".join(problems) if problems else "; rows checked")
             + server_note)
    inp.results.append(Result(name, seconds, cpu, count, rss, ("FAILED: " if problems else "") + check))
    return digest


def keep_best(inp: Input, name: str) -> None:
    """Of several rounds of one measurement, keep the fastest, with the largest peak RSS of
    any round, and the first failed check of any (a fast round does not hide a wrong one)."""
    rounds = [r for r in inp.results if r.name == name]
    if len(rounds) < 2:
        return
    best = min(rounds, key=lambda r: r.seconds)
    rss = [r.rss_mib for r in rounds if r.rss_mib]
    failed = [r.check for r in rounds if r.check.startswith("FAILED")]
    note = f"; best of {len(rounds)} rounds ({', '.join(f'{r.seconds:.2f}' for r in rounds)} s)"
    kept = replace(best, rss_mib=max(rss) if rss else None, check=(failed[0] if failed else best.check) + note)
    inp.results = [r for r in inp.results if r.name != name or r is best]
    inp.results[inp.results.index(best)] = kept


def check_store(url: str, inp: Input) -> tuple[int, int, str, list[str]]:
    """(rows, rejects, digest of every row, problems) of a database after one ingest."""
    from sipparse.config import parse_db_url
    from sipparse.store import open_store

    problems: list[str] = []
    with open_store(parse_db_url(url)) as store:
        count = store.fetchall("SELECT COUNT(*) AS n FROM sip_transactions")[0]["n"]
        rejects = store.fetchall("SELECT COUNT(*) AS n FROM rejects")[0]["n"]
        if inp.messages is not None and count != inp.messages:
            problems.append(f"expected {inp.messages} rows")
        if rejects:
            problems.append(f"{rejects} rejects")
        for call_id, expected in inp.sample.items():
            rows = store.fetchall(f"SELECT {', '.join(TRUTH_COLUMNS)} FROM sip_transactions WHERE call_id = ? "
                                  "ORDER BY source_offset", (call_id,))
            got = [{c: _plain(row[c]) for c in TRUTH_COLUMNS} for row in rows]
            if got != expected:
                problems.append(f"call {call_id}: stored {got[:2]}..., generated {expected[:2]}...")
                break
        digest = hashlib.sha256()
        columns = ", ".join(DIGEST_COLUMNS)
        for row in store.fetchall(f"SELECT {columns} FROM sip_transactions ORDER BY source_offset"):
            digest.update(repr(tuple(_plain(row[c]) for c in DIGEST_COLUMNS)).encode())
    return count, rejects, digest.hexdigest(), problems


def _plain(value: object) -> object:
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else value


def _last(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:200] if lines else "no output"


# -- MariaDB -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    """A server to create benchmark databases on: its URL (without database), and the id of
    its process when this run started it (its CPU time is then read from ``/proc``)."""

    url: str
    pid: int | None = None


@contextlib.contextmanager
def mysql_server(url: str | None, options: tuple[str, ...] = ()) -> Iterator[Server | None]:
    """The server to measure on, or None. ``options`` (``--mysql-server-option``) ask for a
    throwaway server started with them, whatever else answers."""
    if url and not options:
        yield Server(url.rsplit("/", 1)[0])
        return
    local = "mysql://root@127.0.0.1:3306"
    if not options and _answers(local):
        yield Server(local)
        return
    from tests.mysql_server import ThrowawayServer

    throwaway = ThrowawayServer(*options)
    if not throwaway.available:
        yield None
        return
    try:
        root = throwaway.start()
        assert throwaway.proc is not None
        yield Server(root.rsplit("/", 1)[0], throwaway.proc.pid)
    finally:
        throwaway.stop()


def process_cpu(pid: int | None) -> float | None:
    """User+system seconds of a process and all its threads so far (None: not known)."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _answers(server: str) -> bool:
    try:
        _admin(server, "SELECT 1")
    except Exception:
        return False
    return True


def _admin(server: str, sql: str) -> None:
    from urllib.parse import unquote, urlparse

    import mysql.connector

    u = urlparse(server)
    con = mysql.connector.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username or "root"),
                                  password=unquote(u.password or "") or os.environ.get("SIPPARSE_DB_PASSWORD", ""),
                                  connection_timeout=5)
    try:
        con.cursor().execute(sql)
    finally:
        con.close()


# -- the report --------------------------------------------------------------------------


def table(inputs: list[Input]) -> list[str]:
    lines = ["| input | measure | MiB/s | MiB per CPU-s | messages/s | x line loop | x pygrok | peak RSS MiB | check |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for inp in inputs:
        loop, grok = inp.get("python line loop"), inp.get("pygrok prefix, line by line")
        label = f"{Path(inp.path).name} ({inp.dialect}, {inp.mib:.0f} MiB, {inp.messages or '?'} msgs)"
        for r in inp.results:
            if not r.measured:
                lines.append(f"| {label} | {r.name} |  |  |  |  |  |  | {r.check} |")
                label = ""
                continue
            rate = inp.rate(r)
            per_s = f"{r.messages / r.seconds:,.0f}" if r.messages and r.name.startswith("sipparse") else ""
            x_loop = f"{rate / inp.rate(loop):.3f}" if loop and loop.measured else ""
            x_grok = f"{rate / inp.rate(grok):.2f}" if grok and grok.measured and grok.seconds else ""
            rss = f"{r.rss_mib:.0f}" if r.rss_mib else ""
            cpu_rate = f"{inp.cpu_rate(r):,.1f}" if r.cpu else ""
            lines.append(f"| {label} | {r.name} | {rate:,.1f} | {cpu_rate} | {per_s} | {x_loop} | {x_grok} | {rss} | "
                         f"{r.check} |")
            label = ""
    return lines


def verdicts(inputs: list[Input], workers: int) -> list[str]:
    """The issue's targets, each with the figure reached."""
    out = []
    for inp in inputs:
        for label, reached, goal, shown in _figures(inp, workers):
            met = reached <= goal if "RSS" in label else reached >= goal
            out.append(f"- {Path(inp.path).name}: {label}: {'met' if met else 'NOT met'} ({shown})")
    return out


def _figures(inp: Input, workers: int) -> Iterator[tuple[str, float, float, str]]:
    """(target, figure reached, goal, figure as shown) of every measurement that succeeded."""
    def ok(r: Result | None) -> bool:
        return r is not None and r.measured

    parse, grok = inp.get("sipparse parse only"), inp.get("pygrok prefix, line by line")
    one, many = inp.get("sipparse ingest SQLite"), inp.get(f"sipparse ingest SQLite --workers {workers}")
    mysql = inp.get("sipparse ingest MariaDB")
    if ok(parse):
        yield "parse only >= 60 MiB/s (per CPU-second)", inp.cpu_rate(parse), TARGETS["parse"], _both(inp, parse)
        if ok(grok):
            x = inp.cpu_rate(parse) / inp.cpu_rate(grok)  # type: ignore[arg-type]
            yield "parse only >= 10x pygrok (per CPU-second)", x, TARGETS["pygrok_x"], f"{x:.2f}x"
    if ok(one):
        yield "ingest SQLite >= 40 MiB/s (per CPU-second)", inp.cpu_rate(one), TARGETS["sqlite"], _both(inp, one)
        yield "peak RSS < 200 MiB", one.rss_mib or 0, TARGETS["rss_mib"], f"{one.rss_mib or 0:.0f} MiB"
        if ok(many):
            x = one.seconds / many.seconds  # type: ignore[union-attr]
            yield f"--workers {workers} >= 1.6x one process (wall)", x, TARGETS["workers_x"], f"{x:.2f}x"
            yield f"--workers {workers} peak RSS < 200 MiB", many.rss_mib or 0, TARGETS["rss_mib"], \
                f"{many.rss_mib or 0:.0f} MiB"  # type: ignore[union-attr]
    if ok(mysql):
        yield "ingest MariaDB >= 25 MiB/s (wall: the server's time counts)", inp.rate(mysql), TARGETS["mysql"], \
            _both(inp, mysql)  # type: ignore[arg-type]


def _both(inp: Input, r: Result) -> str:
    return f"{inp.cpu_rate(r):.1f} MiB per CPU-second, {inp.rate(r):.1f} MiB/s wall"


def write_results(path: Path, inputs: list[Input], workers: int, argv: list[str]) -> None:
    text = [
        "# sipparse benchmark results",
        "",
        f"`python3 benchmarks/run.py {' '.join(argv)}`".replace("run.py `", "run.py`"),
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores "
        f"(shared: compare the ratios, absolute figures drift), Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f} at the end.",
        "MiB/s is input bytes over wall time; MiB per CPU-s over the user+system time of the process tree",
        "(sipparse's processes only: a database server's own time is not in it). One-core targets are judged",
        "on MiB per CPU-second, which other load on the machine disturbs least; --workers on wall time.",
        "",
        *table(inputs),
        "",
        "Targets:",
        "",
        *verdicts(inputs, workers),
        "",
    ]
    path.write_text("\n".join(text))


# -- child processes ---------------------------------------------------------------------


def child_main(args: list[str]) -> int:
    kind = args[0]
    if kind == "parse":
        print(json.dumps(parse_only(args[1])))
    elif kind == "pygrok":
        print(json.dumps(baselines.pygrok_rate(args[3], args[2], int(args[1]))))
    elif kind == "naive":
        print(json.dumps(baselines.naive_parse(args[2], args[1])))
    return 0


def parse_only(path: str) -> dict:
    from datetime import UTC

    from sipparse.logs import LogParser, ParseOptions
    from sipparse.sip import Source
    from sipparse.store.base import fewer_collections

    parser = LogParser(Source(path, "bench"), 0, ParseOptions(year=2026, tz=UTC, final=True))
    messages = rejects = 0
    start, cpu = time.perf_counter(), time.process_time()
    # with the collector's threshold ingest parses with (its worker and its own pipeline)
    with open(path, "rb") as fh, fewer_collections():
        for batch in parser.parse(fh):
            messages += len(batch.messages)
            rejects += len(batch.rejects)
    return {"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu, "messages": messages,
            "rejects": rejects}


# -- main --------------------------------------------------------------------------------


def generated_inputs(args: argparse.Namespace, workdir: Path) -> list[Input]:
    inputs = []
    for size_text in args.size or ["100M"]:
        for dialect in args.dialect or ["syslog", "full"]:
            path = workdir / f"pjsip-{dialect}-{size_text}.log"
            print(f"generating {path} ...", file=sys.stderr, flush=True)
            truth = genlog.write(str(path), genlog.parse_size(size_text), dialect, seed=args.seed)
            inputs.append(Input(str(path), dialect, truth.bytes, truth.messages, truth.sample))
    return inputs


def _detect(path: str) -> str:
    from sipparse.logs import detect_dialect

    with open(path, "rb") as fh:
        found = detect_dialect(fh.read(64 << 10)) or "syslog"
    return "syslog" if found not in baselines.GROK_PREFIX else found


def main() -> int:
    if sys.argv[1:2] == ["--child"]:
        return child_main(sys.argv[2:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", action="append", help="generated log size, e.g. 100M or 1G (repeatable; default 100M)")
    ap.add_argument("--dialect", action="append", choices=("syslog", "full", "rfc5424"),
                    help="dialect of the generated logs (repeatable; default syslog and full)")
    ap.add_argument("--input", action="append", help="also measure this log (its .summary.json gives the count)")
    ap.add_argument("--no-generate", action="store_true", help="measure only the --input logs")
    ap.add_argument("--mysql-url", help="a MySQL/MariaDB server to use (a fresh database is made on it)")
    ap.add_argument("--no-mysql", action="store_true", help="skip the MariaDB measurement")
    ap.add_argument("--mysql-server-option", action="append", metavar="OPTION",
                    help="measure MariaDB on a throwaway server started with this option, e.g. "
                         "--mysql-server-option=--innodb-buffer-pool-size=1G (repeatable); the check "
                         "then gives the server's own CPU time too")
    ap.add_argument("--mysql-max-mib", type=float, default=float("inf"),
                    help="measure MariaDB only on inputs up to this size (it is the slow one)")
    ap.add_argument("--workers", type=int, default=2, help="workers for the parallel ingest (default 2)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="SQLite ingests with one process and with --workers, alternating; the fastest of "
                         "each is reported (default 3)")
    ap.add_argument("--pygrok-mib", type=float, default=8.0, help="MiB of each input given to pygrok (default 8)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", help="where logs and databases go (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"), help="Markdown table to write ('' for none)")
    args = ap.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="sipparse-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return run(args, workdir)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def run(args: argparse.Namespace, workdir: Path) -> int:
    inputs = [] if args.no_generate else generated_inputs(args, workdir)
    inputs += [Input(p, _detect(p), os.path.getsize(p), _expected(p)) for p in args.input or []]
    options = tuple(getattr(args, "mysql_server_option", None) or ())
    with contextlib.nullcontext() if args.no_mysql else mysql_server(args.mysql_url, options) as server:
        for n, inp in enumerate(inputs):
            print(f"measuring {inp.path} ({inp.dialect}, {inp.mib:.0f} MiB) ...", file=sys.stderr, flush=True)
            measure_input(inp, args, workdir / f"db{n}", server, n)
    lines = table(inputs) + ["", *verdicts(inputs, args.workers)]
    print("\n".join(lines))
    if args.results:
        write_results(Path(args.results), inputs, args.workers, sys.argv[1:])
    return 1 if any(r.check.startswith("FAILED") for inp in inputs for r in inp.results) else 0


def _expected(path: str) -> int | None:
    summary = Path(path + ".summary.json")
    return json.loads(summary.read_text()).get("messages") if summary.exists() else None


def fresh_sqlite(dbdir: Path, name: str) -> str:
    """The URL of an empty SQLite database: one left in a reused --workdir would hold the
    log's checkpoint, and the ingest would find nothing to do."""
    for suffix in ("", "-wal", "-shm"):
        (dbdir / f"{name}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///{dbdir}/{name}"


def measure_input(inp: Input, args: argparse.Namespace, dbdir: Path, server: Server | None, n: int) -> None:
    dbdir.mkdir(parents=True, exist_ok=True)
    measure_hardware(inp)
    measure_baselines(inp, int(args.pygrok_mib * (1 << 20)))
    measure_parse(inp)
    reference: str | None = None
    one, many = "sipparse ingest SQLite", f"sipparse ingest SQLite --workers {args.workers}"
    for _ in range(args.rounds):  # alternating, so a slow minute of the machine hits both alike
        digest = measure_ingest(inp, one, fresh_sqlite(dbdir, "one.db"), 0, reference)
        reference = reference or digest or None
        measure_ingest(inp, many, fresh_sqlite(dbdir, "many.db"), args.workers, reference)
    keep_best(inp, one)
    keep_best(inp, many)
    if server is not None and inp.mib <= args.mysql_max_mib:
        database = f"sipparse_bench_{os.getpid()}_{n}"
        _admin(server.url, f"CREATE DATABASE `{database}`")
        try:
            measure_ingest(inp, "sipparse ingest MariaDB", f"{server.url}/{database}", 0, reference or None,
                           server.pid)
        finally:
            _admin(server.url, f"DROP DATABASE IF EXISTS `{database}`")


if __name__ == "__main__":
    sys.exit(main())
