"""A real streaming replica for the feed tests: a second local PostgreSQL cluster made with ``pg_basebackup -R``
from the test server, started as a hot standby on a free port, removed at the end.

It needs the PostgreSQL 15 server binaries, root (the cluster runs as the ``postgres`` user) and a ``replication``
line in the primary's pg_hba.conf; the fixture adds ``host replication all 127.0.0.1/32 trust`` when it is missing
(idempotent, a reload, local loopback only) and skips with the reason when it cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from ..conftest import BACKEND, PG_URL, free_port

PG_BIN = Path(os.environ.get("VAULT_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
HBA_LINE = "host replication all 127.0.0.1/32 trust  # intent-vault tests: streaming replica (tests/scale)"
#: settings a hot standby must have at least as high as its primary
STANDBY_MINIMUMS = (
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
)


@dataclass
class Replica:
    port: int
    url: str  # SQLAlchemy URL (same database as the primary)
    primary_dsn: str
    replica_dsn: str

    def sql(self, query: str) -> object:
        with psycopg.connect(self.replica_dsn, autocommit=True) as conn:
            row = conn.execute(query).fetchone()
            return row[0] if row else None

    def pause(self) -> None:
        """Stop replaying WAL: from now on the replica lags the primary."""
        self.sql("SELECT pg_wal_replay_pause()")

    def resume(self) -> None:
        self.sql("SELECT pg_wal_replay_resume()")

    def catch_up(self, timeout: float = 30.0) -> None:
        """Until the replica has replayed everything the primary has written so far."""
        with psycopg.connect(self.primary_dsn, autocommit=True) as conn:
            target = conn.execute("SELECT pg_current_wal_lsn()").fetchone()
        assert target is not None
        deadline = time.monotonic() + timeout
        while not self.sql(f"SELECT pg_last_wal_replay_lsn() >= '{target[0]}'::pg_lsn"):
            if time.monotonic() > deadline:
                raise AssertionError("the replica did not catch up")
            time.sleep(0.05)


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args]


def _unavailable(primary_dsn: str) -> str | None:
    """Why no replica can be made here, or None (after making sure pg_hba allows local replication)."""
    if BACKEND != "postgres":
        return "the streaming replica needs PostgreSQL (VAULT_TEST_BACKEND=postgres)"
    if not (PG_BIN / "pg_basebackup").exists():
        return f"no PostgreSQL server binaries in {PG_BIN} (set VAULT_TEST_PG_BIN)"
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        return "making a local replica cluster needs root (it runs as the postgres user)"
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        host = make_url(PG_URL).host or "localhost"
        if host not in {"127.0.0.1", "localhost"}:
            return f"the test PostgreSQL is on {host}: a replica is only made for a local server"
        level = conn.execute("SHOW wal_level").fetchone()
        senders = conn.execute("SHOW max_wal_senders").fetchone()
        if not level or level[0] not in {"replica", "logical"} or not senders or int(senders[0]) < 1:
            return "the primary needs wal_level=replica and max_wal_senders > 0"
        rule = conn.execute(
            "SELECT count(*) FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND error IS NULL"
        ).fetchone()
        if rule and rule[0]:
            return None
        hba_row = conn.execute("SHOW hba_file").fetchone()
        hba = Path(str(hba_row[0])) if hba_row else None
        if hba is None or not os.access(hba, os.W_OK):
            return f"pg_hba.conf ({hba}) has no replication line and is not writable"
        text = hba.read_text()
        if HBA_LINE not in text:
            hba.write_text(text.rstrip("\n") + "\n" + HBA_LINE + "\n")
        conn.execute("SELECT pg_reload_conf()")
    return None


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    url = make_url(PG_URL)
    primary_dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    why = _unavailable(primary_dsn) if BACKEND == "postgres" else "the streaming replica needs PostgreSQL"
    if why:
        pytest.skip(why)
    with psycopg.connect(primary_dsn, autocommit=True) as conn:
        minimums = {name: str(conn.execute(f"SHOW {name}").fetchone()[0]) for name in STANDBY_MINIMUMS}  # type: ignore[index]
    data = Path(tempfile.mkdtemp(prefix="vault-replica-"))
    shutil.chown(data, "postgres", "postgres")
    data.chmod(0o700)
    port = free_port()
    started = False
    try:
        subprocess.run(
            _as_postgres(
                str(PG_BIN / "pg_basebackup"), "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
                "-U", url.username or "postgres", "-D", str(data), "-R", "-X", "stream", "-c", "fast",
            ),
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        conf = [
            f"port = {port}",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{data}'",
            "hot_standby = on",
            "hot_standby_feedback = on",
            "shared_buffers = 32MB",
            "fsync = off",
            *(f"{name} = {value}" for name, value in minimums.items()),
        ]
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            (data / name).unlink(missing_ok=True)
        (data / "postgresql.conf").write_text("\n".join(conf) + "\n")
        (data / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
        (data / "pg_ident.conf").write_text("")
        for name in ("postgresql.conf", "pg_hba.conf", "pg_ident.conf"):
            shutil.chown(data / name, "postgres", "postgres")
        subprocess.run(
            _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "server.log"), "-w", "-t", "60",
                         "start"),
            check=True, capture_output=True, timeout=90,
        )  # fmt: skip
        started = True
        replica_url = url.set(port=port)
        found = Replica(
            port=port,
            url=replica_url.render_as_string(hide_password=False),
            primary_dsn=primary_dsn,
            replica_dsn=replica_url.set(drivername="postgresql").render_as_string(hide_password=False),
        )
        assert found.sql("SELECT pg_is_in_recovery()") is True
        yield found
    except subprocess.CalledProcessError as exc:
        log = (data / "server.log").read_text()[-2000:] if (data / "server.log").exists() else ""
        raise AssertionError(f"{' '.join(exc.cmd)} failed: {exc.stderr.decode()[-2000:]}\n{log}") from None
    finally:
        if started:
            subprocess.run(
                _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
                capture_output=True, timeout=60,
            )  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)
