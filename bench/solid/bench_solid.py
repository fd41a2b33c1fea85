"""A consumer's small records, written and read back with access control: the vault's gesture ingest and read-back
against the Community Solid Server 7 (npm ``@solid/community-server``, file backend, WebACL), the personal data
store people would otherwise pick. Same records, same load generator and settings, same run.

Each server is one process pinned to core 1, ``wrk -t2 -c16`` with ``bench/solid/records.lua`` on core 0; requests
rotate over ``--consumers`` consumers. Per request: one record per POST (vault: ``POST /v1/gestures`` with one
event; CSS: ``POST`` to the consumer's container, creating one resource). Per batch: ``--batch`` records per
request (vault: one POST; CSS has no batch write: one ``PUT`` of a new document holding the records, its fastest
way to store many). Read-back: the newest record (vault ``GET /v1/gestures?limit=1``; CSS ``GET`` of one record)
and a batch of records (vault ``limit=100``; CSS ``GET`` of a 100-record document).

Access control on the peer: every consumer's container carries a WebACL document granting only that consumer's
WebID read/write/append/control (anonymous callers get 401, other WebIDs 403 — checked before the clock starts).
Callers identify with CSS's ``Authorization: WebID <iri>`` header (``config/ldp/authentication/debug-auth-header``):
no DPoP token to verify per request, the cheapest authentication CSS has, so the peer is measured at its fastest;
the vault verifies a real bearer token on every request.

    .venv/bin/python bench/solid/bench_solid.py [--rounds 3] [--seconds 5] [--consumers 20] [--batch 100]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wrkload import PIDS, ROOT, SERVER_CORE, Vault, WrkResult, free_port, machine, pinned, spread, stop, wait_up, wrk

from vault_server.accounts import service as accounts
from vault_server.config import Settings
from vault_server.context import build_context

PEER_DIR = ROOT / "bench" / "solid" / "peer"
LUA = Path(__file__).resolve().parent / "records.lua"
RESULTS = ROOT / "bench" / "results" / "solid.json"
WEBID = "https://bench.example/c{}#me"
ACL = """@prefix acl: <http://www.w3.org/ns/auth/acl#>.
<#owner> a acl:Authorization; acl:agent <{webid}>; acl:accessTo <./>; acl:default <./>;
  acl:mode acl:Read, acl:Write, acl:Append, acl:Control.
"""
MODES = (
    ("write", "write, one record per request"),
    ("batch", "write, a batch per request"),
    ("read", "read back one record"),
    ("readbatch", "read back a batch"),
)


def event(i: int) -> dict[str, object]:
    return {
        "id": f"00000000-0000-4000-8000-{i:012d}",
        "type": "product_view",
        "ts": datetime.now(UTC).isoformat(),
        "origin": "https://shop.example",
        "path": "/p/{id}",
        "dwell_ms": 5000 + i,
        "product": {"name": "Samsung 65 inch QLED 4K Smart TV", "brand": "Samsung", "price": 899.0, "currency": "EUR"},
    }


def vault_callers(vault: Vault, consumers: int, batch: int, work: Path) -> Path:
    """Consumers with a personal token (write and read their own gestures) and ``batch`` records each."""
    settings = Settings(
        database_url=vault.env["VAULT_DATABASE_URL"],
        kek_file=Path(vault.env["VAULT_KEK_FILE"]),
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )
    ctx = build_context(settings)
    lines = []
    with ctx.db.session() as s:
        for i in range(consumers):
            account = accounts.sign_up(
                session=s, ring=ctx.ring, hasher=ctx.hasher, email=f"c{i}@bench.example", password="x" * 12
            )
            secret, _ = accounts.issue_api_token(
                session=s, account_id=account.id, name="bench", scopes=["gestures:write", "signals:read:self"]
            )
            lines.append(f"Bearer {secret}\t/v1/gestures")
    ctx.db.dispose()
    path = work / "vault-callers.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def seed_vault(base: str, callers: Path, batch: int) -> None:
    for n, line in enumerate(callers.read_text().splitlines()):
        auth = line.split("\t")[0]
        events = [event(n * batch + j) for j in range(batch)]
        r = httpx.post(base + "/v1/gestures", json={"events": events}, headers={"Authorization": auth}, timeout=120)
        assert r.status_code == 200 and r.json()["accepted"] == batch, r.text[:300]


@contextmanager
def solid_server(data: Path) -> Iterator[str]:
    """The Community Solid Server on the file backend (``npm ci`` in bench/solid/peer first); yields its base URL."""
    if not (PEER_DIR / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=PEER_DIR, check=True, capture_output=True)
    port = free_port()
    base = f"http://localhost:{port}"
    cmd = [
        "node",
        str(PEER_DIR / "node_modules" / "@solid" / "community-server" / "bin" / "server.js"),
        "-c",
        str(PEER_DIR / "config.json"),
        "-f",
        str(data),
        "-p",
        str(port),
        "-b",
        base + "/",
        "-l",
        "warn",
    ]
    with open(data.parent / "solid.log", "wb") as log:
        proc = subprocess.Popen(pinned(cmd, SERVER_CORE), cwd=PEER_DIR, stdout=log, stderr=log)
        PIDS[base] = proc.pid
        try:
            wait_up(base + "/", proc, timeout=600)  # Components.js wiring takes a while on a busy host
            yield base
        finally:
            stop(proc)


def seed_solid(base: str, consumers: int, batch: int, work: Path) -> Path:
    """A container per consumer with its own ACL (only its WebID), 20 single records and one batch document."""
    lines = []
    with httpx.Client(base_url=base, timeout=60) as http:
        for i in range(consumers):
            webid = WEBID.format(i)
            own = {"Authorization": f"WebID {webid}"}
            container = {"Content-Type": "text/turtle", "Link": '<http://www.w3.org/ns/ldp#BasicContainer>; rel="type"'}
            assert http.put(f"/c{i}/", headers=container, content=b"").status_code in (201, 205)
            r = http.put(f"/c{i}/.acl", headers={"Content-Type": "text/turtle"}, content=ACL.format(webid=webid))
            assert r.status_code in (201, 205), r.text
            for j in range(20):
                body = json.dumps(event(i * 100 + j))
                r = http.put(f"/c{i}/r{j:02d}.json", headers={**own, "Content-Type": "application/json"}, content=body)
                assert r.status_code in (201, 205), r.text
            doc = json.dumps({"records": [event(i * batch + j) for j in range(batch)]})
            r = http.put(f"/c{i}/batch.json", headers={**own, "Content-Type": "application/json"}, content=doc)
            assert r.status_code in (201, 205), r.text
            lines.append(f"WebID {webid}\t/c{i}/")
        # access control is on: no caller, or another consumer's WebID, is refused
        assert http.get("/c0/r00.json").status_code == 401
        assert http.get("/c0/r00.json", headers={"Authorization": f"WebID {WEBID.format(1)}"}).status_code == 403
        assert http.post("/c0/", headers={"Content-Type": "application/json"}, content=b"{}").status_code == 401
    path = work / "solid-callers.tsv"
    path.write_text("\n".join(lines) + "\n")
    return path


def run(base: str, target: str, mode: str, callers: Path, batch: int, seconds: int) -> WrkResult:
    result = wrk(base, seconds=seconds, script=LUA, script_args=[target, mode, str(callers), str(batch)], server=base)
    print(f"{target} {mode}: {result}", file=sys.stderr)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--consumers", type=int, default=20)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-solid-"))
    host = machine()
    runs: dict[str, list[float]] = {}
    started = time.monotonic()
    vault = Vault.create()
    try:
        vcallers = vault_callers(vault, args.consumers, args.batch, work)
        (work / "solid-data").mkdir()
        with vault.serve() as vbase, solid_server(work / "solid-data") as sbase:
            seed_vault(vbase, vcallers, args.batch)
            scallers = seed_solid(sbase, args.consumers, args.batch, work)
            for _ in range(args.rounds):
                for mode, _label in MODES:
                    for side, base, callers in (("vault", vbase, vcallers), ("solid", sbase, scallers)):
                        r = run(base, side, mode, callers, args.batch, args.seconds)
                        per = 1 if mode in ("write", "read") else args.batch
                        runs.setdefault(f"{side} {mode} rps", []).append(r.ok_rps)
                        runs.setdefault(f"{side} {mode} records", []).append(r.ok_rps * per)
                        runs.setdefault(f"{side} {mode} cpu", []).append(r.per_cpu_second * per)
                        runs.setdefault(f"{side} {mode} p99", []).append(r.p99_ms)
                        runs.setdefault(f"{side} {mode} failed", []).append(r.errors / max(r.requests, 1))
                    for key in ("records", "cpu"):
                        runs.setdefault(f"ratio {mode} {key}", []).append(
                            runs[f"vault {mode} {key}"][-1] / max(runs[f"solid {mode} {key}"][-1], 1e-9)
                        )
    finally:
        vault.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"machine": host, "runs": runs}, indent=1))
    print(
        f"{host}. {args.rounds} rounds of {args.seconds} s per row, vault and peer back to back in each round; "
        f"`wrk -t2 -c16 -s bench/solid/records.lua`, server on core 1, wrk on core 0; {args.consumers} consumers, "
        f"batches of {args.batch}; vault on SQLite; {time.monotonic() - started:.0f} s in all.\n"
    )
    print(
        "| records | vault records/s | CSS 7 records/s | vault / CSS | vault per CPU-second | CSS per CPU-second "
        "| vault / CSS per CPU-second | p99 ms vault / CSS |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for mode, label in MODES:
        p99 = f"{spread(runs[f'vault {mode} p99'])} / {spread(runs[f'solid {mode} p99'])}"
        print(
            f"| {label} | {spread(runs[f'vault {mode} records'])} | {spread(runs[f'solid {mode} records'])} "
            f"| {spread(runs[f'ratio {mode} records'], 1)} | {spread(runs[f'vault {mode} cpu'])} "
            f"| {spread(runs[f'solid {mode} cpu'])} | **{spread(runs[f'ratio {mode} cpu'], 1)}** | {p99} |"
        )
    each = [v / s for v, s in zip(runs["vault batch cpu"], runs["solid write cpu"], strict=True)]
    print(
        f"| write a batch, CSS storing each record as its own resource ({args.batch} POSTs: per-record access control "
        f"and read-back, as the vault keeps them) | {spread(runs['vault batch records'])} "
        f"| {spread(runs['solid write records'])} | - | {spread(runs['vault batch cpu'])} "
        f"| {spread(runs['solid write cpu'])} | **{spread(each, 1)}** | - |"
    )
    failed = {k.removesuffix(" failed"): max(v) for k, v in runs.items() if k.endswith(" failed") and max(v) > 0}
    if failed:
        share = ", ".join(f"{k} {v:.0%}" for k, v in sorted(failed.items()))
        print(f"\nRefused or failed answers (not counted in the rates; largest share in a run): {share}.")


if __name__ == "__main__":
    main()
