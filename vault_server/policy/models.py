"""Pydantic schemas for the policy files in ``policies/`` (one model per file).

The schemas check shapes and ranges; cross-file rules (a gesture's stage exists, a sensitive id is in
the taxonomy, ...) are checked by :mod:`vault_server.policy.loader`, which also maps every problem
back to ``file:line``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

#: The funnel, lowest stage first. Stage ids in every policy file must be one of these.
STAGES: tuple[str, ...] = ("awareness", "interest", "motivation", "action", "relationship")

#: Gesture types the engine gives a meaning to; gestures.yaml must define every one of them.
REQUIRED_GESTURES: tuple[str, ...] = (
    "search", "page_view", "product_view", "compare", "review_read", "price_check", "wishlist_add",
    "cart_add", "cart_remove", "cart_abandon", "checkout_start", "purchase", "return", "review_write",
    "share", "referral", "return_visit", "declared_intent",
)  # fmt: skip

#: Fields a vendor may ask for in an ``intent_signals`` authorization detail (RFC 9396).
SIGNAL_FIELDS: tuple[str, ...] = ("stage", "score", "price_band", "brand", "declared_intent", "last_seen")

CategoryId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$", max_length=128)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Term = Annotated[str, StringConstraints(min_length=1, max_length=80)]
LangCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}$")]
Version = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Text = Annotated[str, StringConstraints(max_length=500)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- taxonomy.yaml -------------------------------------------------------------------------------


class CategoryNode(_Strict):
    """One node of the category tree; signals are kept per leaf."""

    id: CategoryId
    parent: CategoryId | None = None
    name: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    description: Text = ""
    keywords: list[Term] = Field(default_factory=list)
    synonyms: dict[LangCode, list[Term]] = Field(default_factory=dict)
    google_product_category: Annotated[str, StringConstraints(max_length=300)] | None = None
    schema_org: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]+$", max_length=80)] | None = None


class TaxonomyFile(_Strict):
    version: Version
    categories: Annotated[list[CategoryNode], Field(min_length=1)]


# --- gestures.yaml -------------------------------------------------------------------------------


class Repetition(_Strict):
    """Diminishing returns: evidence = weight * saturation * (1 - exp(-count / saturation))."""

    saturation: Annotated[float, Field(gt=0, le=100)] = 5.0


class DwellBonus(_Strict):
    """Multiplier bonus for time on page: ``max_bonus * min(dwell_ms / reference_ms, 1)``."""

    reference_ms: Annotated[int, Field(gt=0, le=3_600_000)]
    max_bonus: Annotated[float, Field(ge=0, le=5)]


class ScrollBonus(_Strict):
    """Multiplier bonus for scroll depth: ``max_bonus * scroll`` (scroll in 0..1)."""

    max_bonus: Annotated[float, Field(ge=0, le=5)]


class ValueBonus(_Strict):
    """Multiplier bonus for the money at stake (the event's ``value``, else its product's price):
    ``max_bonus * (1 - exp(-value / reference))``, in the shop's own currency."""

    reference: Annotated[float, Field(gt=0, le=1e6)]
    max_bonus: Annotated[float, Field(ge=0, le=5)]


class VisitDamping(_Strict):
    """After this gesture, the positive gestures of the same category on the same origin count ``factor``
    times (and their time on page too) for ``hours``: the visit it starts weighs less. ``factors`` gives
    some gesture types their own factor (e.g. a cart in that visit)."""

    factor: Annotated[float, Field(gt=0, le=1)]
    hours: Annotated[float, Field(gt=0, le=48)]
    factors: dict[Slug, Annotated[float, Field(gt=0, le=1)]] = Field(default_factory=dict)


class GestureRule(_Strict):
    type: Slug
    weight: Annotated[float, Field(ge=-5, le=5)]
    stage: str
    description: Text = ""
    repetition: Repetition = Repetition()
    dwell: DwellBonus | None = None
    scroll: ScrollBonus | None = None
    value: ValueBonus | None = None
    visit: VisitDamping | None = None


class Pattern(_Strict):
    """An aggregate pattern feature: contributes ``weight * (1 - exp(-x / saturation))``."""

    weight: Annotated[float, Field(ge=0, le=5)]
    saturation: Annotated[float, Field(gt=0, le=1000)]
    description: Text = ""


class Patterns(_Strict):
    visit_days: Pattern
    origins: Pattern
    dwell_minutes: Pattern


#: The aggregate patterns of gestures.yaml, by name.
PatternName = Literal["visit_days", "origins", "dwell_minutes"]


class Overlap(_Strict):
    """Two readings of the same intent: the evidence of the ``action`` gestures (a cart, a checkout) and
    that of the ``browsing`` gestures and ``patterns`` that led to them. The stronger of the two counts in
    full, the weaker ``share`` times: ``max(a, b) + share * min(a, b)`` instead of ``a + b``. With
    ``share`` 1 nothing changes; below 1 a cart stands for the browsing before it (and browsing for a
    small cart), and neither ever lowers the score."""

    action: Annotated[list[Slug], Field(min_length=1)]
    browsing: Annotated[list[Slug], Field(min_length=1)]
    patterns: list[PatternName] = Field(default_factory=list)
    share: Annotated[float, Field(ge=0, le=1)]
    description: Text = ""


class GesturesFile(_Strict):
    version: Version
    score_scale: Annotated[float, Field(gt=0, le=100)]
    gestures: Annotated[list[GestureRule], Field(min_length=1)]
    patterns: Patterns
    overlap: Overlap | None = None


# --- stages.yaml ---------------------------------------------------------------------------------


class Condition(_Strict):
    """All given fields must hold; counts are decayed to the evaluation time."""

    gestures: list[Slug] = Field(default_factory=list)
    min_count: Annotated[float, Field(ge=0, le=1000)] = 1.0
    min_visit_days: Annotated[float, Field(ge=0, le=1000)] | None = None
    declared_intent: Literal["any", "with_timeframe"] | None = None
    min_after_purchase: Annotated[float, Field(ge=0, le=1000)] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Condition:
        if not self.gestures and self.min_visit_days is None and self.declared_intent is None:
            raise ValueError("a condition needs gestures, min_visit_days or declared_intent")
        return self


class StageRule(_Strict):
    id: str
    min_score: Annotated[float, Field(ge=0, le=1)]
    description: Text = ""
    requires_any: list[Condition] = Field(default_factory=list)


class StagesFile(_Strict):
    version: Version
    half_life_days: Annotated[float, Field(gt=0, le=3650)]
    declared_intent_grace_days: Annotated[float, Field(ge=0, le=365)] = 7.0
    stages: Annotated[list[StageRule], Field(min_length=1)]


# --- sensitive.yaml ------------------------------------------------------------------------------


class SensitiveEntry(_Strict):
    id: CategoryId
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    legal_basis: Annotated[str, StringConstraints(max_length=200)] = ""


class SensitiveFile(_Strict):
    version: Version
    default: Literal["never_record"] = "never_record"
    categories: list[SensitiveEntry]


# --- retention.yaml ------------------------------------------------------------------------------


class RetentionFile(_Strict):
    version: Version
    default_days: Annotated[int, Field(ge=1, le=3650)]
    max_days: Annotated[int, Field(ge=1, le=3650)] = 3650
    gestures: dict[Slug, Annotated[int, Field(ge=1, le=3650)]] = Field(default_factory=dict)


# --- scopes.yaml ---------------------------------------------------------------------------------


class ScopeDef(_Strict):
    id: Annotated[str, StringConstraints(pattern=r"^[a-z]+(:[a-z_]+)*$", max_length=64)]
    description: Annotated[str, StringConstraints(min_length=1, max_length=300)]
    identity: bool = False
    first_party: bool = False


class AuthorizationDetailType(_Strict):
    """An RFC 9396 ``authorization_details`` type and what a request of that type may contain."""

    type: Slug
    description: Text = ""
    fields: Annotated[list[str], Field(min_length=1)]
    min_stage: Annotated[list[str], Field(min_length=1)]
    max_retention_days: Annotated[int, Field(ge=1, le=3650)]
    frequencies: Annotated[list[Literal["realtime", "hourly", "daily", "weekly"]], Field(min_length=1)]


class ScopesFile(_Strict):
    version: Version
    scopes: Annotated[list[ScopeDef], Field(min_length=1)]
    authorization_details: list[AuthorizationDetailType] = Field(default_factory=list)


# --- agreements.yaml (optional) -----------------------------------------------------------------


#: scopes and fields each permit unlocks (everything else needs only service delivery)
INTENTCASTING_SCOPES = frozenset({"intents:read", "offers:write"})
INTENTCASTING_FIELDS = frozenset({"declared_intent"})
ANALYTICS_FIELDS = frozenset({"score", "last_seen"})


class AgreementPermits(_Strict):
    """What an agreement lets the second party (the vendor) do with what the person shares."""

    service_delivery: bool
    analytics: bool
    intentcasting: bool
    third_party_sharing: bool
    retention_days: Annotated[int, Field(ge=0, le=3650)]

    def banned_fields(self) -> frozenset[str]:
        """RFC 9396 fields this agreement does not permit (intentcasting and analytics unlock their own)."""
        banned: frozenset[str] = frozenset()
        if not self.intentcasting:
            banned |= INTENTCASTING_FIELDS
        if not self.analytics:
            banned |= ANALYTICS_FIELDS
        return banned

    def banned_scopes(self) -> frozenset[str]:
        """OAuth scopes this agreement does not permit."""
        return frozenset() if self.intentcasting else INTENTCASTING_SCOPES


class Agreement(_Strict):
    """One agreement of the IEEE 7012 roster the person may proffer."""

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,62}$")]
    version: Version
    title: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    text: Annotated[str, StringConstraints(min_length=1, max_length=2000)]
    url: Annotated[str, StringConstraints(pattern=r"^https://\S+$", max_length=500)]
    permits: AgreementPermits


class AgreementsFile(_Strict):
    version: Version
    default: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    agreements: Annotated[list[Agreement], Field(min_length=1)]


#: Policy files a deployment may leave out (the feature they configure is then off).
OPTIONAL_POLICY_FILES: dict[str, type[BaseModel]] = {"agreements.yaml": AgreementsFile}


#: File name -> schema, in the order files are loaded and reported.
POLICY_FILES: dict[str, type[BaseModel]] = {
    "taxonomy.yaml": TaxonomyFile,
    "gestures.yaml": GesturesFile,
    "stages.yaml": StagesFile,
    "sensitive.yaml": SensitiveFile,
    "retention.yaml": RetentionFile,
    "scopes.yaml": ScopesFile,
}
