"""Secrets never reach the logs, through a whole flow at INFO on every logger (the vault's, uvicorn's, the
libraries'): sign-up and login (also a wrong password), a vendor registration (client secret), consent
(authorization code, state, PKCE verifier), token exchange and refresh (access and refresh tokens, also a
replayed refresh token), a wrong client secret, the extension's device grant (device code, user code, its device
tokens), a webhook secret and a personal API token. The captured lines are scanned for every one of them."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Iterator

import pytest

from vault_server.context import VaultContext
from vault_server.logs import JsonFormatter

from ..api.test_oauth_device import _approve, _poll, _start
from ..api.test_oauth_support import (
    approve_consent,
    approved_vendor,
    authorize_params,
    basic,
    browser,
    exchange,
    pkce_pair,
)
from ..conftest import PASSWORD, LiveServer, log_in, personal_token, sign_up


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    # the server's loggers (the vault's own tree does not propagate to the root); httpx here is the test's client
    names = ("", "vault", "uvicorn", "uvicorn.error", "sqlalchemy", "authlib", "joserfc")
    levels = {name: logging.getLogger(name).level for name in names}
    hooked = [logging.getLogger(n) for n in ("", "vault")]
    for logger in hooked:
        logger.addHandler(handler)
    for name in levels:
        logging.getLogger(name).setLevel(logging.INFO)
    client_level = logging.getLogger("httpx").level
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        yield out
    finally:
        for logger in hooked:
            logger.removeHandler(handler)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        logging.getLogger("httpx").setLevel(client_level)


def test_no_secret_is_logged_through_a_whole_flow(
    live_server: LiveServer, ctx: VaultContext, captured: io.StringIO
) -> None:
    secrets: list[str] = [PASSWORD, "wrong-" + PASSWORD]
    consumer = browser(live_server.url)
    sign_up(consumer, "dana@example.com", name="Dana")
    consumer.post("/v1/sessions", json={"email": "dana@example.com", "password": "wrong-" + PASSWORD})
    csrf = log_in(consumer, "dana@example.com")
    secrets += [csrf, consumer.cookies.get("vault_session") or "missing-cookie"]
    secrets.append(personal_token(consumer, csrf, ["signals:read:self"]))

    vendor_http = browser(live_server.url)
    vendor = approved_vendor(vendor_http, ctx)
    secrets.append(vendor["client_secret"])
    verifier, challenge = pkce_pair()
    params = authorize_params(vendor["client_id"], challenge, state="state-secret-1234567890")
    code = approve_consent(consumer, params)["code"][0]
    tokens = exchange(vendor_http, vendor, code, verifier).json()
    secrets += [code, verifier, tokens["access_token"], tokens["refresh_token"]]
    refreshed = vendor_http.post(
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=basic(vendor),
    ).json()  # fmt: skip
    secrets += [refreshed["access_token"], refreshed["refresh_token"]]
    vendor_http.post(  # replay: the family is revoked, and the replayed token is still not logged
        "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=basic(vendor),
    )  # fmt: skip
    vendor_http.post("/oauth/introspect", data={"token": "t"}, auth=(vendor["client_id"], "guessed-secret-123"))
    secrets.append("guessed-secret-123")
    r = vendor_http.post("/v1/webhooks", json={"url": "https://hooks.invalid/x", "events": ["grant.created"]},
                         auth=basic(vendor))  # fmt: skip
    if r.status_code == 201:
        secrets.append(r.json()["secret"])

    ext = browser(live_server.url)
    started = _start(ext)
    secrets += [started["device_code"], started["user_code"]]
    _poll(ext, started["device_code"])
    _approve(consumer, started["user_code"])
    time.sleep(started["interval"] + 0.5)
    device = _poll(ext, started["device_code"])
    assert device.status_code == 200, device.text
    secrets += [device.json()["access_token"], device.json()["refresh_token"]]

    for http in (consumer, vendor_http, ext):
        http.close()
    lines = captured.getvalue()
    assert '"path": "/oauth/token"' in lines and "/v1/sessions" in lines, "the scan reads real access-log lines"
    leaked = [s[:12] + "…" for s in secrets if s and s in lines]
    assert not leaked, f"secrets in the logs: {leaked}"
