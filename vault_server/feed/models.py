"""Tables of the feed room: the vendor change log, webhook endpoints and their outbox, intentcasts and offers,
Just-Ask questions and the consumer's per-vendor preferences.

Nothing here holds a consumer's intent in the clear: the change log carries only pseudonymous subjects and
grant ids (signal values are evaluated at read time), intentcasts, offers and answers are AES-GCM ciphertext
under the consumer's data key, and webhook payloads are built at delivery time from references.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Column, FetchedValue, Index, Integer, LargeBinary, Table, text
from sqlmodel import Field, SQLModel

from vault_server.db import UTCDateTime, utcnow

SEQ_TYPE = BigInteger().with_variant(Integer(), "sqlite")


class FeedChange(SQLModel, table=True):
    """One change a vendor should learn about, written in the same transaction as the change itself.

    ``seq`` is the insert order; ``pos`` is the read order. On SQLite writers are serialised, so commit order
    equals ``seq`` and ``pos`` is unused. On PostgreSQL concurrent transactions can commit out of ``seq`` order,
    so committed rows are *stamped* with ``pos`` from a sequence in serialised rounds; a reader that has seen
    ``pos = n`` never later meets a row with a smaller ``pos`` (see service.stamp). ``xid`` records the writing
    transaction (PostgreSQL, for diagnostics).
    """

    __tablename__ = "feed_change"
    __table_args__ = (
        Index("ix_feed_change_vendor_pos", "vendor_id", "pos"),
        Index("ix_feed_change_vendor_seq", "vendor_id", "seq"),
        Index("ix_feed_change_unstamped", "seq", postgresql_where=text("pos IS NULL")),
    )

    seq: int | None = Field(default=None, sa_column=Column(SEQ_TYPE, primary_key=True, autoincrement=True))
    pos: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    xid: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    vendor_id: str = Field(max_length=64)
    subject: str = Field(max_length=64)
    grant_id: str = Field(max_length=36)
    kind: str = Field(max_length=32)
    ref_id: str | None = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookEndpoint(SQLModel, table=True):
    """A vendor's HTTPS endpoint and the event types it wants; the ``whsec_`` secret is stored encrypted."""

    __tablename__ = "webhook_endpoint"

    id: str = Field(primary_key=True, max_length=36)
    vendor_id: str = Field(foreign_key="vendor_app.id", max_length=64, index=True, ondelete="CASCADE")
    url: str = Field(max_length=1000)
    events: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    secret_enc: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    description: str = Field(default="", max_length=200)
    enabled: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class WebhookDelivery(SQLModel, table=True):
    """The transactional outbox: one message for one endpoint, inserted with the change it announces.

    ``id`` is the Standard Webhooks ``webhook-id`` (stable across retries). The payload is built from the
    references when it is sent, never stored. States: pending -> delivered | dead (after ``max_attempts``);
    ``leased_until`` lets a crashed worker's claim expire. ``seq`` is the enqueue order, given by the database
    (migration 0402: a sequence on PostgreSQL, a trigger on SQLite): messages of one (endpoint, subject) are sent in
    ``seq`` order, one at a time (outbox.claim).
    """

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index(
            "ix_webhook_delivery_pending_order",
            "endpoint_id",
            "subject",
            "seq",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True, server_default=FetchedValue()))
    endpoint_id: str = Field(foreign_key="webhook_endpoint.id", max_length=36, index=True, ondelete="CASCADE")
    vendor_id: str = Field(max_length=64, index=True)
    event_type: str = Field(max_length=32)
    subject: str | None = Field(default=None, max_length=64)
    grant_id: str | None = Field(default=None, max_length=36)
    ref_id: str | None = Field(default=None, max_length=64)
    status: str = Field(default="pending", max_length=16)
    attempts: int = Field(default=0)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    leased_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_status: int | None = Field(default=None)
    last_error: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    delivered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class VendorCastCategory(SQLModel, table=True):
    """A category a vendor serves: anonymous intentcasts in (or below) it reach the vendor."""

    __tablename__ = "vendor_cast_category"

    vendor_id: str = Field(foreign_key="vendor_app.id", primary_key=True, max_length=64, ondelete="CASCADE")
    category: str = Field(primary_key=True, max_length=200)


class Intentcast(SQLModel, table=True):
    """A declared intent the consumer cast to vendors; its content is encrypted with the consumer's key."""

    __tablename__ = "intentcast"

    id: str = Field(primary_key=True, max_length=36)
    account_id: str = Field(foreign_key="account.id", max_length=36, index=True, ondelete="CASCADE")
    intent_id: str | None = Field(default=None, max_length=36)
    anonymous: bool = Field(default=False)
    status: str = Field(default="open", max_length=16)  # open | closed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class CastRecipient(SQLModel, table=True):
    """Who received a cast, and under which name: the pairwise subject, or a per-cast handle when anonymous."""

    __tablename__ = "intentcast_recipient"
    __table_args__ = (Index("ix_cast_recipient_vendor", "vendor_id", "created_at"),)

    cast_id: str = Field(foreign_key="intentcast.id", primary_key=True, max_length=36, ondelete="CASCADE")
    vendor_id: str = Field(foreign_key="vendor_app.id", primary_key=True, max_length=64, ondelete="CASCADE")
    handle: str = Field(max_length=64)
    grant_id: str | None = Field(default=None, max_length=36)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: when the vendor was told (feed + webhook); anonymous casts wait for the next batch (feed/release.py)
    released_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class FeedDigest(SQLModel, table=True):
    """A grant whose consumer agreed to ``daily`` or ``weekly`` updates: signal changes mark it due, and the release
    job announces one ``signal.updated`` per period at most (feed/release.py)."""

    __tablename__ = "feed_digest"
    __table_args__ = (Index("ix_feed_digest_due", "due_at"),)

    grant_id: str = Field(foreign_key="consent_grant.id", primary_key=True, max_length=36, ondelete="CASCADE")
    vendor_id: str = Field(max_length=64)
    subject: str = Field(max_length=64)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    last_sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class Offer(SQLModel, table=True):
    """A vendor's structured answer to a cast; the body is encrypted with the consumer's key."""

    __tablename__ = "offer"
    __table_args__ = (Index("ix_offer_account_status", "account_id", "status"),)

    id: str = Field(primary_key=True, max_length=36)
    cast_id: str = Field(foreign_key="intentcast.id", max_length=36, index=True, ondelete="CASCADE")
    vendor_id: str = Field(foreign_key="vendor_app.id", max_length=64, index=True, ondelete="CASCADE")
    account_id: str = Field(foreign_key="account.id", max_length=36, ondelete="CASCADE")
    status: str = Field(default="pending", max_length=16)  # pending | accepted | declined | expired
    identity_revealed: bool = Field(default=False)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    payload: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Question(SQLModel, table=True):
    """A vendor's Just-Ask question (its own words, not consumer data)."""

    __tablename__ = "question"
    __table_args__ = (Index("ix_question_vendor_created", "vendor_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=36)
    vendor_id: str = Field(foreign_key="vendor_app.id", max_length=64, ondelete="CASCADE")
    kind: str = Field(max_length=16)  # choice | text
    prompt: str = Field(max_length=500)
    choices: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    closes_at: datetime = Field(sa_type=UTCDateTime)


class QuestionDelivery(SQLModel, table=True):
    """One consumer's copy of a question; the answer is encrypted with the consumer's key."""

    __tablename__ = "question_delivery"
    __table_args__ = (Index("ix_question_delivery_account", "account_id", "status", "created_at"),)

    id: str = Field(primary_key=True, max_length=36)
    question_id: str = Field(foreign_key="question.id", max_length=36, index=True, ondelete="CASCADE")
    account_id: str = Field(foreign_key="account.id", max_length=36, ondelete="CASCADE")
    grant_id: str = Field(max_length=36)
    subject: str = Field(max_length=64)
    status: str = Field(default="pending", max_length=16)  # pending | answered | ignored
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answer_enc: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))


class VendorPreference(SQLModel, table=True):
    """The consumer's per-vendor switches: block the vendor entirely, or just its questions."""

    __tablename__ = "vendor_preference"

    account_id: str = Field(foreign_key="account.id", primary_key=True, max_length=36, ondelete="CASCADE")
    vendor_id: str = Field(foreign_key="vendor_app.id", primary_key=True, max_length=64, ondelete="CASCADE")
    blocked: bool = Field(default=False)
    questions_off: bool = Field(default=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


FEED_CHANGE_TABLE: Table = FeedChange.__table__  # type: ignore[attr-defined]
ENDPOINT_TABLE: Table = WebhookEndpoint.__table__  # type: ignore[attr-defined]
DELIVERY_TABLE: Table = WebhookDelivery.__table__  # type: ignore[attr-defined]
