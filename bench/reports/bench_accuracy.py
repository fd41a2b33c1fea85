"""Accuracy of differentially private demand reports against the true counts, at 1k, 10k and 100k participants.

Synthetic participants get signals drawn from a skewed (Zipf-like) popularity over the bundled taxonomy's leaves
and a funnel-shaped stage mix; each contributes at most ``max_cells`` cells, exactly as the vault counts them
(``vault_server.reports.mechanism``: the same domain, bounding, OpenDP noise and threshold). Reported:

- relative error: median over released cells of |noisy - true| / true;
- mass released: the share of all true counts that sits in released (not suppressed) cells;
- empty cells: released cells nobody is in (pure noise; the applied threshold keeps them rare).

    .venv/bin/python bench/reports/bench_accuracy.py [--sizes 1000,10000,100000] [--runs 3] [--plot FILE]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from pathlib import Path
from typing import Any

from vault_server.policy.loader import default_policy_dir, load_policy
from vault_server.policy.models import STAGES
from vault_server.reports import mechanism as m

STAGE_MIX = (0.45, 0.3, 0.15, 0.08, 0.02)  # awareness .. relationship: most people browse, few buy


def population(policy: Any, size: int, rng: random.Random) -> list[list[dict[str, Any]]]:
    leaves = [c for c in policy.leaves if not policy.is_sensitive(c)]
    rng.shuffle(leaves)
    weights = [1 / (rank + 1) ** 1.1 for rank in range(len(leaves))]
    people = []
    for _ in range(size):
        k = rng.choice((1, 1, 2, 3, 4, 6))
        cats = rng.choices(leaves, weights=weights, k=k)
        people.append(
            [{"category": c, "stage": rng.choices(STAGES, weights=STAGE_MIX)[0], "score": rng.random()} for c in cats]
        )
    return people


def run(
    policy: Any, size: int, level: int, epsilon: float, max_cells: int, threshold: int, seed: int
) -> dict[str, Any]:
    rng = random.Random(seed)
    query = m.Query(period="2026-12", level=level, by_price_band=False, epsilon_micro=round(epsilon * 1e6))
    domain = m.cell_domain(policy, query, [])
    people = population(policy, size, rng)
    started = time.perf_counter()
    cells = [m.person_cells(policy, query, p, [], max_cells) for p in people]
    truth = m.true_counts(domain, cells)
    scale = m.noise_scale(query.epsilon_micro, max_cells)
    noisy = m.release(truth, scale)
    elapsed = time.perf_counter() - started
    applied = m.release_threshold(threshold, scale, len(domain))
    released = [(t, n) for t, n in zip(truth, noisy, strict=True) if n >= applied]
    rel = [abs(n - t) / t for t, n in released if t > 0]
    return {
        "size": size,
        "level": level,
        "cells": len(domain),
        "released": len(released),
        "rel_error_median": statistics.median(rel) if rel else float("nan"),
        "mass_released": sum(t for t, _ in released) / max(1, sum(truth)),
        "false_cells": sum(1 for t, _ in released if t == 0),
        "threshold": applied,
        "scale": scale,
        "seconds": elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--levels", default="1,2")
    parser.add_argument("--epsilon", type=float, default=0.5)
    parser.add_argument("--max-cells", type=int, default=3)
    parser.add_argument("--threshold", type=int, default=20)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--plot", default="")
    args = parser.parse_args()
    policy = load_policy(default_policy_dir())
    rows = []
    print(
        f"epsilon {args.epsilon} per report, at most {args.max_cells} cells per person, threshold at least "
        f"{args.threshold}, raised with the domain's size (`mechanism.release_threshold`); "
        f"{args.runs} runs per row (median, min-max). Command: `bench/reports/bench_accuracy.py`.\n"
    )
    columns = ["participants", "level", "cells", "threshold", "released (median)", "median relative error (min-max)"]
    print("| " + " | ".join([*columns, "mass released", "empty cells released (max)"]) + " |")
    print("|---:|---:|---:|---:|---:|---|---:|---:|")
    for level in map(int, args.levels.split(",")):
        for size in map(int, args.sizes.split(",")):
            runs = [
                run(policy, size, level, args.epsilon, args.max_cells, args.threshold, seed)
                for seed in range(args.runs)
            ]
            errs = [r["rel_error_median"] for r in runs]
            row = {
                "size": size,
                "level": level,
                "cells": runs[0]["cells"],
                "threshold": runs[0]["threshold"],
                "released": statistics.median(r["released"] for r in runs),
                "err": statistics.median(errs),
                "err_min": min(errs),
                "err_max": max(errs),
                "mass": statistics.median(r["mass_released"] for r in runs),
                "false": max(r["false_cells"] for r in runs),
            }
            rows.append(row)
            print(
                f"| {size:,} | {level} | {row['cells']} | {row['threshold']} | {row['released']:.0f} "
                f"| {row['err']:.1%} ({row['err_min']:.1%}-{row['err_max']:.1%}) "
                f"| {row['mass']:.0%} | {row['false']} |",
                flush=True,
            )
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.6))
        for level in sorted({r["level"] for r in rows}):
            mine = [r for r in rows if r["level"] == level]
            ax.errorbar(
                [r["size"] for r in mine],
                [100 * r["err"] for r in mine],
                yerr=[
                    [100 * (r["err"] - r["err_min"]) for r in mine],
                    [100 * (r["err_max"] - r["err"]) for r in mine],
                ],
                marker="o",
                capsize=3,
                label=f"taxonomy level {level}",
            )
        ax.set_xscale("log")
        ax.set_xlabel("opted-in participants")
        ax.set_ylabel("median relative error of released counts (%)")
        ax.set_title(f"Demand reports, epsilon {args.epsilon}, {args.max_cells} cells/person")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=110)
        print(f"\n![relative error against participants](img/{Path(args.plot).name})")


if __name__ == "__main__":
    main()
