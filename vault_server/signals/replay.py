"""Offline replay: stream gesture events (JSON lines with a ``subject``) through the engine.

Nothing is stored. Each subject is a separate consumer; per subject the engine keeps one state per
category. A gesture that names no product (a return visit, an account page) takes the category of its
shop visit (:class:`vault_server.signals.classify.VisitContext`), as in the live ingest; a subject's
events are folded in time order once the subject is complete.

Memory: by default the input must be grouped by subject (all lines of a subject together, in any time
order); a subject is scored and forgotten as soon as the next one starts, so memory is bounded by the
largest subject, not the file. ``grouped=False`` keeps every subject until the end (memory grows with
subjects x categories plus every event id, for dedup; events are folded in chunks of ``CHUNK``).
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from pydantic import StringConstraints, ValidationError

from vault_server.policy.loader import Policy
from vault_server.signals.classify import VisitContext, index_for, inherits_context
from vault_server.signals.classify import classify as classify_event
from vault_server.signals.engine import Signal, SignalState, apply, evaluate, new_state
from vault_server.signals.schema import GestureEvent

CHUNK = 256  # --ungrouped: events buffered per (subject, category) before they are folded into the state
ACTION_STAGES = frozenset({"action", "relationship"})


class BadLine(ValueError):
    """One input line is unusable; ``str()`` is ``file:line: reason``."""


class UsageProblem(ValueError):
    """The input as a whole cannot be replayed as asked (e.g. not grouped by subject)."""


@dataclass
class ReplayStats:
    lines: int = 0
    events: int = 0
    bad: int = 0
    duplicates: int = 0
    unclassified: int = 0
    sensitive: int = 0
    subjects: int = 0
    first_ts: float | None = None
    last_ts: float | None = None


@dataclass
class SubjectResult:
    """A scored subject: one signal per category, plus the states (calibration reads them)."""

    subject: str
    at: float
    signals: list[Signal]
    states: dict[str, SignalState]

    @property
    def max_score(self) -> float:
        return max((s.score for s in self.signals), default=0.0)

    @property
    def reached_action(self) -> bool:
        return any(s.stage in ACTION_STAGES for s in self.signals)


@dataclass
class _Subject:
    name: str
    buffers: dict[str, list[GestureEvent]] = field(default_factory=dict)
    states: dict[str, SignalState] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)
    last_ts: float = 0.0
    context: VisitContext = field(default_factory=VisitContext)
    pending: list[GestureEvent] = field(default_factory=list)  # name no product: category from their visit
    chunk: int | None = None  # fold a category's buffer when it is this long (None: once, at the end)

    def add(self, event: GestureEvent, category: str, policy: Policy) -> None:
        self.context.note(event.origin, event.epoch, category)
        buf = self.buffers.setdefault(category, [])
        buf.append(event)
        self.last_ts = max(self.last_ts, event.epoch)
        if self.chunk is not None and len(buf) >= self.chunk:
            self._fold(category, policy)

    def _fold(self, category: str, policy: Policy) -> None:
        buf = self.buffers.pop(category, [])
        if buf:
            self.states[category] = apply(self.states.get(category) or new_state(category), buf, policy)

    def resolve(self, policy: Policy, stats: ReplayStats, include_sensitive: bool) -> None:
        """Give each pending gesture the category of its shop visit (or count it unclassified)."""
        for event in self.pending:
            category = self.context.category_for(event.origin, event.epoch)
            if category is None:
                stats.unclassified += 1
            elif not include_sensitive and policy.is_sensitive(category):
                stats.sensitive += 1
            else:
                stats.events += 1
                buf = self.buffers.setdefault(category, [])
                buf.append(event)
                self.last_ts = max(self.last_ts, event.epoch)
        self.pending = []

    def finish(self, policy: Policy, at: float | None) -> SubjectResult:
        for category in list(self.buffers):
            self._fold(category, policy)
        when = at if at is not None else self.last_ts
        signals = [evaluate(self.states[c], when, policy) for c in sorted(self.states)]
        return SubjectResult(subject=self.name, at=when, signals=signals, states=self.states)


class ReplayEvent(GestureEvent):
    """A gesture event plus the ``subject`` it belongs to (one replay input line)."""

    subject: Annotated[str, StringConstraints(min_length=1, max_length=200)]


def parse_line(line: str, source: str, lineno: int, policy: Policy) -> tuple[str, GestureEvent]:
    """(subject, event) from one JSON line; raises :class:`BadLine` with ``source:lineno: reason``."""
    where = f"{source}:{lineno}"
    try:
        event = ReplayEvent.model_validate_json(line)
    except ValidationError as exc:
        errors = exc.errors()
        first = errors[0]
        if first["type"] == "json_invalid":
            raise BadLine(f"{where}: not valid JSON") from None
        if first["type"] == "model_type":
            raise BadLine(f"{where}: not a JSON object") from None
        if first["loc"] and first["loc"][0] == "subject":
            raise BadLine(
                f"{where}: missing or invalid 'subject' (a non-empty string of at most 200 characters)"
            ) from None
        loc = ".".join(str(p) for p in first["loc"]) or "event"
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise BadLine(f"{where}: invalid event: {loc}: {msg}{more}") from None
    if event.type not in policy.gesture_rules:
        raise BadLine(f"{where}: invalid event: unknown gesture type '{event.type}'")
    if event.category is not None and event.category not in policy.nodes:
        raise BadLine(f"{where}: invalid event: unknown category '{event.category}'")
    return event.subject, event


def replay(
    lines: Iterable[str],
    policy: Policy,
    *,
    source: str = "<input>",
    at: float | None = None,
    grouped: bool = True,
    include_sensitive: bool = False,
    strict: bool = False,
    on_error: Callable[[BadLine], None] | None = None,
    stats: ReplayStats | None = None,
) -> Iterator[SubjectResult]:
    """Score every subject in ``lines``; yields each subject when it is complete.

    Bad lines are passed to ``on_error`` and skipped (``strict=True`` raises :class:`BadLine`).
    Events are scored at ``at`` (epoch seconds) or, by default, at each subject's last event.
    """
    st = stats if stats is not None else ReplayStats()
    index = index_for(policy)
    current: _Subject | None = None
    done: set[str] = set()
    pending: dict[str, _Subject] = {}
    for lineno, line in enumerate(lines, start=1):
        st.lines += 1
        if not line.strip():
            continue
        try:
            name, event = parse_line(line, source, lineno, policy)
        except BadLine as exc:
            st.bad += 1
            if strict:
                raise
            if on_error is not None:
                on_error(exc)
            continue
        category = classify_event(event, index)
        if category is None and not inherits_context(event):
            st.unclassified += 1
            continue
        if category is not None and not include_sensitive and policy.is_sensitive(category):
            st.sensitive += 1
            continue
        t = event.epoch
        st.first_ts = t if st.first_ts is None else min(st.first_ts, t)
        st.last_ts = t if st.last_ts is None else max(st.last_ts, t)
        if grouped:
            if current is None or current.name != name:
                if name in done:
                    raise UsageProblem(
                        f"{source}:{lineno}: subject {name!r} appears again after other subjects; "
                        "group the input by subject (e.g. sort -s -k1) or use --ungrouped"
                    )
                if current is not None:
                    done.add(current.name)
                    st.subjects += 1
                    current.resolve(policy, st, include_sensitive)
                    yield current.finish(policy, at)
                current = _Subject(name)
            subject = current
        else:
            subject = pending.setdefault(name, _Subject(name, chunk=CHUNK))
        eid = event.id_str
        if eid in subject.seen:
            st.duplicates += 1
            continue
        subject.seen.add(eid)
        if category is None:
            subject.pending.append(event)
            continue
        st.events += 1
        subject.add(event, category, policy)
    remaining = [current] if grouped and current is not None else list(pending.values())
    for subject in remaining:
        st.subjects += 1
        subject.resolve(policy, st, include_sensitive)
        yield subject.finish(policy, at)


def read_labels(path: Path) -> dict[str, int]:
    """``subject,label`` rows (header optional; label 1 = bought, 0 = did not)."""
    labels: dict[str, int] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.reader(fh), start=1):
            if not row or not "".join(row).strip():
                continue
            if lineno == 1 and row[0].strip().lower() == "subject":
                continue
            if len(row) < 2:
                raise UsageProblem(f"{path.name}:{lineno}: expected 'subject,label'")
            value = row[1].strip()
            if value not in ("0", "1"):
                raise UsageProblem(f"{path.name}:{lineno}: label must be 0 or 1, got {value!r}")
            labels[row[0].strip()] = int(value)
    return labels
