#!/usr/bin/env bash
# Signals on real sessions: cross-validated ROC AUC, browse only and with cart (bench/signals/real.py).
# Usage: bench/signals/real.sh [sessions-dir] [--no-grid]   (default ../shared/sessions; read in place)
# --no-grid skips the nested choice over policy variants (24 more replays).
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${1:-../shared/sessions}
shift || true
PY=${PYTHON:-.venv/bin/python}
if [[ ! -f "$DIR/events.jsonl.gz" ]]; then
  echo "signals/real: no sessions at $DIR (skipped)"
  exit 0
fi
$PY bench/signals/real.py --events "$DIR/events.jsonl.gz" --labels "$DIR/labels.csv" "$@"
