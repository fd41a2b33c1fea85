"""Token endpoint throughput — authorization-code exchange (PKCE S256, client_secret_basic) and refresh-token
rotation — on the vault and on node-oidc-provider 9 (the peer), same load, same run. Prints markdown and writes
``bench/results/oauth.json``.

Each server is one process pinned to core 1; wrk (2 threads, 16 keep-alive connections, ``token.lua``) on core 0.
Codes are minted ahead (through the vault's service layer; through the peer's bench-only ``/bench/mint``): the
consent screen is not what is measured. The refresh run rotates the refresh tokens the code run just received.
A round measures both servers back to back; the ratio is taken inside the round. Every vault token issue writes
its family, its refresh token and an audit entry in the same transaction, as in production; the peer keeps
everything in memory.

    .venv/bin/python bench/oauth/bench_token.py [--rounds 3] [--seconds 4] [--codes 2500] [--backend sqlite]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import httpx
from sqlalchemy import text, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wrkload import ROOT, Vault, WrkResult, machine, node_peer, spread, wrk

from vault_server.accounts import service as accounts
from vault_server.config import Settings
from vault_server.context import build_context
from vault_server.db import Database, utcnow
from vault_server.grants import service as grants
from vault_server.oauth import authorize
from vault_server.oauth.models import AuthorizationCode, AuthorizationRequest
from vault_server.vendors import service as vendors
from vault_server.vendors.models import VendorStatus
from vault_server.vendors.schemas import AppRegistration

PG_URL = os.environ.get("VAULT_TEST_DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PEER_DIR = ROOT / "bench" / "oauth" / "peer"
LUA = Path(__file__).resolve().parent / "token.lua"
RESULTS = ROOT / "bench" / "results" / "oauth.json"
REDIRECT = "https://shop.example/cb"
PEER_CLIENT = ("bench", "bench-secret-bench-secret-bench-secret")
CONSUMERS = 20
MAX_FAILED = 0.02  # failed answers are not counted in the rates; more than this are reported
PEER_FACTOR = 5  # the peer exchanges codes several times faster: mint enough that no run runs out
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


def challenge_of(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


class VaultSide:
    """A vendor and a few consumers with live grants; mints codes through the service layer."""

    def __init__(self, vault: Vault):
        self.settings = Settings(
            database_url=vault.env["VAULT_DATABASE_URL"],
            database_schema=vault.env.get("VAULT_DATABASE_SCHEMA"),
            kek_file=Path(vault.env["VAULT_KEK_FILE"]),
            argon2_time_cost=1,
            argon2_memory_kib=64,
        )
        self.ctx = build_context(self.settings)
        _ = self.ctx.keyset
        with self.ctx.db.session() as s:
            app, secret = vendors.register(
                session=s,
                body=AppRegistration(name="Bench Shop", redirect_uris=[REDIRECT]),
                owner_account_id=None,
                via="dynamic",
            )
            vendors.set_status(session=s, client_id=app.id, status=VendorStatus.approved, by="bench")
        assert secret is not None
        self.client_id, self.secret = app.id, secret
        self.grants: list[tuple[str, str]] = []
        for i in range(CONSUMERS):
            with self.ctx.db.session() as s:
                account = accounts.sign_up(
                    session=s,
                    ring=self.ctx.ring,
                    hasher=self.ctx.hasher,
                    email=f"c{i}@bench.example",
                    password="x" * 12,
                )
                grant = grants.create(
                    session=s,
                    ctx=self.ctx,
                    account_id=account.id,
                    app=vendors.get_or_raise(session=s, client_id=app.id),
                    scope=["signals:read"],
                    details=DETAILS,
                    requested={"scope": ["signals:read"], "authorization_details": DETAILS},
                    identity_fields=[],
                    expires_at=utcnow() + timedelta(days=90),
                )
                self.grants.append((account.id, grant.id))

    def mint(self, n: int, challenge: str) -> list[str]:
        codes = []
        with self.ctx.db.session() as s:
            for i in range(n):
                account_id, grant_id = self.grants[i % len(self.grants)]
                req = AuthorizationRequest(
                    id=secrets.token_urlsafe(8),
                    client_id=self.client_id,
                    account_id=account_id,
                    redirect_uri=REDIRECT,
                    code_challenge=challenge,
                    expires_at=utcnow() + timedelta(minutes=10),
                )
                codes.append(authorize.issue_code(session=s, req=req, grant_id=grant_id))
            # codes live 60 s; minting thousands on a busy host takes a while: give them 10 minutes, as the peer's
            s.execute(update(AuthorizationCode).values(expires_at=utcnow() + timedelta(minutes=10)))
        return codes

    def close(self) -> None:
        self.ctx.db.dispose()


def _first_error(work: Path) -> str:
    """What the server answered to the first failed request (\"exhausted\": more requests than codes minted)."""
    for path in sorted(work.glob("*.err")):
        lines = path.read_text().splitlines()
        if lines:
            return lines[0][:300]
    return "no answer recorded (connection errors)"


def exchange_and_rotate(
    base: str, server: str, codes: list[str], verifier: str, auth: str, seconds: int
) -> tuple[WrkResult, WrkResult]:
    """wrk on the code exchange, then on rotating the refresh tokens it returned."""
    work = Path(tempfile.mkdtemp(prefix="bench-token-"))
    (work / "codes.txt").write_text("\n".join(codes) + "\n")
    args = [verifier, auth, quote(REDIRECT, safe=""), "2"]
    url = base
    # the code run lasts twice as long, so it leaves more refresh tokens than the (faster) refresh run can rotate
    code = wrk(
        url,
        seconds=2 * seconds,
        script=LUA,
        script_args=[str(work / "codes.txt"), str(work / "rt"), "code", *args],
        server=server,
    )
    if code.errors > MAX_FAILED * code.requests:
        print(f"{url}: {code.errors} of {code.requests} code exchanges failed: {_first_error(work)}", file=sys.stderr)
    refresh_tokens = [t for f in sorted(work.glob("rt*.txt")) for t in f.read_text().split()]
    (work / "refresh.txt").write_text("\n".join(refresh_tokens) + "\n")
    refresh = wrk(
        url,
        seconds=seconds,
        script=LUA,
        script_args=[str(work / "refresh.txt"), str(work / "rt2-"), "refresh", *args],
        server=server,
    )
    if refresh.errors > MAX_FAILED * refresh.requests:
        print(f"{url}: {refresh.errors} of {refresh.requests} refreshes failed: {_first_error(work)}", file=sys.stderr)
    print(f"{url}: code {code}, refresh {refresh}", file=sys.stderr)
    return code, refresh


@contextmanager
def vault_backend(backend: str) -> Iterator[Vault]:
    schema = "bench_oauth_" + secrets.token_hex(4) if backend == "postgres" else None
    vault = Vault.create(PG_URL if schema else None, schema)
    # a run that outlasts its minted codes sends unknown ones: the brute-force throttle would answer 429 for minutes
    vault.env["VAULT_OAUTH_MAX_FAILURES"] = "1000000000"
    try:
        yield vault
    finally:
        vault.cleanup()
        if schema:
            admin = Database(Settings(database_url=PG_URL))
            with admin.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--codes", type=int, default=4000, help="codes minted per round (5x for the peer)")
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args()
    host = machine()
    runs: dict[str, list[float]] = {}
    verifier = secrets.token_urlsafe(48)
    challenge = challenge_of(verifier)

    def record(side_name: str, code: WrkResult, refresh: WrkResult) -> None:
        for key, r in (("code", code), ("refresh", refresh)):
            runs.setdefault(f"{side_name} {key}", []).append(r.ok_rps)
            runs.setdefault(f"cpu {side_name} {key}", []).append(r.per_cpu_second)
            runs.setdefault(f"failed {side_name} {key}", []).append(r.errors / max(r.requests, 1))

    with vault_backend(args.backend) as vault:
        side = VaultSide(vault)
        try:
            with (
                vault.serve() as base,
                node_peer(PEER_DIR, ["server.mjs"], "/.well-known/openid-configuration") as peer,
            ):
                for _ in range(args.rounds):
                    codes = side.mint(args.codes, challenge)
                    auth = basic(side.client_id, side.secret)
                    record(
                        "vault", *exchange_and_rotate(base + "/oauth/token", base, codes, verifier, auth, args.seconds)
                    )
                    minted = httpx.post(
                        f"{peer}/bench/mint",
                        params={"n": PEER_FACTOR * args.codes, "challenge": challenge},
                        timeout=300,
                    ).json()
                    auth = basic(*PEER_CLIENT)
                    record("peer", *exchange_and_rotate(peer + "/token", peer, minted, verifier, auth, args.seconds))
        finally:
            side.close()
    ratios = {
        f"{prefix}{k}": [v / p for v, p in zip(runs[f"{prefix}vault {k}"], runs[f"{prefix}peer {k}"], strict=True)]
        for k in ("code", "refresh")
        for prefix in ("", "cpu ")
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": host, "backend": args.backend, "runs": runs, "ratios": ratios}, indent=1))
    print(
        f"{host}. {args.rounds} rounds of {args.seconds} s per grant type; `wrk -t2 -c16 -s bench/oauth/token.lua`, "
        f"server on core 1, wrk on core 0; vault on {args.backend}.\n"
    )
    print("| grant | vault | oidc-provider 9 | vault / peer (per round) | target |")
    print("|---|---:|---:|---:|---|")
    for prefix, title in (("cpu ", "requests per CPU-second of the server"), ("", "requests / s on core 1")):
        print(f"| **{title}** | | | | |")
        for label, key in (("authorization_code + PKCE", "code"), ("refresh_token (rotation)", "refresh")):
            print(
                f"| {label} | {spread(runs[f'{prefix}vault {key}'])} | {spread(runs[f'{prefix}peer {key}'])} | "
                f"{spread(ratios[prefix + key], 2)} | {'≥ 1.2' if prefix else ''} |"
            )
    failed = {k.removeprefix("failed "): max(v) for k, v in runs.items() if k.startswith("failed ") and max(v) > 0}
    if failed:
        share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(failed.items()))
        print(
            "\nRejected answers (the codes or tokens minted for a run ran out before its end; not counted in the "
            f"rates; largest share in a run): {share}."
        )


if __name__ == "__main__":
    main()
