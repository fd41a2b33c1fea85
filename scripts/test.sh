#!/usr/bin/env bash
# Installs everything and runs every test: lint + types, the Python suite on SQLite and on PostgreSQL,
# the extension's unit tests and lint, and the real-browser end-to-end tests. Exits non-zero on any failure.
#   VAULT_TEST_DATABASE_URL   PostgreSQL URL (default postgresql+psycopg://postgres@127.0.0.1:5432/test)
#   VAULT_TEST_SKIP_E2E=1     skip the browser tests (not in CI)
source "$(dirname "$0")/_bootstrap.sh"
export VAULT_TEST_DATABASE_URL="${VAULT_TEST_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/test}"
export PYTHONDONTWRITEBYTECODE=1

failures=()
step() { echo; echo "==> $1"; }
run() { local name="$1"; shift; if "$@"; then echo "--- ok: $name"; else echo "--- FAILED: $name"; failures+=("$name"); fi; }

bootstrap_venv "dev"

step "ruff and mypy --strict"
run "ruff" .venv/bin/ruff check $(ls -d vault_server tests bench examples 2>/dev/null)
run "mypy" .venv/bin/mypy

step "PostgreSQL"
if ! .venv/bin/python - <<'PY' 2>/dev/null
import os, sys, psycopg
url = os.environ["VAULT_TEST_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
try:
    psycopg.connect(url, connect_timeout=3).close()
except Exception:
    sys.exit(1)
PY
then
  echo "PostgreSQL not reachable; starting the local cluster"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
    sleep 2
  fi
fi

step "Python suite on SQLite"
run "pytest (sqlite)" env VAULT_TEST_BACKEND=sqlite .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 tests --ignore=tests/e2e
step "Python suite on PostgreSQL ($VAULT_TEST_DATABASE_URL)"
run "pytest (postgres)" env VAULT_TEST_BACKEND=postgres .venv/bin/python -m pytest -q -p no:cacheprovider -n 2 tests --ignore=tests/e2e

if [ -f extension/package.json ]; then
  step "browser extension: install, build, unit tests, lint"
  if ensure_node_modules; then
    run "extension build" bash -c "cd extension && npm run --silent build"
    run "extension unit tests" bash -c "cd extension && npm test --silent"
    run "extension lint" bash -c "cd extension && npm run --silent lint"
  else
    failures+=("extension npm install")
  fi
fi

if [ -d tests/e2e ] && [ "${VAULT_TEST_SKIP_E2E:-0}" != "1" ]; then
  step "real-browser end-to-end tests (Debian chromium and firefox-esr, unpacked extension, live vault on SQLite)"
  missing=()
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v firefox-esr >/dev/null 2>&1 || missing+=(firefox-esr)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian's ${missing[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "${missing[@]}" >/dev/null) \
      || echo "could not install ${missing[*]}"
  fi
  run "e2e" env VAULT_TEST_BACKEND=sqlite .venv/bin/python -m pytest -q -p no:cacheprovider tests/e2e
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
  echo "FAILED: ${failures[*]}"
  exit 1
fi
echo "all test steps passed"
