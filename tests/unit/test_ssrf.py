"""SSRF guard for webhook URLs: refused address classes, checks after DNS resolution (every answer), URL rules,
and connection pinning to the checked address (a real request through a fake DNS name)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from vault_server.errors import ValidationFailed
from vault_server.feed import ssrf, webhooks

from ..api.test_feed_support import receiver

BLOCKED = [
    "127.0.0.1",
    "127.5.5.5",
    "10.1.2.3",
    "172.16.0.1",
    "172.31.255.255",
    "192.168.1.1",
    "169.254.169.254",
    "169.254.170.2",
    "100.100.100.200",
    "100.64.0.1",
    "0.0.0.0",
    "224.0.0.1",
    "255.255.255.255",
    "192.0.0.192",
    "198.18.0.1",
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd00:ec2::254",
    "::ffff:127.0.0.1",
    "::ffff:169.254.169.254",
    "2002:7f00:1::",  # 6to4 wrapping 127.0.0.1
    "ff02::1",
]
PUBLIC = ["93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]


@pytest.mark.parametrize("address", BLOCKED)
def test_internal_addresses_are_refused(address: str) -> None:
    assert ssrf.blocked_reason(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert ssrf.blocked_reason(ipaddress.ip_address(address)) is None


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    def getaddrinfo(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        try:
            found = [str(ipaddress.ip_address(host))]  # literals resolve to themselves
        except ValueError:
            if host not in answers or not answers[host]:
                raise socket.gaierror(socket.EAI_NONAME, "unknown") from None
            found = answers[host]
        out = []
        for a in found:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            out.append((fam, socket.SOCK_STREAM, 6, "", (a, int(port or 0))))
        return out

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize(
    "answers",
    [["127.0.0.1"], ["10.0.0.5"], ["169.254.169.254"], ["93.184.216.34", "192.168.0.10"], ["::1"], ["fd00::5"]],
)
def test_names_are_checked_after_resolution_and_any_bad_answer_refuses(
    monkeypatch: pytest.MonkeyPatch, answers: list[str]
) -> None:
    fake_dns(monkeypatch, {"hooks.vendor.example": answers})
    with pytest.raises(ssrf.BlockedDestination):
        ssrf.resolve("https://hooks.vendor.example/in")


def test_a_public_name_is_pinned_to_its_checked_address(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"hooks.vendor.example": ["93.184.216.34"]})
    target = ssrf.resolve("https://hooks.vendor.example:8443/in?x=1")
    assert target.pinned_url() == "https://93.184.216.34:8443/in?x=1"
    assert target.host_header() == "hooks.vendor.example:8443" and target.host == "hooks.vendor.example"
    fake_dns(monkeypatch, {"v6.vendor.example": ["2606:4700:4700::1111"]})
    assert ssrf.resolve("https://v6.vendor.example/").pinned_url() == "https://[2606:4700:4700::1111]:443/"


@pytest.mark.parametrize(
    "url",
    [
        "http://hooks.vendor.example/in",  # plain http
        "ftp://hooks.vendor.example/in",
        "https://user:pw@hooks.vendor.example/in",
        "https://hooks.vendor.example/in#frag",
        "https:///nohost",
        "https://metadata.google.internal/computeMetadata/v1/",
        "https://hooks.vendor.example:99999/",
        "https://unresolvable.invalid/",
        "https://" + "a" * 1000 + ".example/",
    ],
)
def test_bad_urls_are_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    fake_dns(monkeypatch, {"hooks.vendor.example": ["93.184.216.34"]})
    with pytest.raises(ValidationFailed):
        ssrf.resolve(url)


def test_the_test_setting_allows_loopback_and_http_only() -> None:
    assert ssrf.resolve("http://127.0.0.1:9/x", allow_private=True).address == ipaddress.ip_address("127.0.0.1")
    with pytest.raises(ValidationFailed):
        ssrf.resolve("ftp://127.0.0.1/x", allow_private=True)
    with pytest.raises(ValidationFailed):
        ssrf.resolve("http://u:p@127.0.0.1/x", allow_private=True)


def test_the_request_goes_to_the_checked_address_not_a_fresh_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    """``hooks.test`` exists only in our fake DNS: the request can only arrive if it was pinned to the checked
    address, and the receiver still sees the vendor's host name."""
    with receiver() as rx:
        port = rx.server.server_address[1]
        lookups: list[str] = []
        real = socket.getaddrinfo

        def rebinding(host: str, *args: Any, **kwargs: Any) -> Any:
            lookups.append(host)
            if host == "hooks.test":
                if lookups.count(host) > 1:  # a second lookup would get a different (dead) answer
                    raise socket.gaierror(socket.EAI_NONAME, "rebound")
                return real("127.0.0.1", *args, **kwargs)
            return real(host, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        prepared = webhooks.Prepared(
            message_id="msg_pin", url=f"http://hooks.test:{port}/hook", secret=webhooks.new_secret(), body=b"{}"
        )
        outcome = webhooks.send(prepared, allow_private=True)
        assert lookups.count("hooks.test") == 1
        assert outcome.ok, outcome
        [req] = rx.requests
        assert {k.lower(): v for k, v in req["headers"].items()}["host"] == f"hooks.test:{port}"
        assert webhooks.verify(prepared.secret, req["headers"], req["body"])
        # without the test setting the same name is refused before any connection
        fake_dns(monkeypatch, {"hooks.test": ["127.0.0.1"]})
        refused = webhooks.send(prepared, allow_private=False)
        assert not refused.ok and refused.error is not None and refused.error.startswith("refused:")
        assert len(rx.requests) == 1
