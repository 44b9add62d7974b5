"""A MySQL/MariaDB server set up as DBAs set them up: statement binary logging, old table
defaults, global session limits. sipparse must ingest, query and purge there as anywhere."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from sipparse.cli import cli
from sipparse.errors import DatabaseError
from sipparse.sip.message import Source
from sipparse.store import Store, migrate, open_store, schema
from tests.conftest import _admin_connect, fresh_database, server_global
from tests.mysql_server import ThrowawayServer
from tests.store.factory import mixed_traffic
from tests.store.helpers import count

pytestmark = pytest.mark.mysql
SOURCE = Source("/var/log/asterisk/pjsip", "fp-dba")
START = datetime(2025, 2, 1, 18, 32, 31)
GRANTS = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX"  # the README's
# what a production my.cnf often has that a fresh server has not
DBA_OPTIONS = (
    "--log-bin=mysql-bin", "--server-id=1", "--binlog-format=STATEMENT",
    "--max-join-size=10",
    "--innodb-default-row-format=compact",  # MySQL 5.6's: an index holds 767 bytes of a column
    "--explicit-defaults-for-timestamp=OFF",  # MariaDB's before 10.10: a TIMESTAMP updates itself
)
# limits set with SET GLOBAL (they have no server option), which each new session takes
GLOBAL_LIMITS = ("sql_select_limit = 10", "sql_safe_updates = 1")


@pytest.fixture(scope="module")
def dba_root_url() -> Iterator[str]:
    """A root URL of a throwaway server started with ``DBA_OPTIONS`` (an external server's
    options are not ours to change: the tests skip there)."""
    server = ThrowawayServer(*DBA_OPTIONS)
    if os.environ.get("SIPPARSE_TEST_MYSQL_URL") or not server.available:
        pytest.skip("needs a throwaway MySQL/MariaDB server (mariadbd/mysqld) to start with other options")
    try:
        url = server.start()
        admin = _admin_connect(url)
        for setting in GLOBAL_LIMITS:
            admin.cursor().execute(f"SET GLOBAL {setting}")
        admin.close()
        yield url
    finally:
        server.stop()


@pytest.fixture
def dba_url(dba_root_url: str) -> Iterator[str]:
    """A fresh database on that server, created as the server's defaults make it."""
    with fresh_database(dba_root_url, options="") as url:
        yield url


def test_statement_binary_logging_does_not_stop_an_ingest(dba_url: str) -> None:
    """binlog_format=STATEMENT (with the binary log on): InnoDB refuses to log a write made at
    READ COMMITTED as a statement (error 1665). The session logs its own writes as rows
    instead, as binlog_format=MIXED would."""
    messages = mixed_traffic(SOURCE, 20, START)
    with open_store(dba_url) as store:
        assert store.write_batch(messages).inserted == len(messages)
        assert count(store, "calls") == 20
        assert store.purge(datetime(2030, 1, 1))["messages"] == len(messages)


def test_an_account_that_may_not_log_rows_is_told_which_setting_refuses_it(dba_root_url: str, dba_url: str) -> None:
    """Without the privilege to change its session's binlog_format, the write fails with
    what to change, not only the server's words about storage engines."""
    database = urlsplit(dba_url).path.lstrip("/")
    user, password = "sp" + uuid.uuid4().hex[:8], "pw-" + uuid.uuid4().hex
    admin = _admin_connect(dba_root_url)
    admin.cursor().execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    admin.cursor().execute(f"GRANT {GRANTS} ON `{database}`.* TO '{user}'@'%'")
    parts = urlsplit(dba_root_url)
    try:
        with pytest.raises(DatabaseError) as refused:
            open_store(f"mysql://{user}:{password}@{parts.hostname}:{parts.port}/{database}")
    finally:
        admin.cursor().execute(f"DROP USER '{user}'@'%'")
        admin.close()
    assert "binlog_format=STATEMENT: set it to MIXED or ROW" in str(refused.value)


def test_global_limits_of_a_dba_bound_no_query_of_sipparse(dba_url: str) -> None:
    """sql_select_limit, max_join_size and sql_safe_updates set globally (a guard for people
    at the mysql prompt) would cut sipparse's reads short, refuse its joins and its purge's
    DELETEs: its sessions set their own values."""
    messages = mixed_traffic(SOURCE, 30, START)
    with open_store(dba_url) as store:
        assert store.write_batch(messages).inserted == len(messages)
        assert count(store, "calls") == 30
        assert len(store.fetchall("SELECT call_id FROM calls")) == 30
    for args in (["calls", "--limit", "100"], ["stats"]):
        result = CliRunner().invoke(cli, ["--db", dba_url, *args])
        assert result.exit_code == 0, result.output
    listed = CliRunner().invoke(cli, ["--db", dba_url, "calls", "--limit", "100"]).output
    assert listed.count("@fp-dba\n") == 24  # the INVITE dialogs of the 30 (sql_select_limit is 10)
    result = CliRunner().invoke(cli, ["--db", dba_url, "purge", "--older-than", "1d"])
    assert result.exit_code == 0, result.output
    with open_store(dba_url) as store:
        assert count(store, "sip_transactions") == count(store, "calls") == 0


def _legacy_table(root_url: str, url: str, options: str) -> None:
    """The Logstash pipeline's table (schema version 1) as its JDBC output or a DBA created it:
    with ``options`` instead of sipparse's, and two rows whose Call-IDs differ in case only."""
    admin = _admin_connect(root_url)
    cursor = admin.cursor()
    cursor.execute(f"USE `{urlsplit(url).path.lstrip('/')}`")
    cursor.execute(schema.create_messages_v1("mysql").replace(schema.TABLE_OPTIONS, options))
    cursor.execute("INSERT INTO sip_transactions (call_id, sip_method, from_sip, to_sip, cseq, cseq_method, "
                   "timestamp, direction, raw_message) VALUES "
                   "('abc@pbx', 'INVITE', '<sip:a@pbx>;tag=1', '<sip:b@pbx>', 1, 'INVITE', '2025-01-01 10:00:00', "
                   "'in', 'INVITE one'), "
                   "('ABC@pbx', 'INVITE', '<sip:a@pbx>;tag=2', '<sip:b@pbx>', 1, 'INVITE', '2025-01-01 10:00:01', "
                   "'in', 'INVITE two')")
    admin.commit()
    admin.close()


def _table_options(store: Store) -> dict[str, tuple[str, str, str]]:
    found = store.fetchall("SELECT table_name AS t, engine AS e, row_format AS f, table_collation AS c "
                           "FROM information_schema.tables WHERE table_schema = DATABASE()")
    return {r["t"]: (r["e"], r["f"], r["c"]) for r in found}


def test_tables_take_the_row_format_their_long_indexes_need(dba_url: str) -> None:
    """A server whose default row format is COMPACT (MySQL 5.6, or a my.cnf kept from it)
    indexes 767 bytes of a column: less than a VARCHAR(255) of utf8mb4. The tables are
    DYNAMIC, which indexes 3072."""
    with open_store(dba_url) as store:
        assert store.write_batch(mixed_traffic(SOURCE, 3, START)).inserted
        assert {options[1] for options in _table_options(store).values()} == {"Dynamic"}


def test_a_compact_table_of_logstash_is_migrated(dba_root_url: str, dba_url: str) -> None:
    _legacy_table(dba_root_url, dba_url, "ENGINE=InnoDB ROW_FORMAT=COMPACT DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
    with open_store(dba_url) as store:
        assert _table_options(store)["sip_transactions"][1] == "Dynamic"
        assert count(store, "calls") == 2


def test_a_myisam_table_of_logstash_is_converted_to_innodb(dba_root_url: str, dba_url: str) -> None:
    """MyISAM has no transactions: a batch's rows and its checkpoint would not commit or roll
    back together, and exactly-once ingest rests on that. The migration converts the table."""
    _legacy_table(dba_root_url, dba_url, "ENGINE=MyISAM DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
    with open_store(dba_url) as store:
        assert {options[0] for options in _table_options(store).values()} == {"InnoDB"}
        assert _table_options(store)["sip_transactions"][1] == "Dynamic"
        assert count(store, "calls") == 2


@pytest.mark.parametrize("charset", ["latin1", "utf8mb4 COLLATE=utf8mb4_general_ci"])
def test_a_case_insensitive_table_of_logstash_is_converted_to_binary_collation(dba_root_url: str, dba_url: str,
                                                                              charset: str) -> None:
    """Call-IDs are case-sensitive (RFC 3261): in a _ci collation abc@pbx and ABC@pbx would be
    one call, and a latin1 column cannot hold every header. The migration converts the table
    to utf8mb4_bin before it builds the calls."""
    _legacy_table(dba_root_url, dba_url, f"ENGINE=InnoDB DEFAULT CHARSET={charset}")
    with open_store(dba_url) as store:
        assert {options[2] for options in _table_options(store).values()} == {"utf8mb4_bin"}
        collations = store.fetchall("SELECT DISTINCT collation_name AS c FROM information_schema.columns "
                                    "WHERE table_schema = DATABASE() AND collation_name IS NOT NULL")
        assert [r["c"] for r in collations] == ["utf8mb4_bin"]
        assert sorted(r["call_id"] for r in store.fetchall("SELECT call_id FROM calls")) == ["ABC@pbx", "abc@pbx"]
        store.write_batch(mixed_traffic(SOURCE, 2, START))
        assert store.fetchall("SELECT COUNT(*) AS n FROM calls WHERE call_id = ?", ("CALL-0@FP-DBA",)) == [{"n": 0}]


def test_a_migration_outlasts_a_global_max_statement_time(dba_root_url: str, dba_url: str,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A max_statement_time set against runaway queries interrupts a migration that rebuilds
    a large table on every try (error 1969, retried until the tries run out), so the schema
    never comes up: the migration, run once, goes without it, as without the read timeout."""
    _legacy_table(dba_root_url, dba_url, schema.TABLE_OPTIONS)
    upgrade = migrate._upgrade

    def slow_upgrade(store: Store) -> None:
        store.query("SELECT SUM(seq % 7) FROM seq_1_to_5000000")  # some 0.4 s, as a rebuild takes longer
        upgrade(store)

    monkeypatch.setattr(migrate, "_upgrade", slow_upgrade)
    with server_global(dba_root_url, "max_statement_time", 0.1), open_store(dba_url) as store:
        assert count(store, "calls") == 2
        assert store.query("SELECT @@max_statement_time")[0][0] == 0.1  # the limit is back


@pytest.mark.parametrize(("setting", "value"), [("completion_type", 2), ("tx_read_only", 1)])
def test_a_global_transaction_default_does_not_stop_the_writes(dba_root_url: str, dba_url: str, setting: str,
                                                               value: int) -> None:
    """completion_type=RELEASE (2) closes the connection at every COMMIT; tx_read_only
    (transaction_read_only on MySQL) makes every transaction refuse writes: the session
    goes back to the defaults, as it does for the other session settings a DBA may change."""
    with server_global(dba_root_url, setting, value), open_store(dba_url) as store:
        messages = mixed_traffic(SOURCE, 5, START)
        assert store.write_batch(messages).inserted == len(messages)
        assert count(store, "calls") == 5
        assert store.retries == 0


HAND_MADE_TABLE = """CREATE TABLE sip_transactions (
  id INT AUTO_INCREMENT PRIMARY KEY, call_id VARCHAR(255), sip_method VARCHAR(64), from_sip VARCHAR(255),
  to_sip VARCHAR(255), cseq INT, cseq_method VARCHAR(255), sdp_content TEXT, timestamp TIMESTAMP NULL,
  status_code SMALLINT, direction VARCHAR(3), raw_message TEXT
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"""


def test_narrower_columns_of_a_table_made_by_hand_are_widened(dba_root_url: str, dba_url: str) -> None:
    """A table made by hand for Logstash's JDBC output with types of its own: a Call-ID of
    more than 255 characters, a message of more than 64 KiB or a microsecond would be
    refused by strict mode, stopping every ingest at that batch, or cut. The migration
    widens such columns to sipparse's types (never narrows one)."""
    admin = _admin_connect(dba_root_url)
    admin.cursor().execute(f"USE `{urlsplit(dba_url).path.lstrip('/')}`")
    admin.cursor().execute(HAND_MADE_TABLE)
    admin.close()
    messages = mixed_traffic(SOURCE, 3, START)
    messages[0] = replace(messages[0], call_id="c" * 400, raw_message=messages[0].raw_message + b"X" * 70000,
                          timestamp=START.replace(microsecond=123456))
    with open_store(dba_url) as store:
        assert store.write_batch(messages).inserted == len(messages)
        found = store.fetchall("SELECT LENGTH(call_id) AS c, LENGTH(raw_message) AS r, timestamp AS t "
                               "FROM sip_transactions ORDER BY r DESC LIMIT 1")
        kept = store.fetchall("SELECT column_type AS t FROM information_schema.columns "
                              "WHERE table_schema = DATABASE() AND column_name IN ('sip_method', 'cseq_method')")
    assert found == [{"c": 400, "r": len(messages[0].raw_message), "t": "2025-02-01 18:32:31.123456"}]
    assert sorted(r["t"] for r in kept) == ["mediumtext", "varchar(255)"]  # widened to sipparse's, or kept wider


def test_not_null_columns_of_a_table_made_by_hand_take_null(dba_root_url: str, dba_url: str) -> None:
    """``sdp_content TEXT NOT NULL``, ``status_code INT NOT NULL``: a message without SDP, a
    request, would be refused by strict mode at every ingest. The migration lets the columns
    sipparse may leave empty take NULL, keeping their types."""
    admin = _admin_connect(dba_root_url)
    admin.cursor().execute(f"USE `{urlsplit(dba_url).path.lstrip('/')}`")
    admin.cursor().execute(HAND_MADE_TABLE.replace("sdp_content TEXT", "sdp_content LONGTEXT NOT NULL")
                           .replace("status_code SMALLINT", "status_code INT NOT NULL"))
    admin.close()
    messages = mixed_traffic(SOURCE, 3, START)
    with open_store(dba_url) as store:
        assert store.write_batch(messages).inserted == len(messages)
        found = store.fetchall("SELECT column_name AS c, column_type AS t, is_nullable AS n "
                               "FROM information_schema.columns WHERE table_schema = DATABASE() "
                               "AND column_name IN ('sdp_content', 'status_code')")
    assert sorted((r["c"], r["t"].split("(")[0], r["n"]) for r in found) == [("sdp_content", "longtext", "YES"),
                                                                             ("status_code", "int", "YES")]


def test_the_times_of_a_table_made_by_hand_survive_its_migration(dba_root_url: str, dba_url: str) -> None:
    """Without explicit_defaults_for_timestamp, a ``timestamp TIMESTAMP`` column is ``ON
    UPDATE CURRENT_TIMESTAMP``: the migration's UPDATEs of the Logstash rows (their method,
    From and To parts) would set every message's time to the moment of the migration. The
    column becomes DATETIME(6) before any row is updated."""
    admin = _admin_connect(dba_root_url)
    cursor = admin.cursor()
    cursor.execute(f"USE `{urlsplit(dba_url).path.lstrip('/')}`")
    cursor.execute(HAND_MADE_TABLE.replace("timestamp TIMESTAMP NULL", "timestamp TIMESTAMP"))
    cursor.execute("INSERT INTO sip_transactions (call_id, sip_method, from_sip, to_sip, timestamp, raw_message) "
                   "VALUES ('abc@pbx', 'INVITE', '<sip:a@pbx>;tag=1', '<sip:b@pbx>', '2025-01-01 10:00:00', 'x')")
    admin.commit()
    admin.close()
    with open_store(dba_url) as store:
        assert store.fetchall("SELECT timestamp, from_user FROM sip_transactions") == [
            {"timestamp": "2025-01-01 10:00:00", "from_user": "a"}]


@pytest.mark.parametrize("sql_mode", ["ORACLE", "ANSI_QUOTES", ""])
def test_a_global_sql_mode_and_a_latin1_database_change_nothing(dba_root_url: str, sql_mode: str) -> None:
    """MariaDB's ``sql_mode=ORACLE`` or ``ANSI_QUOTES`` (a double-quoted string is a name there),
    or no strict mode at all, set globally; a database whose default charset is latin1. Each
    session sets its own sql_mode and the tables their own charset: ingest, every query and
    purge work, and a From display name outside latin1 (and outside the BMP) comes back as
    it was logged."""
    name = "Zoë 😀 Ωmega"
    messages = [replace(m, from_display=name, from_sip=f'"{name}" <sip:zoe@pbx.example>;tag=z')
                for m in mixed_traffic(SOURCE, 5, START)]
    with server_global(dba_root_url, "sql_mode", sql_mode), \
            fresh_database(dba_root_url, "CHARACTER SET latin1") as url:
        with open_store(url) as store:
            assert store.write_batch(messages).inserted == len(messages)
        for args in (["calls"], ["stats"], ["rejects"], ["show", messages[0].call_id, "--format", "json"]):
            result = CliRunner().invoke(cli, ["--db", url, *args])
            assert result.exit_code == 0, result.output
        assert {m["from_sip"] for m in json.loads(result.stdout)} == {f'"{name}" <sip:zoe@pbx.example>;tag=z'}
        result = CliRunner().invoke(cli, ["--db", url, "purge", "--older-than", "1d"])
        assert result.exit_code == 0, result.output
        with open_store(url) as store:
            assert count(store, "sip_transactions") == count(store, "calls") == 0
