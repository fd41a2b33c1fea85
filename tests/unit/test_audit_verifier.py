"""Offline audit verifier: tampered exports name the first bad position; heads are authenticated."""

from __future__ import annotations

import ast
import base64
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from vault_server.audit import verifier
from vault_server.audit.merkle import (
    MemoryNodeStore,
    consistency_proof,
    entry_leaf_hash,
    inclusion_proof,
    root_hash,
    verify_inclusion,
)
from vault_server.audit.verifier import (
    DUPLICATE,
    FORK,
    MISSING,
    MODIFIED,
    OUT_OF_ORDER,
    RENUMBERED,
    ROOT,
    SIGNATURE,
    SIZE,
    STH_TYP,
    FormatError,
    VerificationReport,
    canonical_json,
    consistency_proof_json,
    export_line,
    inclusion_proof_json,
    public_jwk,
    sign_tree_head,
    tree_head_payload,
    verify_export,
)

KID = "audit-2026-01"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
JWKS = {"keys": [public_jwk(KEY.public_key(), KID)]}
T0 = 1_767_225_600_000


def make_entry(i: int) -> dict[str, Any]:
    return {
        "index": i,
        "at": T0 + i * 1000,
        "actor": f"vendor:{['acme', 'bolt', 'café'][i % 3]}",
        "action": "feed.read",
        "consumer": f"c-{i:03d}",
        "scopes": ["signals:tv", "stage:motivation"],
    }


class Log:
    """A log built through the public merkle API, as the server would."""

    def __init__(self, entries: Sequence[dict[str, Any]]) -> None:
        self.entries = list(entries)
        self.store = MemoryNodeStore()
        self.store.append(0, [entry_leaf_hash(e) for e in self.entries])

    def lines(self) -> list[str]:
        return [export_line(i, e) for i, e in enumerate(self.entries)]

    def sth(self, size: int, *, kid: str = KID, key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
        return sign_tree_head(key, kid, size, root_hash(self.store, size), T0 + size)

    def proof(self, first: int, second: int) -> dict[str, Any]:
        return consistency_proof_json(first, second, consistency_proof(self.store, first, second))


@pytest.fixture
def log() -> Log:
    return Log([make_entry(i) for i in range(20)])


def kinds(report: VerificationReport) -> list[str]:
    return [p.kind for p in report.problems]


# ----------------------------------------------------------------------------------------- tampering


def test_untouched_export_verifies(log: Log) -> None:
    report = verify_export(log.lines(), log.sth(20), JWKS, old_sths=[log.sth(7), log.sth(12)], proof=log.proof(12, 20))
    assert report.ok, report.problems
    assert (report.entries, report.tree_size, report.first_bad_index) == (20, 20, None)


def test_modified_entry_is_named(log: Log) -> None:
    lines = log.lines()
    tampered = dict(log.entries[7], consumer="c-999")
    lines[7] = export_line(7, tampered, entry_leaf_hash(log.entries[7]))  # recorded leaf hash kept
    report = verify_export(lines, log.sth(20), JWKS)
    assert report.first_bad_index == 7
    assert report.problems[0].message == (
        "export.jsonl:8: index 7: entry does not match its leaf_hash (entry modified)"
    )
    assert kinds(report) == [MODIFIED, ROOT]


def test_deleted_entry_is_named(log: Log) -> None:
    lines = log.lines()
    del lines[5]
    report = verify_export(lines, log.sth(20), JWKS)
    assert report.first_bad_index == 5
    assert report.problems[0].message == "export.jsonl:6: expected index 5, found 6 (entry 5 deleted or moved)"
    assert kinds(report) == [MISSING, SIZE]  # the 19-entry prefix has no head to compare against


def test_deleted_run_of_entries_is_named(log: Log) -> None:
    lines = log.lines()
    del lines[3:6]
    report = verify_export(lines, log.sth(17), JWKS)
    assert report.first_bad_index == 3
    assert "(entries 3..5 deleted or moved)" in report.problems[0].message


def test_reordered_entries_are_named(log: Log) -> None:
    lines = log.lines()
    lines[9], lines[10] = lines[10], lines[9]
    report = verify_export(lines, log.sth(20), JWKS)
    assert report.first_bad_index == 9
    assert [p.message for p in report.problems[:2]] == [
        "export.jsonl:10: expected index 9, found 10 (entry 9 deleted or moved)",
        "export.jsonl:11: index 9 is out of order (expected at position 9, found at position 10)",
    ]
    assert kinds(report) == [MISSING, OUT_OF_ORDER, ROOT]


def test_entry_moved_far_away_is_named_once(log: Log) -> None:
    lines = log.lines()
    lines.append(lines.pop(2))
    report = verify_export(lines, log.sth(20), JWKS)
    assert report.first_bad_index == 2
    assert [(p.kind, p.index, p.line) for p in report.problems[:2]] == [(MISSING, 2, 3), (OUT_OF_ORDER, 2, 20)]


def test_reversed_export_names_position_zero(log: Log) -> None:
    report = verify_export(log.lines()[::-1], log.sth(20), JWKS)
    assert report.first_bad_index == 0
    assert report.problems[0].message == "export.jsonl:1: expected index 0, found 19 (entries 0..18 deleted or moved)"
    assert kinds(report).count(OUT_OF_ORDER) == 19  # every other line is out of order, none is a duplicate


def test_inserted_entry_is_named(log: Log) -> None:
    lines = log.lines()
    forged = dict(make_entry(3), actor="vendor:evil")
    lines.insert(3, export_line(3, forged))  # self-consistent line claiming position 3
    report = verify_export(lines, log.sth(20), JWKS)
    assert report.first_bad_index == 3
    assert report.problems[0].message == (
        "export.jsonl:5: index 3 appears twice (also on line 4): an entry was inserted"
    )
    assert kinds(report) == [DUPLICATE, ROOT]


def test_rewrite_consistent_with_its_own_leaf_hashes_is_bounded_by_signed_heads(log: Log) -> None:
    lines = log.lines()
    rewritten = dict(log.entries[9], action="feed.export")
    lines[9] = export_line(9, rewritten)  # leaf hash recomputed too: only the signed roots can tell
    report = verify_export(lines, log.sth(20), JWKS, old_sths=[log.sth(4), log.sth(8), log.sth(12)])
    assert report.first_bad_index is None
    assert [(p.kind, p.index_range) for p in report.problems] == [(ROOT, (8, 12)), (ROOT, (8, 20))]
    assert report.problems[0].message == (
        "old-sth.json: root of the first 12 entries of export.jsonl does not match the signed root "
        "(first bad index in indices 8..11)"
    )


def test_renumbered_insertion_is_named_by_the_entries_own_index(log: Log) -> None:
    entries = [*log.entries[:10], dict(make_entry(10), actor="vendor:evil"), *log.entries[10:]]
    lines = [export_line(i, e) for i, e in enumerate(entries)]  # labels and leaf hashes all recomputed
    report = verify_export(lines, log.sth(20), JWKS, old_sths=[log.sth(4)])
    assert report.first_bad_index == 10
    assert report.problems[0].message == (
        "export.jsonl:12: index 11: the entry itself records index 10 (entries before it were deleted, "
        "inserted or moved and the export renumbered)"
    )
    assert [(p.kind, p.index_range) for p in report.problems] == [(RENUMBERED, None), (ROOT, (4, 20))]
    assert report.notes == ["entries 20..20 are newer than sth.json and not covered by a signed head"]


def test_renumbered_deletion_is_named_by_the_entries_own_index(log: Log) -> None:
    entries = [*log.entries[:6], *log.entries[7:]]
    report = verify_export([export_line(i, e) for i, e in enumerate(entries)], log.sth(20), JWKS)
    assert report.first_bad_index == 6
    assert kinds(report) == [RENUMBERED, SIZE]


def test_renumbered_insertion_without_entry_index_is_bounded_by_signed_heads(log: Log) -> None:
    entries = [{k: v for k, v in e.items() if k != "index"} for e in log.entries]
    honest = Log(entries)
    forged = [*entries[:10], {"actor": "vendor:evil"}, *entries[10:]]
    lines = [export_line(i, e) for i, e in enumerate(forged)]
    report = verify_export(lines, honest.sth(20), JWKS, old_sths=[honest.sth(8), honest.sth(16)])
    assert report.first_bad_index is None
    assert [(p.kind, p.index_range) for p in report.problems] == [(ROOT, (8, 16)), (ROOT, (8, 20))]


TAMPERINGS = ["modify", "delete", "swap", "insert", "renumbered-delete", "renumbered-insert", "renumbered-swap"]


def tamper(entries: list[dict[str, Any]], how: str, p: int) -> list[str]:
    """Apply one tampering at position p; labels are renumbered to match file order when asked."""
    n = len(entries)
    forged = dict(make_entry(p), actor="vendor:evil")
    if how == "modify":
        lines = [export_line(i, e) for i, e in enumerate(entries)]
        lines[p] = export_line(p, dict(entries[p], action="feed.export"), entry_leaf_hash(entries[p]))
        return lines
    if how == "delete":
        return [export_line(i, e) for i, e in enumerate(entries) if i != p]
    if how == "swap":
        order = list(range(n))
        order[p], order[p + 1] = order[p + 1], order[p]
        return [export_line(i, entries[i]) for i in order]
    if how == "insert":
        return [
            *[export_line(i, e) for i, e in enumerate(entries[:p])],
            export_line(p, forged),
            *[export_line(i, e) for i, e in enumerate(entries) if i >= p],
        ]
    if how == "renumbered-delete":
        kept = [e for i, e in enumerate(entries) if i != p]
    elif how == "renumbered-insert":
        kept = [*entries[:p], forged, *entries[p:]]
    else:
        kept = list(entries)
        kept[p], kept[p + 1] = kept[p + 1], kept[p]
    return [export_line(i, e) for i, e in enumerate(kept)]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(min_value=2, max_value=40), how=st.sampled_from(TAMPERINGS), data=st.data())
def test_any_single_tampering_names_its_position(n: int, how: str, data: st.DataObject) -> None:
    log = Log([make_entry(i) for i in range(n)])
    p = data.draw(st.integers(min_value=0, max_value=n - 2 if "swap" in how else n - 1), label="position")
    report = verify_export(tamper(log.entries, how, p), log.sth(n), JWKS)
    assert not report.ok
    assert report.first_bad_index == p, [x.message for x in report.problems]


def test_inclusion_proof_json_shape(log: Log) -> None:
    doc = inclusion_proof_json(5, 20, inclusion_proof(log.store, 5, 20))
    assert set(doc) == {"leaf_index", "tree_size", "inclusion_path"}
    path = [bytes.fromhex(x) for x in doc["inclusion_path"]]
    assert verify_inclusion(5, 20, entry_leaf_hash(log.entries[5]), path, root_hash(log.store, 20))


# ------------------------------------------------------------------------------------------- forks


@pytest.fixture
def forked(log: Log) -> Log:
    """The same log with entry 5 rewritten and every hash recomputed: a second, self-consistent history."""
    entries = list(log.entries)
    entries[5] = dict(entries[5], consumer="c-555")
    return Log(entries)


def test_forked_head_is_detected_and_bounded(log: Log, forked: Log) -> None:
    report = verify_export(forked.lines(), forked.sth(20), JWKS, old_sths=[log.sth(4), log.sth(12)])
    assert [(p.kind, p.index_range) for p in report.problems] == [(FORK, (4, 12))]
    assert report.problems[0].message == (
        "old-sth.json: fork: the signed head at tree_size 12 is not a prefix of the signed head at "
        "tree_size 20, which matches export.jsonl; the log was rewritten in indices 4..11"
    )


def test_forked_head_fails_the_consistency_proof(log: Log, forked: Log) -> None:
    report = verify_export(forked.lines(), forked.sth(20), JWKS, old_sths=[log.sth(12)], proof=forked.proof(12, 20))
    assert kinds(report) == [FORK, FORK]
    assert report.problems[1].message == (
        "proof.json: consistency proof from tree_size 12 (old-sth.json) to 20 (sth.json) does not verify: "
        "the two heads are a fork"
    )


def test_consistency_proof_is_only_judged_between_authenticated_heads(log: Log, forked: Log) -> None:
    bad_old = dict(log.sth(12), signature="e30.e30.e30")
    report = verify_export(forked.lines(), forked.sth(20), JWKS, old_sths=[bad_old], proof=forked.proof(12, 20))
    assert kinds(report) == [SIGNATURE]


def test_a_later_but_smaller_signed_head_is_a_rollback(log: Log) -> None:
    old = sign_tree_head(KEY, KID, 12, root_hash(log.store, 12), T0 + 10_000)  # signed after the size-20 head
    report = verify_export(log.lines(), log.sth(20), JWKS, old_sths=[old])
    assert [(p.kind, p.index_range) for p in report.problems] == [(FORK, (12, 20))]
    assert report.problems[0].message.endswith("the log shrank (rollback)")


def test_two_signed_heads_of_one_size_with_different_roots_are_an_equivocation(log: Log, forked: Log) -> None:
    report = verify_export(log.lines(), log.sth(20), JWKS, old_sths=[forked.sth(20)])
    assert FORK in kinds(report)
    assert any("equivocated" in p.message for p in report.problems)


# ------------------------------------------------------------------------------ tree head signatures


def resign(sth: dict[str, Any], header: dict[str, Any], key: Ed25519PrivateKey = KEY) -> dict[str, Any]:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    payload = tree_head_payload(sth["tree_size"], bytes.fromhex(sth["root_hash"]), sth["timestamp"])
    signing_input = b64(canonical_json(header)) + "." + b64(payload)
    return dict(sth, signature=signing_input + "." + b64(key.sign(signing_input.encode())))


def test_bad_signature(log: Log) -> None:
    sth = log.sth(20)
    head, payload, sig = sth["signature"].split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=="))
    raw[10] ^= 1
    sth["signature"] = f"{head}.{payload}.{base64.urlsafe_b64encode(bytes(raw)).rstrip(b'=').decode()}"
    report = verify_export(log.lines(), sth, JWKS)
    assert [p.message for p in report.problems] == [f"sth.json: signature does not verify with key {KID!r}"]


def test_unknown_kid(log: Log) -> None:
    report = verify_export(log.lines(), log.sth(20, kid="audit-1999"), JWKS)
    assert [p.message for p in report.problems] == ["sth.json: kid 'audit-1999' is not in the JWK set"]
    assert kinds(report) == [SIGNATURE]


def test_right_kid_wrong_key(log: Log) -> None:
    report = verify_export(log.lines(), log.sth(20, key=Ed25519PrivateKey.generate()), JWKS)
    assert [p.message for p in report.problems] == [f"sth.json: signature does not verify with key {KID!r}"]


def test_unsigned_fields_cannot_be_edited(log: Log) -> None:
    sth = dict(log.sth(12), tree_size=20, root_hash=root_hash(log.store, 20).hex())
    report = verify_export(log.lines(), sth, JWKS)
    assert [p.message for p in report.problems] == [
        "sth.json: signed payload does not match tree_size/root_hash/timestamp"
    ]


@pytest.mark.parametrize(
    ("header", "why"),
    [
        ({"alg": "none", "kid": KID, "typ": STH_TYP}, "JWS alg is 'none', expected 'Ed25519'"),
        ({"alg": "HS256", "kid": KID, "typ": STH_TYP}, "JWS alg is 'HS256', expected 'Ed25519'"),
        ({"alg": "Ed25519", "kid": KID, "typ": "JWT"}, f"JWS typ is 'JWT', expected {STH_TYP!r}"),
        ({"alg": "Ed25519", "kid": KID}, f"JWS typ is None, expected {STH_TYP!r}"),
        ({"alg": "Ed25519", "kid": "other", "typ": STH_TYP}, "JWS kid 'other' differs from the tree head's kid"),
        (
            {"alg": "Ed25519", "kid": KID, "typ": STH_TYP, "crit": ["exp"]},
            "JWS header has 'crit' extensions this verifier does not understand",
        ),
    ],
)
def test_jws_header_is_checked(log: Log, header: dict[str, Any], why: str) -> None:
    report = verify_export(log.lines(), resign(log.sth(20), header), JWKS)
    assert len(report.problems) == 1
    assert report.problems[0].message.startswith(f"sth.json: {why}")


def test_legacy_eddsa_alg_is_accepted(log: Log) -> None:
    sth = resign(log.sth(20), {"alg": "EdDSA", "kid": KID, "typ": STH_TYP})
    assert verify_export(log.lines(), sth, JWKS).ok


def test_malformed_signature_is_a_problem_not_a_crash(log: Log) -> None:
    for bad in ["", "a.b", "!!.??.**", "e30.e30.e30"]:
        report = verify_export(log.lines(), dict(log.sth(20), signature=bad), JWKS)
        assert kinds(report) == [SIGNATURE], bad


def test_signature_interoperates_with_joserfc(log: Log) -> None:
    jws = pytest.importorskip("joserfc.jws")
    okp = pytest.importorskip("joserfc.jwk")
    sth = log.sth(20)
    token = jws.deserialize_compact(sth["signature"], okp.OKPKey.import_key(JWKS["keys"][0]), algorithms=["Ed25519"])
    assert json.loads(token.payload) == {k: sth[k] for k in ("root_hash", "timestamp", "tree_size")}
    assert token.headers() == {"alg": "Ed25519", "kid": KID, "typ": STH_TYP}


# ----------------------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "export.jsonl:3: not valid JSON"),
        ("[1, 2]", "export.jsonl:3: not a JSON object"),
        ('{"index": 2, "entry": {}}', "export.jsonl:3: missing 'leaf_hash'"),
        ('{"index": true, "entry": {}, "leaf_hash": "' + "0" * 64 + '"}', "export.jsonl:3: 'index' must be"),
        ('{"index": 2, "entry": [], "leaf_hash": "' + "0" * 64 + '"}', "export.jsonl:3: 'entry' must be"),
        ('{"index": 2, "entry": {}, "leaf_hash": "ABC"}', "export.jsonl:3: 'leaf_hash' must be"),
        ('{"index": 2, "entry": {"x": NaN}, "leaf_hash": "' + "0" * 64 + '"}', "export.jsonl:3: not valid JSON"),
    ],
)
def test_unreadable_entry_lines_are_format_errors(log: Log, line: str, message: str) -> None:
    lines = log.lines()
    lines[2] = line
    with pytest.raises(FormatError) as err:
        verify_export(lines, log.sth(20), JWKS)
    assert str(err.value).startswith(message)


@pytest.mark.parametrize(
    ("sth", "message"),
    [
        ([], "sth.json: not a JSON object"),
        ({"tree_size": 1}, "sth.json: missing 'root_hash'"),
        (
            {"tree_size": -1, "root_hash": "0" * 64, "timestamp": 0, "kid": "k", "signature": ""},
            "sth.json: 'tree_size' must be",
        ),
        (
            {"tree_size": 1, "root_hash": "0" * 63, "timestamp": 0, "kid": "k", "signature": ""},
            "sth.json: 'root_hash' must be",
        ),
    ],
)
def test_malformed_tree_head_is_a_format_error(log: Log, sth: Any, message: str) -> None:
    with pytest.raises(FormatError, match="^" + message):
        verify_export(log.lines(), sth, JWKS)


def test_malformed_jwks_and_proof_are_format_errors(log: Log) -> None:
    with pytest.raises(FormatError, match="not a JWK set"):
        verify_export(log.lines(), log.sth(20), {"kty": "OKP"})
    with pytest.raises(FormatError, match="matches no --old-sth"):
        verify_export(log.lines(), log.sth(20), JWKS, old_sths=[log.sth(4)], proof=log.proof(12, 20))
    with pytest.raises(FormatError, match="consistency_path items"):
        verify_export(
            log.lines(),
            log.sth(20),
            JWKS,
            old_sths=[log.sth(12)],
            proof={"tree_size_1": 12, "tree_size_2": 20, "consistency_path": ["zz"]},
        )


def test_blank_lines_are_ignored_and_empty_log_verifies() -> None:
    empty = Log([])
    assert verify_export(["\n", "  \n"], empty.sth(0), JWKS).ok


# -------------------------------------------------------------------------------------- command line


def write_case(tmp: Path, lines: Sequence[str], sth: dict[str, Any], **extra: Any) -> None:
    (tmp / "export.jsonl").write_text("".join(lines), encoding="utf-8")
    (tmp / "sth.json").write_text(json.dumps(sth), encoding="utf-8")
    (tmp / "jwks.json").write_text(json.dumps(JWKS), encoding="utf-8")
    for name, obj in extra.items():
        (tmp / f"{name}.json").write_text(json.dumps(obj), encoding="utf-8")


ARGS = ["--entries", "export.jsonl", "--sth", "sth.json", "--jwks", "jwks.json"]


def test_cli_ok(log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    write_case(tmp_path, log.lines(), log.sth(20), old=log.sth(12), proof=log.proof(12, 20))
    monkeypatch.chdir(tmp_path)
    assert verifier.main([*ARGS, "--old-sth", "old.json", "--proof", "proof.json"]) == 0
    assert capsys.readouterr().out.startswith(f"OK: 20 entries; tree_size 20 root {root_hash(log.store, 20).hex()}")


def test_cli_tampered(
    log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = log.lines()
    del lines[16]
    write_case(tmp_path, lines, log.sth(20))
    monkeypatch.chdir(tmp_path)
    assert verifier.main(ARGS) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "export.jsonl:17: expected index 16, found 17 (entry 16 deleted or moved)"
    assert out[-1] == "TAMPERED: 2 problem(s); first bad index 16"


def test_cli_format_errors(
    log: Log, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = log.lines()
    lines[16] = "garbage\n"
    write_case(tmp_path, lines, log.sth(20), old=log.sth(12))
    monkeypatch.chdir(tmp_path)
    assert verifier.main(ARGS) == 2
    assert capsys.readouterr().err == "error: export.jsonl:17: not valid JSON\n"
    assert verifier.main([*ARGS[:2], "--sth", "missing.json", *ARGS[4:]]) == 2
    assert "missing.json: cannot read" in capsys.readouterr().err
    assert verifier.main(["--entries", "export.jsonl"]) == 2  # argparse usage error
    (tmp_path / "big.json").write_text(json.dumps(log.sth(20)))
    assert verifier.main([*ARGS[:2], "--sth", "old.json", *ARGS[4:], "--old-sth", "big.json"]) == 2
    assert "is larger than" in capsys.readouterr().err


def test_verifier_runs_as_a_single_copied_file(log: Log, tmp_path: Path) -> None:
    shutil.copy(verifier.__file__, tmp_path / "verifier.py")
    lines = log.lines()
    lines[7] = export_line(7, dict(log.entries[7], consumer="c-999"), entry_leaf_hash(log.entries[7]))
    write_case(tmp_path, lines, log.sth(20))
    run = subprocess.run(
        [sys.executable, "-I", "verifier.py", *ARGS], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines()[0] == "export.jsonl:8: index 7: entry does not match its leaf_hash (entry modified)"


def test_verifier_imports_only_stdlib_and_cryptography() -> None:
    tree = ast.parse(Path(verifier.__file__).read_text(encoding="utf-8"))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module is not None
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) == {"cryptography"}
