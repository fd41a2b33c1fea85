"""Property-based API fuzzing (schemathesis, from the app's own OpenAPI): no input makes the vault fail.

Every generated request — wrong types, missing fields, odd unicode, huge numbers — must get a deliberate answer
(2xx/4xx, problem details on errors), never a 5xx.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from ..conftest import personal_token

FUZZED = r"^/v1/(gestures|intents|me/settings|signals|categories|accounts|schemas)"


def test_no_server_errors(app: Any, client: TestClient, consumer: dict[str, Any]) -> None:
    token = personal_token(client, consumer["csrf"], ["gestures:write", "signals:read:self", "intents:write"])
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app).include(path_regex=FUZZED)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, "the fuzzed surface shrank: check FUZZED"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: Any) -> None:
            response = case.call(headers=headers)
            where = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{where}: {response.status_code} {response.text[:300]}"
            if response.status_code >= 400:
                content_type = response.headers.get("content-type") or [""]
                assert str(content_type[0]).startswith("application/problem+json"), where

        check()
