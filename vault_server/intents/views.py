"""HTTP surface of the intents room: gesture ingest, the consumer's own gestures, intents, settings, signals."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import ValidationError
from sqlmodel import Session

from vault_server.accounts import service as accounts
from vault_server.context import VaultContext
from vault_server.crypto.service import cipher_for
from vault_server.errors import Forbidden, Unauthorized, ValidationFailed, VaultError
from vault_server.intents import batch, service
from vault_server.intents.schemas import (
    BatchResult,
    DeleteResult,
    GestureBatch,
    GesturePage,
    IntentIn,
    IntentOut,
    IntentPatch,
    SettingsIn,
    SettingsOut,
    SignalList,
)
from vault_server.intents.service import GestureFilter
from vault_server.signals.schema import gesture_json_schema
from vault_server.signals.service import signals_for
from vault_server.web.deps import Ctx, CurrentPrincipal, _bearer, current_principal, get_ctx

router = APIRouter(tags=["gestures, intents and signals"])

Since = Annotated[datetime | None, Query(description="RFC 3339; inclusive")]
Until = Annotated[datetime | None, Query(description="RFC 3339; exclusive")]


def _filter(category: str | None, type_: str | None, since: datetime | None, until: datetime | None) -> GestureFilter:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a time zone (Z or +hh:mm)")
    return GestureFilter(category=category, type=type_, since=since, until=until)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _gesture_batch(body: bytes, content_type: str | None) -> GestureBatch:
    """The request body as a batch, validated from the raw bytes in one pass (pydantic-core parses the JSON);
    errors as FastAPI reports a body's (``loc`` starts with "body"; bad JSON is a ``json_invalid`` 400)."""
    try:
        if not body:
            raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
        if not _is_json(content_type):
            return GestureBatch.model_validate(body)  # not an object: fails as FastAPI's body parsing would
        return GestureBatch.model_validate_json(body)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False, include_input=False)]
        raise RequestValidationError(errors) from None


PERSONAL_PREFIXES = ("ivp_", "ivd_")  # personal and device tokens (web.deps.personal_token_resolver)
WRITE_SCOPE = "gestures:write"


class _IngestJob(batch.Job):
    """One ``POST /v1/gestures`` for the ingest batcher: the body is validated and ingested for its caller."""

    def __init__(self, request: Request, ctx: VaultContext, body: bytes):
        self.request, self.ctx, self.body, self.size = request, ctx, body, len(body)
        bearer = _bearer(request)
        self.personal = bearer if bearer is not None and bearer.startswith(PERSONAL_PREFIXES) else None

    def caller(self, session: Session, live: dict[str, accounts.TokenCaller]) -> str:
        """The caller's account id, with the rules of ``web.deps.current_principal`` (a personal or device token
        from ``live``, anything else through the app's resolvers in this transaction); raises the refusal."""
        if self.personal is None:
            self.request.state.db_session = session  # web.deps' resolvers use it (one connection, one transaction)
            try:
                principal = current_principal(self.request, self.ctx)
            finally:
                self.request.state.db_session = None
            principal.require(WRITE_SCOPE)
            return principal.account.id
        found = live.get(self.personal)
        if found is None:
            raise Unauthorized(
                "the bearer token is invalid, expired or revoked",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        self.request.app.state.limiter.hit(found.token_id)
        if WRITE_SCOPE not in found.scopes:
            raise Forbidden(f"this credential lacks the scope {WRITE_SCOPE!r}", extra={"required_scope": WRITE_SCOPE})
        return found.account_id

    def run(self, session: Session, account_id: str) -> bytes:
        events = _gesture_batch(self.body, self.request.headers.get("content-type")).events
        result = service.ingest(session=session, ctx=self.ctx, account_id=account_id, events=events)
        return result.model_dump_json().encode()


def _callers(session: Session, jobs: Sequence[batch.Job]) -> list[str | batch.Refusal]:
    """Who sent each POST of a batch: every personal and device token in one query (read in the batch's
    transaction, so a revoked token is refused at once), then each POST's own checks (rate limit, scope)."""
    mine = cast(list[_IngestJob], list(jobs))
    live = accounts.token_callers(session=session, tokens={j.personal for j in mine if j.personal is not None})
    out: list[str | batch.Refusal] = []
    for job in mine:
        try:
            out.append(job.caller(session, live))
        except VaultError as exc:
            out.append(exc)
    return out


@router.post(
    "/v1/gestures",
    response_model=BatchResult,
    summary="Record a batch of gestures (idempotent by id)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": GestureBatch.model_json_schema()}},
        }
    },
)
async def post_gestures(request: Request) -> Response:
    """At most 500 events and 256 KiB; each event gets its own result: accepted, duplicate or rejected.

    Answered by the ingest batcher (``intents/batch.py``): POSTs arriving together share one transaction and one
    commit, and none is answered before that commit."""
    ctx = get_ctx(request)
    body = await request.body()
    answer = await asyncio.wrap_future(batch.batcher_for(ctx, _callers).submit(_IngestJob(request, ctx, body)))
    return Response(answer, media_type="application/json")


@router.get("/v1/gestures", response_model=GesturePage, summary="Your recorded gestures, newest first")
def get_gestures(
    principal: CurrentPrincipal,
    ctx: Ctx,
    category: str | None = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[str | None, Query(max_length=300)] = None,
) -> dict[str, Any]:
    principal.require("signals:read:self")
    with ctx.db.session() as s:
        items, next_cursor = service.list_gestures(
            session=s,
            ctx=ctx,
            account_id=principal.account.id,
            flt=_filter(category, type, since, until),
            limit=limit,
            cursor=cursor,
        )
    return {"items": items, "next_cursor": next_cursor}


@router.delete("/v1/gestures/{event_id}", response_model=DeleteResult, summary="Delete one gesture")
def delete_gesture(event_id: str, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, int]:
    principal.require("gestures:write")
    with ctx.db.session() as s:
        deleted, recomputed = service.delete_gestures(
            session=s, ctx=ctx, account_id=principal.account.id, flt=GestureFilter(), event_id=event_id
        )
    return {"deleted": deleted, "recomputed_categories": recomputed}


@router.delete("/v1/gestures", response_model=DeleteResult, summary="Delete a range of gestures, or all")
def delete_gesture_range(
    principal: CurrentPrincipal,
    ctx: Ctx,
    category: str | None = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
    since: Since = None,
    until: Until = None,
    all: bool = False,
) -> dict[str, int]:
    """Needs at least one filter, or ``all=true`` to delete everything; signals are recomputed."""
    principal.require("gestures:write")
    flt = _filter(category, type, since, until)
    if not all and flt == GestureFilter():
        raise ValidationFailed("give category, type, since or until — or all=true to delete every gesture")
    with ctx.db.session() as s:
        deleted, recomputed = service.delete_gestures(session=s, ctx=ctx, account_id=principal.account.id, flt=flt)
    return {"deleted": deleted, "recomputed_categories": recomputed}


CSV_FIELDS = (
    "id",
    "type",
    "ts",
    "category",
    "origin",
    "path",
    "dwell_ms",
    "scroll",
    "query",
    "product_name",
    "product_brand",
    "product_price",
    "product_currency",
    "product_sku",
    "value",
)


def _csv_safe(value: Any) -> Any:
    """Neutralise spreadsheet formulas (CSV injection) in text cells."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


@router.get("/v1/gestures/export.csv", summary="Your gestures as CSV")
def export_csv(principal: CurrentPrincipal, ctx: Ctx) -> StreamingResponse:
    principal.require("account:read")

    def rows() -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_FIELDS)
        with ctx.db.session() as s:
            for item in service.iter_all_gestures(session=s, ctx=ctx, account_id=principal.account.id):
                e, p = item["event"], item["event"].get("product") or {}
                writer.writerow(
                    [
                        _csv_safe(v)
                        for v in (
                            item["id"],
                            item["type"],
                            e.get("ts"),
                            item["category"],
                            e.get("origin"),
                            e.get("path"),
                            e.get("dwell_ms"),
                            e.get("scroll"),
                            e.get("query"),
                            p.get("name"),
                            p.get("brand"),
                            p.get("price"),
                            p.get("currency"),
                            p.get("sku"),
                            e.get("value"),
                        )
                    ]
                )
                if buf.tell() > 65536:
                    yield buf.getvalue()
                    buf.seek(0)
                    buf.truncate()
        yield buf.getvalue()

    return StreamingResponse(
        rows(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="gestures.csv"'},
    )


@router.get("/v1/schemas/gesture.json", summary="JSON Schema of one gesture event", tags=["meta"])
def gesture_schema() -> JSONResponse:
    return JSONResponse(gesture_json_schema(), media_type="application/schema+json")


@router.get("/v1/categories", summary="The category taxonomy (ids, names, parents, sensitivity)", tags=["meta"])
def categories(ctx: Ctx) -> dict[str, Any]:
    policy = ctx.policy
    return {
        "policy_hash": policy.hash,
        "categories": [
            {
                "id": n.id,
                "name": n.name,
                "parent": n.parent,
                "leaf": policy.is_leaf(n.id),
                "sensitive": policy.is_sensitive(n.id),
            }
            for n in policy.nodes.values()
        ],
    }


# ---- settings -------------------------------------------------------------------------------------------
def _settings_out(ctx: Ctx, paused: bool, opt_ins: list[str]) -> dict[str, Any]:
    return {"paused": paused, "opt_in_categories": opt_ins, "sensitive_categories": sorted(ctx.policy.sensitive_ids)}


@router.get("/v1/me/settings", response_model=SettingsOut, summary="Recording settings (the extension reads them)")
def get_settings(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        cipher = cipher_for(session=s, ring=ctx.ring, account_id=principal.account.id)
        return _settings_out(ctx, principal.account.paused, service.get_opt_ins(session=s, cipher=cipher))


@router.put("/v1/me/settings", response_model=SettingsOut, summary="Pause/resume recording; sensitive opt-ins")
def put_settings(body: SettingsIn, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    principal.require("intents:write")
    with ctx.db.session() as s:
        paused, opt_ins = service.update_settings(
            session=s, ctx=ctx, account=principal.account, paused=body.paused, opt_ins=body.opt_in_categories
        )
    return _settings_out(ctx, paused, opt_ins)


# ---- signals ----------------------------------------------------------------------------------------------
@router.get("/v1/signals", response_model=SignalList, summary="Your intent signals, strongest first")
def get_signals(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    principal.require("signals:read:self")
    with ctx.db.session() as s:
        return {"signals": signals_for(session=s, ctx=ctx, account_id=principal.account.id)}


# ---- declared intents -----------------------------------------------------------------------------------
@router.post("/v1/intents", status_code=201, response_model=IntentOut, summary="Declare an intent")
def post_intent(body: IntentIn, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    principal.require("intents:write")
    with ctx.db.session() as s:
        return service.create_intent(session=s, ctx=ctx, account_id=principal.account.id, body=body)


@router.get("/v1/intents", response_model=list[IntentOut], summary="Your declared intents")
def get_intents(principal: CurrentPrincipal, ctx: Ctx) -> list[dict[str, Any]]:
    principal.require("signals:read:self")
    with ctx.db.session() as s:
        return service.list_intents(session=s, ctx=ctx, account_id=principal.account.id)


@router.get("/v1/intents/{intent_id}", response_model=IntentOut, summary="One declared intent")
def get_intent(intent_id: str, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    principal.require("signals:read:self")
    with ctx.db.session() as s:
        return service.get_intent(session=s, ctx=ctx, account_id=principal.account.id, intent_id=intent_id)


@router.patch("/v1/intents/{intent_id}", response_model=IntentOut, summary="Change or close an intent")
def patch_intent(intent_id: str, body: IntentPatch, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    principal.require("intents:write")
    with ctx.db.session() as s:
        return service.update_intent(
            session=s, ctx=ctx, account_id=principal.account.id, intent_id=intent_id, patch=body
        )


@router.delete("/v1/intents/{intent_id}", status_code=204, summary="Delete an intent (its signal follows)")
def delete_intent(intent_id: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    principal.require("intents:write")
    with ctx.db.session() as s:
        service.delete_intent(session=s, ctx=ctx, account_id=principal.account.id, intent_id=intent_id)
    return Response(status_code=204)
