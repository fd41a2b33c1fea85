"""``intent-vault agreement verify FILE``: check a downloaded IEEE 7012 agreement record offline — the vault's
signature, the vendor's countersignature, and that both sign exactly the record in the file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from vault_server.cli_support import fail, friendly
from vault_server.grants.cli import load_jwks


@click.group()
def agreement() -> None:
    """IEEE 7012 (MyTerms) agreement records: verify both signatures."""


@agreement.command("verify")
@click.argument("file", type=click.Path(path_type=Path, allow_dash=True))
@click.option(
    "--jwks",
    "jwks_source",
    default=None,
    help="the vault's JWKS URL or file to check its signature against; default: the keys saved in the record file",
)
@friendly
def verify(file: Path, jwks_source: str | None) -> None:
    """Verify an agreement record downloaded from the vault (consumer or vendor side)."""
    from vault_server.terms.service import RecordInvalid, verify_download

    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
        document = json.loads(text)
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except (UnicodeDecodeError, json.JSONDecodeError):
        fail(f"{file}: not a JSON agreement record (download it from /v1/me/agreements/ID or /v1/terms/records/ID)")
    if not isinstance(document, dict):
        fail(f"{file}: not a JSON agreement record")
    vault_jwks = load_jwks(jwks_source, None) if jwks_source else None
    try:
        record = verify_download(document, vault_jwks=vault_jwks)
    except RecordInvalid as exc:
        fail(f"agreement record {file} is NOT valid: {exc}")
    terms = record["agreement"]
    click.echo(
        f"valid agreement record {record['recordId']}: '{terms['title']}' ({terms['id']} v{terms['version']}), "
        f"{record['outcome']}, between subject {record['firstParty']['subject']} and client "
        f"{record['secondParty']['clientId']}, signed by the vault and countersigned by the vendor"
    )
