"""The differential-privacy mechanism of demand reports: a public cell domain, bounded contributions, OpenDP noise.

A report is a histogram over a *fixed, public* domain of cells (category at a taxonomy level x funnel stage, and
optionally x price band). Because the domain comes from the public taxonomy and never from the data, releasing
every cell's noisy count and then suppressing the small ones is post-processing: the release is pure
epsilon-DP with no delta.

Each person adds 1 to at most ``max_cells`` distinct cells, so adding or removing one person moves the true
histogram by at most ``max_cells`` in L1 distance. The noise is OpenDP's Laplace mechanism on an integer vector
(discrete Laplace), its scale found by OpenDP for ``d_in = max_cells`` and ``d_out = epsilon``; OpenDP also proves
the privacy map (:func:`privacy_loss`) that the tests check.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from vault_server.policy.loader import Policy
from vault_server.policy.models import STAGES
from vault_server.signals.state import PRICE_BANDS  # the bands signals carry: a report's domain must match

NO_BAND = "any"

Cell = tuple[str, str, str]  # (category, stage, price band or NO_BAND)


@dataclass(frozen=True)
class Query:
    """What a vendor asks: the taxonomy level to count at, whether to split by price band, and epsilon."""

    period: str
    level: int
    by_price_band: bool
    epsilon_micro: int

    @property
    def epsilon(self) -> float:
        return self.epsilon_micro / 1_000_000

    def canonical(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "level": self.level,
            "by_price_band": self.by_price_band,
            "epsilon": format_epsilon(self.epsilon_micro),
        }


def format_epsilon(micro: int) -> str:
    """Epsilon as a short decimal string (audit entries hold no floats)."""
    return f"{micro / 1_000_000:.6f}".rstrip("0").rstrip(".") or "0"


def band_labels(currencies: Sequence[str]) -> list[str]:
    """Every price-band label of the public domain, e.g. ``250-500 EUR`` and ``2500+ EUR``."""
    labels: list[str] = []
    for currency in currencies:
        lower = 0
        for bound in PRICE_BANDS:
            labels.append(f"{lower}-{bound} {currency}")
            lower = bound
        labels.append(f"{PRICE_BANDS[-1]}+ {currency}")
    return labels


def depth(category_id: str) -> int:
    return category_id.count(".") + 1


def category_domain(policy: Policy, level: int) -> list[str]:
    """Reportable categories at ``level``: nodes of that depth, and shallower leaves; never a sensitive one."""
    leaves = set(policy.leaves)
    out = [
        node_id
        for node_id in policy.nodes
        if (depth(node_id) == level or (depth(node_id) < level and node_id in leaves))
        and not policy.is_sensitive(node_id)
    ]
    return sorted(out)


def cell_domain(policy: Policy, query: Query, currencies: Sequence[str]) -> list[Cell]:
    """The fixed, public list of cells a report counts (its order is the histogram's order)."""
    bands = [*band_labels(currencies), NO_BAND] if query.by_price_band else [NO_BAND]
    return [(c, s, b) for c in category_domain(policy, query.level) for s in STAGES for b in bands]


def at_level(policy: Policy, category_id: str, level: int) -> str | None:
    """The category's ancestor at ``level`` (itself when it is shallower); None when unknown or sensitive."""
    if category_id not in policy.nodes or policy.is_sensitive(category_id):
        return None
    chain = policy.ancestors(category_id)  # nearest first
    for node_id in chain:
        if depth(node_id) <= level:
            return node_id
    return None


def person_cells(
    policy: Policy, query: Query, signals: Iterable[Mapping[str, Any]], currencies: Sequence[str], max_cells: int
) -> list[Cell]:
    """The cells one person adds 1 to: distinct, at most ``max_cells``, their strongest signals first.

    Signals in sensitive or unknown categories, at an unknown stage, or with a price band outside the public
    domain (another currency) count under ``any`` band or not at all; nothing outside the domain is ever produced.
    """
    known_bands = set(band_labels(currencies))
    ranked = sorted(signals, key=lambda s: (-float(s.get("score") or 0.0), str(s.get("category"))))
    cells: list[Cell] = []
    for signal in ranked:
        category = at_level(policy, str(signal.get("category", "")), query.level)
        stage = str(signal.get("stage", ""))
        if category is None or stage not in STAGES:
            continue
        band = NO_BAND
        if query.by_price_band:
            given = signal.get("price_band")
            band = given if isinstance(given, str) and given in known_bands else NO_BAND
        cell = (category, stage, band)
        if cell not in cells:
            cells.append(cell)
        if len(cells) >= max_cells:
            break
    return cells


def true_counts(domain: Sequence[Cell], people: Iterable[Sequence[Cell]]) -> list[int]:
    """The exact histogram over ``domain`` (never released)."""
    index = {cell: i for i, cell in enumerate(domain)}
    counts = [0] * len(domain)
    for cells in people:
        for cell in cells:
            i = index.get(cell)
            if i is not None:
                counts[i] += 1
    return counts


def _laplace(scale: float) -> Any:
    """OpenDP's Laplace measurement on integer vectors under L1 distance (discrete Laplace noise).

    Imported here, not at module import: ``opendp.prelude`` would also load its scikit-learn extras, seconds of
    start-up for every server and worker process that never builds a report."""
    from opendp.domains import atom_domain, vector_domain
    from opendp.measurements import make_laplace
    from opendp.metrics import l1_distance
    from opendp.mod import enable_features

    enable_features("contrib")
    return make_laplace(vector_domain(atom_domain(T=int)), l1_distance(T=int), scale=scale)


@lru_cache(maxsize=256)
def noise_scale(epsilon_micro: int, max_cells: int) -> float:
    """The smallest Laplace scale OpenDP proves epsilon-DP for when one person changes ``max_cells`` counts."""
    from opendp.mod import binary_search_param

    epsilon = epsilon_micro / 1_000_000
    return float(binary_search_param(_laplace, d_in=max_cells, d_out=epsilon))


def privacy_loss(scale: float, max_cells: int) -> float:
    """OpenDP's privacy map: the epsilon spent by one release at ``scale`` with contribution bound ``max_cells``."""
    return float(_laplace(scale).map(max_cells))


def release(counts: Sequence[int], scale: float) -> list[int]:
    """Discrete Laplace noise on every count (OpenDP samples it with a cryptographic RNG)."""
    if not counts:
        return []
    noisy: list[int] = _laplace(scale)(list(counts))
    return noisy


def error_bound(scale: float, confidence: float = 0.95) -> int:
    """Half-width that a cell's noise stays within with probability ``confidence`` (Laplace tail bound)."""
    return math.ceil(scale * math.log(1 / (1 - confidence)))


#: at most this many pure-noise cells (true count 0) are expected to pass the threshold per report
FALSE_CELLS_PER_REPORT = 0.05


def release_threshold(configured: int, scale: float, cells: int) -> int:
    """The threshold a report applies: the configured floor, raised until a cell nobody is in is expected to pass
    in fewer than 1 report in 20, whatever the domain's size (Laplace tail: P(noise >= t) <= exp(-t / scale) / 2).

    Post-processing of the noisy counts with public inputs only (scale, domain size), so it costs no privacy."""
    if cells <= 0 or scale <= 0:
        return configured
    return max(configured, math.ceil(scale * math.log(cells / (2 * FALSE_CELLS_PER_REPORT))))


def suppress(domain: Sequence[Cell], noisy: Sequence[int], threshold: int) -> tuple[list[tuple[Cell, int]], int]:
    """Cells whose noisy count reaches ``threshold`` (post-processing); returns them and how many were dropped."""
    kept = [(cell, n) for cell, n in zip(domain, noisy, strict=True) if n >= threshold]
    return kept, len(domain) - len(kept)
