"""Property-based API fuzzing (schemathesis, from the app's own OpenAPI): no input makes the vault fail.

Every generated request — wrong types, missing fields, odd unicode, huge numbers — must get a deliberate answer
(2xx/4xx, problem details on errors), never a 5xx.
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi.testclient import TestClient

from vault_server.context import VaultContext

from ..conftest import fuzz_openapi, personal_token
from .test_feed_support import make_vendor

FUZZED = r"^/v1/(gestures|intents|me/settings|signals|categories|accounts|schemas)"


def test_no_server_errors(app: Any, client: TestClient, consumer: dict[str, Any]) -> None:
    token = personal_token(client, consumer["csrf"], ["gestures:write", "signals:read:self", "intents:write"])
    fuzz_openapi(app, FUZZED, {"Authorization": f"Bearer {token}"}, min_operations=10, examples=20)


def test_no_server_errors_in_audit_casts_and_offers(app: Any, client: TestClient, consumer: dict[str, Any]) -> None:
    """The audit API (tree heads, proofs, entries, access log) and the consumer's casts and offers: numbers as
    large or as negative as hypothesis likes, odd ids and ranges."""
    token = personal_token(client, consumer["csrf"], ["account:read", "intents:write", "signals:read:self"])
    pattern = r"^/v1/(audit|me/access-log|intentcasts|offers|inbox)"
    fuzz_openapi(app, pattern, {"Authorization": f"Bearer {token}"}, min_operations=8, examples=15)


def test_no_server_errors_for_a_vendor(app: Any, client: TestClient, ctx: VaultContext) -> None:
    """A vendor's own surface with its client credentials: the feed (cursors, limits), webhooks, casts, questions."""
    vendor, secret = make_vendor(ctx, "Fuzzed shop")
    basic = base64.b64encode(f"{vendor}:{secret}".encode()).decode()
    pattern = r"^/v1/(feed|webhooks|vendor/(intentcasts|offers|questions))"
    fuzz_openapi(app, pattern, {"Authorization": f"Basic {basic}"}, min_operations=6, examples=15)
