"""CPU per feed page in-process (read_page, the audit append, COMMIT): the before/after figure of a code change.

    .venv/bin/python bench/feed/cpu_per_page.py --consumers 100000 --kind backlog --pages 40
    # the code before a change, on the same schema and cursors (its checkout on PYTHONPATH, this venv):
    git -C . archive OLD | tar -x -C /tmp/old && PYTHONPATH=/tmp/old .venv/bin/python bench/feed/cpu_per_page.py ...

Reads the request lists that ``bench_feed.py`` wrote for a filled schema (``$TMPDIR/feed-bench``), replays the
first ``--pages`` of one kind through the same service calls as ``GET /v1/feed`` (no HTTP stack) and prints the
process CPU time and wall time per page. The host's load moves the server-CPU column of the wrk bench by more
than most changes do; alternating the old and the new code here, at the same moment, is what a comparison needs.
"""

from __future__ import annotations

import argparse
import base64
import inspect
import json
import tempfile
import time
import urllib.parse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--consumers", type=int, default=100_000)
    parser.add_argument("--kind", choices=("poll", "backlog"), default="backlog")
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "feed-bench")
    args = parser.parse_args()

    import vault_server
    from bench.feed.fill import PG_URL, settings_for
    from vault_server.context import build_context
    from vault_server.db import Database
    from vault_server.feed import service

    schema = f"feed_bench_{args.consumers}"
    settings = settings_for(args.database_url or PG_URL, schema, args.workdir / f"{schema}.kek.json")
    db = Database(settings.model_copy(update={"maintenance_interval_seconds": 0}))
    ctx = build_context(settings, db=db)
    requests = []
    for line in (args.workdir / f"{schema}.{args.kind}.txt").read_text().splitlines()[: args.pages + 3]:
        path, auth, _ = line.split("\t")
        query = urllib.parse.parse_qs(urllib.parse.urlparse(path).query)
        vendor = base64.b64decode(auth.split()[1]).decode().split(":")[0]
        requests.append((vendor, query["cursor"][0], int(query["limit"][0])))
    hands_keys = "ciphers" in inspect.signature(service.record_reads).parameters  # older code has no such argument

    def page(vendor: str, cursor: str, limit: int) -> bytes:
        with db.session() as s:
            built = service.read_page(session=s, ctx=ctx, vendor_id=vendor, cursor=cursor, limit=limit)
            extra = {"ciphers": built.ciphers} if hands_keys else {}
            service.record_reads(session=s, ctx=ctx, vendor_id=vendor, audits=built.audits, **extra)
        return json.dumps(built.body()).encode()

    for request in requests[:3]:  # warm-up: imports, pool, statement caches
        page(*request)
    cpu, wall = time.process_time(), time.perf_counter()
    for request in requests[3:]:
        page(*request)
    n = max(len(requests) - 3, 1)
    cpu, wall = (time.process_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n
    print(f"{vault_server.__file__}: {schema} {args.kind}: CPU {cpu:.1f} ms/page, wall {wall:.1f} ms/page over {n}")
    db.dispose()


if __name__ == "__main__":
    import sys

    sys.path.append(str(Path(__file__).resolve().parents[2]))  # after PYTHONPATH: an old checkout there wins
    main()
