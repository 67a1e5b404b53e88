#!/usr/bin/env bash
# End-to-end test of the web cabinet in a real browser: installs Debian's Chromium (and
# poppler-utils) when missing, playwright-core from npm (no browser download), builds and starts
# `opensmev serve --demo` on a free port, and runs e2e/cabinet.mjs against it.
# SCREENSHOTS=DIR saves screenshots of the main pages there (docs/screenshots is made so).
set -euo pipefail
cd "$(dirname "$0")/.."
PROFILE="${PROFILE:-debug}"
if ! command -v chromium >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq chromium poppler-utils >/dev/null
fi
(cd e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --silent)
if [ "$PROFILE" = release ]; then cargo build --release --locked -p opensmev-cli; else cargo build --locked -p opensmev-cli; fi
BIN="target/$PROFILE/opensmev"
DATA="$(mktemp -d)"
LOG="$DATA/serve.log"
PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$BIN" serve --demo --data-dir "$DATA" --listen "127.0.0.1:$PORT" >"$LOG" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true; wait $PID 2>/dev/null || true; rm -rf "$DATA"' EXIT
for _ in $(seq 1 100); do
  grep -q "cabinet-account FNS01" "$LOG" 2>/dev/null && curl -sf "http://127.0.0.1:$PORT/health/live" >/dev/null && break
  sleep 0.2
done
password() { awk -v s="$1" '$1 == "cabinet-account" && $2 == s { print $4 }' "$LOG"; }
export BASE_URL="http://127.0.0.1:$PORT"
export MFC_PASSWORD="$(password MFC01)" PFR_PASSWORD="$(password PFR01)" FNS_PASSWORD="$(password FNS01)"
# The first administrator's one-time password: the line after its announcement.
export ADMIN_PASSWORD="$(awk 'found { print $1; exit } /Одноразовый пароль|one-time password/ { found = 1 }' "$LOG")"
[ -n "$MFC_PASSWORD" ] && [ -n "$ADMIN_PASSWORD" ] || { echo "the demo accounts were not printed:"; cat "$LOG"; exit 1; }
if [ -n "${SCREENSHOTS:-}" ]; then mkdir -p "$SCREENSHOTS"; export SCREENSHOTS="$(cd "$SCREENSHOTS" && pwd)"; fi
(cd e2e && node cabinet.mjs) || { echo "--- server log"; tail -50 "$LOG"; exit 1; }
