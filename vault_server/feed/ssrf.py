"""SSRF guard for webhook URLs: only public unicast addresses, checked after DNS resolution, and the connection is
pinned to the address that was checked (so a DNS answer that changes between check and connect cannot point the
request at loopback, a private network, link-local or a cloud metadata service).

``allow_private`` (``VAULT_ALLOW_PRIVATE_WEBHOOKS``, for development and tests on one machine) admits exactly
loopback besides public addresses: 127.0.0.0/8 and ::1, and names that resolve only to those; plain ``http`` only
to such a loopback destination. Never link-local (169.254.169.254 and the other metadata services), never the
private ranges, never an IPv4 address wrapped in IPv6, never a metadata host name.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from vault_server.errors import ValidationFailed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: metadata services that are not already link-local/private (kept explicit so the intent is visible)
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IPv6
        ipaddress.ip_address("192.0.0.192"),  # Oracle Cloud
    }
)
METADATA_HOSTS = frozenset({"metadata", "metadata.google.internal", "instance-data", "instance-data.ec2.internal"})


class BlockedDestination(ValidationFailed):
    slug = "webhook-destination-blocked"
    title = "The webhook URL points at a destination the vault refuses to call"


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to ``address``, but speak to ``host`` (Host header, TLS SNI, cert)."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress

    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        parts = urlsplit(self.url)
        ip = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        netloc = f"{ip}:{self.port}"
        return SplitResult(parts.scheme, netloc, parts.path or "/", parts.query, "").geturl()

    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def blocked_reason(address: IPAddress) -> str | None:
    """Why an address is refused, or None when it is a public unicast address."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            inner = blocked_reason(mapped)
            return f"{inner} (inside an IPv6 address)" if inner else None
        if address.teredo is not None:
            return "a Teredo tunnel address"
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_unspecified or address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None


LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
LOOPBACK_V6 = ipaddress.ip_address("::1")


def is_loopback(address: IPAddress) -> bool:
    """Exactly 127.0.0.0/8 and ::1 (not ``::ffff:127.0.0.1`` nor other wrappings: those are refused outright)."""
    return address == LOOPBACK_V6 if address.version == 6 else address in LOOPBACK_V4


def check_url(url: str, *, allow_private: bool = False) -> SplitResult:
    """Syntax rules: absolute https URL (http only when loopback targets are allowed; ``resolve`` then insists the
    host is loopback), no user info, no fragment, no metadata host name."""
    if len(url) > 1000:
        raise ValidationFailed("the webhook URL is longer than 1000 characters")
    try:
        parts = urlsplit(url)
        _ = parts.port
    except ValueError:
        raise ValidationFailed("the webhook URL is not a valid URL") from None
    allowed = {"https", "http"} if allow_private else {"https"}
    if parts.scheme not in allowed:
        raise ValidationFailed("webhook URLs must use https")
    if not parts.hostname:
        raise ValidationFailed("the webhook URL has no host")
    if parts.username or parts.password:
        raise ValidationFailed("webhook URLs must not carry user names or passwords")
    if parts.fragment:
        raise ValidationFailed("webhook URLs must not have a fragment")
    if parts.hostname.lower().rstrip(".") in METADATA_HOSTS:
        raise BlockedDestination(f"{parts.hostname} is a cloud metadata host")
    return parts


def resolve(url: str, *, allow_private: bool = False) -> Target:
    """Check the URL, resolve its host and return the pinned target. Every resolved address must be public (or
    loopback, with ``allow_private``): one private answer among public ones is refused too (rebinding tricks mix
    them). Plain http needs ``allow_private`` and a host whose every address is loopback."""
    parts = check_url(url, allow_private=allow_private)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise BlockedDestination(f"the webhook host {host} does not resolve") from None
        addresses = []
        for info in infos:
            addr = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if addr not in addresses:
                addresses.append(addr)
        if not addresses:
            raise BlockedDestination(f"the webhook host {host} does not resolve")
    for addr in addresses:
        if allow_private and is_loopback(addr):
            continue
        why = blocked_reason(addr)
        if why is not None:
            raise BlockedDestination(f"the webhook host {host} resolves to {why}; webhooks go to public addresses")
    if parts.scheme != "https" and not all(is_loopback(addr) for addr in addresses):
        raise ValidationFailed("webhook URLs must use https (plain http only to loopback in development)")
    return Target(url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0])
