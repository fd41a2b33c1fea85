"""The example vendor client (examples/vendor_client.py) against a live server: authorization code + PKCE through
the real consent screen, the feed followed incrementally with a persisted cursor, a verified webhook, an offer on
an intentcast and a question with its answer coming back through the feed."""

from __future__ import annotations

import importlib.util
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.feed import tasks

from ..conftest import LiveServer
from .test_feed_support import make_vendor, receiver
from .test_oauth_support import approve_consent, consumer_browser, record_gestures

REDIRECT = "https://shop.example/cb"
DETAILS = [
    {
        "type": "intent_signals",
        "categories": ["electronics"],
        "min_stage": "interest",
        "fields": ["stage", "score", "price_band"],
        "purpose": "Offers on TVs",
        "retention_days": 30,
        "frequency": "realtime",
    }
]


def load_client() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "examples" / "vendor_client.py"
    spec = importlib.util.spec_from_file_location("vendor_client", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["vendor_client"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def settings(base_settings: Settings) -> Settings:
    return base_settings.model_copy(update={"allow_private_webhooks": True})


def personal_token(http: httpx.Client, scopes: list[str]) -> str:
    csrf = http.get("/v1/me/csrf").json()["csrf_token"]
    r = http.post("/v1/me/tokens", json={"name": "ext", "scopes": scopes}, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 201, r.text
    return str(r.json()["token"])


def test_example_vendor_client_end_to_end(live_server: LiveServer, ctx: VaultContext, tmp_path: Path) -> None:
    vc = load_client()
    client_id, secret = make_vendor(ctx, "Shop Example")
    consumer = consumer_browser(live_server.url)
    record_gestures(consumer, personal_token(consumer, ["gestures:write"]))

    with vc.VendorClient(live_server.url, client_id, secret) as vault:
        # 1. authorization code + PKCE through the real consent screen
        request = vault.authorization_request(
            REDIRECT, details=DETAILS, scope="signals:read intents:read offers:write questions:write"
        )
        assert "code_challenge_method=S256" in request.url
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        query = approve_consent(consumer, params)
        tokens = vault.exchange_code(query["code"][0], request, state=query["state"][0])
        assert tokens.subject.startswith("ps_") and "questions:write" in tokens.scope
        signals = vault.subject_signals(tokens)["signals"]
        assert signals and all(s["category"].startswith("electronics.") for s in signals)

        # 2. the feed, followed incrementally; the cursor survives in a file
        store = vc.FileCursorStore(tmp_path / "feed.cursor")
        seen: list[dict[str, Any]] = []
        assert vault.follow_feed(store, seen.append) >= 1
        first = seen[-1]
        assert first["subject"] == tokens.subject and first["signals"]
        assert all(set(s) <= {"category", "category_name", "stage", "score", "price_band"} for s in first["signals"])
        saved = store.load()
        assert saved and (tmp_path / "feed.cursor").read_text() == saved
        assert vault.follow_feed(store, seen.append) == 0  # nothing new: resumes from the saved cursor
        page = vault.feed_page(saved)
        assert page is not None and vault.feed_page(saved, etag=page["etag"]) is None  # 304

        # 3. a webhook, verified with the client's own verifier
        with receiver() as rx:
            endpoint = vault.register_webhook(rx.url, ["signal.updated", "question.answered"])
            record_gestures(consumer, personal_token(consumer, ["gestures:write"]))
            assert tasks.run_once(ctx).delivered >= 1
            req = rx.requests[-1]
            event = vc.verify_webhook(endpoint["secret"], req["headers"], req["body"])
            assert event["type"] == "signal.updated" and event["data"]["subject"] == tokens.subject
            with pytest.raises(vc.InvalidWebhook):
                vc.verify_webhook(endpoint["secret"], req["headers"], req["body"].replace(b"electronics", b"computers"))
            with pytest.raises(vc.InvalidWebhook):
                stale = {**req["headers"], "webhook-timestamp": "1000000000"}
                vc.verify_webhook(endpoint["secret"], stale, req["body"])
            assert vault.webhook_deliveries("delivered")
            new: list[dict[str, Any]] = []
            vault.follow_feed(store, new.append)
            assert [i["type"] for i in new] == ["signal.updated"]

            # 4. an intentcast from the consumer, answered with an offer
            csrf = consumer.get("/v1/me/csrf").json()["csrf_token"]
            r = consumer.post(
                "/v1/intentcasts",
                json={"category": "electronics.tv", "text": "65-inch TV", "budget_max": "900", "currency": "EUR"},
                headers={"X-CSRF-Token": csrf},
            )
            assert r.status_code == 201, r.text
            [cast] = vault.intentcasts()
            assert cast["subject"] == tokens.subject
            expires = datetime.now(UTC) + timedelta(days=2)
            offer = vault.post_offer(
                cast["id"], vc.Offer("QE65 QLED", "849.00", "EUR", "https://shop.example/p/1", expires)
            )
            inbox = consumer.get("/v1/offers").json()["offers"]
            assert [o["id"] for o in inbox] == [offer["id"]]
            with pytest.raises(vc.VaultError) as err:
                vault.post_offer("no-such-cast", vc.Offer("x", "1", "EUR", "https://shop.example", expires))
            assert err.value.status == 404 and err.value.type.endswith("/not-found")

            # 5. a question; the answer comes back by feed and webhook, and as aggregate results
            asked = vault.ask("Which screen size?", choices=["55", "65"])
            assert asked["delivered"] == 1
            [q] = consumer.get("/v1/questions").json()["questions"]
            r = consumer.post(f"/v1/questions/{q['id']}/answer", json={"choice": "65"}, headers={"X-CSRF-Token": csrf})
            assert r.status_code == 200, r.text
            answers: list[dict[str, Any]] = []
            vault.follow_feed(store, answers.append)
            answered = [i for i in answers if i["type"] == "question.answered"]
            assert answered and answered[0]["answer"]["answer"] == {"choice": "65"}
            tasks.run_once(ctx)
            hook = vc.verify_webhook(endpoint["secret"], rx.requests[-1]["headers"], rx.requests[-1]["body"])
            assert hook["type"] == "question.answered"
            results = vault.question_results(asked["id"])
            assert {c["choice"]: c["count"] for c in results["choices"]} == {"55": 0, "65": 1}


def test_example_vendor_client_countersigns_agreement_records(live_server: LiveServer, ctx: VaultContext) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from joserfc.jwk import OKPKey

    from vault_server.terms.service import verify_download

    from .test_oauth_support import approve, browser, register_vendor

    vc = load_client()
    key = Ed25519PrivateKey.generate()
    public = OKPKey.import_key(key.public_key()).as_dict(private=False)  # type: ignore[arg-type]
    jwks = {"keys": [{**public, "kid": "shop-1", "use": "sig", "alg": "EdDSA"}]}
    registered = register_vendor(
        browser(live_server.url), redirect_uris=[REDIRECT], jwks=jwks, accepted_agreements=["cc-sd-offers"]
    )
    approve(ctx, registered["client_id"])
    consumer = consumer_browser(live_server.url)
    with vc.VendorClient(live_server.url, registered["client_id"], registered["client_secret"]) as vault:
        request = vault.authorization_request(REDIRECT, details=DETAILS, scope="signals:read")
        params = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        approve_consent(consumer, params)
        assert vault.countersign_pending(key, "shop-1") == 1
        assert vault.countersign_pending(key, "shop-1") == 0  # nothing left to sign
        [record] = vault.agreement_records()
    assert record["countersigned"] is True
    mine = consumer.get(f"/v1/me/agreements/{record['record']['recordId']}").json()
    assert verify_download(mine)["agreement"]["id"] == "cc-sd-offers"  # both signatures check out offline
