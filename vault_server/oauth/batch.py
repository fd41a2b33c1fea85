"""Group commit for the token endpoint: the token requests that arrive while a transaction is open are answered
together in the next one — one transaction, one audit append (``audit.record_many``), one commit for the batch —
instead of one each.

Each request is a *job*: a function of (session, audit specs) that returns the token response or raises. Jobs of a
batch run one after another in one session, so each sees the writes of the jobs before it, exactly as if they had
run serially (a refresh token replayed inside one batch is detected as a reuse, as across batches).

The contract that makes sharing a transaction safe: a job that raises an :class:`OAuthError` has left only the
writes it means to keep (the token endpoint's job runs its rules in a savepoint and rolls back to it on a
refusal; a :class:`~vault_server.oauth.token.Persisting` keeps its revocation or poll time), so its refusal is just
its answer and the batch goes on. Any other exception (a database error, a bug) rolls the whole batch back, and
each of its jobs runs again alone in its own transaction: nothing half-done is ever committed, and no response
leaves before its batch's commit.

One batcher per database per process, on its own thread, which exits after a short idle time. On SQLite a batch
holds the process's writer lock (``Database.writer``); several processes on PostgreSQL each have their own batcher
and serialise on the audit head row as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from vault_server.audit import service as audit
from vault_server.context import VaultContext
from vault_server.db import Database
from vault_server.oauth.errors import OAuthError

log = logging.getLogger(__name__)

Job = Callable[[Session, list[audit.AuditSpec]], dict[str, Any]]
MAX_BATCH = 64
IDLE_SECONDS = 2.0


@dataclass
class _Pending:
    job: Job
    future: Future[dict[str, Any]] = field(default_factory=Future)
    #: set by ``answer``: the event loop awaiting this job and its asyncio future there
    loop: asyncio.AbstractEventLoop | None = None
    waiter: asyncio.Future[dict[str, Any]] | None = None


class _Retry(Exception):
    """A job failed in a way that may have left writes: run the batch's jobs one by one."""


class TokenBatcher:
    """Runs token jobs in batches on one thread; ``submit`` returns a future for the job's response."""

    def __init__(self, ctx: VaultContext, *, max_batch: int = MAX_BATCH, idle_seconds: float = IDLE_SECONDS):
        self._ctx = weakref.ref(ctx)  # the registry is keyed by ctx.db: no strong path back to it
        self.max_batch = max_batch
        self.idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.batches = 0  # counters for tests and benches
        self.jobs = 0

    @property
    def ctx(self) -> VaultContext | None:
        return self._ctx()

    def submit(self, job: Job) -> Future[dict[str, Any]]:
        pending = _Pending(job)
        self._put(pending)
        return pending.future

    async def answer(self, job: Job) -> dict[str, Any]:
        """Run ``job`` in a batch and return its response (or raise its error), awaited on the running event loop.
        The answers of a batch reach each event loop in one hand-off (``call_soon_threadsafe``), not one per request
        as with ``asyncio.wrap_future``: that wake-up was 5-8 % of the endpoint's CPU (issue 12)."""
        loop = asyncio.get_running_loop()
        pending = _Pending(job, loop=loop, waiter=loop.create_future())
        self._put(pending)
        assert pending.waiter is not None
        return await pending.waiter

    def _put(self, pending: _Pending) -> None:
        self._queue.put(pending)
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="oauth-token-batcher", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    if self._queue.empty():  # a submit after this sees a dead thread and starts another
                        self._thread = None
                        return
                continue
            batch = [first]
            while len(batch) < self.max_batch:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._answer(batch)

    def _answer(self, batch: list[_Pending]) -> None:
        self.batches += 1
        self.jobs += len(batch)
        try:
            outcomes = self._together(batch)
        except _Retry:
            outcomes = [self._alone(p) for p in batch]
        except BaseException as exc:
            log.exception("token batch failed")
            outcomes = [exc] * len(batch)
        waiting: dict[asyncio.AbstractEventLoop, list[tuple[_Pending, dict[str, Any] | BaseException]]] = {}
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.loop is not None:
                waiting.setdefault(pending.loop, []).append((pending, outcome))
            elif not pending.future.set_running_or_notify_cancel():
                continue  # cancelled while waiting: setting it would raise and end this thread mid-batch
            elif isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)
        for loop, answers in waiting.items():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile (the server stopped): nobody waits
                loop.call_soon_threadsafe(_deliver, answers)

    def _context(self) -> VaultContext:
        ctx = self._ctx()
        if ctx is None:
            raise RuntimeError("the vault context of this token batcher is gone")
        return ctx

    def _together(self, batch: list[_Pending]) -> list[dict[str, Any] | BaseException]:
        outcomes: list[dict[str, Any] | BaseException] = []
        if len(batch) == 1:
            return [self._alone(batch[0])]
        ctx = self._context()
        with ctx.db.writer(), ctx.db.session() as s:
            _begin(s)
            specs: list[audit.AuditSpec] = []
            for pending in batch:
                try:
                    outcomes.append(pending.job(s, specs))
                except OAuthError as exc:
                    outcomes.append(exc)
                except Exception as exc:
                    raise _Retry from exc
            audit.record_many(session=s, ctx=ctx, entries=specs)
        return outcomes

    def _alone(self, pending: _Pending) -> dict[str, Any] | BaseException:
        """One job in its own transaction: committed unless it fails with something other than an OAuthError."""
        refused: OAuthError | None = None
        try:
            ctx = self._context()
            with ctx.db.writer(), ctx.db.session() as s:
                _begin(s)
                specs: list[audit.AuditSpec] = []
                body: dict[str, Any] = {}
                try:
                    body = pending.job(s, specs)
                except OAuthError as exc:
                    refused = exc
                audit.record_many(session=s, ctx=ctx, entries=specs)
        except Exception as exc:
            return exc
        return refused if refused is not None else body


def _deliver(answers: list[tuple[_Pending, dict[str, Any] | BaseException]]) -> None:
    """On the awaiting event loop: resolve the waiters of a batch (a request cancelled meanwhile is skipped)."""
    for pending, outcome in answers:
        waiter = pending.waiter
        if waiter is None or waiter.done():
            continue
        if isinstance(outcome, BaseException):
            waiter.set_exception(outcome)
        else:
            waiter.set_result(outcome)


def _begin(s: Session) -> None:
    """Open the unit's transaction before its first statement. On SQLite the driver (pysqlite) opens one only before
    an INSERT, UPDATE or DELETE: a job that reads first (the throttle check) and then enters its savepoint would
    start the transaction with ``SAVEPOINT``, and releasing it would commit that job alone — before the batch's
    audit append, and again for every job. ``BEGIN IMMEDIATE`` also takes SQLite's write lock at once (the batch
    writes anyway), so its reads and writes see one snapshot. PostgreSQL begins at the first statement."""
    conn = s.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


_BATCHERS: weakref.WeakKeyDictionary[Database, TokenBatcher] = weakref.WeakKeyDictionary()
_BATCHERS_LOCK = threading.Lock()


def batcher_for(ctx: VaultContext) -> TokenBatcher:
    """The batcher of this context's database (one per database per process; it lives as long as the database)."""
    with _BATCHERS_LOCK:
        found = _BATCHERS.get(ctx.db)
        if found is None or found.ctx is not ctx:
            found = _BATCHERS[ctx.db] = TokenBatcher(ctx)
        return found
