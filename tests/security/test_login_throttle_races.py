"""Password guessing under parallel bursts, against a real uvicorn server: the throttle counts in the database in
one statement, so a burst of 20 tries gets no more than the limit through (before: 18 to 20 of 20 reached the password
check); it throttles per account *and* client address, so an attacker's wrong tries do not lock the owner out from
their own device; and a per-account ceiling over all addresses bounds distributed guessing. Tries that reach the
password check answer 401, refused ones 429: counting 401s counts guesses."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from vault_server.accounts import service as accounts
from vault_server.accounts.service import Window
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.db import Database
from vault_server.errors import RateLimited

from ..conftest import PASSWORD, LiveServer, sign_up

VICTIM = "victim@example.com"


def _client(server: LiveServer, source: str) -> httpx.Client:
    """A client whose connections come from ``source`` (any 127.x.y.z reaches the server on 127.0.0.1)."""
    return httpx.Client(base_url=server.url, transport=httpx.HTTPTransport(local_address=source), timeout=60)


def _burst(server: LiveServer, sources: list[str], password: str = "wrong password, a guess") -> Counter[int]:
    """One login try per source entry, all released at once from their own threads; status code counts."""
    barrier = threading.Barrier(len(sources))

    def attempt(source: str) -> int:
        with _client(server, source) as c:
            c.get("/healthz")  # connect first: the barrier then releases requests, not handshakes
            barrier.wait()
            return c.post("/v1/sessions", json={"email": VICTIM, "password": password}).status_code

    with ThreadPoolExecutor(len(sources)) as pool:
        return Counter(pool.map(attempt, sources))


@pytest.fixture
def server(app: object) -> Iterator[LiveServer]:
    with LiveServer(app) as live:
        with httpx.Client(timeout=20, base_url=live.url) as c:
            sign_up(c, VICTIM)
        yield live


def test_a_parallel_burst_gets_no_more_than_the_limit_through(server: LiveServer, settings: Settings) -> None:
    codes = _burst(server, ["127.0.0.1"] * 20)
    assert codes[401] == settings.login_max_failures, codes
    assert codes[429] == 20 - settings.login_max_failures, codes
    assert set(codes) == {401, 429}
    with _client(server, "127.0.0.1") as c:  # the right password from the attacker's address is refused too
        r = c.post("/v1/sessions", json={"email": VICTIM, "password": PASSWORD})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0


def test_the_owner_still_logs_in_from_their_own_device(server: LiveServer, settings: Settings) -> None:
    codes = _burst(server, ["127.0.0.9"] * 12)
    assert codes[429] > 0 and codes[401] <= settings.login_max_failures
    with _client(server, "127.0.0.2") as owner:
        r = owner.post("/v1/sessions", json={"email": VICTIM, "password": PASSWORD})
        assert r.status_code == 200, r.text
        # and the owner's own typos count against their address only
        for _ in range(2):
            assert owner.post("/v1/sessions", json={"email": VICTIM, "password": "typo"}).status_code == 401
        assert owner.post("/v1/sessions", json={"email": VICTIM, "password": PASSWORD}).status_code == 200


def test_distributed_guessing_hits_the_per_account_ceiling(
    server: LiveServer, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.settings, "login_account_max_failures", 8)
    sources = [f"127.0.1.{n}" for n in range(1, 9) for _ in range(4)]  # 8 addresses x 4 tries = 32, all at once
    codes = _burst(server, sources)
    assert codes[401] == 8, codes  # each address is under its own limit of 5: only the ceiling stops them
    assert codes[429] == 24, codes


def test_a_right_password_does_not_use_up_the_ceiling(
    server: LiveServer, ctx: VaultContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ctx.settings, "login_account_max_failures", 3)
    with _client(server, "127.0.0.3") as c:
        for _ in range(6):
            assert c.post("/v1/sessions", json={"email": VICTIM, "password": PASSWORD}).status_code == 200


def _hammer(take: Callable[[], None], n: int) -> int:
    def once(_: int) -> bool:
        try:
            take()
        except RateLimited:
            return False
        return True

    with ThreadPoolExecutor(n) as pool:
        return sum(pool.map(once, range(n)))


def test_the_count_is_atomic_across_processes(settings: Settings, ctx: VaultContext) -> None:
    """Two engines (two connection pools, as two server processes have) take from one window in parallel."""
    engines = [Database(settings), Database(settings)]
    window = Window(5, 900)
    turn = iter(range(10**6))

    def take() -> None:
        db = engines[next(turn) % 2]
        with db.session() as s:
            accounts.throttle_take(session=s, key="race:test", window=window)

    try:
        assert _hammer(take, 24) == 5
    finally:
        for db in engines:
            db.dispose()
