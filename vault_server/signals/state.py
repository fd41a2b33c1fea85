"""Signal state: the encrypted per-(consumer, category) rows the signals room keeps, and every read of them.

Writers (the intents room, after ingest, edits and deletions) build row values with :func:`state_values` and
write them with :func:`write_states` (Core statements, one per kind whatever the number of rows). Readers ask
:func:`signals_for` (one consumer) or :func:`signals_for_many` (a feed page's subjects: one query for every
state, data keys fetched together), which evaluate each state at read time.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, delete, insert, select, update
from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.crypto.envelope import ConsumerCipher
from vault_server.crypto.keyring import KeyRing
from vault_server.crypto.service import DataKeyGone, cipher_from_wrapped, ciphers_for, with_wrapped_key
from vault_server.db import one_of, utcnow
from vault_server.signals.engine import SignalState, evaluate
from vault_server.signals.models import SignalRow
from vault_server.signals.schema import GestureEvent

PRICE_SAMPLES = 20
BRANDS_KEPT = 10
PRICE_BANDS = (25, 50, 100, 250, 500, 1000, 2500)

_T = SignalRow.__table__  # type: ignore[attr-defined]


def category_index(ctx: VaultContext, account_id: str, category: str) -> str:
    """The blind index of a category for one consumer (the same category differs between consumers)."""
    return ctx.ring.blind_index("category:" + account_id, category)


def signal_row_id(account_id: str, index: str) -> str:
    """The AAD row id a state blob is bound to."""
    return f"{account_id}:{index}"


def decode_state(cipher: ConsumerCipher, index: str, blob: bytes) -> dict[str, Any]:
    """The decrypted ``{"state": ..., "extras": ...}`` document of one row."""
    doc: dict[str, Any] = json.loads(cipher.decrypt("signal_state", signal_row_id(cipher.consumer_id, index), blob))
    return doc


def update_extras(extras: dict[str, Any], events: Iterable[GestureEvent]) -> dict[str, Any]:
    """Brands seen and recent prices: what a grant's ``brand`` and ``price_band`` fields are built from."""
    brands: dict[str, int] = dict(extras.get("brands", {}))
    prices: list[list[Any]] = list(extras.get("prices", []))
    for event in sorted(events, key=lambda e: e.epoch):
        product = event.product
        if product is None:
            continue
        if product.brand:
            brands[product.brand] = brands.get(product.brand, 0) + 1
        if product.price is not None and product.price > 0 and product.currency:
            prices.append([product.price, product.currency])
    top = sorted(brands.items(), key=lambda kv: (-kv[1], kv[0]))[:BRANDS_KEPT]
    return {"brands": dict(top), "prices": prices[-PRICE_SAMPLES:]}


def state_values(
    ctx: VaultContext,
    cipher: ConsumerCipher,
    index: str,
    version: int | None,
    state: SignalState,
    extras: dict[str, Any],
    *,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The column values of a signal_state row holding ``state`` (encrypted, bound to its row).

    ``version`` is the stored row's version, None for a new row.
    """
    blob = cipher.encrypt(
        "signal_state",
        signal_row_id(cipher.consumer_id, index),
        json.dumps({"state": state.to_dict(), "extras": extras}, separators=(",", ":")).encode(),
    )
    return {
        "account_id": cipher.consumer_id,
        "category_index": index,
        "policy_hash": ctx.policy.hash,
        "updated_at": now or utcnow(),
        "version": 1 if version is None else version + 1,
        "state": blob,
    }


# built once: SQLAlchemy caches their compiled form, and building them was a good part of a small ingest's cost
_UPDATE_STATE = (
    update(_T)
    .where(and_(_T.c.account_id == bindparam("k_account"), _T.c.category_index == bindparam("k_index")))
    .values(
        policy_hash=bindparam("policy_hash"),
        updated_at=bindparam("updated_at"),
        version=bindparam("version"),
        state=bindparam("state"),
    )
)
_INSERT_STATE = insert(_T)
_READ_ROWS = select(_T.c.category_index, _T.c.policy_hash, _T.c.version, _T.c.state).where(
    _T.c.account_id == bindparam("account"), _T.c.category_index.in_(bindparam("indexes", expanding=True))
)


def write_states(session: Session, updates: list[dict[str, Any]], inserts: list[dict[str, Any]]) -> None:
    """Core executemany UPDATE by primary key and INSERT: two statements whatever the number of rows."""
    conn = session.connection()
    if updates:
        conn.execute(_UPDATE_STATE, [_keyed(v) for v in updates])
    if inserts:
        conn.execute(_INSERT_STATE, inserts)


def _keyed(values: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in values.items() if k not in ("account_id", "category_index")}
    out["k_account"], out["k_index"] = values["account_id"], values["category_index"]
    return out


def read_rows(session: Session, account_id: str, indexes: Collection[str]) -> dict[str, tuple[str, int, bytes]]:
    """The stored rows of one consumer's named categories: index -> (policy_hash, version, blob); one query."""
    if not indexes:
        return {}
    rows = session.connection().execute(_READ_ROWS, {"account": account_id, "indexes": list(indexes)})
    return {r.category_index: (r.policy_hash, r.version, r.state) for r in rows}


def price_band(extras: dict[str, Any], declared: dict[str, Any] | None) -> str | None:
    """The coarse price band a grant's ``price_band`` field shows: the declared budget, else the median price."""
    if declared and declared.get("budget_max") and declared.get("currency"):
        value, currency = float(declared["budget_max"]), str(declared["currency"])
    else:
        prices = extras.get("prices") or []
        if not prices:
            return None
        currency = max({p[1] for p in prices}, key=lambda c: sum(1 for p in prices if p[1] == c))
        value = statistics.median(float(p[0]) for p in prices if p[1] == currency)
    lower = 0
    for bound in PRICE_BANDS:
        if value < bound:
            return f"{lower}-{bound} {currency}"
        lower = bound
    return f"{PRICE_BANDS[-1]}+ {currency}"


def _ciphers(session: Session, ring: KeyRing, account_ids: Iterable[str]) -> dict[str, ConsumerCipher]:
    """The data keys of several consumers (one query); raises DataKeyGone for a shredded one."""
    wanted = set(account_ids)
    found = ciphers_for(session=session, ring=ring, account_ids=wanted)
    for account_id in sorted(wanted - found.keys()):
        raise DataKeyGone(f"no data key for account {account_id}")
    return found


def _signal_out(
    ctx: VaultContext, doc: dict[str, Any], version: int, updated_at: datetime, when: datetime
) -> dict[str, Any]:
    state = SignalState.from_dict(doc["state"])
    signal = evaluate(state, when, ctx.policy)
    node = ctx.policy.nodes.get(state.category)
    extras = doc.get("extras", {})
    return {
        "category": state.category,
        "category_name": node.name if node else state.category,
        "score": signal.score,
        "stage": signal.stage,
        "confidence": signal.confidence,
        "last_seen": signal.last_seen,
        "explanation": signal.explanation,
        "price_band": price_band(extras, state.declared),
        "brands": list(extras.get("brands", {})),
        "policy_hash": signal.policy_hash,
        "version": version,
        "updated_at": updated_at,
    }


def signals_for_many(
    *,
    session: Session,
    ctx: VaultContext,
    wanted: Mapping[str, Collection[str] | None],
    now: datetime | None = None,
    keys_into: dict[str, ConsumerCipher] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """The current signals of many consumers: account id -> signals (as :func:`signals_for`), strongest first.

    ``wanted`` maps each account to the categories asked for (None: all of them; empty: none). One query reads
    every state; data keys are fetched together. With ``keys_into`` (a feed page, which encrypts its audit entries
    with the same keys) the keys come in the states' own query (joined) and every key opened is added to it: one
    statement in all (an account with no state is not read, so it has no key there). Every account of ``wanted``
    is a key of the result.
    """
    out: dict[str, list[dict[str, Any]]] = {account_id: [] for account_id in wanted}
    every: list[str] = []
    pairs: dict[str, set[str]] = {}
    for account_id, categories in wanted.items():
        if categories is None:
            every.append(account_id)
        elif categories:
            pairs[account_id] = {category_index(ctx, account_id, c) for c in categories}
    if not every and not pairs:
        return out
    # every state of these consumers by the primary key's first column, then only the wanted ones are decrypted:
    # a consumer has a few states, and one array of account ids is far cheaper to send and match than the
    # (consumers x granted leaves) blind indexes (a backlog page's ~600)
    dialect = session.get_bind().dialect.name
    columns = [_T.c.account_id, _T.c.category_index, _T.c.version, _T.c.updated_at, _T.c.state]
    by_account = one_of(dialect, _T.c.account_id, sorted({*every, *pairs}))
    if keys_into is None:
        ciphers = _ciphers(session, ctx.ring, [*every, *pairs])
        query = select(*columns).where(by_account)
    else:
        ciphers = keys_into
        joined, wrapped = with_wrapped_key(_T, _T.c.account_id)
        query = select(*columns, wrapped.label("wrapped")).select_from(joined).where(by_account)
    when = now or utcnow()
    for row in session.connection().execute(query):
        if keys_into is not None and row.account_id not in ciphers:
            if row.wrapped is None:
                raise DataKeyGone(f"no data key for account {row.account_id}")
            ciphers[row.account_id] = cipher_from_wrapped(ctx.ring, row.account_id, row.wrapped)
        chosen = pairs.get(row.account_id)
        if chosen is not None and row.category_index not in chosen:
            continue  # a category not asked for: never decrypted
        doc = decode_state(ciphers[row.account_id], row.category_index, row.state)
        out[row.account_id].append(_signal_out(ctx, doc, row.version, row.updated_at, when))
    for signals in out.values():
        signals.sort(key=lambda s: (-s["score"], s["category"]))
    return out


def signals_for(
    *,
    session: Session,
    ctx: VaultContext,
    account_id: str,
    categories: Collection[str] | None = None,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """The consumer's current signals (evaluated at ``now``), strongest first.

    Each item: category, category_name, score, stage, confidence, last_seen, explanation, price_band, brands,
    policy_hash, version, updated_at.
    """
    if categories is not None and not categories:
        return []
    return signals_for_many(session=session, ctx=ctx, wanted={account_id: categories}, now=now)[account_id]


def delete_states(session: Session, account_id: str, indexes: Collection[str]) -> None:
    """Remove the named states of one consumer (its gestures and intents for them are gone)."""
    if indexes:
        session.connection().execute(
            delete(_T).where(_T.c.account_id == account_id, _T.c.category_index.in_(list(indexes)))
        )
