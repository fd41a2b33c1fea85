"""Migration 0201 encrypts grants that were stored in the clear, and refuses to run without the keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from vault_server.config import Settings
from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.sealed import install_sealer, sealer_for
from vault_server.db import Database, alembic_config, migrate

DETAILS = [{"type": "intent_signals", "categories": ["electronics.tv"], "fields": ["stage"]}]
NOW = "2026-11-25 10:00:00"


def _db_at_0200_with_a_grant(tmp_path: Path) -> Database:
    db = Database(Settings(database_url=f"sqlite:///{tmp_path}/old.db"))
    command.upgrade(alembic_config(db), "0200")
    with db.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO account (id, role, paused, created_at) VALUES ('a1', 'consumer', 0, :t)"), {"t": NOW}
        )
        conn.execute(
            text(
                "INSERT INTO vendor_app (id, name, homepage, logo_uri, policy_uri, contacts, redirect_uris, "
                "grant_types, scope, token_endpoint_auth_method, status, first_party, registered_via, created_at) "
                "VALUES ('v1', 'Shop', 'https://s.example', '', '', '[]', '[]', '[]', '', 'none', 'approved', 0, "
                "'test', :t)"
            ),
            {"t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO consent_grant (id, account_id, vendor_id, subject, scope, authorization_details, "
                "requested, purpose, retention_days, identity_fields, version, created_at, updated_at, expires_at) "
                "VALUES ('g1', 'a1', 'v1', 'sub', '', :d, :r, 'offers', 30, '', 1, :t, :t, :t)"
            ),
            {"d": json.dumps(DETAILS), "r": json.dumps({"authorization_details": DETAILS}), "t": NOW},
        )
        conn.execute(
            text(
                "INSERT INTO consent_receipt (id, grant_id, version, event, jws, created_at) "
                "VALUES ('r1', 'g1', 1, 'created', 'eyJhbGciOiJFZERTQSJ9.electronics.tv.sig', :t)"
            ),
            {"t": NOW},
        )
    return db


def test_existing_grants_are_sealed_in_place(tmp_path: Path) -> None:
    db = _db_at_0200_with_a_grant(tmp_path)
    ring = KeyRing.generate()
    install_sealer(db.engine, ring)
    migrate(db)
    with db.engine.connect() as conn:
        stored = conn.execute(text("SELECT authorization_details, requested FROM consent_grant")).one()
    assert b"electronics.tv" not in bytes(stored[0]) and b"electronics.tv" not in bytes(stored[1])
    opened = sealer_for(ring).open("consent_grant.authorization_details", bytes(stored[0]))
    assert json.loads(opened) == DETAILS
    with db.engine.connect() as conn:  # the receipt that references the grant survived (no table rebuild cascade)
        (jws,) = conn.execute(text("SELECT jws FROM consent_receipt WHERE grant_id = 'g1'")).one()
    assert sealer_for(ring).open("consent_receipt.jws", bytes(jws)).decode().endswith("electronics.tv.sig")
    db.dispose()


def test_sealing_migration_needs_the_keys(tmp_path: Path) -> None:
    db = _db_at_0200_with_a_grant(tmp_path)
    with pytest.raises(RuntimeError, match="run `intent-vault init`"):
        migrate(db)
    db.dispose()
