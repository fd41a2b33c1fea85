"""``intent-vault``: the operator's command line (serve, init, demo, keys, export, policy, signals...).

User mistakes end in one readable line on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from vault_server.cli_support import db_option, fail, friendly, load_settings

__all__ = ["db_option", "fail", "friendly", "load_settings", "main"]

WORKER_HEALTHCHECK_SECONDS = 60


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="intent-vault")
def main() -> None:
    """Intent Vault: your shopping intent, encrypted, shared only by scoped, revocable, audited grants."""


# ---- init / serve ------------------------------------------------------------------------------
@main.command()
@db_option
@click.option("--kek-file", type=click.Path(path_type=Path), envvar="VAULT_KEK_FILE", help="keyring file to create")
@friendly
def init(database_url: str | None, kek_file: Path | None) -> None:
    """Create the key file (if missing) and migrate the database to the newest schema."""
    from vault_server.setup import initialise

    settings = load_settings(database_url=database_url, kek_file=kek_file)
    for line in initialise(settings):
        click.echo(line)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@db_option
@friendly
def serve(host: str, port: int, workers: int, database_url: str | None) -> None:
    """Run the vault's HTTP server (refuses to start on missing keys or an unmigrated database)."""
    import gc

    import uvicorn

    from vault_server.app import create_app

    settings = load_settings(database_url=database_url)
    if workers == 1:
        app = create_app(settings)
        # the app's long-lived objects (models, schemas, compiled statements, policy) out of the collector's
        # full passes, which otherwise rescan them all every few thousand requests (~10 % of gesture ingest's CPU)
        gc.collect()
        gc.freeze()
        uvicorn.run(app, host=host, port=port, access_log=False, log_config=None, proxy_headers=False)
        return
    create_app(settings).state.ctx.db.dispose()  # fail fast, in one line, before forking workers
    if database_url:
        import os

        os.environ["VAULT_DATABASE_URL"] = database_url
    uvicorn.run(
        "vault_server.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=False,
        log_config=None,
        proxy_headers=False,
        # a worker loading the app on a busy host must not be taken for hung and restarted in a loop
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
    )


@main.command()
@db_option
@click.option("--password", default=None, help="password for the demo accounts (default: printed ones)")
@friendly
def demo(database_url: str | None, password: str | None) -> None:
    """Seed a demo consumer, vendor, auditor and admin with a little data; print their logins. Safe to rerun."""
    from vault_server.setup import initialise, seed_demo

    settings = load_settings(database_url=database_url)
    for line in initialise(settings):
        click.echo(line)
    for line in seed_demo(settings, password=password):
        click.echo(line)


# ---- keys ------------------------------------------------------------------------------------------
@main.group()
def keys() -> None:
    """Key management: KEK and signing key rotation."""


@keys.command("rotate")
@click.option("--kek/--no-kek", "do_kek", default=True, show_default=True, help="new KEK, re-wrap every data key")
@click.option("--signing/--no-signing", "do_signing", default=True, show_default=True, help="new Ed25519 signing key")
@click.option(
    "--sign-now",
    is_flag=True,
    help="the old signing key is compromised: sign with the new one at once instead of after 10 minutes "
    "(vendors holding a cached JWKS may reject new tokens until their cache expires)",
)
@db_option
@friendly
def keys_rotate(do_kek: bool, do_signing: bool, sign_now: bool, database_url: str | None) -> None:
    """Rotate keys while the server keeps serving. Old KEKs stay in the keyring for unwrapping; a new signing key
    is published at once by every server and signs 10 minutes later; old signing keys stay published."""
    from vault_server.setup import rotate_keys

    settings = load_settings(database_url=database_url)
    lines = rotate_keys(
        settings, kek=do_kek, signing=do_signing, signing_now=sign_now, echo=lambda m: click.echo(m, err=True)
    )
    for line in lines:
        click.echo(line)


# ---- export ----------------------------------------------------------------------------------------
@main.command()
@click.option("--consumer", required=True, help="the consumer's e-mail or account id")
@click.option("--output", "-o", type=click.Path(path_type=Path, dir_okay=False), help="file to write (default stdout)")
@db_option
@friendly
def export(consumer: str, output: Path | None, database_url: str | None) -> None:
    """Export everything the vault holds about one consumer as JSON."""
    from vault_server.setup import export_consumer

    settings = load_settings(database_url=database_url)
    doc = export_consumer(settings, consumer)
    text = json.dumps(doc, indent=2, ensure_ascii=False, default=str)
    if output is None:
        click.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


def _add_optional_groups() -> None:
    """Attach the command groups that rooms provide (policy, signals, vendors, audit...)."""
    import importlib

    for module_name, attr in (
        ("vault_server.policy.cli", "policy"),
        ("vault_server.signals.cli", "signals"),
        ("vault_server.vendors.cli", "vendors"),
        ("vault_server.grants.cli", "receipt"),
        ("vault_server.grants.cli", "grants"),
        ("vault_server.terms.cli", "agreement"),
        ("vault_server.feed.cli", "worker"),
        ("vault_server.audit.cli", "audit"),
        ("vault_server.backup.cli", "backup"),
        ("vault_server.backup.cli", "restore"),
    ):
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        main.add_command(getattr(module, attr))


_add_optional_groups()
