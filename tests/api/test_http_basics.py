"""Problem details everywhere, body limits before parsing, health, readiness and JWKS — over a real server."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient

from vault_server import app as app_module
from vault_server.app import create_app
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.crypto.signing import rotate_signing_key
from vault_server.db import Database
from vault_server.errors import ConfigError

from ..conftest import LiveServer


def test_health_ready_and_jwks(live_server: LiveServer) -> None:
    with httpx.Client(timeout=20, base_url=live_server.url) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz").json()
        assert ready["status"] == "ready"
        jwks = c.get("/.well-known/jwks.json").json()
        assert jwks["keys"] and all(k["crv"] == "Ed25519" and "d" not in k for k in jwks["keys"])
        r = c.get("/healthz")
        assert len(r.headers["x-request-id"]) == 16 and r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", ["/healthz", "/.well-known/oauth-authorization-server", "/.well-known/jwks.json"])
def test_static_documents_carry_etag_headers_and_answer_304(live_server: LiveServer, path: str) -> None:
    with httpx.Client(timeout=20, base_url=live_server.url) as c:
        first = c.get(path)
        assert first.status_code == 200 and first.headers["content-type"] == "application/json"
        etag = first.headers["etag"]
        assert etag.startswith('"') and len(first.headers["x-request-id"]) == 16
        again = c.get(path, headers={"If-None-Match": f'"other", {etag}'})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert again.headers["x-frame-options"] == "DENY"
        assert again.headers["x-request-id"] != first.headers["x-request-id"]
        head = c.head(path)
        assert head.status_code == 200 and head.content == b""
        assert int(head.headers["content-length"]) == len(first.content)
        assert c.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200
        assert c.post(path).status_code == 405  # other methods still reach the router


def test_metadata_served_fast_is_the_documented_one(client: TestClient, ctx: VaultContext) -> None:
    from vault_server.oauth.metadata import server_metadata

    assert client.get("/.well-known/oauth-authorization-server").json() == server_metadata(ctx)
    assert "/.well-known/oauth-authorization-server" in client.get("/openapi.json").json()["paths"]


def test_the_precomputed_jwks_follows_a_rotation_made_by_another_process(
    ctx: VaultContext, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx.keys.refresh_seconds = 0.0  # the moments are not waited for: every read re-checks
    monkeypatch.setattr(app_module, "JWKS_REBUILD_SECONDS", 0.0)
    with TestClient(create_app(ctx=ctx), base_url="http://127.0.0.1:8000") as c:
        old_kid = ctx.keyset.kid
        before = c.get("/.well-known/jwks.json")
        assert [k["kid"] for k in before.json()["keys"]] == [old_kid]
        other = build_context(settings)  # `intent-vault keys rotate` runs in its own process
        with other.db.session() as s:
            new_kid, _, _ = rotate_signing_key(session=s, ring=other.ring)
        other.db.dispose()
        after = c.get("/.well-known/jwks.json", headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert {k["kid"] for k in after.json()["keys"]} == {old_kid, new_kid}
        assert after.headers["etag"] != before.headers["etag"]


def test_oversized_body_is_413_before_parsing(live_server: LiveServer, settings: Settings) -> None:
    big = b"{" + b" " * (settings.max_body_bytes + 10) + b"}"
    with httpx.Client(timeout=20, base_url=live_server.url) as c:
        r = c.post("/v1/accounts", content=big, headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/payload-too-large")

        def chunks() -> object:
            for _ in range(settings.max_body_bytes // 4096 + 2):
                yield b" " * 4096

        r = c.post("/v1/accounts", content=chunks(), headers={"content-type": "application/json"})  # type: ignore[arg-type]
        assert r.status_code == 413

        def small() -> object:
            yield b'{"email": 5}'

        r = c.post("/v1/accounts", content=small(), headers={"content-type": "application/json"})  # type: ignore[arg-type]
        assert r.status_code == 422  # a chunked body under the limit reaches the app


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
