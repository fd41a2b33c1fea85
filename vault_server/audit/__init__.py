"""Append-only, tamper-evident audit log (RFC 9162 Merkle tree, signed tree heads).

``merkle`` is the storage-independent tree; ``verifier`` is the standalone offline verifier and the
signed-tree-head encoding both sides share. See docs/AUDIT.md.
"""
