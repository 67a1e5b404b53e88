#!/usr/bin/env bash
# Reproduces every table of BENCHMARKS.md on this machine and writes the raw reports (Markdown and
# JSON) to $OUT. Not part of CI: a full run takes about 25 minutes and needs ~15 GB of disk for
# the 10 M backlog. RabbitMQ (127.0.0.1:5672, guest/guest) and PostgreSQL (127.0.0.1:5432, user
# postgres, database test) must be running for their baselines; a missing one is reported in its
# table row, the rest still runs.
#
# Settings (environment):
#   OUT=bench-results/<time>   where the reports go
#   DURATION=20                seconds per measured run
#   CLIENTS=16                 consumers = providers = producers = handlers in the bus runs
#   WINDOW=8                   round trips in flight per consumer (closed loop)
#   BACKLOG=10000000           queued messages for the throughput-at-depth run (0: skip)
#   IDLE=1000                  idle polling clients for the many-pollers run (0: skip)
#   CRITERION=1                run the XML-signature criterion benches (§1; 0: skip)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

OUT=${OUT:-bench-results/$(date -u +%Y%m%dT%H%M%SZ)}
DURATION=${DURATION:-20}
CLIENTS=${CLIENTS:-16}
WINDOW=${WINDOW:-8}
BACKLOG=${BACKLOG:-10000000}
IDLE=${IDLE:-1000}
CRITERION=${CRITERION:-1}
mkdir -p "$OUT"
LOAD=target/release/opensmev-load
OPENSMEV=target/release/opensmev

echo "== building (release)"
cargo build --release --locked -p opensmev-loadgen -p opensmev-cli

run() { # name, then the command: Markdown to $OUT/name.md, echoed
  local name=$1
  shift
  echo "== $name: $*"
  "$@" | tee "$OUT/$name.md"
}

clients=(--consumers "$CLIENTS" --providers "$CLIENTS" --window "$WINDOW")

# §1 — XML signatures.
if [ "$CRITERION" = 1 ]; then
  echo "== §1 criterion: cargo bench -p opensmev-xmldsig --bench sign_verify"
  cargo bench --locked -p opensmev-xmldsig --bench sign_verify 2>&1 | tee "$OUT/sign_verify.txt"
  echo "== §1 the verify-rate target, paired: OPENSMEV_PAIRED=1 cargo bench … --bench sign_verify"
  OPENSMEV_PAIRED=1 cargo bench --locked -p opensmev-xmldsig --bench sign_verify 2>&1 |
    grep '^paired' | tee "$OUT/verify_paired.txt"
fi

# §2 — the bus against its baselines (signed / crypto bound, unsigned / RabbitMQ, PostgreSQL).
run compare "$LOAD" compare --duration "$DURATION" "${clients[@]}" --quiet \
  --json "$OUT/compare.json" || true

# §3 — p99 of SendRequest at half the maximum throughput (open loop at half the closed-loop rate
# just measured, signed and unsigned).
half() { # the compare run's round trips/s of bus_signed or bus_unsigned, halved
  python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["runs"][sys.argv[2]]; print(round(r["totals"]["round_trips_per_second"]/2, 1))' \
    "$OUT/compare.json" "$1"
}
run half-signed "$LOAD" --spawn --duration "$DURATION" "${clients[@]}" --rate "$(half bus_signed)" \
  --quiet --json "$OUT/half-signed.json"
run half-unsigned "$LOAD" --spawn --unsigned --duration "$DURATION" "${clients[@]}" \
  --rate "$(half bus_unsigned)" --quiet --json "$OUT/half-unsigned.json"

# §4 — many idle pollers (unsigned round trips with and without them).
if [ "$IDLE" != 0 ]; then
  run idle-0 "$LOAD" --spawn --unsigned --duration "$DURATION" "${clients[@]}" --quiet \
    --json "$OUT/idle-0.json"
  run idle-"$IDLE" "$LOAD" --spawn --unsigned --duration "$DURATION" "${clients[@]}" \
    --idle-pollers "$IDLE" --quiet --json "$OUT/idle-$IDLE.json"
fi

# §5 — throughput at depth: the same unsigned run on an empty store and on one holding $BACKLOG
# queued messages.
if [ "$BACKLOG" != 0 ]; then
  data=$(mktemp -d "${TMPDIR:-/tmp}/opensmev-backlog.XXXXXX")
  run backlog-fill "$LOAD" backlog --data-dir "$data" --count "$BACKLOG" --quiet \
    --json "$OUT/backlog-fill.json"
  run depth-empty "$LOAD" --spawn --unsigned --duration "$DURATION" "${clients[@]}" --quiet \
    --json "$OUT/depth-empty.json"
  run depth-backlog "$LOAD" --spawn --data-dir "$data" --unsigned --duration "$DURATION" \
    "${clients[@]}" --quiet --json "$OUT/depth-backlog.json"
  rm -rf "$data"
fi

# §6 — attachments: server RSS growth, the server in a process of its own.
data=$(mktemp -d "${TMPDIR:-/tmp}/opensmev-attach.XXXXXX")
"$LOAD" --write-registry --data-dir "$data" >/dev/null
cat >"$data/opensmev.toml" <<EOF
listen = "127.0.0.1:7611"
max_xml_body_bytes = 209715200
max_mtom_body_bytes = 2147483648
max_attachments_bytes = 2147483648
poll_wait_ms = 1000
EOF
"$OPENSMEV" serve --config "$data/opensmev.toml" --demo --data-dir "$data" \
  --registry "$data/demo/bench-registry.toml" >"$OUT/attach-server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do
  (exec 3<>/dev/tcp/127.0.0.1/7611) 2>/dev/null && break
  sleep 0.2
done
for size in 1048576 33554432; do
  run "attach-$size" "$LOAD" --url http://127.0.0.1:7611/smev --demo-dir "$data/demo" \
    --server-pid "$server" --workload bench --unsigned --round-trips 4 --consumers 1 \
    --providers 1 --window 1 --attachments-bytes "$size" --quiet --json "$OUT/attach-$size.json"
done
# One 1 GiB attachment as an MTOM part (streamed both ways; the target: RSS growth < 64 MiB).
run attach-1GiB-mtom "$LOAD" attachment --url http://127.0.0.1:7611/smev --demo-dir "$data/demo" \
  --server-pid "$server" --bytes 1073741824 --json "$OUT/attach-1GiB-mtom.json"
kill "$server"
wait "$server" 2>/dev/null || true
rm -rf "$data"

# §8 — REST round trips with server-held keys (the bus signs ЭП-ОВ) against signed SOAP round trips
# (the clients sign): one process, back to back, same clients and window, order SOAP, REST, REST,
# SOAP.
run rest-vs-soap "$LOAD" rest-compare --duration "$DURATION" "${clients[@]}" --rounds 2 \
  --quiet --json "$OUT/rest-vs-soap.json" || true

# §11 — push delivery to a loopback receiver against polling: the same 2,000 requests per mode
# (8 sends in flight), 4 pollers against 4 push channels (REST JSON, then SOAP), a fresh
# in-process server each.
run push-vs-poll "$LOAD" push-compare --quiet --json "$OUT/push-vs-poll.json" || true

echo "== reports in $OUT"
