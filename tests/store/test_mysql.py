"""MySQL specifics: connection errors, credentials from an option file, the minimal grants."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from sipparse.cli import cli, run
from sipparse.errors import ConfigError, DatabaseError, NoSchema
from sipparse.sip.message import SipMessage, Source
from sipparse.store import open_store, schema
from sipparse.store.mysql import option_value
from tests.conftest import _admin_connect, server_global
from tests.store.factory import mixed_traffic
from tests.store.helpers import calls_table, count
from tests.store.test_mysql_load import server_local_infile

SOURCE = Source("/var/log/asterisk/pjsip", "fp-mysql")
START = datetime(2025, 2, 1, 18, 32, 31)
GRANTS = "SELECT, INSERT, UPDATE, DELETE, CREATE, ALTER, INDEX"


def test_unreachable_server_is_one_line_without_the_password() -> None:
    with pytest.raises(DatabaseError) as caught:
        open_store("mysql://sip:s3cret-pw@127.0.0.1:1/sipdb")
    message = str(caught.value)
    assert message.startswith("mysql://sip:***@127.0.0.1:1/sipdb: cannot connect: ")
    assert "s3cret-pw" not in message and "\n" not in message


def test_a_server_not_listening_is_out_of_reach_not_a_refusal() -> None:
    with pytest.raises(DatabaseError) as caught:
        open_store("mysql://sip@127.0.0.1:1/sipdb")
    assert caught.value.unreachable


@pytest.mark.mysql
def test_a_full_server_is_out_of_reach_for_now(mysql_root_url: str) -> None:
    """Too many connections passes, as a restart does: ``ingest --follow`` waits for it."""
    with _account(mysql_root_url, GRANTS) as (host, port, database, user, password):
        alter_account(mysql_root_url, user, "WITH MAX_USER_CONNECTIONS 1")
        url = f"mysql://{user}:{password}@{host}:{port}/{database}"
        with open_store(url), pytest.raises(DatabaseError) as caught:
            open_store(url)
        assert caught.value.unreachable


@pytest.mark.mysql
def test_a_connection_the_server_still_counts_for_a_moment_is_waited_for(mysql_root_url: str) -> None:
    """The server counts a connection against ``max_user_connections`` (or ``max_connections``)
    until its thread has ended, a moment after the client closed it: the reconnects of an
    open (around a schema migration) of an account allowed one connection were refused
    now and then ("has exceeded the 'max_user_connections' resource"), under load one open
    in seven. A connection refused by such a count is tried again for a moment; here the
    only one allowed is held by another client for 0.3 s."""
    import mysql.connector

    with _account(mysql_root_url, GRANTS) as (host, port, database, user, password):
        alter_account(mysql_root_url, user, "WITH MAX_USER_CONNECTIONS 1")
        other = mysql.connector.connect(host=host, port=port, user=user, password=password, database=database)
        releasing = threading.Timer(0.3, other.close)
        releasing.start()
        try:
            store = open_store(f"mysql://{user}:{password}@{host}:{port}/{database}")
        finally:
            releasing.join()
        try:
            assert count(store, "sip_transactions") == 0
        finally:
            store.close()


def test_cli_prints_one_line_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        run(["--db", "mysql://sip:s3cret-pw@127.0.0.1:1/sipdb", "purge", "--older-than", "30d"])
    assert caught.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("Error: mysql://sip:***@127.0.0.1:1/sipdb: cannot connect: ")
    assert err.count("\n") == 1 and "s3cret-pw" not in err


@contextmanager
def _account(mysql_root_url: str, grants: str):  # type: ignore[no-untyped-def]
    """A fresh database, and a user holding only ``grants`` on it."""
    name, user, password = (
        f"sipparse_g_{uuid.uuid4().hex[:10]}",
        f"sp{uuid.uuid4().hex[:8]}",
        "pw-" + uuid.uuid4().hex,
    )
    con = _admin_connect(mysql_root_url)
    cursor = con.cursor()
    cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'")
    cursor.execute(f"GRANT {grants} ON `{name}`.* TO '{user}'@'%'")
    parts = urlsplit(mysql_root_url)
    try:
        yield parts.hostname, parts.port, name, user, password
    finally:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        con.close()


@pytest.fixture
def limited_user(mysql_root_url: str):  # type: ignore[no-untyped-def]
    """A fresh database, and a user holding only the documented grants on it."""
    with _account(mysql_root_url, GRANTS) as account:
        yield account


@pytest.mark.mysql
def test_a_read_only_account_reads_a_database_nothing_was_ingested_into(mysql_root_url: str) -> None:
    """examples/mysql/create-user.sql's viewer: SELECT only. Before the first ingest the
    database has no tables, which it may not create: the queries answer as for an empty one."""
    with _account(mysql_root_url, "SELECT") as (host, port, database, user, password):
        url = f"mysql://{user}:{password}@{host}:{port}/{database}"
        with pytest.raises(NoSchema):
            open_store(url, create=False)
        result = CliRunner().invoke(cli, ["--db", url, "calls"])
        assert result.exit_code == 0, result.output
        assert result.stderr.startswith(f"Note: mysql://{user}:***@{host}:{port}/{database}: no sipparse tables yet")
        assert result.stderr.endswith("No calls match.\n") and result.stdout == ""


@pytest.mark.mysql
def test_a_read_only_account_on_an_older_schema_is_told_to_migrate_it(mysql_root_url: str) -> None:
    """A viewer's sipparse upgraded before the ingesting hosts' meets a schema it may not ALTER."""
    with _account(mysql_root_url, "SELECT") as (host, port, database, user, password):
        con = _admin_connect(mysql_root_url)
        con.cursor().execute(f"USE `{database}`")
        con.cursor().execute(schema.create_messages_v1("mysql"))
        con.close()
        url = f"mysql://{user}:{password}@{host}:{port}/{database}"
        result = CliRunner().invoke(cli, ["--db", url, "calls"])
        assert result.exit_code == 1
        assert f"schema version 1 is older than this sipparse's ({schema.version('mysql')})" in result.stderr
        assert "run sipparse ingest once with an account that may alter the tables" in result.stderr


@pytest.mark.mysql
def test_an_account_without_create_or_alter_ingests_into_a_current_schema_and_is_told_of_an_older_one(
        mysql_root_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    """A DBA who grants the ingesting hosts SELECT, INSERT, UPDATE and DELETE only, and migrates
    the schema with another account: ingest works while the schema is current; once it is older than this
    sipparse (a revision behind), the one line says so and how to bring it up, not only that
    a CREATE it never meant to run was denied."""
    seed = Path(__file__).parents[1] / "data" / "seed-call.log"
    with _account(mysql_root_url, "SELECT, INSERT, UPDATE, DELETE") as (host, port, database, user, password):
        root_url = f"{mysql_root_url.rsplit('/', 1)[0]}/{database}"
        open_store(root_url).close()
        url = f"mysql://{user}:{password}@{host}:{port}/{database}"
        argv = ["--db", url, "ingest", "--tz", "UTC", "--year", "2025", "--no-progress"]
        assert CliRunner().invoke(cli, [*argv, str(seed)]).exit_code == 0
        admin = _admin_connect(mysql_root_url)
        admin.cursor().execute(f"USE `{database}`")
        admin.cursor().execute("DELETE FROM schema_revision")
        admin.cursor().execute("ALTER TABLE checkpoints DROP COLUMN host")
        admin.close()
        with pytest.raises(SystemExit) as refused:
            run([*argv, "--host", "pbx-2", str(seed)])
        assert refused.value.code == 1
        said = capsys.readouterr().err
        assert said.count("\n") == 1 and "CREATE command denied" in said, said
        assert f"schema revision 0 is older than this sipparse's ({schema.CURRENT_REVISION})" in said
        assert said.endswith("run sipparse ingest once with an account that may create and alter the tables "
                             "(GRANT CREATE, ALTER, INDEX), then this one goes on\n")


def alter_account(root_url: str, user: str, change: str) -> None:
    """``ALTER USER`` of a test account: its password, its limits."""
    admin = _admin_connect(root_url)
    try:
        admin.cursor().execute(f"ALTER USER '{user}'@'%' {change}")
    finally:
        admin.close()


def private_file(path: Path, text: str) -> Path:
    """``path`` holding ``text``, readable by its owner only, as an option file with a password must be."""
    path.write_text(text)
    os.chmod(path, 0o600)
    return path


@pytest.mark.mysql
def test_minimal_grants_with_password_from_option_file(limited_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    host, port, database, user, password = limited_user
    option_file = private_file(tmp_path / "my.cnf", f"[client]\nuser = {user}\npassword = {password}\n")
    url = f"mysql://{host}:{port}/{database}?option_files={option_file}"
    with open_store(url) as store:  # creates the schema with these grants only
        messages = mixed_traffic(SOURCE, 12, START)
        assert store.write_batch(messages).inserted == len(messages)
        assert len(calls_table(store)) == 12
        assert store.purge(datetime(2030, 1, 1))["messages"] == len(messages)


@pytest.mark.mysql
def test_the_port_of_an_option_file_is_used_when_the_url_gives_none(limited_user, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """As ``mysql --defaults-file`` connects: a server on another port than 3306 is named
    once, in the option file the password is in already."""
    host, port, database, user, password = limited_user
    option_file = private_file(tmp_path / "my.cnf", f"[client]\nuser = {user}\npassword = {password}\nport = {port}\n")
    with open_store(f"mysql://{host}/{database}?option_files={option_file}") as store:
        assert store.checkpoints() == []


@pytest.mark.mysql
@pytest.mark.parametrize("written", ["p/ss?w#rd@1", "p%2Fss%3Fw%23rd%401"])
def test_a_password_with_url_delimiters_connects_encoded_or_not(mysql_root_url: str, written: str) -> None:
    with _account(mysql_root_url, GRANTS) as (host, port, database, user, _):
        alter_account(mysql_root_url, user, "IDENTIFIED BY 'p/ss?w#rd@1'")
        result = CliRunner().invoke(cli, ["--db", f"mysql://{user}:{written}@{host}:{port}/{database}", "calls"])
        assert result.exit_code == 0, result.output
        assert "w#rd" not in result.output


@pytest.mark.parametrize("text", [b"[client\npassword = x\n", b"\xff\xfe[client]\npassword = x\n"])
def test_an_option_file_that_cannot_be_read_is_one_line_naming_it(tmp_path: Path, text: bytes,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """A ``[client`` without its bracket ended the command with 'unexpected
    MissingSectionHeaderError' and the parser's lines; one not in UTF-8 named no file, and
    was taken for a server out of reach, which ``ingest --follow`` waits on for ever."""

    option_file = tmp_path / "my.cnf"
    option_file.write_bytes(text)
    option_file.chmod(0o600)
    url = f"mysql://sip@127.0.0.1:1/sip?option_files={option_file}"
    with pytest.raises(ConfigError, match=f"option file {option_file}: "):
        open_store(url)
    with pytest.raises(SystemExit) as exc:
        run(["--db", url, "calls"])
    err = capsys.readouterr().err
    assert exc.value.code == 1 and err.startswith(f"Error: option file {option_file}: ")
    assert err.count("\n") == 1 and "unexpected" not in err and "\\x0a" not in err


@pytest.mark.parametrize(("raw", "read"), [
    ('"p#ss w0rd"', "p#ss w0rd"), ("'p#ss w0rd'  # a comment", "p#ss w0rd"), ("p#ss", "p"),
    ('"x\\"y"', 'x"y'), ("a\\tb\\sc", "a\tb c"), ('"a\\qb"', "a\\qb"), ("plain  ", "plain"),
])
def test_option_file_values_read_as_my_print_defaults_shows_them(raw: str, read: str) -> None:
    assert option_value(raw) == read


@pytest.mark.mysql
@pytest.mark.parametrize("written", ['"p#ss w0rd"', "'p#ss w0rd'  # the password of sipparse", '"p#ss\\sw0rd"'])
def test_an_option_file_password_is_read_as_the_mysql_client_reads_it(mysql_root_url: str, tmp_path: Path,
                                                                       written: str) -> None:
    """In quotes, a ``#`` is part of the password and the quotes are not; after them a ``#``
    starts a comment; ``\\s`` is a space: as ``mysql --defaults-file`` reads the same file."""
    with _account(mysql_root_url, GRANTS) as (host, port, database, user, _):
        alter_account(mysql_root_url, user, "IDENTIFIED BY 'p#ss w0rd'")
        option_file = private_file(tmp_path / "my.cnf", f"[client]\nuser = {user}\npassword = {written}\n")
        with open_store(f"mysql://{host}:{port}/{database}?option_files={option_file}") as store:
            assert store.checkpoints() == []


@pytest.mark.mysql
@pytest.mark.parametrize("missing", ["SELECT", "INSERT", "UPDATE", "CREATE", "INDEX"])
def test_an_account_short_of_a_documented_grant_is_one_line(mysql_root_url: str, missing: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """An account without one of README's grants that an ingest needs: one line naming what
    was denied, exit 1; once granted, the next run stores the log whole."""
    seed = Path(__file__).parents[1] / "data" / "seed-call.log"
    grants = ", ".join(grant for grant in GRANTS.split(", ") if grant != missing)
    with _account(mysql_root_url, grants) as (host, port, database, user, password):
        url = f"mysql://{user}:{password}@{host}:{port}/{database}"
        argv = ["--db", url, "ingest", "--tz", "UTC", "--year", "2025", "--no-progress", str(seed)]
        with pytest.raises(SystemExit) as refused:
            run(argv)
        assert refused.value.code == 1
        said = capsys.readouterr().err
        assert said.startswith("Error: ") and said.count("\n") == 1 and f"{missing} command denied" in said, said
        admin = _admin_connect(mysql_root_url)
        admin.cursor().execute(f"GRANT {GRANTS} ON `{database}`.* TO '{user}'@'%'")
        admin.close()
        assert CliRunner().invoke(cli, argv).exit_code == 0
        with open_store(url) as store:
            assert count(store, "sip_transactions") == 5


@pytest.mark.mysql
def test_minimal_grants_migrate_version_1(limited_user) -> None:  # type: ignore[no-untyped-def]
    host, port, database, user, password = limited_user
    url = f"mysql://{user}:{password}@{host}:{port}/{database}"
    import mysql.connector

    con = mysql.connector.connect(host=host, port=port, user=user, password=password, database=database)
    con.cursor().execute(schema.create_messages_v1("mysql"))
    con.close()
    with open_store(url) as store:
        assert set(schema.INDEXES) <= store.indexes()
        store.write_batch(mixed_traffic(SOURCE, 3, START))
        assert count(store, "calls") == 3


@pytest.mark.mysql
def test_a_migration_may_outlast_the_read_timeout(mysql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """An ALTER TABLE of a large table takes as long as the table is large: the migration runs
    without ``read_timeout``, which bounds every statement again once it is done."""
    from sipparse.store import migrate

    con = _admin_connect(mysql_url)
    con.cursor().execute(f"USE `{mysql_url.rsplit('/', 1)[1]}`")
    con.cursor().execute(schema.create_messages_v1("mysql"))
    con.close()
    upgrade = migrate._upgrade

    def slow_upgrade(store) -> None:  # type: ignore[no-untyped-def]
        store.execute("DO SLEEP(2)")
        upgrade(store)

    monkeypatch.setattr(migrate, "_upgrade", slow_upgrade)
    with open_store(mysql_url + "?read_timeout=1") as store:
        assert set(schema.INDEXES) <= store.indexes()
        with pytest.raises(DatabaseError, match="did not answer within 1 s|Lost connection"):
            store._guard("read", lambda: store.query("SELECT SLEEP(2)"))


SLOW_QUERY = """
import sys
if sys.argv[2] == "pure":
    import ssl  # loaded first, it keeps the connector's C extension out
from sipparse.errors import DatabaseError
from sipparse.store import open_store
from sipparse.store.mysql import _connector

with open_store(sys.argv[1]) as store:
    assert _connector().HAVE_CEXT == (sys.argv[2] == "cext")
    try:
        store.fetchall("SELECT SLEEP(3)")
    except DatabaseError as exc:
        print(exc)
"""


@pytest.mark.mysql
@pytest.mark.parametrize("connector", ["cext", "pure"])
def test_a_query_past_the_read_timeout_names_it(mysql_url: str, connector: str) -> None:
    """A statement the server does not answer within ``read_timeout`` fails with a line that
    names the setting to raise, on either connector (the C extension reports only the lost
    connection the timeout leaves)."""
    url = mysql_url + "?read_timeout=1"
    with open_store(url):  # the schema, made before the child's query
        pass
    done = subprocess.run([sys.executable, "-c", SLOW_QUERY, url, connector], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(mysql_url.split("?")[0] + ": cannot run the query: "), done.stdout
    assert "1 s" in done.stdout and "read_timeout" in done.stdout, done.stdout


@pytest.mark.mysql
def test_wrong_password_names_the_server_not_the_password(limited_user) -> None:  # type: ignore[no-untyped-def]
    host, port, database, user, _ = limited_user
    with pytest.raises(DatabaseError) as caught:
        open_store(f"mysql://{user}:not-the-pw@{host}:{port}/{database}")
    message = str(caught.value)
    assert message.startswith(f"mysql://{user}:***@{host}:{port}/{database}: cannot connect: ")
    assert "Access denied" in message and "not-the-pw" not in message


@pytest.mark.mysql
def test_a_password_that_is_part_of_the_user_name_leaves_the_name_whole(limited_user) -> None:  # type: ignore[no-untyped-def]
    """The password is hidden where it stands as a word of its own, not inside another word:
    an account ``app_ro`` with the password ``ro`` was shown as ``app_***``."""
    host, port, database, user, _ = limited_user
    with pytest.raises(DatabaseError) as caught:
        open_store(f"mysql://{user}:{user[-2:]}@{host}:{port}/{database}")
    message = str(caught.value)
    assert f"user '{user}'@" in message, message


@pytest.mark.mysql
def test_tables_are_utf8mb4_with_binary_collation(mysql_url: str) -> None:
    with open_store(mysql_url) as store:
        rows = store.fetchall(
            "SELECT table_name AS t, table_collation AS c FROM information_schema.tables "
            "WHERE table_schema = DATABASE()"
        )
        store.write_batch(mixed_traffic(SOURCE, 1, START))
        upper = store.fetchall("SELECT COUNT(*) AS n FROM calls WHERE call_id = ?", ("CALL-0@FP-MYSQL",))
    assert {r["c"] for r in rows} == {"utf8mb4_bin"}
    assert upper == [{"n": 0}]  # Call-IDs compare byte by byte


def _kill_session_of(store, root_url: str) -> None:  # type: ignore[no-untyped-def]
    session = store.query("SELECT CONNECTION_ID()")[0][0]
    admin = _admin_connect(root_url)
    try:
        admin.cursor().execute(f"KILL CONNECTION {int(session)}")
    finally:
        admin.close()


@pytest.mark.mysql
def test_a_session_killed_before_commit_or_read_is_retried(mysql_url: str, mysql_root_url: str) -> None:
    """Whatever call meets the dead session (COMMIT, the ROLLBACK that opens a transaction, a
    read), it is a lost connection: the connector's error, reconnected and retried."""
    with open_store(mysql_url) as store:
        store.write_batch(mixed_traffic(SOURCE, 1, START))
        _kill_session_of(store, mysql_root_url)
        assert store.checkpoints() == []  # a read: reconnected and retried
        _kill_session_of(store, mysql_root_url)
        store.write_batch(mixed_traffic(SOURCE, 2, START))  # the transaction's opening ROLLBACK meets it
        _kill_session_of(store, mysql_root_url)
        with pytest.raises(store._connector.Error) as lost:
            store.commit()
        assert store._is_retryable(lost.value)
        assert count(store, "sip_transactions") == len(mixed_traffic(SOURCE, 2, START))


@pytest.mark.mysql
def test_a_short_batch_is_its_own_transaction_retried_after_a_lost_session(mysql_url: str,
                                                                           mysql_root_url: str) -> None:
    """An ingest's last batch of a file covers less log than a transaction may (a cron run's
    new lines are seldom a whole batch): on MySQL, which commits each batch, it is committed
    at once, so the next batch meets a lost session in a transaction of its own, reconnected
    and run again, instead of failing the run with a transaction left open."""
    first, second = mixed_traffic(SOURCE, 2, START), mixed_traffic(Source("/var/log/b", "fp-b"), 2, START)
    with open_store(mysql_url) as store:
        store.write_prepared(store.prepare_batch(first), log_bytes=100, commit_bytes=1 << 20)
        assert not store.holds_uncommitted
        _kill_session_of(store, mysql_root_url)
        store.write_prepared(store.prepare_batch(second), log_bytes=100, commit_bytes=1 << 20)
        store.commit_pending()
        assert count(store, "sip_transactions") == len(first) + len(second)


@pytest.fixture
def small_packets(mysql_root_url: str) -> Iterator[None]:
    """The server's ``max_allowed_packet`` at 1 MiB (MySQL 5.x's default) and local loads off,
    so rows go by INSERT; both restored afterwards."""
    with server_global(mysql_root_url, "max_allowed_packet", 1048576), server_local_infile(mysql_root_url, False):
        yield


@pytest.mark.mysql
@pytest.mark.usefixtures("small_packets")
def test_large_messages_fit_a_server_of_small_packets(mysql_url: str) -> None:
    """Messages of 4 KiB (an INVITE with a large SDP and many headers) in batches of hundreds:
    each INSERT stays under the server's max_allowed_packet instead of a fixed 4 MiB."""
    pad = b"X-Pad: " + b"p" * 4000 + b"\r\n"
    messages = [replace(m, raw_message=m.raw_message + pad) for m in mixed_traffic(SOURCE, 200, START)]
    with open_store(mysql_url) as store:
        assert store.write_batch(messages).inserted == len(messages)
        assert count(store, "sip_transactions") == len(messages)
        assert store.packet_budget == 512 * 1024


@pytest.mark.mysql
@pytest.mark.usefixtures("small_packets")
def test_calls_of_long_from_and_to_fit_a_server_of_small_packets(mysql_url: str) -> None:
    """Hundreds of calls whose From and To carry a long display name: their ``calls`` rows go
    in statements under the server's max_allowed_packet too, not 500 rows at a time."""
    name = "Reception " * 100

    def long_parties(message: SipMessage) -> SipMessage:
        return replace(message, from_sip=f'"{name}" <sip:alice@pbx.example>;tag=1',
                       to_sip=f'"{name}" <sip:bob@pbx.example>',
                       raw_message=message.raw_message + name.encode() * 2)

    messages = [long_parties(m) for m in mixed_traffic(SOURCE, 600, START)]
    with open_store(mysql_url) as store:
        assert store.write_batch(messages).inserted == len(messages)
        assert count(store, "calls") == 600


@pytest.mark.mysql
@pytest.mark.usefixtures("small_packets")
def test_a_message_larger_than_max_allowed_packet_is_stored_cut_and_said(mysql_url: str) -> None:
    """No statement can carry its 2 MiB: it is stored with as much of it as the server takes,
    its ``problems`` say what was cut and why, and the rest of the batch is stored. Before,
    the batch failed, and with it every later run over the same log."""
    messages = mixed_traffic(SOURCE, 3, START)
    raw = messages[1].raw_message + b"X" * (2 << 20)
    messages[1] = replace(messages[1], raw_message=raw)
    with open_store(mysql_url) as store:
        assert store.write_batch(messages).inserted == len(messages)
        (stored, problems), = store.query("SELECT raw_message, problems FROM sip_transactions WHERE source_offset = %s",
                                          (messages[1].offset,))
        others = store.query("SELECT raw_message FROM sip_transactions WHERE source_offset <> %s ORDER BY id",
                             (messages[1].offset,))
    assert raw.startswith(stored) and 900_000 < len(stored) < 1 << 20
    assert problems == (f"raw_message of {len(raw)} bytes cut to {len(stored)}: the server's max_allowed_packet "
                        "is 1048576 bytes")
    assert [bytes(r) for r, in others] == [m.raw_message for m in messages if m is not messages[1]]


@pytest.mark.mysql
@pytest.mark.usefixtures("small_packets")
def test_a_message_whose_row_outgrows_max_allowed_packet_is_stored_whole(mysql_url: str, tmp_path: Path) -> None:
    """An INVITE of 700 KB of SDP: its raw text and its SDP each fit in a packet of 1 MiB, its
    row does not. It is stored whole, as are the messages around it, and ingest exits 0."""
    from tests.ingest.helpers import ingest_ok
    from tests.reliability.helpers import entry, make_log, sip_message

    body = ["v=0", "o=- 1 1 IN IP4 192.0.2.1", "s=-", "c=IN IP4 192.0.2.1", "t=0 0", "m=audio 4000 RTP/AVP 0",
            *["a=x-pad:" + "p" * 990 for _ in range(700)]]
    big = sip_message("INVITE sip:bob@pbx.example SIP/2.0", "big-1@192.0.2.10", "1 INVITE", branch="zz1",
                      from_tag="fz", body=body)
    (tmp_path / "pjsip").write_bytes(make_log(3) + entry("in", big, datetime(2025, 6, 1, 9, 0, 5), "full")
                                     + make_log(3, first=10))
    ingest_ok(mysql_url, "--year", "2025", str(tmp_path / "pjsip"))
    with open_store(mysql_url) as store:
        assert count(store, "sip_transactions") == 37
        (raw, sdp, problems), = store.query("SELECT raw_message, sdp_content, problems FROM sip_transactions "
                                            "WHERE call_id = 'big-1@192.0.2.10'")
    assert (bytes(raw), problems) == (big, None)
    assert sdp.startswith("v=0") and len(sdp) > 690_000


@pytest.mark.mysql
def test_an_account_of_an_authentication_plugin_the_connector_lacks_is_told_what_to_use(mysql_root_url: str) -> None:
    """MariaDB's ed25519, which a DBA may choose for new accounts: mysql-connector-python
    cannot log in with it, and the line says which plugin to give the account instead."""
    with _account(mysql_root_url, GRANTS) as (host, port, database, user, password):
        admin = _admin_connect(mysql_root_url)
        try:
            admin.cursor().execute("INSTALL SONAME 'auth_ed25519'")
        except Exception as exc:  # MySQL, or installed already
            if "already" not in str(exc):
                pytest.skip(f"no ed25519 plugin on this server: {exc}")
        admin.cursor().execute(f"ALTER USER '{user}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('{password}')")
        admin.close()
        with pytest.raises(DatabaseError) as refused:
            open_store(f"mysql://{user}:{password}@{host}:{port}/{database}")
    assert "'client_ed25519' is not supported" in str(refused.value)
    assert "IDENTIFIED VIA mysql_native_password" in str(refused.value)


@pytest.mark.mysql
@pytest.mark.parametrize("sql_mode", ["DEFAULT", "''", "'ORACLE'", "'ANSI_QUOTES'"])
def test_a_value_too_long_for_its_column_is_cut_and_said(mysql_root_url: str, mysql_url: str, tmp_path: Path,
                                                         sql_mode: str) -> None:
    """A 300-character From user (and a 600-character Call-ID) is longer than its VARCHAR:
    whatever sql_mode the server gives new sessions, the message is stored, cut, with the cut
    in its ``problems``, and the rest of the batch with it."""
    from tests.ingest.helpers import ingest_ok
    from tests.ingest.siplog import make_log

    user, call_id = "u" * 300, "c" * 600 + "@pbx"
    log = make_log(3).replace(b"<sip:alice1@", b"<sip:" + user.encode() + b"@").replace(
        b"Call-ID: 2-call@10.0.0.3", b"Call-ID: " + call_id.encode())
    (tmp_path / "pjsip").write_bytes(log)
    admin = _admin_connect(mysql_root_url)
    cursor = admin.cursor()
    cursor.execute("SELECT @@GLOBAL.sql_mode")
    (was,) = cursor.fetchone()
    cursor.execute(f"SET GLOBAL sql_mode = {sql_mode}")
    try:
        ingest_ok(mysql_url, "--year", "2025", str(tmp_path / "pjsip"))
    finally:
        cursor.execute("SET GLOBAL sql_mode = %s", (was,))
        admin.close()
    with open_store(mysql_url) as store:
        assert count(store, "sip_transactions") == 18
        cut = store.query("SELECT from_user, from_sip, problems FROM sip_transactions WHERE from_sip LIKE '%uuuu%'")
        long_ids = store.query("SELECT call_id, problems FROM sip_transactions WHERE call_id LIKE 'cccc%'")
    assert len(cut) == 6 and len(long_ids) == 6
    assert {(u, f"<sip:{user}@" in f, p) for u, f, p in cut} == {
        ("u" * 255, True, "from_user of 300 characters cut to 255")}
    assert {p for _, p in long_ids} == {"call_id of 604 characters cut to 512"}
    assert {len(c) for c, _ in long_ids} == {512}
