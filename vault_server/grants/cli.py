"""``intent-vault receipt verify FILE`` (check a consent receipt's signature against the published JWKS) and
``intent-vault grants expire`` (the expiry job)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from vault_server.cli_support import db_option, fail, friendly, load_settings


@click.group()
def receipt() -> None:
    """Consent receipts: verify their signatures."""


def _read_receipt(path: Path) -> str:
    text = (sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")).strip()
    if text.startswith("{"):
        doc = json.loads(text)
        if isinstance(doc, dict) and isinstance(doc.get("jws"), str):
            return str(doc["jws"])
        fail('the JSON file has no "jws" member; pass the compact JWS you downloaded')
    return text


def load_jwks(source: str | None, database_url: str | None) -> dict[str, Any]:
    """A JWK set from a URL or file, or (no source) this vault's own published keys."""
    if source is None:
        from vault_server.context import build_context
        from vault_server.db import check_migrated
        from vault_server.errors import ConfigError

        try:
            ctx = build_context(load_settings(database_url=database_url))
        except ConfigError:
            # a vendor or auditor checking a receipt has no vault here: point at the published keys instead
            fail(
                "no vault in this folder to take the signing keys from; pass the vault's published keys with "
                "--jwks URL (e.g. https://vault.example/.well-known/jwks.json) or --jwks FILE"
            )
            raise  # fail() exits; this only satisfies the type checker
        try:
            check_migrated(ctx.db)
            return ctx.keyset.jwks()
        finally:
            ctx.db.dispose()
    if source.startswith(("http://", "https://")):
        import httpx

        response = httpx.get(source, timeout=10)
        response.raise_for_status()
        doc: dict[str, Any] = response.json()
        return doc
    loaded: dict[str, Any] = json.loads(Path(source).read_text(encoding="utf-8"))
    return loaded


@receipt.command("verify")
@click.argument("file", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "--jwks",
    "jwks_source",
    default=None,
    help="JWKS URL (e.g. https://vault.example/.well-known/jwks.json) or file; default: this vault's keys",
)
@db_option
@friendly
def verify(file: Path, jwks_source: str | None, database_url: str | None) -> None:
    """Verify a consent receipt (compact JWS) and print what it records."""
    from vault_server.grants.receipts import ReceiptInvalid, summary
    from vault_server.grants.receipts import verify as verify_receipt

    token = _read_receipt(file)
    try:
        doc = verify_receipt(token, load_jwks(jwks_source, database_url))
    except ReceiptInvalid as exc:
        fail(f"receipt {file} is NOT valid: {exc}")
        return
    click.echo(summary(doc))
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@click.group()
def grants() -> None:
    """Grants: the expiry job."""


@grants.command("expire")
@db_option
@friendly
def expire(database_url: str | None) -> None:
    """Mark grants past their expiry as expired (signed receipt + audit entry each). Run it from cron."""
    from vault_server.context import build_context
    from vault_server.db import check_migrated
    from vault_server.grants.tasks import expire_once

    ctx = build_context(load_settings(database_url=database_url))
    try:
        check_migrated(ctx.db)
        total = expire_once(ctx)
        click.echo(f"expired {total} grant(s)")
    finally:
        ctx.db.dispose()
