"""Just Ask: a vendor with ``questions:write`` in a consumer's grant asks a multiple-choice or short-text
question; consumers answer or ignore it on their terms, and can turn a vendor's questions off.

Rate limits protect consumers: a vendor may ask ``VENDOR_PER_DAY`` questions per 24 hours (429 beyond), and a
consumer receives at most ``CONSUMER_PER_WEEK`` questions per 7 days from all vendors together and at most one
per vendor per day (the rest are skipped and counted in the response). Answers are encrypted with the
consumer's key, reach the vendor through the feed and the ``question.answered`` webhook, and the vendor also sees
aggregate counts.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import delete, func
from sqlmodel import Session, col, select

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.crypto.envelope import DecryptionError
from vault_server.crypto.service import DataKeyGone, cipher_for
from vault_server.db import utcnow
from vault_server.errors import Conflict, NotFound, RateLimited, ValidationFailed
from vault_server.feed.models import Question, QuestionDelivery, VendorPreference
from vault_server.feed.service import emit, grant_is_live
from vault_server.grants.models import Grant
from vault_server.vendors.models import VendorApp

VENDOR_PER_DAY = 5
CONSUMER_PER_WEEK = 3
CONSUMER_PER_VENDOR_PER_DAY = 1
SCOPE = "questions:write"


class QuestionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["choice", "text"]
    prompt: str = Field(min_length=3, max_length=500)
    choices: list[str] = Field(default_factory=list, max_length=10)
    open_days: int = Field(default=7, ge=1, le=30)

    @model_validator(mode="after")
    def _choices(self) -> QuestionIn:
        if self.kind == "choice":
            cleaned = [c.strip() for c in self.choices]
            if len(cleaned) < 2 or any(not c or len(c) > 100 for c in cleaned) or len(set(cleaned)) != len(cleaned):
                raise ValueError("a choice question needs 2 to 10 distinct, non-empty choices of up to 100 characters")
            self.choices = cleaned
        elif self.choices:
            raise ValueError("a text question has no choices")
        return self


class AnswerIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    choice: str | None = None
    text: str | None = Field(default=None, max_length=500)


def ask(*, session: Session, ctx: VaultContext, vendor_id: str, body: QuestionIn) -> dict[str, Any]:
    """Create a question and deliver it to every consumer whose live grant includes ``questions:write``, within
    the rate limits and the consumers' switches. Returns the question with delivery counts."""
    now = utcnow()
    asked = session.exec(
        select(func.count())
        .select_from(Question)
        .where(Question.vendor_id == vendor_id, col(Question.created_at) > now - timedelta(days=1))
    ).one()
    if int(asked) >= VENDOR_PER_DAY:
        raise RateLimited(f"at most {VENDOR_PER_DAY} questions per vendor per 24 hours", retry_after=3600)
    question = Question(
        id=str(uuid.uuid4()),
        vendor_id=vendor_id,
        kind=body.kind,
        prompt=body.prompt.strip(),
        choices=body.choices,
        created_at=now,
        closes_at=now + timedelta(days=body.open_days),
    )
    session.add(question)
    session.flush()
    grants = session.exec(
        select(Grant).where(Grant.vendor_id == vendor_id, col(Grant.revoked_at).is_(None), col(Grant.expires_at) > now)
    ).all()
    opted_out = set(
        session.exec(
            select(VendorPreference.account_id).where(
                VendorPreference.vendor_id == vendor_id,
                (col(VendorPreference.questions_off).is_(True)) | (col(VendorPreference.blocked).is_(True)),
            )
        )
    )
    delivered = skipped_limit = skipped_off = 0
    for grant in grants:
        if SCOPE not in grant.scope.split():
            continue
        if grant.account_id in opted_out:
            skipped_off += 1
            continue
        if _over_consumer_limit(session, grant.account_id, vendor_id, now):
            skipped_limit += 1
            continue
        delivery_id = str(uuid.uuid4())
        session.add(
            QuestionDelivery(
                id=delivery_id,
                question_id=question.id,
                account_id=grant.account_id,
                grant_id=grant.id,
                subject=grant.subject,
                created_at=now,
            )
        )
        session.flush()
        audit.record(
            session=session,
            ctx=ctx,
            kind="question.asked",
            actor=f"vendor:{vendor_id}",
            consumer_id=grant.account_id,
            details={"vendor_id": vendor_id, "question_id": question.id, "delivery_id": delivery_id,
                     "grant_id": grant.id, "categories": []},
        )  # fmt: skip
        delivered += 1
    return {
        **question_view(question),
        "delivered": delivered,
        "skipped_rate_limited": skipped_limit,
        "skipped_opted_out": skipped_off,
    }


def _over_consumer_limit(session: Session, account_id: str, vendor_id: str, now: Any) -> bool:
    week = session.exec(
        select(func.count())
        .select_from(QuestionDelivery)
        .where(QuestionDelivery.account_id == account_id, col(QuestionDelivery.created_at) > now - timedelta(days=7))
    ).one()
    if int(week) >= CONSUMER_PER_WEEK:
        return True
    today = session.exec(
        select(func.count())
        .select_from(QuestionDelivery)
        .join(Question, col(Question.id) == col(QuestionDelivery.question_id))
        .where(
            QuestionDelivery.account_id == account_id,
            Question.vendor_id == vendor_id,
            col(QuestionDelivery.created_at) > now - timedelta(days=1),
        )
    ).one()
    return int(today) >= CONSUMER_PER_VENDOR_PER_DAY


def question_view(q: Question) -> dict[str, Any]:
    return {
        "id": q.id,
        "kind": q.kind,
        "prompt": q.prompt,
        "choices": list(q.choices),
        "created_at": q.created_at.isoformat(),
        "closes_at": q.closes_at.isoformat(),
        "open": q.closes_at > utcnow(),
    }


def _answer(session: Session, ctx: VaultContext, d: QuestionDelivery) -> dict[str, Any] | None:
    if d.answer_enc is None:
        return None
    try:
        cipher = cipher_for(session=session, ring=ctx.ring, account_id=d.account_id)
        doc: dict[str, Any] = json.loads(cipher.decrypt("question_delivery", d.id, d.answer_enc))
    except (DataKeyGone, DecryptionError):
        return None
    return doc


def inbox(*, session: Session, account_id: str, status: str | None = "pending") -> list[dict[str, Any]]:
    """The consumer's questions (pending by default) with the asking vendor's name."""
    query = (
        select(QuestionDelivery, Question, VendorApp.name)
        .join(Question, col(Question.id) == col(QuestionDelivery.question_id))
        .join(VendorApp, col(VendorApp.id) == col(Question.vendor_id))
        .where(QuestionDelivery.account_id == account_id)
    )
    if status:
        query = query.where(QuestionDelivery.status == status)
    rows = session.exec(query.order_by(col(QuestionDelivery.created_at).desc())).all()
    now = utcnow()
    return [
        {
            "id": d.id,
            "status": d.status,
            "vendor": {"client_id": q.vendor_id, "name": name},
            **{k: v for k, v in question_view(q).items() if k != "id"},
            "question_id": q.id,
            "open": q.closes_at > now,
        }
        for d, q, name in rows
        if not (status == "pending" and q.closes_at <= now)
    ]


def pending_count(*, session: Session, account_id: str) -> int:
    return int(
        session.exec(
            select(func.count())
            .select_from(QuestionDelivery)
            .join(Question, col(Question.id) == col(QuestionDelivery.question_id))
            .where(
                QuestionDelivery.account_id == account_id,
                QuestionDelivery.status == "pending",
                col(Question.closes_at) > utcnow(),
            )
        ).one()
    )


def _delivery(session: Session, account_id: str, delivery_id: str) -> tuple[QuestionDelivery, Question]:
    d = session.get(QuestionDelivery, delivery_id)
    if d is None or d.account_id != account_id:
        raise NotFound("no such question")
    q = session.get(Question, d.question_id)
    assert q is not None
    if d.status != "pending":
        raise Conflict(f"this question was already {d.status}")
    if q.closes_at <= utcnow():
        raise Conflict("this question is closed")
    return d, q


def answer(*, session: Session, ctx: VaultContext, account_id: str, delivery_id: str, body: AnswerIn) -> dict[str, Any]:
    """Store the consumer's answer (encrypted) and tell the vendor by feed and webhook; returns the delivery."""
    d, q = _delivery(session, account_id, delivery_id)
    if q.kind == "choice":
        if body.choice not in q.choices or body.text:
            raise ValidationFailed("answer with one of the question's choices")
        doc: dict[str, Any] = {"choice": body.choice}
    else:
        text = (body.text or "").strip()
        if not text or body.choice:
            raise ValidationFailed("answer with a short text")
        doc = {"text": text}
    cipher = cipher_for(session=session, ring=ctx.ring, account_id=account_id)
    d.answer_enc = cipher.encrypt("question_delivery", d.id, json.dumps(doc).encode())
    d.status = "answered"
    d.answered_at = utcnow()
    session.add(d)
    session.flush()
    audit.record(
        session=session,
        ctx=ctx,
        kind="question.answered",
        actor="consumer",
        consumer_id=account_id,
        details={"vendor_id": q.vendor_id, "question_id": q.id, "delivery_id": d.id, "grant_id": d.grant_id,
                 "categories": []},
        private={"answer": doc},
    )  # fmt: skip
    grant = session.get(Grant, d.grant_id)
    if grant_is_live(grant) and grant is not None:
        emit(
            session,
            vendor_id=q.vendor_id,
            subject=d.subject,
            grant_id=d.grant_id,
            kind="question.answered",
            ref_id=d.id,
        )
    return {"id": d.id, "status": d.status, "question_id": q.id, "answer": doc}


def ignore(*, session: Session, account_id: str, delivery_id: str) -> None:
    d, _ = _delivery(session, account_id, delivery_id)
    d.status = "ignored"
    session.add(d)


def answer_event(session: Session, ctx: VaultContext, delivery_id: str) -> dict[str, Any] | None:
    """The feed/webhook data of one answer, or None when it is gone."""
    d = session.get(QuestionDelivery, delivery_id)
    if d is None or d.status != "answered":
        return None
    doc = _answer(session, ctx, d)
    if doc is None:
        return None
    return {
        "question_id": d.question_id,
        "answer": doc,
        "answered_at": d.answered_at.isoformat() if d.answered_at else None,
    }


def results(*, session: Session, ctx: VaultContext, vendor_id: str, question_id: str) -> dict[str, Any]:
    """Aggregate results of the vendor's own question: delivery states and, for choices, counts per choice."""
    q = session.get(Question, question_id)
    if q is None or q.vendor_id != vendor_id:
        raise NotFound("no such question")
    deliveries = session.exec(select(QuestionDelivery).where(QuestionDelivery.question_id == question_id)).all()
    states = Counter(d.status for d in deliveries)
    out: dict[str, Any] = {
        **question_view(q),
        "delivered": len(deliveries),
        "answered": states.get("answered", 0),
        "ignored": states.get("ignored", 0),
        "pending": states.get("pending", 0),
    }
    if q.kind == "choice":
        counts: Counter[str] = Counter()
        for d in deliveries:
            doc = _answer(session, ctx, d) if d.status == "answered" else None
            if doc is not None:
                counts[str(doc.get("choice"))] += 1
        out["choices"] = [{"choice": c, "count": counts.get(c, 0)} for c in q.choices]
    return out


def list_for_vendor(*, session: Session, vendor_id: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = session.exec(
        select(Question).where(Question.vendor_id == vendor_id).order_by(col(Question.created_at).desc()).limit(limit)
    ).all()
    return [question_view(q) for q in rows]


def delete_all_for(*, session: Session, account_id: str) -> None:
    session.execute(delete(QuestionDelivery).where(col(QuestionDelivery.account_id) == account_id))
