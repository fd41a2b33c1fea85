"""What every ``intent-vault`` command group shares: one-line errors, settings from options, the database option.

``cli.py`` and the rooms' command groups (``*/cli.py``) import these from here, never from ``cli.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import click
from pydantic import ValidationError

from vault_server.config import Settings
from vault_server.errors import ConfigError, VaultError
from vault_server.policy.loader import PolicyError

P = ParamSpec("P")
R = TypeVar("R")


def fail(message: str, code: int = 1) -> None:
    click.echo(f"intent-vault: error: {message}", err=True)
    sys.exit(code)


def friendly(func: Callable[P, R]) -> Callable[P, R]:
    """Turn operator and domain errors into one line and exit 1."""

    @wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except (ConfigError, VaultError) as exc:
            fail(str(exc))
        except PolicyError as exc:
            for problem in exc.problems:
                click.echo(problem.format(exc.directory), err=True)
            fail(f"the policy in {exc.directory} has {len(exc.problems)} problem(s); fix them and retry")
        except ValidationError as exc:
            first = exc.errors()[0]
            fail(f"invalid setting {'.'.join(str(p) for p in first['loc'])}: {first['msg']}")
        except OSError as exc:
            fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc))
        raise AssertionError("unreachable")

    return wrapper


def load_settings(**overrides: Any) -> Settings:
    values = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**values)


db_option = click.option(
    "--database-url", envvar="VAULT_DATABASE_URL", help="database URL (default: sqlite under ./var)"
)
