"""The MySQL / MariaDB backend (mysql-connector-python), for several writers into one server.

It keeps to what MySQL 8, MariaDB 10.6+ and MySQL-protocol distributed databases (TiDB,
Vitess) all accept: explicit primary keys, no triggers, procedures, foreign keys, ``LOCK
TABLES`` or user variables, and no reliance on AUTO_INCREMENT values being contiguous.

Concurrency: sessions run at READ COMMITTED, so each statement sees what other writers
committed. Before a batch recomputes the summary of a call it takes the row lock of that
``calls`` row (inserting a placeholder when the call is new, Call-IDs in sorted order); a
second writer touching the same call waits for the first to commit and then reads its rows
too, so no summary is computed from a partial view. Deadlocks (1213), lock wait timeouts
(1205) and killed statements (1317, 1969) roll the whole batch back and run it again; a lost
connection is reopened first.

Rows are written with multi-row INSERTs of ``ROWS_PER_STATEMENT`` rows. With the C
extension they are SQL text, each value converted and escaped by the extension's own C
code. Its server-side prepared statements would spare the server the parsing of that text
(about 1.8 times the rows per second), but the extension leaks memory on every parameter
it binds (some hundred bytes per message, never given back), which a long ``--follow`` run
cannot afford. The pure-Python connector has no such leak, and there prepared statements
(prepared once per connection, values in the binary protocol) beat its slow escaping; on a
server that holds no more of them (``max_prepared_stmt_count``, counted over all its
sessions) the connection sends the connector's own SQL text instead.

``sip_transactions`` and ``rejects`` rows go by ``LOAD DATA LOCAL INFILE ... IGNORE``
instead when server and client allow it: the server reads them as tab-separated data rather
than parsing them as SQL (about 1.7 times the rows per server CPU second), and the client
builds that data a column at a time, faster than it escapes SQL literals. The load runs
inside the batch's transaction (InnoDB loads are transactional), behind a savepoint: when it
warns of anything but the duplicates it skipped (a value truncated or converted, which
``IGNORE`` turns from an error into a warning), it is undone and the rows go by INSERT, which
stores or refuses them exactly as before. A server that refuses local loads
(``local_infile=OFF``, the MySQL 8 default; Vitess) is asked once per connection, then
INSERTs are used.

The connector's C extension is used when it loads. Some wheels bundle a newer OpenSSL than
the system's: the extension then only loads if it comes before anything that loads the
system's OpenSSL, Python's ``ssl`` module and ``hashlib`` alike. sipparse itself loads
neither (its digests come from ``sipparse.digest``), so a MySQL store loads the extension
when it first connects (``load_c_extension``), and an SQLite run never maps it.
"""

from __future__ import annotations

import configparser
import glob
import importlib
import logging
import os
import re
import shutil
import stat
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from decimal import Decimal
from itertools import chain, repeat
from operator import itemgetter
from typing import Any, AnyStr

from sipparse.config import NET_TIMEOUTS
from sipparse.errors import ConfigError, DatabaseError
from sipparse.sip.accel import c_module
from sipparse.store import oversize, schema
from sipparse.store.base import Store, _split_row_template, multi_row_sql
from sipparse.store.rows import as_list, naive_times, text_time, utc_naive
from sipparse.store.schema import Column

log = logging.getLogger(__name__)
RETRYABLE = {
    1205,  # lock wait timeout
    1213,  # deadlock
    1317,  # query interrupted: KILL QUERY from an operator, or a shutdown starting
    1969,  # MariaDB's max_statement_time reached (a busy server): the batch runs again
    1060, 1061, 1062,  # duplicate column / index / key: another process migrated at the same time
    1091,  # the index to drop is gone: another process's migration dropped it first
    2006, 2013, 2055,  # connection lost: reconnect and run the transaction again
}
CONNECTION_LOST = {2006, 2013, 2055}
# the server out of reach for now: too many connections (in all, or of this user, or the
# account's hourly limits), shutting down, the session killed by a shutdown, no answer on
# the socket or port, the connection lost
UNREACHABLE = {1040, 1203, 1226, 1053, 1927, 2002, 2003, *CONNECTION_LOST}
# refused by a count of connections (in all, of this user): the server counts a connection
# until its thread has ended, a moment after the client closed it, so a connection made just
# after closing one (``_reconnect``, twice in an open that migrates) may find its own old
# one still counted. Such a refusal is tried again after each of these pauses (1.55 s in all).
COUNT_REFUSALS = {1040, 1203, 1226}
COUNT_REFUSAL_WAITS = (0.05, 0.1, 0.2, 0.4, 0.8)
URL_OPTIONS = ("unix_socket", "ssl_ca", "option_files")
CONNECT_TIMEOUT = 10  # seconds to connect and be greeted
# Settings a DBA may change globally, which every new session takes: limits that guard people
# at the mysql prompt would cut a read of sipparse short (sql_select_limit), refuse its reads
# of a large table (max_join_size, lifted by sql_big_selects) and its DELETEs by time
# (sql_safe_updates: no key in the WHERE); completion_type=RELEASE would close the
# connection at every COMMIT, and transaction_read_only (tx_read_only) refuse every write.
# Each by itself: a database that lacks one still takes the others.
OWN_SESSION_SETTINGS = (
    "SET SESSION sql_select_limit = 18446744073709551615", "SET SESSION sql_big_selects = 1",
    "SET SESSION sql_safe_updates = 0", "SET SESSION completion_type = 0", "SET SESSION TRANSACTION READ WRITE",
)
# Seconds the client waits for the server to answer a statement (read_timeout) or to take
# what it sends (write_timeout) before it takes the connection for lost, unless the URL or
# the config file says otherwise. A server that stops (SIGSTOP, a hung VM) or a network path
# that drops packets without a reset would otherwise hold a cron run, and its log locks, for
# ever. No statement of sipparse waits this long: a row lock at most innodb_lock_wait_timeout
# (50 s by default), a batch's LOAD DATA or INSERT seconds; a schema migration, which may
# rewrite a large table, runs without the limits (``long_statements``).
NET_TIMEOUT = 300
# what each of the connector's timeout errors means, and the setting that bounds it
TIMEOUT_ERRORS = {
    "ReadTimeoutError": ("did not answer within {} s", "read_timeout"),
    "WriteTimeoutError": ("took nothing sent for {} s", "write_timeout"),
    "ConnectionTimeoutError": ("did not greet within {} s of connecting", None),
}
# Rows per INSERT: 500 rows of 42 columns stay well under the 65,535 placeholders a prepared
# statement may hold, and a text one under max_allowed_packet; more gain nothing measurable.
ROWS_PER_STATEMENT = 500
# Bytes of row data per INSERT: at most this, and at most half the server's max_allowed_packet
# (escaping a reject's raw bytes in SQL text can double them), see ``_fit_packet_budget``.
MAX_PACKET_BUDGET = 4 * 1024 * 1024
MIN_PACKET_BUDGET = 64 * 1024
# mysql-connector-python logs in with the native, SHA-256 and a few enterprise plugins only,
# not with MariaDB's ed25519 or gssapi
AUTH_PLUGIN_HINT = ("mysql-connector-python cannot log in with it: give the account one it can, e.g. "
                    "ALTER USER ... IDENTIFIED VIA mysql_native_password USING PASSWORD('...') on MariaDB")
# ER_NET_PACKET_TOO_LARGE, CR_NET_PACKET_TOO_LARGE: one message (or reject) larger than any
# statement the server takes, which no smaller statement can carry
PACKET_TOO_LARGE = {1153, 2020}
PACKET_HINT = ("the server's max_allowed_packet is {} bytes, less than a message of this batch needs: "
               "raise it in the server's my.cnf and with SET GLOBAL max_allowed_packet")
STATEMENT_CACHE = 16  # prepared statements kept per connection (one per SQL and row count)
LOADED_TABLES = ("sip_transactions", "rejects")
# The server or client will not load local files: ER_NOT_ALLOWED_COMMAND, MySQL 8's
# ER_CLIENT_LOCAL_FILES_DISABLED, the client's CR_LOAD_DATA_LOCAL_INFILE_REJECTED, MariaDB's
# ER_LOAD_INFILE_CAPABILITY_DISABLED, and ER_NOT_SUPPORTED_YET (proxies such as Vitess).
LOAD_REFUSED = {1148, 3948, 2068, 4166, 1235}
DUPLICATE_ENTRY = 1062
TOO_MANY_PREPARED = 1461  # ER_MAX_PREPARED_STMT_COUNT_REACHED: max_prepared_stmt_count, for the whole server
# ER_BINLOG_STMT_MODE_AND_ROW_ENGINE: binlog_format=STATEMENT, and an account that may not
# change its session's (``_log_rows_not_statements``)
BINLOG_STATEMENT_REFUSED = 1665
BINLOG_HINT = ("the server logs statements, binlog_format=STATEMENT: set it to MIXED or ROW, or grant "
               "this account BINLOG ADMIN (MariaDB) or SESSION_VARIABLES_ADMIN (MySQL) to log its writes as rows")
DATA_FILE = "rows"
LOAD_DIR_PREFIX = "sipparse-load-"
STALE_LOAD_DIR = 3600.0  # seconds: a load directory older than this was left by a killed process


OPENSSL_USERS = ("ssl", "_ssl", "_hashlib", "mysql.connector")


def load_c_extension() -> None:
    """Load the connector's C extension now, unless something has loaded OpenSSL already
    (then it cannot load, and the pure-Python connector is used: 3 to 4 times slower)."""
    if "_mysql_connector" in sys.modules or any(name in sys.modules for name in OPENSSL_USERS):
        return
    try:
        importlib.import_module("_mysql_connector")
    except ImportError as exc:
        log.debug("mysql-connector C extension not available: %s", exc)


def _connector() -> Any:
    """mysql.connector, with its C extension loaded when this process allows it."""
    load_c_extension()
    import mysql.connector

    return mysql.connector


class MySQLStore(Store):
    """A ``mysql://USER[:PASSWORD]@HOST[:PORT]/DATABASE`` database."""

    backend = "mysql"
    placeholder = "%s"
    packet_budget = MAX_PACKET_BUDGET  # lowered on connect where max_allowed_packet is smaller
    max_allowed_packet = 0  # the server's, read on connect
    counts_upserts = True  # without CLIENT_FOUND_ROWS: 1 inserted, 2 changed, 0 unchanged
    overlaps_writes = True  # the server loads one batch while the next is parsed
    batch_bytes = 4 << 20  # a transaction waits for a server: fewer of them (10% on a 64 MiB ingest)
    _long_statements = False  # connect without the read and write timeouts (``long_statements``)

    def _connect(self) -> None:
        connector = _connector()
        self._connector = connector
        self._statements: dict[tuple[str, int], Any] = {}
        self._loads: dict[str, bytes] = {}  # INSERT -> its LOAD DATA (which names the directory)
        self._load_dir = _private_dir()
        self._can_load = True
        self._can_prepare = True  # the pure connector's INSERTs, until the server refuses (TOO_MANY_PREPARED)
        self.loaded_rows = getattr(self, "loaded_rows", 0)  # rows given to loads that were kept
        try:
            self._con = self._connection_counted_or_not(connector)
        except connector.Error as exc:
            raise self._error("connect", exc) from None
        except (OSError, ValueError) as exc:
            raise DatabaseError(f"{self.url.redacted()}: cannot connect: {exc}", unreachable=True) from None
        finally:
            # The client library resolved the directory; it exists again only during a load.
            os.rmdir(self._load_dir)
        self._setup_session()

    def _connect_args(self, connector: Any) -> dict[str, Any]:
        url = self.url
        args: dict[str, Any] = {
            "host": url.host, "database": url.database,
            "charset": "utf8mb4", "collation": "utf8mb4_bin", "autocommit": False,
            "use_pure": not getattr(connector, "HAVE_CEXT", False), "connection_timeout": CONNECT_TIMEOUT,
            "client_flags": [-connector.constants.ClientFlag.FOUND_ROWS],
            # Lets the client send local files, but only those in this private directory, so a
            # hostile server cannot ask for any other file of this machine (LOAD DATA LOCAL lets
            # the server name the file it wants).
            "allow_local_infile_in_path": self._load_dir,
        }
        if url.port:  # else the option file's, or 3306
            args["port"] = url.port
        if url.user:
            args["user"] = url.user
        if url.password is not None:
            args["password"] = url.password
        args.update({k: url.options[k] for k in URL_OPTIONS if url.options.get(k)})
        args.update(self._net_timeouts(connector))
        if url.options.get("ssl_disabled", "").lower() in ("1", "true", "yes"):
            args["ssl_disabled"] = True
        if "option_files" in args:
            # what the URL gives wins over the files, as the connector's own reading has it
            return {**_option_file_args(connector, args.pop("option_files")), **args}
        return args

    def _net_timeouts(self, connector: Any) -> dict[str, int]:
        """The connector's read and write timeouts (``NET_TIMEOUT``, or the URL's), those not
        0; none while ``long_statements`` lifts them, nor where the connector has no such
        options (before 9.2)."""
        if self._long_statements or NET_TIMEOUTS[0] not in connector.constants.DEFAULT_CONFIGURATION:
            return {}
        seconds = {name: int(self.url.options.get(name, NET_TIMEOUT)) for name in NET_TIMEOUTS}
        return {name: value for name, value in seconds.items() if value}

    @contextmanager
    def long_statements(self) -> Iterator[None]:
        """Run the block on a connection without read and write timeouts, nor MariaDB's
        ``max_statement_time`` (a DBA may set it globally against runaway queries): a schema
        migration's ALTER TABLE rewrites the whole table, which takes as long as the table is
        large, and would be interrupted on every try. The limits come back with the next
        connection, made when the block succeeds (a failed block fails the open, which
        closes the store)."""
        self._long_statements = True
        self._reconnect()
        try:
            yield
        finally:
            self._long_statements = False
        self._reconnect()

    def _setup_session(self) -> None:
        cursor = self._con.cursor()
        cursor.execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        cursor.execute("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'")
        cursor.execute("SET time_zone = '+00:00'")
        for statement in OWN_SESSION_SETTINGS:
            try:
                cursor.execute(statement)
            except self._connector.Error as exc:  # a MySQL-protocol database without it (TiDB, Vitess)
                log.debug("%s: %s", statement, exc)
        if self._long_statements:
            self._lift_statement_time(cursor)
        cursor.execute("SELECT @@max_allowed_packet")
        (allowed,) = cursor.fetchone()
        self._log_rows_not_statements(cursor)
        cursor.close()
        self.commit()
        self.max_allowed_packet = int(allowed)
        self._fit_packet_budget(self.max_allowed_packet)

    def _lift_statement_time(self, cursor: Any) -> None:
        """No ``max_statement_time`` for this session (MariaDB; MySQL's max_execution_time
        bounds SELECTs only, which a migration's rebuilds are not)."""
        try:
            cursor.execute("SET SESSION max_statement_time = 0")
        except self._connector.Error as exc:  # not MariaDB
            log.debug("max_statement_time not lifted: %s", exc)

    def _log_rows_not_statements(self, cursor: Any) -> None:
        """On a server that writes its binary log as statements (``binlog_format=STATEMENT``),
        log this session's writes as rows where needed (``MIXED``): InnoDB refuses to log a
        write made at READ COMMITTED as a statement (error 1665), so every batch would fail.
        Setting it takes BINLOG ADMIN (MariaDB) or SESSION_VARIABLES_ADMIN (MySQL); without,
        a write fails with the hint of ``BINLOG_HINT``, and reads go on as before."""
        try:
            cursor.execute("SELECT @@log_bin, @@binlog_format")
            logging_on, binlog_format = cursor.fetchone()
            if int(logging_on) and str(binlog_format).upper() == "STATEMENT":
                cursor.execute("SET SESSION binlog_format = 'MIXED'")
        except self._connector.Error as exc:  # not allowed, or a server without these variables
            log.debug("session binlog_format left as it is: %s", exc)

    def _fit_packet_budget(self, allowed: int) -> None:
        """Keep every INSERT under this server's ``max_allowed_packet``. A server set lower
        than the 4 MiB budget (1 MiB was MySQL's default up to 5.6, and is still found in
        old my.cnf files) would refuse a statement of a few hundred larger messages, and
        with it every batch of the ingest."""
        self.packet_budget = max(MIN_PACKET_BUDGET, min(MAX_PACKET_BUDGET, allowed // 2))

    def _connection_counted_or_not(self, connector: Any) -> Any:
        """A new connection; refused by a count of connections, tried again a few times
        (``COUNT_REFUSALS``), as the refusal may count one this process has just closed."""
        for wait in COUNT_REFUSAL_WAITS:
            try:
                return connector.connect(**self._connect_args(connector))
            except connector.Error as exc:
                if getattr(exc, "errno", None) not in COUNT_REFUSALS:
                    raise
                log.debug("connection refused by a count, tried again in %.2f s: %s", wait, exc)
                time.sleep(wait)
        return connector.connect(**self._connect_args(connector))

    def _reconnect(self) -> None:
        self._statements = {}  # they died with the connection
        try:
            self._con.close()
        except Exception as exc:  # already broken
            log.debug("close before reconnect failed: %s", exc)
        self._connect()

    def _begin(self) -> None:
        if not self._con.is_connected():
            self._reconnect()
        self.rollback()  # ends a stale read snapshot; cheap when nothing is open

    def commit(self) -> None:
        """COMMIT; a connection lost on the way is a lost connection like any other (the
        batch is retried whole, which its idempotent rows make safe whether or not the
        COMMIT reached the server)."""
        self._converting(self._con.commit)

    def rollback(self) -> None:
        self._converting(self._con.rollback)

    def _converting(self, call: Any) -> None:
        """Run ``call``, raising the C extension's own MySQLInterfaceError, which its commit()
        and rollback() let through unconverted, as the connector's OperationalError."""
        try:
            call()
        except Exception as exc:
            if type(exc).__name__ != "MySQLInterfaceError":
                raise
            errno = getattr(exc, "errno", None) or 2013  # CR_SERVER_LOST, when it gives none
            raise self._connector.errors.OperationalError(msg=str(exc), errno=errno) from exc

    def close(self) -> None:
        for cursor, _ in self._statements.values():
            _close_quietly(cursor)
        self._statements = {}
        try:
            self._con.close()
        except self._connector.Error as exc:
            log.debug("close failed: %s", exc)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with _closed_after(self._con.cursor()) as cursor:
            cursor.execute(sql, tuple(params) or None)
            return int(cursor.rowcount)

    def executemany(self, sql: str, seq: Sequence[Sequence[Any]]) -> int:
        if not seq:
            return 0
        load = self._loads.get(sql)
        if load is not None and self._can_load:
            loaded = self._load(load, seq)
            if loaded is not None:
                return loaded
        if " VALUES (" in sql:
            if hasattr(self._con, "prepare_for_mysql"):
                return self._insert_text(sql, seq)
            if self._can_prepare:
                return self._insert_prepared(sql, seq)
        return self._executemany_plain(sql, seq)

    def _executemany_plain(self, sql: str, seq: Sequence[Sequence[Any]]) -> int:
        """The connector's own executemany: an INSERT's rows as one multi-row statement of
        SQL text, anything else one statement a row."""
        with _closed_after(self._con.cursor()) as cursor:
            try:
                cursor.executemany(sql, seq)
            except self._connector.Error as exc:
                _raise_encode_error(exc)
                raise
            return int(cursor.rowcount)

    def _insert_text(self, sql: str, seq: Sequence[Sequence[Any]]) -> int:
        """Multi-row INSERTs of ``ROWS_PER_STATEMENT`` rows as SQL text, every value converted
        and escaped by the connector's own C code (``prepare_for_mysql``; C extension)."""
        _check_encodable(seq)
        head, rest = sql.split(" VALUES ", 1)
        template, tail = _split_row_template(rest)
        row, start_sql, end_sql = template.encode(), head.encode() + b" VALUES ", tail.encode()
        prepare = self._con.prepare_for_mysql
        total = 0
        for start in range(0, len(seq), ROWS_PER_STATEMENT):
            values = b",".join([row % tuple(prepare(params)) for params in seq[start:start + ROWS_PER_STATEMENT]])
            result = self._con.cmd_query(start_sql + values + end_sql)
            total += int(result["affected_rows"]) if result else 0
        return total

    def _load(self, load: bytes, seq: Sequence[Sequence[Any]]) -> int | None:
        """Rows by ``LOAD DATA LOCAL INFILE``; their count, or None when the INSERT must do it."""
        data = load_data_rows(seq)
        if data is None:
            return None
        self._con.cmd_query(b"SAVEPOINT sipparse_load")
        try:
            result = self._load_file(load, data)
        except self._connector.Error as exc:
            if getattr(exc, "errno", None) not in LOAD_REFUSED:
                raise
            self._can_load = False
            log.debug("LOAD DATA LOCAL refused (%s): multi-row INSERTs on this connection", exc)
            return None
        except OSError as exc:  # the directory's name taken, or no room for the file: INSERTs
            log.debug("LOAD DATA LOCAL data file not written (%s): the rows go by INSERT", exc)
            return None
        inserted = int(result["affected_rows"])
        if not self._only_duplicates(int(result["warning_count"]), len(seq) - inserted):
            self._con.cmd_query(b"ROLLBACK TO SAVEPOINT sipparse_load")
            log.debug("LOAD DATA LOCAL warned of more than duplicates: the rows go by INSERT")
            return None
        self.loaded_rows += len(seq)
        return inserted

    def _load_file(self, load: bytes, data: bytes) -> dict[str, Any]:
        """Run the load with ``data`` in the private file; neither it nor its directory outlives
        the call. The directory is made afresh (mode 0700): if anyone else has taken its name
        meanwhile, ``mkdir`` fails and the rows go by INSERT."""
        os.mkdir(self._load_dir, 0o700)
        path = os.path.join(self._load_dir, DATA_FILE)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                return self._con.cmd_query(load)  # type: ignore[no-any-return]
            finally:
                os.unlink(path)
        finally:
            os.rmdir(self._load_dir)

    def _only_duplicates(self, warnings: int, skipped: int) -> bool:
        """Whether the load's warnings are just its skipped duplicates: each skipped row gives one
        "Duplicate entry" warning, so any more means a value was truncated or converted."""
        if warnings != skipped:
            return False
        if not warnings:
            return True
        shown = self.query("SHOW WARNINGS")  # the first max_error_count of them
        return all(int(row[1]) == DUPLICATE_ENTRY for row in shown)

    def _insert_prepared(self, sql: str, seq: Sequence[Sequence[Any]]) -> int:
        """A one-row INSERT run as prepared multi-row INSERTs of ``ROWS_PER_STATEMENT`` rows
        (pure-Python connector)."""
        _check_encodable(seq)
        total = 0
        for start in range(0, len(seq), ROWS_PER_STATEMENT):
            part = seq[start:start + ROWS_PER_STATEMENT]
            cursor, text = self._statement(sql, len(part))
            try:
                cursor.execute(text, list(chain.from_iterable(part)))
            except self._connector.Error as exc:
                _raise_encode_error(exc)
                if getattr(exc, "errno", None) != TOO_MANY_PREPARED:
                    raise
                # the server holds no more prepared statements (for all its sessions): this
                # connection sends SQL text instead, a statement of ROWS_PER_STATEMENT rows at a time
                log.debug("prepared statement refused (%s): SQL text on this connection", exc)
                _close_quietly(self._statements.pop((sql, len(part)))[0])
                self._can_prepare = False
                rest = seq[start:]
                return total + sum(self._executemany_plain(sql, rest[at:at + ROWS_PER_STATEMENT])
                                   for at in range(0, len(rest), ROWS_PER_STATEMENT))
            except (SystemError, RuntimeError, ValueError, OverflowError, struct.error) as exc:
                # A value the binary protocol cannot carry: the C extension reports it only as
                # a SystemError or RuntimeError, so find it and say what it is.
                _close_quietly(self._statements.pop((sql, len(part)))[0])
                raise _unbindable(part) or exc from None
            total += max(cursor.rowcount, 0)
        return total

    def _statement(self, sql: str, rows: int) -> tuple[Any, str]:  # pure-Python connector
        """The prepared cursor for ``sql`` repeated over ``rows`` rows, and its exact text
        (the cursor prepares again whenever it is given another string object)."""
        key = (sql, rows)
        found = self._statements.get(key)
        if found is None:
            if len(self._statements) >= STATEMENT_CACHE:
                old_key = next(iter(self._statements))
                _close_quietly(self._statements.pop(old_key)[0])
            found = self._statements[key] = (self._con.cursor(prepared=True), multi_row_sql(sql, rows))
        return found

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with _closed_after(self._con.cursor()) as cursor:
            cursor.execute(sql, tuple(params) or None)
            return list(cursor.fetchall())

    def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        def run() -> list[dict[str, Any]]:
            with _closed_after(self._con.cursor()) as cursor:
                cursor.execute(qmark_to_format(sql), tuple(params) or None)
                names = [d[0] for d in cursor.description or ()]
                return [dict(zip(names, map(_plain_value, row), strict=True)) for row in cursor.fetchall()]

        return self._guard("run the query", lambda: self._read_committed(run))

    def fmt_time(self, value: datetime | None) -> Any:
        return utc_naive(value)

    def fmt_times(self, values: list[datetime | None]) -> list[Any]:
        return naive_times(values)

    def insert_ignore_sql(self, table: str, columns: Sequence[Column]) -> str:
        # ON DUPLICATE KEY UPDATE id = id, not INSERT IGNORE: IGNORE would also turn real
        # errors (a value too long, a bad date) into warnings and store something else.
        names = ", ".join(self.q(c.name) for c in columns)
        sql = (f"INSERT INTO {self.q(table)} ({names}) VALUES ({self.marks(columns)}) "
               "ON DUPLICATE KEY UPDATE `id` = `id`")
        if table in LOADED_TABLES:
            self._loads[sql] = load_data_sql(self._load_dir, table, names)
        return sql

    def _insert_rows(self, table: str, columns: Sequence[Column], values: Sequence[tuple[Any, ...]],
                     sizes: list[int] | None) -> int:
        """INSERT IGNORE ``values``; a row no statement of the server's ``max_allowed_packet``
        carries goes by itself (``_insert_oversized``), in its place among the others."""
        allowed = self.max_allowed_packet
        if not values or sizes is None or 2 * max(sizes) + oversize.OVERHEAD <= allowed:
            return super()._insert_rows(table, columns, values, sizes)
        listed = as_list(values)
        large = [index for index, row in enumerate(listed) if not oversize.fits(row, allowed)]
        inserted, start = 0, 0
        for index in large:
            inserted += super()._insert_rows(table, columns, listed[start:index], sizes[start:index])
            inserted += self._insert_oversized(table, columns, listed[index])
            start = index + 1
        return inserted + super()._insert_rows(table, columns, listed[start:], sizes[start:])

    def _insert_oversized(self, table: str, columns: Sequence[Column], row: tuple[Any, ...]) -> int:
        """Insert a row larger than any statement: its long values empty, then each by an
        UPDATE of its own, cut where even that is too large (``oversize``). 0 when the row
        was stored already."""
        names = [c.name for c in columns]
        note = "problems" if "problems" in names else "reason"
        parts = oversize.split(row, names, names.index(note), self.max_allowed_packet)
        if not super()._insert_rows(table, columns, [parts.row], None):
            return 0
        key = (row[names.index("source_fingerprint")], row[names.index("source_offset")])
        for index, value in parts.later:
            self.execute(f"UPDATE {self.q(table)} SET {self.q(names[index])} = %s "
                         "WHERE `source_fingerprint` = %s AND `source_offset` = %s", (value, *key))
        return 1

    def upsert_sql(self, table: str, columns: Sequence[Column], key: str) -> str:
        names = ", ".join(self.q(c.name) for c in columns)
        # VALUES(col) is deprecated in MySQL 8.0.20+, but the row alias that replaces it is
        # unknown to MariaDB and TiDB; VALUES() works on all of them.
        updates = ", ".join(f"{self.q(c.name)} = VALUES({self.q(c.name)})" for c in columns if c.name != key)
        return (f"INSERT INTO {self.q(table)} ({names}) VALUES ({self.marks(columns)}) "
                f"ON DUPLICATE KEY UPDATE {updates}")

    locks_calls = True

    def _lock_calls(self, call_ids: Sequence[str]) -> None:
        marks = ", ".join(["(%s, 0)"] * len(call_ids))
        self.execute(f"INSERT INTO `calls` (`call_id`, `message_count`) VALUES {marks} "
                     "ON DUPLICATE KEY UPDATE `call_id` = `call_id`", list(call_ids))

    def conform_tables(self) -> None:
        """Rebuild a table that is not InnoDB (MyISAM has no transactions: a batch's rows and
        its checkpoint would not commit together, which exactly-once ingest rests on), whose
        row format cannot hold the schema's indexes (COMPACT, REDUNDANT: see
        ``schema.TABLE_OPTIONS``), or whose text is not utf8mb4_bin (a latin1 or _ci table of
        Logstash's JDBC output: a _ci collation takes abc@pbx and ABC@pbx for one Call-ID).
        A rebuild may take long: the migration has no timeouts."""
        found = self.query(
            "SELECT t.table_name, t.engine, t.row_format, t.table_collation, "
            "(SELECT COUNT(*) FROM information_schema.columns AS c WHERE c.table_schema = t.table_schema "
            "AND c.table_name = t.table_name AND c.collation_name <> %s) "
            "FROM information_schema.tables AS t WHERE t.table_schema = DATABASE() AND t.table_type = 'BASE TABLE'",
            (schema.COLLATION,))
        for table, engine, row_format, collation, other_columns in found:
            if str(table) not in schema.TABLE_NAMES:
                continue
            changes = [] if str(engine).lower() == "innodb" else ["ENGINE=InnoDB"]
            if changes or str(row_format).lower() not in schema.LONG_INDEX_ROW_FORMATS:
                changes.append("ROW_FORMAT=DYNAMIC")
            if collation != schema.COLLATION or other_columns:
                changes.append(f"CONVERT TO CHARACTER SET {schema.CHARSET} COLLATE {schema.COLLATION}")
            if changes:
                log.info("rebuilding %s (%s %s %s) with %s", table, engine, row_format, collation, ", ".join(changes))
                self.execute(f"ALTER TABLE {self.q(str(table))} {', '.join(changes)}")
            self._widen_columns(str(table))

    def _widen_columns(self, table: str) -> None:
        """Give a column narrower than the schema's (a table made by hand for Logstash: a
        VARCHAR(255) Call-ID, a TEXT message, a TIMESTAMP without microseconds) the schema's
        type, and let one declared NOT NULL (but a key) take NULL, one ALTER a column:
        strict mode would refuse a longer value or a message without the field, stopping
        every ingest at its batch, and a DATETIME would drop the microseconds. A wider
        column keeps its type."""
        wanted = {c.name: c.mysql for c in schema.TABLE_COLUMNS.get(table, ())}
        found = self.query("SELECT column_name, column_type, is_nullable, column_key FROM information_schema.columns "
                           "WHERE table_schema = DATABASE() AND table_name = %s", (table,))
        for name, column_type, nullable, key in found:
            kind = wanted.get(str(name))
            if not kind:
                continue
            wider = schema.narrower(str(column_type), kind)
            if wider or (str(nullable) == "NO" and str(key) != "PRI"):
                new_type = kind if wider else str(column_type)
                log.info("changing %s.%s from %s to %s NULL", table, name, column_type, new_type)
                self.execute(f"ALTER TABLE {self.q(table)} MODIFY {self.q(str(name))} {new_type} NULL")

    def tables(self) -> set[str]:
        found = self.query("SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()")
        return {str(r[0]) for r in found}

    def columns(self, table: str) -> set[str]:
        found = self.query("SELECT column_name FROM information_schema.columns "
                           "WHERE table_schema = DATABASE() AND table_name = %s", (table,))
        return {str(r[0]) for r in found}

    def indexes(self) -> set[str]:
        found = self.query("SELECT DISTINCT index_name FROM information_schema.statistics "
                           "WHERE table_schema = DATABASE()")
        return {str(r[0]) for r in found}

    def _is_retryable(self, exc: Exception) -> bool:
        errno = getattr(exc, "errno", None)
        lost = errno in CONNECTION_LOST or self._dead_handle(exc) or _timed_out(exc)
        if lost:
            self._reconnect()
        return lost or errno in RETRYABLE

    def _is_unreachable(self, exc: Exception) -> bool:
        return getattr(exc, "errno", None) in UNREACHABLE or self._dead_handle(exc) or _timed_out(exc)

    def _error(self, what: str, exc: Exception) -> DatabaseError:
        """The one line of an error; for a timeout, which one ran out (the pure-Python
        connector's own text spans lines and names neither). The C extension reports a read
        timeout as the connection lost it leaves: that line says it may have been one."""
        if not _timed_out(exc):
            error = super()._error(what, exc)
            if getattr(exc, "errno", None) == BINLOG_STATEMENT_REFUSED:
                return DatabaseError(f"{error} ({BINLOG_HINT})")
            if getattr(exc, "errno", None) in PACKET_TOO_LARGE:
                return DatabaseError(f"{error} ({PACKET_HINT.format(self.max_allowed_packet)})")
            if what == "connect" and "Authentication plugin" in str(exc) and "not supported" in str(exc):
                return DatabaseError(f"{error} ({AUTH_PLUGIN_HINT})", unreachable=error.unreachable)
            read_timeout = self._net_timeouts(self._connector).get("read_timeout")
            lost = getattr(exc, "errno", None) in CONNECTION_LOST or self._dead_handle(exc)
            if what == "connect" or not lost or not read_timeout:
                return error
            return DatabaseError(f"{error} (or no answer within {read_timeout} s: read_timeout)", unreachable=True)
        text, option = TIMEOUT_ERRORS[type(exc).__name__]
        seconds = self.url.options.get(option, NET_TIMEOUT) if option else CONNECT_TIMEOUT
        hint = f" ({option})" if option else ""
        return DatabaseError(f"{self.url.redacted()}: cannot {what}: the server {text.format(seconds)}{hint}",
                             unreachable=True)

    def _dead_handle(self, exc: Exception) -> bool:
        """After the server killed the session, the C extension reports the dead handle as
        OperationalError("MySQL Connection not available") with no error number."""
        return isinstance(exc, self._connector.OperationalError) and "not available" in str(exc)

    def _is_db_error(self, exc: Exception) -> bool:
        return isinstance(exc, self._connector.Error)


OPTION_GROUPS = ("client", "sipparse")
# the escapes of an option file's values, as the mysql client reads them (mysys' my_default.c)
OPTION_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "s": " ", '"': '"', "'": "'", "\\": "\\"}


def _option_file_args(connector: Any, files: str) -> dict[str, Any]:
    """The connection options of ``files``' ``[client]`` and ``[sipparse]`` groups, their text
    read as the mysql client reads it (``option_value``): the connector's reading keeps a
    password's quotes and a comment after it, so ``password="p#ss"`` would be refused."""
    try:
        found = connector.optionfiles.read_option_files(option_files=files, option_groups=list(OPTION_GROUPS))
    except (configparser.Error, UnicodeDecodeError) as exc:
        # the file's fault, not the server's: no retry mends it. The parser's own text goes on
        # with the offending line, which may be the password's.
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise ConfigError(f"option file {files}: cannot read it{where}: {str(exc).splitlines()[0]}") from None
    return {name: option_value(value) if isinstance(value, str) else value for name, value in found.items()}


def option_value(raw: str) -> str:
    """An option file's value as the mysql client reads it: a ``#`` outside quotes starts a
    comment, one pair of enclosing quotes is dropped, and ``\\n \\t \\r \\b \\s \\" \\' \\\\``
    are escapes (any other backslash stays)."""
    value = _without_end_comment(raw).strip()
    if len(value) > 1 and value[0] in "'\"" and value[-1] == value[0]:
        value = value[1:-1]
    return re.sub(r"\\(.)", lambda escape: OPTION_ESCAPES.get(escape[1], escape[0]), value, flags=re.DOTALL)


def _without_end_comment(raw: str) -> str:
    """``raw`` up to its first ``#`` outside quotes (a backslash in quotes escapes a quote)."""
    quote, escaped = "", False
    for index, char in enumerate(raw):
        if char in "'\"" and not escaped:
            quote = "" if quote == char else (quote or char)
        if not quote and char == "#":
            return raw[:index]
        escaped = bool(quote) and char == "\\" and not escaped
    return raw


def _timed_out(exc: Exception) -> bool:
    """Whether the connector gave up waiting for the server (pure Python; the C extension
    reports it as the lost connection it then is, 2013)."""
    return type(exc).__name__ in TIMEOUT_ERRORS


def load_data_sql(directory: str, table: str, names: str) -> bytes:
    """The ``LOAD DATA LOCAL INFILE`` of ``directory``'s data file into ``table``'s columns.

    ``CHARACTER SET binary``: the bytes go in as they are (a BLOB's invalid UTF-8 included);
    text columns take them as the UTF-8 they are. ``IGNORE`` skips a row whose unique key is
    taken, as the INSERT's ``ON DUPLICATE KEY UPDATE id = id`` does.
    """
    path = os.path.join(directory, DATA_FILE).replace("\\", "\\\\").replace("'", "\\'")
    return (f"LOAD DATA LOCAL INFILE '{path}' IGNORE INTO TABLE `{table}` CHARACTER SET binary "
            "FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' "
            f"LINES TERMINATED BY '\\n' ({names})").encode()


def _load_data_rows_py(rows: Sequence[Sequence[Any]]) -> bytes | None:
    """The rows as the load's tab-separated lines, or None when a column holds a value of a
    type it does not write (the INSERT converts it).

    Built a column at a time with C-level maps (a column of one type, mostly without a
    character to escape), then zipped into lines. Text is UTF-8 (lone surrogates raise
    UnicodeEncodeError, and the caller cleans them), NULL is ``\\N``.

    This is the specification ``_tsv.c`` follows byte for byte (None and exceptions alike);
    it runs where the C module is not built or ``SIPPARSE_PURE_PYTHON`` is set.
    """
    columns = []
    for values in zip(*rows, strict=True):
        column = _load_column(values)
        if column is None:
            return None
        columns.append(column)
    return b"\n".join(map(b"\t".join, zip(*columns, strict=True))) + b"\n"


def _load_column(values: tuple[Any, ...]) -> Sequence[bytes] | None:
    """One column's fields: escaped text or bytes, decimal integers, ISO datetimes, ``\\N``.

    A column of one value throughout (the source file, the host, the time of ingest) is
    converted once."""
    first = values[0]
    if len(values) > 1 and first is values[-1] and values.count(first) == len(values):
        field = _load_column((first,))
        return None if field is None else [field[0]] * len(values)
    nulls = values.count(None)
    present = [v for v in values if v is not None] if nulls else values
    if not present:
        return [NULL_FIELD] * len(values)
    kinds = set(map(type, present))
    encode = _FIELD_ENCODERS.get(kinds.pop()) if len(kinds) == 1 else None
    if encode is None:
        return None
    fields = encode(present)
    if not nulls:
        return fields
    found = iter(fields)
    return [NULL_FIELD if v is None else next(found) for v in values]


def _text_fields(values: Sequence[str]) -> list[bytes]:
    escapes = _escapes_in("".join(values))
    if escapes:
        return [_escape(v, escapes).encode() for v in values]
    return list(map(str.encode, values))


def _bytes_fields(values: Sequence[bytes]) -> list[bytes]:
    escapes = _escapes_in(b"".join(values))
    return [_escape(v, escapes) for v in values] if escapes else list(values)


def _escapes_in(joined: AnyStr) -> list[tuple[AnyStr, AnyStr]]:
    """The escapes a column needs (raw messages: only LF, as a rule), backslash first."""
    return [pair for pair in _ESCAPES[type(joined)] if pair[0] in joined]


def _escape(value: AnyStr, escapes: list[tuple[AnyStr, AnyStr]]) -> AnyStr:
    """Backslash, tab, LF and NUL as the load's ESCAPED BY reads them back."""
    for char, escaped in escapes:
        value = value.replace(char, escaped)
    return value


NULL_FIELD = b"\\N"
_ESCAPES: dict[type, tuple[tuple[Any, Any], ...]] = {
    str: (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\0", "\\0")),
}
_ESCAPES[bytes] = tuple((a.encode(), b.encode()) for a, b in _ESCAPES[str])
_FIELD_ENCODERS: dict[type, Callable[[Sequence[Any]], Sequence[bytes]]] = {
    str: _text_fields,
    bytes: _bytes_fields,
    int: lambda values: list(map(b"%d".__mod__, values)),
    datetime: lambda values: list(map(str.encode, map(datetime.isoformat, values, repeat(" ")))),
}


def _c_load_data_rows() -> Callable[[Sequence[Sequence[Any]]], bytes | None] | None:
    """The C build of ``load_data_rows`` (``_tsv.c``), or None where it is not built or
    ``SIPPARSE_PURE_PYTHON`` turns it off (as it does the C scanner, ``sipparse.sip.accel``).

    Building the load's text is the client's largest cost in a MySQL write; the C version
    gives the same bytes, None or exception 13 to 20 times faster (some 0.6 microseconds a
    message row against 8 to 13)."""
    tsv = c_module("sipparse.store._tsv")
    return tsv.load_data_rows if tsv is not None else None


# The load's data is built by the C version wherever it loads.
load_data_rows: Callable[[Sequence[Sequence[Any]]], bytes | None] = _c_load_data_rows() or _load_data_rows_py
LOAD_ROWS_IN_C = load_data_rows is not _load_data_rows_py  # for ``sipparse info``


def _private_dir() -> str:
    """A new directory only this user can enter, for the loads' data file; in memory
    (``/dev/shm``) where there is one. The client library wants it to exist when it connects."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else tempfile.gettempdir()
    _sweep_stale_dirs(base)
    return os.path.realpath(tempfile.mkdtemp(prefix=LOAD_DIR_PREFIX, dir=base))


def _sweep_stale_dirs(base: str) -> None:
    """Remove this user's load directories that a killed process left (a load takes seconds
    at most; ``/dev/shm`` keeps what is left there until the machine restarts)."""
    for path in glob.glob(os.path.join(glob.escape(base), LOAD_DIR_PREFIX + "*")):
        try:
            found = os.lstat(path)
            if found.st_uid == os.getuid() and stat.S_ISDIR(found.st_mode) and \
                    time.time() - found.st_mtime > STALE_LOAD_DIR:
                shutil.rmtree(path)
        except OSError as exc:  # another process removed it first
            log.debug("stale load directory %s not removed: %s", path, exc)


def _check_encodable(rows: Sequence[Sequence[Any]]) -> None:
    """Raise UnicodeEncodeError for text that is not UTF-8 (lone surrogates from undecodable
    bytes; the caller cleans it and tries again) before the C extension sees it: its prepared
    statements crash the process on such text. One join per text column finds it: almost all
    text is ASCII, which ``isascii`` answers without reading it."""
    for index in range(len(rows[0])):
        values = list(filter(None, map(itemgetter(index), rows)))
        if values and isinstance(values[0], str):
            try:
                joined = "".join(values)
            except TypeError:  # not a text column after all
                continue
            if not joined.isascii():
                joined.encode("utf-8")


def _unbindable(rows: Sequence[Sequence[Any]]) -> Exception | None:
    """The error of the first value no column can take: text that is not UTF-8 (lone
    surrogates; the caller cleans it and tries again) or an integer past 64 bits."""
    for value in chain.from_iterable(rows):
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                return exc
        elif isinstance(value, int) and not -(1 << 63) <= value < (1 << 63):
            return OverflowError(f"integer of {value.bit_length()} bits too large to store")
    return None


def _raise_encode_error(exc: Exception) -> None:
    """Text the database cannot encode (lone surrogates): the caller cleans it and tries again."""
    if isinstance(exc.__cause__, UnicodeEncodeError):
        raise exc.__cause__ from None


@contextmanager
def _closed_after(cursor: Any) -> Iterator[Any]:
    """``cursor``, closed on leaving. Left by an exception (a Ctrl-C that cut a result short,
    a connection lost), a failure to close it ("Unread result found") is not raised in place
    of that exception: the first failure is the one that says what happened."""
    try:
        yield cursor
    except BaseException:
        _close_quietly(cursor)
        raise
    cursor.close()


def _close_quietly(cursor: Any) -> None:
    try:
        cursor.close()
    except Exception as exc:  # the connection may be gone already
        log.debug("closing a prepared statement failed: %s", exc)


def qmark_to_format(sql: str) -> str:
    """``?`` placeholders to the connector's ``%s``, leaving quoted text alone."""
    out: list[str] = []
    quote: str | None = None
    for char in sql:
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"`":
            quote = char
        elif char == "?":
            char = "%s"
        out.append(char)
    return "".join(out)


def _plain_value(value: Any) -> Any:
    """The Python types SQLite gives: text timestamps, bytes, int/float."""
    if isinstance(value, datetime):
        return text_time(value)
    if isinstance(value, bytearray):
        return bytes(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value
