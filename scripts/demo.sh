#!/usr/bin/env bash
# Installs the vault, creates keys and an embedded SQLite vault under ./var, seeds a demo consumer, vendor and
# auditor, builds the browser extension, and serves the vault on http://127.0.0.1:8000. Safe to run twice.
source "$(dirname "$0")/_bootstrap.sh"
HOST="${VAULT_DEMO_HOST:-127.0.0.1}"
PORT="${VAULT_DEMO_PORT:-8000}"
export VAULT_BASE_URL="${VAULT_BASE_URL:-http://$HOST:$PORT}"

bootstrap_venv "dev"
echo "==> initialising the vault (keys in var/kek.json, data in var/vault.db)"
.venv/bin/intent-vault demo

if [ -f extension/package.json ] && command -v npm >/dev/null 2>&1; then
  echo "==> building the browser extension"
  if ensure_node_modules && (cd extension && npm run --silent build >/dev/null); then
    cat <<MSG

Browser extension (unpacked):
  Chrome/Chromium: open chrome://extensions, turn on Developer mode, "Load unpacked" -> $ROOT/extension/dist/chrome
  Firefox:         open about:debugging#/runtime/this-firefox, "Load Temporary Add-on" -> $ROOT/extension/dist/firefox/manifest.json
  Then open the extension's options, set the vault URL to $VAULT_BASE_URL and press "Pair", then approve the code shown at $VAULT_BASE_URL/device.
MSG
  else
    echo "(extension build failed; the vault still runs)"
  fi
fi

if .venv/bin/python -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('$HOST', $PORT)) != 0)"; then
  echo "error: something already listens on $HOST:$PORT (another demo?). Stop it or set VAULT_DEMO_PORT." >&2
  exit 1
fi
cat <<MSG

Intent Vault is starting on $VAULT_BASE_URL  (Ctrl-C stops it)
  Log in:        $VAULT_BASE_URL/login
  Dashboard:     $VAULT_BASE_URL/dashboard
  API docs:      $VAULT_BASE_URL/docs
  Signing keys:  $VAULT_BASE_URL/.well-known/jwks.json
MSG
exec .venv/bin/intent-vault serve --host "$HOST" --port "$PORT"
