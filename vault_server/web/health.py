"""Liveness, readiness and the published signing keys."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from vault_server.db import check_migrated
from vault_server.errors import ConfigError, Unavailable
from vault_server.web.deps import Ctx

router = APIRouter(tags=["meta"])
HEALTHY = {"status": "ok"}
JWKS_CACHE_CONTROL = "public, max-age=300"

# /healthz, the JWKS and the AS metadata are answered by web.middleware.StaticDocumentsMiddleware from
# precomputed bytes; these routes document them in the OpenAPI schema and serve them if that layer is absent.


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return dict(HEALTHY)


@router.get("/readyz", summary="The database is reachable and migrated to head")
def readyz(ctx: Ctx) -> JSONResponse:
    try:
        check_migrated(ctx.db)
    except ConfigError as exc:
        raise Unavailable(str(exc)) from None
    return JSONResponse({"status": "ready", "database": ctx.db.dialect})


@router.get("/.well-known/jwks.json", summary="The vault's public signing keys (RFC 7517)")
def jwks(ctx: Ctx) -> JSONResponse:
    return JSONResponse(ctx.keyset.jwks(), headers={"Cache-Control": JWKS_CACHE_CONTROL})
