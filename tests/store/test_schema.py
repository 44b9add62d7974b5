"""Schema creation, reopening, the migrations from versions 1, 2 and 3, and file permissions."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import pytest

from sipparse.config import parse_db_url
from sipparse.errors import DatabaseError
from sipparse.query.show import fetch_messages
from sipparse.sip.message import Source
from sipparse.store import Checkpoint, migrate, open_store, schema
from sipparse.store.migrate import schema_version
from tests.store.factory import completed_call
from tests.store.helpers import calls_table, count, refs_agree

SOURCE = Source("/var/log/asterisk/pjsip", "fp-schema")
START = datetime(2025, 2, 1, 18, 32, 31)


def test_fresh_database_gets_the_current_schema(db_url: str) -> None:
    with open_store(db_url) as store:
        assert {"sip_transactions", "calls", "rejects", "checkpoints", "schema_version"} <= store.tables()
        assert store.columns("sip_transactions") == {"id"} | {c.name for c in schema.message_columns(store.backend)}
        assert store.columns("calls") == {c.name for c in schema.call_columns(store.backend)}
        assert set(schema.indexes(store.backend)) <= store.indexes()
        assert schema_version(store) == schema.version(store.backend)


def test_reopening_keeps_rows_and_version(db_url: str) -> None:
    with open_store(db_url) as store:
        store.write_batch(completed_call("c1", SOURCE, START).messages)
    with open_store(db_url) as store:
        assert count(store, "sip_transactions") == 7
        versions = store.fetchall("SELECT version FROM schema_version")
        assert [v["version"] for v in versions] == [schema.version(store.backend)]


def _create_version_1(db_url: str) -> None:
    """The table the Logstash pipeline wrote, with a few of its rows."""
    url = parse_db_url(db_url)
    if url.is_sqlite:
        import sqlite3

        con = sqlite3.connect(url.path or "")
        con.execute(schema.create_messages_v1("sqlite"))
        con.executemany(
            "INSERT INTO sip_transactions (call_id, sip_method, from_sip, to_sip, cseq, cseq_method, "
            "timestamp, status_code, direction, raw_message) VALUES (?,?,?,?,?,?,?,?,?,?)",
            V1_ROWS,
        )
        con.commit()
        con.close()
        return
    import mysql.connector

    con = mysql.connector.connect(
        host=url.host, port=url.port, user=url.user, password=url.password or "", database=url.database
    )
    cur = con.cursor()
    cur.execute(schema.create_messages_v1("mysql"))
    cur.executemany(
        "INSERT INTO sip_transactions (call_id, sip_method, from_sip, to_sip, cseq, cseq_method, "
        "timestamp, status_code, direction, raw_message) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
        V1_ROWS,
    )
    con.commit()
    con.close()


V1_ROWS = [
    (
        "legacy-1",
        "INVITE",
        "<sip:alice@x>;tag=a",
        "<sip:bob@x>",
        1,
        "INVITE",
        "2025-02-01 18:32:31",
        None,
        "in",
        b"INVITE sip:bob@x SIP/2.0\r\n\r\n",
    ),
    (
        "legacy-1",
        "100 Trying",
        "<sip:alice@x>;tag=a",
        "<sip:bob@x>",
        1,
        "INVITE",
        "2025-02-01 18:32:31.1",
        100,
        "out",
        b"SIP/2.0 100 Trying\r\n\r\n",
    ),
    (
        "legacy-1",
        "486 Busy Here",
        "<sip:alice@x>;tag=a",
        "<sip:bob@x>;tag=b",
        1,
        "INVITE",
        "2025-02-01 18:32:33",
        486,
        "out",
        b"SIP/2.0 486 Busy Here\r\n\r\n",
    ),
    (
        "legacy-2",
        "OPTIONS",
        "<sip:a@x>;tag=c",
        "<sip:b@x>",
        7,
        "OPTIONS",
        "2025-02-01 18:40:00",
        None,
        "out",
        b"OPTIONS sip:b@x SIP/2.0\r\n\r\n",
    ),
]


def test_migration_from_version_1_keeps_the_rows(db_url: str) -> None:
    _create_version_1(db_url)
    with open_store(db_url) as store:
        assert schema_version(store) == schema.version(store.backend)
        assert store.columns("sip_transactions") == {"id"} | {c.name for c in schema.message_columns(store.backend)}
        assert set(schema.indexes(store.backend)) <= store.indexes()
        rows = store.fetchall(
            "SELECT id, call_id, sip_method, method, timestamp, raw_message FROM sip_transactions ORDER BY id"
        )
        assert [(r["call_id"], r["sip_method"], r["raw_message"]) for r in rows] == [
            (r[0], r[1], r[9]) for r in V1_ROWS
        ]
        assert [r["method"] for r in rows] == ["INVITE", None, None, "OPTIONS"]
        assert rows[1]["timestamp"] == "2025-02-01 18:32:31.100000"
        calls = {c["call_id"]: c for c in calls_table(store)}
        assert (calls["legacy-1"]["state"], calls["legacy-1"]["final_status"]) == ("busy", 486)
        assert calls["legacy-1"]["setup_ms"] == 2000
        assert (calls["legacy-2"]["kind"], calls["legacy-2"]["state"]) == ("options", "in-progress")
        # the migrated table takes new rows like a fresh one, duplicates included
        messages = completed_call("c1", SOURCE, START).messages
        assert store.write_batch(messages).inserted == 7
        assert store.write_batch(messages).duplicates == 7
    with open_store(db_url) as store:
        assert count(store, "sip_transactions") == 4 + 7


def test_migration_from_version_1_reads_who_called_whom(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Logstash rows kept From and To whole; the calls made from them say who called whom."""
    monkeypatch.setattr(migrate, "ADDRESS_CHUNK", 2)  # the rows are read a chunk at a time
    _create_version_1(db_url)
    with open_store(db_url) as store:
        calls = {c["call_id"]: c for c in calls_table(store)}
        assert (calls["legacy-1"]["from_user"], calls["legacy-1"]["to_user"]) == ("alice", "bob")
        rows = store.fetchall("SELECT from_user, from_host, from_tag, to_user, to_tag FROM sip_transactions "
                              "WHERE call_id = 'legacy-1' ORDER BY id")
        assert [tuple(r.values()) for r in rows] == [
            ("alice", "x", "a", "bob", None), ("alice", "x", "a", "bob", None), ("alice", "x", "a", "bob", "b"),
        ]


def test_migration_from_version_2_drops_the_indexes_no_query_uses(db_url: str) -> None:
    messages = completed_call("c1", SOURCE, START).messages
    with open_store(db_url) as store:
        store.write_batch(messages)
        for name, (table, column) in {
            "ix_sip_transactions_from_user": ("sip_transactions", "from_user"),
            "ix_sip_transactions_status_code": ("sip_transactions", "status_code"),
        }.items():  # as version 2 created them
            store.execute(f"CREATE INDEX {name} ON {store.q(table)} ({store.q(column)})")
        store.execute("DELETE FROM schema_version")
        store.execute(f"INSERT INTO schema_version (version) VALUES ({store.placeholder})", (2,))
        store.commit()
        assert schema_version(store) == 2
    with open_store(db_url) as store:
        assert schema_version(store) == schema.version(store.backend)
        assert not set(schema.dropped_indexes(store.backend)) & store.indexes()
        assert set(schema.indexes(store.backend)) <= store.indexes()
        assert count(store, "sip_transactions") == 7
        assert store.write_batch(messages).duplicates == 7
        assert calls_table(store)[0]["message_count"] == 7


def test_migration_from_version_3_numbers_the_calls_and_finds_messages_by_them(sqlite_url: str) -> None:
    first, second = completed_call("c1", SOURCE, START), completed_call("c2", SOURCE, START, offset=10_000)
    with open_store(sqlite_url) as store:
        store.write_batch(first.messages[:4] + second.messages)
        # back to version 3: no numbers, the messages indexed by Call-ID
        store.execute("DROP INDEX ix_sip_transactions_call_ref")
        store.execute("ALTER TABLE sip_transactions DROP COLUMN call_ref")
        store.execute("ALTER TABLE calls DROP COLUMN call_ref")
        store.execute("CREATE INDEX ix_sip_transactions_call_id ON sip_transactions (call_id)")
        store.execute("DELETE FROM schema_version")
        store.execute("INSERT INTO schema_version (version) VALUES (3)")
        store.commit()
    with open_store(sqlite_url) as store:
        assert schema_version(store) == schema.version(store.backend)
        assert "ix_sip_transactions_call_id" not in store.indexes()
        assert set(schema.indexes("sqlite")) <= store.indexes()
        assert refs_agree(store)
        assert {r["call_id"]: r["call_ref"] for r in store.fetchall("SELECT call_id, call_ref FROM calls")} == {
            "c1": 1, "c2": 2}
        store.write_batch(first.messages[4:])  # the call goes on, read back by its number
        assert [c["message_count"] for c in calls_table(store)] == [7, 7]
        assert len(fetch_messages(store, ["c1"])) == 7


def test_newer_schema_is_refused(db_url: str) -> None:
    with open_store(db_url) as store:
        store.execute(
            f"INSERT INTO schema_version (version) VALUES ({store.placeholder})",
            (schema.CURRENT_VERSION + 1,),
        )
        store.commit()
    with pytest.raises(DatabaseError, match="newer than this sipparse knows"):
        open_store(db_url)


@pytest.mark.parametrize("content", [b"not a database\n", bytes(range(256)) * 400],
                         ids=["text", "binary"])
def test_a_file_that_is_not_an_sqlite_database_is_refused_and_left_alone(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "sip.db"
    path.write_bytes(content)
    refused = r"^sqlite:///.*/sip\.db: cannot open the database: file is not a database$"
    with pytest.raises(DatabaseError, match=refused):
        open_store(f"sqlite:///{path}")
    assert path.read_bytes() == content


def test_a_truncated_sqlite_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sip.db"
    with open_store(f"sqlite:///{path}") as store:
        store.write_batch(completed_call("c1", SOURCE, START).messages)
    path.write_bytes(path.read_bytes()[:40000])
    with pytest.raises(DatabaseError, match=r"cannot open the database: database disk image is malformed$"):
        open_store(f"sqlite:///{path}")


def test_sqlite_file_and_directory_are_private(tmp_path: Path) -> None:
    path = tmp_path / "new" / "dir" / "sip.db"
    with open_store(f"sqlite:///{path}") as store:
        store.write_batch(completed_call("c1", SOURCE, START).messages)
        assert store.fetchall("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    for name in os.listdir(path.parent):
        assert stat.S_IMODE(os.stat(path.parent / name).st_mode) & 0o077 == 0, name


@contextmanager
def _unwritable(directory: Path) -> Iterator[None]:
    """The directory made one the user may not write: mode 0555, or for root, whom modes do
    not stop, immutable (``chattr +i``)."""
    if os.geteuid() != 0:
        directory.chmod(0o555)
        try:
            yield
        finally:
            directory.chmod(0o700)
        return
    if subprocess.run(["chattr", "+i", str(directory)], capture_output=True).returncode:
        pytest.skip("chattr +i does not work here: root may write any directory")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


def test_sqlite_database_in_a_directory_the_user_may_not_write(tmp_path: Path) -> None:
    """WAL mode writes ``sip.db-wal`` and ``sip.db-shm`` beside the database: where the directory
    may not be written (or is on a read-only file system) the error names it, not SQLite's
    "unable to open database file" about a file that is there and writable."""
    place = tmp_path / "place"
    place.mkdir()
    url = f"sqlite:///{place / 'sip.db'}"
    with open_store(url) as store:
        store.write_batch(completed_call("c1", SOURCE, START).messages)
    with _unwritable(place), pytest.raises(DatabaseError) as caught:
        open_store(url)
    message = str(caught.value)
    assert message.startswith(f"{url}: cannot open the database: {place} is not writable (")
    assert "sip.db-wal" in message and "\n" not in message


def test_sqlite_unwritable_place_is_one_line_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(DatabaseError, match=r"^sqlite:///.*/file/sip\.db: cannot create the database file"):
        open_store(f"sqlite:///{blocker}/sip.db")


@pytest.mark.mysql
def test_an_index_another_host_drops_first_does_not_fail_the_migration(
    mysql_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two PBXs upgraded at once migrate one database: the index this one saw is gone by the
    time its DROP INDEX runs (MySQL error 1091), because the other host dropped it."""
    from sipparse.store.mysql import MySQLStore

    with open_store(mysql_url) as store:
        store.execute("CREATE INDEX ix_sip_transactions_status_code ON sip_transactions (status_code)")
        store.execute("DELETE FROM schema_version")
        store.execute(f"INSERT INTO schema_version (version) VALUES ({store.placeholder})", (2,))
        store.commit()
    looked = MySQLStore.indexes

    def other_host_drops_it_after_the_look(self: MySQLStore) -> set[str]:
        seen = looked(self)
        if "ix_sip_transactions_status_code" in seen:
            _other_host(mysql_url, "DROP INDEX ix_sip_transactions_status_code ON sip_transactions")
        return seen

    monkeypatch.setattr(MySQLStore, "indexes", other_host_drops_it_after_the_look)
    with open_store(mysql_url) as store:
        assert schema_version(store) == schema.version(store.backend)
        assert not set(schema.dropped_indexes(store.backend)) & looked(store)


def _other_host(db_url: str, statement: str) -> None:
    """Run ``statement`` on a connection of its own, as another host's sipparse would."""
    import mysql.connector

    url = parse_db_url(db_url)
    con = mysql.connector.connect(
        host=url.host, port=url.port, user=url.user, password=url.password or "", database=url.database
    )
    con.cursor().execute(statement)
    con.commit()
    con.close()


def _as_revision_0(db_url: str) -> None:
    """The version-4 database of a sipparse before revision 1: no ``checkpoints.host``."""
    with open_store(db_url) as store:
        store.execute("DROP TABLE schema_revision")
        store.execute(f"ALTER TABLE checkpoints DROP COLUMN {store.q('host')}")
        store.commit()


def test_revision_1_adds_the_checkpoint_host_and_keeps_the_version_older_hosts_know(db_url: str) -> None:
    """Hosts are upgraded one at a time: the first one's migration adds a column the others
    leave NULL, and leaves the version at the one they accept, so they go on ingesting."""
    _as_revision_0(db_url)
    with open_store(db_url) as store:
        assert "host" in store.columns("checkpoints")
        assert schema_version(store) == schema.version(store.backend)
        assert migrate.schema_revision(store) == schema.CURRENT_REVISION
        older = store.upsert_sql("checkpoints", schema.CHECKPOINT_COLUMNS[:-1], "fingerprint")
        store._transaction(lambda: store.executemany(older, [("fp-older", "/var/log/asterisk/pjsip", 10, 10,
                                                               1, 2, 1.5, None)]))
        assert store.write_batch(completed_call("c1", SOURCE, START).messages).inserted == 7
        assert store.get_checkpoint("fp-older") == Checkpoint("fp-older", "/var/log/asterisk/pjsip", 10, 10, 1, 2, 1.5)


@pytest.mark.mysql
def test_revision_2_indexes_mysql_messages_by_call_id_and_host(mysql_url: str) -> None:
    """A MySQL database of revision 1 (messages indexed by Call-ID alone) gets the index by
    Call-ID and host in place of it, and older hosts, which name no index, write beside it."""
    with open_store(mysql_url) as store:
        store.write_batch(completed_call("c1", SOURCE, START).messages)
        store.execute("CREATE INDEX ix_sip_transactions_call_id ON sip_transactions (call_id)")
        store.execute("DROP INDEX ix_sip_transactions_call_id_host ON sip_transactions")
        store.execute("DELETE FROM schema_revision WHERE revision >= 2")
        store.commit()
    with open_store(mysql_url) as store:
        assert migrate.schema_revision(store) == schema.CURRENT_REVISION and schema_version(store) == 3
        assert "ix_sip_transactions_call_id_host" in store.indexes()
        assert "ix_sip_transactions_call_id" not in store.indexes()
        assert count(store, "sip_transactions") == 7


def test_a_reader_does_not_migrate_a_revision(db_url: str) -> None:
    """`calls` or `show` with an account that may only SELECT reads a database an older
    sipparse made: nothing they read is in a revision."""
    _as_revision_0(db_url)
    with open_store(db_url, create=False) as store:
        assert "host" not in store.columns("checkpoints")
        assert migrate.schema_revision(store) == 0


@pytest.mark.mysql
def test_a_mysql_database_keeps_version_3_which_version_4_did_not_change(mysql_url: str) -> None:
    """Version 4 changed SQLite's tables only: a MySQL database shared with hosts still on
    version 3 stays at 3 when an upgraded host opens it, and they go on writing to it."""
    with open_store(mysql_url) as store:
        assert schema_version(store) == 3
        store.execute("DELETE FROM schema_version")
        store.execute(f"INSERT INTO schema_version (version) VALUES ({store.placeholder})", (3,))
        store.commit()
    with open_store(mysql_url) as store:
        assert [v["version"] for v in store.fetchall("SELECT version FROM schema_version")] == [3]
    _other_host(mysql_url, "INSERT INTO schema_version (version) VALUES (4)")  # stamped by an earlier release
    with open_store(mysql_url) as store:
        assert schema_version(store) == 4


def _as_revision_2(db_url: str) -> None:
    """The database of a sipparse at revision 2, with a call stored: no ``calls.pdd_ms``."""
    with open_store(db_url) as store:
        store.write_batch(completed_call("c1", SOURCE, START).messages)
        store.execute("DELETE FROM schema_revision")
        store.execute(f"INSERT INTO schema_revision (revision) VALUES ({store.placeholder})", (2,))
        store.execute(f"ALTER TABLE calls DROP COLUMN {store.q('pdd_ms')}")
        store.commit()


def test_revision_3_adds_the_post_dial_delay_beside_older_hosts(db_url: str) -> None:
    """The first upgraded host adds ``calls.pdd_ms``; hosts still at revision 2 go on writing
    their calls rows without it, and the calls they write anew have none."""
    _as_revision_2(db_url)
    with open_store(db_url) as store:
        assert "pdd_ms" in store.columns("calls")
        assert migrate.schema_revision(store) == schema.CURRENT_REVISION == 3
        assert schema_version(store) == schema.version(store.backend)
        store.write_batch(completed_call("c2", SOURCE, START, offset=5000).messages)
        assert [c["pdd_ms"] for c in calls_table(store)] == [None, 500]  # c1 as revision 2 left it
        older = [c for c in schema.call_columns(store.backend) if c.name != "pdd_ms"]
        row = store.fetchall(f"SELECT {', '.join(store.q(c.name) for c in older)} FROM calls WHERE call_id = 'c2'")[0]
        c2 = {**row, "retransmissions": 1}  # as revision 2 would write it again
        c3 = {**row, "call_id": "c3", **({"call_ref": 99} if store.refs_calls else {})}
        upsert = store.upsert_sql("calls", older, "call_id")
        store._transaction(lambda: store.executemany(upsert, [tuple(r[c.name] for c in older) for r in (c2, c3)]))
        found = store.fetchall("SELECT call_id, retransmissions, pdd_ms FROM calls ORDER BY call_id")
        assert [tuple(r.values()) for r in found] == [("c1", 0, None), ("c2", 1, 500), ("c3", 0, None)]


@pytest.mark.parametrize("command", [["calls", "--format", "json"], ["stats", "--format", "json"],
                                     ["show", "c1", "--format", "ladder"]])
def test_a_reader_of_a_revision_2_database_reads_no_post_dial_delay(db_url: str, command: list[str]) -> None:
    """`calls`, `stats` and `show` do not apply a revision (an account that may only SELECT):
    on a database an earlier sipparse made they answer as before, the delay unknown."""
    from click.testing import CliRunner

    from sipparse.cli import cli

    _as_revision_2(db_url)
    result = CliRunner().invoke(cli, ["--db", db_url, *command, "--utc"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "pdd_ms" in result.output or "PDD" not in result.output
    with open_store(db_url, create=False) as store:
        assert "pdd_ms" not in store.columns("calls") and migrate.schema_revision(store) == 2
