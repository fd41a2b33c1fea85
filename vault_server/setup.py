"""Operator workflows behind the CLI: initialise, seed the demo, rotate keys, export a consumer."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from sqlmodel import select

from vault_server.accounts import flows
from vault_server.accounts import service as accounts
from vault_server.accounts.models import Account, Role
from vault_server.audit import service as audit
from vault_server.config import Settings
from vault_server.context import build_context, load_keyring
from vault_server.crypto.keyring import KeyRing, KeyRingError
from vault_server.crypto.sealed import install_sealer
from vault_server.crypto.service import rotate_kek
from vault_server.crypto.signing import ACTIVATION_DELAY, KeySet, rotate_signing_key
from vault_server.db import Database, check_migrated, current_revision, head_revision, migrate
from vault_server.errors import ConfigError, NotFound
from vault_server.feed import hooks as feed_hooks
from vault_server.signals import history as signal_history

DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - printed on purpose: a local demo login
DEMO_ACCOUNTS = (
    (Role.consumer, "consumer@example.com", "Dana Demo"),
    (Role.vendor, "vendor@example.com", "Demo Outfitters"),
    (Role.auditor, "auditor@example.com", "Alex Auditor"),
    (Role.admin, "admin@example.com", "Ada Admin"),
)


def initialise(settings: Settings) -> Iterator[str]:
    """Create the keyring file when needed, migrate to head and make the first signing key. Yields progress lines."""
    if settings.kek is None:
        if settings.kek_file is None:
            raise ConfigError("set VAULT_KEK_FILE (or VAULT_KEK) so init knows where keys live")
        if settings.kek_file.exists():
            KeyRing.load(settings.kek_file)  # validates mode and format
            yield f"keys: using existing key file {settings.kek_file}"
        else:
            KeyRing.generate().save(settings.kek_file)
            yield f"keys: created {settings.kek_file} (mode 0600) — back it up: without it the vault is unreadable"
    else:
        yield "keys: using VAULT_KEK from the environment"
    db = Database(settings)
    try:
        ring = load_keyring(settings)
        install_sealer(db.engine, ring)  # migrations that encrypt existing rows need the keys
        before = current_revision(db)
        migrate(db)
        after = head_revision(db)
        yield f"database: {_redact(settings.database_url)} migrated {before or 'empty'} -> {after}"
        with db.session() as s:
            keyset = KeySet.load(session=s, ring=ring)
        yield f"signing key: {keyset.kid}"
    finally:
        db.dispose()


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def seed_demo(settings: Settings, *, password: str | None = None) -> Iterator[str]:
    """Create the demo accounts (idempotent) with a little data; yields the lines to print."""
    ctx = build_context(settings)
    check_migrated(ctx.db)
    feed_hooks.install(ctx)  # the demo's gestures reach the feed as they do through the API
    signal_history.install(ctx)
    pw = password or DEMO_PASSWORD
    created: dict[Role, Account] = {}
    try:
        with ctx.db.session() as s:
            for role, email, name in DEMO_ACCOUNTS:
                existing = s.exec(
                    select(Account).where(Account.email_index == accounts.email_index(ctx.ring, email))
                ).first()
                if existing is None:
                    existing = accounts.sign_up(
                        session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=pw, name=name, role=role
                    )
                created[role] = existing
        from vault_server.demo_data import seed_room_data

        extra = list(seed_room_data(ctx, created))
    finally:
        ctx.db.dispose()
    base = settings.base_url
    yield ""
    yield "Demo logins (password for all: " + pw + ")"
    for role, email, _ in DEMO_ACCOUNTS:
        yield f"  {role.value:<9} {email}"
    yield from extra
    yield f"Open {base}/login — consumer dashboard {base}/dashboard, API docs {base}/docs"


def rotate_keys(
    settings: Settings, *, kek: bool, signing: bool, echo: Callable[[str], None], signing_now: bool = False
) -> Iterator[str]:
    """Rotate the KEK (re-wrapping every data key) and/or the signing key (published at once, signing after
    ``ACTIVATION_DELAY``, or at once with ``signing_now`` when the old key is compromised)."""
    if not kek and not signing:
        raise ConfigError("nothing to rotate: drop --no-kek or --no-signing")
    ctx = build_context(settings)
    check_migrated(ctx.db)
    try:
        if kek:
            if settings.kek is not None or settings.kek_file is None:
                raise KeyRingError(
                    "KEK rotation needs a key file (VAULT_KEK_FILE); VAULT_KEK in the environment cannot be rewritten"
                )
            ring = ctx.ring
            old = ring.active
            new = ring.add_active()
            ring.save(settings.kek_file)
            echo(f"keys: new KEK {new} is active in {settings.kek_file}; re-wrapping data keys...")
            report = rotate_kek(db=ctx.db, ring=ring, progress=lambda done, total: echo(f"  re-wrapped {done}/{total}"))
            with ctx.db.session() as s:
                audit.record(
                    session=s,
                    ctx=ctx,
                    kind="admin.key_rotation",
                    actor="operator:cli",
                    consumer_id=None,
                    details={
                        "key": "kek",
                        "old_kid": old,
                        "new_kid": report.new_kid,
                        "rewrapped_data_keys": report.rewrapped_data_keys,
                        "remaining_under_old": report.remaining_under_old,
                    },
                )
            yield (
                f"KEK rotated {old} -> {report.new_kid}: re-wrapped {report.rewrapped_data_keys} data keys and "
                f"{report.rewrapped_signing_keys} signing keys; {report.remaining_under_old} left under older KEKs"
            )
        if signing:
            with ctx.db.session() as s:
                new_kid, retiring, activates_at = rotate_signing_key(
                    session=s, ring=ctx.ring, delay=timedelta(0) if signing_now else ACTIVATION_DELAY
                )
                audit.record(
                    session=s,
                    ctx=ctx,
                    kind="admin.key_rotation",
                    actor="operator:cli",
                    consumer_id=None,
                    details={
                        "key": "signing",
                        "new_kid": new_kid,
                        "retired_kids": retiring,
                        "activates_at": activates_at.isoformat(timespec="seconds"),
                    },
                )
            yield (
                f"signing key rotated: {new_kid} is published now and signs from "
                f"{activates_at.isoformat(timespec='seconds')}; {len(retiring)} older key(s) stay published to verify"
            )
    finally:
        ctx.db.dispose()


def export_consumer(settings: Settings, who: str) -> dict[str, Any]:
    """Returns the full export of the consumer named by e-mail or account id."""
    ctx = build_context(settings)
    check_migrated(ctx.db)
    try:
        with ctx.db.session() as s:
            account: Account | None = None
            if "@" in who:
                account = s.exec(
                    select(Account).where(Account.email_index == accounts.email_index(ctx.ring, who))
                ).first()
            else:
                try:
                    uuid.UUID(who)
                except ValueError:
                    raise NotFound(f"{who!r} is neither an e-mail nor an account id") from None
                account = s.get(Account, who)
            if account is None or account.deleted_at is not None:
                raise NotFound(f"no consumer {who!r} in this vault")
            doc = flows.export_account(session=s, ctx=ctx, account=account)
            audit.record(
                session=s,
                ctx=ctx,
                kind="consumer.export",
                actor="operator:cli",
                consumer_id=account.id,
                details={"via": "cli", "sections": sorted(doc)},
            )
            return doc
    finally:
        ctx.db.dispose()
