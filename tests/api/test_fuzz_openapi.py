"""Property-based API fuzzing (schemathesis, from the app's own OpenAPI): no input makes the vault fail.

Every generated request — wrong types, missing fields, odd unicode, huge numbers — must get a deliberate answer
(2xx/4xx, problem details on errors), never a 5xx.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from ..conftest import fuzz_openapi, personal_token

FUZZED = r"^/v1/(gestures|intents|me/settings|signals|categories|accounts|schemas)"


def test_no_server_errors(app: Any, client: TestClient, consumer: dict[str, Any]) -> None:
    token = personal_token(client, consumer["csrf"], ["gestures:write", "signals:read:self", "intents:write"])
    fuzz_openapi(app, FUZZED, {"Authorization": f"Bearer {token}"}, min_operations=10, examples=20)
