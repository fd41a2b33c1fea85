"""``intent-vault backup FILE`` and ``intent-vault restore FILE``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import click

from vault_server.cli_support import db_option, fail, friendly, load_settings


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="overwrite FILE if it exists")
@db_option
@friendly
def backup(file: Path, force: bool, database_url: str | None) -> None:
    """Write an encrypted archive of the whole vault (every table, one consistent snapshot) to FILE.

    The archive is sealed with a key derived from the vault's key file: keep the key file (VAULT_KEK_FILE) safe
    and apart from the backups; without it nothing can be restored.
    """
    from vault_server.backup.service import backup as run_backup
    from vault_server.context import load_keyring

    settings = load_settings(database_url=database_url)
    ring = load_keyring(settings)
    if file.exists() and not force:
        fail(f"{file} exists; choose another name or pass --force")
    partial = file.with_name(file.name + ".partial")
    started = time.monotonic()
    try:
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            summary = run_backup(settings, ring, out, echo=lambda m: click.echo(m, err=True))
            os.fsync(out.fileno())
        partial.replace(file)  # a crash mid-way never leaves a file that looks like a finished backup
    finally:
        partial.unlink(missing_ok=True)
    click.echo(
        f"wrote {file}: {summary.rows} rows from {summary.tables} tables, {summary.bytes} bytes, "
        f"{time.monotonic() - started:.1f} s"
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@friendly
def restore(file: Path, database_url: str | None) -> None:
    """Restore an archive made by `intent-vault backup` into a fresh, empty vault (SQLite or PostgreSQL).

    Needs the key file of the vault that made the backup (VAULT_KEK_FILE). Refuses a target that holds data; a
    wrong key, a damaged or cut-off archive leave the target empty.
    """
    from vault_server.backup.service import restore as run_restore
    from vault_server.context import load_keyring

    settings = load_settings(database_url=database_url)
    ring = load_keyring(settings)
    started = time.monotonic()
    summary = run_restore(settings, ring, file, echo=lambda m: click.echo(m, err=True))
    click.echo(
        f"restored {summary.rows} rows into {summary.tables} tables from {file} in {time.monotonic() - started:.1f} s"
        "; check the audit log with `intent-vault audit check`"
    )
