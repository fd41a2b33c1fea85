"""Settings: the one configuration object, read from ``VAULT_*`` environment variables and an optional ``.env``.

``create_app(settings)`` and every CLI command receive it explicitly; nothing reads the environment elsewhere.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATA_DIR = Path("var")


class Settings(BaseSettings):
    """Every knob of a vault deployment. Defaults give an embedded single-user vault on SQLite."""

    model_config = SettingsConfigDict(env_prefix="VAULT_", env_file=".env", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_DATA_DIR / 'vault.db'}",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    database_read_url: str | None = Field(
        default=None,
        description="PostgreSQL read replica (a hot standby of the primary, same schema) that serves feed reads; "
        "default: everything on the primary",
    )
    database_schema: str | None = Field(
        default=None, description="PostgreSQL schema to use (search_path); tests give each run its own"
    )
    database_lock_timeout_ms: int = Field(
        default=10_000,
        ge=0,
        description="PostgreSQL lock_timeout of the vault's connections: a statement that waits longer for a row or "
        "table lock fails (the API answers 503 with Retry-After) instead of piling up behind it; 0 = the server's "
        "or role's setting",
    )
    database_idle_in_transaction_timeout_ms: int = Field(
        default=60_000,
        ge=0,
        description="PostgreSQL idle_in_transaction_session_timeout: the server ends a session that sits this long "
        "inside an open transaction (a stuck or partitioned client), releasing its locks; 0 = the server's setting",
    )
    database_statement_timeout_ms: int = Field(
        default=0,
        ge=0,
        description="PostgreSQL statement_timeout of the vault's connections; 0 (default) = none, because backups, "
        "restores, migrations and audit checks share these settings (set it for API servers, e.g. 30000)",
    )
    kek_file: Path | None = Field(
        default=DEFAULT_DATA_DIR / "kek.json", description="key-encryption keyring file (mode 0600)"
    )
    kek: SecretStr | None = Field(default=None, description="base64url 256-bit KEK; overrides kek_file when set")
    base_url: str = Field(default="http://127.0.0.1:8000", description="public URL of the vault")
    jurisdiction: str = Field(
        default="EU",
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description="where consent is given, as a DPV location code (ISO 3166: EU, DE, US-CA...); consent receipts "
        "name it as dpv:hasJurisdiction",
    )
    cookie_secure: bool | None = Field(
        default=None, description="force the Secure cookie flag; default: on unless base_url is http on loopback"
    )
    session_ttl_seconds: int = Field(default=12 * 3600, ge=60)
    max_body_bytes: int = Field(default=262_144, ge=1024, description="request bodies above this get 413")
    sqlite_synchronous: Literal["full", "normal"] = Field(
        default="full",
        description="SQLite's synchronous pragma: 'full' (default) syncs the write-ahead log at every commit, so an "
        "acknowledged write survives a power cut; 'normal' syncs only at checkpoints: faster writes, but a power cut "
        "or OS crash may lose the last acknowledged ones (a process crash loses nothing either way)",
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="login tries per account from one client address per window before 429"
    )
    login_account_max_failures: int = Field(
        default=50,
        ge=1,
        description="failed login tries per account from all addresses together per window (distributed guessing); "
        "an attacker reaching it locks the account for the rest of the window",
    )
    login_address_max_failures: int = Field(
        default=30, ge=1, description="failed login tries from one client address, all accounts together, per window"
    )
    login_window_seconds: int = Field(default=900, ge=1)
    oauth_max_failures: int = Field(
        default=20, ge=1, description="failed client authentications or grants per address and window before 429"
    )
    oauth_window_seconds: int = Field(default=300, ge=1)
    api_rate_per_minute: int = Field(default=600, ge=1, description="requests per token per minute")
    policy_dir: Path | None = Field(default=None, description="policy directory; default: the bundled policies/")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    allow_private_webhooks: bool = Field(
        default=False,
        description="development and tests only: webhooks may also target loopback (127.0.0.0/8, ::1, names resolving "
        "only to those), over plain http too; never link-local/metadata or private ranges. Refused unless base_url "
        "is on loopback",
    )
    audit_sth_interval_seconds: int = Field(
        default=300, ge=1, description="sign a new audit tree head when the log grew and this much time passed"
    )
    audit_witness_file: Path | None = Field(
        default=None,
        description="file (outside the database) remembering the newest signed audit tree head, so the vault never "
        "signs a forked log even after the stored heads were deleted",
    )
    maintenance_interval_seconds: int = Field(
        default=600, ge=0, description="recompute stale signals and expire old gestures this often (0: off)"
    )
    reports_epsilon_per_period: float = Field(
        default=1.0, gt=0, le=10, description="privacy budget (epsilon) per person per calendar month, all reports"
    )
    reports_default_epsilon: float = Field(default=0.5, gt=0, le=10, description="epsilon of one report by default")
    reports_min_epsilon: float = Field(default=0.05, gt=0, description="smallest epsilon a vendor may ask for")
    reports_max_cells: int = Field(default=3, ge=1, le=20, description="cells one person may add to per report")
    reports_threshold: int = Field(default=20, ge=0, description="noisy counts below this are not released")
    reports_per_vendor_per_period: int = Field(
        default=4, ge=1, description="new (budget-spending) reports one vendor app may ask for per month"
    )
    reports_currencies: list[str] = Field(
        default=["EUR", "USD", "GBP"], description="currencies whose price bands a report may split by"
    )
    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65_536, ge=8)

    @field_validator("base_url")
    @classmethod
    def _base_url_is_http(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("base_url must be an absolute http(s) URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _loopback_webhooks_only_in_development(self) -> Settings:
        if self.allow_private_webhooks and not _is_loopback_host(urlsplit(self.base_url).hostname or ""):
            raise ValueError(
                "VAULT_ALLOW_PRIVATE_WEBHOOKS is for development on one machine: it needs VAULT_BASE_URL on loopback"
            )
        return self

    @property
    def secure_cookies(self) -> bool:
        """Secure flag on cookies: on, except for plain http on a loopback address (local demo)."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        parts = urlsplit(self.base_url)
        if parts.scheme == "https":
            return True
        return not _is_loopback_host(parts.hostname or "")

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def _is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback address literal."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
