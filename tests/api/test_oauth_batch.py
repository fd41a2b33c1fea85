"""The token endpoint's group commit (oauth/batch.py): concurrent requests share a transaction and an audit append,
yet each keeps the per-request guarantees — a parallel refresh replay still yields exactly one winner and revokes
the family, a refused request commits nothing, and every issuance is audited once."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlmodel import Session, col, func, select

from vault_server.accounts import service as accounts
from vault_server.accounts.models import Throttle
from vault_server.audit import service as audit
from vault_server.audit.models import AuditEntry
from vault_server.context import VaultContext
from vault_server.oauth.batch import TokenBatcher, _Pending
from vault_server.oauth.errors import OAuthError
from vault_server.oauth.token import Persisting

from ..conftest import LiveServer
from .test_oauth_support import (
    approve_consent,
    approved_vendor,
    authorize_params,
    basic,
    browser,
    consumer_browser,
    exchange,
    pkce_pair,
)


def _kinds(ctx: VaultContext) -> list[str]:
    with ctx.db.session() as s:
        return [e.kind for e in s.exec(select(AuditEntry).order_by(col(AuditEntry.idx))).all()]


def _refresh(url: str, vendor: dict[str, Any], token: str) -> httpx.Response:
    with httpx.Client(base_url=url, timeout=30) as http:
        return http.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}, auth=basic(vendor)
        )


def test_ten_parallel_refreshes_of_one_token_have_one_winner_and_revoke_the_family(
    live_server: LiveServer, ctx: VaultContext
) -> None:
    vendor_http = browser(live_server.url)
    vendor = approved_vendor(vendor_http, ctx)
    consumer = consumer_browser(live_server.url)
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    tokens = exchange(vendor_http, vendor, code, verifier).json()

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: _refresh(live_server.url, vendor, tokens["refresh_token"]), range(10)))
    won = [r for r in answers if r.status_code == 200]
    assert len(won) == 1, [r.text for r in answers]
    assert all(r.json()["error"] == "invalid_grant" for r in answers if r.status_code != 200)
    # the replay revoked the family: the winner's new refresh token is dead too
    after = _refresh(live_server.url, vendor, won[0].json()["refresh_token"])
    assert after.status_code == 400 and after.json()["error"] == "invalid_grant"
    kinds = _kinds(ctx)
    assert kinds.count("token.issued") == 1 and kinds.count("token.refreshed") == 1
    assert kinds.count("token.revoked") == 1


def test_parallel_code_exchanges_are_each_issued_and_audited_once(live_server: LiveServer, ctx: VaultContext) -> None:
    vendor_http = browser(live_server.url)
    vendor = approved_vendor(vendor_http, ctx)
    # one consumer each: a newer consent to the same vendor replaces the older grant (and its codes)
    consumers = [consumer_browser(live_server.url, email=f"c{i}@example.com") for i in range(4)]
    pairs = [pkce_pair() for _ in consumers]
    codes = [
        approve_consent(c, authorize_params(vendor["client_id"], challenge))["code"][0]
        for c, (_, challenge) in zip(consumers, pairs, strict=True)
    ]

    def go(i: int) -> httpx.Response:
        with httpx.Client(base_url=live_server.url, timeout=30) as http:
            return exchange(http, vendor, codes[i], pairs[i][0])

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(go, range(4)))
    assert [r.status_code for r in answers] == [200] * 4, answers[0].text
    assert len({r.json()["refresh_token"] for r in answers}) == 4
    assert _kinds(ctx).count("token.issued") == 4


def _spec(kind: str) -> audit.AuditSpec:
    return audit.AuditSpec(kind=kind, actor="system", consumer_id=None, details={"n": 1})


def test_a_refusal_is_one_job_s_answer_and_a_crash_reruns_the_batch_job_by_job(ctx: VaultContext) -> None:
    """An OAuthError is a job's answer (the job left only what it keeps); any other exception rolls the whole batch
    back and runs each job alone, so the crashed job's writes never commit and the others commit once."""
    runs: list[str] = []

    def ok(_s: Session, out: list[audit.AuditSpec]) -> dict[str, Any]:
        runs.append("ok")
        out.append(_spec("token.issued"))
        return {"ok": True}

    def refused(_s: Session, _out: list[audit.AuditSpec]) -> dict[str, Any]:
        runs.append("refused")
        raise OAuthError("invalid_grant", "no")

    def persisting(_s: Session, out: list[audit.AuditSpec]) -> dict[str, Any]:
        out.append(_spec("token.revoked"))
        raise Persisting("invalid_grant", "reused")

    def crashes(_s: Session, out: list[audit.AuditSpec]) -> dict[str, Any]:
        runs.append("crash")
        out.append(_spec("token.crashed"))  # a write that must never commit
        raise RuntimeError("boom")

    batcher = TokenBatcher(ctx)
    batch = [_Pending(ok), _Pending(refused), _Pending(persisting), _Pending(ok)]
    batcher._answer(batch)
    assert batch[0].future.result() == {"ok": True} and batch[3].future.result() == {"ok": True}
    with pytest.raises(OAuthError) as refused_exc:
        batch[1].future.result()
    assert not isinstance(refused_exc.value, Persisting)
    with pytest.raises(Persisting):
        batch[2].future.result()
    assert runs == ["ok", "refused", "ok"]  # one pass: a refusal does not rerun anything
    assert sorted(_kinds(ctx)) == ["token.issued", "token.issued", "token.revoked"]

    runs.clear()
    batch = [_Pending(ok), _Pending(crashes), _Pending(ok)]
    batcher._answer(batch)
    assert batch[0].future.result() == {"ok": True} and batch[2].future.result() == {"ok": True}
    with pytest.raises(RuntimeError):
        batch[1].future.result()
    assert runs == ["ok", "crash", "ok", "crash", "ok"]  # together, then alone after the crash
    assert sorted(_kinds(ctx)) == ["token.issued"] * 4 + ["token.revoked"]


def test_failed_guesses_count_against_the_address_and_answers_do_not(
    live_server: LiveServer, ctx: VaultContext
) -> None:
    """The token endpoint's throttle runs inside the batch: a refused guess is counted, a success is not, and past
    the limit the address gets 429 slow_down."""
    vendor_http = browser(live_server.url)
    vendor = approved_vendor(vendor_http, ctx)
    consumer = consumer_browser(live_server.url)
    verifier, challenge = pkce_pair()
    code = approve_consent(consumer, authorize_params(vendor["client_id"], challenge))["code"][0]
    assert exchange(vendor_http, vendor, code, verifier).status_code == 200
    with ctx.db.session() as s:
        assert s.exec(select(Throttle.count).where(col(Throttle.key).startswith("oauth:ip:"))).first() in (None, 0)
    limit = ctx.settings.oauth_max_failures
    answers = [_refresh(live_server.url, vendor, f"ivr_guess{i}") for i in range(limit + 1)]
    assert [r.json()["error"] for r in answers[:limit]] == ["invalid_grant"] * limit
    assert answers[limit].status_code == 429 and answers[limit].json()["error"] == "slow_down"
    assert "retry-after" in answers[limit].headers


def test_a_batch_is_one_transaction_with_one_audit_append(ctx: VaultContext) -> None:
    def ok(s: Session, out: list[audit.AuditSpec]) -> dict[str, Any]:
        out.append(_spec("token.issued"))
        return {"size": s.exec(select(func.count()).select_from(AuditEntry)).one()}

    batcher = TokenBatcher(ctx)
    batch = [_Pending(ok) for _ in range(5)]
    batcher._answer(batch)
    # every job of the batch ran before the batch's single append: none saw another's entry
    assert [p.future.result()["size"] for p in batch] == [0] * 5
    assert _kinds(ctx) == ["token.issued"] * 5
    assert batcher.batches == 1 and batcher.jobs == 5


def test_the_batcher_thread_answers_submitted_jobs_and_stops_when_idle(ctx: VaultContext) -> None:
    batcher = TokenBatcher(ctx, idle_seconds=0.05)
    futures = [batcher.submit(lambda _s, out: {"n": len(out)}) for _ in range(20)]
    assert all(f.result(timeout=30) == {"n": 0} for f in futures)
    thread = batcher._thread
    if thread is not None:
        thread.join(timeout=30)
    assert batcher.jobs == 20 and (batcher._thread is None or not batcher._thread.is_alive())


def test_a_parallel_burst_of_guesses_gets_exactly_the_limit_through(live_server: LiveServer, ctx: VaultContext) -> None:
    """The token endpoint checks the window without writing and counts only failures: within one server process
    the batch runs its jobs one after another, so a burst of parallel guesses still gets exactly the limit of
    answers and 429 for the rest."""
    vendor = approved_vendor(browser(live_server.url), ctx)
    limit = ctx.settings.oauth_max_failures
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: _refresh(live_server.url, vendor, f"ivr_burst{i}"), range(2 * limit)))
    errors = [r.json()["error"] for r in answers]
    assert errors.count("invalid_grant") == limit, errors
    assert errors.count("slow_down") == limit
    with ctx.db.session() as s:
        assert s.exec(select(Throttle.count).where(col(Throttle.key).startswith("oauth:ip:"))).one() == limit


def test_a_job_s_released_savepoint_commits_only_with_its_batch(ctx: VaultContext) -> None:
    """A job that reads first and writes inside its savepoint (as the token job does: throttle check, then the
    grant's rules) commits with its batch, not when its savepoint is released: a crash later in the batch rolls the
    job back, and the rerun alone commits it once."""
    window = accounts.Window(5, 60)

    def counts(s: Session, _out: list[audit.AuditSpec]) -> dict[str, Any]:
        accounts.throttle_peek(session=s, key="oauth:test")
        with s.begin_nested():
            accounts.throttle_hit(session=s, key="oauth:test", window=window)
        return {}

    def crashes(s: Session, _out: list[audit.AuditSpec]) -> dict[str, Any]:
        raise RuntimeError("boom")

    batch = [_Pending(counts), _Pending(crashes)]
    TokenBatcher(ctx)._answer(batch)
    assert batch[0].future.result() == {}
    with ctx.db.session() as s:
        assert accounts.throttle_peek(session=s, key="oauth:test") is not None
        assert s.exec(select(Throttle.count).where(Throttle.key == "oauth:test")).one() == 1


def test_jobs_awaited_on_an_event_loop_get_their_own_answers(ctx: VaultContext) -> None:
    """``answer`` hands a batch's results to the event loop at once; each request still gets its own answer or
    error."""
    batcher = TokenBatcher(ctx, idle_seconds=0.05)

    def job_for(i: int) -> Any:
        def job(_s: Session, _out: list[audit.AuditSpec]) -> dict[str, Any]:
            if i % 3 == 0:
                raise OAuthError("invalid_grant", f"no {i}")
            return {"i": i}

        return job

    async def main() -> list[Any]:
        return await asyncio.gather(*(batcher.answer(job_for(i)) for i in range(12)), return_exceptions=True)

    answers = asyncio.run(main())
    for i, answer in enumerate(answers):
        if i % 3 == 0:
            assert isinstance(answer, OAuthError) and answer.description == f"no {i}"
        else:
            assert answer == {"i": i}
    assert batcher.jobs == 12


def test_a_request_cancelled_while_waiting_does_not_stop_the_rest_of_its_batch(ctx: VaultContext) -> None:
    """A request whose client went away is cancelled while its job waits (``asyncio.wrap_future`` cancels the
    future): its batch's other requests are still answered, and the batcher keeps serving."""
    import threading

    batcher = TokenBatcher(ctx, idle_seconds=0.5)
    gate = threading.Event()
    first = batcher.submit(lambda _s, _out: {"first": gate.wait(30)})  # holds the thread while the rest queue
    gone = batcher.submit(lambda _s, _out: {"gone": True})
    kept = batcher.submit(lambda _s, _out: {"kept": True})
    assert gone.cancel()
    gate.set()
    assert first.result(timeout=30) == {"first": True}
    assert kept.result(timeout=30) == {"kept": True}
    assert batcher.submit(lambda _s, _out: {"after": True}).result(timeout=30) == {"after": True}
