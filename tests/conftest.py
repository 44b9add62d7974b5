"""Shared fixtures: a fresh database per test for every backend, and sample paths.

``db_url`` is parametrised over SQLite (a file in the test's temp dir) and MySQL (a fresh
database on a throwaway server, see ``mysql_server.py``). When no MySQL server can be had
the MySQL half skips with a loud reason, except under ``CI=true`` or
``SIPPARSE_REQUIRE_MYSQL=1``, where it fails.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from hypothesis import settings

from tests.mysql_server import ThrowawayServer

# What the property tests check is results, not time: on a loaded machine (CI beside other
# jobs, a first run that still compiles every module) one example may take longer than
# hypothesis's default deadline of 200 ms, which then fails a test that found nothing wrong.
settings.register_profile("sipparse", deadline=None)
settings.load_profile("sipparse")

HERE = Path(__file__).parent
DATA = HERE / "data"
SHARED = HERE.parent.parent / "shared"
MYSQL_STATUS: dict[str, str] = {}


def mysql_required() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("SIPPARSE_REQUIRE_MYSQL") == "1"


@pytest.fixture(autouse=True)
def private_locks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test, and every sipparse process it starts, takes its log locks in its own dir."""
    monkeypatch.setenv("SIPPARSE_LOCK_DIR", str(tmp_path / "locks"))


@pytest.fixture(scope="session")
def mysql_root_url() -> Iterator[str]:
    """A URL with rights to create databases on a live MySQL-protocol server."""
    if os.environ.get("SIPPARSE_TEST_MYSQL_URL"):
        url = os.environ["SIPPARSE_TEST_MYSQL_URL"]
        MYSQL_STATUS["server"] = f"external server {urlsplit(url).hostname}:{urlsplit(url).port or 3306}"
        yield url
        return
    server = ThrowawayServer()
    if not server.available:
        reason = "NO MySQL/MariaDB server binary (mariadbd/mysqld) and SIPPARSE_TEST_MYSQL_URL unset"
        MYSQL_STATUS["server"] = "NOT RUN: " + reason
        if mysql_required():
            pytest.fail(reason + " (required under CI=true / SIPPARSE_REQUIRE_MYSQL=1)")
        pytest.skip(reason)
    try:
        url = server.start()
    except Exception as exc:  # a failed start is a loud skip, or a failure under CI
        MYSQL_STATUS["server"] = f"NOT RUN: throwaway server failed: {exc}"
        if mysql_required():
            pytest.fail(f"cannot start a throwaway MySQL server: {exc}")
        pytest.skip(f"cannot start a throwaway MySQL server: {exc}")
    MYSQL_STATUS["server"] = f"throwaway {Path(server.server or '').name} on 127.0.0.1:{server.port}"
    try:
        yield url
    finally:
        server.stop()


def _admin_connect(root_url: str):  # type: ignore[no-untyped-def]
    import mysql.connector

    parts = urlsplit(root_url)
    return mysql.connector.connect(host=parts.hostname, port=parts.port or 3306,
                                   user=parts.username or "root", password=parts.password or "")


@contextmanager
def server_global(root_url: str, name: str, value: object) -> Iterator[None]:
    """The server's global ``name`` set to ``value`` for the block (each new session takes
    it), then restored."""
    admin = _admin_connect(root_url)
    cursor = admin.cursor()
    cursor.execute(f"SELECT @@GLOBAL.{name}")
    (was,) = cursor.fetchone()
    cursor.execute(f"SET GLOBAL {name} = %s", (value,))
    try:
        yield
    finally:
        cursor.execute(f"SET GLOBAL {name} = %s", (was,))
        admin.close()


@contextmanager
def fresh_database(root_url: str, options: str = "CHARACTER SET utf8mb4") -> Iterator[str]:
    """A fresh, empty database on ``root_url``'s server, created with ``options`` (empty:
    the server's defaults), as a URL of the same account; dropped afterwards."""
    name = "sipparse_t_" + uuid.uuid4().hex[:12]
    con = _admin_connect(root_url)
    con.cursor().execute(f"CREATE DATABASE `{name}` {options}")
    parts = urlsplit(root_url)
    auth = parts.username or "root"
    if parts.password:
        auth += ":" + parts.password
    try:
        yield f"mysql://{auth}@{parts.hostname}:{parts.port or 3306}/{name}"
    finally:
        try:
            con.cursor().execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            con.close()


@pytest.fixture
def mysql_url(mysql_root_url: str) -> Iterator[str]:
    """A fresh, empty MySQL database for one test, dropped afterwards."""
    MYSQL_STATUS.setdefault("tests", "0")
    MYSQL_STATUS["tests"] = str(int(MYSQL_STATUS["tests"]) + 1)
    with fresh_database(mysql_root_url) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("mysql", marks=pytest.mark.mysql)])
def db_url(request: pytest.FixtureRequest) -> str:
    """A fresh database URL, once per backend."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_url")
    return request.getfixturevalue("mysql_url")


@pytest.fixture
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not beside the checkout")
    return SHARED


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # type: ignore[no-untyped-def]
    server = MYSQL_STATUS.get("server")
    if server:
        terminalreporter.write_line(
            f"MySQL backend: {server}; {MYSQL_STATUS.get('tests', '0')} test databases created on the live server"
        )
    else:
        terminalreporter.write_line("MySQL backend: no MySQL test was selected")
