"""Alembic environment: runs on the engine handed over by ``vault_server.db.migrate``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from vault_server.all_models import metadata

config = context.config
engine: Engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite"
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
