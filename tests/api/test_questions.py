"""Just Ask: only consumers whose grant has questions:write get a question; rate limits per vendor (429) and per
consumer (skipped); consumers answer, ignore or turn a vendor's questions off; answers reach the vendor by feed and
webhook (audited) and as aggregate results."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from vault_server.context import VaultContext
from vault_server.feed import questions, tasks

from ..conftest import personal_token
from .test_feed import audit_entries
from .test_feed_support import detail, feed_all, make_consumer, make_grant, make_vendor, receiver

ASK = "questions:write"


def ask(client: TestClient, auth: tuple[str, str], **over: Any) -> Any:
    body = {"kind": "choice", "prompt": "Which screen size?", "choices": ["55", "65", "75"]}
    body.update(over)
    return client.post("/v1/vendor/questions", json=body, auth=auth)


def test_question_lifecycle(client: TestClient, ctx: VaultContext, consumer: dict[str, Any]) -> None:
    shop, secret = make_vendor(ctx)
    grant = make_grant(ctx, consumer["id"], shop, [detail(["electronics"])], scope=["signals:read", ASK])
    silent = make_consumer(ctx)
    make_grant(ctx, silent, shop, [detail(["electronics"])], scope=["signals:read"])  # no questions:write
    with receiver() as rx:
        ctx.settings.__dict__["allow_private_webhooks"] = True
        try:
            client.post("/v1/webhooks", json={"url": rx.url, "events": ["question.answered"]}, auth=(shop, secret))
            r = ask(client, (shop, secret))
            assert r.status_code == 201, r.text
            q = r.json()
            assert (q["delivered"], q["skipped_rate_limited"], q["skipped_opted_out"]) == (1, 0, 0)

            token = personal_token(client, consumer["csrf"], ["signals:read:self"])
            bearer = {"Authorization": f"Bearer {token}"}
            assert client.get("/v1/inbox/summary", headers=bearer).json() == {"offers": 0, "questions": 1}
            [mine] = client.get("/v1/questions").json()["questions"]
            assert mine["prompt"] == "Which screen size?" and mine["vendor"]["client_id"] == shop
            csrf = {"X-CSRF-Token": consumer["csrf"]}
            bad = client.post(f"/v1/questions/{mine['id']}/answer", json={"choice": "85"}, headers=csrf)
            assert bad.status_code == 422
            r = client.post(f"/v1/questions/{mine['id']}/answer", json={"choice": "65"}, headers=csrf)
            assert r.status_code == 200 and r.json()["answer"] == {"choice": "65"}
            assert (
                client.post(f"/v1/questions/{mine['id']}/answer", json={"choice": "55"}, headers=csrf).status_code
                == 409
            )
            assert client.get("/v1/inbox/summary", headers=bearer).json()["questions"] == 0

            items, _ = feed_all(client, (shop, secret))
            answered = [i for i in items if i["type"] == "question.answered"]
            assert [(i["subject"], i["answer"]["answer"]) for i in answered] == [(grant.subject, {"choice": "65"})]
            assert tasks.run_once(ctx).delivered == 1
            [hook] = rx.bodies()
            assert hook["type"] == "question.answered" and hook["data"]["answer"]["answer"] == {"choice": "65"}
            assert len(audit_entries(ctx, "answer.read")) == 2  # feed + webhook, each before sending

            results = client.get(f"/v1/vendor/questions/{q['id']}/results", auth=(shop, secret)).json()
            assert results["delivered"] == 1 and results["answered"] == 1
            assert results["choices"] == [
                {"choice": "55", "count": 0},
                {"choice": "65", "count": 1},
                {"choice": "75", "count": 0},
            ]
            other, other_secret = make_vendor(ctx, "Other")
            assert client.get(f"/v1/vendor/questions/{q['id']}/results", auth=(other, other_secret)).status_code == 404
        finally:
            ctx.settings.__dict__["allow_private_webhooks"] = False


def test_text_questions_ignore_and_opt_out(client: TestClient, ctx: VaultContext, consumer: dict[str, Any]) -> None:
    shop, secret = make_vendor(ctx)
    make_grant(ctx, consumer["id"], shop, [detail(["electronics"])], scope=["signals:read", ASK])
    assert ask(client, (shop, secret), kind="text", choices=["x", "y"]).status_code == 422
    assert ask(client, (shop, secret), choices=["only one"]).status_code == 422
    q = ask(client, (shop, secret), kind="text", prompt="What matters most to you in a TV?", choices=[]).json()
    [mine] = client.get("/v1/questions").json()["questions"]
    csrf = {"X-CSRF-Token": consumer["csrf"]}
    assert client.post(f"/v1/questions/{mine['id']}/ignore", headers=csrf).status_code == 204
    assert client.get("/v1/questions").json()["questions"] == []
    results = client.get(f"/v1/vendor/questions/{q['id']}/results", auth=(shop, secret)).json()
    assert (results["ignored"], results["answered"]) == (1, 0) and results["choices"] == []

    r = client.put(f"/v1/vendors/{shop}/preferences", json={"questions_off": True}, headers=csrf)
    assert r.json() == {"vendor_id": shop, "blocked": False, "questions_off": True}
    later = ask(client, (shop, secret), prompt="Still there?").json()
    assert (later["delivered"], later["skipped_opted_out"]) == (0, 1)
    assert client.get("/v1/questions").json()["questions"] == []


def test_rate_limits_per_vendor_and_per_consumer(client: TestClient, ctx: VaultContext) -> None:
    a, a_secret = make_vendor(ctx, "A")
    b, b_secret = make_vendor(ctx, "B")
    people = [make_consumer(ctx) for _ in range(2)]
    for p in people:
        make_grant(ctx, p, a, [detail(["electronics"])], scope=["signals:read", ASK])
        make_grant(ctx, p, b, [detail(["electronics"])], scope=["signals:read", ASK])
    first = ask(client, (a, a_secret)).json()
    assert first["delivered"] == 2
    second = ask(client, (a, a_secret), prompt="And the colour?").json()
    assert (second["delivered"], second["skipped_rate_limited"]) == (0, 2)  # one per vendor per day per consumer
    for n in range(questions.VENDOR_PER_DAY - 2):
        assert ask(client, (a, a_secret), prompt=f"Question number {n}?").status_code == 201
    limited = ask(client, (a, a_secret), prompt="One too many?")
    assert limited.status_code == 429 and "retry-after" in limited.headers
    assert limited.json()["type"].endswith("/rate-limited")
    # B still may ask (the vendor limit is per vendor), but each consumer's weekly budget applies across vendors
    assert ask(client, (b, b_secret)).json()["delivered"] == 2
    c, c_secret = make_vendor(ctx, "C")
    d, d_secret = make_vendor(ctx, "D")
    for p in people:
        make_grant(ctx, p, c, [detail(["electronics"])], scope=["signals:read", ASK])
        make_grant(ctx, p, d, [detail(["electronics"])], scope=["signals:read", ASK])
    assert ask(client, (c, c_secret)).json()["delivered"] == 2  # third question this week
    fourth = ask(client, (d, d_secret)).json()
    assert (fourth["delivered"], fourth["skipped_rate_limited"]) == (0, 2)
