"""Envelope encryption, blind indexes and signing keys.

KEK (keyring file or env) -> per-consumer DEK (wrapped, stored) -> AES-256-GCM ciphertexts whose AAD binds
table, row and consumer. Deleting a consumer's wrapped DEK makes all their ciphertexts unreadable.
"""

from vault_server.crypto.envelope import ConsumerCipher, DecryptionError, aad_for
from vault_server.crypto.keyring import KeyRing, KeyRingError

__all__ = ["ConsumerCipher", "DecryptionError", "KeyRing", "KeyRingError", "aad_for"]
