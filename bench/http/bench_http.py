"""Per-request cost of the HTTP stack: static GETs on the vault and on oidc-provider (the peer), and the vault's
throughput against its worker count. Prints markdown; writes ``bench/results/http.json`` and the plot.

Per core: each server pinned to core 1, wrk (2 threads, 16 keep-alive connections) pinned to core 0; each round
measures every endpoint of both servers back to back, and the ratio is taken inside the round.

    .venv/bin/python bench/http/bench_http.py [--rounds 5] [--seconds 5] [--workers 1,2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wrkload import ROOT, Vault, machine, node_peer, spread, wrk

VAULT_PATHS = {
    "health": "/healthz",
    "metadata": "/.well-known/oauth-authorization-server",
    "jwks": "/.well-known/jwks.json",
}
PEER_PATHS = {"metadata": "/.well-known/openid-configuration", "jwks": "/jwks"}
PEER_DIR = ROOT / "bench" / "oauth" / "peer"
PLOT = ROOT / "docs" / "img" / "http_workers.png"
RESULTS = ROOT / "bench" / "results" / "http.json"


def per_core(vault: Vault, rounds: int, seconds: int) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {f"vault {k}": [] for k in VAULT_PATHS}
    runs |= {f"peer {k}": [] for k in PEER_PATHS}
    runs |= {"p99 vault metadata": [], "p99 peer metadata": []}
    runs |= {f"cpu vault {k}": [] for k in VAULT_PATHS} | {f"cpu peer {k}": [] for k in PEER_PATHS}
    with vault.serve() as base, node_peer(PEER_DIR, ["server.mjs"], PEER_PATHS["metadata"]) as peer:
        for url in (base + VAULT_PATHS["metadata"], peer + PEER_PATHS["metadata"]):
            wrk(url, seconds=2)  # warm up (the peer's JIT, the vault's first requests)
        for _ in range(rounds):
            for name, path in VAULT_PATHS.items():
                r = wrk(base + path, seconds=seconds, server=base)
                if r.errors:
                    raise RuntimeError(f"vault {path}: {r.errors} errors")
                runs[f"vault {name}"].append(r.rps)
                runs[f"cpu vault {name}"].append(r.per_cpu_second)
                if name == "metadata":
                    runs["p99 vault metadata"].append(r.p99_ms)
            for name, path in PEER_PATHS.items():
                r = wrk(peer + path, seconds=seconds, server=peer)
                if r.errors:
                    raise RuntimeError(f"peer {path}: {r.errors} errors")
                runs[f"peer {name}"].append(r.rps)
                runs[f"cpu peer {name}"].append(r.per_cpu_second)
                if name == "metadata":
                    runs["p99 peer metadata"].append(r.p99_ms)
    return runs


def by_workers(vault: Vault, workers: list[int], rounds: int, seconds: int) -> dict[int, list[float]]:
    """Unpinned: N workers and wrk share the host's cores."""
    out: dict[int, list[float]] = {}
    for n in workers:
        with vault.serve(workers=n, core=None) as base:
            wrk(base + VAULT_PATHS["metadata"], seconds=2, core=None)
            out[n] = [wrk(base + VAULT_PATHS["metadata"], seconds=seconds, core=None).rps for _ in range(rounds)]
    return out


def plot(sweep: dict[int, list[float]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    xs = sorted(sweep)
    med = [statistics.median(sweep[n]) for n in xs]
    fig, ax = plt.subplots(figsize=(6, 3.6), dpi=110)
    ax.errorbar(
        xs,
        med,
        yerr=[
            [m - min(sweep[n]) for n, m in zip(xs, med, strict=True)],
            [max(sweep[n]) - m for n, m in zip(xs, med, strict=True)],
        ],
        marker="o",
        capsize=4,
        label="vault, AS metadata (median, min-max); unpinned, wrk on the same 2 cores",
    )
    ax.set_xlabel("uvicorn worker processes (intent-vault serve --workers N)")
    ax.set_ylabel("requests / s (wrk, 16 connections)")
    ax.set_xticks(xs)
    ax.set_ylim(bottom=0)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Static GET throughput against worker count", fontsize=10)
    fig.tight_layout()
    PLOT.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(PLOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--workers", default="1,2")
    args = parser.parse_args()
    workers = [int(x) for x in args.workers.split(",")]
    host = machine()
    vault = Vault.create()
    try:
        runs = per_core(vault, args.rounds, args.seconds)
        sweep = by_workers(vault, workers, max(2, args.rounds // 2), args.seconds)
    finally:
        vault.cleanup()
    ratios = {k: [v / p for v, p in zip(runs[f"vault {k}"], runs[f"peer {k}"], strict=True)] for k in PEER_PATHS}
    cpu_ratios = {
        k: [v / p for v, p in zip(runs[f"cpu vault {k}"], runs[f"cpu peer {k}"], strict=True)] for k in PEER_PATHS
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {"machine": host, "per_core": runs, "ratios": ratios, "cpu_ratios": cpu_ratios, "workers": sweep}, indent=1
        )
    )
    plot(sweep)
    rel = PLOT.relative_to(ROOT / "docs")
    print(
        f"{host}. {args.rounds} rounds of {args.seconds} s per endpoint; `wrk -t2 -c16`, "
        "server on core 1, wrk on core 0.\n"
    )
    print("| endpoint | vault req/s | oidc-provider req/s | vault / peer | target |")
    print("|---|---:|---:|---:|---|")
    rows: list[tuple[str, str, Any]] = [
        ("`/healthz`", "health", None),
        ("AS metadata (RFC 8414) vs OIDC discovery", "metadata", "metadata"),
        ("JWKS", "jwks", "jwks"),
    ]
    for prefix, title, ratio_of in (("cpu ", "per CPU-second of the server", cpu_ratios), ("", "on core 1", ratios)):
        print(f"| **{title}** | | | | |")
        for label, vkey, pkey in rows:
            peer_col = spread(runs[f"{prefix}peer {pkey}"]) if pkey else "-"
            ratio = spread(ratio_of[pkey], 2) if pkey else "-"
            target = "≥ 8,000 /s" if prefix else ""
            print(f"| {label} | {spread(runs[f'{prefix}vault {vkey}'])} | {peer_col} | {ratio} | {target} |")
    print(
        f"\np99 latency, metadata: vault {spread(runs['p99 vault metadata'], 1)} ms, "
        f"oidc-provider {spread(runs['p99 peer metadata'], 1)} ms.\n"
    )
    print("| `serve --workers` (unpinned, wrk on the same 2 cores) | AS metadata req/s |")
    print("|---:|---:|")
    for n in workers:
        print(f"| {n} | {spread(sweep[n])} |")
    print(f"\n![throughput against worker count]({rel})")


if __name__ == "__main__":
    main()
