"""Vendor app registration bodies: the portal's JSON/form input and RFC 7591 client metadata."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_REDIRECT_URIS = 10


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_redirect_uri(uri: str) -> str:
    """A registrable redirect URI: absolute https (or http on loopback, RFC 8252 §7.3), no fragment, no
    wildcard, no credentials. Matching later is an exact string comparison."""
    if len(uri) > 1000 or any(ch.isspace() for ch in uri) or "*" in uri:
        raise ValueError(f"redirect URI {uri!r} must be one absolute URL without spaces or wildcards")
    parts = urlsplit(uri)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueError(f"redirect URI {uri!r} must be an absolute https URL")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise ValueError(f"redirect URI {uri!r}: plain http is only allowed on loopback (127.0.0.1, localhost)")
    if parts.fragment or "#" in uri:
        raise ValueError(f"redirect URI {uri!r} must not have a fragment (RFC 6749 §3.1.2)")
    if parts.username or parts.password:
        raise ValueError(f"redirect URI {uri!r} must not carry credentials")
    return uri


def check_web_url(value: str) -> str:
    if not value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in {"https", "http"} or not parts.hostname or len(value) > 500:
        raise ValueError(f"{value!r} must be an absolute http(s) URL")
    return value


class AppRegistration(BaseModel):
    """What a vendor says about its app (portal)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    homepage: str = Field(default="", max_length=500)
    logo_uri: str = Field(default="", max_length=500)
    policy_uri: str = Field(default="", max_length=500)
    redirect_uris: list[str] = Field(min_length=1, max_length=MAX_REDIRECT_URIS)
    contacts: list[str] = Field(default_factory=list, max_length=5)
    token_endpoint_auth_method: str = Field(default="client_secret_basic")
    jwks: dict[str, Any] | None = None
    jwks_uri: str = Field(
        default="", max_length=500, description="where to fetch the app's public keys (not with jwks)"
    )
    scope: str = Field(default="", max_length=500)
    accepted_agreements: list[str] = Field(
        default_factory=list, max_length=20, description="IEEE 7012 roster agreements the app accepts, preferred first"
    )

    @field_validator("redirect_uris")
    @classmethod
    def _redirects(cls, value: list[str]) -> list[str]:
        return [check_redirect_uri(u) for u in value]

    @field_validator("homepage", "logo_uri", "policy_uri", "jwks_uri")
    @classmethod
    def _urls(cls, value: str) -> str:
        return check_web_url(value)

    @field_validator("token_endpoint_auth_method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value not in {"client_secret_basic", "private_key_jwt"}:
            raise ValueError("token_endpoint_auth_method must be client_secret_basic or private_key_jwt")
        return value


class AppOut(BaseModel):
    client_id: str
    name: str
    homepage: str
    logo_uri: str
    policy_uri: str
    redirect_uris: list[str]
    contacts: list[str]
    token_endpoint_auth_method: str
    status: str
    client_secret: str | None = Field(default=None, description="shown once; store it now")
