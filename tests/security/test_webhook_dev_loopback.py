"""SSRF with the development setting on: ``VAULT_ALLOW_PRIVATE_WEBHOOKS`` admits exactly loopback (127.0.0.0/8, ::1,
names resolving only to loopback), plain http only to loopback, and nothing else: never the cloud metadata address
or other link-local addresses, never private ranges, never loopback wrapped in IPv6, never a metadata host name.
It cannot be switched on for a vault whose public URL is not on loopback."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.errors import ValidationFailed
from vault_server.feed import ssrf

from ..api.test_feed_support import make_vendor
from ..unit.test_ssrf import fake_dns

REFUSED_EVEN_IN_DEVELOPMENT = [
    "http://169.254.169.254/latest/meta-data/",
    "https://169.254.169.254/latest/meta-data/",
    "https://169.254.170.2/v2/credentials",
    "https://[fe80::1]/x",
    "https://[fd00:ec2::254]/x",
    "https://100.100.100.200/x",
    "https://10.0.0.8/x",
    "http://10.0.0.8/x",
    "https://172.16.0.1/x",
    "https://192.168.1.1/x",
    "https://[fc00::1]/x",
    "https://[::ffff:127.0.0.1]/x",
    "https://[::ffff:169.254.169.254]/x",
    "https://0.0.0.0/x",
    "https://metadata.google.internal/computeMetadata/v1/",
    "http://metadata/x",
    "http://metadata-alias.test/x",  # a name resolving to the metadata address
    "http://mixed.test/x",  # loopback and private answers mixed
    "http://half-public.test/x",  # plain http to a name that is not only loopback
    "http://public.test/x",  # plain http to a public address
]

ALLOWED_IN_DEVELOPMENT = [
    "http://127.0.0.1:9/x",
    "http://127.5.5.5:8080/x",
    "http://[::1]:9/x",
    "http://loopback.test:9/x",  # a name resolving only to loopback
    "https://127.0.0.1/x",
    "https://public.test/x",
]

DNS = {
    "metadata-alias.test": ["169.254.169.254"],
    "mixed.test": ["127.0.0.1", "10.0.0.8"],
    "half-public.test": ["127.0.0.1", "93.184.216.34"],
    "public.test": ["93.184.216.34"],
    "loopback.test": ["127.0.0.1", "::1"],
}


@pytest.mark.parametrize("url", REFUSED_EVEN_IN_DEVELOPMENT)
def test_the_development_setting_admits_nothing_but_loopback(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    fake_dns(monkeypatch, DNS)
    with pytest.raises(ValidationFailed):
        ssrf.resolve(url, allow_private=True)


@pytest.mark.parametrize("url", ALLOWED_IN_DEVELOPMENT)
def test_the_development_setting_admits_loopback(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    fake_dns(monkeypatch, DNS)
    target = ssrf.resolve(url, allow_private=True)
    assert ssrf.is_loopback(target.address) or ssrf.blocked_reason(target.address) is None


@pytest.mark.parametrize("url", ALLOWED_IN_DEVELOPMENT[:4])
def test_without_the_setting_loopback_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    fake_dns(monkeypatch, DNS)
    with pytest.raises(ValidationFailed):
        ssrf.resolve(url)


def test_the_api_refuses_the_metadata_address_with_the_setting_on(
    client: TestClient, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.settings, "allow_private_webhooks", True)
    vendor, secret = make_vendor(ctx)
    for url in ("http://169.254.169.254/latest/meta-data/", "https://10.1.2.3/h", "http://[fe80::1]/h"):
        r = client.post("/v1/webhooks", json={"url": url, "events": ["grant.created"]}, auth=(vendor, secret))
        assert r.status_code == 422, (url, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = client.post(
        "/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "events": ["grant.created"]}, auth=(vendor, secret)
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("base_url", ["https://vault.example.com", "http://10.0.0.5:8000", "http://vault.lan"])
def test_the_setting_is_refused_outside_development(base_url: str, tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="VAULT_ALLOW_PRIVATE_WEBHOOKS"):
        Settings(base_url=base_url, allow_private_webhooks=True)
    assert Settings(base_url="http://localhost:8000", allow_private_webhooks=True).allow_private_webhooks
    assert ipaddress.ip_address("127.0.0.1") in ssrf.LOOPBACK_V4
