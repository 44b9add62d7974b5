"""Create the schema on first use, and bring older ones to the current version in place.

The version lives in ``schema_version`` (one row per version applied), the revision (the
changes older code writes beside) in ``schema_revision``. A database with a
``sip_transactions`` table but no ``schema_version`` is a version-1 database: the table the
Logstash pipeline wrote. Every step checks what exists before adding it, so a migration
interrupted half-way, or run by two processes at once, finishes cleanly on the next open.
SQLite runs it in one transaction (its DDL is transactional); MySQL commits each DDL
statement by itself, hence the care for idempotency.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sipparse.store import schema

if TYPE_CHECKING:
    from sipparse.store.base import Store

log = logging.getLogger(__name__)
REBUILD_CHUNK = 2000
ADDRESS_CHUNK = 20000


def schema_version(store: Store, tables: set[str] | None = None) -> int:
    """The version of the schema in the database: 0 when empty, 1 for the Logstash table.
    ``tables``: the database's, when listed already."""
    tables = store.tables() if tables is None else tables
    if "schema_version" in tables:
        found = store.query("SELECT MAX(version) FROM schema_version")
        if found and found[0][0] is not None:
            return int(found[0][0])
    return 1 if "sip_transactions" in tables else 0


def schema_revision(store: Store, tables: set[str] | None = None) -> int:
    """The schema revision of the database: 0 before any (``schema`` says what they are).
    ``tables``: the database's, when listed already."""
    if "schema_revision" not in (store.tables() if tables is None else tables):
        return 0
    found = store.query("SELECT MAX(revision) FROM schema_revision")
    return int(found[0][0]) if found and found[0][0] is not None else 0


def _version_and_revision(store: Store) -> tuple[int, int]:
    """The database's schema version and revision, its tables listed once for both."""
    tables = store.tables()
    return schema_version(store, tables), schema_revision(store, tables)


def migrate(store: Store, create: bool = True) -> int:
    """Create or upgrade the schema; return the version found before. ``create=False``: an
    empty database raises ``NoSchema`` instead.

    The version is read without a write transaction: a database that needs nothing (every
    open but the first after an upgrade) is then read by ``calls`` or ``show`` while an
    ingest holds SQLite's write lock, instead of waiting for the ingest to end.
    """
    found, revision = _version_and_revision(store)
    current = schema.version(store.backend)
    unrevised = found >= current and revision < schema.CURRENT_REVISION
    store.rollback()  # MySQL: end the read's snapshot; SQLite: nothing is open
    if not found and not create:
        from sipparse.errors import NoSchema

        raise NoSchema(f"{store.url.redacted()}: no sipparse tables yet: nothing has been ingested into it")
    if found > schema.CURRENT_VERSION:
        raise_newer(store, found)
    if found < current or (create and unrevised):  # a reader has no use for a revision
        _upgrade_or_explain(store, found, revision, create)
    return found


def _upgrade_or_explain(store: Store, found: int, revision: int, create: bool) -> None:
    """Migrate; an account that may not (a reader's, SELECT only; an ingesting host's that a
    DBA gave only SELECT, INSERT, UPDATE and DELETE, migrating the schema himself) is told
    that the schema is older than this sipparse and how to bring it up, not just that a
    CREATE or ALTER it never meant to run was denied. A database without any of sipparse's
    tables yet is no older schema: its denial says what it is."""
    from sipparse.errors import DatabaseError

    try:
        with store.long_statements():
            store._transaction(lambda: _upgrade(store))
    except DatabaseError as exc:
        if exc.unreachable or (create and not found):
            raise
        where = f"{store.url.redacted()}: "
        advice = ("run sipparse ingest once with an account that may create and alter the tables "
                  "(GRANT CREATE, ALTER, INDEX), then this one goes on") if create else (
                  "run sipparse ingest once with an account that may alter the tables")
        raise DatabaseError(f"{where}{_older(store, found, revision)} and this account cannot migrate it "
                            f"({str(exc).removeprefix(where)}); {advice}") from None


def _older(store: Store, found: int, revision: int) -> str:
    """What the database's schema lacks: a version, or only a revision of the current one."""
    current = schema.version(store.backend)
    if found < current:
        return f"schema version {found} is older than this sipparse's ({current})"
    return f"schema revision {revision} is older than this sipparse's ({schema.CURRENT_REVISION})"


def raise_newer(store: Store, found: int) -> None:
    from sipparse.errors import DatabaseError

    raise DatabaseError(
        f"{store.url.redacted()}: schema version {found} is newer than this sipparse knows "
        f"({schema.CURRENT_VERSION}); upgrade sipparse"
    )


def _upgrade(store: Store) -> None:
    found, revision = _version_and_revision(store)
    current = schema.version(store.backend)
    if found >= current and revision >= schema.CURRENT_REVISION:
        return
    log.info("migrating %s from schema version %d.%d to %d.%d", store.url.redacted(), found, revision,
             max(found, current), schema.CURRENT_REVISION)
    for statement in schema.create_tables(store.backend):
        store.execute(statement)
    store.conform_tables()
    _add_missing_columns(store, "sip_transactions", schema.message_columns(store.backend))
    _add_missing_columns(store, "calls", schema.call_columns(store.backend))
    _add_missing_columns(store, "checkpoints", schema.CHECKPOINT_COLUMNS)
    if found < current:
        _upgrade_version(store, found)
    else:  # a revision: its indexes
        _conform_indexes(store)
    if revision < schema.CURRENT_REVISION:
        store.execute(f"INSERT INTO schema_revision (revision, applied_at) VALUES ({store.placeholder}, "
                      f"{store.placeholder})", (schema.CURRENT_REVISION, store.fmt_time(_now())))


def _upgrade_version(store: Store, found: int) -> None:
    """The steps of the versions after ``found``: numbers, indexes, the Logstash rows filled."""
    if store.refs_calls and found == 1:
        _number_version_1_calls(store)
    elif store.refs_calls:
        _number_calls(store)
    _conform_indexes(store)
    if found == 1:
        _fill_version_1_rows(store)
    store.execute(f"INSERT INTO schema_version (version, applied_at) VALUES ({store.placeholder}, "
                  f"{store.placeholder})", (schema.version(store.backend), store.fmt_time(_now())))


def _conform_indexes(store: Store) -> None:
    """Create the current indexes the database lacks, then drop those it no longer has (a
    query is never without an index it uses meanwhile)."""
    existing = store.indexes()
    for name in schema.indexes(store.backend):
        if name not in existing:
            store.execute(schema.create_index(name, store.backend))
    for name in schema.dropped_indexes(store.backend):
        if name in existing:
            store.execute(schema.drop_index(name, store.backend))


def _add_missing_columns(store: Store, table: str, columns: tuple[schema.Column, ...]) -> None:
    present = store.columns(table)
    for column in columns:
        if column.name not in present:
            kind = column.mysql if store.backend == "mysql" else column.sqlite
            store.execute(f"ALTER TABLE {store.q(table)} ADD COLUMN {store.q(column.name)} {kind}")


def _number_calls(store: Store) -> None:
    """Give each call of an earlier version's database its number (``schema.CALL_REF``): its
    ``calls`` row's place, which is the order calls were first stored in; and each message
    row its call's. Every message row rewritten: a minute or so per GiB of database, once."""
    store.execute("UPDATE calls SET call_ref = rowid WHERE call_ref IS NULL")
    store.execute("UPDATE sip_transactions SET call_ref = "
                  "(SELECT c.call_ref FROM calls AS c WHERE c.call_id = sip_transactions.call_id) "
                  "WHERE call_ref IS NULL AND call_id IS NOT NULL")


def _number_version_1_calls(store: Store) -> None:
    """``_number_calls`` for the Logstash table, which has no ``calls`` yet: each Call-ID in
    the order of its first row; the transaction keeps the numbers for the ``calls`` rows
    that ``_fill_version_1_rows`` then writes."""
    found = store.query("SELECT id, call_id FROM sip_transactions WHERE call_id IS NOT NULL ORDER BY id")
    numbers: dict[str, int] = {}
    for _, call_id in found:
        numbers.setdefault(call_id, len(numbers) + 1)
    store.executemany("UPDATE sip_transactions SET call_ref = ? WHERE id = ?",
                      [(numbers[call_id], row_id) for row_id, call_id in found])
    store._refs.update(numbers)


def _fill_version_1_rows(store: Store) -> None:
    """Give the Logstash rows what version 2 derives: the request method, From/To parts, calls."""
    store.execute("UPDATE sip_transactions SET method = sip_method "
                  "WHERE status_code IS NULL AND method IS NULL")
    if store.backend == "sqlite":
        _normalise_text_timestamps(store)
    _fill_version_1_addresses(store)
    found = store.query("SELECT DISTINCT call_id FROM sip_transactions WHERE call_id IS NOT NULL")
    call_ids = [r[0] for r in found]
    for start in range(0, len(call_ids), REBUILD_CHUNK):
        store._refresh_calls(call_ids[start:start + REBUILD_CHUNK])


_ADDRESS_PARTS = ("display", "user", "host", "tag")


def _fill_version_1_addresses(store: Store) -> None:
    """Display name, user, host and tag of the From and To the Logstash rows kept whole, as
    ingest stores them: the calls made from these rows then say who called whom, are found
    by ``--from-user``, and know who hung up."""
    from sipparse.grok import PatternLibrary
    from sipparse.sip.grammar import Grammar
    from sipparse.sip.parser import MessageParser

    address = MessageParser(Grammar.from_library(PatternLibrary.load())).address
    columns = [f"{side}_{part}" for side in ("from", "to") for part in _ADDRESS_PARTS]
    limits = {c.name: c.clip for c in schema.MESSAGE_COLUMNS if c.name in columns}
    assignments = ", ".join(f"{store.q(c)} = {store.placeholder}" for c in columns)
    update = f"UPDATE sip_transactions SET {assignments} WHERE id = {store.placeholder}"
    select = (f"SELECT id, from_sip, to_sip FROM sip_transactions WHERE id > {store.placeholder} "
              f"ORDER BY id LIMIT {ADDRESS_CHUNK}")  # a chunk at a time: a big table does not fit in memory
    last = 0
    while found := store.query(select, (last,)):
        store.executemany(update, [(*_clip_parts([*address(from_sip), *address(to_sip)], columns, limits), row_id)
                                   for row_id, from_sip, to_sip in found])
        last = found[-1][0]


def _clip_parts(values: list[str | None], columns: list[str], limits: dict[str, int | None]) -> list[str | None]:
    """Values cut to their columns' lengths (VARCHAR in MySQL), as ingest cuts them."""
    return [v[:limit] if v is not None and (limit := limits[c]) else v
            for v, c in zip(values, columns, strict=True)]


def _normalise_text_timestamps(store: Store) -> None:
    """SQLite keeps whatever text it was given; ranges and sorting need the one format."""
    found = store.query("SELECT id, timestamp FROM sip_transactions WHERE timestamp IS NOT NULL")
    changed = []
    for row_id, text in found:
        try:
            value = store.fmt_time(datetime.fromisoformat(str(text)))
        except ValueError:
            continue  # not a timestamp at all: left as it was
        if value != text:
            changed.append((value, row_id))
    store.executemany("UPDATE sip_transactions SET timestamp = ? WHERE id = ?", changed)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
