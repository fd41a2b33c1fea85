"""Account rules: sign-up, authentication, sessions, API tokens, throttling, export and deletion."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, case, or_, update
from sqlalchemy import select as sa_select
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, col, delete, select

from vault_server.accounts.models import Account, ApiToken, Role, Throttle, WebSession
from vault_server.accounts.security import new_token, token_hash
from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.service import cipher_for, create_data_key, shred
from vault_server.db import UTCDateTime, utcnow
from vault_server.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthorized

# A real argon2id hash of a random password: verifying against it keeps "no such user" as slow as "wrong password".
_DUMMY_HASH = "$argon2id$v=19$m=65536,t=3,p=1$QXlXZ76Y9XlJk0zJNwEJjg$NMKsrXMnylzjQJCzQU6orGHoSuft1fa1tJz0Cfv+SDw"

KNOWN_SCOPES = frozenset({"gestures:write", "signals:read:self", "terms:self", "intents:write", "account:read"})
DEFAULT_PERSONAL_SCOPES = ("gestures:write",)


class InvalidCredentials(Unauthorized):
    slug = "invalid-credentials"
    title = "E-mail or password is wrong"


class EmailTaken(Conflict):
    slug = "email-taken"
    title = "An account with this e-mail exists"


def email_index(ring: KeyRing, email: str) -> str:
    return ring.blind_index("email", email.strip().lower())


def sign_up(
    *,
    session: Session,
    ring: KeyRing,
    hasher: PasswordHasher,
    email: str,
    password: str,
    name: str = "",
    role: Role = Role.consumer,
) -> Account:
    """Create an account with its own data key; e-mail and name are stored encrypted. Returns the account."""
    index = email_index(ring, email)
    if session.exec(select(Account.id).where(Account.email_index == index)).first() is not None:
        raise EmailTaken("an account with this e-mail already exists")
    account_id = str(uuid.uuid4())
    cipher = create_data_key(session=session, ring=ring, account_id=account_id)
    account = Account(
        id=account_id,
        role=role.value,
        email_index=index,
        email_enc=cipher.encrypt("account.email", account_id, email.strip().encode()),
        name_enc=cipher.encrypt("account.name", account_id, name.encode()),
        password_hash=hasher.hash(password),
    )
    session.add(account)
    session.flush()
    return account


def authenticate(*, session: Session, ring: KeyRing, hasher: PasswordHasher, email: str, password: str) -> Account:
    """Returns the account for a correct e-mail and password; raises InvalidCredentials otherwise."""
    account = session.exec(select(Account).where(Account.email_index == email_index(ring, email))).first()
    stored = account.password_hash if account and account.deleted_at is None and account.password_hash else None
    try:
        hasher.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("e-mail or password is wrong") from None
    if account is None or stored is None:
        raise InvalidCredentials("e-mail or password is wrong")
    if hasher.check_needs_rehash(stored):
        account.password_hash = hasher.hash(password)
        session.add(account)
    return account


def get_account(*, session: Session, account_id: str) -> Account:
    """Returns a live account or raises NotFound."""
    account = session.get(Account, account_id)
    if account is None or account.deleted_at is not None:
        raise NotFound("no such account")
    return account


def profile(*, session: Session, ring: KeyRing, account: Account) -> dict[str, Any]:
    """Returns the decrypted profile of an account (e-mail, name)."""
    cipher = cipher_for(session=session, ring=ring, account_id=account.id)
    return {
        "id": account.id,
        "role": account.role,
        "email": cipher.decrypt("account.email", account.id, account.email_enc or b"").decode(),
        "name": cipher.decrypt("account.name", account.id, account.name_enc or b"").decode(),
        "paused": account.paused,
        "created_at": account.created_at,
    }


def set_name(*, session: Session, ring: KeyRing, account: Account, name: str) -> Account:
    """Change the account's display name (stored encrypted). Returns the account."""
    cipher = cipher_for(session=session, ring=ring, account_id=account.id)
    account.name_enc = cipher.encrypt("account.name", account.id, name.strip().encode())
    session.add(account)
    return account


def change_password(
    *, session: Session, hasher: PasswordHasher, account: Account, current: str, new: str, keep_session: str | None
) -> None:
    """Replace the password after checking the current one; ends every other web session of the account."""
    try:
        hasher.verify(account.password_hash or _DUMMY_HASH, current)
    except (VerificationError, InvalidHashError):
        raise InvalidCredentials("the current password is wrong") from None
    account.password_hash = hasher.hash(new)
    session.add(account)
    keep = token_hash(keep_session) if keep_session else ""
    session.exec(delete(WebSession).where(col(WebSession.account_id) == account.id, col(WebSession.token_hash) != keep))


# ---- sessions ---------------------------------------------------------------------------------
def create_session(*, session: Session, account_id: str, ttl_seconds: int) -> str:
    """Start a web session; returns the cookie value (only its hash is stored)."""
    token = new_token("ivs_")
    session.add(
        WebSession(
            token_hash=token_hash(token), account_id=account_id, expires_at=utcnow() + timedelta(seconds=ttl_seconds)
        )
    )
    return token


def session_account(*, session: Session, token: str) -> tuple[Account, WebSession] | None:
    """Returns the account and session behind a cookie value, or None when unknown or expired."""
    row = session.get(WebSession, token_hash(token))
    if row is None or row.expires_at <= utcnow():
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.deleted_at is not None:
        return None
    return account, row


def end_session(*, session: Session, token: str) -> None:
    row = session.get(WebSession, token_hash(token))
    if row is not None:
        session.delete(row)


# ---- API tokens -------------------------------------------------------------------------------
def issue_api_token(
    *,
    session: Session,
    account_id: str,
    name: str,
    scopes: list[str] | tuple[str, ...],
    kind: str = "personal",
    expires_at: datetime | None = None,
) -> tuple[str, ApiToken]:
    """Create a bearer token for the account; returns (secret shown once, row)."""
    unknown = sorted(set(scopes) - KNOWN_SCOPES)
    if unknown:
        raise Forbidden(f"unknown or not allowed scope(s): {', '.join(unknown)}")
    secret = new_token("ivp_" if kind == "personal" else "ivd_")
    row = ApiToken(
        id=str(uuid.uuid4()),
        account_id=account_id,
        token_hash=token_hash(secret),
        kind=kind,
        name=name,
        scopes=" ".join(sorted(set(scopes))),
        expires_at=expires_at,
    )
    session.add(row)
    return secret, row


def token_principal(*, session: Session, token: str) -> tuple[Account, ApiToken] | None:
    """Returns the account and token row for a live bearer token, or None."""
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == token_hash(token))).first()
    now = utcnow()
    if row is None or row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return None
    account = session.get(Account, row.account_id)
    if account is None or account.deleted_at is not None:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        session.add(row)
    return account, row


@dataclass(frozen=True)
class TokenCaller:
    """Who a live bearer token speaks for (what :func:`token_callers` returns per token)."""

    account_id: str
    token_id: str
    scopes: frozenset[str]


_TOKEN = ApiToken.__table__  # type: ignore[attr-defined]
_ACCOUNT = Account.__table__  # type: ignore[attr-defined]
# built once (compiled form cached): the hot path of gesture ingest resolves a batch of POSTs' tokens with it
_LIVE_TOKENS = (
    sa_select(_TOKEN.c.token_hash, _TOKEN.c.id, _TOKEN.c.account_id, _TOKEN.c.scopes, _TOKEN.c.expires_at)
    .add_columns(_TOKEN.c.last_used_at)
    .join(_ACCOUNT, _ACCOUNT.c.id == _TOKEN.c.account_id)
    .where(
        _TOKEN.c.token_hash.in_(bindparam("hashes", expanding=True)),
        _TOKEN.c.revoked_at.is_(None),
        _ACCOUNT.c.deleted_at.is_(None),
    )
)
_TOUCH_TOKEN = update(_TOKEN).where(_TOKEN.c.id == bindparam("k_id")).values(last_used_at=bindparam("now"))


def token_callers(*, session: Session, tokens: Collection[str]) -> dict[str, TokenCaller]:
    """The live ones of several bearer tokens (personal or device) in one query: token -> caller.

    The rules of :func:`token_principal` — a revoked or expired token, or one of a deleted account, is absent — read
    in the caller's transaction, so a revocation counts at once; last use is marked as there (at most once a minute,
    one statement for all)."""
    by_hash = {token_hash(t): t for t in tokens}
    if not by_hash:
        return {}
    now = utcnow()
    found: dict[str, TokenCaller] = {}
    touched: list[dict[str, Any]] = []
    conn = session.connection()
    for row in conn.execute(_LIVE_TOKENS, {"hashes": list(by_hash)}):
        if row.expires_at is not None and row.expires_at <= now:
            continue
        found[by_hash[row.token_hash]] = TokenCaller(row.account_id, row.id, frozenset(row.scopes.split()))
        if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
            touched.append({"k_id": row.id, "now": now})
    if touched:  # in id order: concurrent batches take these row locks in one order (no deadlock)
        conn.execute(_TOUCH_TOKEN, sorted(touched, key=lambda t: str(t["k_id"])))
    return found


def list_tokens(*, session: Session, account_id: str) -> list[ApiToken]:
    """Returns the account's tokens, newest first."""
    return list(
        session.exec(
            select(ApiToken).where(ApiToken.account_id == account_id).order_by(col(ApiToken.created_at).desc())
        ).all()
    )


def revoke_token(*, session: Session, account_id: str, token_id: str) -> ApiToken:
    """Revoke one of the account's tokens; returns it."""
    row = session.get(ApiToken, token_id)
    if row is None or row.account_id != account_id:
        raise NotFound("no such token")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row


# ---- throttling -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Window:
    limit: int
    seconds: int


_THROTTLE = Throttle.__table__  # type: ignore[attr-defined]
_THROTTLE_EXPIRED = _THROTTLE.c.window_start <= bindparam("cutoff", type_=UTCDateTime())


def _take_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(_THROTTLE)
        .values(key=bindparam("b_key"), window_start=bindparam("b_now", type_=UTCDateTime()), count=1)
        .on_conflict_do_update(
            index_elements=[_THROTTLE.c.key],
            set_={
                "count": case((_THROTTLE_EXPIRED, 1), else_=_THROTTLE.c["count"] + 1),
                "window_start": case(
                    (_THROTTLE_EXPIRED, bindparam("b_now", type_=UTCDateTime())), else_=_THROTTLE.c.window_start
                ),
            },
            where=or_(_THROTTLE_EXPIRED, _THROTTLE.c["count"] < bindparam("limit")),
        )
        .returning(_THROTTLE.c["count"])
    )


# built once per dialect (their compiled form is cached): the token endpoint takes and gives back on every request
_TAKE = {dialect: _take_statement(dialect) for dialect in ("postgresql", "sqlite")}
_RELEASE = (
    update(_THROTTLE)
    .where(_THROTTLE.c.key == bindparam("b_key"), _THROTTLE.c["count"] > 0)
    .values(count=_THROTTLE.c["count"] - 1)
)


def throttle_take(*, session: Session, key: str, window: Window) -> None:
    """Take one attempt from ``key``'s window, or raise RateLimited (with Retry-After) when none is left.

    One statement, ``INSERT … ON CONFLICT DO UPDATE … WHERE count < limit RETURNING``: the database counts, so
    parallel attempts from any number of threads and processes never get more than ``limit`` through (PostgreSQL
    re-checks the condition on the row it locked; SQLite runs one writer at a time). A refused attempt is not
    counted. Take before the work the limit protects (e.g. the password check), give back with ``throttle_release``.
    """
    now = utcnow()
    conn = session.connection()
    params = {"b_key": key, "b_now": now, "cutoff": now - timedelta(seconds=window.seconds), "limit": window.limit}
    if conn.execute(_TAKE[conn.dialect.name], params).first() is not None:
        return
    started = session.execute(select(_THROTTLE.c.window_start).where(_THROTTLE.c.key == key)).scalar_one()
    retry = window.seconds - int((now - started).total_seconds())
    raise RateLimited("too many attempts; try again later", retry_after=retry)


def throttle_release(*, session: Session, key: str) -> None:
    """Give back one attempt taken with ``throttle_take`` (it turned out not to count, e.g. a right password)."""
    session.connection().execute(_RELEASE, {"b_key": key})


def _hit_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = bindparam("b_now", type_=UTCDateTime())
    return (
        insert(_THROTTLE)
        .values(key=bindparam("b_key"), window_start=now, count=1)
        .on_conflict_do_update(
            index_elements=[_THROTTLE.c.key],
            set_={
                "count": case((_THROTTLE_EXPIRED, 1), else_=_THROTTLE.c["count"] + 1),
                "window_start": case((_THROTTLE_EXPIRED, now), else_=_THROTTLE.c.window_start),
            },
        )
        .returning(_THROTTLE.c["count"], _THROTTLE.c.window_start)
    )


_HIT = {dialect: _hit_statement(dialect) for dialect in ("postgresql", "sqlite")}
_PEEK = select(_THROTTLE.c["count"], _THROTTLE.c.window_start).where(_THROTTLE.c.key == bindparam("b_key"))


def throttle_peek(*, session: Session, key: str) -> tuple[int, datetime] | None:
    """Read-only: ``key``'s (count, window start), or None when it has no window. For hot paths that count only
    failures (``throttle_hit``) and whose secrets are far too long to guess (the OAuth token endpoint): attempts
    checked in parallel may all pass before their failures are counted, so the limit can be overrun by as many
    attempts as run at once. Attempts that must stay bounded under parallel bursts (passwords) use
    ``throttle_take``."""
    row = session.connection().execute(_PEEK, {"b_key": key}).first()
    return None if row is None else (row[0], row[1])


def throttle_hit(*, session: Session, key: str, window: Window) -> tuple[int, datetime]:
    """Count one failure against ``key`` in one atomic upsert (a window that ended starts again); returns the new
    (count, window start), as the database has it after every failure counted before this one."""
    now = utcnow()
    conn = session.connection()
    params = {"b_key": key, "b_now": now, "cutoff": now - timedelta(seconds=window.seconds)}
    row = conn.execute(_HIT[conn.dialect.name], params).one()
    return row[0], row[1]


def throttle_clear(*, session: Session, key: str) -> None:
    session.exec(delete(Throttle).where(col(Throttle.key) == key))


# ---- deletion ---------------------------------------------------------------------------------
def delete_account(*, session: Session, account: Account) -> None:
    """Crypto-shred the account: drop its data key, sessions and tokens, and blank the account row."""
    shred(session=session, account_id=account.id)
    session.exec(delete(WebSession).where(col(WebSession.account_id) == account.id))
    session.exec(delete(ApiToken).where(col(ApiToken.account_id) == account.id))
    account.email_index = None
    account.email_enc = None
    account.name_enc = None
    account.password_hash = None
    account.deleted_at = utcnow()
    session.add(account)
