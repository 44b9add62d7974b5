"""The tables, their columns for each backend, and the in-place migrations.

One column list drives everything: the DDL of both backends, the INSERT statements and the
row tuples built from ``SipMessage``. Types differ where the backends differ (timestamps are
``TEXT`` ``YYYY-MM-DD HH:MM:SS[.ffffff]`` in SQLite, ``DATETIME(6)`` in MySQL), never in meaning.

MySQL tables are ``utf8mb4`` with the binary collation: a Call-ID is compared byte by byte
(RFC 3261 section 8.1.1.4), and searches give the same answers as SQLite's. Only columns
that are indexed are ``VARCHAR`` (their values are clipped to the declared length, so strict
mode never refuses a row and nothing is truncated silently); every other text is ``TEXT``.

Versions: 1 is the table the Logstash pipeline wrote (the contract's columns only); 2 adds
the parsed header columns, the source identity with its UNIQUE key, and the ``calls``,
``rejects`` and ``checkpoints`` tables; 3 drops the indexes of ``sip_transactions`` on the
user parts and the status code (``DROPPED_INDEXES``): every query by user or status reads
``calls``, which has its own, and each index costs every insert; 4 numbers the calls of an
SQLite database (``CALL_REF``) and indexes ``sip_transactions`` by that number instead of by
the Call-ID (``SQLITE_INDEXES``). Every step is idempotent
(``IF NOT EXISTS``, and a column or index that already exists, or is already gone, is
skipped), so two processes may migrate at once.

Revisions are the changes within a version that the code of that version keeps writing
beside: a column added that it leaves NULL. Several hosts write one MySQL database and are
upgraded one at a time; a new version would have each host not yet upgraded refuse the
database (``raise_newer``) until it is, so such a change is a revision, counted in
``schema_revision``, a table older code never reads. Revision 1 records the host that read
a file in its checkpoint (``checkpoints.host``); revision 2 indexes MySQL's messages by
Call-ID and host instead of Call-ID alone (an index older code does not name); revision 3
holds the post-dial delay of each call (``calls.pdd_ms``), which older code leaves NULL in
the rows it writes and keeps in the rows it updates. For the same reason a version that
changes one backend's tables only leaves the other's databases at the version before
(``BACKEND_VERSIONS``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

CURRENT_VERSION = 4
CURRENT_REVISION = 3
# The version a database of each backend is brought to and stamped with: the last one that
# changed its tables. Version 4 changed SQLite's only, so a MySQL database stays at 3, and
# the hosts on version 3 that share it, not yet upgraded, do not refuse it.
BACKEND_VERSIONS = {"sqlite": 4, "mysql": 3}
# DYNAMIC, not the server's default row format: COMPACT (MySQL 5.6's default, still set by
# some my.cnf files) indexes at most 767 bytes of a column, less than a utf8mb4 VARCHAR(255),
# and keeps 768 bytes of every text inline, more than a row of ours may hold in all.
CHARSET, COLLATION = "utf8mb4", "utf8mb4_bin"
TABLE_OPTIONS = f"ENGINE=InnoDB ROW_FORMAT=DYNAMIC DEFAULT CHARSET={CHARSET} COLLATE={COLLATION}"
# row formats that hold what TABLE_OPTIONS's does
LONG_INDEX_ROW_FORMATS = {"dynamic", "compressed"}


@dataclass(frozen=True)
class Column:
    """A column with its SQLite and MySQL types; ``clip`` is the VARCHAR length, if any.

    ``keeps_apart``: a value too long is cut keeping the digest of the whole, so two that
    share their first ``clip`` characters stay two (``rows.clipped``); others are only cut.
    """

    name: str
    sqlite: str
    mysql: str
    clip: int | None = None
    keeps_apart: bool = False


def _text(name: str) -> Column:
    # MEDIUMTEXT (16 MiB), not TEXT (64 KiB): a header is never refused for its length.
    return Column(name, "TEXT", "MEDIUMTEXT")


def _varchar(name: str, length: int) -> Column:
    return Column(name, "TEXT", f"VARCHAR({length})", length)


def _int(name: str, mysql: str = "BIGINT") -> Column:
    return Column(name, "INTEGER", mysql)


def _time(name: str) -> Column:
    return Column(name, "TEXT", "DATETIME(6)")


CALL_ID = Column("call_id", "TEXT", "VARCHAR(512)", 512, keeps_apart=True)  # calls must not merge
# SQLite only: the number of a call, in ``calls`` and in each of its ``sip_transactions`` rows,
# given when the call is first stored, in that order. The messages of a call are found by
# it (and their Call-ID): an index on it takes each new message where the calls of the last
# minutes are, near its end, while an index on Call-IDs, which are random, takes each one
# anywhere in the whole of it. Once that index outgrew the page cache (a few hundred MiB of
# log), an ingest read and wrote one of its pages for nearly every call of each transaction.
CALL_REF = _int("call_ref")

# The contract's columns first (version 1), in the order the seed's table had them.
V1_MESSAGE_COLUMNS: tuple[Column, ...] = (
    CALL_ID,
    _text("sip_method"),
    _text("from_sip"),
    _text("to_sip"),
    _int("cseq"),
    _varchar("cseq_method", 64),
    Column("sdp_content", "TEXT", "MEDIUMTEXT"),
    _time("timestamp"),
    _int("status_code", "INT"),
    _varchar("direction", 8),
    Column("raw_message", "BLOB", "LONGBLOB"),
)

MESSAGE_COLUMNS: tuple[Column, ...] = V1_MESSAGE_COLUMNS + (
    _varchar("method", 64),
    _text("request_uri"),
    _text("reason_phrase"),
    _text("from_display"),
    _varchar("from_user", 255),
    _varchar("from_host", 255),
    _varchar("from_tag", 255),
    _text("to_display"),
    _varchar("to_user", 255),
    _varchar("to_host", 255),
    _varchar("to_tag", 255),
    _text("via"),
    _varchar("via_branch", 255),
    _text("contact"),
    _text("user_agent"),
    _text("content_type"),
    _int("content_length"),
    _text("reason_header"),
    _int("q850_cause", "INT"),
    _varchar("transport", 16),
    _varchar("peer", 255),
    _int("marker_bytes"),
    _varchar("host", 255),
    _int("pid"),
    _varchar("dialect", 32),
    _text("source_file"),
    _varchar("source_fingerprint", 255),
    _int("source_offset"),
    _int("source_end"),
    _text("problems"),
    _time("ingested_at"),
)

CALL_COLUMNS: tuple[Column, ...] = (
    CALL_ID,
    _varchar("kind", 16),
    _varchar("state", 16),
    _time("first_seen"),
    _time("last_seen"),
    _varchar("from_user", 255),
    _varchar("to_user", 255),
    _text("from_sip"),
    _text("to_sip"),
    _varchar("direction", 8),
    _int("final_status", "INT"),
    _text("final_reason"),
    _int("setup_ms"),
    Column("duration_s", "REAL", "DOUBLE"),
    _time("answered_at"),
    _time("ended_at"),
    _int("message_count"),
    _int("retransmissions"),
    _varchar("hangup_by", 16),
    _int("q850_cause", "INT"),
    _varchar("host", 255),
    _time("updated_at"),
    # the post-dial delay (revision 3): last, where the revision's ALTER TABLE put it
    _int("pdd_ms"),
)

REJECT_COLUMNS: tuple[Column, ...] = (
    _text("source_file"),
    _varchar("source_fingerprint", 255),
    _int("source_offset"),
    _int("source_end"),
    _text("reason"),
    Column("raw", "BLOB", "LONGBLOB"),
    _time("timestamp"),
    _varchar("host", 255),
    _time("created_at"),
)

CHECKPOINT_COLUMNS: tuple[Column, ...] = (
    _varchar("fingerprint", 255),
    _text("path"),
    _int("offset"),
    _int("size"),
    _int("inode", "BIGINT UNSIGNED"),
    _int("device", "BIGINT UNSIGNED"),
    Column("mtime", "REAL", "DOUBLE"),
    _time("updated_at"),
    # the host whose file it is (``ingest --host``): every PBX logs to the same path (revision 1)
    _varchar("host", 255),
)

# name -> (table, columns, unique?)
MESSAGE_INDEXES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "uq_sip_transactions_source": ("sip_transactions", ("source_fingerprint", "source_offset"), True),
    # the host too (revision 2): ``calls --host`` asks of each call whether that host logged
    # any of its messages, which the index then answers without reading them
    "ix_sip_transactions_call_id_host": ("sip_transactions", ("call_id", "host"), False),
    "ix_sip_transactions_timestamp": ("sip_transactions", ("timestamp",), False),
}
# name -> table, of indexes that earlier versions created
DROPPED_INDEXES: dict[str, str] = {
    "ix_sip_transactions_from_user": "sip_transactions",
    "ix_sip_transactions_to_user": "sip_transactions",
    "ix_sip_transactions_status_code": "sip_transactions",
    "ix_sip_transactions_call_id": "sip_transactions",  # by Call-ID and host since revision 2
}
OTHER_INDEXES: dict[str, tuple[str, tuple[str, ...], bool]] = {
    "ix_calls_first_seen": ("calls", ("first_seen",), False),
    "ix_calls_last_seen": ("calls", ("last_seen",), False),
    "ix_calls_from_user": ("calls", ("from_user",), False),
    "ix_calls_to_user": ("calls", ("to_user",), False),
    "ix_calls_state": ("calls", ("state",), False),
    "uq_rejects_source": ("rejects", ("source_fingerprint", "source_offset"), True),
    "ix_rejects_timestamp": ("rejects", ("timestamp",), False),
}
INDEXES = {**MESSAGE_INDEXES, **OTHER_INDEXES}
# SQLite indexes the messages of a call by its ``CALL_REF`` instead (version 4)
SQLITE_INDEXES = {
    **{k: v for k, v in INDEXES.items() if k != "ix_sip_transactions_call_id_host"},
    "ix_sip_transactions_call_ref": ("sip_transactions", ("call_ref",), False),
}
SQLITE_DROPPED_INDEXES = DROPPED_INDEXES


def version(backend: str) -> int:
    """The version of the current schema on ``backend`` (``BACKEND_VERSIONS``)."""
    return BACKEND_VERSIONS[backend]


def message_columns(backend: str) -> tuple[Column, ...]:
    """The columns of ``sip_transactions`` on ``backend`` (``CALL_REF`` is SQLite's)."""
    return MESSAGE_COLUMNS + (CALL_REF,) if backend == "sqlite" else MESSAGE_COLUMNS


def call_columns(backend: str) -> tuple[Column, ...]:
    """The columns of ``calls`` on ``backend``."""
    return CALL_COLUMNS + (CALL_REF,) if backend == "sqlite" else CALL_COLUMNS


def indexes(backend: str) -> dict[str, tuple[str, tuple[str, ...], bool]]:
    """The secondary indexes of the current schema on ``backend``: name -> (table, columns, unique?)."""
    return SQLITE_INDEXES if backend == "sqlite" else INDEXES


def dropped_indexes(backend: str) -> dict[str, str]:
    """Indexes that earlier versions created on ``backend`` and the current one has not."""
    return SQLITE_DROPPED_INDEXES if backend == "sqlite" else DROPPED_INDEXES


def quote(name: str, backend: str) -> str:
    """Quote an identifier (``offset`` and ``timestamp`` are keywords somewhere)."""
    return f"`{name}`" if backend == "mysql" else f'"{name}"'


def _column_ddl(column: Column, backend: str) -> str:
    kind = column.mysql if backend == "mysql" else column.sqlite
    return f"{quote(column.name, backend)} {kind}"


def _id_ddl(backend: str) -> str:
    if backend == "mysql":
        return "`id` BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY"
    return '"id" INTEGER PRIMARY KEY'


def _create_table(name: str, columns: tuple[Column, ...], backend: str, key: str | None = None) -> str:
    """A CREATE TABLE; without ``key`` the table gets a surrogate ``id`` primary key."""
    parts = [] if key else [_id_ddl(backend)]
    parts += [_column_ddl(c, backend) + (" NOT NULL" if c.name == key else "") for c in columns]
    if key:
        parts.append(f"PRIMARY KEY ({quote(key, backend)})")
    body = ",\n  ".join(parts)
    options = f" {TABLE_OPTIONS}" if backend == "mysql" else ""
    return f"CREATE TABLE IF NOT EXISTS {quote(name, backend)} (\n  {body}\n){options}"


def create_messages_v1(backend: str) -> str:
    """The version-1 table, as the Logstash pipeline created it (kept to test migrations)."""
    return _create_table("sip_transactions", V1_MESSAGE_COLUMNS, backend)


TABLE_NAMES = ("sip_transactions", "calls", "rejects", "checkpoints", "schema_version",
               "schema_revision")  # create_tables's
# the MySQL columns of each table but its surrogate ``id``
TABLE_COLUMNS = {"sip_transactions": MESSAGE_COLUMNS, "calls": CALL_COLUMNS, "rejects": REJECT_COLUMNS,
                 "checkpoints": CHECKPOINT_COLUMNS}
# what a MySQL type holds: characters or bytes of text, bytes of an integer, fractional digits
# of a time (TIMESTAMP below any DATETIME: it ends in 2038)
_CAPACITY = {"tinytext": 255, "tinyblob": 255, "text": 65535, "blob": 65535, "mediumtext": 1 << 24,
             "mediumblob": 1 << 24, "longtext": 1 << 32, "longblob": 1 << 32, "tinyint": 1, "smallint": 2,
             "mediumint": 3, "int": 4, "integer": 4, "bigint": 8, "timestamp": -1, "datetime": 0}
_TEXT_KINDS = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "tinyblob", "blob", "mediumblob",
               "longblob", "binary", "varbinary"}
_INT_KINDS = {"tinyint", "smallint", "mediumint", "int", "integer", "bigint"}
_TYPE = re.compile(r"\s*(\w+)\s*(?:\((\d+)\))?")


def narrower(found: str, wanted: str) -> bool:
    """Whether a column of MySQL type ``found`` holds less than one of ``wanted`` does: a
    shorter text, a smaller integer, a time of fewer fractional digits. Types of other
    families (a text where a time is wanted) are not compared: converting them is no
    widening."""
    have, want = _measure(found), _measure(wanted)
    return have is not None and want is not None and have[0] == want[0] and have[1] < want[1]


def _measure(column_type: str) -> tuple[str, int] | None:
    """A type's family (text, integer, time) and what it holds, or None for any other."""
    match = _TYPE.match(column_type.lower())
    if not match:
        return None
    kind, size = match[1], int(match[2] or 0)
    if kind in _TEXT_KINDS:
        return "text", size if kind in ("char", "varchar", "binary", "varbinary") else _CAPACITY[kind]
    if kind in _INT_KINDS:
        return "integer", _CAPACITY[kind]
    if kind in ("timestamp", "datetime"):
        return "time", _CAPACITY[kind] + size
    return None


VERSION_COLUMNS = (Column("version", "INTEGER", "INT"), _time("applied_at"))
REVISION_COLUMNS = (Column("revision", "INTEGER", "INT"), _time("applied_at"))


def create_tables(backend: str) -> list[str]:
    """CREATE TABLE statements of the current schema (secondary indexes come separately)."""
    return [
        _create_table("sip_transactions", message_columns(backend), backend),
        _create_table("calls", call_columns(backend), backend, key="call_id"),
        _create_table("rejects", REJECT_COLUMNS, backend),
        _create_table("checkpoints", CHECKPOINT_COLUMNS, backend, key="fingerprint"),
        _create_table("schema_version", VERSION_COLUMNS, backend, key="version"),
        _create_table("schema_revision", REVISION_COLUMNS, backend, key="revision"),
    ]


def drop_index(name: str, backend: str) -> str:
    if backend == "mysql":
        return f"DROP INDEX {name} ON {quote(dropped_indexes(backend)[name], backend)}"
    return f"DROP INDEX IF EXISTS {name}"


def create_index(name: str, backend: str) -> str:
    table, columns, unique = indexes(backend)[name]
    cols = ", ".join(quote(c, backend) for c in columns)
    kind = "UNIQUE INDEX" if unique else "INDEX"
    exists = " IF NOT EXISTS" if backend == "sqlite" else ""
    return f"CREATE {kind}{exists} {name} ON {quote(table, backend)} ({cols})"

