"""Geometry of the server-rendered SVG line charts (``charts.html`` draws them): no script, nothing downloaded.

Rooms hand in their series (name -> [(day, value)]); this module places them on a fixed viewBox and picks the
axis ticks and a one-sentence text alternative, so templates only draw.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

SERIES_CLASSES = 6  # .series-0 … .series-5 in vault.css
WIDTH, HEIGHT = 600, 220
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 10, 28


def day_label(day: date) -> str:
    """A short day for an axis: "3 Nov"."""
    return f"{day.day} {day.strftime('%b')}"


def _nice_max(value: float) -> float:
    """The axis top: a round number divisible by 4, so the five ticks are whole numbers too."""
    for step in (4, 8, 20, 40, 100, 200, 400, 1000, 2000, 4000, 10000, 20000, 40000, 100000):
        if value <= step:
            return float(step)
    return float(-(-int(value) // 4) * 4)


def line_chart(
    series: Mapping[str, Sequence[tuple[date, float]]],
    *,
    start: date,
    end: date,
    percent: bool = False,
    unit: str = "",
) -> dict[str, Any]:
    """Positions for one line per series over the days ``start``..``end`` (values 0..1 when ``percent``)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    span = max((end - start).days, 1)
    top_value = 1.0 if percent else _nice_max(max((v for pts in series.values() for _, v in pts), default=1.0))

    def x(day: date) -> float:
        return round(LEFT + (day - start).days / span * plot_w, 1)

    def y(value: float) -> float:
        return round(TOP + plot_h - min(max(value, 0.0), top_value) / top_value * plot_h, 1)

    def fmt(value: float) -> str:
        return f"{value * 100:.0f}%" if percent else f"{value:,.0f}{unit}"

    out_series: list[dict[str, Any]] = []
    sentences = []
    for i, (name, points) in enumerate(series.items()):
        pts = sorted(points)
        if not pts:
            continue
        coords = [(x(d), y(v)) for d, v in pts]
        out_series.append(
            {
                "name": name,
                "cls": f"series-{i % SERIES_CLASSES}",
                "points": " ".join(f"{cx},{cy}" for cx, cy in coords),
                "dots": coords if len(coords) <= 15 else [c for c, (_, v) in zip(coords, pts, strict=True) if v][-15:],
                "last": fmt(pts[-1][1]),
            }
        )
        first_day, first_value = pts[0]
        last_day, last_value = pts[-1]
        latest = f"{fmt(last_value)} on {day_label(last_day)}"
        sentences.append(
            f"{name}: {latest}"
            if len(pts) == 1
            else f"{name}: from {fmt(first_value)} on {day_label(first_day)} to {latest}"
        )
    ticks = 4
    x_ticks: list[dict[str, Any]] = []
    for k in range(ticks + 1):
        day = date.fromordinal(start.toordinal() + round(span * k / ticks))
        if not x_ticks or x_ticks[-1]["label"] != day_label(day):
            x_ticks.append({"x": x(day), "label": day_label(day), "iso": day.isoformat()})
    y_ticks = [{"y": y(top_value * k / 4), "label": fmt(top_value * k / 4)} for k in range(5)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "bottom": HEIGHT - BOTTOM,
        "series": out_series,
        "x_ticks": x_ticks,
        "y_ticks": y_ticks,
        "summary": "; ".join(sentences) + "." if sentences else "No data yet.",
    }
