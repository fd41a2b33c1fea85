"""Backup and restore of every table of the vault, through the archive format of :mod:`archive`.

A backup reads one consistent snapshot: on SQLite the online backup API copies the database into a private
temporary file first (a consistent copy even while the server writes); on PostgreSQL every table is read in one
``REPEATABLE READ, READ ONLY`` transaction. Rows are stored as the database holds them: ciphertexts, wrapped
data keys and sealed columns stay sealed (nothing is decrypted to make a backup), so the archive is useless
without the key file twice over.

A restore goes into a fresh vault on either backend: it migrates the target to the archive's schema revision,
refuses a target that holds any row, inserts everything in one transaction (a failure, a wrong key or a damaged
archive leaves the target empty) and moves PostgreSQL's sequences past the restored ids.
"""

from __future__ import annotations

import base64
import enum
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Column, Connection, Engine, MetaData, Table, func, insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.types import TypeEngine

from vault_server.all_models import metadata
from vault_server.backup.archive import ArchiveError, Writer, check_key, read_header, records
from vault_server.config import Settings
from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.sealed import SealedJSON, SealedText
from vault_server.db import Database, current_revision, head_revision, make_engine, migrate
from vault_server.errors import Conflict

Echo = Callable[[str], None]
BATCH = 1000
PROGRESS_EVERY = 10_000
#: tables a fresh migration fills with a starting row (the empty audit tree's head); the archive's rows replace it
SEEDED_BY_MIGRATIONS = ("audit_head",)


@dataclass(frozen=True)
class Summary:
    tables: int
    rows: int
    bytes: int


# ---- values ---------------------------------------------------------------------------------------------------
def _raw_type(column: Column[Any]) -> TypeEngine[Any]:
    """Sealed columns travel as their stored bytes (never opened); every other type as the model declares it."""
    kind = column.type
    if isinstance(kind, SealedJSON | SealedText):
        return kind.impl_instance
    return kind


def _raw_tables() -> list[Table]:
    """Copies of every model table (foreign-key order) whose sealed columns read and write raw bytes."""
    raw = MetaData()
    return [
        Table(t.name, raw, *[Column(c.name, _raw_type(c), primary_key=c.primary_key) for c in t.columns])
        for t in metadata.sorted_tables
    ]


def _encode(value: Any) -> Any:
    if value is None or (isinstance(value, bool | int | float | str) and not isinstance(value, enum.Enum)):
        return value
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, bytes | bytearray | memoryview):
        return {"b": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, Decimal):
        return {"n": str(value)}
    if isinstance(value, dict | list):
        return {"j": value}
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def _decode(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    ((tag, inner),) = value.items()
    if tag == "b":
        return base64.b64decode(inner)
    if tag == "t":
        when = datetime.fromisoformat(inner)
        return when if when.tzinfo else when.replace(tzinfo=UTC)
    if tag == "d":
        return date.fromisoformat(inner)
    if tag == "n":
        return Decimal(inner)
    if tag == "j":
        return inner
    raise ArchiveError(f"unknown value tag {tag!r} in the archive")


# ---- backup -----------------------------------------------------------------------------------------------------
@contextmanager
def _snapshot(settings: Settings) -> Iterator[Connection]:
    """A connection that sees one consistent state of the whole database."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        source = Path(url.database or "")
        if not source.is_file():
            raise Conflict(f"no vault database at {source}")
        folder = Path(tempfile.mkdtemp(prefix="vault-backup-"))  # 0700: the copy is as private as the vault
        try:
            copy = folder / "snapshot.db"
            with sqlite3.connect(f"file:{source}?mode=ro", uri=True) as src, sqlite3.connect(copy) as dst:
                src.backup(dst)  # the online backup API: a consistent copy even under concurrent writes
            src.close()
            dst.close()
            engine = make_engine(settings, f"sqlite:///{copy}")
            try:
                with engine.connect() as conn:
                    yield conn
            finally:
                engine.dispose()
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    engine = make_engine(settings)
    try:
        options = {"isolation_level": "REPEATABLE READ", "postgresql_readonly": True}
        with engine.connect().execution_options(**options) as conn, conn.begin():
            yield conn
    finally:
        engine.dispose()


def backup(settings: Settings, ring: KeyRing, out: IO[bytes], echo: Echo) -> Summary:
    """Write the whole vault into ``out`` as a sealed archive."""
    db = Database(settings)
    try:
        revision = current_revision(db)
        if revision is None or revision != head_revision(db):
            raise Conflict("the vault's database is not migrated to this version: run `intent-vault init` first")
    finally:
        db.dispose()
    tables = _raw_tables()
    total = 0
    with _snapshot(settings) as conn:
        meta = {"revision": revision, "source": conn.dialect.name, "created_at": datetime.now(UTC).isoformat()}
        writer = Writer(out, ring, {**meta, "tables": [t.name for t in tables]})
        for table in tables:
            names = [c.name for c in table.columns]
            writer.record({"table": table.name, "columns": names})
            count = 0
            order = [c for c in table.primary_key.columns] or [table.columns[n] for n in names]
            result = conn.execution_options(yield_per=BATCH).execute(select(table).order_by(*order))
            for row in result:
                writer.record([_encode(v) for v in row])
                count += 1
                if count % PROGRESS_EVERY == 0:
                    echo(f"  {table.name}: {count} rows...")
            writer.record({"end": table.name, "rows": count})
            total += count
            if count:
                echo(f"{table.name}: {count} rows")
        writer.record({"done": True, "tables": len(tables), "rows": total})
        writer.close()
    return Summary(tables=len(tables), rows=total, bytes=writer.bytes_written)


# ---- restore ----------------------------------------------------------------------------------------------------
def _check_empty(conn: Connection, tables: list[Table]) -> None:
    """Refuse a target holding any row; the rows a migration seeds (the empty audit log's head) are replaced."""
    for table in tables:
        if table.name in SEEDED_BY_MIGRATIONS:
            continue
        if conn.execute(select(func.count()).select_from(table)).scalar_one():
            raise Conflict(
                f"the target vault is not empty (table {table.name} has rows): restore into a fresh database"
            )


# sequences no column owns, filled by the vault's own statements: (sequence, table, column)
FREE_SEQUENCES = (("feed_pos_seq", "feed_change", "pos"),)  # the feed's read positions (feed/service.py: stamp)


def _bump_sequences(conn: Connection, tables: list[Table], schema: str | None) -> None:
    """PostgreSQL: serial/identity columns (and columns filled from a sequence they own, like
    ``webhook_delivery.seq``) continue after the restored values, and so do the free sequences: a feed read
    position handed out after a restore must be past every restored one, or vendors whose cursors point at the
    restored positions would never be shown the new changes."""
    by_name = {t.name: t for t in tables}
    for sequence, table_name, column_name in FREE_SEQUENCES:
        free = by_name.get(table_name)
        if free is None:
            continue
        highest = conn.execute(select(func.max(free.c[column_name]))).scalar()
        qualified = f'"{schema}"."{sequence}"' if schema else f'"{sequence}"'
        conn.execute(
            text("SELECT setval(CAST(:s AS regclass), :v, :called)"),
            {"s": qualified, "v": highest or 1, "called": highest is not None},
        )
    for table in tables:
        owned = [c for c in table.columns if c.server_default is not None and not c.primary_key]
        for column in [*table.primary_key.columns, *owned]:
            qualified = f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'
            seq = conn.execute(text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": qualified, "c": column.name})
            name = seq.scalar()
            if name:
                highest = conn.execute(select(func.max(table.c[column.name]))).scalar()
                conn.execute(
                    text("SELECT setval(:s, :v, :called)"),
                    {"s": name, "v": highest or 1, "called": highest is not None},
                )


def restore(settings: Settings, ring: KeyRing, path: Path, echo: Echo) -> Summary:
    """Load the archive at ``path`` into the (fresh, empty) vault of ``settings``."""
    with path.open("rb") as handle:
        header = read_header(handle)
    check_key(ring, header)
    meta = header.meta
    db = Database(settings)
    try:
        if current_revision(db) is None:
            echo("creating the database schema")
        migrate(db)
        revision = current_revision(db)
        if meta.get("revision") != revision:
            raise ArchiveError(
                f"the archive holds schema revision {meta.get('revision')} but this version of intent-vault is at "
                f"{revision}: restore with the version that made the backup, then upgrade"
            )
        tables = {t.name: t for t in _raw_tables()}
        total = 0
        engine: Engine = db.engine
        with engine.begin() as conn, path.open("rb") as handle:
            _check_empty(conn, list(tables.values()))
            for name in SEEDED_BY_MIGRATIONS:
                conn.execute(tables[name].delete())
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
            table: Table | None = None
            columns: list[str] = []
            batch: list[dict[str, Any]] = []
            count = 0
            done = False
            for item in records(handle, ring):
                if isinstance(item, list):
                    if table is None:
                        raise ArchiveError("the archive body is out of order")
                    batch.append(dict(zip(columns, (_decode(v) for v in item), strict=True)))
                    count += 1
                    if len(batch) >= BATCH:
                        conn.execute(insert(table), batch)
                        batch.clear()
                    if count % PROGRESS_EVERY == 0:
                        echo(f"  {table.name}: {count} rows...")
                elif "table" in item:
                    table = tables.get(item["table"])
                    if table is None:
                        raise ArchiveError(f"the archive has a table {item['table']} this version does not know")
                    columns, count = list(item["columns"]), 0
                    unknown = set(columns) - set(table.columns.keys())
                    if unknown:
                        raise ArchiveError(f"the archive has columns {sorted(unknown)} that {table.name} lacks")
                elif "end" in item:
                    if table is None or item["end"] != table.name or item["rows"] != count:
                        raise ArchiveError(f"the archive's row count for {item['end']} does not match its rows")
                    if batch:
                        conn.execute(insert(table), batch)
                        batch.clear()
                    if count:
                        echo(f"{table.name}: {count} rows")
                    total += count
                    table = None
                elif item.get("done"):
                    if item.get("rows") != total:
                        raise ArchiveError("the archive's total row count does not match its rows")
                    done = True
            if not done:
                raise ArchiveError("the archive ends before its last table")
            if conn.dialect.name == "postgresql":
                _bump_sequences(conn, list(tables.values()), settings.database_schema)
    finally:
        db.dispose()
    return Summary(tables=len(tables), rows=total, bytes=path.stat().st_size)
