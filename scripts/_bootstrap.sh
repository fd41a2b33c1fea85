# Sourced by demo.sh and test.sh: find Python >= 3.11, create .venv, install the package. Safe to run twice.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      command -v "$candidate"; return 0
    fi
  done
  echo "error: Python 3.11 or newer is needed (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

bootstrap_venv() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    echo "==> creating .venv"
    "$(find_python)" -m venv .venv
  fi
  local stamp=".venv/.installed-${extras//[^a-z,]/}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "==> installing intent-vault[$extras] into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[$extras]" 2>&1 \
      | grep -v "is ignored: it is neither a file nor a directory" || true
    .venv/bin/python -c "import vault_server" || { echo "error: installation failed" >&2; return 1; }
    touch "$stamp"
  fi
}

ensure_node_modules() {
  if [ -f tests/e2e/package.json ] && command -v npm >/dev/null 2>&1 &&
     { [ ! -d tests/e2e/node_modules ] || [ tests/e2e/package-lock.json -nt tests/e2e/node_modules/.package-lock.json ]; }; then
    echo "==> installing the e2e tests' npm packages (axe-core)"
    (cd tests/e2e && npm ci --no-audit --no-fund --loglevel=error) || return 1
  fi
  [ -f extension/package.json ] || return 0
  if ! command -v npm >/dev/null 2>&1; then
    echo "error: npm is needed for the browser extension (install Node.js 20+)" >&2; return 1
  fi
  if [ ! -d extension/node_modules ] || [ extension/package-lock.json -nt extension/node_modules/.package-lock.json ]; then
    echo "==> installing extension npm packages"
    (cd extension && npm ci --no-audit --no-fund --loglevel=error)
  fi
}
