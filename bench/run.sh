#!/usr/bin/env bash
# Every benchmark in one command, each bounded in time; rewrites the results blocks of docs/PERFORMANCE.md.
#
#   bench/run.sh            # full runs (each bench at most 15 minutes; about 15 minutes in all on 2 cores)
#   bench/run.sh http oauth # only the named benches
#
# Contract for a bench (add one `bench` line below when you add one): it prints its results as markdown on
# stdout (tables, the machine line, links to plots it wrote under docs/img/) and diagnostics on stderr.
# Its stdout goes to bench/results/NAME.md and replaces the text between `<!-- bench:NAME -->` and
# `<!-- /bench:NAME -->` in docs/PERFORMANCE.md. A bench that fails or overruns its limit leaves the previous
# results in place and is reported at the end (exit status 1).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
OUT=bench/results
mkdir -p "$OUT"
ONLY=" $* "
FAILED=()

need() {  # need COMMAND DEBIAN-PACKAGE
  command -v "$1" >/dev/null && return 0
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "== installing $2 (apt)"; $sudo apt-get install -y "$2" >/dev/null || { $sudo apt-get update >/dev/null && $sudo apt-get install -y "$2" >/dev/null; }
}
need wrk wrk
need taskset util-linux
"$PY" -c "import matplotlib" 2>/dev/null || { echo "bench/run.sh: install the bench extra: .venv/bin/pip install -e '.[bench]'" >&2; exit 2; }

bench() {  # bench NAME SECONDS COMMAND...
  local name=$1 limit=$2; shift 2
  [[ "$ONLY" != "  " && "$ONLY" != *" $name "* ]] && return 0
  echo "== $name (at most ${limit} s): $*"
  local start=$SECONDS
  if timeout --kill-after=30 "$limit" "$@" >"$OUT/$name.md.new" 2>"$OUT/$name.log"; then
    mv "$OUT/$name.md.new" "$OUT/$name.md"
    echo "   done in $((SECONDS - start)) s"
  else
    echo "   FAILED or over time after $((SECONDS - start)) s; previous results kept (see $OUT/$name.log)"
    FAILED+=("$name")
  fi
}

bench http 900 "$PY" bench/http/bench_http.py --rounds ${ROUNDS:-5} --seconds 5 --workers 1,2
bench oauth 900 "$PY" bench/oauth/bench_token.py --rounds ${ROUNDS:-3} --seconds 4
bench reports 600 "$PY" bench/reports/bench_accuracy.py --runs ${ROUNDS:-3} --plot docs/img/reports_accuracy.png
bench webhooks 900 "$PY" bench/webhooks/bench_webhooks.py --messages 2000 --runs ${ROUNDS:-3}
bench extension 1500 "$PY" bench/extension/bench_pages.py --runs 1 --floor
bench extractors 900 node bench/extractors/run.mjs --report
# feed: 10k and 100k consumers by default (fills cached between runs in $TMPDIR/feed-bench); FEED_1M=1 adds 1M
FEED_POPULATIONS=10000,100000 FEED_LIMIT=1500
[[ -n "${FEED_1M:-}" ]] && FEED_POPULATIONS+=",1000000" FEED_LIMIT=3600
bench feed $FEED_LIMIT "$PY" bench/feed/bench_feed.py --consumers $FEED_POPULATIONS --rounds ${ROUNDS:-3} --seconds 8 \
  --reuse --plot docs/img/feed_latency.png
bench ingest 1500 "$PY" bench/ingest/bench_ingest.py --events 5000 --rounds ${ROUNDS:-2} --seconds 10 --consumers 100
bench solid 1500 "$PY" bench/solid/bench_solid.py --rounds ${ROUNDS:-3} --seconds 5 --consumers 20 --batch 100

"$PY" bench/splice.py docs/PERFORMANCE.md "$OUT"
if ((${#FAILED[@]})); then
  echo "failed: ${FAILED[*]}" >&2
  exit 1
fi
