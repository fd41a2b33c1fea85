"""HTTP surface of the feed room. Thin: rules live in service, webhooks, offers and questions.

Vendors authenticate as their OAuth client (HTTP Basic ``client_id:client_secret``, RFC 6749 §2.3.1): the feed,
webhooks, offers and questions act across every consumer who granted the vendor, so they take the vendor's own
credential; what each consumer shares is decided by that consumer's grant, checked per item.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.errors import Forbidden, Unauthorized
from vault_server.feed import offers, outbox, questions, service, webhooks
from vault_server.oauth.clientauth import authenticate_client
from vault_server.oauth.errors import OAuthError
from vault_server.vendors.models import VendorApp
from vault_server.web.deps import Ctx, CurrentPrincipal, Principal

router = APIRouter(tags=["feed"])
NO_STORE = {"Cache-Control": "no-store"}


def vendor_client(request: Request, ctx: Ctx) -> VendorApp:
    """Dependency: the approved vendor app authenticated with HTTP Basic client credentials; 401 otherwise."""
    with ctx.db.session() as s:
        return authenticated_vendor(request, ctx, s)


def authenticated_vendor(request: Request, ctx: VaultContext, session: Session) -> VendorApp:
    """The approved vendor app of the request's HTTP Basic client credentials, read in ``session`` (so a feed read
    authenticates in the transaction that serves it); 401 otherwise, 403 for a first-party client."""
    if not request.headers.get("authorization", "").lower().startswith("basic "):
        raise Unauthorized(
            "authenticate with your client_id and client_secret (HTTP Basic)",
            headers={"WWW-Authenticate": 'Basic realm="vault"'},
        )
    try:
        app = authenticate_client(request=request, form={}, session=session, ctx=ctx)
    except OAuthError as exc:
        raise Unauthorized(exc.description, headers={"WWW-Authenticate": 'Basic realm="vault"'}) from None
    if app.first_party:
        raise Forbidden("first-party clients have no vendor feed")
    request.app.state.limiter.hit("vendor:" + app.id)
    return app


Vendor = Annotated[VendorApp, Depends(vendor_client)]


def consumer(principal: Principal, scope: str, *alternatives: str) -> str:
    """The consumer's account id, for a credential holding ``scope`` or one of ``alternatives``."""
    principal.require_any(scope, *alternatives)
    principal.require_role("consumer")
    return principal.account.id


# ---- feed -------------------------------------------------------------------------------------------------------
@router.get("/v1/feed", summary="Changes for every consumer who granted you, within each grant, after a cursor")
def feed(
    request: Request,
    ctx: Ctx,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=service.MAX_LIMIT)] = service.DEFAULT_LIMIT,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    # one transaction from authentication to the audit entries: a 304 costs the client lookup and one statement
    # (rows waiting for a position? the vendor's head), a page adds its constant set of statements
    with ctx.db.session() as s:
        vendor = authenticated_vendor(request, ctx, s)
        head = service.ready_head(session=s, ctx=ctx, vendor_id=vendor.id)
        # a validator from a previous page: compare (cursor, the feed's head, limit) before building anything
        etag = service.not_modified(
            ctx=ctx, vendor_id=vendor.id, cursor=cursor, limit=limit, head=head, if_none_match=if_none_match
        )
        if etag is not None:
            return Response(status_code=304, headers={"ETag": etag, **NO_STORE})
        page = service.read_page(session=s, ctx=ctx, vendor_id=vendor.id, cursor=cursor, limit=limit)
        service.record_reads(session=s, ctx=ctx, vendor_id=vendor.id, audits=page.audits, ciphers=page.ciphers)
    # the audit entries are committed: only now may the data leave
    return JSONResponse(page.body(), headers={"ETag": page.etag, **NO_STORE})


# ---- webhooks (vendor) ----------------------------------------------------------------------------------------------
@router.get("/v1/webhooks", summary="Your webhook endpoints")
def list_webhooks(vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        rows = webhooks.list_endpoints(session=s, vendor_id=vendor.id)
        return {"endpoints": [webhooks.endpoint_view(e) for e in rows], "event_types": list(webhooks.EVENT_TYPES)}


@router.post("/v1/webhooks", status_code=201, summary="Register an HTTPS endpoint; the whsec_ secret is shown once")
def create_webhook(body: webhooks.EndpointIn, vendor: Vendor, ctx: Ctx) -> JSONResponse:
    with ctx.db.session() as s:
        endpoint, secret = webhooks.create_endpoint(session=s, ctx=ctx, vendor_id=vendor.id, body=body)
        out = webhooks.endpoint_view(endpoint, secret)
    return JSONResponse(out, status_code=201, headers=NO_STORE)


@router.patch("/v1/webhooks/{endpoint_id}", summary="Change events, enable or disable an endpoint")
def update_webhook(endpoint_id: str, patch: webhooks.EndpointPatch, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        endpoint = webhooks.update_endpoint(session=s, vendor_id=vendor.id, endpoint_id=endpoint_id, patch=patch)
        return webhooks.endpoint_view(endpoint)


@router.delete("/v1/webhooks/{endpoint_id}", status_code=204, summary="Remove an endpoint and its pending messages")
def delete_webhook(endpoint_id: str, vendor: Vendor, ctx: Ctx) -> Response:
    with ctx.db.session() as s:
        webhooks.delete_endpoint(session=s, vendor_id=vendor.id, endpoint_id=endpoint_id)
    return Response(status_code=204)


@router.get("/v1/webhooks/deliveries", summary="Recent deliveries (pending, delivered, skipped, dead)")
def list_deliveries(
    vendor: Vendor,
    ctx: Ctx,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    with ctx.db.session() as s:
        rows = outbox.list_for_vendor(s, vendor_id=vendor.id, status=status, limit=limit)
        return {"deliveries": [webhooks.delivery_view(r) for r in rows]}


@router.post("/v1/webhooks/deliveries/{message_id}/replay", summary="Send a message again (e.g. a dead one)")
def replay_delivery(message_id: str, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        row = webhooks.replay(session=s, ctx=ctx, vendor_id=vendor.id, message_id=message_id, via="api")
        return webhooks.delivery_view(row)


@router.post("/v1/webhooks/replay-dead", summary="Replay every dead message")
def replay_dead(vendor: Vendor, ctx: Ctx, endpoint_id: str | None = None) -> dict[str, int]:
    with ctx.db.session() as s:
        return {"replayed": webhooks.replay_dead(session=s, ctx=ctx, vendor_id=vendor.id, endpoint_id=endpoint_id)}


# ---- intentcasts and offers (vendor) -----------------------------------------------------------------------------
class CategoriesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    categories: list[str] = Field(max_length=offers.MAX_CAST_CATEGORIES)


@router.put("/v1/vendor/intentcasts/categories", summary="Categories whose anonymous intentcasts you want")
def put_cast_categories(body: CategoriesIn, vendor: Vendor, ctx: Ctx) -> dict[str, list[str]]:
    with ctx.db.session() as s:
        return {
            "categories": offers.set_cast_categories(
                session=s, ctx=ctx, vendor_id=vendor.id, categories=body.categories
            )
        }


@router.get("/v1/vendor/intentcasts", summary="Open intentcasts you received")
def vendor_casts(vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        items = offers.open_casts_for_vendor(session=s, ctx=ctx, vendor_id=vendor.id)
    return {"intentcasts": items}


@router.post("/v1/vendor/intentcasts/{cast_id}/offers", status_code=201, summary="Answer an intentcast with an offer")
def post_offer(cast_id: str, body: offers.OfferIn, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return offers.make_offer(session=s, ctx=ctx, vendor_id=vendor.id, cast_id=cast_id, body=body)


@router.get("/v1/vendor/offers", summary="Your offers and their state")
def get_vendor_offers(vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return {"offers": offers.vendor_offers(session=s, ctx=ctx, vendor_id=vendor.id)}


# ---- questions (vendor) -----------------------------------------------------------------------------------------
@router.post("/v1/vendor/questions", status_code=201, summary="Just Ask: ask the consumers who allowed questions")
def ask_question(body: questions.QuestionIn, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return questions.ask(session=s, ctx=ctx, vendor_id=vendor.id, body=body)


@router.get("/v1/vendor/questions", summary="Your questions")
def vendor_questions(vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return {"questions": questions.list_for_vendor(session=s, vendor_id=vendor.id)}


@router.get("/v1/vendor/questions/{question_id}/results", summary="Aggregate results of one of your questions")
def question_results(question_id: str, vendor: Vendor, ctx: Ctx) -> dict[str, Any]:
    with ctx.db.session() as s:
        return questions.results(session=s, ctx=ctx, vendor_id=vendor.id, question_id=question_id)


# ---- consumer side ----------------------------------------------------------------------------------------------
@router.get("/v1/inbox/summary", summary="Counts for the extension badge: pending offers and questions")
def inbox_summary(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, int]:
    account_id = consumer(principal, "signals:read:self")
    with ctx.db.session() as s:
        return {
            "offers": offers.pending_offers(session=s, account_id=account_id),
            "questions": questions.pending_count(session=s, account_id=account_id),
        }


@router.post("/v1/intentcasts", status_code=201, summary="Cast a declared intent to vendors")
def post_cast(body: offers.CastIn, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "intents:write")
    with ctx.db.session() as s:
        return offers.cast(session=s, ctx=ctx, account_id=account_id, body=body)


@router.get("/v1/intentcasts", summary="Your intentcasts")
def get_casts(principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "signals:read:self")
    with ctx.db.session() as s:
        return {"intentcasts": offers.list_casts(session=s, ctx=ctx, account_id=account_id)}


@router.post("/v1/intentcasts/{cast_id}/close", status_code=204, summary="Stop taking offers for a cast")
def post_close_cast(cast_id: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    account_id = consumer(principal, "intents:write")
    with ctx.db.session() as s:
        offers.close_cast(session=s, account_id=account_id, cast_id=cast_id)
    return Response(status_code=204)


@router.get("/v1/offers", summary="Your offers inbox")
def get_offers(principal: CurrentPrincipal, ctx: Ctx, status: str | None = None) -> dict[str, Any]:
    account_id = consumer(principal, "signals:read:self")
    with ctx.db.session() as s:
        return {"offers": offers.inbox(session=s, ctx=ctx, account_id=account_id, status=status)}


@router.post("/v1/offers/{offer_id}/decision", summary="Accept (optionally revealing identity) or decline an offer")
def post_decision(offer_id: str, body: offers.DecisionIn, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "intents:write")
    with ctx.db.session() as s:
        return offers.decide(session=s, ctx=ctx, account_id=account_id, offer_id=offer_id, body=body)


class PreferenceIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    blocked: bool | None = None
    questions_off: bool | None = None


@router.put("/v1/vendors/{vendor_id}/preferences", summary="Block a vendor, or turn its questions off")
def put_preference(vendor_id: str, body: PreferenceIn, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "intents:write")
    with ctx.db.session() as s:
        pref = offers.set_preference(
            session=s,
            account_id=account_id,
            vendor_id=vendor_id,
            blocked=body.blocked,
            questions_off=body.questions_off,
        )
        return {"vendor_id": vendor_id, "blocked": pref.blocked, "questions_off": pref.questions_off}


@router.get("/v1/questions", summary="Questions vendors asked you")
def get_questions(principal: CurrentPrincipal, ctx: Ctx, status: str | None = "pending") -> dict[str, Any]:
    account_id = consumer(principal, "signals:read:self")
    with ctx.db.session() as s:
        return {"questions": questions.inbox(session=s, account_id=account_id, status=status or None)}


@router.post("/v1/questions/{delivery_id}/answer", summary="Answer a question")
def post_answer(delivery_id: str, body: questions.AnswerIn, principal: CurrentPrincipal, ctx: Ctx) -> dict[str, Any]:
    account_id = consumer(principal, "intents:write")
    with ctx.db.session() as s:
        return questions.answer(session=s, ctx=ctx, account_id=account_id, delivery_id=delivery_id, body=body)


@router.post("/v1/questions/{delivery_id}/ignore", status_code=204, summary="Ignore a question")
def post_ignore(delivery_id: str, principal: CurrentPrincipal, ctx: Ctx) -> Response:
    account_id = consumer(principal, "intents:write")
    with ctx.db.session() as s:
        questions.ignore(session=s, account_id=account_id, delivery_id=delivery_id)
    return Response(status_code=204)
