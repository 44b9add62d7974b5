"""A throwaway MariaDB/MySQL server for the test suite, in a temporary directory.

The tests never depend on the state of a shared server: when ``mariadbd`` or ``mysqld`` is
installed, a private server is initialised in a temp dir, listens on its own socket and a
free loopback port, and is stopped at the end. ``SIPPARSE_TEST_MYSQL_URL`` points the tests
at an existing server instead (each test still gets its own fresh database there).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SEARCH_PATH = os.environ.get("PATH", "") + ":/usr/sbin:/usr/local/sbin:/usr/local/mysql/bin"


def find_binary(*names: str) -> str | None:
    for name in names:
        found = shutil.which(name, path=SEARCH_PATH)
        if found:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayServer:
    """One mariadbd/mysqld process with its own datadir, socket and port; ``options`` are
    further server options (``--binlog-format=STATEMENT``), as a DBA's my.cnf may set them."""

    def __init__(self, *options: str) -> None:
        self.options = options
        self.server = find_binary("mariadbd", "mysqld")
        self.installer = find_binary("mariadb-install-db", "mysql_install_db")
        self.tmp: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def available(self) -> bool:
        return bool(self.server and (self.installer or "mysqld" in (self.server or "")))

    def start(self, attempts: int = 3) -> str:
        """Initialise and start the server; return a root URL for it.

        Initialising a datadir on a machine under heavy load occasionally fails half-way
        (seen: "Unknown table 'mysql.tmp_user_sys'"), so a failed start is retried afresh.
        """
        for attempt in range(1, attempts + 1):
            try:
                return self._start_once()
            except (RuntimeError, subprocess.TimeoutExpired):
                self.stop()
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")

    def _start_once(self) -> str:
        assert self.server
        self.tmp = Path(tempfile.mkdtemp(prefix="sipparse-mysql-"))
        datadir, sock = self.tmp / "data", self.tmp / "mysql.sock"
        user = ["--user=root"] if os.geteuid() == 0 else []
        if self.installer and "mariadb" in Path(self.installer).name + Path(self.server).name:
            cmd = [self.installer, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal",
                   "--skip-test-db", *user]
        else:
            cmd = [self.server, "--no-defaults", "--initialize-insecure", f"--datadir={datadir}", *user]
        init = subprocess.run(cmd, capture_output=True, timeout=180)
        if init.returncode:
            raise RuntimeError(f"cannot initialise a MySQL datadir: {init.stderr.decode(errors='replace')[-500:]}")
        self.port = free_port()
        log = open(self.tmp / "server.log", "wb")
        self.proc = subprocess.Popen(
            [self.server, "--no-defaults", f"--datadir={datadir}", f"--socket={sock}", f"--port={self.port}",
             "--bind-address=127.0.0.1", f"--pid-file={self.tmp / 'server.pid'}", "--skip-name-resolve",
             # its temporary tables in its own directory: a shared /tmp may be swept by others
             # while a statement uses one ("Error on delete of '/tmp/#sql-temptable-...'")
             f"--tmpdir={self.tmp}",
             "--innodb-buffer-pool-size=128M", "--innodb-flush-log-at-trx-commit=2", "--max-connections=200",
             "--innodb-lock-wait-timeout=20", *user, *self.options],
            stdout=log, stderr=subprocess.STDOUT,
        )
        self._wait_ready()
        return f"mysql://root@127.0.0.1:{self.port}/mysql"

    def _wait_ready(self, timeout: float = 60.0) -> None:
        import mysql.connector

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc and self.proc.poll() is not None:
                log_tail = (self.tmp / "server.log").read_text(errors="replace")[-800:]
                raise RuntimeError(f"MySQL server exited: {log_tail}")
            try:
                mysql.connector.connect(host="127.0.0.1", port=self.port, user="root", password="").close()
                return
            except mysql.connector.Error:
                time.sleep(0.2)
        raise RuntimeError("MySQL server did not become ready in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.proc, self.tmp = None, None


@contextmanager
def throwaway_server_url(*options: str) -> Iterator[str | None]:
    """A root URL of a throwaway server (started with ``options``) while the block runs, or
    None when none can run here."""
    server = ThrowawayServer(*options)
    if not server.available:
        yield None
        return
    try:
        yield server.start()
    finally:
        server.stop()
