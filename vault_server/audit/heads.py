"""Signed tree heads never fork and never go back (RFC 9162 §4.10/§8.3 split-view protection on the signer's side).

Before the vault signs a head it checks that the tree it is about to sign extends every earlier head it can still
see: the newest stored head (``audit_sth``) and the newest head this vault signed, remembered in the process and,
when ``VAULT_AUDIT_WITNESS_FILE`` is set, in a file outside the database. A head whose signature fails, a tree
smaller than a signed one, or a different root for a size already signed stops the signing. Someone who rewrites
the log in the database and deletes the stored heads therefore cannot make the vault sign the rewritten tree, and
``audit check --known-heads`` (heads an auditor saved, e.g. an earlier ``audit export``) finds the fork anyway.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlmodel import Session

from vault_server.audit import store
from vault_server.audit.merkle import root_hash
from vault_server.audit.models import AuditSth
from vault_server.audit.verifier import FormatError, check_tree_head_signature, parse_jwks, parse_tree_head

HEAD_FIELDS = ("tree_size", "root_hash", "timestamp", "kid", "signature")


def head_json(row: AuditSth | Mapping[str, Any]) -> dict[str, Any]:
    """The ``sth.json`` fields of a stored or parsed head."""
    if isinstance(row, AuditSth):
        return {name: getattr(row, name) for name in HEAD_FIELDS}
    return {name: row[name] for name in HEAD_FIELDS if name in row}


class HeadWitness:
    """The newest head this vault signed: in memory for the life of the process, and in ``path`` (written
    atomically, mode 0600) when one is configured, so a restart still remembers it."""

    def __init__(self, path: Path | None = None):
        self.path = path
        self._head: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def latest(self) -> dict[str, Any] | None:
        """The newest remembered head (the file's, when it is newer than the process's memory)."""
        with self._lock:
            best = self._head
            if self.path is not None and self.path.exists():
                try:
                    stored = json.loads(self.path.read_text("utf-8"))
                except (OSError, ValueError):
                    stored = None
                if isinstance(stored, dict) and (best is None or stored.get("tree_size", -1) > best["tree_size"]):
                    best = stored
            return dict(best) if best is not None else None

    def remember(self, head: Mapping[str, Any]) -> None:
        """Keep ``head`` when it is at least as large as the one remembered."""
        with self._lock:
            if self._head is not None and int(head["tree_size"]) < int(self._head["tree_size"]):
                return
            self._head = head_json(head)
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(prefix=".sth-", dir=self.path.parent)
                try:
                    os.fchmod(fd, 0o600)
                    with os.fdopen(fd, "w", encoding="utf-8") as handle:
                        json.dump(self._head, handle)
                        handle.flush()
                        os.fsync(handle.fileno())
                    os.replace(tmp, self.path)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise


def fork_against(
    nodes: store.DbNodeStore, size: int, head: Mapping[str, Any], jwks: Mapping[str, Any], name: str
) -> str | None:
    """Why the tree of ``size`` (from ``nodes``) does not extend the signed ``head``, or None when it does."""
    try:
        parsed = parse_tree_head(head_json(head), name)
    except (FormatError, KeyError) as exc:
        return f"{name} is malformed: {exc}"
    why = check_tree_head_signature(parsed, parse_jwks(jwks))
    if why is not None:
        return f"{name} does not verify: {why}"
    if parsed.tree_size > size:
        return f"{name} signed tree_size {parsed.tree_size} but the log has {size} entries: it shrank"
    if root_hash(nodes, parsed.tree_size) != parsed.root_hash:
        return f"{name} (tree_size {parsed.tree_size}) has another root than the log now: the log was forked"
    return None


def check_before_signing(*, session: Session, witness: HeadWitness, jwks: Mapping[str, Any], size: int) -> str | None:
    """Why the current tree of ``size`` must not be signed, or None when it extends every head the vault knows."""
    nodes = store.DbNodeStore(session)
    latest = store.latest_sth(session)
    candidates: list[tuple[str, Mapping[str, Any]]] = []
    if latest is not None:
        candidates.append((f"stored tree head #{latest.id}", head_json(latest)))
    remembered = witness.latest()
    if remembered is not None:
        candidates.append(("the last head this vault signed", remembered))
    for name, head in candidates:
        why = fork_against(nodes, size, head, jwks, name)
        if why is not None:
            return why
    return None
