#!/usr/bin/env bash
# Replay benchmark: synthetic sessions -> replay twice (throughput, memory, AUC) -> calibrate.
# Usage: bench/signals/run.sh [subjects] [seed] [out-dir]     (defaults: 17000 42 bench/signals/data)
# 17,000 subjects make about 1M events. Results go to stdout; copy them into bench/signals/RESULTS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-17000}
SEED=${2:-42}
OUT=${3:-bench/signals/data}
PY=${PYTHON:-.venv/bin/python}
CLI=(${INTENT_VAULT:-.venv/bin/intent-vault})
$PY bench/signals/synth.py --subjects "$N" --seed "$SEED" --out "$OUT"
wc -l < "$OUT/events.jsonl" | xargs echo "lines:"
for run in 1 2; do
  echo "== replay run $run"
  /usr/bin/time -f "wall %e s, cpu %U s user + %S s sys, max RSS %M KiB" "${CLI[@]}" signals replay --no-progress \
    --input "$OUT/events.jsonl" --labels "$OUT/labels.csv" --output "$OUT/scores.jsonl"
done
echo "== calibrate"
"${CLI[@]}" signals calibrate --no-progress --input "$OUT/events.jsonl" --labels "$OUT/labels.csv" \
  --output "$OUT/proposed-gestures.yaml"
