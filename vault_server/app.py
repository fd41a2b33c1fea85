"""``create_app(settings)``: the only place routers, middleware and lifespan are wired."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from vault_server import __version__
from vault_server.accounts.pages import router as accounts_pages
from vault_server.accounts.views import router as accounts_router
from vault_server.audit.tasks import sth_scheduler
from vault_server.audit.views import router as audit_router
from vault_server.config import Settings
from vault_server.context import VaultContext, build_context
from vault_server.db import check_migrated
from vault_server.feed import hooks as feed_hooks
from vault_server.feed.pages import router as feed_pages
from vault_server.feed.release import release_loop
from vault_server.feed.views import router as feed_router
from vault_server.grants.tasks import grant_expiry_loop
from vault_server.grants.views import router as grants_router
from vault_server.intents.pages import dashboard_context as intents_dashboard
from vault_server.intents.pages import router as intents_pages
from vault_server.intents.tasks import maintenance_loop
from vault_server.intents.views import router as intents_router
from vault_server.logs import configure_logging
from vault_server.oauth import errors as oauth_errors
from vault_server.oauth.metadata import server_metadata
from vault_server.oauth.resource import oauth_bearer_resolver
from vault_server.oauth.resource import router as oauth_resource_router
from vault_server.oauth.token import TokenEndpoint
from vault_server.oauth.views import router as oauth_router
from vault_server.reports.pages import router as reports_pages
from vault_server.reports.views import router as reports_router
from vault_server.signals import history as signal_history
from vault_server.terms.views import router as terms_router
from vault_server.vendors.views import router as vendors_router
from vault_server.web import health, openapi, pages, problems
from vault_server.web.deps import RateLimiter, personal_token_resolver
from vault_server.web.middleware import (
    BodyLimitMiddleware,
    RequestContextMiddleware,
    StaticDocument,
    StaticDocumentsMiddleware,
)

JWKS_REBUILD_SECONDS = 2.0  # plus the key set's own re-read (2 s): a rotation is published within ~4 s


def create_app(settings: Settings | None = None, *, ctx: VaultContext | None = None, check_db: bool = True) -> FastAPI:
    """Build the ASGI app. Refuses (ConfigError) when keys are unusable or the database is not migrated."""
    settings = settings or (ctx.settings if ctx else Settings())
    ctx = ctx or build_context(settings)
    if check_db:
        check_migrated(ctx.db)
    configure_logging(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        _ = ctx.keyset  # create/load signing keys before the first request
        stop = asyncio.Event()
        tasks = [asyncio.create_task(job(ctx, stop)) for job in app.state.background_jobs]
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                try:
                    await asyncio.wait_for(task, timeout=10)
                except (TimeoutError, asyncio.CancelledError):
                    task.cancel()
            ctx.db.dispose()

    app = FastAPI(
        title="Intent Vault",
        version=__version__,
        summary="Consumer-controlled intent signals, shared only through scoped, revocable, audited grants.",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.limiter = RateLimiter(settings.api_rate_per_minute)
    app.state.bearer_resolvers = [personal_token_resolver]
    app.state.bearer_resolvers.append(oauth_bearer_resolver)
    # Periodic background jobs ``async def job(ctx, stop_event)``, started and stopped with the app.
    app.state.background_jobs = [maintenance_loop, sth_scheduler]
    app.state.background_jobs.append(grant_expiry_loop)
    app.state.background_jobs.append(release_loop)  # daily/weekly digests, anonymous cast batches
    # The rooms' sections of the consumer dashboard (web/pages.py renders them without importing the rooms).
    app.state.dashboard_sections = [("intents_view", intents_dashboard)]
    problems.install(app)
    feed_hooks.install(ctx)  # grant and signal changes write their feed rows in the same transaction
    signal_history.install(ctx)  # the dashboard's strength-over-time points, in the same transaction
    oauth_errors.install(app)
    app.include_router(health.router)
    app.include_router(accounts_router)
    app.include_router(accounts_pages)
    app.include_router(intents_router)
    app.include_router(intents_pages)
    app.include_router(audit_router)
    app.include_router(oauth_router)
    app.include_router(oauth_resource_router)
    app.include_router(grants_router)
    app.include_router(vendors_router)
    app.include_router(feed_router)
    app.include_router(feed_pages)
    app.include_router(reports_router)
    app.include_router(reports_pages)
    app.include_router(terms_router)
    app.include_router(pages.router)
    openapi.install(app)  # every response described, errors as problem details
    app.mount("/static", StaticFiles(directory=str(Path(__file__).resolve().parent / "web" / "static")), name="static")
    # POST /oauth/token without routing (issue 12); its route in oauth/views.py stays for the OpenAPI document
    app.add_middleware(TokenEndpoint, ctx=ctx, handlers=app.exception_handlers, max_bytes=settings.max_body_bytes)
    app.add_middleware(StaticDocumentsMiddleware, documents=static_documents(ctx))
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app


def static_documents(ctx: VaultContext) -> list[StaticDocument]:
    """The documents answered from precomputed bytes (their routes stay in the router for the OpenAPI schema)."""
    return [
        StaticDocument("/healthz", health.HEALTHY.copy, cache_control="no-store"),
        StaticDocument(
            "/.well-known/oauth-authorization-server",
            lambda: server_metadata(ctx),
            cache_control="public, max-age=300",
        ),
        StaticDocument(
            "/.well-known/jwks.json",
            lambda: ctx.keyset.jwks(),
            ttl=JWKS_REBUILD_SECONDS,
            cache_control=health.JWKS_CACHE_CONTROL,
        ),
    ]
