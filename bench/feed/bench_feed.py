"""Vendor feed latency at provider scale (PostgreSQL): poll page, backlog page and 304, at 10k..1M consumers.

    .venv/bin/python bench/feed/bench_feed.py [--consumers 10000,100000,1000000] [--rounds 3] [--seconds 8]
        [--connections 1] [--reuse] [--plot docs/img/feed_latency.png]

For each population a schema is filled by ``bench/feed/fill.py`` (COPY, real per-consumer encryption; see there)
or, with ``--reuse``, taken as a previous run left it. Then a real ``intent-vault serve`` process (one worker,
access log on, background maintenance off) serves it and Debian's ``wrk`` drives it through ``bench/feed/feed.lua``,
which cycles through prepared requests (each vendor's HTTP Basic credential and a signed cursor):

- **poll page**: ``GET /v1/feed?cursor=C&limit=5`` at cursors spread over every vendor's feed: a page of 5 new
  changes, as a vendor that polls often sees it (each of different consumers, so the data-key cache rarely helps);
- **backlog page**: ``GET /v1/feed?cursor=C&limit=100`` at the same cursors (~85 items after folding);
- **304**: the caught-up poll of every vendor again with its ``If-None-Match``.

Every 200 page is built for real: grants, signal states decrypted under each consumer's unwrapped data key,
evaluated, narrowed, and one audit entry per item appended (committed before the answer). One connection (a
closed loop: latency is the request's own time, no queueing in the server); ``--rounds`` rounds, each running the
three kinds back to back; medians with min and max over rounds. Statements per page are counted in-process on the
engine (one request of each kind through the same app). Prints markdown.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench import wrkload
from bench.feed.fill import PG_URL, Population, fill, settings_for

HERE = Path(__file__).resolve().parent
TARGETS_MS = {"poll": 20.0, "backlog": 100.0, "304": 5.0}
KINDS = ("poll", "backlog", "304")
LIMITS = {"poll": 5, "backlog": 100}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare(args: argparse.Namespace, consumers: int) -> tuple[Population, Path]:
    """A filled schema for ``consumers`` (reused when asked and present) and its keyring."""
    from sqlalchemy import text

    from vault_server.config import Settings
    from vault_server.crypto.keyring import KeyRing
    from vault_server.db import Database, migrate

    schema = f"feed_bench_{consumers}"
    state = args.workdir / f"{schema}.json"
    kek = args.workdir / f"{schema}.kek.json"
    if args.reuse and state.exists() and kek.exists():
        admin = Database(Settings(database_url=args.database_url))
        with admin.engine.connect() as conn:
            there = conn.execute(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema}).first()
        admin.dispose()
        if there:
            doc = json.loads(state.read_text())
            doc["vendors"] = [tuple(v) for v in doc["vendors"]]
            log(f"reusing schema {schema} (migrating it to this checkout's revision)")
            db = Database(settings_for(args.database_url, schema, kek))
            migrate(db)
            db.dispose()
            return Population(**doc), kek
    KeyRing.generate().save(kek)
    pop = fill(database_url=args.database_url, schema=schema, kek=kek, consumers=consumers)
    state.write_text(json.dumps(asdict(pop)))
    return pop, kek


def request_files(args: argparse.Namespace, pop: Population, kek: Path, out: Path) -> dict[str, Any]:
    """Write the request lists wrk cycles through; returns the in-process probes (statements per page)."""
    import base64

    from fastapi.testclient import TestClient
    from sqlalchemy import event, text

    from vault_server.app import create_app
    from vault_server.context import build_context
    from vault_server.db import Database
    from vault_server.feed import service

    settings = settings_for(args.database_url, pop.schema, kek).model_copy(update={"maintenance_interval_seconds": 0})
    db = Database(settings)
    ctx = build_context(settings, db=db)
    auth = {v: "Basic " + base64.b64encode(f"{v}:{s}".encode()).decode() for v, s in pop.vendors}
    with db.session() as s:
        heads = dict(s.execute(text("SELECT vendor_id, max(pos) FROM feed_change GROUP BY vendor_id")).all())
        total = sum(1 for _ in heads) and s.execute(text("SELECT count(*) FROM feed_change")).scalar_one()
        step = max(100, int(total) // (len(heads) * 20))
        starts = s.execute(
            text(
                "SELECT vendor_id, pos FROM (SELECT vendor_id, pos, row_number() OVER (PARTITION BY vendor_id "
                "ORDER BY pos) AS rn FROM feed_change) t WHERE rn % :step = 1"
            ),
            {"step": step},
        ).all()
    rng = random.Random(3)
    lines: dict[str, list[str]] = {"poll": [], "backlog": [], "304": []}
    for vendor, position in starts:
        for kind in ("poll", "backlog"):
            cursor = service.encode_cursor(ctx, vendor, int(position) - 1)
            lines[kind].append(f"/v1/feed?cursor={cursor}&limit={LIMITS[kind]}\t{auth[vendor]}\t")
    for vendor, after in pop.poll_after.items():
        cursor = service.encode_cursor(ctx, vendor, after)
        etag = service.page_etag(ctx, vendor, after, int(heads[vendor]), 100)
        lines["304"].append(f"/v1/feed?cursor={cursor}&limit=100\t{auth[vendor]}\t{etag}")
    files = {}
    for kind, rows in lines.items():
        rng.shuffle(rows)
        files[kind] = out / f"{pop.schema}.{kind}.txt"
        files[kind].write_text("\n".join(rows) + "\n")
    # statements per page, counted on the engine for one request of each kind (the same app code)
    statements: list[str] = []
    event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    probes: dict[str, Any] = {"files": files, "lines": {k: len(v) for k, v in lines.items()}}
    vendor, secret = pop.vendors[0]
    with TestClient(create_app(ctx=ctx), base_url="http://127.0.0.1:8000") as client:
        # one throwaway read first (another vendor, at its head: nothing built), so the app's start-up statements
        # (maintenance tick, signing key) are not counted as the page's
        other, other_secret = pop.vendors[1]
        head = service.encode_cursor(ctx, other, int(heads[other]))
        assert client.get("/v1/feed", params={"cursor": head}, auth=(other, other_secret)).status_code == 200
        for kind, params, headers, status in (
            ("backlog", {"limit": 100}, {}, 200),
            ("poll", {"cursor": service.encode_cursor(ctx, vendor, pop.poll_after[vendor]), "limit": 100}, {}, 200),
        ):
            statements.clear()
            r = client.get("/v1/feed", params=params, auth=(vendor, secret), headers=headers)
            assert r.status_code == status, r.text
            probes[kind] = {"statements": len(statements), "items": len(r.json()["items"])}
            if kind == "poll":
                assert probes[kind]["items"] == 5, r.text  # the 5 new items at the head of the feed
                statements.clear()
                again = client.get(
                    "/v1/feed", params=params, auth=(vendor, secret), headers={"If-None-Match": r.headers["etag"]}
                )
                assert again.status_code == 304, again.status_code
                probes["304"] = {"statements": len(statements), "items": 0}
    db.dispose()
    return probes


def measure(args: argparse.Namespace, pop: Population, kek: Path, probes: dict[str, Any]) -> dict[str, list[Any]]:
    env = dict(os.environ)
    env.update(
        {
            "VAULT_DATABASE_URL": args.database_url,
            "VAULT_DATABASE_SCHEMA": pop.schema,
            "VAULT_KEK_FILE": str(kek),
            "VAULT_LOG_LEVEL": "INFO",  # the access log stays on: it is part of the per-request cost
            "VAULT_API_RATE_PER_MINUTE": "100000000",
            "VAULT_MAINTENANCE_INTERVAL_SECONDS": "0",
        }
    )
    home = Path(tempfile.mkdtemp(prefix="feed-bench-"))
    vault = wrkload.Vault(home=home, env=env)
    results: dict[str, list[Any]] = {k: [] for k in KINDS}
    with vault.serve(workers=args.workers, core=None) as base:
        script = {k: [str(probes["files"][k]), "304" if k == "304" else "200"] for k in KINDS}
        for kind in KINDS:  # warm-up: imports, pool, caches of the server
            wrkload.wrk(
                base + "/", seconds=2, connections=1, threads=1, script=HERE / "feed.lua", script_args=script[kind],
                core=None,
            )  # fmt: skip
        for r in range(args.rounds):
            for kind in KINDS:
                res = wrkload.wrk(
                    base + "/", seconds=args.seconds, connections=args.connections, threads=1,
                    script=HERE / "feed.lua", script_args=script[kind], core=None, server=base,
                )  # fmt: skip
                if res.errors:
                    raise RuntimeError(f"{kind}: {res.errors} failed requests of {res.requests}")
                results[kind].append(res)
                log(
                    f"  {pop.consumers:,} round {r + 1} {kind}: p50 {res.p50_ms:.1f} ms, p99 {res.p99_ms:.1f} ms, "
                    f"{res.rps:.0f}/s, CPU {1000 * res.cpu / max(res.requests, 1):.1f} ms/req, "
                    f"load {os.getloadavg()[0]:.1f}"
                )
    wrkload.shutil.rmtree(home, ignore_errors=True)
    return results


def cell(values: Sequence[float], digits: int = 1) -> str:
    """``median (min-max)`` of the rounds whose figure wrk printed readably (a NaN is left out and counted)."""
    readable = [v for v in values if v == v]
    if not readable:
        return "n/a"
    lost = len(values) - len(readable)
    return wrkload.spread(readable, digits) + (f" ({lost} round unreadable)" if lost else "")


def median(values: Sequence[float]) -> float:
    readable = [v for v in values if v == v]
    return statistics.median(readable) if readable else float("nan")


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax_cpu) = plt.subplots(1, 2, figsize=(11, 4.4), gridspec_kw={"width_ratios": [3, 2]})
    xs = [row["consumers"] for row in rows]
    colors = {"poll": "tab:blue", "backlog": "tab:orange", "304": "tab:green"}
    names = {"poll": "poll page (5 items)", "backlog": "backlog page (~90 items)", "304": "304 Not Modified"}
    for kind in KINDS:
        p99 = [[r.p99_ms for r in row["results"][kind]] for row in rows]
        med = [median(v) for v in p99]
        err = [[m - min(v) for m, v in zip(med, p99, strict=True)], [max(v) - m for m, v in zip(med, p99, strict=True)]]
        ax.errorbar(xs, med, yerr=err, marker="o", capsize=3, color=colors[kind], label=f"{names[kind]} p99")
        p50 = [median([r.p50_ms for r in row["results"][kind]]) for row in rows]
        ax.plot(xs, p50, linestyle=":", marker=".", color=colors[kind], label=f"{names[kind]} p50")
        ax.axhline(TARGETS_MS[kind], color=colors[kind], linestyle="--", linewidth=0.8, alpha=0.6)
        cpu = [statistics.median([1000 * r.cpu / max(r.requests, 1) for r in row["results"][kind]]) for row in rows]
        ax_cpu.plot(xs, cpu, marker="o", color=colors[kind], label=names[kind])
        ax_cpu.axhline(TARGETS_MS[kind], color=colors[kind], linestyle="--", linewidth=0.8, alpha=0.6)
    for a in (ax, ax_cpu):
        a.set_xscale("log")
        a.set_yscale("log")
        a.grid(True, which="both", alpha=0.3)
        a.set_xlabel("consumers (each granting 3 of 100 vendors)")
    ax_cpu.set_ylabel("server CPU per request (ms), median of rounds")
    ax_cpu.set_title("Server CPU per request")
    ax_cpu.legend(fontsize=7)
    ax.set_ylabel("latency (ms), median of rounds, min-max bars")
    ax.set_title("Feed latency against population (dashed: targets)")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--consumers", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--reuse", action="store_true", help="reuse a filled schema left by an earlier run")
    parser.add_argument("--drop", action="store_true", help="drop each schema after measuring it")
    parser.add_argument("--plot", type=Path, default=None)
    parser.add_argument("--database-url", default=PG_URL)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "feed-bench")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    loads: list[float] = []
    for consumers in (int(x) for x in args.consumers.split(",")):
        pop, kek = prepare(args, consumers)
        probes = request_files(args, pop, kek, args.workdir)
        loads.append(os.getloadavg()[0])
        results = measure(args, pop, kek, probes)
        loads.append(os.getloadavg()[0])
        rows.append({"consumers": consumers, "pop": pop, "probes": probes, "results": results})
        if args.drop:
            from sqlalchemy import text

            from vault_server.config import Settings
            from vault_server.db import Database

            admin = Database(Settings(database_url=args.database_url))
            with admin.engine.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{pop.schema}" CASCADE'))
            admin.dispose()
    cmd = " ".join(["bench/feed/bench_feed.py", *sys.argv[1:]])
    print(f"`{cmd}` — {wrkload.machine()}; load average (1 min) between populations: "
          f"{min(loads):.1f} to {max(loads):.1f}.\n")  # fmt: skip
    print(
        "One `intent-vault serve` worker on PostgreSQL 15 (same host), wrk with one connection (closed loop), "
        f"{args.rounds} rounds of {args.seconds} s per kind; median (min-max) over rounds. CPU: the server "
        "process's CPU time per request.\n"
    )
    print(
        "| consumers | fill (s) | poll page (5 items) p50 / p99 ms | backlog page p50 / p99 ms | items/backlog page "
        "| 304 p50 / p99 ms | statements: poll / backlog / 304 | server CPU per request ms: poll / backlog / 304 |"
    )
    print("|---:|---:|---|---|---:|---|---|---|")
    for row in rows:
        res, pr = row["results"], row["probes"]

        def lat(kind: str, res: dict[str, list[Any]] = res) -> str:
            return f"{cell([r.p50_ms for r in res[kind]])} / {cell([r.p99_ms for r in res[kind]])}"

        def cpu(kind: str, res: dict[str, list[Any]] = res) -> str:
            return f"{statistics.median([1000 * r.cpu / max(r.requests, 1) for r in res[kind]]):.1f}"

        print(
            f"| {row['consumers']:,} | {row['pop'].seconds:.0f} | {lat('poll')} | {lat('backlog')} | "
            f"{pr['backlog']['items']} | {lat('304')} | {pr['poll']['statements']} / {pr['backlog']['statements']} / "
            f"{pr['304']['statements']} | {cpu('poll')} / {cpu('backlog')} / {cpu('304')} |"
        )
    if args.plot:
        plot(rows, args.plot)
        rel = os.path.relpath(args.plot, "docs") if str(args.plot).startswith("docs") else args.plot
        print(f"\n![feed latency against population]({rel})")


if __name__ == "__main__":
    main()
