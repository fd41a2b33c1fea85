"""An acknowledged gesture survives the server being killed (kill -9) mid-load: gesture ingest answers a POST only
after the commit that stored it (intents/batch.py commits POSTs arriving together in one transaction), so every
event the server called "accepted" is in the database when the process dies, and none is stored twice."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
from sqlmodel import select

from vault_server.accounts import service as accounts
from vault_server.config import Settings
from vault_server.context import VaultContext
from vault_server.intents.models import Gesture

from ..conftest import free_port
from ..scale.support import process_env, processes, serve_command, wait_healthy
from .test_outage import product_view


def test_every_acknowledged_gesture_survives_a_kill_9(ctx: VaultContext, settings: Settings) -> None:
    tokens = []
    with ctx.db.session() as s:
        for i in range(3):
            account = accounts.sign_up(
                session=s, ring=ctx.ring, hasher=ctx.hasher, email=f"k{i}@example.com", password="kill-nine-pass-1"
            )
            secret, _ = accounts.issue_api_token(session=s, account_id=account.id, name="t", scopes=["gestures:write"])
            tokens.append(secret)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    acknowledged: list[str] = []
    sent: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(base_url=url, timeout=20) as http:
            while not stop.is_set():
                event = product_view()
                with lock:
                    sent.append(str(event["id"]))
                try:
                    r = http.post(
                        "/v1/gestures",
                        json={"events": [event]},
                        headers={"Authorization": f"Bearer {tokens[n % len(tokens)]}"},
                    )
                except httpx.HTTPError:
                    return  # the server is gone
                if r.status_code == 200 and r.json()["accepted"] == 1:
                    with lock:
                        acknowledged.append(str(event["id"]))

    with processes([serve_command(port)], process_env(settings)) as (server,):
        wait_healthy([url], [server])
        with ThreadPoolExecutor(8) as pool:
            for n in range(8):
                pool.submit(client, n)
            deadline = time.monotonic() + 30
            while len(acknowledged) < 60 and time.monotonic() < deadline:
                time.sleep(0.05)
            server.kill()  # SIGKILL while POSTs are in flight
            server.wait()
            stop.set()
    assert len(acknowledged) >= 60, "the server acknowledged too few gestures before the kill"
    with ctx.db.session() as s:
        stored = Counter(s.exec(select(Gesture.event_id)).all())
    assert not [eid for eid in acknowledged if eid not in stored]  # nothing acknowledged was lost
    assert all(n == 1 for n in stored.values())  # nothing stored twice
    assert set(stored) <= set(sent)
