"""Secrets never reach the logs: a sign-up, a login, a personal token used with a query string that carries
secrets, and a failed login with a wrong password — the captured log lines (access log and errors, at INFO) hold
no password, token, cookie or query string."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from vault_server.logs import JsonFormatter

from ..conftest import PASSWORD, log_in, personal_token, sign_up


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("vault")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield out
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def test_no_secret_in_the_logs(client: TestClient, captured: io.StringIO) -> None:
    sign_up(client, "logs@example.com", name="Logan")
    csrf = log_in(client, "logs@example.com")
    token = personal_token(client, csrf, ["signals:read:self"])
    client.get("/v1/signals?code=ivac_secretcode&access_token=" + token, headers={"Authorization": f"Bearer {token}"})
    client.post("/v1/sessions", json={"email": "logs@example.com", "password": "wrong-" + PASSWORD})
    lines = captured.getvalue()
    assert '"path": "/v1/signals"' in lines, "the access log was captured: the scan reads real lines"
    cookie = client.cookies.get("vault_session") or ""
    for secret in (PASSWORD, token, "ivac_secretcode", csrf, cookie):
        assert secret and secret not in lines
