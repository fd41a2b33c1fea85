"""Intent Vault: a consumer-controlled store of shopping intent, shared only by scoped, revocable, audited grants."""

__version__ = "0.1.0"
