"""Schemathesis over the whole API, as each kind of caller, with its conformance checks on: every response —
errors included — is one the OpenAPI document describes (status code, content type and body schema), and none
is a server error. Bounded (a few examples per operation, derandomized) so a role takes seconds; in-process (ASGI).

Roles: anonymous, a consumer (session cookie + CSRF header), a vendor's portal account (session), a vendor app
(client credentials, HTTP Basic) and an auditor (session). A failure lists every operation and check that failed.
"""

from __future__ import annotations

import base64
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Role
from vault_server.context import VaultContext
from vault_server.web.openapi import NO_DATABASE

from ..conftest import PASSWORD, log_in
from .test_feed_support import make_consumer, make_vendor

EXAMPLES = 6  # per operation and role: about 100 operations, each role well under a minute


def _checks() -> list[Any]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    return [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


def without_lifespan(app: Any) -> Any:
    """The app without its lifespan (background jobs): schemathesis keeps a started lifespan for the whole process;
    the test's context already made the signing key the lifespan would make."""

    async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        await app(scope, receive, send)

    return wrapped


def _account(ctx: VaultContext, email: str, role: Role) -> None:
    with ctx.db.session() as s:
        accounts.sign_up(
            session=s, ring=ctx.ring, hasher=ctx.hasher, email=email, password=PASSWORD, name="", role=role
        )


def _session(client: TestClient, email: str) -> Callable[[], dict[str, Any]]:
    """Fresh cookie and CSRF header for each operation (a generated logout must not end the role's run)."""

    def login() -> dict[str, Any]:
        csrf = log_in(client, email)
        return {"headers": {"X-CSRF-Token": csrf}, "cookies": {"vault_session": client.cookies.get("vault_session")}}

    return login


def run_schemathesis(
    app: Any, credentials: Callable[[], dict[str, Any]], statuses: Counter[int] | None = None
) -> tuple[int, int, list[str]]:
    """Every operation, EXAMPLES generated cases each (positive and negative), all four checks.
    Returns (operations, cases, failures); counts the status codes seen into ``statuses``."""
    import schemathesis
    from schemathesis.python import asgi

    served = without_lifespan(app)
    schema = schemathesis.openapi.from_asgi("/openapi.json", served)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    cases = 0
    with asgi.get_client(served) as session:  # one in-process client for the run, not one per case
        for operation in operations:
            cases += run_operation(operation, credentials(), session, failures, statuses)
    return len(operations), cases, failures


def run_operation(
    operation: Any, kwargs: dict[str, Any], session: Any, failures: list[str], statuses: Counter[int] | None
) -> int:
    """Generated cases of one operation, each response validated; failures recorded, not raised (no shrinking)."""
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup

    checks = _checks()
    cases = 0
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE
    )

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    def check(case: Any) -> None:
        nonlocal cases
        cases += 1
        headers = {**kwargs.get("headers", {}), **(case.headers or {})}
        where = f"{case.method} {operation.path}"
        try:
            response = case.call(session=session, headers=headers, cookies=kwargs.get("cookies"))
        except Exception as exc:  # a hang or a dropped connection is a failure too
            failures.append(f"{where} -> no response: {type(exc).__name__}")
            return
        if statuses is not None:
            statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=checks, headers=headers)
        except FailureGroup as group:  # record every failing operation and check, keep going
            for failure in group.exceptions:
                message = " ".join(str(failure.message).split())[:300]
                failures.append(f"{where} -> {response.status_code}: {failure.title}: {message}")

    check()
    return cases


@pytest.fixture
def roles(client: TestClient, ctx: VaultContext) -> dict[str, Callable[[], dict[str, Any]]]:
    make_consumer(ctx, "fuzz-consumer@example.com")
    _account(ctx, "fuzz-vendor@example.com", Role.vendor)
    _account(ctx, "fuzz-auditor@example.com", Role.auditor)
    client_id, secret = make_vendor(ctx, "Fuzz shop")
    basic = "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {
        "anonymous": dict,
        "consumer": _session(client, "fuzz-consumer@example.com"),
        "vendor-portal": _session(client, "fuzz-vendor@example.com"),
        "vendor-app": lambda: {"headers": {"Authorization": basic}},
        "auditor": _session(client, "fuzz-auditor@example.com"),
    }


@pytest.mark.parametrize("role", ["anonymous", "consumer", "vendor-portal", "vendor-app", "auditor"])
def test_every_response_conforms_to_the_openapi_document(
    app: Any, roles: dict[str, Callable[[], dict[str, Any]]], role: str
) -> None:
    start = time.monotonic()
    statuses: Counter[int] = Counter()
    operations, cases, failures = run_schemathesis(app, roles[role], statuses)
    print(f"schemathesis {role}: {operations} operations, {cases} cases, {len(failures)} failures, "
          f"{time.monotonic() - start:.1f} s, statuses {dict(sorted(statuses.items()))}")  # fmt: skip
    assert operations >= 95, "the API surface shrank: was an operation dropped from the document?"
    assert not failures, f"{len(failures)} non-conforming responses:\n" + "\n".join(sorted(set(failures)))


def test_every_error_is_described_as_problem_details(app: Any) -> None:
    """The document itself: each operation describes its errors; outside OAuth's RFC 6749 JSON, every error is
    ``application/problem+json`` with the shared Problem schema."""
    document = app.openapi()
    assert {"Problem", "ValidationProblem", "OAuthError"} <= set(document["components"]["schemas"])
    for path, item in document["paths"].items():
        for method, operation in item.items():
            errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
            assert errors or (method, path) in NO_DATABASE, f"{method} {path} describes no error"
            for code, response in errors.items():
                media = set(response["content"])
                if path.startswith("/oauth/") and code not in ("413", "503"):
                    assert media == {"application/json"}, (method, path, code)
                else:
                    assert media == {"application/problem+json"}, (method, path, code)
