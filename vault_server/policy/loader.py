"""Load and validate a policy directory; every problem is reported as ``file:line: message``.

``load_policy(dir)`` returns a :class:`Policy` or raises :class:`PolicyError` carrying every problem
found (not just the first). ``check_policy(dir)`` returns the list. Line numbers come from PyYAML's
composed node tree, so a pydantic error location like ``gestures[3].weight`` points at the line of
that value.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vault_server.policy.models import (
    OPTIONAL_POLICY_FILES,
    POLICY_FILES,
    REQUIRED_GESTURES,
    SIGNAL_FIELDS,
    STAGES,
    AgreementsFile,
    CategoryNode,
    GestureRule,
    GesturesFile,
    RetentionFile,
    ScopesFile,
    SensitiveFile,
    StageRule,
    StagesFile,
    TaxonomyFile,
)

Loc = tuple[str | int, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, order=True)
class PolicyProblem:
    """One mistake in a policy file; ``str()`` gives ``file:line: message``."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"

    def format(self, base: Path | None = None) -> str:
        """``dir/file:line: message`` when ``base`` is given (what the CLI prints)."""
        name = str(base / self.file) if base is not None else self.file
        return f"{name}:{self.line}: {self.message}"


class PolicyError(Exception):
    """The policy directory is invalid; ``problems`` lists every mistake found."""

    def __init__(self, problems: Sequence[PolicyProblem], directory: Path | None = None) -> None:
        self.problems = list(problems)
        self.directory = directory
        lines = [p.format(directory) for p in self.problems]
        super().__init__(f"invalid policy ({len(lines)} problem(s)):\n" + "\n".join(lines))


def default_policy_dir(configured: str | os.PathLike[str] | None = None) -> Path:
    """The policy directory: ``configured`` (e.g. ``settings.policy_dir`` from VAULT_POLICY_DIR) if
    given, else the repository's ``policies/`` next to the package (works for git checkouts and
    editable installs)."""
    if configured is not None and str(configured) != "":
        return Path(configured)
    return Path(__file__).resolve().parents[2] / "policies"


class Policy:
    """A validated policy: the six files plus lookups the engine needs, and a stable content hash."""

    def __init__(
        self,
        *,
        taxonomy: TaxonomyFile,
        gestures: GesturesFile,
        stages: StagesFile,
        sensitive: SensitiveFile,
        retention: RetentionFile,
        scopes: ScopesFile,
        directory: Path | None = None,
        agreements: AgreementsFile | None = None,
    ) -> None:
        self.taxonomy = taxonomy
        self.gestures = gestures
        self.stages = stages
        self.sensitive = sensitive
        self.retention = retention
        self.scopes = scopes
        #: the IEEE 7012 roster (agreements.yaml), None when the deployment has none (not part of the hash:
        #: agreements bound grants, they never change how signals are scored)
        self.agreements = agreements
        self.directory = directory
        self.nodes: dict[str, CategoryNode] = {n.id: n for n in taxonomy.categories}
        parents = {n.parent for n in taxonomy.categories if n.parent is not None}
        #: Leaf category ids (nodes without children), sorted.
        self.leaves: tuple[str, ...] = tuple(sorted(i for i in self.nodes if i not in parents))
        self._leaf_set = frozenset(self.leaves)
        self.gesture_rules: dict[str, GestureRule] = {g.type: g for g in gestures.gestures}
        self.stage_rules: tuple[StageRule, ...] = tuple(stages.stages)
        self.stage_order: dict[str, int] = {s.id: i for i, s in enumerate(stages.stages)}
        self.sensitive_ids: frozenset[str] = frozenset(e.id for e in sensitive.categories)
        self._sensitive_memo: dict[str, bool] = {}
        #: Seconds; decay factor for an age ``a`` is ``0.5 ** (a / half_life_s)``.
        self.half_life_s: float = stages.half_life_days * 86400.0
        self.decay_rate: float = math.log(2) / self.half_life_s
        self.hash: str = policy_hash(self.files())
        #: Derived objects other rooms build once per policy (e.g. the classifier index).
        self.cache: dict[str, Any] = {}

    def files(self) -> dict[str, BaseModel]:
        return {
            "taxonomy.yaml": self.taxonomy,
            "gestures.yaml": self.gestures,
            "stages.yaml": self.stages,
            "sensitive.yaml": self.sensitive,
            "retention.yaml": self.retention,
            "scopes.yaml": self.scopes,
        }

    def is_leaf(self, category_id: str) -> bool:
        return category_id in self._leaf_set

    def ancestors(self, category_id: str) -> list[str]:
        """The id itself and its ancestors, nearest first (empty if unknown)."""
        out: list[str] = []
        cur: str | None = category_id
        while cur is not None and cur in self.nodes and cur not in out:
            out.append(cur)
            cur = self.nodes[cur].parent
        return out

    def is_sensitive(self, category_id: str) -> bool:
        """True if the category or any ancestor is listed in sensitive.yaml."""
        known = self._sensitive_memo.get(category_id)
        if known is None:
            known = any(a in self.sensitive_ids for a in self.ancestors(category_id))
            if category_id in self.nodes:
                self._sensitive_memo[category_id] = known
        return known

    def retention_days(self, gesture_type: str) -> int:
        return self.retention.gestures.get(gesture_type, self.retention.default_days)

    def summary(self) -> str:
        return (
            f"{len(self.nodes)} categories ({len(self.leaves)} leaves), {len(self.gesture_rules)} gestures, "
            f"{len(self.stage_rules)} stages, {len(self.sensitive_ids)} sensitive, "
            f"{len(self.scopes.scopes)} scopes; hash {self.hash}"
        )


def policy_hash(files: dict[str, BaseModel]) -> str:
    """sha256 of the canonical JSON of the validated content (comments and layout do not count)."""
    canonical = {name: model.model_dump(mode="json") for name, model in sorted(files.items())}
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# --- YAML with line numbers ---------------------------------------------------------------------


class YamlDoc:
    """A parsed policy file: its composed node tree (for line numbers) and plain data."""

    def __init__(self, name: str, node: Node | None, data: Any) -> None:
        self.name = name
        self.node = node
        self.data = data

    def line(self, loc: Loc) -> int:
        """1-based line of the deepest node on ``loc`` that exists."""
        node = self.node
        if node is None:
            return 1
        line = node.start_mark.line + 1
        for part in loc:
            nxt: Node | None = None
            if isinstance(node, MappingNode) and isinstance(part, str):
                for key, value in node.value:
                    if isinstance(key, ScalarNode) and key.value == part:
                        nxt = value
                        line = key.start_mark.line + 1
                        break
            elif isinstance(node, SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
                nxt = node.value[part]
                line = nxt.start_mark.line + 1
            if nxt is None:
                break
            node = nxt
        return line

    def problem(self, loc: Loc, message: str) -> PolicyProblem:
        return PolicyProblem(self.name, self.line(loc), message)


def _duplicate_keys(doc: YamlDoc, node: Node | None) -> Iterable[PolicyProblem]:
    if isinstance(node, MappingNode):
        seen: dict[str, int] = {}
        for key, value in node.value:
            if isinstance(key, ScalarNode):
                line = key.start_mark.line + 1
                if key.value in seen:
                    yield PolicyProblem(
                        doc.name, line, f"duplicate key '{key.value}' (first at line {seen[key.value]})"
                    )
                else:
                    seen[key.value] = line
            yield from _duplicate_keys(doc, value)
    elif isinstance(node, SequenceNode):
        for item in node.value:
            yield from _duplicate_keys(doc, item)


def _read(directory: Path, name: str) -> tuple[YamlDoc | None, list[PolicyProblem]]:
    path = directory / name
    if not path.is_file():
        return None, [PolicyProblem(name, 1, "file not found")]
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        return None, [PolicyProblem(name, 1, "not UTF-8 text")]
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = exc.problem or exc.context or "invalid YAML"
        if exc.context and exc.context_mark is not None and mark is not None and exc.context_mark.line != mark.line:
            what += f" ({exc.context} started at line {exc.context_mark.line + 1})"
        return None, [PolicyProblem(name, line, f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:  # pragma: no cover - PyYAML marks nearly every error
        return None, [PolicyProblem(name, 1, f"YAML error: {exc}")]
    doc = YamlDoc(name, node, data)
    if data is None:
        return None, [PolicyProblem(name, 1, "file is empty")]
    if not isinstance(data, dict):
        return None, [PolicyProblem(name, 1, "top level must be a mapping")]
    return doc, list(_duplicate_keys(doc, node))


def _loc_text(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _validate(doc: YamlDoc, model: type[BaseModel]) -> tuple[BaseModel | None, list[PolicyProblem]]:
    try:
        return model.model_validate(doc.data), []
    except ValidationError as exc:
        problems: list[PolicyProblem] = []
        for err in exc.errors():
            loc: Loc = tuple(err["loc"])
            where = _loc_text(loc)
            if err["type"] == "extra_forbidden":
                msg = f"{where}: unknown field"
            elif err["type"] == "missing":
                msg = f"{where}: missing field"
            else:
                text = str(err["msg"]).removeprefix("Value error, ")
                given = err.get("input")
                if isinstance(given, str | int | float) and not isinstance(given, bool):
                    text += f" (got {given!r})"
                msg = f"{where}: {text}" if where else text
            problems.append(doc.problem(loc, msg))
        return None, problems


# --- cross-file rules ---------------------------------------------------------------------------


def _duplicates(doc: YamlDoc, keyed: Iterable[tuple[str, Loc]], what: str) -> list[PolicyProblem]:
    """One problem per repeated key, pointing back at the line of its first use."""
    first: dict[str, int] = {}
    out: list[PolicyProblem] = []
    for key, loc in keyed:
        if key in first:
            out.append(doc.problem(loc, f"duplicate {what} '{key}' (first at line {first[key]})"))
        else:
            first[key] = doc.line(loc)
    return out


def _check_taxonomy(doc: YamlDoc, tax: TaxonomyFile) -> list[PolicyProblem]:
    out = _duplicates(doc, ((n.id, ("categories", i, "id")) for i, n in enumerate(tax.categories)), "category id")
    parents: dict[str, str | None] = {n.id: n.parent for n in tax.categories}
    for i, node in enumerate(tax.categories):
        if node.parent is None:
            continue
        if node.parent not in parents:
            out.append(
                doc.problem(("categories", i, "parent"), f"category '{node.id}': parent '{node.parent}' is not defined")
            )
        elif not node.id.startswith(node.parent + "."):
            out.append(
                doc.problem(
                    ("categories", i, "id"),
                    f"category '{node.id}': id must start with its parent's id '{node.parent}.'",
                )
            )
    reported: set[str] = set()
    for i, node in enumerate(tax.categories):
        path = [node.id]
        cur = parents.get(node.id)
        while cur is not None and cur in parents:
            if cur in path:
                cycle = [*path[path.index(cur) :], cur]
                if not reported & set(cycle):
                    out.append(
                        doc.problem(("categories", i, "parent"), "cycle in category tree: " + " -> ".join(cycle))
                    )
                    reported.update(cycle)
                break
            path.append(cur)
            cur = parents.get(cur)
    if all(n.parent is None for n in tax.categories):
        out.append(doc.problem(("categories",), "taxonomy needs at least two levels (no node has a parent)"))
    return out


def _stage_list() -> str:
    return ", ".join(STAGES)


def _check_gestures(doc: YamlDoc, ges: GesturesFile) -> list[PolicyProblem]:
    out = _duplicates(doc, ((g.type, ("gestures", i, "type")) for i, g in enumerate(ges.gestures)), "gesture type")
    defined = {g.type for g in ges.gestures}
    for i, rule in enumerate(ges.gestures):
        if rule.stage not in STAGES:
            out.append(
                doc.problem(
                    ("gestures", i, "stage"),
                    f"gesture '{rule.type}': unknown stage '{rule.stage}' (stages: {_stage_list()})",
                )
            )
        if rule.visit is not None and rule.weight > 0:
            out.append(
                doc.problem(
                    ("gestures", i, "visit"),
                    f"gesture '{rule.type}': a visit damping needs a weight <= 0 "
                    "(a positive gesture must never lower a score)",
                )
            )
        for gtype in rule.visit.factors if rule.visit is not None else {}:
            loc: Loc = ("gestures", i, "visit", "factors", gtype)
            other = next((g for g in ges.gestures if g.type == gtype), None)
            if other is None:
                out.append(doc.problem(loc, f"gesture '{rule.type}': visit.factors: unknown gesture type '{gtype}'"))
            elif other.weight < 0:
                out.append(
                    doc.problem(
                        loc,
                        f"gesture '{rule.type}': visit.factors: '{gtype}' has weight {other.weight:g}; "
                        "a visit damps only gestures with a weight >= 0",
                    )
                )
    for required in REQUIRED_GESTURES:
        if required not in defined:
            out.append(doc.problem(("gestures",), f"missing required gesture type '{required}'"))
    if ges.overlap is not None:
        out += _check_overlap(doc, ges)
    return out


def _check_overlap(doc: YamlDoc, ges: GesturesFile) -> list[PolicyProblem]:
    """``overlap``: both lists name defined gestures of weight >= 0, none twice, none in both."""
    assert ges.overlap is not None
    rules = {g.type: g for g in ges.gestures}
    out: list[PolicyProblem] = []
    seen: dict[str, str] = {}
    for side in ("action", "browsing"):
        for k, gtype in enumerate(getattr(ges.overlap, side)):
            loc: Loc = ("overlap", side, k)
            if gtype in seen:
                where = "twice" if seen[gtype] == side else "in both 'action' and 'browsing'"
                out.append(doc.problem(loc, f"overlap: gesture '{gtype}' is listed {where}"))
                continue
            seen[gtype] = side
            rule = rules.get(gtype)
            if rule is None:
                out.append(doc.problem(loc, f"overlap: unknown gesture type '{gtype}'"))
            elif rule.weight < 0:
                out.append(
                    doc.problem(
                        loc,
                        f"overlap: gesture '{gtype}' has weight {rule.weight:g}; a damping gesture "
                        "(weight < 0) is no evidence to overlap",
                    )
                )
    out += _duplicates(
        doc, ((p, ("overlap", "patterns", k)) for k, p in enumerate(ges.overlap.patterns)), "overlap pattern"
    )
    return out


def _check_stages(doc: YamlDoc, st: StagesFile, gesture_types: set[str] | None) -> list[PolicyProblem]:
    out: list[PolicyProblem] = []
    ids = [s.id for s in st.stages]
    for i, stage in enumerate(st.stages):
        if stage.id not in STAGES:
            out.append(doc.problem(("stages", i, "id"), f"unknown stage '{stage.id}' (stages: {_stage_list()})"))
        elif ids.index(stage.id) != i:
            out.append(doc.problem(("stages", i, "id"), f"duplicate stage '{stage.id}'"))
        for j, cond in enumerate(stage.requires_any):
            for k, gtype in enumerate(cond.gestures):
                if gesture_types is not None and gtype not in gesture_types:
                    out.append(
                        doc.problem(
                            ("stages", i, "requires_any", j, "gestures", k),
                            f"stage '{stage.id}': unknown gesture type '{gtype}'",
                        )
                    )
    known = [s for s in ids if s in STAGES]
    if not out:
        missing = [s for s in STAGES if s not in known]
        if missing:
            out.append(doc.problem(("stages",), "missing stage(s): " + ", ".join(missing)))
        elif known != list(STAGES):
            out.append(doc.problem(("stages",), f"stages must be listed in funnel order: {_stage_list()}"))
        elif st.stages[0].min_score != 0:
            out.append(doc.problem(("stages", 0, "min_score"), "the first stage must have min_score 0"))
    return out


def _check_sensitive(doc: YamlDoc, sens: SensitiveFile, category_ids: set[str] | None) -> list[PolicyProblem]:
    entries = list(enumerate(sens.categories))
    out = _duplicates(doc, ((e.id, ("categories", i, "id")) for i, e in entries), "sensitive category")
    for i, entry in entries:
        if category_ids is not None and entry.id not in category_ids:
            out.append(doc.problem(("categories", i, "id"), f"sensitive category '{entry.id}' is not in the taxonomy"))
    return out


def _check_retention(doc: YamlDoc, ret: RetentionFile, gesture_types: set[str] | None) -> list[PolicyProblem]:
    out: list[PolicyProblem] = []
    if ret.default_days > ret.max_days:
        out.append(doc.problem(("default_days",), f"default_days {ret.default_days} exceeds max_days {ret.max_days}"))
    for gtype, days in ret.gestures.items():
        if gesture_types is not None and gtype not in gesture_types:
            out.append(doc.problem(("gestures", gtype), f"unknown gesture type '{gtype}'"))
        if days > ret.max_days:
            out.append(
                doc.problem(
                    ("gestures", gtype), f"retention for '{gtype}' ({days} days) exceeds max_days {ret.max_days}"
                )
            )
    return out


def _check_scopes(doc: YamlDoc, sc: ScopesFile) -> list[PolicyProblem]:
    out = _duplicates(doc, ((s.id, ("scopes", i, "id")) for i, s in enumerate(sc.scopes)), "scope")
    details = list(enumerate(sc.authorization_details))
    out += _duplicates(doc, ((d.type, ("authorization_details", i, "type")) for i, d in details), "authorization type")
    for i, detail in details:
        for j, field in enumerate(detail.fields):
            if field not in SIGNAL_FIELDS:
                out.append(
                    doc.problem(
                        ("authorization_details", i, "fields", j),
                        f"unknown field '{field}' (fields: {', '.join(SIGNAL_FIELDS)})",
                    )
                )
        for j, stage in enumerate(detail.min_stage):
            if stage not in STAGES:
                out.append(
                    doc.problem(
                        ("authorization_details", i, "min_stage", j),
                        f"unknown stage '{stage}' (stages: {_stage_list()})",
                    )
                )
    return out


def _check_agreements(doc: YamlDoc, roster: AgreementsFile) -> list[PolicyProblem]:
    items = list(enumerate(roster.agreements))
    out = _duplicates(doc, ((a.id, ("agreements", i, "id")) for i, a in items), "agreement")
    if roster.default not in {a.id for a in roster.agreements}:
        out.append(doc.problem(("default",), f"default agreement '{roster.default}' is not in the roster"))
    for i, agreement in items:
        if not agreement.permits.service_delivery and (
            agreement.permits.analytics or agreement.permits.intentcasting or agreement.permits.third_party_sharing
        ):
            out.append(
                doc.problem(
                    ("agreements", i, "permits", "service_delivery"),
                    f"agreement '{agreement.id}' permits other uses but not service delivery",
                )
            )
    return out


def _load(directory: Path) -> tuple[Policy | None, list[PolicyProblem]]:
    problems: list[PolicyProblem] = []
    if not directory.is_dir():
        return None, [PolicyProblem(str(directory), 1, "policy directory not found")]
    docs: dict[str, YamlDoc] = {}
    models: dict[str, BaseModel] = {}
    for name, schema in POLICY_FILES.items():
        doc, found = _read(directory, name)
        problems += found
        if doc is None:
            continue
        docs[name] = doc
        model, found = _validate(doc, schema)
        problems += found
        if model is not None:
            models[name] = model

    tax = models.get("taxonomy.yaml")
    ges = models.get("gestures.yaml")
    category_ids = {n.id for n in tax.categories} if isinstance(tax, TaxonomyFile) else None
    gesture_types = {g.type for g in ges.gestures} if isinstance(ges, GesturesFile) else None
    for name, model in models.items():
        doc = docs[name]
        if isinstance(model, TaxonomyFile):
            problems += _check_taxonomy(doc, model)
        elif isinstance(model, GesturesFile):
            problems += _check_gestures(doc, model)
        elif isinstance(model, StagesFile):
            problems += _check_stages(doc, model, gesture_types)
        elif isinstance(model, SensitiveFile):
            problems += _check_sensitive(doc, model, category_ids)
        elif isinstance(model, RetentionFile):
            problems += _check_retention(doc, model, gesture_types)
        elif isinstance(model, ScopesFile):
            problems += _check_scopes(doc, model)

    optional: dict[str, BaseModel] = {}
    for name, schema in OPTIONAL_POLICY_FILES.items():
        if not (directory / name).exists():
            continue
        doc, found = _read(directory, name)
        problems += found
        if doc is None:
            continue
        model, found = _validate(doc, schema)
        problems += found
        if isinstance(model, AgreementsFile):
            problems += _check_agreements(doc, model)
            optional[name] = model

    order = {name: i for i, name in enumerate([*POLICY_FILES, *OPTIONAL_POLICY_FILES])}
    problems = sorted(set(problems), key=lambda p: (order.get(p.file, -1), p.line, p.message))
    if problems or len(models) != len(POLICY_FILES):
        return None, problems
    policy = Policy(
        taxonomy=_as(models["taxonomy.yaml"], TaxonomyFile),
        gestures=_as(models["gestures.yaml"], GesturesFile),
        stages=_as(models["stages.yaml"], StagesFile),
        sensitive=_as(models["sensitive.yaml"], SensitiveFile),
        retention=_as(models["retention.yaml"], RetentionFile),
        scopes=_as(models["scopes.yaml"], ScopesFile),
        directory=directory,
        agreements=_as(optional["agreements.yaml"], AgreementsFile) if "agreements.yaml" in optional else None,
    )
    return policy, []


_T = TypeVar("_T")


def _as(value: object, kind: type[_T]) -> _T:
    assert isinstance(value, kind)
    return value


def read_document(directory: str | os.PathLike[str], name: str) -> YamlDoc | None:
    """One policy file with its node tree (``doc.line(loc)`` gives the line of a value), or None if it
    cannot be read or parsed (``check_policy`` says why)."""
    doc, _ = _read(Path(directory), name)
    return doc


def check_policy(directory: str | os.PathLike[str]) -> list[PolicyProblem]:
    """Every problem in the policy directory, sorted by file and line (empty list: valid)."""
    return _load(Path(directory))[1]


def load_policy(directory: str | os.PathLike[str]) -> Policy:
    """The validated policy in ``directory``; raises :class:`PolicyError` listing every problem."""
    path = Path(directory)
    policy, problems = _load(path)
    if policy is None:
        raise PolicyError(problems, path)
    return policy
