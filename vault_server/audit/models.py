"""Tables owned by the audit room: the log head, entries, Merkle nodes and signed tree heads.

``audit_entry.entry`` holds the exact canonical JSON bytes that were hashed into the leaf (RFC 9162 leaf data);
``audit_node`` holds the perfect-subtree hashes (level 0 = leaf hashes); ``audit_head`` is the single row that
serialises appends and carries the current tree size and root. Every table is insert-only except ``audit_head``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, String, Text
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow

HEAD_ID = 1


class AuditHead(SQLModel, table=True):
    """The one row every append locks: current tree size and root hash, and the tree's frontier (8-byte tree size,
    then the perfect subtrees' roots, largest first) that the next append starts from (NULL: read the nodes)."""

    __tablename__ = "audit_head"

    id: int = Field(default=HEAD_ID, sa_column=Column(Integer, primary_key=True, autoincrement=False))
    tree_size: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    root_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    frontier: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class AuditEntry(SQLModel, table=True):
    """One log entry. ``entry`` is the hashed canonical JSON; the other columns are copies for filtering.

    ``private_enc`` is the encrypted private part (consumer's DEK, AAD bound to this index); the entry commits to
    it by digest (``private_sha256`` inside ``entry``), so the log still verifies after the key is shredded.
    """

    __tablename__ = "audit_entry"
    __table_args__ = (
        Index("ix_audit_entry_kind_idx", "kind", "idx"),
        Index("ix_audit_entry_subject_idx", "subject", "idx"),
        Index("ix_audit_entry_vendor_idx", "vendor_id", "idx"),
    )

    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at_ms: int = Field(sa_column=Column(BigInteger, nullable=False))
    ts: datetime = Field(sa_type=UTCDateTime)
    kind: str = Field(sa_column=Column(String(64), nullable=False))
    actor: str = Field(sa_column=Column(String(128), nullable=False))
    subject: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    vendor_id: str | None = Field(default=None, sa_column=Column(String(64), nullable=True))
    entry: str = Field(sa_column=Column(Text, nullable=False))
    private_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class AuditNode(SQLModel, table=True):
    """A perfect-subtree hash: level 0 = leaf hash of entry ``idx``; level k covers ``[idx*2^k, (idx+1)*2^k)``."""

    __tablename__ = "audit_node"

    level: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditSth(SQLModel, table=True):
    """A signed tree head, exactly the ``sth.json`` fields the offline verifier reads."""

    __tablename__ = "audit_sth"
    __table_args__ = (Index("ix_audit_sth_tree_size", "tree_size"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root_hash: str = Field(sa_column=Column(String(64), nullable=False))
    timestamp: int = Field(sa_column=Column(BigInteger, nullable=False))
    kid: str = Field(sa_column=Column(String(64), nullable=False))
    signature: str = Field(sa_column=Column(Text, nullable=False))
