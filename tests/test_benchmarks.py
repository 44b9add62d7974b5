"""benchmarks/run.py: what a run reports when a measurement could not be made."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("benchmarks_run", ROOT / "benchmarks" / "run.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    saved = list(sys.path)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = saved
    return module


def test_a_failed_measurement_shows_no_rate_and_no_ratio_is_taken_from_it(bench: ModuleType) -> None:
    inp = bench.Input("x.log", "full", 8 << 20, 100)
    inp.results = [bench.Result("python line loop", 1.0, 1.0),
                   bench.Result("pygrok prefix, line by line", 0.5, 0.5, check="FAILED: ModuleNotFoundError"),
                   bench.Result("sipparse parse only", 0.25, 0.25, 100, 30.0, "100 messages, 0 rejects")]
    rows = {line.split(" | ")[1]: line for line in bench.table([inp])[2:]}
    assert rows["pygrok prefix, line by line"].startswith("|  | pygrok prefix, line by "
                                                          "line |  |  |  |  |  |  | FAILED")
    assert "| 32.0 | 32.0 | 400 | 4.000 |  | 30 |" in rows["sipparse parse only"]
    assert [label for label, *_ in bench._figures(inp, 2)] == ["parse only >= 60 MiB/s (per CPU-second)"]


def test_pygrok_not_installed_is_said_and_is_no_failure(bench: ModuleType, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "x.log"
    log.write_bytes((ROOT / "tests" / "data" / "seed-call.log").read_bytes())
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pygrok" else find_spec(name, *a))
    inp = bench.Input(str(log), "syslog", log.stat().st_size, 5)
    bench.measure_baselines(inp, 1 << 20)
    pygrok = inp.get("pygrok prefix, line by line")
    assert pygrok.check == "not measured: pygrok is not installed (pip install pygrok)"
    assert not pygrok.measured and inp.get("naive per-line regex parser").measured


def test_no_mysql_looks_for_no_server(bench: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_server(url: str | None) -> None:
        raise AssertionError("--no-mysql looked for a server")

    monkeypatch.setattr(bench, "mysql_server", no_server)
    args = argparse.Namespace(no_generate=True, input=None, no_mysql=True, mysql_url=None, workers=2, results="")
    assert bench.run(args, tmp_path) == 0


def test_a_server_option_measures_on_a_throwaway_server_with_it_and_gives_its_cpu_time(
        bench: ModuleType, tmp_path: Path) -> None:
    from tests.mysql_server import ThrowawayServer

    if not ThrowawayServer().available:
        pytest.skip("no mariadbd or mysqld installed to start a throwaway server")
    import mysql.connector

    log = tmp_path / "x.log"
    log.write_bytes((ROOT / "tests" / "data" / "seed-call.log").read_bytes())
    inp = bench.Input(str(log), "syslog", log.stat().st_size, 5)
    with bench.mysql_server("mysql://root@127.0.0.1:3306/test", ("--innodb-buffer-pool-size=64M",)) as server:
        assert server.pid is not None and not server.url.endswith(":3306")
        port = int(server.url.rsplit(":", 1)[1])
        con = mysql.connector.connect(host="127.0.0.1", port=port, user="root")
        try:
            cursor = con.cursor()
            cursor.execute("SELECT @@innodb_buffer_pool_size")
            assert cursor.fetchone()[0] == 64 << 20
            cursor.execute("CREATE DATABASE bench")
        finally:
            con.close()
        bench.measure_ingest(inp, "sipparse ingest MariaDB", f"{server.url}/bench", 0, None, server.pid)
    check = inp.get("sipparse ingest MariaDB").check
    assert check.startswith("5 rows, 0 rejects; rows checked; server ") and check.endswith(" CPU-s"), check
