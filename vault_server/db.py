"""Engine and unit-of-work sessions; SQLite (WAL, foreign keys, busy timeout) by default, PostgreSQL by URL.

The transaction belongs to the edge (one request or one task): ``with db.session() as s:`` commits on success
and rolls back on any exception, so an audit entry or an outbox row always commits with the change it records.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import ColumnElement, DateTime, Engine, String, any_, bindparam, create_engine, event, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import sessionmaker
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from vault_server.config import Settings
from vault_server.errors import ConfigError

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def one_of(dialect: str, column: Any, values: Collection[str]) -> ColumnElement[bool]:
    """``column IN (values)`` for a batch of string keys. On PostgreSQL ``column = ANY(:array)``: one bound array
    instead of a placeholder per value, so the statement text is the same whatever the batch size (nothing to
    re-render or re-parse per size, and psycopg can prepare it); the planner uses the same index."""
    if dialect == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(String)))  # type: ignore[no-any-return]
    return column.in_(list(values))  # type: ignore[no-any-return]


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


PG_CONNECT_TIMEOUT = 5


def make_engine(settings: Settings, url_text: str | None = None) -> Engine:
    """Create the engine for ``settings.database_url`` (or ``url_text``, e.g. the read replica) with the pragmas
    or search_path it needs."""
    url = make_url(url_text or settings.database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # no pre-ping: a file database does not drop connections, and the ping was one more statement per unit
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        synchronous = {"full": "FULL", "normal": "NORMAL"}[settings.sqlite_synchronous]

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # FULL by default: a commit returns only once the WAL is on disk, so what the API acknowledged survives
            # a power cut (VAULT_SQLITE_SYNCHRONOUS=normal trades that for faster writes)
            cur.execute(f"PRAGMA synchronous={synchronous}")
            cur.close()

        return engine
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            f"unsupported database URL scheme {url.drivername!r}: use sqlite:/// or postgresql+psycopg://"
        )
    # a database that does not answer fails a request within seconds (a 503 with Retry-After), never hangs it
    connect_args: dict[str, Any] = {"connect_timeout": PG_CONNECT_TIMEOUT}
    options = pg_session_options(settings)
    if settings.database_schema:
        if not _SCHEMA_RE.match(settings.database_schema):
            raise ConfigError(f"database schema name {settings.database_schema!r} is not a plain identifier")
        options.insert(0, f"-csearch_path={settings.database_schema}")
    if options:
        connect_args["options"] = " ".join(options)
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True, pool_size=10, max_overflow=20)


def pg_session_options(settings: Settings) -> list[str]:
    """Startup options of every PostgreSQL session (sent with the connection, no extra round trip): a statement
    waiting on a lock gives up after ``lock_timeout`` (the API answers 503), a session left idle inside a transaction
    is ended by the server after ``idle_in_transaction_session_timeout`` (its locks go with it), and
    ``statement_timeout`` when set. 0 leaves a setting to the server (or ``ALTER ROLE … SET``, e.g. behind a pooler
    that refuses startup options)."""
    pairs = (
        ("lock_timeout", settings.database_lock_timeout_ms),
        ("idle_in_transaction_session_timeout", settings.database_idle_in_transaction_timeout_ms),
        ("statement_timeout", settings.database_statement_timeout_ms),
    )
    return [f"-c{name}={value}" for name, value in pairs if value > 0]


def make_read_engine(settings: Settings) -> Engine | None:
    """The engine of the read replica (``database_read_url``), or None when reads go to the primary."""
    if not settings.database_read_url:
        return None
    if make_url(settings.database_read_url).get_backend_name() != "postgresql" or settings.is_sqlite:
        raise ConfigError("VAULT_DATABASE_READ_URL needs PostgreSQL for both the primary and the replica")
    return make_engine(settings, settings.database_read_url)


class Database:
    """Owns the engines (the primary and an optional read replica) and hands out unit-of-work sessions."""

    def __init__(self, settings: Settings, engine: Engine | None = None):
        self.settings = settings
        self.engine = engine or make_engine(settings)
        self._factory = sessionmaker(self.engine, class_=Session, expire_on_commit=False)
        self.read_engine = make_read_engine(settings) if engine is None else None
        self._read_factory = (
            sessionmaker(self.read_engine, class_=Session, expire_on_commit=False) if self.read_engine else None
        )
        self._writer = threading.Lock() if self.engine.dialect.name == "sqlite" else None

    @property
    def has_replica(self) -> bool:
        return self._read_factory is not None

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: commit when the block succeeds, roll back when it raises."""
        session = self._factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def writer(self) -> Iterator[None]:
        """Queue this process's busy writers (e.g. gesture ingest) on a lock on SQLite, which runs one write
        transaction at a time anyway: its busy handler sleeps in growing steps (up to 100 ms) while it waits, so
        16 concurrent writers spend most of their time asleep. Nothing on PostgreSQL (row locks suffice).

        Not reentrant, and released by whichever thread ends the unit (a view's dependency enters and exits in
        different worker threads)."""
        if self._writer is None:
            yield
            return
        with self._writer:
            yield

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only session on the read replica (the primary when there is none); always rolled back. What it
        sees may lag the primary: callers decide per read whether that is acceptable (see feed/replica.py)."""
        factory = self._read_factory or self._factory
        session = factory()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.read_engine is not None:
            self.read_engine.dispose()


# ---- migrations -------------------------------------------------------------------------------
def alembic_config(db: Database) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.attributes["engine"] = db.engine
    cfg.attributes["sealer"] = getattr(db.engine.dialect, "vault_sealer", None)  # set by crypto.sealed
    return cfg


def ensure_schema(db: Database) -> None:
    """Create the configured PostgreSQL schema if it does not exist yet."""
    schema = db.settings.database_schema
    if db.dialect == "postgresql" and schema:
        with db.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))


def migrate(db: Database, revision: str = "heads") -> None:
    """Upgrade the database to ``revision`` (default: the newest of every room's migration branch)."""
    ensure_schema(db)
    command.upgrade(alembic_config(db), revision)


def head_revision(db: Database) -> str | None:
    """The newest revision of each branch, comma-joined (rooms own their branch off the foundation)."""
    heads = sorted(ScriptDirectory.from_config(alembic_config(db)).get_heads())
    return ",".join(heads) or None


def current_revision(db: Database) -> str | None:
    with db.engine.connect() as conn:
        heads = sorted(MigrationContext.configure(conn).get_current_heads())
    return ",".join(heads) or None


def pending_heads(db: Database) -> list[str]:
    """Branch heads not yet applied (a head reached through another branch's ``depends_on`` counts as applied)."""
    script = ScriptDirectory.from_config(alembic_config(db))
    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    applied = {rev.revision for rev in script.iterate_revisions(current, "base")} if current else set()
    return sorted(head for head in script.get_heads() if head not in applied)


def check_migrated(db: Database) -> None:
    """Raise ConfigError naming the fix when the database is not at the newest migration."""
    try:
        current = current_revision(db)
        pending = pending_heads(db)
    except Exception as exc:
        raise ConfigError(f"cannot reach the database: {type(exc).__name__}: {exc}".splitlines()[0]) from exc
    if pending:
        state = "empty (never initialised)" if current is None else f"at migration {current}"
        raise ConfigError(
            f"database is {state} but this version needs {head_revision(db)}: run `intent-vault init` to migrate it"
        )
