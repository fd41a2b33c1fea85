"""The vault's runtime context: settings, database, keyring, password hasher and signing keys.

One object built by ``build_context(settings)`` and passed down (to ``create_app`` and CLI commands);
no module-level state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from argon2 import PasswordHasher

from vault_server.audit.heads import HeadWitness
from vault_server.config import Settings
from vault_server.crypto.keyring import KeyRing, KeyRingError
from vault_server.crypto.sealed import install_sealer
from vault_server.crypto.signing import KeySet, KeySetSource
from vault_server.db import Database
from vault_server.policy.loader import Policy, default_policy_dir, load_policy
from vault_server.signals.hooks import SignalHooks


def load_keyring(settings: Settings) -> KeyRing:
    """The KEK ring from ``VAULT_KEK`` when set, else from ``VAULT_KEK_FILE``."""
    if settings.kek is not None:
        return KeyRing.from_env_key(settings.kek.get_secret_value())
    if settings.kek_file is None:
        raise KeyRingError("no key configured: set VAULT_KEK_FILE (run `intent-vault init`) or VAULT_KEK")
    return KeyRing.load(settings.kek_file)


def make_hasher(settings: Settings) -> PasswordHasher:
    """argon2id with the configured cost (RFC 9106 second recommended option by default)."""
    return PasswordHasher(time_cost=settings.argon2_time_cost, memory_cost=settings.argon2_memory_kib, parallelism=1)


@dataclass
class VaultContext:
    settings: Settings
    db: Database
    ring: KeyRing
    hasher: PasswordHasher
    policy: Policy
    keys: KeySetSource = field(init=False, repr=False)
    audit_witness: HeadWitness = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.keys = KeySetSource(self.db, self.ring)
        self.audit_witness = HeadWitness(self.settings.audit_witness_file)

    signal_hooks: SignalHooks = field(default_factory=SignalHooks, repr=False)

    @property
    def keyset(self) -> KeySet:
        """The signing key set (creating the first key if there is none), re-read from the database every few
        seconds so a rotation made elsewhere is published here at once and signs here when it activates."""
        return self.keys.current()

    def reload_keyset(self) -> None:
        """Re-read the signing keys now (after a rotation made by this process)."""
        self.keys.current(force=True)


def build_context(settings: Settings, *, db: Database | None = None, policy: Policy | None = None) -> VaultContext:
    """Everything a request or command needs; raises ConfigError/KeyRingError/PolicyError on bad setup."""
    db = db or Database(settings)
    ring = load_keyring(settings)
    install_sealer(db.engine, ring)
    return VaultContext(
        settings=settings,
        db=db,
        ring=ring,
        hasher=make_hasher(settings),
        policy=policy or load_policy(default_policy_dir(settings.policy_dir)),
    )
