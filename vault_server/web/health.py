"""Liveness, readiness and the published signing keys."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from vault_server.db import check_migrated
from vault_server.errors import ConfigError
from vault_server.web.deps import Ctx

router = APIRouter(tags=["meta"])


@router.get("/healthz", summary="The process is up")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database is reachable and migrated to head")
def readyz(ctx: Ctx) -> JSONResponse:
    try:
        check_migrated(ctx.db)
    except ConfigError as exc:
        return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
    return JSONResponse({"status": "ready", "database": ctx.db.dialect})


@router.get("/.well-known/jwks.json", summary="The vault's public signing keys (RFC 7517)")
def jwks(ctx: Ctx) -> JSONResponse:
    return JSONResponse(ctx.keyset.jwks(), headers={"Cache-Control": "public, max-age=300"})
