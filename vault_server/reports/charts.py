"""Chart data for a report: one horizontal bar per category, split by funnel stage (rendered as inline SVG)."""

from __future__ import annotations

from typing import Any

from vault_server.policy.models import STAGES

BAR_WIDTH = 480  # px of the longest bar
MAX_ROWS = 15


def stage_bars(report: dict[str, Any]) -> dict[str, Any]:
    """Rows ``{label, total, segments: [{stage, count, x, width}]}`` for the largest categories, scaled to
    :data:`BAR_WIDTH`; counts summed over price bands."""
    by_category: dict[str, dict[str, int]] = {}
    names: dict[str, str] = {}
    for cell in report["cells"]:
        stages = by_category.setdefault(cell["category"], {})
        stages[cell["stage"]] = stages.get(cell["stage"], 0) + int(cell["count"])
        names[cell["category"]] = cell.get("category_name") or cell["category"]
    totals = sorted(((sum(v.values()), k) for k, v in by_category.items()), key=lambda t: (-t[0], t[1]))
    top = totals[:MAX_ROWS]
    longest = max((t for t, _ in top), default=0) or 1
    rows = []
    for total, category in top:
        x = 0.0
        segments = []
        for stage in STAGES:
            count = by_category[category].get(stage, 0)
            if count:
                width = BAR_WIDTH * count / longest
                segments.append({"stage": stage, "count": count, "x": round(x, 1), "width": round(width, 1)})
                x += width
        rows.append({"label": names[category], "total": total, "segments": segments})
    return {"rows": rows, "width": BAR_WIDTH, "stages": list(STAGES), "hidden": max(0, len(totals) - MAX_ROWS)}
