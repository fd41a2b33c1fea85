"""Every log line written while a request is handled names that request: the access line, the vault's own error
line and the server's "Exception in ASGI application" line of a crash (served by uvicorn as in production, with
the vault's JSON logging), and lines written from the thread pool."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from vault_server.logs import JsonFormatter, configure_logging

from ..conftest import free_port, sign_up


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    configure_logging("INFO")  # as `intent-vault serve` does: uvicorn's own lines go through the JSON handler
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    loggers = [logging.getLogger(name) for name in ("vault", "uvicorn.error")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield out
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        configure_logging("WARNING")


def _serve(app: Any) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, access_log=False, log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


def test_every_line_of_a_request_carries_its_id(
    app: Any, captured: io.StringIO, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vault_server.web import health

    def boom(_db: Any) -> None:
        logging.getLogger("vault.test").warning("about to fail")  # from the thread pool, inside the request
        raise RuntimeError("simulated fault")

    monkeypatch.setattr(health, "check_migrated", boom)
    server, thread, url = _serve(app)
    ids: list[str] = []
    try:
        with httpx.Client(timeout=20, base_url=url) as c:
            sign_up(c, "rid@example.com")
        for _ in range(2):  # the server drops the connection after a crash: one client each
            with httpx.Client(timeout=20, base_url=url) as c:
                r = c.get("/readyz")
            assert r.status_code == 500
            ids.append(r.headers["x-request-id"])
        with httpx.Client(timeout=20, base_url=url) as c:
            r = c.post("/v1/sessions", json={"email": "rid@example.com", "password": "wrong password here"})
            assert r.status_code == 401
            ids.append(r.headers["x-request-id"])
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    lines = [json.loads(line) for line in captured.getvalue().splitlines() if line.strip()]
    served = [line for line in lines if line["logger"] != "uvicorn.error" or "ASGI" in line["msg"]]
    crash_lines = [line for line in served if "ASGI" in line["msg"]]
    assert len(crash_lines) == 2, "the server logged both crashes through the vault's handler"
    assert [line["request_id"] for line in crash_lines] == ids[:2]
    assert [line["request_id"] for line in served if line["msg"] == "about to fail"] == ids[:2]
    assert [line["request_id"] for line in served if line["msg"] == "unhandled error"] == ids[:2]
    for line in served:
        assert line["request_id"] != "-", line
    assert ids[2] in {line["request_id"] for line in served if line.get("status") == 401}
