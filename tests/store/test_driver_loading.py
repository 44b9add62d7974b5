"""The MySQL connector's C extension: loaded by a MySQL run, never by an SQLite one.

Each case runs the CLI in a fresh interpreter, as cron does: in this test process pytest has
loaded OpenSSL already, after which the extension cannot load (``sipparse.store.mysql``).
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

LOG = Path(__file__).resolve().parent.parent / "data" / "pjsip-full.log"
REPORT = ("import atexit, sys; atexit.register(lambda: print('loaded:', sorted(m for m in "
          "('_mysql_connector', 'mysql.connector', 'sipparse.store.mysql') if sys.modules.get(m)), "
          "file=sys.stderr)); from sipparse.cli import run; run(sys.argv[1:])")


def _ingest(db_url: str, tmp_path: Path) -> str:
    env = {"SIPPARSE_LOCK_DIR": str(tmp_path / "locks"), "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", REPORT, "--db", db_url, "ingest", "-q", "--tz", "UTC", str(LOG)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stderr.strip().splitlines()[-1]


def test_an_sqlite_ingest_loads_nothing_of_mysql(sqlite_url: str, tmp_path: Path) -> None:
    assert _ingest(sqlite_url, tmp_path) == "loaded: []"


@pytest.mark.mysql
def test_a_mysql_ingest_uses_the_c_extension(mysql_url: str, tmp_path: Path) -> None:
    if importlib.util.find_spec("_mysql_connector") is None:
        pytest.skip("this mysql-connector-python has no C extension")
    assert _ingest(mysql_url, tmp_path) == "loaded: ['_mysql_connector', 'mysql.connector', 'sipparse.store.mysql']"
