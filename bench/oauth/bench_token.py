"""Token endpoint throughput (authorization-code exchange, refresh rotation) and introspection latency through
the real HTTP server.

For each backend: a fresh vault, one approved vendor (client_secret_basic), N consumers each with a live grant;
N authorization codes are minted through the service layer (the consent screen is not what is measured), then
exchanged over HTTP from a few client threads; every resulting refresh token is rotated once; then the
introspection endpoint is called one call at a time (on the rotated refresh tokens, and on the JWT access tokens)
for latency percentiles. Every issued token writes an audit entry in the same transaction, as in production.

``peer`` runs the same workload against node-oidc-provider (``bench/oauth/peer``: ``npm ci`` there first), set up
alike: client_secret_basic, PKCE S256, rotating refresh tokens, EdDSA JWT access tokens, its in-memory adapter
(an LRU of 1000 entries: keep --n at or below ~200 when the peer runs).

    .venv/bin/python bench/oauth/bench_token.py [--n 150] [--threads 8] [--backends sqlite,postgres,peer]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import hashlib
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text, update

from vault_server.accounts import service as accounts
from vault_server.config import Settings
from vault_server.context import build_context
from vault_server.crypto.keyring import KeyRing
from vault_server.db import Database, migrate, utcnow
from vault_server.grants import service as grants
from vault_server.oauth import authorize
from vault_server.oauth.models import AuthorizationCode, AuthorizationRequest
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorStatus
from vault_server.vendors.schemas import AppRegistration

ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("VAULT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIRECT = "https://shop.example/cb"
DETAILS = [
    {
        "type": "intent_signals",
        "categories": ["electronics.tv"],
        "min_stage": "interest",
        "fields": ["stage", "score"],
        "purpose": "bench",
        "retention_days": 30,
        "frequency": "daily",
    }
]


def _env(settings: Settings, kek_file: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "VAULT_DATABASE_URL": settings.database_url,
            "VAULT_KEK_FILE": str(kek_file),
            "VAULT_LOG_LEVEL": "WARNING",
            "VAULT_API_RATE_PER_MINUTE": "1000000",
            "VAULT_MAINTENANCE_INTERVAL_SECONDS": "0",
        }
    )
    if settings.database_schema:
        env["VAULT_DATABASE_SCHEMA"] = settings.database_schema
    return env


def prepare(settings: Settings, n: int, verifier: str) -> tuple[str, str, list[str]]:
    """A vendor, n consumers with a grant each, n codes. Returns (client_id, secret, codes)."""
    ctx = build_context(settings)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    codes: list[str] = []
    _ = ctx.keyset  # load (or create) the signing key outside the write transactions below
    try:
        with ctx.db.session() as s:
            app, secret = vendors.register(
                session=s,
                body=AppRegistration(name="Bench Shop", redirect_uris=[REDIRECT]),
                owner_account_id=None,
                via="dynamic",
            )
            vendors.set_status(session=s, client_id=app.id, status=VendorStatus.approved, by="bench")
            client_id = app.id
        assert secret is not None
        for i in range(n):
            with ctx.db.session() as s:
                account = accounts.sign_up(
                    session=s, ring=ctx.ring, hasher=ctx.hasher, email=f"c{i}@bench.example", password="x" * 12
                )
                app = vendors.get_or_raise(session=s, client_id=client_id)
                grant = grants.create(
                    session=s,
                    ctx=ctx,
                    account_id=account.id,
                    app=app,
                    scope=["signals:read"],
                    details=DETAILS,
                    requested={"scope": ["signals:read"], "authorization_details": DETAILS},
                    identity_fields=[],
                    expires_at=utcnow() + timedelta(days=90),
                )
                req = AuthorizationRequest(
                    id=secrets.token_urlsafe(8),
                    client_id=client_id,
                    account_id=account.id,
                    redirect_uri=REDIRECT,
                    code_challenge=challenge,
                    expires_at=utcnow() + timedelta(minutes=10),
                )
                code = authorize.issue_code(session=s, req=req, grant_id=grant.id)
                codes.append(code)
        with ctx.db.session() as s:  # codes live 60 s; give the bench 10 minutes, as the peer gets
            s.execute(update(AuthorizationCode).values(expires_at=utcnow() + timedelta(minutes=10)))
    finally:
        ctx.db.dispose()
    return client_id, secret, codes


def hammer(url: str, auth: tuple[str, str], forms: list[dict[str, str]], threads: int) -> tuple[float, list[Any]]:
    """POST every form to the token endpoint from ``threads`` clients; returns (seconds, JSON bodies)."""
    chunks = [forms[i::threads] for i in range(threads)]

    def run(chunk: list[dict[str, str]]) -> list[Any]:
        out = []
        with httpx.Client(timeout=60) as http:
            for form in chunk:
                r = http.post(url, data=form, auth=auth)
                if r.status_code != 200:
                    raise RuntimeError(f"{r.status_code}: {r.text}")
                out.append(r.json())
        return out

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        results = [item for part in pool.map(run, chunks) for item in part]
    return time.perf_counter() - start, results


def _latencies(url: str, auth: tuple[str, str], tokens: list[str]) -> tuple[float, float]:
    out = []
    with httpx.Client(timeout=30) as http:
        for token in tokens:
            start = time.perf_counter()
            r = http.post(url, data={"token": token}, auth=auth)
            out.append((time.perf_counter() - start) * 1000)
            if r.status_code != 200 or not r.json().get("active"):
                raise RuntimeError(f"introspection failed: {r.status_code} {r.text}")
    out.sort()
    return round(statistics.median(out), 2), round(out[max(0, int(len(out) * 0.95) - 1)], 2)


def measure(
    token_url: str, introspect_url: str, auth: tuple[str, str], codes: list[str], verifier: str, threads: int
) -> dict[str, Any]:
    """Exchange every code, rotate every refresh token once, then introspect (one call at a time)."""
    n = len(codes)
    code_forms = [
        {"grant_type": "authorization_code", "code": c, "redirect_uri": REDIRECT, "code_verifier": verifier}
        for c in codes
    ]
    t_code, issued = hammer(token_url, auth, code_forms, threads)
    refresh_forms = [{"grant_type": "refresh_token", "refresh_token": t["refresh_token"]} for t in issued]
    t_refresh, rotated = hammer(token_url, auth, refresh_forms, threads)
    sample = rotated[: min(300, n)]
    p50_rt, p95_rt = _latencies(introspect_url, auth, [t["refresh_token"] for t in sample])
    result: dict[str, Any] = {
        "code_exchange_per_s": round(n / t_code, 1),
        "refresh_per_s": round(n / t_refresh, 1),
        "introspect_refresh_p50_ms": p50_rt,
        "introspect_refresh_p95_ms": p95_rt,
        "introspect_access_p50_ms": None,
        "introspect_access_p95_ms": None,
    }
    try:
        p50_at, p95_at = _latencies(introspect_url, auth, [t["access_token"] for t in sample])
        result["introspect_access_p50_ms"], result["introspect_access_p95_ms"] = p50_at, p95_at
    except RuntimeError:
        pass  # oidc-provider does not introspect structured (JWT) access tokens
    return result


def run_peer(n: int, threads: int) -> dict[str, Any]:
    """The same workload against node-oidc-provider (bench/oauth/peer, `npm ci` there first)."""
    peer = ROOT / "bench" / "oauth" / "peer"
    if not (peer / "node_modules" / "oidc-provider").is_dir():
        raise RuntimeError("run `npm ci` in bench/oauth/peer first")
    port = 19000 + secrets.randbelow(1000)
    server = subprocess.Popen(["node", "server.mjs", str(port)], cwd=peer, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/.well-known/openid-configuration", server)
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        codes = httpx.post(f"{base}/bench/mint", params={"n": n, "challenge": challenge}, timeout=120).json()
        auth = ("bench", "bench-secret-bench-secret-bench-secret")
        result = measure(base + "/token", base + "/token/introspection", auth, codes, verifier, threads)
        return {"backend": "oidc-provider (memory)", "n": n, "threads": threads, **result}
    finally:
        server.terminate()
        server.wait(timeout=10)


def _wait(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            raise RuntimeError("server did not start")
        time.sleep(0.2)


def run_backend(backend: str, n: int, threads: int) -> dict[str, Any]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-oauth-"))
    kek_file = tmp / "kek.json"
    KeyRing.generate().save(kek_file)
    schema = None
    if backend == "postgres":
        schema = "bench_oauth_" + secrets.token_hex(4)
        settings = Settings(database_url=PG_URL, database_schema=schema, kek_file=kek_file, argon2_time_cost=1,
                            argon2_memory_kib=64)  # fmt: skip
    else:
        settings = Settings(database_url=f"sqlite:///{tmp / 'vault.db'}", kek_file=kek_file, argon2_time_cost=1,
                            argon2_memory_kib=64)  # fmt: skip
    db = Database(settings)
    migrate(db)
    db.dispose()
    verifier = secrets.token_urlsafe(48)
    client_id, secret, codes = prepare(settings, n, verifier)
    port = 18000 + secrets.randbelow(1000)
    server = subprocess.Popen(
        [sys.executable, "-m", "vault_server", "serve", "--port", str(port)],
        env=_env(settings, kek_file),
        cwd=tmp,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(base + "/.well-known/oauth-authorization-server", server)
        result = measure(
            base + "/oauth/token", base + "/oauth/introspect", (client_id, secret), codes, verifier, threads
        )
        return {"backend": f"intent-vault ({backend})", "n": n, "threads": threads, **result}
    finally:
        server.terminate()
        server.wait(timeout=10)
        if schema:
            admin = Database(Settings(database_url=PG_URL))
            with admin.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=150, help="codes to exchange (and refresh tokens to rotate)")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--backends", default="sqlite,postgres,peer", help="sqlite, postgres, peer (oidc-provider)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, one server process each")
    print(
        "| server | n | client threads | code exchange /s | refresh /s | introspect refresh p50 / p95 ms "
        "| introspect access JWT p50 / p95 ms |"
    )
    print("|---|---|---|---|---|---|---|")
    for backend in args.backends.split(","):
        name = backend.strip()
        r = run_peer(args.n, args.threads) if name == "peer" else run_backend(name, args.n, args.threads)
        access = (
            f"{r['introspect_access_p50_ms']} / {r['introspect_access_p95_ms']}"
            if r["introspect_access_p50_ms"] is not None
            else "not supported"
        )
        print(
            f"| {r['backend']} | {r['n']} | {r['threads']} | {r['code_exchange_per_s']} | {r['refresh_per_s']} | "
            f"{r['introspect_refresh_p50_ms']} / {r['introspect_refresh_p95_ms']} | {access} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
