"""``intent-vault audit ...``: check the log, verify an export offline, sign tree heads, export for auditors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from vault_server.cli_support import db_option, friendly, load_settings
from vault_server.context import VaultContext, build_context
from vault_server.db import check_migrated


@contextmanager
def _context(database_url: str | None) -> Iterator[VaultContext]:
    ctx = build_context(load_settings(database_url=database_url))
    try:
        check_migrated(ctx.db)
        yield ctx
    finally:
        ctx.db.dispose()


@click.group()
def audit() -> None:
    """The tamper-evident access log: check, verify, sign tree heads, export."""


@audit.command("check")
@click.option(
    "--max-delay",
    type=click.IntRange(min=1),
    default=None,
    help="seconds an entry may wait for a signed tree head (default: twice VAULT_AUDIT_STH_INTERVAL_SECONDS)",
)
@click.option(
    "--known-heads",
    "known_heads",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="signed tree heads kept outside the vault (sth.json files, or a directory such as an earlier `audit "
    "export`): the log must extend each one, even when the stored heads were deleted (repeatable)",
)
@db_option
@friendly
def check_cmd(max_delay: int | None, known_heads: tuple[Path, ...], database_url: str | None) -> None:
    """Replay the log: reads without a live grant, tokens used after revocation, tree-head gaps, tampering, forks.

    One line per finding on stdout; exit status 1 when there is any.
    """
    from vault_server.audit.check import load_known_heads, run_check
    from vault_server.audit.verifier import FormatError

    try:
        known = load_known_heads(known_heads)
    except FormatError as exc:
        raise click.ClickException(str(exc)) from None
    with _context(database_url) as ctx:
        report = run_check(ctx, max_delay_seconds=max_delay, known_heads=known)
    for line in report.lines():
        click.echo(line)
    summary = f"{report.entries} entries, {report.sths} signed tree heads, {len(report.findings)} finding(s)"
    click.echo(("OK: " if report.ok else "FINDINGS: ") + summary, err=True)
    sys.exit(0 if report.ok else 1)


@audit.command("verify", context_settings={"ignore_unknown_options": False})
@click.option("--entries", required=True, type=click.Path(dir_okay=False), help="export.jsonl")
@click.option("--sth", required=True, type=click.Path(dir_okay=False), help="signed tree head (sth.json)")
@click.option("--jwks", required=True, type=click.Path(dir_okay=False), help="the vault's JWK set")
@click.option("--old-sth", multiple=True, type=click.Path(dir_okay=False), help="earlier signed head (repeatable)")
@click.option("--proof", type=click.Path(dir_okay=False), help="consistency proof from an --old-sth to --sth")
def verify_cmd(entries: str, sth: str, jwks: str, old_sth: tuple[str, ...], proof: str | None) -> None:
    """Verify an export offline against signed tree heads (the standalone verifier; exit 0 ok, 1 tampered, 2 usage)."""
    from vault_server.audit.verifier import main as verifier_main

    argv = ["--entries", entries, "--sth", sth, "--jwks", jwks]
    for old in old_sth:
        argv += ["--old-sth", old]
    if proof:
        argv += ["--proof", proof]
    sys.exit(verifier_main(argv))


@audit.command("verify-slice")
@click.argument("archive", type=click.Path(dir_okay=False, exists=True, path_type=Path))
def verify_slice_cmd(archive: Path) -> None:
    """Verify a regulator slice zip (from /v1/audit/export or `audit export --slice`) offline."""
    from vault_server.audit.check import verify_slice
    from vault_server.audit.verifier import FormatError

    try:
        problems, summary = verify_slice(archive.read_bytes())
    except (FormatError, ValueError, KeyError) as exc:
        click.echo(f"error: {archive}: {exc}", err=True)
        sys.exit(2)
    for line in problems:
        click.echo(line)
    if problems:
        click.echo(f"TAMPERED: {len(problems)} problem(s)")
        sys.exit(1)
    click.echo(
        f"OK: {summary['entries']} entries included in tree_size {summary['tree_size']} signed by "
        f"{summary['kid']!r}; {summary['old_heads']} earlier head(s) consistent"
    )


@audit.command("sth")
@click.option("--if-due", is_flag=True, help="only when the log grew and the interval passed (for cron)")
@db_option
@friendly
def sth_cmd(if_due: bool, database_url: str | None) -> None:
    """Sign the current tree head now and print it as sth.json."""
    from vault_server.audit import service
    from vault_server.audit.tasks import maybe_make_sth

    with _context(database_url) as ctx:
        row = maybe_make_sth(ctx, force=not if_due)
    if row is None:
        click.echo("no tree head due (the log did not grow or the interval has not passed)", err=True)
        return
    click.echo(json.dumps(service.sth_json(row), indent=2))


@audit.command("export")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="directory for export.jsonl, sth.json, jwks.json and old-sths/",
)
@click.option("--slice", "slice_file", type=click.Path(dir_okay=False, path_type=Path), help="also write a slice zip")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="slice start index")
@click.option("--end", type=click.IntRange(min=0), default=None, help="slice end index (exclusive)")
@db_option
@friendly
def export_cmd(output: Path, slice_file: Path | None, start: int, end: int | None, database_url: str | None) -> None:
    """Write the whole log up to the latest signed head, with that head, older heads and the JWKS, for
    `intent-vault audit verify` (or python verifier.py) on another machine."""
    from vault_server.audit import service, store
    from vault_server.audit.views import build_export
    from vault_server.errors import Conflict

    output.mkdir(parents=True, exist_ok=True)
    with _context(database_url) as ctx, ctx.db.session() as s:
        latest = store.latest_sth(s)
        if latest is None:
            raise Conflict("no signed tree head yet: run `intent-vault audit sth` first")
        count = 0
        with (output / "export.jsonl").open("w", encoding="utf-8") as handle:
            for line in service.export_lines(s, start=0, end=latest.tree_size):
                handle.write(line)
                count += 1
        (output / "sth.json").write_text(json.dumps(service.sth_json(latest), indent=2) + "\n", encoding="utf-8")
        (output / "jwks.json").write_text(json.dumps(service.jwks(ctx), indent=2) + "\n", encoding="utf-8")
        olds = output / "old-sths"
        olds.mkdir(exist_ok=True)
        for row in store.all_sths(s):
            if row.id != latest.id and row.tree_size <= latest.tree_size:
                name = f"{row.tree_size:09d}-{row.timestamp}.json"
                (olds / name).write_text(json.dumps(service.sth_json(row), indent=2) + "\n", encoding="utf-8")
        if slice_file is not None:
            body, summary = build_export(s, ctx, start, end)
            slice_file.write_bytes(body)
            click.echo(f"wrote {slice_file} (entries {summary['start']}..{summary['end'] - 1})", err=True)
    click.echo(f"wrote {count} entries, sth.json (tree_size {latest.tree_size}) and jwks.json to {output}", err=True)
    click.echo(
        f"verify: intent-vault audit verify --entries {output / 'export.jsonl'} --sth {output / 'sth.json'} "
        f"--jwks {output / 'jwks.json'}",
        err=True,
    )
