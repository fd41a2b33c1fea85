"""Signal history: one point per (consumer, category, day) — the strength and stage at the day's last change.

What the dashboard's "strength over time" chart draws. It subscribes to the signals room's own "signals changed"
hook (:func:`install`, called by ``create_app``), so every writer of signal states (ingest, intents, deletions,
recomputes) feeds it without knowing of it. Bounded: points older than :data:`KEEP_DAYS` are dropped on every write.

A point reveals intent, so it is encrypted like the state (the consumer's data key, bound to table + row), and it
goes with the account (ON DELETE CASCADE, crypto-shredding, and :func:`delete_for` in the deletion flow). When a
category's signal disappears (the consumer deleted what it was built from) its history goes too: a chart must not
keep what the consumer removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, or_, select
from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.crypto.service import cipher_for
from vault_server.db import utcnow
from vault_server.signals import hooks
from vault_server.signals.engine import EventLike, apply, evaluate, group_by_category, new_state
from vault_server.signals.models import SignalHistoryRow
from vault_server.signals.state import category_index, signals_for

KEEP_DAYS = 90
_H = SignalHistoryRow.__table__  # type: ignore[attr-defined]
# built once (SQLAlchemy caches their compiled form): record() runs on every ingest that changes a signal
_PRUNE_AND_REPLACE = delete(_H).where(
    _H.c.account_id == bindparam("account"),
    or_(
        _H.c.day < bindparam("cutoff"),
        _H.c.category_index.in_(bindparam("gone", expanding=True)),
        and_(_H.c.category_index.in_(bindparam("present", expanding=True)), _H.c.day == bindparam("today")),
    ),
)
_INSERT_POINTS = insert(_H)


def _row_id(account_id: str, index: str, day: str) -> str:
    return f"{account_id}:{index}:{day}"


def _cutoff(now: datetime, days: int) -> str:
    return (now.date() - timedelta(days=days - 1)).isoformat()


def record(*, session: Session, ctx: VaultContext, account_id: str, categories: Iterable[str]) -> None:
    """Subscriber of "signals changed": today's point for each changed category (replacing an earlier one of the
    same day), the history of a category whose signal is gone deleted, points past :data:`KEEP_DAYS` dropped.
    Three statements whatever the number of categories."""
    changed = sorted(set(categories))
    if not changed:
        return
    now = utcnow()
    today = now.date().isoformat()
    given = hooks.known()
    cipher = given.cipher if given is not None else None
    current: dict[str, dict[str, Any]]
    if given is not None and all(c in given.signals for c in changed):  # the publisher just wrote them: no re-read
        current = {c: {"score": given.signals[c][0], "stage": given.signals[c][1]} for c in changed}
    else:
        current = {
            s["category"]: s for s in signals_for(session=session, ctx=ctx, account_id=account_id, categories=changed)
        }
    index = {c: category_index(ctx, account_id, c) for c in changed}
    gone = [index[c] for c in changed if c not in current]
    present = [index[c] for c in changed if c in current]
    conn = session.connection()
    conn.execute(
        _PRUNE_AND_REPLACE,
        {"account": account_id, "cutoff": _cutoff(now, KEEP_DAYS), "gone": gone, "present": present, "today": today},
    )
    if present:
        cipher = cipher or cipher_for(session=session, ring=ctx.ring, account_id=account_id)
        rows = []
        for category, signal in current.items():
            point = {"category": category, "score": round(float(signal["score"]), 4), "stage": signal["stage"]}
            idx = index[category]
            rows.append(
                {
                    "account_id": account_id,
                    "category_index": idx,
                    "day": today,
                    "point": cipher.encrypt(
                        "signal_history", _row_id(account_id, idx, today), json.dumps(point).encode()
                    ),
                }
            )
        conn.execute(_INSERT_POINTS, rows)


def _write_points(
    session: Session, ctx: VaultContext, account_id: str, points: Iterable[tuple[str, str, float, str]]
) -> None:
    """Insert (category, day, score, stage) points, replacing those of the same category and day."""
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    rows = []
    for category, day, score, stage in points:
        idx = category_index(ctx, account_id, category)
        point = {"category": category, "score": round(score, 4), "stage": stage}
        rows.append(
            {
                "account_id": account_id,
                "category_index": idx,
                "day": day,
                "point": cipher.encrypt("signal_history", _row_id(account_id, idx, day), json.dumps(point).encode()),
            }
        )
    conn = session.connection()
    for row in rows:
        conn.execute(
            delete(_H).where(
                _H.c.account_id == account_id, _H.c.category_index == row["category_index"], _H.c.day == row["day"]
            )
        )
    if rows:
        conn.execute(insert(_H), rows)


def replay_days(
    *, session: Session, ctx: VaultContext, account_id: str, events: Iterable[EventLike], days: int = 14
) -> int:
    """Fill the points of the ``days`` days before today from ``events`` (a consumer's gestures): each day's
    point is the state of the gestures up to that day's end, evaluated then — what :func:`record` would have
    written had the gestures arrived as they happened (``intent-vault demo``). Returns how many points."""
    groups, _ = group_by_category(events, ctx.policy)
    today = utcnow().date()
    points = []
    for category, batch in groups.items():
        for back in range(days, 0, -1):
            day = today - timedelta(days=back)
            end = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
            seen = [e for e in batch if e.epoch < end.timestamp()]
            if seen:
                signal = evaluate(apply(new_state(category), seen, ctx.policy), end, ctx.policy)
                points.append((category, day.isoformat(), float(signal.score), str(signal.stage)))
    _write_points(session, ctx, account_id, points)
    return len(points)


def history_for(
    *, session: Session, ctx: VaultContext, account_id: str, days: int = KEEP_DAYS, now: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """The consumer's points of the last ``days`` days: category -> [{day, score, stage}], oldest first."""
    rows = session.connection().execute(
        select(_H.c.category_index, _H.c.day, _H.c.point)
        .where(_H.c.account_id == account_id, _H.c.day >= _cutoff(now or utcnow(), days))
        .order_by(_H.c.day)
    )
    out: dict[str, list[dict[str, Any]]] = {}
    cipher = None
    for row in rows:
        cipher = cipher or cipher_for(session=session, ring=ctx.ring, account_id=account_id)
        point = json.loads(
            cipher.decrypt("signal_history", _row_id(account_id, row.category_index, row.day), row.point)
        )
        out.setdefault(point["category"], []).append(
            {"day": date.fromisoformat(row.day), "score": float(point["score"]), "stage": point["stage"]}
        )
    return out


def delete_for(*, session: Session, account_id: str) -> None:
    """Remove the consumer's whole history (account deletion)."""
    session.connection().execute(delete(_H).where(_H.c.account_id == account_id))


def install(ctx: VaultContext) -> None:
    """Record history for every signal change under ``ctx`` (idempotent)."""
    hooks.subscribe(ctx, record)
