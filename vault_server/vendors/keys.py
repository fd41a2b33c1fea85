"""A vendor app's public keys: inline ``jwks`` or fetched from its ``jwks_uri`` (RFC 7591 §2).

Keys verify the app's ``private_key_jwt`` client assertions (RFC 7523) and its countersignatures on IEEE 7012
agreement records. A ``jwks_uri`` is fetched like a webhook is delivered: through the SSRF guard (public
addresses only; loopback only with ``VAULT_ALLOW_PRIVATE_WEBHOOKS`` in development), connecting to the address
that was checked, https with the host's certificate, no redirects, at most 64 KiB, 5 seconds. A fetched set is
kept for five minutes per app and URI, so a vendor's key rotation reaches the vault within that time; a failed
fetch is never cached.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx

from vault_server.errors import ValidationFailed
from vault_server.feed import ssrf
from vault_server.vendors.models import VendorApp
from vault_server.vendors.service import check_jwks

MAX_BYTES = 64 * 1024
TIMEOUT_SECONDS = 5.0
CACHE_SECONDS = 300.0
CACHE_SIZE = 1024
USER_AGENT = "intent-vault-jwks-fetch/1"


class KeysUnavailable(ValidationFailed):
    slug = "client-keys-unavailable"
    title = "The app's public keys could not be fetched"


_cache: dict[tuple[str, str], tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def fetch_jwks(uri: str, *, allow_private: bool) -> dict[str, Any]:
    """GET the JWK Set at ``uri`` through the SSRF guard; KeysUnavailable with the reason otherwise."""
    try:
        target = ssrf.resolve(uri, allow_private=allow_private)
    except ValidationFailed as exc:
        raise KeysUnavailable(f"jwks_uri {uri}: {exc.detail}") from None
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    headers = {"host": target.host_header(), "accept": "application/jwk-set+json, application/json"}
    headers["user-agent"] = USER_AGENT
    body = b""
    try:
        with (
            httpx.Client(timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False) as http,
            http.stream("GET", target.pinned_url(), headers=headers, extensions=extensions) as response,
        ):
            if response.status_code != 200:
                raise KeysUnavailable(f"jwks_uri {uri} answered HTTP {response.status_code}")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_BYTES:
                    raise KeysUnavailable(f"jwks_uri {uri} sent more than {MAX_BYTES // 1024} KiB")
    except httpx.HTTPError as exc:
        raise KeysUnavailable(f"jwks_uri {uri} could not be fetched: {type(exc).__name__}") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise KeysUnavailable(f"jwks_uri {uri} did not send JSON") from None
    try:
        return check_jwks(document)
    except ValidationFailed as exc:
        raise KeysUnavailable(f"jwks_uri {uri}: {exc.detail}") from None


def public_keys(app: VendorApp, *, allow_private: bool) -> dict[str, Any] | None:
    """The app's JWK Set: inline, or from its ``jwks_uri`` (cached five minutes), or None when it has neither."""
    if app.jwks:
        return app.jwks
    if not app.jwks_uri:
        return None
    key = (app.id, app.jwks_uri)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    document = fetch_jwks(app.jwks_uri, allow_private=allow_private)
    with _lock:
        if len(_cache) >= CACHE_SIZE:
            _cache.pop(next(iter(_cache)))
        _cache[key] = (now + CACHE_SECONDS, document)
    return document


def forget(app_id: str) -> None:
    """Drop the cached keys of an app (e.g. after it changed its jwks_uri)."""
    with _lock:
        for key in [k for k in _cache if k[0] == app_id]:
            _cache.pop(key, None)
