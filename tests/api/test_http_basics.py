"""Problem details everywhere, body limits before parsing, health, readiness and JWKS — over a real server."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import build_context
from vault_server.db import Database
from vault_server.errors import ConfigError

from ..conftest import LiveServer


def test_health_ready_and_jwks(live_server: LiveServer) -> None:
    with httpx.Client(base_url=live_server.url) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready"
        jwks = c.get("/.well-known/jwks.json").json()
        assert jwks["keys"] and all(k["crv"] == "Ed25519" and "d" not in k for k in jwks["keys"])
        r = c.get("/healthz")
        assert len(r.headers["x-request-id"]) == 16 and r.headers["x-content-type-options"] == "nosniff"


def test_oversized_body_is_413_before_parsing(live_server: LiveServer, settings: Settings) -> None:
    big = b"{" + b" " * (settings.max_body_bytes + 10) + b"}"
    with httpx.Client(base_url=live_server.url) as c:
        r = c.post("/v1/accounts", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/payload-too-large")

        def chunks() -> object:
            for _ in range(settings.max_body_bytes // 4096 + 2):
                yield b" " * 4096

        r = c.post("/v1/accounts", content=chunks(), headers={"content-type": "application/json"})  # type: ignore[arg-type]
        assert r.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "slug"),
    [
        ("POST", "/v1/accounts", b"{not json", 400, "malformed-json"),
        ("POST", "/v1/accounts", b'{"email": 5}', 422, "validation-error"),
        (
            "POST",
            "/v1/accounts",
            b'{"email": "a@example.com", "password": "xxxxxxxxxxxx", "admin": true}',
            422,
            "validation-error",
        ),
        ("GET", "/v1/does-not-exist", b"", 404, "not-found"),
        ("PUT", "/healthz", b"", 405, "method-not-allowed"),
        ("GET", "/v1/me", b"", 401, "unauthorized"),
    ],
)
def test_errors_are_problem_details(
    client: TestClient, method: str, path: str, body: bytes, status: int, slug: str
) -> None:
    r = client.request(method, path, content=body, headers={"content-type": "application/json"})
    assert r.status_code == status
    assert r.headers["content-type"] == "application/problem+json"
    doc = r.json()
    assert doc["type"] == f"https://intent-vault.dev/problems/{slug}"
    assert doc["status"] == status and doc["title"] and doc["detail"]


def test_server_refuses_unmigrated_database(tmp_path: object, settings: Settings) -> None:
    fresh = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/empty.db", "database_schema": None})
    ctx = build_context(fresh, db=Database(fresh))
    with pytest.raises(ConfigError, match="run `intent-vault init`"):
        create_app(ctx=ctx)
    ctx.db.dispose()
