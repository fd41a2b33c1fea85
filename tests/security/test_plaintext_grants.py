"""What a consumer granted a vendor (categories, fields) is sealed at rest: after a full consent and token
exchange, no granted category id appears in any table's stored bytes, the audit log included (its public details
carry per-consumer keyed tokens; see docs/SECURITY.md)."""

from __future__ import annotations

from sqlalchemy import inspect, text

from vault_server.context import VaultContext

from ..api.test_oauth_support import (
    DETAILS,
    approve_consent,
    approved_vendor,
    authorize_params,
    browser,
    consumer_browser,
    exchange,
    pkce_pair,
)
from ..conftest import LiveServer

NOT_SCANNED: set[str] = set()


def _dump(ctx: VaultContext) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    with ctx.db.engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            chunks: list[bytes] = []
            for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                for value in row:
                    if isinstance(value, memoryview):
                        value = value.tobytes()
                    chunks.append(value if isinstance(value, bytes) else str(value).encode())
            out[table] = b"\n".join(chunks)
    return out


def test_granted_categories_are_not_stored_in_plaintext(live_server: LiveServer, ctx: VaultContext) -> None:
    vendor_http = browser(live_server.url)
    vendor = approved_vendor(vendor_http, ctx)
    consumer = consumer_browser(live_server.url)
    verifier, challenge = pkce_pair()
    query = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))
    token = exchange(vendor_http, vendor, query["code"][0], verifier)
    assert token.status_code == 200, token.text
    assert token.json()["authorization_details"][0]["categories"], "the grant carried categories"
    tables = _dump(ctx)
    assert tables["consent_grant"] and tables["oauth_token_family"] and tables["consent_receipt"]
    for category in DETAILS[0]["categories"]:
        for table, stored in tables.items():
            if table not in NOT_SCANNED:
                assert category.encode() not in stored, f"{category} in plaintext in {table}"
