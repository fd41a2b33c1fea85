"""``intent-vault vendors``: list vendor apps and approve or suspend them."""

from __future__ import annotations

import click

from vault_server.cli_support import db_option, friendly, load_settings
from vault_server.vendors.models import VendorStatus


@click.group()
def vendors() -> None:
    """Vendor apps: list, approve, suspend."""


@vendors.command("list")
@click.option("--status", type=click.Choice([s.value for s in VendorStatus]), default=None)
@db_option
@friendly
def list_cmd(status: str | None, database_url: str | None) -> None:
    """List vendor apps (client id, status, name, redirect URIs)."""
    from vault_server.context import build_context
    from vault_server.db import check_migrated
    from vault_server.vendors import service

    ctx = build_context(load_settings(database_url=database_url))
    try:
        check_migrated(ctx.db)
        with ctx.db.session() as s:
            apps = service.list_apps(session=s, status=status)
            for app in apps:
                click.echo(f"{app.id}  {app.status:<9}  {app.name}  {' '.join(app.redirect_uris)}")
        if not apps:
            click.echo("no vendor apps", err=True)
    finally:
        ctx.db.dispose()


def _set(client_id: str, status: VendorStatus, database_url: str | None) -> None:
    from vault_server.context import build_context
    from vault_server.db import check_migrated
    from vault_server.vendors.views import set_status

    ctx = build_context(load_settings(database_url=database_url))
    try:
        check_migrated(ctx.db)
        view = set_status(ctx, client_id, status, "admin:cli")
        click.echo(f"{view['client_id']} ({view['name']}) is now {view['status']}")
    finally:
        ctx.db.dispose()


@vendors.command("approve")
@click.argument("client_id")
@db_option
@friendly
def approve(client_id: str, database_url: str | None) -> None:
    """Approve a pending vendor app so it can ask consumers for consent."""
    _set(client_id, VendorStatus.approved, database_url)


@vendors.command("suspend")
@click.argument("client_id")
@db_option
@friendly
def suspend(client_id: str, database_url: str | None) -> None:
    """Suspend a vendor app: its tokens stop working at once and it cannot ask for new consent."""
    _set(client_id, VendorStatus.suspended, database_url)
