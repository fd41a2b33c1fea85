"""Policy files: the shipped policy is valid, the hash is stable, every broken case says exactly what is wrong."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vault_server.policy import (
    REQUIRED_GESTURES,
    STAGES,
    PolicyError,
    check_policy,
    default_policy_dir,
    load_policy,
)
from vault_server.policy.cli import policy as policy_cli

REPO = Path(__file__).resolve().parents[2]
BROKEN = REPO / "tests" / "fixtures" / "policies_broken"
CASES = sorted(p.name for p in BROKEN.iterdir() if p.is_dir() and not p.name.startswith("_"))


def overlay(case: str, target: Path) -> Path:
    """The minimal valid base policy with the case's files laid over it (and ``_remove`` files deleted)."""
    target.mkdir(parents=True, exist_ok=True)
    for f in (BROKEN / "_base").iterdir():
        shutil.copy(f, target / f.name)
    for f in (BROKEN / case).iterdir():
        if f.name == "_remove":
            for name in f.read_text().split():
                (target / name).unlink()
        elif f.suffix == ".yaml":
            shutil.copy(f, target / f.name)
    return target


def test_shipped_policy_is_valid_and_complete() -> None:
    assert check_policy(REPO / "policies") == []
    policy = load_policy(REPO / "policies")
    assert len(policy.leaves) >= 150
    assert all(policy.nodes[leaf].parent is not None for leaf in policy.leaves)
    assert set(REQUIRED_GESTURES) <= set(policy.gesture_rules)
    assert [s.id for s in policy.stage_rules] == list(STAGES)
    for sensitive in ("health", "religion", "politics", "adult", "heritage", "union", "hardship"):
        assert sensitive in policy.sensitive_ids
    assert {"signals:read", "intents:read", "offers:write", "questions:write", "identity:name", "identity:email",
            "gestures:write", "signals:read:self"} <= {s.id for s in policy.scopes.scopes}  # fmt: skip
    languages = {lang for node in policy.taxonomy.categories for lang in node.synonyms}
    assert {"de", "fr", "es", "it", "nl", "pl"} <= languages


def test_default_policy_dir_prefers_the_configured_value(tmp_path: Path) -> None:
    assert default_policy_dir(tmp_path) == tmp_path
    assert default_policy_dir(None) == REPO / "policies"
    assert default_policy_dir("") == REPO / "policies"


def test_sensitive_covers_descendants_and_only_them() -> None:
    policy = load_policy(REPO / "policies")
    assert policy.is_sensitive("health.pharmacy")
    assert policy.is_sensitive("legal.criminal_defense")
    assert not policy.is_sensitive("legal.general")
    assert not policy.is_sensitive("electronics.tv")
    assert not policy.is_sensitive("no.such.category")


def test_hash_ignores_comments_and_layout_but_not_content(tmp_path: Path) -> None:
    base = load_policy(REPO / "policies").hash
    copy = tmp_path / "p"
    shutil.copytree(REPO / "policies", copy)
    gestures = copy / "gestures.yaml"
    gestures.write_text("# a new comment\n\n" + gestures.read_text())
    assert load_policy(copy).hash == base
    gestures.write_text(gestures.read_text().replace("weight: 0.25", "weight: 0.26", 1))
    assert load_policy(copy).hash != base


def test_base_of_the_broken_corpus_is_valid() -> None:
    assert check_policy(BROKEN / "_base") == []


@pytest.mark.parametrize("case", CASES)
def test_broken_policy_reports_exact_messages(case: str, tmp_path: Path) -> None:
    directory = overlay(case, tmp_path / case)
    expected = (BROKEN / case / "expected.txt").read_text().splitlines()
    assert expected, f"{case} has no expected messages"
    assert [str(p) for p in check_policy(directory)] == expected
    with pytest.raises(PolicyError) as info:
        load_policy(directory)
    assert [str(p) for p in info.value.problems] == expected


def test_corpus_covers_the_required_mistakes() -> None:
    messages = "\n".join((BROKEN / c / "expected.txt").read_text() for c in CASES)
    for needle in ("unknown stage", "less than or equal to 5", "duplicate category id", "is not defined",
                   "unknown gesture type", "YAML syntax error", "file not found", "valid number", "cycle",
                   "not in the taxonomy"):  # fmt: skip
        assert needle in messages


def test_missing_directory_is_one_problem(tmp_path: Path) -> None:
    problems = check_policy(tmp_path / "nope")
    assert [p.message for p in problems] == ["policy directory not found"]


def test_cli_check_ok_prints_counts_and_hash() -> None:
    result = CliRunner().invoke(policy_cli, ["check", str(REPO / "policies")])
    assert result.exit_code == 0, result.output
    policy = load_policy(REPO / "policies")
    assert result.output.startswith("OK ")
    assert policy.hash in result.output
    assert f"({len(policy.leaves)} leaves)" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_check_prints_each_problem_with_path_and_exits_1(tmp_path: Path) -> None:
    directory = overlay("duplicate_gesture", tmp_path / "d")
    result = CliRunner().invoke(policy_cli, ["check", str(directory)])
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert lines == [f"{directory / 'gestures.yaml'}:{line}" for line in
                     ["3: missing required gesture type 'return_visit'",
                      "20: duplicate gesture type 'share' (first at line 18)"]]  # fmt: skip
