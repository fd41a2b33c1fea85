"""A small, typed Intent Vault vendor client (httpx + the standard library only).

What a vendor integration needs, and nothing else::

    from vendor_client import VendorClient, FileCursorStore, verify_webhook

    vault = VendorClient("https://vault.example", client_id, client_secret)

    # 1. ask a consumer for access: authorization code + PKCE (S256) with RAR authorization_details
    request = vault.authorization_request(redirect_uri, details=[...], scope="signals:read intents:read offers:write")
    # send the browser to request.url; on the redirect back:
    tokens = vault.exchange_code(code, request)            # tokens.subject is the consumer's pseudonym for you

    # 2. follow the feed of every consumer who granted you, resuming where you left off
    vault.follow_feed(FileCursorStore("feed.cursor"), handle=lambda item: ...)

    # 3. webhooks: register once, verify every delivery
    endpoint = vault.register_webhook("https://you.example/hooks", ["signal.updated", "grant.revoked"])
    event = verify_webhook(endpoint["secret"], request_headers, request_body)   # raises InvalidWebhook

    # 4. answer intentcasts with offers, ask questions
    for cast in vault.intentcasts(): vault.post_offer(cast["id"], Offer(...))
    vault.ask("Which size?", choices=["55", "65"])

    # 5. test end to end without a person: a sandbox consumer consents from your script
    consumer = vault.sandbox_consumer("checkout test")
    tokens = vault.sandbox_authorize(consumer["id"], vault.authorization_request(redirect_uri, details=[...]))

    # 6. countersign the consumers' IEEE 7012 agreement records with the key you registered (needs `cryptography`)
    vault.countersign_pending(private_key, kid="your-key-1")

Vendor-wide calls (feed, webhooks, offers, questions) authenticate with the client credentials (HTTP Basic);
per-consumer calls (``subject_signals``) use that consumer's access token. Run ``python vendor_client.py --help``
for a command-line demo
(``--sandbox REDIRECT_URI`` runs the whole integration against a new sandbox consumer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

__all__ = [
    "AuthorizationRequest",
    "FileCursorStore",
    "InvalidWebhook",
    "Offer",
    "TokenSet",
    "VaultError",
    "VendorClient",
    "ed25519_jws",
    "verify_webhook",
]

WEBHOOK_TOLERANCE_SECONDS = 300


class VaultError(Exception):
    """An RFC 9457 problem (or OAuth error) returned by the vault."""

    def __init__(self, status: int, body: Mapping[str, Any]):
        self.status = status
        self.body = dict(body)
        self.type = str(body.get("type") or body.get("error") or "about:blank")
        super().__init__(f"{status} {self.type}: {body.get('detail') or body.get('error_description') or ''}")


class InvalidWebhook(Exception):
    """The webhook's signature or timestamp did not verify: ignore the request (answer 400)."""


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the consumer's browser, and what to keep until they come back."""

    url: str
    state: str
    code_verifier: str
    redirect_uri: str


@dataclass(frozen=True)
class TokenSet:
    access_token: str
    refresh_token: str | None
    expires_at: float
    scope: list[str]
    authorization_details: list[dict[str, Any]]
    subject: str

    @classmethod
    def from_response(cls, body: Mapping[str, Any]) -> TokenSet:
        payload = body["access_token"].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return cls(
            access_token=body["access_token"],
            refresh_token=body.get("refresh_token"),
            expires_at=time.time() + int(body.get("expires_in", 0)),
            scope=str(body.get("scope", "")).split(),
            authorization_details=list(body.get("authorization_details") or []),
            subject=str(claims["sub"]),
        )


@dataclass(frozen=True)
class Offer:
    title: str
    price: str
    currency: str
    url: str
    expires_at: datetime
    terms: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "price": self.price,
            "currency": self.currency,
            "url": self.url,
            "expires_at": self.expires_at.isoformat(),
            "terms": self.terms,
        }


@dataclass
class FileCursorStore:
    """Keeps the feed cursor in a file, replaced atomically, so a crash never loses or corrupts it."""

    path: Path | str

    def load(self) -> str | None:
        p = Path(self.path)
        return p.read_text().strip() or None if p.exists() else None

    def save(self, cursor: str) -> None:
        p = Path(self.path)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=p.name + ".")
        with os.fdopen(fd, "w") as f:
            f.write(cursor)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)


def verify_webhook(
    secret: str, headers: Mapping[str, str], body: bytes, *, tolerance: int = WEBHOOK_TOLERANCE_SECONDS
) -> dict[str, Any]:
    """Check a Standard Webhooks signature (constant-time) and timestamp; returns the parsed event.

    ``webhook-signature`` holds space-separated ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``
    values; the key is the base64 part of the ``whsec_`` secret.
    """
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = h.get("webhook-id"), h.get("webhook-timestamp"), h.get("webhook-signature")
    if not msg_id or not ts or not sigs:
        raise InvalidWebhook("missing webhook-id, webhook-timestamp or webhook-signature")
    try:
        stamp = int(ts)
    except ValueError:
        raise InvalidWebhook("webhook-timestamp is not an integer") from None
    if abs(time.time() - stamp) > tolerance:
        raise InvalidWebhook("webhook-timestamp is too old or in the future (replay?)")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    expected = base64.b64encode(hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest())
    for candidate in sigs.split():
        version, _, value = candidate.partition(",")
        if version == "v1" and hmac.compare_digest(value.encode(), expected):
            event: dict[str, Any] = json.loads(body)
            event["webhook_id"] = msg_id
            return event
    raise InvalidWebhook("no signature matches")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def ed25519_jws(document: Mapping[str, Any], private_key: Any, kid: str) -> str:
    """Compact JWS (RFC 7515, alg EdDSA) over the canonical JSON of ``document`` (sorted keys, no spaces, UTF-8):
    what the vault checks a countersignature against. ``private_key`` is a ``cryptography`` Ed25519PrivateKey."""
    header = _b64(json.dumps({"alg": "EdDSA", "kid": kid}, separators=(",", ":")).encode())
    payload = _b64(json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    signature = private_key.sign(f"{header}.{payload}".encode("ascii"))
    return f"{header}.{payload}.{_b64(signature)}"


class VendorClient:
    """The vault's vendor API: OAuth (code + PKCE), the feed, webhooks, offers and questions."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, *, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._auth = httpx.BasicAuth(client_id, client_secret)
        self._http = http or httpx.Client(base_url=self.base_url, timeout=30)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> VendorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- plumbing -------------------------------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, auth: Any = None, **kw: Any) -> httpx.Response:
        r = self._http.request(method, path, auth=auth or self._auth, **kw)
        if r.status_code >= 400:
            try:
                body = r.json()
            except ValueError:
                body = {"detail": r.text[:200]}
            raise VaultError(r.status_code, body)
        return r

    # ---- OAuth: authorization code + PKCE ------------------------------------------------------------------------
    def authorization_request(
        self, redirect_uri: str, *, details: Sequence[Mapping[str, Any]], scope: str = "signals:read"
    ) -> AuthorizationRequest:
        """The consent URL (RFC 6749 §4.1.1 with PKCE S256 and RFC 9396 authorization_details)."""
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(16)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": redirect_uri,
                "scope": scope,
                "state": state,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "authorization_details": json.dumps(list(details)),
            }
        )
        return AuthorizationRequest(f"{self.base_url}/oauth/authorize?{query}", state, verifier, redirect_uri)

    def exchange_code(self, code: str, request: AuthorizationRequest, *, state: str | None = None) -> TokenSet:
        """Trade the code from the redirect for tokens; pass the redirect's ``state`` to have it checked."""
        if state is not None and not hmac.compare_digest(state, request.state):
            raise VaultError(400, {"error": "state_mismatch", "error_description": "the state does not match"})
        body = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": request.redirect_uri,
            "code_verifier": request.code_verifier,
        }
        return TokenSet.from_response(self._call("POST", "/oauth/token", data=body).json())

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """A new token set (refresh tokens rotate: keep only the newest)."""
        body = {"grant_type": "refresh_token", "refresh_token": tokens.refresh_token or ""}
        return TokenSet.from_response(self._call("POST", "/oauth/token", data=body).json())

    def subject_signals(self, tokens: TokenSet) -> dict[str, Any]:
        """One consumer's signals now, exactly as far as their grant allows."""
        bearer = {"Authorization": f"Bearer {tokens.access_token}"}
        r = self._http.get(f"/v1/subjects/{tokens.subject}/signals", headers=bearer)
        if r.status_code >= 400:
            raise VaultError(r.status_code, r.json())
        return dict(r.json())

    # ---- the feed -------------------------------------------------------------------------------------------------
    def feed_page(
        self, cursor: str | None = None, *, limit: int = 100, etag: str | None = None
    ) -> dict[str, Any] | None:
        """One page after ``cursor``; None when ``etag`` still matches (304: nothing new to read)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        headers = {"If-None-Match": etag} if etag else {}
        r = self._call("GET", "/v1/feed", params=params, headers=headers)
        if r.status_code == 304:
            return None
        page: dict[str, Any] = r.json()
        page["etag"] = r.headers.get("etag")
        return page

    def follow_feed(self, store: FileCursorStore, handle: Callable[[dict[str, Any]], None], *, limit: int = 100) -> int:
        """Read every page after the stored cursor, calling ``handle`` per item; the cursor is saved after each
        page is handled, so a crash re-reads at most one page (make ``handle`` idempotent by ``pos``). Returns the
        number of items handled. Items with ``"forget": true`` (grant.revoked, grant.expired, subject.deleted)
        mean: delete what you hold for that subject under that grant."""
        cursor = store.load()
        handled = 0
        while True:
            page = self.feed_page(cursor, limit=limit)
            if page is None:
                return handled
            for item in page["items"]:
                handle(item)
                handled += 1
            cursor = page["next_cursor"]
            store.save(cursor)
            if not page["has_more"]:
                return handled

    # ---- webhooks -------------------------------------------------------------------------------------------------
    def register_webhook(self, url: str, events: Sequence[str], description: str = "") -> dict[str, Any]:
        """Register an HTTPS endpoint; the returned ``secret`` (whsec_…) is shown only now: store it."""
        body = {"url": url, "events": list(events), "description": description}
        return dict(self._call("POST", "/v1/webhooks", json=body).json())

    def webhook_deliveries(self, status: str | None = None) -> list[dict[str, Any]]:
        params = {"status": status} if status else {}
        return list(self._call("GET", "/v1/webhooks/deliveries", params=params).json()["deliveries"])

    def replay(self, message_id: str) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/webhooks/deliveries/{message_id}/replay").json())

    # ---- intentcasts and offers -------------------------------------------------------------------------------------
    def serve_categories(self, categories: Sequence[str]) -> list[str]:
        """Receive anonymous intentcasts in these categories (and below)."""
        body = {"categories": list(categories)}
        return list(self._call("PUT", "/v1/vendor/intentcasts/categories", json=body).json()["categories"])

    def intentcasts(self) -> list[dict[str, Any]]:
        """Open intentcasts addressed to you."""
        return list(self._call("GET", "/v1/vendor/intentcasts").json()["intentcasts"])

    def post_offer(self, cast_id: str, offer: Offer) -> dict[str, Any]:
        return dict(self._call("POST", f"/v1/vendor/intentcasts/{cast_id}/offers", json=offer.to_json()).json())

    # ---- Just Ask ---------------------------------------------------------------------------------------------------
    def ask(self, prompt: str, *, choices: Sequence[str] | None = None, open_days: int = 7) -> dict[str, Any]:
        """Ask every consumer whose grant allows questions; multiple choice when ``choices`` is given."""
        body = {"kind": "choice" if choices else "text", "prompt": prompt, "choices": list(choices or []),
                "open_days": open_days}  # fmt: skip
        return dict(self._call("POST", "/v1/vendor/questions", json=body).json())

    def question_results(self, question_id: str) -> dict[str, Any]:
        return dict(self._call("GET", f"/v1/vendor/questions/{question_id}/results").json())

    # ---- the sandbox: test consumers you drive from a script ----------------------------------------------------
    def sandbox_consumer(self, label: str = "", gestures: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """Create a test consumer bound to your app, with made-up gestures (a TV shopper's week unless you give
        some); returns ``id``, ``subject`` (its ``ps_…`` for you) and how many gestures were stored."""
        body: dict[str, Any] = {"label": label}
        if gestures is not None:
            body["gestures"] = [dict(g) for g in gestures]
        return dict(self._call("POST", "/v1/vendor/sandbox/consumers", json=body).json())

    def sandbox_consumers(self) -> list[dict[str, Any]]:
        return list(self._call("GET", "/v1/vendor/sandbox/consumers").json()["consumers"])

    def sandbox_consent(
        self,
        consumer_id: str,
        request: AuthorizationRequest,
        *,
        decision: str = "approve",
        narrow: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Let a sandbox consumer decide ``request`` as a person would on the consent screen (``narrow`` leaves out
        categories or fields, or raises the stage). Returns ``redirect_to`` with ``code`` and ``state`` (or
        ``error``): what your callback would receive."""
        body: dict[str, Any] = {"authorization_url": request.url, "decision": decision}
        if narrow is not None:
            body["narrow"] = dict(narrow)
        return dict(self._call("POST", f"/v1/vendor/sandbox/consumers/{consumer_id}/consent", json=body).json())

    def sandbox_authorize(self, consumer_id: str, request: AuthorizationRequest) -> TokenSet:
        """Consent as the sandbox consumer, then the real token exchange (code + PKCE verifier)."""
        answer = self.sandbox_consent(consumer_id, request)
        if not answer.get("code"):
            raise VaultError(400, {"error": answer.get("error"), "error_description": answer.get("error_description")})
        return self.exchange_code(answer["code"], request, state=answer["state"])

    def sandbox_gestures(self, consumer_id: str, gestures: Sequence[Mapping[str, Any]] | None = None) -> dict[str, Any]:
        """More gestures for a sandbox consumer (default: it comes back and puts the TV in its cart): its signals
        change and ``signal.updated`` follows, by feed and webhook, as for a person."""
        body = {"gestures": [dict(g) for g in gestures]} if gestures is not None else {}
        return dict(self._call("POST", f"/v1/vendor/sandbox/consumers/{consumer_id}/gestures", json=body).json())

    def sandbox_revoke(self, consumer_id: str) -> int:
        """The sandbox consumer revokes its grant to you: ``grant.revoked`` follows."""
        return int(self._call("POST", f"/v1/vendor/sandbox/consumers/{consumer_id}/revoke").json()["revoked"])

    def sandbox_delete(self, consumer_id: str) -> None:
        """Delete a sandbox consumer as a person deletes their account: you receive ``subject.deleted``."""
        self._call("DELETE", f"/v1/vendor/sandbox/consumers/{consumer_id}")

    # ---- the consumers' terms (IEEE 7012) ---------------------------------------------------------------------------
    def agreement_records(self, *, pending: bool = False) -> list[dict[str, Any]]:
        """Agreement records with your consumers, newest first (``pending``: not countersigned by you yet)."""
        params = {"pending": "true"} if pending else {}
        return list(self._call("GET", "/v1/terms/records", params=params).json()["records"])

    def countersign(self, record: Mapping[str, Any], private_key: Any, kid: str) -> dict[str, Any]:
        """Countersign one record (as downloaded) with your Ed25519 key (a ``cryptography`` private key) whose
        public half is in the JWKS you registered under ``kid``; returns the record with both signatures."""
        token = ed25519_jws(record["record"], private_key, kid)
        path = f"/v1/terms/records/{record['record']['recordId']}/countersign"
        return dict(self._call("POST", path, json={"jws": token}).json())

    def countersign_pending(self, private_key: Any, kid: str) -> int:
        """Countersign every record still waiting for you; returns how many."""
        pending = self.agreement_records(pending=True)
        for record in pending:
            self.countersign(record, private_key, kid)
        return len(pending)


SANDBOX_DETAILS = [
    {
        "type": "intent_signals",
        "categories": ["electronics"],
        "min_stage": "awareness",
        "fields": ["stage", "score", "price_band"],
        "purpose": "Offers on what you are shopping for",
        "retention_days": 30,
        "frequency": "realtime",
    }
]


def sandbox_walkthrough(vault: VendorClient, redirect_uri: str, store: FileCursorStore) -> list[dict[str, Any]]:
    """The whole integration against a sandbox consumer, from a script: create it, ask for access, consent as it,
    exchange the code, read its signals and the feed, delete it and read the ``subject.deleted`` tombstone.
    Returns the feed items read (printed by the command line)."""
    consumer = vault.sandbox_consumer("walkthrough")
    request = vault.authorization_request(redirect_uri, details=SANDBOX_DETAILS, scope="signals:read")
    tokens = vault.sandbox_authorize(consumer["id"], request)
    assert tokens.subject == consumer["subject"]
    items: list[dict[str, Any]] = [{"type": "subject.signals", **vault.subject_signals(tokens)}]
    vault.follow_feed(store, items.append)
    vault.sandbox_delete(consumer["id"])
    vault.follow_feed(store, items.append)
    return items


def _demo() -> None:  # pragma: no cover - a manual walk-through
    import argparse

    parser = argparse.ArgumentParser(description="Follow a vault feed and print each item.")
    parser.add_argument("--vault", default=os.environ.get("VAULT_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--client-id", default=os.environ.get("VAULT_CLIENT_ID"))
    parser.add_argument("--client-secret", default=os.environ.get("VAULT_CLIENT_SECRET"))
    parser.add_argument("--cursor-file", default="feed.cursor")
    parser.add_argument(
        "--sandbox",
        metavar="REDIRECT_URI",
        help="run the whole integration against a new sandbox consumer (REDIRECT_URI: one registered for your app)",
    )
    args = parser.parse_args()
    if not args.client_id or not args.client_secret:
        parser.error("give --client-id and --client-secret (or VAULT_CLIENT_ID / VAULT_CLIENT_SECRET)")
    with VendorClient(args.vault, args.client_id, args.client_secret) as vault:
        store = FileCursorStore(args.cursor_file)
        if args.sandbox:
            for item in sandbox_walkthrough(vault, args.sandbox, store):
                print(json.dumps(item))
            return
        n = vault.follow_feed(store, lambda item: print(json.dumps(item)))
        print(f"{n} item(s); cursor saved in {args.cursor_file}")


if __name__ == "__main__":
    _demo()
