#!/usr/bin/env bash
# BENCHMARKS.md §9: the same load against one node on the embedded store (SQLite), one node on
# PostgreSQL, and two nodes on one PostgreSQL, one run each, back to back; the CPU time of every
# process involved (the nodes, all of PostgreSQL's processes, the load tool) is read from /proc
# before and after each run and divided by the round trips.
#
#   bash scripts/bench-postgres.sh            # DURATION=20 CONSUMERS=16 PROVIDERS=16 WINDOW=8
#   SIGNED=1 bash scripts/bench-postgres.sh   # signed SOAP (default: unsigned, the store's share shows)
#
# Writes bench-results/<date>/postgres-*.json and postgres.md. Needs PostgreSQL (the script
# sets it up with scripts/postgres-setup.sh) and a release build.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${DURATION:-20}"
CONSUMERS="${CONSUMERS:-16}"
PROVIDERS="${PROVIDERS:-16}"
WINDOW="${WINDOW:-8}"
SIGNED="${SIGNED:-0}"
OUT="${OUT:-bench-results/$(date -u +%F)}"
mkdir -p "$OUT"
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -p opensmev-loadgen -p opensmev-cli >&2
OPENSMEV="$PWD/target/release/opensmev"
LOAD="$PWD/target/release/opensmev-load"
PG_CONN="$(bash scripts/postgres-setup.sh)"
PG_PORT="$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$PG_CONN")"
DB="osmv_bench_$$"
PG_URL="postgres://opensmev_test:opensmev_test@127.0.0.1:$PG_PORT/$DB"

work="$(mktemp -d)"
# The nodes' pids (start_node runs in a command substitution: a file, not a variable).
touch "$work/pids"
cleanup() {
  while read -r p; do kill "$p" 2>/dev/null || true; done <"$work/pids"
  sleep 1
  psql "$PG_CONN" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# Demo keys and the benchmark registry, shared by every node of every run.
"$LOAD" --write-registry --data-dir "$work/base" >&2

ticks="$(getconf CLK_TCK)"
# CPU seconds of the given pids (utime + stime, children not included).
cpu_of() {
  local total=0 p
  for p in "$@"; do
    if [ -r "/proc/$p/stat" ]; then
      total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
    fi
  done
  echo "scale=3; $total / $ticks" | bc
}
pg_pids() { pgrep -u postgres -d ' ' . || true; }
cpu_of_pg() {
  # shellcheck disable=SC2046
  cpu_of $(pg_pids)
}

start_node() { # name port store
  local name="$1" port="$2" store="$3" dir="$work/$1"
  rm -rf "$dir"
  cp -r "$work/base" "$dir"
  local env=(OPENSMEV_NODE_NAME="$name" OPENSMEV_POLL_WAIT_MS=1000 OPENSMEV_LOG=warn)
  [ -n "$store" ] && env+=(OPENSMEV_STORE="$store")
  env "${env[@]}" "$OPENSMEV" serve --demo --data-dir "$dir" --listen "127.0.0.1:$port" \
    --registry "$dir/demo/bench-registry.toml" >"$work/$name.log" 2>&1 &
  local pid=$!
  echo "$pid" >>"$work/pids"
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/health/ready" >/dev/null 2>&1 && { echo "$pid"; return; }
    sleep 0.2
  done
  echo "node $name did not become ready:" >&2
  cat "$work/$name.log" >&2
  exit 1
}

stop_nodes() {
  local p
  while read -r p; do kill "$p" 2>/dev/null || true; done <"$work/pids"
  while read -r p; do
    while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
  done <"$work/pids"
  : >"$work/pids"
}

signed_flags=(--workload bench --unsigned)
[ "$SIGNED" = 1 ] && signed_flags=(--workload bench)

run() { # label json urls node-pids...
  local label="$1" json="$2" urls="$3"
  shift 3
  local nodes=("$@")
  local n0 pg0 l0 n1 pg1
  n0="$(cpu_of "${nodes[@]}")"
  pg0="$(cpu_of_pg)"
  /usr/bin/time -f "%U %S" -o "$work/time" "$LOAD" --url "$urls" --demo-dir "$work/base/demo" \
    "${signed_flags[@]}" --consumers "$CONSUMERS" --providers "$PROVIDERS" --window "$WINDOW" \
    --duration "$DURATION" --poll-wait-ms 1000 --quiet --json "$OUT/$json" >/dev/null
  n1="$(cpu_of "${nodes[@]}")"
  pg1="$(cpu_of_pg)"
  l0="$(awk '{print $1 + $2}' "$work/time")"
  python3 - "$label" "$OUT/$json" "$n0" "$n1" "$pg0" "$pg1" "$l0" <<'PY' >>"$work/rows"
import json, sys
label, path, n0, n1, pg0, pg1, load = sys.argv[1:]
d = json.load(open(path))
t = d["totals"]
rt = t["round_trips_completed"]
el = d["elapsed_s"]
rtl = d["operations"]["RoundTrip"]["latency_ms"]
node = float(n1) - float(n0)
pg = float(pg1) - float(pg0)
load = float(load)
per = lambda s: f"{1000 * s / rt:.2f} ms" if rt else "—"
print(f"| {label} | {t['round_trips_per_second']:.1f} | {rtl['p50']:.0f} / {rtl['p99']:.0f} ms | "
      f"{node / el:.2f} | {pg / el:.2f} | {load / el:.2f} | {per(node)} | {per(pg)} | {per(load)} | "
      f"**{per(node + pg + load)}** | {t['round_trips_failed']} / {t['call_errors']} |")
PY
}

: >"$work/rows"
# 1. One node, embedded store.
a="$(start_node sqlite 7611 "")"
run "1 node, SQLite" postgres-sqlite.json "http://127.0.0.1:7611/smev" "$a"
stop_nodes
# 2. One node, PostgreSQL.
psql "$PG_CONN" -qc "CREATE DATABASE $DB" >/dev/null
a="$(start_node pg-a 7612 "$PG_URL")"
run "1 node, PostgreSQL" postgres-1node.json "http://127.0.0.1:7612/smev" "$a"
stop_nodes
# 3. Two nodes, one PostgreSQL (a fresh database: same starting point as run 2).
psql "$PG_CONN" -qc "DROP DATABASE $DB WITH (FORCE)" >/dev/null
psql "$PG_CONN" -qc "CREATE DATABASE $DB" >/dev/null
a="$(start_node pg-a 7612 "$PG_URL")"
b="$(start_node pg-b 7613 "$PG_URL")"
run "2 nodes, one PostgreSQL" postgres-2nodes.json \
  "http://127.0.0.1:7612/smev,http://127.0.0.1:7613/smev" "$a" "$b"
stop_nodes

{
  echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo), $(uname -r); $(date -u +%FT%TZ)"
  echo "Load: ${signed_flags[*]} --consumers $CONSUMERS --providers $PROVIDERS --window $WINDOW --duration $DURATION (closed loop), long polls 1 s"
  echo
  echo "| configuration | round trips/s | round trip p50 / p99 | nodes, cores | PostgreSQL, cores | load tool, cores | nodes CPU / rt | PostgreSQL CPU / rt | load tool CPU / rt | all CPU / rt | failed rt / call errors |"
  echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
  cat "$work/rows"
} | tee "$OUT/postgres.md"
