"""Intents room rules: batched idempotent ingest, the consumer's own view and deletion, declared intents,
recording settings, and keeping each (consumer, category) signal state current.

Ingest is incremental: an accepted batch folds into the affected signal states only (``engine.apply``);
deletions and policy changes recompute the affected categories from the stored gestures.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import and_, bindparam, delete, insert, or_, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, col, select

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.crypto.envelope import ConsumerCipher
from vault_server.crypto.service import cipher_for, cipher_once
from vault_server.db import utcnow
from vault_server.errors import NotFound, ValidationFailed
from vault_server.intents.models import ConsumerSettings, DeclaredIntent, DeletedGesture, Gesture
from vault_server.intents.schemas import BatchResult, EventResult, IntentIn, IntentPatch
from vault_server.policy.loader import Policy
from vault_server.signals import history as signal_history
from vault_server.signals import hooks as signal_hooks
from vault_server.signals import state as signal_state
from vault_server.signals.classify import with_context
from vault_server.signals.engine import SignalState, apply, category_of, check_event, evaluate, new_state
from vault_server.signals.models import SignalRow
from vault_server.signals.schema import DeclaredIntentInfo, GestureEvent
from vault_server.signals.state import category_index

FUTURE_SKEW = timedelta(minutes=5)
ID_CHUNK = 500


class UnknownCategory(ValidationFailed):
    slug = "unknown-category"
    title = "Unknown category"


_ACCOUNT = Account.__table__  # type: ignore[attr-defined]
# a no-op UPDATE takes the row lock (PostgreSQL) or the write lock (SQLite); built once (compiled form cached)
_LOCK_ACCOUNT = (
    update(_ACCOUNT)
    .where(_ACCOUNT.c.id == bindparam("account"))
    .values(paused=_ACCOUNT.c.paused)
    .returning(_ACCOUNT.c.paused)
)


def _lock_paused(session: Session, account_id: str) -> bool:
    """Serialise this consumer's writers (row lock on PostgreSQL, write lock on SQLite) in one statement; returns
    the locked row's pause flag."""
    paused = session.connection().execute(_LOCK_ACCOUNT, {"account": account_id}).scalar_one_or_none()
    if paused is None:
        raise NotFound("no such account")
    return bool(paused)


def _lock_consumer(session: Session, account_id: str) -> Account:
    """:func:`_lock_paused`, then the account (with the locked row's pause flag, not a stale identity-map copy)."""
    paused = _lock_paused(session, account_id)
    account = session.get(Account, account_id)
    if account is None:
        raise NotFound("no such account")
    set_committed_value(account, "paused", paused)
    return account


# ---- settings ---------------------------------------------------------------------------------
def get_opt_ins(*, session: Session, cipher: ConsumerCipher) -> list[str]:
    """Returns the sensitive categories the consumer opted in to (sorted)."""
    row = session.get(ConsumerSettings, cipher.consumer_id)
    if row is None:
        return []
    return sorted(json.loads(cipher.decrypt("consumer_settings", cipher.consumer_id, row.opt_ins)))


def update_settings(
    *, session: Session, ctx: VaultContext, account: Account, paused: bool | None, opt_ins: list[str] | None
) -> tuple[bool, list[str]]:
    """Set the pause flag and/or the opt-in list; returns the new (paused, opt_ins)."""
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account.id)
    locked = _lock_consumer(session, account.id)
    if paused is not None:
        locked.paused = paused
        session.add(locked)
    if opt_ins is not None:
        unknown = sorted(c for c in set(opt_ins) if c not in ctx.policy.nodes)
        if unknown:
            raise UnknownCategory(f"unknown categories: {', '.join(unknown)}")
        blob = cipher.encrypt("consumer_settings", account.id, json.dumps(sorted(set(opt_ins))).encode())
        row = session.get(ConsumerSettings, account.id)
        if row is None:
            session.add(ConsumerSettings(account_id=account.id, opt_ins=blob))
        else:
            row.opt_ins, row.updated_at = blob, utcnow()
            session.add(row)
    session.flush()
    return locked.paused, get_opt_ins(session=session, cipher=cipher)


def _opted_in(policy: Policy, category: str, opt_ins: Iterable[str]) -> bool:
    chosen = set(opt_ins)
    return any(a in chosen for a in policy.ancestors(category))


# ---- ingest -------------------------------------------------------------------------------------
def _raw_id(raw: Any) -> str | None:
    if isinstance(raw, dict):
        value = raw.get("id")
        return value[:64] if isinstance(value, str) else None
    return None


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err.get("loc", ())) or "event"
    return f"{where}: {err.get('msg', 'invalid')}"


@dataclass
class _Candidate:
    position: int
    event: GestureEvent
    category: str | None


def _classifier(policy: Policy) -> Callable[[GestureEvent], str | None]:
    """``category_of`` memoised for one batch: once per distinct product (what the classifier reads of an event)."""
    memo: dict[tuple[Any, ...], str | None] = {}

    def category(event: GestureEvent) -> str | None:
        product = event.product
        key = (
            event.category,
            event.query,
            event.path,
            product.name if product else None,
            product.category_hint if product else None,
        )
        if key not in memo:
            memo[key] = category_of(event, policy)
        return memo[key]

    return category


def _payload(event: GestureEvent, category: str | None) -> bytes:
    """The stored document of an event: its JSON (no nulls) with the category it counts for."""
    body = event.model_dump_json(exclude_none=True, exclude={"category"}).encode()
    tail = b'"category":' + json.dumps(category).encode() + b"}"
    return body[:-1] + (b"," if len(body) > 2 else b"") + tail


def ingest(*, session: Session, ctx: VaultContext, account_id: str, events: Sequence[Any]) -> BatchResult:
    """Validate, de-duplicate, encrypt and store a batch; fold accepted events into the signals.

    Returns one result per input event, in order. Nothing is stored twice: a resent batch reports duplicates.
    Statements per batch do not grow with its size: the data key, the consumer lock, one insert for every new
    gesture, one read and at most two writes of signal state, the feed's hook.
    """
    policy = ctx.policy
    now = utcnow()
    cipher = cipher_once(session=session, ring=ctx.ring, account_id=account_id)
    paused = _lock_paused(session, account_id)
    opt_ins: list[str] | None = None  # read (and decrypted) only when a sensitive category shows up
    results: list[EventResult | None] = [None] * len(events)
    candidates: list[_Candidate] = []
    category_for = _classifier(policy)
    newest_allowed = now + FUTURE_SKEW

    def reject(i: int, code: str, reason: str, event_id: str | None = None) -> None:
        results[i] = EventResult.model_construct(
            id=event_id or _raw_id(events[i]), status="rejected", code=code, reason=reason, category=None
        )

    for i, raw in enumerate(events):
        if paused:
            reject(i, "paused", "recording is paused; nothing is stored until it is resumed")
            continue
        try:
            event = GestureEvent.model_validate(raw)
        except ValidationError as exc:
            reject(i, "invalid", _first_error(exc))
            continue
        eid = event.id_str
        problem = check_event(event, policy)
        if problem is not None:
            reject(i, "unknown_type" if problem.startswith("unknown gesture") else "unknown_category", problem, eid)
            continue
        if event.ts > newest_allowed:
            reject(i, "future", "timestamp is in the future", eid)
            continue
        keep_days = policy.retention_days(event.type)
        if event.ts < now - timedelta(days=keep_days):
            reject(i, "too_old", f"older than the {keep_days}-day retention for {event.type}", eid)
            continue
        category = category_for(event)
        if category is not None and policy.is_sensitive(category):
            if opt_ins is None:
                opt_ins = get_opt_ins(session=session, cipher=cipher)
            if not _opted_in(policy, category, opt_ins):
                reject(
                    i,
                    "sensitive_not_opted_in",
                    f"category {category} is sensitive and you have not opted in: dropped, not stored",
                    eid,
                )
                continue
        if event.type == "declared_intent":
            results[i] = _declare_from_event(session, ctx, account_id, event, category)
            continue
        candidates.append(_Candidate(i, event, category))

    # Gestures that name no product (return visits, account pages) take the category of their shop visit in
    # the batch (signals room: classify.with_context); never a sensitive one, which needs the gesture's own word.
    in_context = with_context([c.event for c in candidates], policy, direct=[c.category for c in candidates])
    for cand, category in zip(candidates, in_context, strict=True):
        if cand.category is None and category is not None and not policy.is_sensitive(category):
            cand.category = category

    rows: list[dict[str, Any]] = []
    indexes: dict[str, str] = {}
    first_of: dict[str, _Candidate] = {}
    for cand in candidates:
        eid = cand.event.id_str
        if eid in first_of:  # the same id twice in one batch: only the first counts
            results[cand.position] = EventResult.model_construct(
                id=eid, status="duplicate", category=cand.category, reason=None, code=None
            )
            continue
        first_of[eid] = cand
        row_id = str(uuid.uuid4())
        if cand.category is not None and cand.category not in indexes:
            indexes[cand.category] = category_index(ctx, account_id, cand.category)
        rows.append(
            {
                "id": row_id,
                "account_id": account_id,
                "event_id": eid,
                "type": cand.event.type,
                "category_index": indexes[cand.category] if cand.category else None,
                "ts": cand.event.ts.astimezone(UTC),
                "received_at": now,
                "payload": cipher.encrypt("gesture", row_id, _payload(cand.event, cand.category)),
            }
        )
    stored = _insert_new(session, rows)
    accepted: dict[str, list[GestureEvent]] = defaultdict(list)
    for eid, cand in first_of.items():
        is_new = eid in stored
        if is_new and cand.category is not None:
            accepted[cand.category].append(cand.event)
        results[cand.position] = EventResult.model_construct(
            id=eid, status="accepted" if is_new else "duplicate", category=cand.category, reason=None, code=None
        )
    fold_into_signals(session=session, ctx=ctx, cipher=cipher, by_category=accepted)
    final = [r for r in results if r is not None]
    return BatchResult(
        accepted=sum(r.status == "accepted" for r in final),
        duplicate=sum(r.status == "duplicate" for r in final),
        rejected=sum(r.status == "rejected" for r in final),
        results=final,
    )


INTENT_NAMESPACE = uuid.UUID("0d9e4b7a-5c3f-4f1e-8a2b-6e7d9c1f3a50")


def _declare_from_event(
    session: Session, ctx: VaultContext, account_id: str, event: GestureEvent, category: str | None
) -> EventResult:
    """A ``declared_intent`` gesture (typed in the extension's popup) becomes a declared intent, once per id."""
    eid = str(event.id)
    if category is None:
        return EventResult.model_construct(
            id=eid,
            status="rejected",
            code="unclassified",
            category=None,
            reason="a declared intent needs a category: name the product kind (e.g. '65 inch TV')",
        )
    intent_id = str(uuid.uuid5(INTENT_NAMESPACE, f"{account_id}:{eid}"))
    if session.get(DeclaredIntent, intent_id) is not None:
        return EventResult.model_construct(id=eid, status="duplicate", category=category, reason=None, code=None)
    create_intent(
        session=session,
        ctx=ctx,
        account_id=account_id,
        body=IntentIn(category=category, text=(event.query or "")[:500]),
        intent_id=intent_id,
    )
    return EventResult.model_construct(id=eid, status="accepted", category=category, reason=None, code=None)


_GESTURE = Gesture.__table__  # type: ignore[attr-defined]
_COLUMNS = ("id", "account_id", "event_id", "type", "category_index", "ts", "received_at", "payload")
_SQLITE_DATETIME = sqlite.DATETIME().bind_processor(sqlite.dialect())  # type: ignore[no-untyped-call]


@functools.lru_cache(maxsize=64)
def _insert_new_sql(paramstyle: str, rows: int) -> str:
    """``INSERT … VALUES (…), (…) ON CONFLICT DO NOTHING RETURNING event_id`` for ``rows`` gestures, in the
    driver's own placeholder style (one text per batch size; the common sizes stay cached)."""
    mark = "?" if paramstyle == "qmark" else "%s"
    one = "(" + ", ".join([mark] * len(_COLUMNS)) + ")"
    return (  # only constants and placeholders: no value is ever part of the text
        f"INSERT INTO {_GESTURE.name} ({', '.join(_COLUMNS)}) VALUES {', '.join([one] * rows)} "  # noqa: S608
        "ON CONFLICT (account_id, event_id) DO NOTHING RETURNING event_id"
    )


def _utc_param(dialect: str) -> Callable[[datetime], Any]:
    """A UTC timestamp as ``UTCDateTime`` binds it: SQLite's naive text form, PostgreSQL's aware datetime."""
    if dialect == "sqlite":
        to_text = _SQLITE_DATETIME
        assert to_text is not None
        return lambda value: to_text(value.astimezone(UTC).replace(tzinfo=None))
    return lambda value: value.astimezone(UTC)


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert gestures whose (account, event id) is new, in one statement; returns the event ids stored.

    ``ON CONFLICT DO NOTHING`` makes de-duplication atomic: two racing copies of a batch store each event once. The
    rows go to the driver as they are (one multi-row VALUES, the values already in the column types' stored form):
    SQLAlchemy's per-row bind processing was a fifth of a 100-event batch's CPU.
    """
    if not rows:
        return set()
    conn = session.connection()
    dialect = conn.dialect
    utc = _utc_param(dialect.name)
    params: list[Any] = []
    for row in rows:
        params += (
            row["id"],
            row["account_id"],
            row["event_id"],
            row["type"],
            row["category_index"],
            utc(row["ts"]),
            utc(row["received_at"]),
            row["payload"],
        )
    result = conn.exec_driver_sql(_insert_new_sql(dialect.paramstyle, len(rows)), tuple(params))
    return {r[0] for r in result}


def fold_into_signals(
    *, session: Session, ctx: VaultContext, cipher: ConsumerCipher, by_category: dict[str, list[GestureEvent]]
) -> None:
    """Incrementally apply new events to each affected category's state (O(events), no history read)."""
    indexes = {cat: category_index(ctx, cipher.consumer_id, cat) for cat, events in by_category.items() if events}
    if not indexes:
        return
    rows = signal_state.read_rows(session, cipher.consumer_id, list(indexes.values()))
    updates: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    stale: list[str] = []
    written: dict[str, tuple[float, str]] = {}  # what the hook's subscribers would otherwise read back
    now = utcnow()
    for category, index in sorted(indexes.items()):
        row = rows.get(index)
        if row is not None and row[0] != ctx.policy.hash:
            stale.append(category)  # scored under another policy: rebuild from history instead
            continue
        events = by_category[category]
        doc = (
            signal_state.decode_state(cipher, index, row[2])
            if row is not None
            else {"state": new_state(category).to_dict(), "extras": {}}
        )
        state = apply(SignalState.from_dict(doc["state"]), events, ctx.policy)
        extras = signal_state.update_extras(doc.get("extras", {}), events)
        values = signal_state.state_values(
            ctx, cipher, index, row[1] if row is not None else None, state, extras, now=now
        )
        (updates if row is not None else inserts).append(values)
        signal = evaluate(state, now, ctx.policy)
        written[category] = (signal.score, signal.stage)
    signal_state.write_states(session, updates, inserts)
    if stale:
        recompute_categories(session=session, ctx=ctx, cipher=cipher, categories=stale)
    signal_hooks.publish(
        session=session,
        ctx=ctx,
        account_id=cipher.consumer_id,
        categories=indexes,
        known=signal_hooks.Known(cipher, written),
    )


def _intent_event(ctx: VaultContext, intent_id: str, doc: dict[str, Any], when: datetime) -> GestureEvent:
    """A declared intent as a ``declared_intent`` gesture, so the same engine scores it."""
    origin = ctx.settings.base_url.split("://", 1)[0] + "://" + ctx.settings.base_url.split("://", 1)[1].split("/")[0]
    return GestureEvent(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"intent:{intent_id}:{when.isoformat()}"),
        type="declared_intent",
        ts=when,
        category=doc["category"],
        origin=origin,
        path="/v1/intents",
        intent=DeclaredIntentInfo(
            timeframe_days=doc.get("timeframe_days"),
            budget_min=doc.get("budget_min"),
            budget_max=doc.get("budget_max"),
            currency=doc.get("currency"),
        ),
    )


def recompute_categories(
    *, session: Session, ctx: VaultContext, cipher: ConsumerCipher, categories: Iterable[str]
) -> int:
    """Rebuild the named categories' states from every stored gesture and active intent; returns how many."""
    count = 0
    wanted = sorted(set(categories))
    for category in wanted:
        index = category_index(ctx, cipher.consumer_id, category)
        events: list[GestureEvent] = []
        for g in session.exec(
            select(Gesture).where(Gesture.account_id == cipher.consumer_id, Gesture.category_index == index)
        ).all():
            doc = json.loads(cipher.decrypt("gesture", g.id, g.payload))
            doc.pop("category", None)
            events.append(GestureEvent.model_validate({**doc, "category": category}))
        for intent in session.exec(
            select(DeclaredIntent).where(
                DeclaredIntent.account_id == cipher.consumer_id,
                DeclaredIntent.category_index == index,
                DeclaredIntent.status == "active",
            )
        ).all():
            events.append(_intent_event(ctx, intent.id, _intent_doc(cipher, intent), intent.updated_at))
        row = signal_state.read_rows(session, cipher.consumer_id, [index]).get(index)
        if not events:
            if row is not None:
                signal_state.delete_states(session, cipher.consumer_id, [index])
            count += 1
            continue
        state = apply(new_state(category), events, ctx.policy)
        values = signal_state.state_values(
            ctx, cipher, index, row[1] if row is not None else None, state, signal_state.update_extras({}, events)
        )
        signal_state.write_states(session, [values] if row is not None else [], [values] if row is None else [])
        count += 1
    signal_hooks.publish(session=session, ctx=ctx, account_id=cipher.consumer_id, categories=wanted)
    return count


# ---- the consumer's own gestures ----------------------------------------------------------------------
def _encode_cursor(ts: datetime, row_id: str) -> str:
    return base64.urlsafe_b64encode(f"{ts.isoformat()}|{row_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, row_id = raw.split("|", 1)
        return datetime.fromisoformat(ts), row_id
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("cursor is not one this server issued") from exc


@dataclass
class GestureFilter:
    category: str | None = None
    type: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    def clauses(self, ctx: VaultContext, account_id: str) -> list[Any]:
        out: list[Any] = [col(Gesture.account_id) == account_id]
        if self.category is not None:
            if self.category not in ctx.policy.nodes:
                raise UnknownCategory(f"unknown category {self.category!r}")
            out.append(col(Gesture.category_index) == category_index(ctx, account_id, self.category))
        if self.type is not None:
            out.append(col(Gesture.type) == self.type)
        if self.since is not None:
            out.append(col(Gesture.ts) >= self.since)
        if self.until is not None:
            out.append(col(Gesture.ts) < self.until)
        return out


def list_gestures(
    *, session: Session, ctx: VaultContext, account_id: str, flt: GestureFilter, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    """Returns a page of the consumer's gestures (newest first, decrypted) and the next cursor."""
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    query = select(Gesture).where(and_(*flt.clauses(ctx, account_id)))
    if cursor:
        ts, row_id = _decode_cursor(cursor)
        query = query.where(or_(col(Gesture.ts) < ts, and_(col(Gesture.ts) == ts, col(Gesture.id) < row_id)))
    rows = session.exec(query.order_by(col(Gesture.ts).desc(), col(Gesture.id).desc()).limit(limit + 1)).all()
    items = [_gesture_out(cipher, g) for g in rows[:limit]]
    next_cursor = _encode_cursor(rows[limit - 1].ts, rows[limit - 1].id) if len(rows) > limit else None
    return items, next_cursor


def _gesture_out(cipher: ConsumerCipher, g: Gesture) -> dict[str, Any]:
    doc = json.loads(cipher.decrypt("gesture", g.id, g.payload))
    return {"id": g.event_id, "type": g.type, "ts": g.ts, "category": doc.get("category"), "event": doc}


def iter_all_gestures(*, session: Session, ctx: VaultContext, account_id: str) -> Iterable[dict[str, Any]]:
    """Every gesture of the consumer, oldest first, decrypted (export)."""
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    for g in session.exec(
        select(Gesture).where(Gesture.account_id == account_id).order_by(col(Gesture.ts), col(Gesture.id))
    ):
        yield _gesture_out(cipher, g)


def delete_gestures(
    *,
    session: Session,
    ctx: VaultContext,
    account_id: str,
    flt: GestureFilter,
    event_id: str | None = None,
    undo_batch: str | None = None,
) -> tuple[int, int]:
    """Delete one gesture (by event id) or every gesture matching the filter; signals follow at once.

    With ``undo_batch`` the rows are first kept in ``gesture_deleted`` under that id for :data:`UNDO_WINDOW`, so
    :func:`undo_delete` can put them back; without it they are gone at once. Returns (deleted, categories recomputed).
    """
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    _lock_consumer(session, account_id)
    clauses = flt.clauses(ctx, account_id)
    if event_id is not None:
        clauses.append(col(Gesture.event_id) == event_id)
    rows = session.exec(select(Gesture).where(and_(*clauses))).all()
    if event_id is not None and not rows:
        raise NotFound(f"no gesture with id {event_id}")
    categories: set[str] = set()
    for g in rows:
        if g.category_index is not None:
            category = json.loads(cipher.decrypt("gesture", g.id, g.payload)).get("category")
            if category:
                categories.add(category)
    ids = [g.id for g in rows]
    if undo_batch is not None and rows:
        purge_deleted(session=session, account_id=account_id)
        now = utcnow()
        kept = [
            {
                "id": g.id,
                "account_id": account_id,
                "batch_id": undo_batch,
                "deleted_at": now,
                "event_id": g.event_id,
                "type": g.type,
                "category_index": g.category_index,
                "ts": g.ts,
                "received_at": g.received_at,
                "payload": g.payload,
            }
            for g in rows
        ]
        session.execute(delete(DeletedGesture).where(col(DeletedGesture.id).in_(ids[:ID_CHUNK])))  # a stale copy
        for start in range(0, len(kept), ID_CHUNK):
            session.connection().execute(insert(DeletedGesture.__table__), kept[start : start + ID_CHUNK])  # type: ignore[attr-defined]
    for start in range(0, len(ids), ID_CHUNK):
        session.execute(delete(Gesture).where(col(Gesture.id).in_(ids[start : start + ID_CHUNK])))
    recomputed = recompute_categories(session=session, ctx=ctx, cipher=cipher, categories=categories)
    return len(ids), recomputed


# How long a deletion from the pages can be undone; the maintenance pass deletes what is older for good.
UNDO_WINDOW = timedelta(minutes=5)


def undo_delete(*, session: Session, ctx: VaultContext, account_id: str, batch_id: str) -> int:
    """Put back the gestures of one deletion made less than :data:`UNDO_WINDOW` ago; signals follow. Returns how
    many came back (a gesture the extension sent again meanwhile is not doubled). NotFound when it is too late."""
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    _lock_consumer(session, account_id)
    cutoff = utcnow() - UNDO_WINDOW
    rows = session.exec(
        select(DeletedGesture).where(
            DeletedGesture.account_id == account_id,
            DeletedGesture.batch_id == batch_id,
            col(DeletedGesture.deleted_at) > cutoff,
        )
    ).all()
    if not rows:
        raise NotFound("that deletion can no longer be undone: it is final after 5 minutes")
    present = set(
        session.exec(
            select(Gesture.event_id).where(
                Gesture.account_id == account_id, col(Gesture.event_id).in_([r.event_id for r in rows])
            )
        ).all()
    )
    categories: set[str] = set()
    restored = 0
    for r in rows:
        if r.event_id not in present:
            session.add(
                Gesture(
                    id=r.id,
                    account_id=account_id,
                    event_id=r.event_id,
                    type=r.type,
                    category_index=r.category_index,
                    ts=r.ts,
                    received_at=r.received_at,
                    payload=r.payload,
                )
            )
            restored += 1
            if r.category_index is not None:
                category = json.loads(cipher.decrypt("gesture", r.id, r.payload)).get("category")
                if category:
                    categories.add(category)
    session.execute(
        delete(DeletedGesture).where(DeletedGesture.account_id == account_id, DeletedGesture.batch_id == batch_id)  # type: ignore[arg-type]
    )
    session.flush()
    recompute_categories(session=session, ctx=ctx, cipher=cipher, categories=categories)
    return restored


def purge_deleted(*, session: Session, account_id: str | None = None, now: datetime | None = None) -> int:
    """Delete for good the kept copies of gestures deleted more than :data:`UNDO_WINDOW` ago (one consumer's, or
    everyone's for the maintenance pass). Returns how many."""
    clauses = [col(DeletedGesture.deleted_at) <= (now or utcnow()) - UNDO_WINDOW]
    if account_id is not None:
        clauses.append(col(DeletedGesture.account_id) == account_id)
    result = session.execute(delete(DeletedGesture).where(and_(*clauses)))
    return int(getattr(result, "rowcount", 0) or 0)


# ---- declared intents -----------------------------------------------------------------------------------
def _intent_doc(cipher: ConsumerCipher, row: DeclaredIntent) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(cipher.decrypt("declared_intent", row.id, row.payload))
    return doc


def intent_out(ctx: VaultContext, cipher: ConsumerCipher, row: DeclaredIntent) -> dict[str, Any]:
    doc = _intent_doc(cipher, row)
    node = ctx.policy.nodes.get(doc["category"])
    return {
        "id": row.id,
        "category": doc["category"],
        "category_name": node.name if node else doc["category"],
        "text": doc.get("text", ""),
        "budget_min": doc.get("budget_min"),
        "budget_max": doc.get("budget_max"),
        "currency": doc.get("currency"),
        "timeframe_days": doc.get("timeframe_days"),
        "must_haves": doc.get("must_haves", []),
        "status": row.status,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }


def create_intent(
    *, session: Session, ctx: VaultContext, account_id: str, body: IntentIn, intent_id: str | None = None
) -> dict[str, Any]:
    """Store a declared intent and feed it into its category's signal; returns it."""
    policy = ctx.policy
    if body.category not in policy.nodes:
        raise UnknownCategory(f"unknown category {body.category!r}; see GET /v1/categories")
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    _lock_consumer(session, account_id)
    if policy.is_sensitive(body.category) and not _opted_in(
        policy, body.category, get_opt_ins(session=session, cipher=cipher)
    ):
        raise ValidationFailed(f"{body.category} is a sensitive category: opt in to it first in your settings")
    row_id = intent_id or str(uuid.uuid4())
    doc = body.model_dump()
    now = utcnow()
    row = DeclaredIntent(
        id=row_id,
        account_id=account_id,
        category_index=category_index(ctx, account_id, body.category),
        created_at=now,
        updated_at=now,
        payload=cipher.encrypt("declared_intent", row_id, json.dumps(doc).encode()),
    )
    session.add(row)
    session.flush()
    fold_into_signals(
        session=session, ctx=ctx, cipher=cipher, by_category={body.category: [_intent_event(ctx, row_id, doc, now)]}
    )
    return intent_out(ctx, cipher, row)


def _get_intent(session: Session, account_id: str, intent_id: str) -> DeclaredIntent:
    row = session.get(DeclaredIntent, intent_id)
    if row is None or row.account_id != account_id:
        raise NotFound("no such intent")
    return row


def list_intents(*, session: Session, ctx: VaultContext, account_id: str) -> list[dict[str, Any]]:
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    rows = session.exec(
        select(DeclaredIntent)
        .where(DeclaredIntent.account_id == account_id)
        .order_by(col(DeclaredIntent.created_at).desc())
    ).all()
    return [intent_out(ctx, cipher, r) for r in rows]


def get_intent(*, session: Session, ctx: VaultContext, account_id: str, intent_id: str) -> dict[str, Any]:
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    return intent_out(ctx, cipher, _get_intent(session, account_id, intent_id))


def update_intent(
    *, session: Session, ctx: VaultContext, account_id: str, intent_id: str, patch: IntentPatch
) -> dict[str, Any]:
    """Change an intent; its category's signal is recomputed. Returns it."""
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    _lock_consumer(session, account_id)
    row = _get_intent(session, account_id, intent_id)
    doc = _intent_doc(cipher, row)
    changes = patch.model_dump(exclude_unset=True)
    status = changes.pop("status", None)
    try:  # the patch is checked together with what is stored (e.g. a new budget_min above the stored max)
        merged = IntentIn.model_validate({**doc, **changes})
    except ValidationError as exc:
        raise ValidationFailed(_first_error(exc)) from None
    row.payload = cipher.encrypt("declared_intent", row.id, json.dumps(merged.model_dump()).encode())
    if status:
        row.status = status
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    recompute_categories(session=session, ctx=ctx, cipher=cipher, categories=[merged.category])
    return intent_out(ctx, cipher, row)


def delete_intent(*, session: Session, ctx: VaultContext, account_id: str, intent_id: str) -> None:
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    _lock_consumer(session, account_id)
    row = _get_intent(session, account_id, intent_id)
    category = _intent_doc(cipher, row)["category"]
    session.delete(row)
    session.flush()
    recompute_categories(session=session, ctx=ctx, cipher=cipher, categories=[category])


# ---- maintenance tasks ------------------------------------------------------------------------------------
def recompute_stale(*, session: Session, ctx: VaultContext, limit: int = 100) -> int:
    """Recompute signal states scored under another policy (resumable: each row carries its policy hash)."""
    rows = session.exec(select(SignalRow).where(SignalRow.policy_hash != ctx.policy.hash).limit(limit)).all()
    done = 0
    for row in rows:
        cipher = cipher_for(session=session, ring=ctx.ring, account_id=row.account_id)
        doc = signal_state.decode_state(cipher, row.category_index, row.state)
        category = str(doc["state"]["category"])
        done += recompute_categories(session=session, ctx=ctx, cipher=cipher, categories=[category])
    return done


def expire_gestures(*, session: Session, ctx: VaultContext, now: datetime | None = None, limit: int = 1000) -> int:
    """Delete gestures past their type's retention; affected signals are recomputed. Returns how many."""
    when = now or utcnow()
    policy = ctx.policy
    removed = 0
    for gesture_type in policy.gesture_rules:
        cutoff = when - timedelta(days=policy.retention_days(gesture_type))
        rows = session.exec(
            select(Gesture).where(Gesture.type == gesture_type, col(Gesture.ts) < cutoff).limit(limit)
        ).all()
        by_account: dict[str, set[str]] = defaultdict(set)
        for g in rows:
            cipher = cipher_for(session=session, ring=ctx.ring, account_id=g.account_id)
            category = json.loads(cipher.decrypt("gesture", g.id, g.payload)).get("category")
            if category:
                by_account[g.account_id].add(category)
            session.delete(g)
            removed += 1
        session.flush()
        for account_id, categories in by_account.items():
            cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
            recompute_categories(session=session, ctx=ctx, cipher=cipher, categories=categories)
    return removed


def delete_everything(*, session: Session, account_id: str) -> None:
    """Remove every gesture, intent, signal and setting of the account (account deletion)."""
    for model in (Gesture, DeletedGesture, DeclaredIntent, SignalRow, ConsumerSettings):
        session.execute(delete(model).where(col(model.account_id) == account_id))
    signal_history.delete_for(session=session, account_id=account_id)
