"""The demo vendor app seeded by ``intent-vault demo``: approved, with a fixed client id and secret printed so the
flow can be tried by hand (idempotent: rerunning resets the secret to the printed one)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from vault_server.accounts.models import Account
from vault_server.context import VaultContext
from vault_server.db import utcnow
from vault_server.vendors.models import AuthMethod, VendorApp, VendorStatus

DEMO_CLIENT_ID = "ivc_demo_outfitters"
DEMO_CLIENT_SECRET = "ivcs_demo-outfitters-secret-not-for-production"  # noqa: S105 - printed on purpose
DEMO_REDIRECT_URI = "http://127.0.0.1:8765/callback"


def seed(ctx: VaultContext, vendor_account: Account | None) -> Iterator[str]:
    with ctx.db.session() as s:
        app = s.get(VendorApp, DEMO_CLIENT_ID)
        if app is None:
            app = VendorApp(
                id=DEMO_CLIENT_ID,
                owner_account_id=vendor_account.id if vendor_account else None,
                name="Demo Outfitters",
                homepage="https://outfitters.example",
                policy_uri="https://outfitters.example/privacy",
                contacts=["privacy@outfitters.example"],
                redirect_uris=[DEMO_REDIRECT_URI],
                grant_types=["authorization_code", "refresh_token"],
                token_endpoint_auth_method=AuthMethod.client_secret_basic.value,
                registered_via="portal",
            )
        app.client_secret_hash = hashlib.sha256(DEMO_CLIENT_SECRET.encode()).hexdigest()
        if app.status != VendorStatus.approved:
            app.status = VendorStatus.approved.value
            app.approved_at = utcnow()
            app.approved_by = "admin:demo"
        s.add(app)
    yield "Demo vendor app (approved, client_secret_basic, PKCE S256):"
    yield f"  client_id     {DEMO_CLIENT_ID}"
    yield f"  client_secret {DEMO_CLIENT_SECRET}"
    yield f"  redirect_uri  {DEMO_REDIRECT_URI}"
    yield "  flow and endpoints: docs/OAUTH.md; metadata at /.well-known/oauth-authorization-server"
