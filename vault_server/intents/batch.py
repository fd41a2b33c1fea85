"""Group commit for gesture ingest: the POSTs that arrive while a transaction is open are answered together in the
next one — one transaction, one commit (one WAL sync on SQLite with ``synchronous=FULL``) — instead of one each.

The extension sends a gesture the moment it happens, so most POSTs carry one event, and a POST's fixed cost (a
connection, BEGIN, a durable commit, a worker thread) was most of its time. Here each POST is a *job*; one thread
per database per process takes the jobs waiting in its queue (up to :data:`MAX_JOBS` or :data:`MAX_BYTES` of
bodies) and runs them in one session:

* who sent each POST is resolved for the whole batch first by the ``callers`` function (the views': every personal
  and device token in one query, read in this transaction, so a revoked token is refused at once); a POST refused
  there (401, 403, 429) is answered with its refusal;
* then each POST in its own savepoint: its body is validated and ingested
  (:func:`vault_server.intents.service.ingest`). A job that fails with a :class:`~vault_server.errors.VaultError` or
  a body that does not validate is rolled back to its savepoint: the refusal is its answer, and the batch goes on;
* any other exception (a database error, a bug) rolls the whole batch back, and each of its jobs runs again alone in
  its own transaction, as an un-batched request would: nothing half-done is ever committed;
* no answer leaves before the batch's commit: a gesture acknowledged as accepted is on disk. If the commit fails,
  every job of the batch gets the error (the client retries; event ids make the retry idempotent).

Jobs are run in the order of their consumers' ids (arrival order within one consumer), so two batches on PostgreSQL
(a process runs up to :data:`PG_THREADS` at once; several processes each their own) take the consumers' row locks in
the same order and cannot deadlock on them (tokens' last-use marks, the only earlier writes, go in token id order).

On SQLite a batch holds the process's writer lock (``Database.writer``) and starts with ``BEGIN IMMEDIATE``: the
driver only opens a transaction before its first write, and a SAVEPOINT outside one would commit on its RELEASE.

Each job runs in a copy of the request's context variables (the request id reaches the logs as before).
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from fastapi.exceptions import RequestValidationError
from sqlmodel import Session

from vault_server.context import VaultContext
from vault_server.db import Database
from vault_server.errors import VaultError

log = logging.getLogger(__name__)

MAX_JOBS = 64
MAX_BYTES = 512 * 1024  # bodies per batch (at least one job): a few full-size POSTs, so latency stays bounded
IDLE_SECONDS = 2.0
PG_THREADS = 16  # batches in flight per process on PostgreSQL (4 and 8 served fewer one-gesture POSTs on a busy host)

Refusal = VaultError | RequestValidationError


class Job:
    """One POST: ``run(session, account_id)`` ingests its body for the caller and returns the response body (or
    raises its refusal). Who the caller is comes from the batcher's ``callers`` function, for the whole batch."""

    size: int = 0  # bytes of body, for the batch's size limit

    def run(self, session: Session, account_id: str) -> bytes:
        raise NotImplementedError


Callers = Callable[[Session, Sequence[Job]], list["str | Refusal"]]


@dataclass
class _Pending:
    job: Job
    context: contextvars.Context
    future: Future[bytes] = field(default_factory=Future)


class _Retry(Exception):
    """A job failed in a way that may have left writes: run the batch's jobs one by one."""


def _snapshot(info: dict[Any, Any]) -> dict[Any, Any]:
    """The session's per-transaction memos (e.g. the feed's emitted-change set), copied one level deep."""
    return {k: (set(v) if isinstance(v, set) else dict(v) if isinstance(v, dict) else v) for k, v in info.items()}


class IngestBatcher:
    """Runs ingest jobs in batches on its threads; ``submit`` returns a future for the response body.

    One thread on SQLite (one writer at a time anyway); on PostgreSQL up to :data:`PG_THREADS`, started as the load
    needs them, so one batch's round trips to the database overlap with another's work."""

    def __init__(
        self,
        ctx: VaultContext,
        callers: Callers,
        *,
        max_jobs: int = MAX_JOBS,
        max_bytes: int = MAX_BYTES,
        idle_seconds: float = IDLE_SECONDS,
        threads: int | None = None,
    ):
        self._ctx = weakref.ref(ctx)  # the registry is keyed by ctx.db: no strong path back to it
        self.callers = callers
        self.max_jobs = max_jobs
        self.max_bytes = max_bytes
        self.idle_seconds = idle_seconds
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self.threads = threads or (1 if ctx.db.dialect == "sqlite" else PG_THREADS)
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self._waiting = 0  # threads blocked on the queue (they take what arrives; no new thread is needed)
        self.batches = 0  # counters for tests and benches
        self.jobs = 0
        self.reruns = 0

    @property
    def ctx(self) -> VaultContext | None:
        return self._ctx()

    def submit(self, job: Job) -> Future[bytes]:
        pending = _Pending(job, contextvars.copy_context())
        self._queue.put(pending)
        with self._lock:
            if self._waiting == 0 and len(self._threads) < self.threads:
                thread = threading.Thread(target=self._loop, name="gesture-ingest-batcher", daemon=True)
                self._threads.add(thread)
                thread.start()
        return pending.future

    def _loop(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._waiting += 1
            try:
                first = self._queue.get(timeout=self.idle_seconds)
            except queue.Empty:
                with self._lock:
                    self._waiting -= 1
                    if self._queue.empty():  # a submit after this sees too few threads and starts one
                        self._threads.discard(me)
                        return
                continue
            with self._lock:
                self._waiting -= 1
            batch, size = [first], first.job.size
            while len(batch) < self.max_jobs and size < self.max_bytes:
                try:
                    pending = self._queue.get_nowait()
                except queue.Empty:
                    break
                batch.append(pending)
                size += pending.job.size
            self.answer(batch)

    def answer(self, batch: list[_Pending]) -> None:
        """Run one batch and settle its futures (public for tests: a batch without the thread)."""
        # a POST whose client went away was cancelled (asyncio.wrap_future): skip it; the others can no longer be
        # cancelled, so settling them below cannot fail
        batch = [p for p in batch if p.future.set_running_or_notify_cancel()]
        if not batch:
            return
        self.batches += 1
        self.jobs += len(batch)
        try:
            outcomes = self._together(batch) if len(batch) > 1 else [self._alone(batch[0])]
        except _Retry:
            self.reruns += 1
            outcomes = [self._alone(p) for p in batch]
        except BaseException as exc:  # the commit failed: nothing of the batch is known to be stored
            log.exception("gesture ingest batch failed")
            outcomes = [exc] * len(batch)
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, BaseException):
                pending.future.set_exception(outcome)
            else:
                pending.future.set_result(outcome)

    def _context(self) -> VaultContext:
        ctx = self._ctx()
        if ctx is None:
            raise RuntimeError("the vault context of this ingest batcher is gone")
        return ctx

    def _together(self, batch: list[_Pending]) -> list[bytes | BaseException]:
        ctx = self._context()
        outcomes: dict[int, bytes | BaseException] = {}
        with ctx.db.writer(), ctx.db.session() as s:
            if ctx.db.dialect == "sqlite":
                s.connection().exec_driver_sql("BEGIN IMMEDIATE")
            try:
                found = self.callers(s, [p.job for p in batch])  # reads; at most one write (tokens' last use)
            except Exception as exc:
                raise _Retry from exc
            callers: list[tuple[str, int]] = []
            for i, caller in enumerate(found):
                if isinstance(caller, str):
                    callers.append((caller, i))
                else:
                    outcomes[i] = caller
            # stable: one consumer's POSTs keep their order; the row locks are taken in account order
            for account_id, i in sorted(callers, key=lambda c: c[0]):
                outcomes[i] = self._step(s, batch[i], account_id)
        return [outcomes[i] for i in range(len(batch))]

    def _step(self, session: Session, pending: _Pending, account_id: str) -> bytes | Refusal:
        """One job in a savepoint, in its request's context: its answer; a refusal rolls back to the savepoint
        (and restores the session's memos) and is the answer; anything else raises :class:`_Retry`."""
        memos = _snapshot(session.info)
        try:
            with session.begin_nested():
                answer: bytes = pending.context.run(pending.job.run, session, account_id)
                return answer
        except (VaultError, RequestValidationError) as exc:
            session.info.clear()
            session.info.update(memos)
            return exc
        except Exception as exc:
            raise _Retry from exc

    def _alone(self, pending: _Pending) -> bytes | BaseException:
        """One job in its own transaction: committed unless it raises (then its exception is its answer)."""
        try:
            ctx = self._context()
            with ctx.db.writer(), ctx.db.session() as s:
                caller = self.callers(s, [pending.job])[0]
                if not isinstance(caller, str):
                    return caller
                answer: bytes = pending.context.run(pending.job.run, s, caller)
                return answer
        except Exception as exc:
            return exc


_BATCHERS: weakref.WeakKeyDictionary[Database, IngestBatcher] = weakref.WeakKeyDictionary()
_BATCHERS_LOCK = threading.Lock()


def batcher_for(ctx: VaultContext, callers: Callers) -> IngestBatcher:
    """The batcher of this context's database (one per database per process; it lives as long as the database)."""
    with _BATCHERS_LOCK:
        found = _BATCHERS.get(ctx.db)
        if found is None or found.ctx is not ctx:
            found = _BATCHERS[ctx.db] = IngestBatcher(ctx, callers)
        return found
