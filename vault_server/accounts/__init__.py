"""Accounts: consumers, auditors and admins; argon2id passwords, server-side sessions, CSRF, API tokens."""
