"""A feed page costs the same SQL statements whatever its size, and a 304 compares validators without building or
auditing anything."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import select

from vault_server.context import VaultContext
from vault_server.feed import offers, questions
from vault_server.feed.models import QuestionDelivery

from .test_audit_batch import statements
from .test_feed import audit_entries
from .test_feed_support import detail, make_consumer, make_grant, make_vendor, record

SCOPE = ["signals:read", "intents:read", "offers:write", "questions:write"]


def cast(ctx: VaultContext, account_id: str) -> None:
    with ctx.db.session() as s:
        offers.cast(
            session=s,
            ctx=ctx,
            account_id=account_id,
            body=offers.CastIn(category="electronics.tv", text="65-inch TV under 900 EUR"),
        )


def answer(ctx: VaultContext, account_id: str) -> None:
    with ctx.db.session() as s:
        delivery = s.exec(select(QuestionDelivery).where(QuestionDelivery.account_id == account_id)).one()
        questions.answer(
            session=s, ctx=ctx, account_id=account_id, delivery_id=delivery.id, body=questions.AnswerIn(choice="65")
        )


def kinds(items: list[dict[str, Any]]) -> dict[str, int]:
    """Items by kind; signal items (``grant.created`` or ``signal.updated``, whichever is a grant's newest) as one."""
    out: dict[str, int] = {}
    for item in items:
        kind = "signals" if "signals" in item else item["type"]
        out[kind] = out.get(kind, 0) + 1
    return out


def test_a_page_costs_the_same_statements_for_5_or_80_items(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    auth = (vendor, secret)
    people = [make_consumer(ctx) for _ in range(60)]
    for person in people:
        make_grant(ctx, person, vendor, [detail(["electronics"])], scope=SCOPE)
        record(ctx, person, "electronics.tv")
    with ctx.db.session() as s:
        questions.ask(
            session=s,
            ctx=ctx,
            vendor_id=vendor,
            body=questions.QuestionIn(kind="choice", prompt="Which screen size?", choices=["55", "65"]),
        )
    for person in people[:10]:
        cast(ctx, person)
        answer(ctx, person)

    with statements(ctx) as backlog_sql:
        backlog = client.get("/v1/feed", params={"limit": 500}, auth=auth)
    assert backlog.status_code == 200, backlog.text
    body = backlog.json()
    # every kind of item is there, one data item per grant
    assert kinds(body["items"]) == {"signals": 60, "intent.declared": 10, "question.answered": 10}

    for person in people[10:13]:
        record(ctx, person, "electronics.tv", ["product_view", "compare"])
    cast(ctx, people[20])
    answer(ctx, people[21])
    before = len(audit_entries(ctx))
    with statements(ctx) as poll_sql:
        poll = client.get("/v1/feed", params={"limit": 500, "cursor": body["next_cursor"]}, auth=auth)
    assert poll.status_code == 200, poll.text
    assert kinds(poll.json()["items"]) == {"signals": 3, "intent.declared": 1, "question.answered": 1}
    assert len(audit_entries(ctx)) == before + 5  # every item audited, in one batch

    assert len(backlog_sql) == len(poll_sql), "\n".join(q[:150] for q in backlog_sql)
    # client, head, rows, grants, signal states with their data keys, the event kinds' rows (casts, recipients,
    # answers) and their owners' keys, head lock with the frontier, then the write: one statement on PostgreSQL
    # (plus the stamping round the new rows start there: its check, lock, UPDATE and the head again), three on SQLite
    postgres = ctx.db.engine.dialect.name == "postgresql"
    assert len(poll_sql) <= (15 if postgres else 13), "\n".join(q[:100] for q in poll_sql)


def test_304_writes_nothing_and_a_new_change_makes_the_next_request_200(client: TestClient, ctx: VaultContext) -> None:
    vendor, secret = make_vendor(ctx)
    auth = (vendor, secret)
    alice = make_consumer(ctx)
    make_grant(ctx, alice, vendor, [detail(["electronics"])])
    record(ctx, alice, "electronics.tv")
    first = client.get("/v1/feed", auth=auth)
    assert first.status_code == 200 and first.headers["etag"].startswith('W/"')
    etag = first.headers["etag"]
    before = len(audit_entries(ctx))

    with statements(ctx) as sql:
        again = client.get("/v1/feed", auth=auth, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert len(audit_entries(ctx)) == before
    assert not [q for q in sql if q.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    # the strong form of the same tag, and a list of tags, match too (weak comparison)
    strong = etag.removeprefix("W/")
    assert client.get("/v1/feed", auth=auth, headers={"If-None-Match": f'"x", {strong}'}).status_code == 304
    # another limit is another page
    assert client.get("/v1/feed", params={"limit": 7}, auth=auth, headers={"If-None-Match": etag}).status_code == 200

    record(ctx, alice, "electronics.tv", ["product_view", "compare"])
    changed = client.get("/v1/feed", auth=auth, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert [i["type"] for i in changed.json()["items"]] == ["signal.updated"]
    assert len(audit_entries(ctx)) > before


def test_an_etag_is_bound_to_its_vendor(client: TestClient, ctx: VaultContext) -> None:
    acme, acme_secret = make_vendor(ctx, "Acme")
    other, other_secret = make_vendor(ctx, "Other")
    etag = client.get("/v1/feed", auth=(acme, acme_secret)).headers["etag"]
    # both feeds are empty (same cursor, head and limit), yet one vendor's tag is not another's
    assert client.get("/v1/feed", auth=(other, other_secret), headers={"If-None-Match": etag}).status_code == 200
