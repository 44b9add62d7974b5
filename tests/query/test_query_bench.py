"""The query benchmark builds a database the current schema reads, and measures it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "query_bench.py"


def test_the_query_benchmark_runs_on_a_small_sqlite_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("query_bench", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.run_backend(f"sqlite:///{tmp_path / 'bench.db'}", 400, True, 2)
    assert "targets (show < 50 ms, calls --since 1h < 1 s, indexes used): met" in capsys.readouterr().out
