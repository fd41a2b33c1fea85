"""Encrypted backups of the whole vault (``intent-vault backup`` / ``intent-vault restore``)."""
