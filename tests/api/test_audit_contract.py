"""Contract with the rooms that emit entries: a real grant, feed read and revocation (their service code) replay
clean in `audit check`; a read recorded after the revocation is flagged at its position."""

from __future__ import annotations

from fastapi.testclient import TestClient

from vault_server.audit import store
from vault_server.audit.check import UNCOVERED, run_check
from vault_server.audit.tasks import maybe_make_sth
from vault_server.context import VaultContext
from vault_server.feed import service as feed
from vault_server.grants.models import Grant

from .test_feed_support import STAGE_RECIPES, detail, feed_all, make_consumer, make_grant, make_vendor, record, revoke


def test_real_grant_read_revoke_replays_clean_and_a_late_read_is_flagged(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    alice = make_consumer(ctx)
    grant = make_grant(ctx, alice, vendor, [detail(["electronics"], ["stage", "score"])])
    record(ctx, alice, "electronics.tv", STAGE_RECIPES["interest"])
    items, _ = feed_all(client, (vendor, secret))
    assert any("signals" in i for i in items)
    revoke(ctx, grant.id)
    maybe_make_sth(ctx, force=True)
    clean = run_check(ctx)
    assert clean.ok, clean.lines()

    # a buggy or malicious path that sends data after the revocation still has to log it, and the check names it
    with ctx.db.session() as s:
        row = s.get(Grant, grant.id)
        assert row is not None
        shaped = [{"category": "electronics.tv", "stage": "interest"}]
        feed.record_reads(
            session=s,
            ctx=ctx,
            vendor_id=vendor,
            audits=[
                {
                    "kind": "vendor.read",
                    "consumer_id": alice,
                    "details": feed.read_details(vendor, row, shaped, endpoint="/v1/feed"),
                    "private": {"signals": shaped},
                }
            ],
        )
        late = store.read_head(s)[0] - 1
    maybe_make_sth(ctx, force=True)
    report = run_check(ctx)
    assert [(f.kind, f.index) for f in report.findings] == [(UNCOVERED, late)]
    assert "was revoked at index" in report.findings[0].message
    assert grant.id not in report.findings[0].message  # the public log names the grant by its token only
