"""Classify a gesture into a leaf category of the taxonomy.

Evidence, strongest first: an explicit leaf ``category``; ``product.category_hint`` matched as a
Google product category path (``Electronics > Video > Televisions``) and as breadcrumb text; the
product name; the search query; the URL path. Text is matched against each node's keywords, name
and multilingual synonyms (accents folded, crude plural stripping, n-grams up to the longest term; an unknown long word
counts by its longest known ending, for German and Dutch compounds).
Terms of an inner node only add context to the leaves below it; a leaf must match directly to win.
Deterministic: ties are broken by category id. The index is built once per policy and cached.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from vault_server.policy.loader import Policy
from vault_server.signals.schema import GestureEvent, parse_ts

# Source weights: how much a matching term in each field counts.
HINT_PATH_WEIGHT = 8.0
HINT_TEXT_WEIGHT = 3.0
NAME_WEIGHT = 2.0
QUERY_WEIGHT = 2.0
PATH_WEIGHT = 1.0
CONTEXT_SHARE = 0.25  # an inner node's term adds this share to every leaf below it
COMPOUND_MIN_WORD = 7  # unknown words this long are tried as compounds ...
COMPOUND_MIN_HEAD = 4  # ... whose known ending has at least this many letters
COMPOUND_SHARE = 0.8  # and counts a little less than the word itself
_CACHE_KEY = "signals.classify.index"
MEMO_SIZE = 100_000  # classification results remembered per index (cleared when full)
_SPLIT = re.compile(r"[^0-9a-z]+")


def _fold(text: str) -> str:
    if text.isascii():
        return text.lower()
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return text.replace("ß", "ss").replace("ø", "o").replace("ł", "l").replace("æ", "ae").replace("œ", "oe")


def _stem(token: str) -> str:
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        token = token[:-1]
    if len(token) > 5 and token.endswith("en"):
        token = token[:-1]
    return token


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[str, ...]:
    return tuple(_stem(t) for t in _SPLIT.split(_fold(text)) if t)


def tokens(text: str) -> list[str]:
    """Folded, stemmed word tokens of ``text``."""
    return list(_tokens(text))


def _gpc_key(path: str) -> str:
    return " > ".join(" ".join(tokens(part)) for part in path.split(">") if part.strip())


@dataclass
class TaxonomyIndex:
    """Term n-grams -> (leaf, weight, direct) postings, plus Google-product-category paths."""

    terms: Mapping[tuple[str, ...], tuple[tuple[str, float, bool], ...]]
    gpc: Mapping[str, tuple[str, ...]]  # normalised GPC path -> leaves it names (or below it)
    max_n: int
    leaves: frozenset[str]
    subtree: Mapping[str, frozenset[str]]  # node id -> leaves at or below it
    policy_hash: str
    memo: dict[tuple[str | None, ...], str | None] = field(default_factory=dict, repr=False)

    @classmethod
    def build(cls, policy: Policy) -> TaxonomyIndex:
        children: dict[str, list[str]] = defaultdict(list)
        for node in policy.taxonomy.categories:
            if node.parent is not None:
                children[node.parent].append(node.id)

        def below(node_id: str) -> frozenset[str]:
            out: set[str] = set()
            stack = [node_id]
            while stack:
                cur = stack.pop()
                kids = children.get(cur, [])
                if not kids:
                    out.add(cur)
                stack.extend(kids)
            return frozenset(out)

        subtree = {n.id: below(n.id) for n in policy.taxonomy.categories}
        raw: dict[tuple[str, ...], dict[str, tuple[float, bool]]] = defaultdict(dict)
        gpc: dict[str, set[str]] = defaultdict(set)
        for node in policy.taxonomy.categories:
            leaf = policy.is_leaf(node.id)
            terms = [node.name, *node.keywords]
            for words in node.synonyms.values():
                terms.extend(words)
            for term in terms:
                key = tuple(tokens(term))
                if not key:
                    continue
                for target in subtree[node.id]:
                    weight = float(len(key)) * (1.0 if leaf else CONTEXT_SHARE)
                    old = raw[key].get(target)
                    if old is None or (weight, leaf) > old:
                        raw[key][target] = (weight, leaf)
            if node.google_product_category:
                gpc[_gpc_key(node.google_product_category)].update(subtree[node.id] if not leaf else {node.id})
        terms_index: dict[tuple[str, ...], tuple[tuple[str, float, bool], ...]] = {}
        for key, targets in raw.items():
            direct = sum(1 for _, is_direct in targets.values() if is_direct) or 1
            # A term shared by several leaves says less about each of them.
            terms_index[key] = tuple(
                (leaf_id, weight / direct, is_direct) for leaf_id, (weight, is_direct) in sorted(targets.items())
            )
        return cls(
            terms=terms_index,
            gpc={k: tuple(sorted(v)) for k, v in gpc.items()},
            max_n=max((len(k) for k in terms_index), default=1),
            leaves=frozenset(policy.leaves),
            subtree=subtree,
            policy_hash=policy.hash,
        )


def index_for(policy: Policy) -> TaxonomyIndex:
    """The classifier index of ``policy`` (built on first use, then cached on the policy)."""
    index = policy.cache.get(_CACHE_KEY)
    if not isinstance(index, TaxonomyIndex):
        index = TaxonomyIndex.build(policy)
        policy.cache[_CACHE_KEY] = index
    return index


def _field(event: GestureEvent | Mapping[str, Any], name: str) -> Any:
    if isinstance(event, GestureEvent):
        return getattr(event, name)
    return event.get(name)


def _product_field(event: GestureEvent | Mapping[str, Any], name: str) -> str | None:
    product = _field(event, "product")
    if product is None:
        return None
    value = getattr(product, name, None) if not isinstance(product, Mapping) else product.get(name)
    return value if isinstance(value, str) and value else None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _compound_head(index: TaxonomyIndex, token: str) -> tuple[str, ...] | None:
    """For a long unknown word, its longest known one-word ending of 4+ letters: German and Dutch
    compounds name the thing last (``ecksofa`` -> ``sofa``, ``kinderfahrrad`` -> ``fahrrad``)."""
    for start in range(1, len(token) - COMPOUND_MIN_HEAD + 1):
        key = (token[start:],)
        if key in index.terms:
            return key
    return None


def _add_text(scores: dict[str, list[float]], index: TaxonomyIndex, text: str, weight: float) -> None:
    toks = _tokens(text)
    for n in range(1, min(index.max_n, len(toks)) + 1):
        for i in range(len(toks) - n + 1):
            key = tuple(toks[i : i + n])
            postings = index.terms.get(key)
            share = weight
            if postings is None and n == 1 and len(key[0]) >= COMPOUND_MIN_WORD and not key[0].isdigit():
                head = _compound_head(index, key[0])
                postings = index.terms.get(head) if head is not None else None
                share = weight * COMPOUND_SHARE
            if postings is None:
                continue
            for leaf, w, direct in postings:
                entry = scores.setdefault(leaf, [0.0, 0.0])
                entry[0 if direct else 1] += w * share


def _add_gpc(scores: dict[str, list[float]], index: TaxonomyIndex, hint: str) -> None:
    parts = [p for p in (" ".join(tokens(x)) for x in hint.split(">")) if p]
    # The longest known prefix of the hint path names the most specific node.
    for end in range(len(parts), 0, -1):
        leaves = index.gpc.get(" > ".join(parts[:end]))
        if leaves:
            share = HINT_PATH_WEIGHT / len(leaves)
            for leaf in leaves:
                entry = scores.setdefault(leaf, [0.0, 0.0])
                if len(leaves) == 1:
                    entry[0] += share
                else:
                    entry[1] += share
            return


def classify(event: GestureEvent | Mapping[str, Any], taxonomy: Policy | TaxonomyIndex) -> str | None:
    """The leaf category id of ``event``, or None when nothing in it matches a leaf."""
    index = taxonomy if isinstance(taxonomy, TaxonomyIndex) else index_for(taxonomy)
    explicit = _str(_field(event, "category"))
    query = _str(_field(event, "query"))
    path = _str(_field(event, "path"))
    key = (explicit, _product_field(event, "category_hint"), _product_field(event, "name"), query, path)
    if key in index.memo:
        return index.memo[key]
    if len(index.memo) >= MEMO_SIZE:
        index.memo.clear()
    result = _classify(index, *key)
    index.memo[key] = result
    return result


def _classify(
    index: TaxonomyIndex,
    explicit: str | None,
    hint: str | None,
    name: str | None,
    query: str | None,
    path: str | None,
) -> str | None:
    restrict: frozenset[str] | None = None
    if isinstance(explicit, str) and explicit:
        if explicit in index.leaves:
            return explicit
        restrict = index.subtree.get(explicit)  # an inner node narrows the search; unknown ids are ignored
    scores: dict[str, list[float]] = {}
    if hint:
        if ">" in hint or "/" in hint:
            _add_gpc(scores, index, hint.replace("/", ">"))
        _add_text(scores, index, hint, HINT_TEXT_WEIGHT)
    if name:
        _add_text(scores, index, name, NAME_WEIGHT)
    if isinstance(query, str) and query:
        _add_text(scores, index, query, QUERY_WEIGHT)
    if isinstance(path, str) and path not in ("", "/"):
        _add_text(scores, index, re.sub(r"\{[^}]*\}", " ", path), PATH_WEIGHT)
    best: tuple[float, str] | None = None
    for leaf, (direct, context) in scores.items():
        if direct <= 0 or (restrict is not None and leaf not in restrict):
            continue
        key = (-(direct + context), leaf)
        if best is None or key < best:
            best = key
    return best[1] if best is not None else None


# --- context: gestures that name no product inherit the category of their shop visit -------------

SESSION_GAP_S = 30 * 60  # gestures on one origin less than this apart belong to one visit
CONTEXT_MAX_AGE_S = 30 * 86400  # how long a shop's last category is remembered across visits


def inherits_context(event: GestureEvent | Mapping[str, Any]) -> bool:
    """Whether ``event`` says nothing of its own about what is wanted (no explicit category, product or
    query): a return visit, an account or information page. Only such gestures take their category from
    the visit they belong to; a gesture that names something and does not classify stays unclassified."""
    if _str(_field(event, "category")) or _field(event, "product") is not None or _str(_field(event, "query")):
        return False
    return bool(_field(event, "type") != "declared_intent")


def _epoch(event: GestureEvent | Mapping[str, Any]) -> float | None:
    if isinstance(event, GestureEvent):
        return event.epoch
    ts = event.get("ts")
    if isinstance(ts, str):
        try:
            return parse_ts(ts).timestamp()
        except ValueError:
            return None
    return None


def _origin(event: GestureEvent | Mapping[str, Any]) -> str | None:
    origin = _str(_field(event, "origin"))
    return origin.lower() if origin else None


@dataclass
class VisitContext:
    """Classified gestures per origin, so that a gesture naming no product can take the category of the
    shop visit it belongs to.

    A visit is a run of gestures on one origin, each less than ``SESSION_GAP_S`` after the previous one.
    A context-free gesture (:func:`inherits_context`) gets the category most gestures of its visit were
    classified into (ties: the one nearest in time, then the category id). Without a classified gesture in
    its visit it falls back to ``known``: per origin, the category last seen there and when (e.g. from the
    consumer's stored states, :func:`origin_context`), if that was less than ``CONTEXT_MAX_AGE_S`` before.
    A return visit to a shop where the person looked at televisions counts for the television intent.
    """

    known: Mapping[str, tuple[float, str]] = field(default_factory=dict)
    _seen: dict[str, list[tuple[float, str]]] = field(default_factory=dict, repr=False)
    _dirty: set[str] = field(default_factory=set, repr=False)

    def note(self, origin: str, ts: float, category: str) -> None:
        """Record a classified gesture."""
        self._seen.setdefault(origin.lower(), []).append((ts, category))
        self._dirty.add(origin.lower())

    def category_for(self, origin: str, ts: float) -> str | None:
        """The category a context-free gesture on ``origin`` at ``ts`` inherits, or None."""
        origin = origin.lower()
        seen = self._seen.get(origin)
        if seen:
            if origin in self._dirty:
                seen.sort()
                self._dirty.discard(origin)
            found = _visit_category(seen, ts)
            if found is not None:
                return found
        last = self.known.get(origin)
        if last is not None and -SESSION_GAP_S <= ts - last[0] <= CONTEXT_MAX_AGE_S:
            return last[1]
        return None


def _visit_category(seen: list[tuple[float, str]], ts: float) -> str | None:
    """Majority category of the visit around ``ts`` in the time-sorted ``seen`` (None if ``ts`` is in no visit)."""
    i = bisect_left(seen, (ts, ""))  # seen[i - 1] is before ts, seen[i] at or after it
    left = i > 0 and ts - seen[i - 1][0] < SESSION_GAP_S
    right = i < len(seen) and seen[i][0] - ts < SESSION_GAP_S
    if not (left or right):
        return None
    lo = i - 1 if left else i  # the visit is seen[lo:hi]
    hi = i + 1 if right else i
    while lo > 0 and seen[lo][0] - seen[lo - 1][0] < SESSION_GAP_S:
        lo -= 1
    while hi < len(seen) and seen[hi][0] - seen[hi - 1][0] < SESSION_GAP_S:
        hi += 1
    counts: dict[str, int] = {}
    nearest: dict[str, float] = {}
    for t, category in seen[lo:hi]:
        counts[category] = counts.get(category, 0) + 1
        nearest[category] = min(nearest.get(category, float("inf")), abs(t - ts))
    return min(counts, key=lambda c: (-counts[c], nearest[c], c))


def origin_context(states: Iterable[Any]) -> dict[str, tuple[float, str]]:
    """Per origin, (last seen, category) over signal states (anything with ``category`` and ``origins``,
    origin -> last seen epoch): the shop's most recent category, for :class:`VisitContext`'s ``known``."""
    out: dict[str, tuple[float, str]] = {}
    for state in states:
        for origin, seen in state.origins.items():
            current = out.get(origin)
            if current is None or (float(seen), state.category) > current:
                out[origin] = (float(seen), state.category)
    return out


def with_context(
    events: Sequence[GestureEvent | Mapping[str, Any]],
    taxonomy: Policy | TaxonomyIndex,
    *,
    known: Mapping[str, tuple[float, str]] | None = None,
    direct: Sequence[str | None] | None = None,
) -> list[str | None]:
    """The category of each event, in order: :func:`classify`, and for a gesture naming no product
    (:func:`inherits_context`) that does not classify, the category of its shop visit within ``events``
    or, failing that, ``known`` (see :class:`VisitContext`). ``direct`` passes categories already computed
    by :func:`classify` (same length as ``events``) so the ingest path does not classify twice."""
    index = taxonomy if isinstance(taxonomy, TaxonomyIndex) else index_for(taxonomy)
    cats = list(direct) if direct is not None else [classify(e, index) for e in events]
    if len(cats) != len(events):
        raise ValueError("direct must have one category per event")
    if all(c is not None for c in cats):
        return cats
    context = VisitContext(known=known or {})
    for event, category in zip(events, cats, strict=True):
        origin, ts = _origin(event), _epoch(event)
        if category is not None and origin is not None and ts is not None:
            context.note(origin, ts, category)
    out: list[str | None] = []
    for event, category in zip(events, cats, strict=True):
        if category is None and inherits_context(event):
            origin, ts = _origin(event), _epoch(event)
            if origin is not None and ts is not None:
                category = context.category_for(origin, ts)
        out.append(category)
    return out
