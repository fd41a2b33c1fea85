"""The vendor feed: a change log written with each change, read in pages behind opaque signed cursors.

Writers call :func:`emit` (or the hooks :func:`on_signal_changed` and the grant listeners in :mod:`.hooks`) inside
their own transaction, so a change and its feed row (and its webhook outbox rows) commit or vanish together.

Readers call :func:`read_page`. Signal values are never stored in the log: each page evaluates the subject's
signals at read time with ``signals_for`` and narrows them to the grant as it is *now* (categories, min stage,
fields), so narrowing or revoking acts on the very next page. Every subject whose data is in a page gets its own
``vendor.read`` audit entry, appended in the same transaction before the response is sent (fail closed).

Cursor stability. ``seq`` is the insert order, but concurrent PostgreSQL transactions commit out of that order: a
reader that jumped to ``seq = 11`` would never see a ``seq = 10`` committed a moment later. So rows are read by
``pos``, which is handed out only *after* commit, in stamping rounds (:func:`stamp`): a round takes a transaction-
scoped advisory lock and numbers every row it can see without a position (all committed) from a sequence. Rounds
are serialised (a reader waits for a running round, so it sees everything committed before it asked) and each
commits its numbers at once, so positions become visible in increasing order and a row
committed after a round simply gets a larger number in the next one: a reader that has seen ``pos = n`` never later
finds a row below ``n``. Unlike a horizon on ``pg_snapshot_xmin``, nothing waits for unrelated long transactions.
On SQLite writers are serialised by the database, commit order equals ``seq``, and ``seq`` is the position.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, text
from sqlmodel import Session, col, select

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.errors import ValidationFailed
from vault_server.feed import outbox
from vault_server.feed.models import FEED_CHANGE_TABLE, FeedChange
from vault_server.grants.models import Grant
from vault_server.oauth import rar

SIGNAL_KINDS = frozenset({"signal.updated", "grant.created", "grant.narrowed"})
#: signal kinds a page folds into one item per grant; a narrowing always keeps its own item
FOLDED_KINDS = frozenset({"signal.updated", "grant.created"})
TOMBSTONE_KINDS = frozenset({"grant.revoked", "grant.expired", "subject.deleted"})
EVENT_KINDS = frozenset({"intent.declared", "offer.accepted", "question.answered"})
KINDS = SIGNAL_KINDS | TOMBSTONE_KINDS | EVENT_KINDS
#: which webhook event type a feed change announces (tombstones all go out as ``grant.revoked``)
WEBHOOK_EVENT: dict[str, str | None] = {
    "signal.updated": "signal.updated",
    "grant.narrowed": "grant.narrowed",  # announced at once on both channels (never folded away)
    "grant.created": "grant.created",
    "grant.revoked": "grant.revoked",
    "grant.expired": "grant.revoked",
    "subject.deleted": "grant.revoked",
    "intent.declared": "intent.declared",
    "offer.accepted": "offer.accepted",
    "question.answered": "question.answered",
}
DEFAULT_LIMIT = 100
MAX_LIMIT = 500
STAMP_BATCH = 20_000
STAMP_LOCK = 0x1E7F_EED0  # int4 advisory lock class of a stamping round; the object is the schema name hash
CURSOR_VERSION = 1
_EMITTED = "feed_emitted"
#: grant field -> key it produces in a shaped signal
FIELD_KEYS = {
    "stage": "stage",
    "score": "score",
    "price_band": "price_band",
    "brand": "brands",
    "declared_intent": "declared_intent",
    "last_seen": "last_seen",
}


class BadCursor(ValidationFailed):
    slug = "bad-cursor"
    title = "The cursor is not valid for this feed"


# ---- writing ---------------------------------------------------------------------------------------------
def emit(
    conn: Connection | Session,
    *,
    vendor_id: str,
    subject: str,
    grant_id: str,
    kind: str,
    ref_id: str | None = None,
    dedupe: dict[Any, Any] | None = None,
) -> bool:
    """Append one change (and its webhook outbox rows) in the caller's transaction. Returns False when the same
    (grant, kind, ref) was already emitted in this transaction (``dedupe`` is the transaction's memo)."""
    if kind not in KINDS:
        raise ValueError(f"unknown feed change kind {kind!r}")
    key = (grant_id, kind, ref_id)
    if dedupe is not None:
        seen: set[Any] = dedupe.setdefault(_EMITTED, set())
        if key in seen:
            return False
        seen.add(key)
    connection = conn.connection() if isinstance(conn, Session) else conn
    now = utcnow()
    connection.execute(
        insert(FEED_CHANGE_TABLE).values(
            vendor_id=vendor_id, subject=subject, grant_id=grant_id, kind=kind, ref_id=ref_id, created_at=now
        )
    )
    event_type = WEBHOOK_EVENT[kind]
    if event_type is None:
        return True
    outbox.enqueue(
        connection,
        vendor_id=vendor_id,
        event_type=event_type,
        subject=subject,
        grant_id=grant_id or None,  # "" = an anonymous intentcast's events (no grant)
        ref_id=ref_id if kind in EVENT_KINDS else kind,
        now=now,
    )
    return True


def live_grants_of(session: Session, account_id: str) -> list[Grant]:
    """The consumer's live grants (one indexed query on ``consent_grant.account_id``)."""
    return list(
        session.exec(
            select(Grant).where(
                Grant.account_id == account_id, col(Grant.revoked_at).is_(None), col(Grant.expires_at) > utcnow()
            )
        ).all()
    )


def on_signal_changed(*, session: Session, ctx: VaultContext, account_id: str, categories: Iterable[str]) -> int:
    """Hook for the intents room after it changed signal states: log ``signal.updated`` for every live grant
    that can see one of the changed categories at its current stage. Returns how many rows were written.

    Cheap when the consumer granted nobody: one indexed query, nothing decrypted.
    """
    changed = set(categories)
    if not changed:
        return 0
    grants = live_grants_of(session, account_id)
    if not grants:
        return 0
    policy = rar.policy_for(ctx)
    written = 0
    signals: list[dict[str, Any]] | None = None
    from vault_server.feed import release

    for grant in grants:
        details = grant.authorization_details or []
        granted = rar.categories_of(details)
        if not any(rar.covering_category(policy, c, granted) for c in changed):
            continue
        period = release.period_of(details)
        if period is not None:  # the consumer agreed to daily/weekly updates: announce once per period
            release.defer_signal_update(session=session, grant=grant, period=period)
            continue
        if signals is None:
            from vault_server.signals.service import signals_for

            signals = signals_for(session=session, ctx=ctx, account_id=account_id, categories=changed)
        if not rar.shape(signals, details, policy):
            continue  # nothing the vendor may see changed (e.g. still below min_stage)
        if emit(
            session,
            vendor_id=grant.vendor_id,
            subject=grant.subject,
            grant_id=grant.id,
            kind="signal.updated",
            dedupe=session.info,
        ):
            written += 1
    return written


# ---- positions ---------------------------------------------------------------------------------------------
def stamp(session: Session) -> int:
    """PostgreSQL: number the committed rows that have no read position yet (one serialised round); returns how
    many were stamped. No-op on SQLite (``seq`` is the position). Commit right after: the lock is per
    transaction, and holding it to commit is what keeps rounds in order."""
    if session.get_bind().dialect.name != "postgresql":
        return 0
    if session.execute(text("SELECT 1 FROM feed_change WHERE pos IS NULL LIMIT 1")).first() is None:
        return 0  # nothing waiting (partial index): no lock taken, readers do not queue
    # wait for a running round rather than skip it, so a reader always sees what was committed before it asked;
    # the key is per schema (advisory locks are per database)
    session.execute(text("SELECT pg_advisory_xact_lock(:k, hashtext(current_schema()))"), {"k": STAMP_LOCK})
    result = session.execute(
        text(
            "UPDATE feed_change SET pos = nextval('feed_pos_seq') WHERE seq IN ("
            " SELECT seq FROM feed_change WHERE pos IS NULL ORDER BY seq LIMIT :n)"
        ),
        {"n": STAMP_BATCH},
    )
    return int(getattr(result, "rowcount", 0) or 0)


def stamp_now(ctx: VaultContext) -> int:
    """One stamping round in its own transaction (what a feed read does first); returns rows stamped."""
    with ctx.db.session() as s:
        return stamp(s)


def _position_column(session: Session) -> Any:
    return col(FeedChange.pos) if session.get_bind().dialect.name == "postgresql" else col(FeedChange.seq)


def head_position(session: Session, vendor_id: str) -> int:
    """The newest readable position of a vendor's feed (0 when empty)."""
    position = _position_column(session)
    row = session.exec(
        select(position).where(FeedChange.vendor_id == vendor_id, position.is_not(None)).order_by(position.desc())
    ).first()
    return int(row) if row is not None else 0


# ---- cursors -----------------------------------------------------------------------------------------------
def _cursor_key(ctx: VaultContext) -> bytes:
    return ctx.ring.derive("feed-cursor")


def encode_cursor(ctx: VaultContext, vendor_id: str, position: int) -> str:
    """An opaque cursor: the position, bound to the vendor, HMAC-signed (a vendor cannot forge or swap one)."""
    body = base64.urlsafe_b64encode(json.dumps([CURSOR_VERSION, position]).encode()).rstrip(b"=").decode()
    mac = hmac.new(_cursor_key(ctx), f"{vendor_id}\x00{body}".encode(), hashlib.sha256).digest()[:16]
    return body + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def decode_cursor(ctx: VaultContext, vendor_id: str, cursor: str | None) -> int:
    """The position a cursor stands for; 0 for none. BadCursor when it was altered or issued to another vendor."""
    if not cursor:
        return 0
    body, _, sig = cursor.partition(".")
    expected = hmac.new(_cursor_key(ctx), f"{vendor_id}\x00{body}".encode(), hashlib.sha256).digest()[:16]
    try:
        given = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        if not hmac.compare_digest(given, expected):
            raise BadCursor("the cursor was altered or belongs to another vendor; start again without one")
        version, position = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (ValueError, TypeError):
        raise BadCursor("the cursor is malformed; pass back next_cursor exactly as received") from None
    if version != CURSOR_VERSION or not isinstance(position, int) or position < 0:
        raise BadCursor("the cursor is from an incompatible version; start again without one")
    return position


# ---- reading -----------------------------------------------------------------------------------------------
@dataclass
class Page:
    items: list[dict[str, Any]]
    next_cursor: str
    has_more: bool
    audits: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor, "has_more": self.has_more}


def fields_of(shaped: Sequence[dict[str, Any]]) -> list[str]:
    """The grant fields actually present in shaped signals (what the audit entry names)."""
    present = {key for item in shaped for key in item}
    return sorted(f for f, key in FIELD_KEYS.items() if key in present)


def shaped_signals(*, session: Session, ctx: VaultContext, grant: Grant) -> list[dict[str, Any]]:
    """The consumer's signals evaluated now and narrowed to exactly what the grant allows now."""
    from vault_server.signals.service import signals_for

    details = grant.authorization_details or []
    if not details:
        return []
    policy = rar.policy_for(ctx)
    leaves = rar.leaves_under(policy, rar.categories_of(details))
    signals = signals_for(session=session, ctx=ctx, account_id=grant.account_id, categories=leaves)
    return rar.shape(signals, details, policy)


def narrowed_to(grant: Grant) -> dict[str, Any]:
    """What a narrowed grant still allows (the feed item and the ``grant.narrowed`` webhook carry it)."""
    return {"scope": grant.scope.split(), "authorization_details": grant.authorization_details or []}


def grant_is_live(grant: Grant | None, now: datetime | None = None) -> bool:
    when = now or utcnow()
    return grant is not None and grant.revoked_at is None and grant.expires_at > when


def read_page(
    *, session: Session, ctx: VaultContext, vendor_id: str, cursor: str | None, limit: int = DEFAULT_LIMIT
) -> Page:
    """One page of a vendor's feed after ``cursor``. Data items are built for live grants only; the audit
    entries to write before sending are in ``page.audits`` (see :func:`record_reads`)."""
    after = decode_cursor(ctx, vendor_id, cursor)
    limit = max(1, min(int(limit), MAX_LIMIT))
    from vault_server.feed import replica

    # the change log may come from the read replica (feed/replica.py); everything else below reads the primary
    rows = replica.change_rows(session=session, ctx=ctx, vendor_id=vendor_id, after=after, limit=limit + 1)
    has_more = len(rows) > limit
    rows = list(rows[:limit])
    last = after
    # one data item per grant per page, placed at its newest change
    newest_data: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.kind in FOLDED_KINDS:
            newest_data[row.grant_id] = i
    items: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    wanted = sorted({r.grant_id for r in rows if r.kind not in TOMBSTONE_KINDS and r.grant_id})
    grants: dict[str, Grant | None] = (
        {g.id: g for g in session.exec(select(Grant).where(col(Grant.id).in_(wanted))).all()} if wanted else {}
    )
    now = utcnow()
    from vault_server.feed import events

    for i, row in enumerate(rows):
        pos = int(row.pos if row.pos is not None else row.seq or 0)
        last = pos
        base = {
            "pos": pos,
            "type": row.kind,
            "subject": row.subject,
            "grant_id": row.grant_id or None,
            "at": row.created_at.isoformat(),
        }
        if row.kind in TOMBSTONE_KINDS:
            items.append({**base, "forget": True})
            continue
        if row.kind in FOLDED_KINDS and newest_data.get(row.grant_id) != i:
            continue
        if row.kind in EVENT_KINDS and not row.grant_id:  # an anonymous intentcast or its offer.accepted
            anonymous = events.build(
                session=session, ctx=ctx, grant=None, kind=row.kind, ref_id=row.ref_id, vendor_id=vendor_id
            )
            if anonymous is not None:
                items.append({**base, **anonymous[0]})
                if anonymous[1] is not None:
                    audits.append(anonymous[1])
            continue
        grant = grants.get(row.grant_id)
        if not grant_is_live(grant, now) or grant is None or grant.vendor_id != vendor_id:
            continue  # ended since: its tombstone is in the feed
        if row.kind in SIGNAL_KINDS:
            shaped = shaped_signals(session=session, ctx=ctx, grant=grant)
            if not shaped and row.kind == "signal.updated":
                continue
            item = {**base, "grant_version": grant.version, "signals": shaped}
            if row.kind == "grant.narrowed":  # what the vendor may still hold: delete the rest
                item.update(narrowed_to(grant))
            items.append(item)
            audits.append(
                {
                    "kind": "vendor.read",
                    "consumer_id": grant.account_id,
                    "details": read_details(vendor_id, grant, shaped, endpoint="/v1/feed"),
                    "private": {"signals": shaped},
                }
            )
            continue
        event = events.build(session=session, ctx=ctx, grant=grant, kind=row.kind, ref_id=row.ref_id)
        if event is None:
            continue
        data, audit_entry = event
        items.append({**base, **data})
        if audit_entry is not None:
            audits.append(audit_entry)
    return Page(items=items, next_cursor=encode_cursor(ctx, vendor_id, last), has_more=has_more, audits=audits)


def read_details(vendor_id: str, grant: Grant, shaped: Sequence[dict[str, Any]], *, endpoint: str) -> dict[str, Any]:
    """Public audit details of a signal read (docs/AUDIT.md: what ``audit check`` replays). Vendor-wide reads
    authenticate with the client credentials, so there is no ``token_id``/``family_id``."""
    return {
        "vendor_id": vendor_id,
        "grant_id": grant.id,
        "subject": grant.subject,
        "categories": sorted({str(s["category"]) for s in shaped}),
        "fields": fields_of(shaped),
        "record_count": len(shaped),
        "endpoint": endpoint,
        "token_id": None,
        "family_id": None,
    }


def json_safe(value: Any) -> Any:
    """Audit entries hold no floats (docs/AUDIT.md): scores become decimal strings."""
    if isinstance(value, float):
        return format(value, ".3f")
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def record_reads(*, session: Session, ctx: VaultContext, vendor_id: str, audits: Sequence[dict[str, Any]]) -> None:
    """Append the page's audit entries in the caller's transaction (commit before sending: fail closed). What was
    sent goes in the entry's encrypted ``private`` part."""
    for entry in audits:
        private = entry.get("private")
        audit.record(
            session=session,
            ctx=ctx,
            kind=entry["kind"],
            actor=f"vendor:{vendor_id}",
            consumer_id=entry["consumer_id"],
            details=entry["details"],
            private=json_safe(private) if private is not None else None,
        )


def etag_of(body: dict[str, Any]) -> str:
    """A strong validator of the exact page body (RFC 9110 §8.8.3)."""
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()
    return '"' + hashlib.sha256(raw).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison of ``If-None-Match`` against the current tag."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    return "*" in tags or any(hmac.compare_digest(t.removeprefix("W/"), etag) for t in tags)
