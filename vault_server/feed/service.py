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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, insert, text
from sqlmodel import Session, col, select

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.crypto.envelope import ConsumerCipher
from vault_server.db import UTCDateTime, one_of, utcnow
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


# built once (compiled form cached): every ingest that changes a signal asks it through the hook
_LIVE_GRANTS = select(Grant).where(
    Grant.account_id == bindparam("account"),
    col(Grant.revoked_at).is_(None),
    col(Grant.expires_at) > bindparam("now", type_=UTCDateTime()),
)


def live_grants_of(session: Session, account_id: str) -> list[Grant]:
    """The consumer's live grants (one indexed query on ``consent_grant.account_id``)."""
    return list(session.exec(_LIVE_GRANTS, params={"account": account_id, "now": utcnow()}).all())


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
        gone = changed - {s["category"] for s in signals}  # no state left: the consumer deleted what made it
        if not rar.shape(signals, details, policy) and not any(rar.covering_category(policy, c, granted) for c in gone):
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


def position_before_latest(session: Session, vendor_id: str, latest: int) -> int:
    """The position just before a vendor's ``latest`` newest changes (0 when it has no more than that)."""
    position = _position_column(session)
    row = session.exec(
        select(position)
        .where(FeedChange.vendor_id == vendor_id, position.is_not(None))
        .order_by(position.desc())
        .offset(latest)
        .limit(1)
    ).first()
    return int(row) if row is not None else 0


def head_position(session: Session, vendor_id: str) -> int:
    """The newest readable position of a vendor's feed (0 when empty): one index lookup."""
    position = _position_column(session)
    row = session.exec(
        select(position)
        .where(FeedChange.vendor_id == vendor_id, position.is_not(None))
        .order_by(position.desc())
        .limit(1)
    ).first()
    return int(row) if row is not None else 0


def ready_head(*, session: Session, ctx: VaultContext, vendor_id: str) -> int:
    """Make the feed readable and return the vendor's head position, in one statement when nothing waits.

    PostgreSQL: one round trip asks both whether a committed row *of this vendor* still lacks a read position (the
    partial index ``ix_feed_change_unstamped``: only rows waiting for a round) and the vendor's head (a backward
    probe of ``ix_feed_change_vendor_pos``); both are keyed by the vendor, so single-shard under Citus. Other
    vendors' waiting rows do not matter here: this vendor reads only its own rows, and a row of its stamped later
    gets a larger position. Only when rows wait does a stamping round run (in its own transaction, so its lock is
    released at once), and the head is read again: ``session`` is READ COMMITTED, so its next statement sees the
    round's numbers. Nothing is cached in the process: every API process answers from the database alone."""
    if session.get_bind().dialect.name != "postgresql":
        return head_position(session, vendor_id)
    waiting, head = session.execute(_READY, {"v": vendor_id}).one()
    if waiting:
        stamp_now(ctx)
        return head_position(session, vendor_id)
    return int(head)


_READY = text(
    "SELECT EXISTS (SELECT 1 FROM feed_change WHERE pos IS NULL AND vendor_id = :v),"
    " COALESCE((SELECT pos FROM feed_change WHERE vendor_id = :v AND pos IS NOT NULL ORDER BY pos DESC LIMIT 1), 0)"
)


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
    etag: str = ""
    #: the data keys the page opened (consumer id -> cipher): its audit entries are encrypted with them
    ciphers: Mapping[str, ConsumerCipher] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor, "has_more": self.has_more}


def fields_of(shaped: Sequence[dict[str, Any]]) -> list[str]:
    """The grant fields actually present in shaped signals (what the audit entry names)."""
    present = {key for item in shaped for key in item}
    return sorted(f for f, key in FIELD_KEYS.items() if key in present)


#: (policy hash, granted categories) -> their leaf categories
_LEAVES: dict[tuple[str, frozenset[str]], frozenset[str]] = {}


def _leaves_under(policy: Any, categories: frozenset[str]) -> frozenset[str]:
    """``rar.leaves_under`` memoised per policy version (a page's grants share a few category sets, and so do the
    pages after it): the taxonomy is part of what the policy hash covers."""
    key = (str(policy.hash), categories)
    found = _LEAVES.get(key)
    if found is None:
        if len(_LEAVES) > 4096:
            _LEAVES.clear()
        found = _LEAVES[key] = frozenset(rar.leaves_under(policy, categories))
    return found


def shaped_for_grants(
    *,
    session: Session,
    ctx: VaultContext,
    grants: Sequence[Grant],
    keys_into: dict[str, ConsumerCipher] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Grant id -> the consumer's signals evaluated now and narrowed to exactly what that grant allows now.

    One ``signals_for_many`` for every consumer of ``grants`` (the union of each consumer's granted categories),
    then narrowed per grant: the same statements for one grant or a page of them. ``keys_into``: receives the
    data keys opened on the way (read in the same statement as the states; see ``signals_for_many``)."""
    from vault_server.signals.service import signals_for_many

    policy = rar.policy_for(ctx)
    wanted: dict[str, set[str]] = {}
    for grant in grants:
        categories = frozenset(rar.categories_of(grant.authorization_details or []))
        wanted.setdefault(grant.account_id, set()).update(_leaves_under(policy, categories))
    states = signals_for_many(session=session, ctx=ctx, wanted=wanted, keys_into=keys_into) if wanted else {}
    return {g.id: rar.shape(states.get(g.account_id, []), g.authorization_details or [], policy) for g in grants}


def shaped_signals(*, session: Session, ctx: VaultContext, grant: Grant) -> list[dict[str, Any]]:
    """The consumer's signals evaluated now and narrowed to exactly what the grant allows now."""
    if not grant.authorization_details:
        return []
    return shaped_for_grants(session=session, ctx=ctx, grants=[grant])[grant.id]


def narrowed_to(grant: Grant) -> dict[str, Any]:
    """What a narrowed grant still allows (the feed item and the ``grant.narrowed`` webhook carry it)."""
    return {"scope": grant.scope.split(), "authorization_details": grant.authorization_details or []}


def grant_is_live(grant: Grant | None, now: datetime | None = None) -> bool:
    when = now or utcnow()
    return grant is not None and grant.revoked_at is None and grant.expires_at > when


def page_etag(ctx: VaultContext, vendor_id: str, after: int, head: int, limit: int) -> str:
    """The weak validator of a feed page: (cursor position, the vendor's head position, limit), keyed.

    Two requests with the same cursor and limit and no new change in the vendor's feed get the same items (values
    evaluated at read time, such as a signal's score decaying, may differ slightly: hence weak, RFC 9110 §8.8.1).
    HMAC-keyed and bound to the vendor, so a tag reveals no position and never matches another vendor's page."""
    msg = f"etag\x00{vendor_id}\x00{after}\x00{head}\x00{limit}".encode()
    mac = hmac.new(_cursor_key(ctx), msg, hashlib.sha256).digest()[:18]
    return 'W/"' + base64.urlsafe_b64encode(mac).decode() + '"'


def not_modified(
    *, ctx: VaultContext, vendor_id: str, cursor: str | None, limit: int, head: int, if_none_match: str | None
) -> str | None:
    """The page's current ETag when ``If-None-Match`` still matches it (answer 304), else None. ``head`` is the
    vendor's head position (:func:`ready_head`): nothing built, nothing audited, no further statement."""
    if not if_none_match:
        return None
    after = decode_cursor(ctx, vendor_id, cursor)
    limit = max(1, min(int(limit), MAX_LIMIT))
    etag = page_etag(ctx, vendor_id, after, head, limit)
    return etag if etag_matches(if_none_match, etag) else None


def read_page(
    *,
    session: Session,
    ctx: VaultContext,
    vendor_id: str,
    cursor: str | None,
    limit: int = DEFAULT_LIMIT,
    endpoint: str = "/v1/feed",
) -> Page:
    """One page of a vendor's feed after ``cursor``. Data items are built for live grants only; the audit
    entries to write before sending are in ``page.audits`` (see :func:`record_reads`), naming ``endpoint`` (the
    API, or the portal's feed explorer).

    A constant number of statements whatever the page size: the rows, their grants, the signal states (and data
    keys) of every grant with a signal item, the referenced objects of each event kind (events.build_many)."""
    from vault_server.feed import events, replica

    after = decode_cursor(ctx, vendor_id, cursor)
    limit = max(1, min(int(limit), MAX_LIMIT))
    # the change log may come from the read replica (feed/replica.py); everything else below reads the primary
    rows = replica.change_rows(session=session, ctx=ctx, vendor_id=vendor_id, after=after, limit=limit + 1)
    has_more = len(rows) > limit
    rows = list(rows[:limit])
    positions = [int(row.pos if row.pos is not None else row.seq or 0) for row in rows]
    last = positions[-1] if rows else after
    # one data item per grant per page, placed at its newest change (a narrowing keeps its own item)
    newest_data: dict[str, int] = {}
    for i, row in enumerate(rows):
        if row.kind in FOLDED_KINDS:
            newest_data[row.grant_id] = i
    wanted = sorted({r.grant_id for r in rows if r.kind not in TOMBSTONE_KINDS and r.grant_id})
    by_id = one_of(session.get_bind().dialect.name, col(Grant.id), wanted)
    grants: dict[str, Grant] = {g.id: g for g in session.exec(select(Grant).where(by_id)).all()} if wanted else {}
    now = utcnow()
    live = {gid: g for gid, g in grants.items() if grant_is_live(g, now) and g.vendor_id == vendor_id}

    def shown(i: int, row: FeedChange) -> bool:
        """A row that becomes an item (before its data is known)."""
        if row.kind in TOMBSTONE_KINDS:
            return True
        if row.kind in EVENT_KINDS and not row.grant_id:  # an anonymous intentcast or its offer.accepted
            return True
        if row.grant_id not in live:
            return False  # ended since: its tombstone is in the feed
        return row.kind not in FOLDED_KINDS or newest_data.get(row.grant_id) == i

    rows_shown = [(i, row) for i, row in enumerate(rows) if shown(i, row)]
    signal_grants = {row.grant_id: live[row.grant_id] for _, row in rows_shown if row.kind in SIGNAL_KINDS}
    # the data keys of the page's consumers, opened once: read with their signal states (one statement), then with
    # the events' rows; the audit entries' private parts are encrypted with them (record_reads)
    ciphers: dict[str, ConsumerCipher] = {}
    shaped_of = shaped_for_grants(session=session, ctx=ctx, grants=list(signal_grants.values()), keys_into=ciphers)
    event_rows = [row for _, row in rows_shown if row.kind in EVENT_KINDS]
    built = iter(
        events.build_many(
            session=session,
            ctx=ctx,
            refs=[events.EventRef(r.kind, r.ref_id, vendor_id, live.get(r.grant_id)) for r in event_rows],
            ciphers=ciphers,
        )
    )
    items: list[dict[str, Any]] = []
    audits: list[dict[str, Any]] = []
    for i, row in rows_shown:
        base = {
            "pos": positions[i],
            "type": row.kind,
            "subject": row.subject,
            "grant_id": row.grant_id or None,
            "at": row.created_at.isoformat(),
        }
        if row.kind in TOMBSTONE_KINDS:
            items.append({**base, "forget": True})
            continue
        if row.kind in EVENT_KINDS:
            event = next(built)
            if event is not None:
                items.append({**base, **event[0]})
                if event[1] is not None:
                    audits.append(event[1])
            continue
        grant = live[row.grant_id]
        shaped = shaped_of[grant.id]
        item = {**base, "grant_version": grant.version, "signals": shaped}  # [] = nothing left to see (deleted)
        if row.kind == "grant.narrowed":  # what the vendor may still hold: delete the rest
            item.update(narrowed_to(grant))
        items.append(item)
        if not shaped and row.kind == "signal.updated":
            continue  # no consumer data in it: nothing to audit (webhooks.payload_data does the same)
        audits.append(
            {
                "kind": "vendor.read",
                "consumer_id": grant.account_id,
                "details": read_details(vendor_id, grant, shaped, endpoint=endpoint),
                "private": {"signals": shaped},
            }
        )
    # validator: the page holds every change up to ``last`` (all of them when it is not full), so it is the same
    # page while the feed's head stays at ``last``; a page cut short (full, or a lagging replica) never matches
    etag = page_etag(ctx, vendor_id, after, last, limit)
    return Page(
        items=items,
        next_cursor=encode_cursor(ctx, vendor_id, last),
        has_more=has_more,
        audits=audits,
        etag=etag,
        ciphers=ciphers,
    )


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


def record_reads(
    *,
    session: Session,
    ctx: VaultContext,
    vendor_id: str,
    audits: Sequence[dict[str, Any]],
    ciphers: Mapping[str, ConsumerCipher] | None = None,
) -> None:
    """Append the page's audit entries in the caller's transaction, as one batch (commit before sending: fail
    closed). What was sent goes in the entry's encrypted ``private`` part, encrypted with ``ciphers`` (the page's
    already opened data keys; others are read in one query)."""
    actor = f"vendor:{vendor_id}"
    audit.append_many(
        session=session,
        ctx=ctx,
        ciphers=ciphers,
        entries=[
            audit.AuditSpec(
                kind=entry["kind"],
                actor=actor,
                consumer_id=entry["consumer_id"],
                details=entry["details"],
                private=json_safe(entry["private"]) if entry.get("private") is not None else None,
            )
            for entry in audits
        ],
    )


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: weak comparison (opaque parts equal, ``W/`` ignored) of ``If-None-Match`` and ``etag``."""
    if not if_none_match:
        return False
    tags = [t.strip() for t in if_none_match.split(",")]
    mine = etag.removeprefix("W/")
    return "*" in tags or any(hmac.compare_digest(t.removeprefix("W/").encode(), mine.encode()) for t in tags)
