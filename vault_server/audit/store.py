"""Queries of the audit room: the log head row, the Merkle node store over ``audit_node``, entries and tree heads.

Every function takes the caller's session and never commits (the unit of work belongs to the edge).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, insert, or_, text
from sqlmodel import Session, SQLModel, col, select

from vault_server.audit.merkle import EMPTY_ROOT, HASH_SIZE, Node, NodeKey, frontier_of
from vault_server.audit.models import HEAD_ID, AuditEntry, AuditHead, AuditNode, AuditSth
from vault_server.db import UTCDateTime, utcnow

# Core tables: plain inserts on the session's connection skip the ORM bulk-persistence layer on the hot path.
_ENTRY_TABLE = SQLModel.metadata.tables["audit_entry"]
_NODE_TABLE = SQLModel.metadata.tables["audit_node"]

# Keys per SELECT ... WHERE (level, idx) IN (...): proofs need <= 2*log2(n) keys, far below this.
_MAX_KEYS_PER_QUERY = 400


class DbNodeStore:
    """:class:`vault_server.audit.merkle.NodeStore` over ``audit_node``: one SELECT per call."""

    def __init__(self, session: Session):
        self.session = session

    def get_nodes(self, keys: Sequence[NodeKey]) -> list[bytes]:
        """Hashes for ``keys`` in the same order; KeyError for a node that is not stored."""
        if not keys:
            return []
        found: dict[NodeKey, bytes] = {}
        wanted = list(dict.fromkeys(keys))
        conn = self.session.connection()
        for start in range(0, len(wanted), _MAX_KEYS_PER_QUERY):
            by_level: dict[int, list[int]] = {}
            for level, idx in wanted[start : start + _MAX_KEYS_PER_QUERY]:
                by_level.setdefault(int(level), []).append(int(idx))
            # OR over levels of (level = L AND idx IN (...)): both SQLite and PostgreSQL answer it from the primary
            # key (a row-value "(level, idx) IN (VALUES ...)" makes SQLite scan the table). The keys are integers
            # computed by merkle.py, rendered with int(), so the text is safe; building it directly skips the
            # expression-building overhead that dominated a proof (~25 keys).
            where = " OR ".join(
                f"(level = {level} AND idx IN ({','.join(map(str, idxs))}))" for level, idxs in by_level.items()
            )
            sql = f"SELECT level, idx, hash FROM audit_node WHERE {where}"  # noqa: S608 - int() rendered keys
            for level, idx, digest in conn.exec_driver_sql(sql):
                found[(int(level), int(idx))] = bytes(digest)
        try:
            return [found[key] for key in keys]
        except KeyError as exc:
            raise KeyError(f"audit_node {exc.args[0]} is missing") from None

    def put(self, nodes: Sequence[Node]) -> None:
        """Insert new perfect-subtree rows (insert-only)."""
        if nodes:
            self.session.connection().execute(
                insert(_NODE_TABLE), [{"level": n.level, "idx": n.idx, "hash": n.hash} for n in nodes]
            )


# ---- the head row ------------------------------------------------------------------------------------
def lock_head(session: Session) -> tuple[int, bytes]:
    """Lock the log head for this transaction and return (tree_size, root_hash).

    A no-op UPDATE takes the row lock on PostgreSQL and the write lock on SQLite, so concurrent appenders wait
    here until this transaction ends. The row is created when missing (fresh or truncated database).
    """
    size, root, _ = _lock(session)
    return size, root


_LOCK = text("UPDATE audit_head SET tree_size = tree_size WHERE id = :id RETURNING tree_size, root_hash, frontier")


def _lock(session: Session) -> tuple[int, bytes, bytes | None]:
    row = session.execute(_LOCK, {"id": HEAD_ID}).first()
    if row is None:
        session.execute(
            text(
                "INSERT INTO audit_head (id, tree_size, root_hash, updated_at) VALUES (:id, 0, :root, :now) "
                "ON CONFLICT (id) DO NOTHING"
            ),
            {"id": HEAD_ID, "root": EMPTY_ROOT, "now": utcnow()},
        )
        row = session.execute(_LOCK, {"id": HEAD_ID}).first()
        assert row is not None
    return int(row[0]), bytes(row[1]), bytes(row[2]) if row[2] is not None else None


def pack_frontier(tree_size: int, frontier: Sequence[bytes]) -> bytes:
    """``audit_head.frontier``: the tree size (8 bytes, big-endian), then the frontier's hashes."""
    return tree_size.to_bytes(8, "big") + b"".join(frontier)


def unpack_frontier(tree_size: int, packed: bytes | None) -> list[bytes] | None:
    """The frontier stored for ``tree_size``, or None when there is none or it belongs to another size (a head
    written before revision 0301, recreated, or edited by hand): then the nodes are read instead."""
    count = tree_size.bit_count()
    if packed is None or len(packed) != 8 + HASH_SIZE * count or int.from_bytes(packed[:8], "big") != tree_size:
        return None
    return [packed[8 + i * HASH_SIZE : 8 + (i + 1) * HASH_SIZE] for i in range(count)]


def lock_head_frontier(session: Session) -> tuple[int, list[bytes]]:
    """:func:`lock_head` and the tree's frontier (its perfect subtrees' roots, largest first), in one statement:
    the frontier is a column of the locked row, so the lock's re-read of the row after waiting returns the one the
    previous appender committed (a separate query of ``audit_node`` would need a statement that starts after the
    lock is granted, under READ COMMITTED). Without a stored frontier for this size, the nodes are read."""
    size, _, packed = _lock(session)
    frontier = unpack_frontier(size, packed)
    return size, frontier if frontier is not None else frontier_of(DbNodeStore(session), size)


def write_append(
    session: Session,
    rows: Sequence[dict[str, Any]],
    nodes: Sequence[Node],
    tree_size: int,
    root: bytes,
    frontier: Sequence[bytes],
) -> None:
    """Write an append: its entries, its new Merkle nodes and the new head (with its frontier). One statement on
    PostgreSQL (a data-modifying CTE; its text is the same for any batch), three on SQLite."""
    packed = pack_frontier(tree_size, frontier)
    if session.get_bind().dialect.name != "postgresql":
        insert_entries(session, rows)
        DbNodeStore(session).put(nodes)
        set_head(session, tree_size, root, packed)
        return
    # the rows travel as one JSON document (json_to_recordset): encoding ~100 entries is one C call here and one
    # parse there, where text[] parameters cost psycopg a Python escaping pass over every character of every entry
    entries = [
        [r["idx"], r["kind"], r["actor"], r["subject"], r["vendor_id"], r["entry"], _hex(r["private_enc"])]
        for r in rows
    ]
    session.connection().execute(
        _PG_APPEND,
        {
            "entries": json.dumps(entries, ensure_ascii=False, separators=(",", ":")),
            "nodes": json.dumps([[n.level, n.idx, n.hash.hex()] for n in nodes], separators=(",", ":")),
            "at_ms": rows[0]["at_ms"],
            "ts": rows[0]["ts"],
            "size": tree_size,
            "root": root,
            "frontier": packed,
            "id": HEAD_ID,
        },
    )


def _hex(value: bytes | None) -> str | None:
    return value.hex() if value is not None else None


# every row of one append shares its time (at_ms, ts); arrays of arrays, read back by position (json ->> n)
_PG_APPEND = text(
    "WITH entries AS (INSERT INTO audit_entry (idx, at_ms, ts, kind, actor, subject, vendor_id, entry, private_enc)"
    " SELECT (e ->> 0)::bigint, :at_ms, :ts, e ->> 1, e ->> 2, e ->> 3, e ->> 4, e ->> 5, decode(e ->> 6, 'hex')"
    " FROM json_array_elements(CAST(:entries AS json)) AS e),"
    " nodes AS (INSERT INTO audit_node (level, idx, hash)"
    " SELECT (n ->> 0)::integer, (n ->> 1)::bigint, decode(n ->> 2, 'hex')"
    " FROM json_array_elements(CAST(:nodes AS json)) AS n)"
    " UPDATE audit_head SET tree_size = :size, root_hash = :root, frontier = :frontier, updated_at = :ts"
    " WHERE id = :id"
).bindparams(bindparam("ts", type_=UTCDateTime()))


def set_head(session: Session, tree_size: int, root: bytes, frontier: bytes | None = None) -> None:
    """The new head; ``frontier`` as :func:`pack_frontier` made it (None: the next append reads the nodes)."""
    session.execute(
        text(
            "UPDATE audit_head SET tree_size = :size, root_hash = :root, frontier = :frontier, updated_at = :now"
            " WHERE id = :id"
        ),
        {"size": tree_size, "root": root, "frontier": frontier, "now": utcnow(), "id": HEAD_ID},
    )


def read_head(session: Session) -> tuple[int, bytes]:
    """(tree_size, root_hash) without locking; (0, empty root) before the first append."""
    head = session.get(AuditHead, HEAD_ID)
    if head is None:
        return 0, EMPTY_ROOT
    return int(head.tree_size), bytes(head.root_hash)


# ---- entries -------------------------------------------------------------------------------------------
def insert_entry(session: Session, values: dict[str, Any]) -> None:
    insert_entries(session, [values])


def insert_entries(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """One INSERT (executemany) for a batch of entries."""
    if rows:
        session.connection().execute(insert(_ENTRY_TABLE), list(rows))


def get_entry(session: Session, idx: int) -> AuditEntry | None:
    return session.get(AuditEntry, idx)


def entries_range(session: Session, start: int, end: int) -> list[AuditEntry]:
    """Entries with ``start <= idx < end`` in log order."""
    return list(
        session.exec(
            select(AuditEntry)
            .where(col(AuditEntry.idx) >= start, col(AuditEntry.idx) < end)
            .order_by(col(AuditEntry.idx))
        ).all()
    )


def leaf_hashes(session: Session, start: int, end: int) -> dict[int, bytes]:
    """Recorded leaf hashes (level-0 nodes) for ``start <= idx < end``."""
    rows = session.execute(
        select(col(AuditNode.idx), col(AuditNode.hash)).where(
            col(AuditNode.level) == 0, col(AuditNode.idx) >= start, col(AuditNode.idx) < end
        )
    ).all()
    return {int(i): bytes(h) for i, h in rows}


def iter_entries(
    session: Session, *, start: int = 0, end: int | None = None, batch: int = 2000
) -> Iterator[AuditEntry]:
    """Every stored entry with ``start <= idx`` (``< end``) in log order, read in batches (keyset pagination)."""
    cursor = start
    while True:
        query = select(AuditEntry).where(col(AuditEntry.idx) >= cursor)
        if end is not None:
            query = query.where(col(AuditEntry.idx) < end)
        rows = session.exec(query.order_by(col(AuditEntry.idx)).limit(batch)).all()
        if not rows:
            return
        yield from rows
        cursor = int(rows[-1].idx) + 1


def iter_entry_rows(session: Session, *, start: int = 0, end: int | None = None, batch: int = 5000) -> Iterator[Any]:
    """Like :func:`iter_entries` but plain rows ``(idx, at_ms, entry, private_enc)``: no ORM objects, for scans."""
    t = _ENTRY_TABLE.c
    conn = session.connection()
    cursor = start
    while True:
        query = select(t.idx, t.at_ms, t.entry, t.private_enc).where(t.idx >= cursor)
        if end is not None:
            query = query.where(t.idx < end)
        rows = conn.execute(query.order_by(t.idx).limit(batch)).all()
        if not rows:
            return
        yield from rows
        cursor = int(rows[-1].idx) + 1


def filter_entries(
    session: Session,
    *,
    kinds: Sequence[str] = (),
    subject: str | None = None,
    vendor_id: str | None = None,
    since_ms: int | None = None,
    until_ms: int | None = None,
    before_idx: int | None = None,
    limit: int = 100,
) -> list[AuditEntry]:
    """Newest first, filtered by kind (prefix ``grant.`` allowed), subject, vendor and time; ``before_idx`` pages."""
    query = select(AuditEntry)
    if kinds:
        exact = [k for k in kinds if not k.endswith(".")]
        prefixes = [k for k in kinds if k.endswith(".")]
        conds: list[ColumnElement[bool]] = [col(AuditEntry.kind).in_(exact)] if exact else []
        conds += [col(AuditEntry.kind).startswith(p) for p in prefixes]
        query = query.where(or_(*conds))
    if subject is not None:
        query = query.where(col(AuditEntry.subject) == subject)
    if vendor_id is not None:
        query = query.where(col(AuditEntry.vendor_id) == vendor_id)
    if since_ms is not None:
        query = query.where(col(AuditEntry.at_ms) >= since_ms)
    if until_ms is not None:
        query = query.where(col(AuditEntry.at_ms) < until_ms)
    if before_idx is not None:
        query = query.where(col(AuditEntry.idx) < before_idx)
    return list(session.exec(query.order_by(col(AuditEntry.idx).desc()).limit(limit)).all())


# ---- signed tree heads ---------------------------------------------------------------------------------
def add_sth(session: Session, sth: dict[str, Any]) -> AuditSth:
    row = AuditSth(
        tree_size=sth["tree_size"],
        root_hash=sth["root_hash"],
        timestamp=sth["timestamp"],
        kid=sth["kid"],
        signature=sth["signature"],
    )
    session.add(row)
    session.flush()
    return row


def latest_sth(session: Session) -> AuditSth | None:
    return session.exec(
        select(AuditSth).order_by(col(AuditSth.tree_size).desc(), col(AuditSth.timestamp).desc()).limit(1)
    ).first()


def sth_for_size(session: Session, tree_size: int) -> AuditSth | None:
    return session.exec(
        select(AuditSth).where(col(AuditSth.tree_size) == tree_size).order_by(col(AuditSth.timestamp).desc()).limit(1)
    ).first()


def all_sths(session: Session) -> list[AuditSth]:
    return list(session.exec(select(AuditSth).order_by(col(AuditSth.timestamp), col(AuditSth.tree_size))).all())


def recent_sths(session: Session, limit: int = 50) -> list[AuditSth]:
    """The newest signed tree heads first (the console's history)."""
    return list(
        session.exec(
            select(AuditSth).order_by(col(AuditSth.timestamp).desc(), col(AuditSth.tree_size).desc()).limit(limit)
        ).all()
    )


DAY_MS = 86_400_000


def volume_by_day(session: Session, *, by: str, since_ms: int) -> list[tuple[int, str, int]]:
    """Entries per UTC day (days since the epoch) and ``kind`` or ``vendor_id`` since ``since_ms``: one grouped
    query; entries without a vendor are left out of the vendor count."""
    key = col(AuditEntry.kind) if by == "kind" else col(AuditEntry.vendor_id)
    day = (col(AuditEntry.at_ms) // DAY_MS).label("day")
    query = select(day, key, func.count()).where(col(AuditEntry.at_ms) >= since_ms, key.is_not(None)).group_by(day, key)
    return [(int(d), str(k), int(n)) for d, k, n in session.exec(query).all()]
