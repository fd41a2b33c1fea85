"""The compliance replay: reads need a live grant at that moment; revoked tokens must not be used; heads on time."""

from __future__ import annotations

from typing import Any

from vault_server.audit.check import (
    AFTER_REVOKE,
    BEYOND_AGREEMENT,
    STH_GAP,
    UNCOVERED,
    Finding,
    category_covered,
    replay,
    sth_gaps,
)

ALICE = "subject-alice"
BOB = "subject-bob"


class Log:
    """Builds entry objects the way audit.service.record shapes them."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, kind: str, subject: str | None = ALICE, at: int | None = None, **details: Any) -> int:
        index = len(self.entries)
        self.entries.append(
            {
                "v": 1,
                "index": index,
                "at": at if at is not None else 1_000 * (index + 1),
                "kind": kind,
                "actor": "x",
                "subject": subject,
                "details": details,
                "private_sha256": None,
            }
        )
        return index

    def grant(self, grant_id: str = "g1", vendor: str = "acme", **extra: Any) -> int:
        details: dict[str, Any] = {"categories": ["electronics"], "fields": ["stage", "score"], **extra}
        return self.add("grant.created", grant_id=grant_id, vendor_id=vendor, **details)

    def read(self, grant_id: str | None = "g1", vendor: str = "acme", **extra: Any) -> int:
        details: dict[str, Any] = {"categories": ["electronics.tv"], "fields": ["stage"], "record_count": 1, **extra}
        if grant_id is not None:
            details["grant_id"] = grant_id
        return self.add("vendor.read", vendor_id=vendor, **details)


def _kinds(findings: list[Finding]) -> list[tuple[str, int | None]]:
    return [(f.kind, f.index) for f in findings]


def test_covered_reads_are_clean() -> None:
    log = Log()
    log.grant()
    log.read()
    log.read(grant_id=None)  # no grant id: any live grant of this vendor and consumer covers it
    log.add("webhook.delivered", vendor_id="acme", grant_id="g1", categories=["electronics"], record_count=2)
    assert replay(log.entries) == []


def test_read_after_grant_revoked_or_expired_is_uncovered() -> None:
    log = Log()
    log.grant()
    log.read()
    revoked = log.add("grant.revoked", grant_id="g1", vendor_id="acme")
    bad = log.read()
    log.grant("g2")
    log.add("grant.expired", grant_id="g2", vendor_id="acme")
    bad2 = log.read("g2")
    findings = replay(log.entries)
    assert _kinds(findings) == [(UNCOVERED, bad), (UNCOVERED, bad2)]
    assert f"revoked at index {revoked}" in findings[0].line()
    assert findings[0].line().startswith(f"uncovered-read: index {bad}: read by acme")


def test_time_based_expiry_categories_fields_vendor_and_consumer() -> None:
    log = Log()
    log.grant(expires_at=5_000)
    ok = log.read()  # at 2000
    late = log.read()  # at 3000 < 5000: still fine
    log.add("token.issued", vendor_id="acme", grant_id="g1", token_id="t1", family_id="f1")  # at 4000
    expired = log.read()  # at 5000: expired
    assert _kinds(replay(log.entries)) == [(UNCOVERED, expired)]
    del ok, late

    log = Log()
    log.grant()
    outside = log.read(categories=["health.pharmacy"])
    field = log.read(fields=["stage", "brand"])
    other_vendor = log.read(vendor="evil")
    other_consumer = len(log.entries)
    log.add("vendor.read", subject=BOB, vendor_id="acme", grant_id="g1", categories=["electronics"])
    unknown = log.read("g-unknown")
    findings = replay(log.entries)
    assert _kinds(findings) == [
        (UNCOVERED, outside),
        (UNCOVERED, field),
        (UNCOVERED, other_vendor),
        (UNCOVERED, other_consumer),
        (UNCOVERED, unknown),
    ]
    assert "health.pharmacy" in findings[0].message and "brand" in findings[1].message
    assert "never created" in findings[4].message


def test_narrowing_takes_effect_from_its_position() -> None:
    log = Log()
    log.grant(categories=["electronics", "home"])
    before = log.read(categories=["home.kitchen"])
    log.add("grant.narrowed", grant_id="g1", vendor_id="acme", categories=["electronics"])
    after = log.read(categories=["home.kitchen"])
    assert _kinds(replay(log.entries)) == [(UNCOVERED, after)]
    del before


def test_token_used_after_revocation() -> None:
    log = Log()
    log.grant()
    log.add("token.issued", vendor_id="acme", grant_id="g1", token_id="t1", family_id="f1")
    log.read(token_id="t1", family_id="f1")
    log.add("token.revoked", vendor_id="acme", grant_id="g1", token_id="t1", family_id="f1")
    by_token = log.read(token_id="t1", family_id="f1")
    log.add("token.issued", vendor_id="acme", grant_id="g1", token_id="t2", family_id="f1")
    by_family = log.read(token_id="t2", family_id="f1")
    refresh = log.add("token.refreshed", vendor_id="acme", grant_id="g1", token_id="t3", family_id="f1")
    log.add("token.issued", vendor_id="acme", grant_id="g1", token_id="t9", family_id="f9")
    log.read(token_id="t9", family_id="f9")  # another family: fine
    findings = replay(log.entries)
    assert _kinds(findings) == [(AFTER_REVOKE, by_token), (AFTER_REVOKE, by_family), (AFTER_REVOKE, refresh)]
    assert "token t1 revoked at index 3" in findings[0].message
    assert findings[2].message.startswith("refresh by acme")


def test_category_hierarchy() -> None:
    assert category_covered("electronics.tv", ["electronics"])
    assert category_covered("electronics", ["electronics"])
    assert not category_covered("electronicsx", ["electronics"])
    assert not category_covered("electronics", ["electronics.tv"])


def test_sth_gaps() -> None:
    times = [(0, 1_000), (1, 2_000), (2, 10_000), (3, 50_000), (4, 51_000)]
    sths = [{"tree_size": 2, "timestamp": 3_000}, {"tree_size": 3, "timestamp": 30_000}]
    findings = sth_gaps(times, sths, max_delay_ms=5_000, now_ms=52_000)
    assert _kinds(findings) == [(STH_GAP, 2)]
    assert "waited up to 20s" in findings[0].message
    later = sth_gaps(times, sths, max_delay_ms=5_000, now_ms=60_000)
    assert _kinds(later) == [(STH_GAP, 2), (STH_GAP, 3)]
    assert "entries 3..4 are not covered by any signed tree head" in later[1].message
    assert sth_gaps(times, [*sths, {"tree_size": 5, "timestamp": 52_000}], max_delay_ms=60_000, now_ms=99_000) == []


def test_identity_answer_and_intentcast_reads_need_a_live_grant_too() -> None:
    log = Log()
    log.grant()
    log.add("identity.read", vendor_id="acme", grant_id="g1", fields=["name", "email"], family_id="f1")
    log.add("answer.read", vendor_id="acme", grant_id="g1", question_id="q1")
    log.add("intentcast.read", vendor_id="acme", grant_id="g1", categories=["electronics.tv"])
    outside = log.add("intentcast.read", vendor_id="acme", grant_id="g1", categories=["garden"])
    log.add("token.revoked", vendor_id="acme", grant_id="g1", family_id="f1", reason="revoked_by_client")
    after_token = log.add("identity.read", vendor_id="acme", grant_id="g1", fields=["name"], family_id="f1")
    log.add("grant.revoked", vendor_id="acme", grant_id="g1")
    after_grant = log.add("answer.read", vendor_id="acme", grant_id="g1", question_id="q2")
    assert _kinds(replay(log.entries)) == [(UNCOVERED, outside), (AFTER_REVOKE, after_token), (UNCOVERED, after_grant)]


# ---- IEEE 7012: reads held to the agreement the grant was made under ---------------------------------------
NO_ANALYTICS = {
    "service_delivery": True,
    "analytics": False,
    "intentcasting": False,
    "third_party_sharing": False,
    "retention_days": 30,
}
BASE = {"id": "cc-sd-base", "version": "1.0", "permits": NO_ANALYTICS}


def test_reads_within_the_agreement_are_clean() -> None:
    log = Log()
    log.grant(fields=["stage"], scope="signals:read", retention_days=30, agreement=BASE)
    log.read(fields=["stage"])
    assert replay(log.entries, {("cc-sd-base", "1.0"): NO_ANALYTICS}) == []


def test_a_read_of_fields_the_agreement_does_not_permit_is_flagged() -> None:
    log = Log()
    log.grant(fields=["stage", "score"], agreement=BASE)  # a grant wider than its agreement: flagged at creation
    at = log.read(fields=["stage", "score"])
    findings = replay(log.entries)
    assert _kinds(findings) == [(BEYOND_AGREEMENT, 0), (BEYOND_AGREEMENT, at)]
    assert "score" in findings[1].message and "cc-sd-base v1.0" in findings[1].message


def test_intentcasts_scopes_and_retention_beyond_the_agreement_are_flagged() -> None:
    log = Log()
    log.grant(fields=["stage"], scope="signals:read intents:read", retention_days=90, agreement=BASE)
    cast = log.add("intentcast.read", vendor_id="acme", grant_id="g1", categories=["electronics.tv"])
    findings = replay(log.entries)
    assert _kinds(findings) == [(BEYOND_AGREEMENT, 0), (BEYOND_AGREEMENT, cast)]
    assert "intents:read" in findings[0].message and "retention 90 days" in findings[0].message
    assert "intentcasting" in findings[1].message


def test_permits_in_the_log_must_be_the_rosters() -> None:
    log = Log()
    lax = {**BASE, "permits": {**NO_ANALYTICS, "analytics": True}}  # the log claims the agreement allowed analytics
    log.grant(fields=["stage", "score"], agreement=lax)
    log.read(fields=["score"])
    assert replay(log.entries) == []  # consistent with itself...
    findings = replay(log.entries, {("cc-sd-base", "1.0"): NO_ANALYTICS})
    assert _kinds(findings) == [(BEYOND_AGREEMENT, 0)] and "differ from the roster" in findings[0].message


def test_narrowing_to_within_the_agreement_clears_later_reads() -> None:
    log = Log()
    log.grant(fields=["stage", "score"], agreement=BASE)
    log.add("grant.narrowed", grant_id="g1", vendor_id="acme", fields=["stage"], agreement=BASE)
    log.read(fields=["stage"])
    assert _kinds(replay(log.entries)) == [(BEYOND_AGREEMENT, 0)]
