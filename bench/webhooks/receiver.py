"""A loopback webhook receiver for the bench: a bare ASGI app on uvicorn that verifies every Standard Webhooks
signature (written out here, independently of the vault's code) and counts deliveries per ``webhook-id``.

    .venv/bin/python bench/webhooks/receiver.py --port 8765 --secret whsec_...   # GET /stats -> counts as JSON

Run in its own process so it never shares the worker's interpreter. Response bodies are empty (the vault never
reads them anyway).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from typing import Any

import uvicorn

Scope = dict[str, Any]


class Receiver:
    """ASGI app: POST = one delivery (204 when the signature verifies, 400 otherwise); GET /stats = counters."""

    def __init__(self, secrets: list[str], tolerance: int = 300) -> None:
        self.keys = [base64.b64decode(s.split("_", 1)[1]) for s in secrets]
        self.tolerance = tolerance
        self.ids: Counter[str] = Counter()
        self.bad = 0

    def verified(self, headers: dict[bytes, bytes], body: bytes) -> str | None:
        msg_id = headers.get(b"webhook-id", b"").decode()
        stamp = headers.get(b"webhook-timestamp", b"").decode()
        sigs = headers.get(b"webhook-signature", b"").decode().split()
        if not msg_id or not stamp.isdigit() or abs(time.time() - int(stamp)) > self.tolerance:
            return None
        signed = f"{msg_id}.{stamp}.".encode() + body
        for key in self.keys:
            expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            if any(hmac.compare_digest(expected, s) for s in sigs):
                return msg_id
        return None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            doubled = sum(1 for n in self.ids.values() if n > 1)
            total = sum(self.ids.values())
            stats = {"delivered": total, "distinct": len(self.ids), "doubled": doubled, "bad": self.bad}
            await _answer(send, 200, json.dumps(stats).encode())
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        msg_id = self.verified(dict(scope["headers"]), b"".join(chunks))
        if msg_id is None:
            self.bad += 1
            await _answer(send, 400, b"")
            return
        self.ids[msg_id] += 1
        await _answer(send, 204, b"")


async def _answer(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", b"application/json"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--secret", action="append", required=True, help="whsec_ secret (repeat for several)")
    args = parser.parse_args()
    uvicorn.run(Receiver(args.secret), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
