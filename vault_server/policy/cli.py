"""``intent-vault policy ...``: check a policy directory."""

from __future__ import annotations

from pathlib import Path

import click

from vault_server.policy.loader import check_policy, default_policy_dir, load_policy


@click.group("policy")
def policy() -> None:
    """Policies: taxonomy, gestures, stages, sensitive categories, retention, scopes."""


@policy.command("check")
@click.argument("directory", required=False, type=click.Path(path_type=Path, file_okay=False))
def check(directory: Path | None) -> None:
    """Validate DIRECTORY (default ./policies, else the repository's policies/).

    Prints one `file:line: problem` per mistake and exits 1, or one OK line with counts and the hash.
    """
    if directory is None:
        directory = Path("policies") if Path("policies").is_dir() else default_policy_dir()
    problems = check_policy(directory)
    if problems:
        for problem in problems:
            click.echo(problem.format(directory))
        click.echo(f"{len(problems)} problem(s) in {directory}", err=True)
        raise SystemExit(1)
    click.echo(f"OK {directory}: {load_policy(directory).summary()}")
