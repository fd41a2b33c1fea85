"""``intent-vault signals ...``: replay events through a policy offline, calibrate gesture weights."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO

import click

from vault_server.policy.loader import Policy, PolicyError, default_policy_dir, load_policy
from vault_server.signals.metrics import average_precision, confusion, fmt, roc_auc
from vault_server.signals.replay import BadLine, ReplayStats, SubjectResult, UsageProblem, read_labels, replay
from vault_server.signals.schema import parse_ts

MAX_ERRORS_SHOWN = 20


def _load(policy_dir: Path | None) -> Policy:
    directory = policy_dir if policy_dir is not None else default_policy_dir()
    try:
        return load_policy(directory)
    except PolicyError as exc:
        for problem in exc.problems:
            click.echo(problem.format(directory), err=True)
        raise click.UsageError(f"policy {directory} is invalid ({len(exc.problems)} problem(s))") from None


class _Progress:
    """A line counter on stderr (only when asked or when stderr is a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.start = time.perf_counter()
        self.last = 0.0

    def lines(self, fh: IO[str]) -> Iterator[str]:
        for n, line in enumerate(fh, start=1):
            if self.enabled and n % 50_000 == 0:
                now = time.perf_counter()
                if now - self.last > 0.5:
                    self.last = now
                    rate = n / max(now - self.start, 1e-9)
                    click.echo(f"\r{n:,} lines, {rate:,.0f} lines/s", err=True, nl=False)
            yield line
        if self.enabled:
            click.echo("", err=True)


def _on_error_printer() -> tuple[list[int], Callable[[BadLine], None]]:
    shown = [0]

    def on_error(exc: BadLine) -> None:
        shown[0] += 1
        if shown[0] <= MAX_ERRORS_SHOWN:
            click.echo(str(exc), err=True)
        elif shown[0] == MAX_ERRORS_SHOWN + 1:
            click.echo("... further bad lines are counted, not shown", err=True)

    return shown, on_error


def _open_input(stack: ExitStack, path: str) -> tuple[IO[str], str]:
    if path == "-":
        return sys.stdin, "<stdin>"
    try:
        fh = stack.enter_context(open(path, encoding="utf-8", errors="surrogateescape"))  # noqa: SIM115
    except OSError as exc:
        raise click.BadParameter(f"cannot read {path}: {exc.strerror}", param_hint="--input") from None
    return fh, Path(path).name


def _parse_at(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_ts(value).timestamp()
    except ValueError:
        raise click.BadParameter(
            "expected an RFC 3339 timestamp, e.g. 2026-11-25T00:00:00Z", param_hint="--at"
        ) from None


def run_replay(
    *,
    input_path: str,
    policy: Policy,
    at: float | None,
    grouped: bool,
    include_sensitive: bool,
    strict: bool,
    progress: bool,
    stats: ReplayStats,
) -> Iterator[SubjectResult]:
    """Replay ``input_path`` (``-`` = stdin), reporting bad lines on stderr; yields scored subjects."""
    _, on_error = _on_error_printer()
    with ExitStack() as stack:
        fh, source = _open_input(stack, input_path)
        lines = _Progress(progress).lines(fh)
        try:
            yield from replay(
                lines, policy, source=source, at=at, grouped=grouped, include_sensitive=include_sensitive,
                strict=strict, on_error=on_error, stats=stats,
            )  # fmt: skip
        except BadLine as exc:
            click.echo(str(exc), err=True)
            raise SystemExit(1) from None
        except UsageProblem as exc:
            raise click.UsageError(str(exc)) from None


@click.group("signals")
def signals() -> None:
    """Intent signals: replay recorded or synthetic gestures through a policy, calibrate weights."""


_input = click.option(
    "--input", "input_path", required=True, help="events.jsonl (one gesture + subject per line; - = stdin)"
)
_policy = click.option("--policy", "policy_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
                       help="policy directory (default: the repository's policies/)")  # fmt: skip
_at = click.option(
    "--at", default=None, help="score everyone at this RFC 3339 time (default: each subject's last event)"
)
_ungrouped = click.option(
    "--ungrouped", is_flag=True, help="input is not grouped by subject (keeps all subjects in memory)"
)
_progress = click.option(
    "--progress/--no-progress", default=None, help="line counter on stderr (default: if a terminal)"
)


@signals.command("replay")
@_input
@_policy
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="scores.jsonl (default stdout)")  # fmt: skip
@click.option("--labels", type=click.Path(path_type=Path, dir_okay=False, exists=True), default=None,
              help="labels.csv (subject,label; 1 = bought): print ROC AUC, PR AUC, precision/recall")  # fmt: skip
@_at
@_ungrouped
@click.option("--include-sensitive", is_flag=True, help="also score categories listed in sensitive.yaml")
@click.option("--strict", is_flag=True, help="stop at the first bad line (exit 1) instead of skipping it")
@_progress
def replay_cmd(
    input_path: str,
    policy_dir: Path | None,
    output: Path | None,
    labels: Path | None,
    at: str | None,
    ungrouped: bool,
    include_sensitive: bool,
    strict: bool,
    progress: bool | None,
) -> None:
    """Score every subject x category in --input; nothing is stored.

    Writes one JSON line per subject x category: {"subject","category","score","stage","explanation"}.
    The input should be grouped by subject (any time order within a subject): memory stays bounded by
    the largest subject. Bad lines are reported as `file:line: reason` and skipped.
    """
    policy = _load(policy_dir)
    label_map = _read_labels(labels) if labels is not None else None
    when = _parse_at(at)
    show_progress = progress if progress is not None else sys.stderr.isatty()
    stats = ReplayStats()
    per_subject: dict[str, tuple[float, bool]] = {}
    started = time.perf_counter()
    with ExitStack() as stack:
        out: IO[str] = stack.enter_context(output.open("w", encoding="utf-8")) if output else sys.stdout
        for result in run_replay(
            input_path=input_path, policy=policy, at=when, grouped=not ungrouped,
            include_sensitive=include_sensitive, strict=strict, progress=show_progress, stats=stats,
        ):  # fmt: skip
            for sig in result.signals:
                out.write(json.dumps({"subject": result.subject, "category": sig.category, "score": sig.score,
                                      "stage": sig.stage, "explanation": sig.explanation},
                                     ensure_ascii=False) + "\n")  # fmt: skip
            if label_map is not None:
                per_subject[result.subject] = (result.max_score, result.reached_action)
    elapsed = time.perf_counter() - started
    report = click.echo if output is not None else (lambda msg: click.echo(msg, err=True))
    report(_summary(stats, elapsed))
    if label_map is not None:
        for line in label_report(label_map, per_subject):
            report(line)


def _read_labels(path: Path) -> dict[str, int]:
    try:
        return read_labels(path)
    except UsageProblem as exc:
        raise click.UsageError(str(exc)) from None


def _summary(stats: ReplayStats, elapsed: float) -> str:
    rate = stats.lines / elapsed if elapsed > 0 else 0.0
    return (
        f"replayed {stats.events:,} events of {stats.subjects:,} subjects in {elapsed:.2f}s ({rate:,.0f} lines/s); "
        f"skipped: {stats.bad:,} bad, {stats.duplicates:,} duplicate, {stats.unclassified:,} unclassified, "
        f"{stats.sensitive:,} sensitive"
    )


def label_report(labels: dict[str, int], per_subject: dict[str, tuple[float, bool]]) -> list[str]:
    """ROC AUC, PR AUC and precision/recall at the action stage (per subject: max score over categories).
    Labelled subjects without events score 0; subjects without a label are left out."""
    names = sorted(labels)
    y = [labels[n] for n in names]
    scores = [per_subject.get(n, (0.0, False))[0] for n in names]
    predicted = [per_subject.get(n, (0.0, False))[1] for n in names]
    missing = sum(1 for n in names if n not in per_subject)
    unlabelled = sum(1 for n in per_subject if n not in labels)
    cm = confusion(y, predicted)
    return [
        f"labelled subjects {len(names):,} ({sum(y):,} bought); {missing:,} without events scored 0; "
        f"{unlabelled:,} unlabelled left out",
        f"ROC AUC {fmt(roc_auc(y, scores))}  PR AUC {fmt(average_precision(y, scores))}",
        f"at action stage: precision {fmt(cm.precision)}  recall {fmt(cm.recall)}  "
        f"(tp {cm.tp:,}, fp {cm.fp:,}, fn {cm.fn:,}, tn {cm.tn:,})",
    ]


@signals.command("calibrate")
@_input
@click.option("--labels", type=click.Path(path_type=Path, dir_okay=False, exists=True), required=True,
              help="labels.csv (subject,label; 1 = bought)")  # fmt: skip
@_policy
@click.option("--output", type=click.Path(path_type=Path, dir_okay=False), default=Path("proposed-gestures.yaml"),
              show_default=True, help="where to write the proposed gestures.yaml")  # fmt: skip
@click.option("--holdout", type=click.FloatRange(0.0, 0.9), default=0.3, show_default=True,
              help="share of subjects (by a hash of the name) kept out of the fit and scored separately")  # fmt: skip
@_at
@_ungrouped
@_progress
def calibrate_cmd(
    input_path: str,
    labels: Path,
    policy_dir: Path | None,
    output: Path,
    holdout: float,
    at: str | None,
    ungrouped: bool,
    progress: bool | None,
) -> None:
    """Fit gesture and pattern weights (logistic regression on per-subject features) and write a
    proposed gestures.yaml (same schema, passes `policy check`) with a before/after table."""
    from vault_server.signals.calibrate import CalibrationError, calibrate

    policy = _load(policy_dir)
    label_map = _read_labels(labels)
    show_progress = progress if progress is not None else sys.stderr.isatty()

    def results(p: Policy) -> Iterator[SubjectResult]:
        return run_replay(
            input_path=input_path, policy=p, at=_parse_at(at), grouped=not ungrouped, include_sensitive=False,
            strict=False, progress=show_progress, stats=ReplayStats(),
        )  # fmt: skip

    try:
        report = calibrate(policy, label_map, results, output=output, holdout=holdout)
    except CalibrationError as exc:
        raise click.ClickException(str(exc)) from None
    for line in report:
        click.echo(line)
