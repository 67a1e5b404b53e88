#!/usr/bin/env bash
# The bus under attack: runs the three attacks of `opensmev-load hostile` (slow uploads,
# certificates with a huge extension, connections dribbling their headers), each against a fresh
# `opensmev serve --demo` on loopback, while a normal client does signed round trips. Prints a
# Markdown table, writes the raw JSON to $OUT/hostile-<attack>.json and exits non-zero when an
# attack breaks a target: server peak RSS over 256 MiB, a round trip over 2 s, or a failed round
# trip (exit 1), or when an attack could not be run at all (exit 2).
#
# Settings (environment):
#   OUT=bench-results/<date>   where the JSON reports go
#   PORT=7621                  the server's port on 127.0.0.1 (must be free)
#   HOLD=30                    seconds slow-uploads and header-dribble are held
#   ATTACKS="slow-uploads large-certs header-dribble"
#   EXTRA=""                   more flags for every `opensmev-load hostile` (e.g. "--count 100")
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

OUT=${OUT:-bench-results/$(date +%F)}
PORT=${PORT:-7621}
HOLD=${HOLD:-30}
ATTACKS=${ATTACKS:-slow-uploads large-certs header-dribble}
EXTRA=${EXTRA:-}
LOAD=target/release/opensmev-load
OPENSMEV=target/release/opensmev
mkdir -p "$OUT"

echo "== building (release)" >&2
cargo build --release -p opensmev-cli -p opensmev-loadgen >&2

# A thousand attacking sockets on each side: the server and the tool need the descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true
echo "== open files limit: $(ulimit -n)" >&2

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null
}

if port_open; then
  echo "hostile.sh: 127.0.0.1:$PORT is in use (set PORT)" >&2
  exit 2
fi

server=
data=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "$data" ]; then
    rm -rf "$data"
  fi
}
trap cleanup EXIT

rows=()
status=0
for attack in $ATTACKS; do
  data=$(mktemp -d "${TMPDIR:-/tmp}/opensmev-hostile.XXXXXX")
  "$OPENSMEV" serve --demo --data-dir "$data" --listen "127.0.0.1:$PORT" >"$data/server.log" 2>&1 &
  server=$!
  for _ in $(seq 150); do
    port_open && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.2
  done
  if ! port_open; then
    echo "hostile.sh: the server did not start; its log:" >&2
    cat "$data/server.log" >&2
    exit 2
  fi
  case $attack in
    large-certs) hold=() ;; # bounded by its count (and a 600 s limit of the tool)
    *) hold=(--seconds "$HOLD") ;;
  esac
  echo "== $attack (server pid $server, data $data)" >&2
  rc=0
  # shellcheck disable=SC2086 # EXTRA is a list of flags
  row=$("$LOAD" hostile --base "http://127.0.0.1:$PORT" --demo-dir "$data/demo" \
    --server-pid "$server" --attack "$attack" "${hold[@]}" \
    --json "$OUT/hostile-$attack.json" $EXTRA) || rc=$?
  if [ -n "$row" ]; then
    echo "$row" >&2
    rows+=("$row")
  else
    rows+=("| $attack | | | | | | | not run (exit $rc) | **MISS** |")
  fi
  if [ "$rc" -ge 2 ]; then
    status=2
  elif [ "$rc" = 1 ] && [ "$status" = 0 ]; then
    status=1
  fi
  if ! kill -0 "$server" 2>/dev/null; then
    echo "hostile.sh: the server died during $attack; its log:" >&2
    tail -n 20 "$data/server.log" >&2
    [ "$status" = 0 ] && status=1
  fi
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  server=
  rm -rf "$data"
  data=
done

echo
echo "Targets: server peak RSS ≤ 256 MiB, every round trip ≤ 2 s and successful."
echo
echo "| attack | RSS before | peak RSS | max round trip | p50 round trip | round trips | failures | attack counters | targets |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
echo "JSON: $OUT/hostile-*.json"
exit "$status"
