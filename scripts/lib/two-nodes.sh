# Shared by scripts/multinode-test.sh and scripts/failover-test.sh (sourced, not run): two
# `opensmev serve --demo` nodes on one store, `opensmev-load failover` across them, and the SQL
# that checks the database against the load tool's ledger afterwards.
#
# The caller sets: $store (the nodes' OPENSMEV_STORE), $work (a scratch directory), $pidfile
# (where node pids are recorded for clean-up after an interrupted run), $OPENSMEV, $LOAD, $OUT,
# LEASE, SWEEP_MS, WAIT, CONSUMERS, PROVIDERS, DURATION, AT; and defines `die` and `say`.

# A free port on 127.0.0.1 (nothing answers on it).
free_port() {
  local p
  for _ in $(seq 100); do
    p=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "no free port"
}

# start_node NAME DIR PORT: a node in the background; its pid in $started_pid.
start_node() {
  local name=$1 dir=$2 port=$3
  OPENSMEV_STORE="$store" OPENSMEV_NODE_NAME="$name" OPENSMEV_LEASE_SECONDS="$LEASE" \
    OPENSMEV_SWEEP_INTERVAL_MS="$SWEEP_MS" \
    "$OPENSMEV" serve --demo --data-dir "$dir" --listen "127.0.0.1:$port" \
    >"$work/$name.out" 2>"$work/$name.err" &
  started_pid=$!
}

# wait_ready NAME PID PORT: until the node answers /health/ready (exit 2 if it dies or never does).
wait_ready() {
  local name=$1 pid=$2 port=$3
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || break
    curl -fsS -o /dev/null "http://127.0.0.1:$port/health/ready" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "${0##*/}: $name did not become ready; its output:" >&2
  tail -n 40 "$work/$name.out" "$work/$name.err" >&2
  exit 2
}

# start_two_nodes: node A, then node B on a copy of A's data directory (the demo keys and
# certificates must be the same on both nodes: the registry in the store names A's, and B's
# `--demo` keeps a stored registry). Sets port_a, port_b, pid_a, pid_b; `disown_a` disowns A
# (a test that kills it does not want the shell's "Killed" notice).
start_two_nodes() {
  port_a=$(free_port)
  port_b=$(free_port)
  [ "$port_a" != "$port_b" ] || port_b=$((port_a + 1))
  say "node A on 127.0.0.1:$port_a"
  start_node node-a "$work/a" "$port_a"
  pid_a=$started_pid
  echo "$$ $pid_a" >>"$pidfile"
  [ "${1:-}" = disown_a ] && disown "$pid_a"
  wait_ready node-a "$pid_a" "$port_a"
  cp -a "$work/a" "$work/b"
  rm -rf "$work/b/spool" "$work/b/cache"
  say "node B on 127.0.0.1:$port_b (a copy of A's data directory)"
  start_node node-b "$work/b" "$port_b"
  pid_b=$started_pid
  echo "$$ $pid_b" >>"$pidfile"
  wait_ready node-b "$pid_b" "$port_b"
}

token_of() {
  awk -v holder="$1" '$1 == holder && $2 ~ /^osmv_/ { print $2; exit }' "$2"
}

# demo_tokens: the consumer's and the provider's demo API tokens, as node A printed them.
demo_tokens() {
  consumer=$(token_of MFC01 "$work/node-a.out")
  provider=$(token_of PFR01 "$work/node-a.out")
  [ -n "$consumer" ] && [ -n "$provider" ] || die "no demo tokens in node A's output ($work/node-a.out)"
}

# run_load NAME DISRUPTION [MORE ARGS]: `opensmev-load failover` across both nodes with the
# disruption at $AT s; its exit code in $load_rc, its report in $work/report.json (copied to
# $OUT/NAME-report.json). Exits 2 when the load tool could not run.
run_load() {
  local name=$1 disruption=$2
  shift 2
  load_rc=0
  "$LOAD" failover \
    --node "http://127.0.0.1:$port_a" --node "http://127.0.0.1:$port_b" \
    --consumer-token "$consumer" --provider-token "$provider" \
    --consumers "$CONSUMERS" --providers "$PROVIDERS" \
    --duration "$DURATION" --at "$AT" --run "$disruption" \
    --lease-seconds "$LEASE" --wait "$WAIT" "$@" \
    --out "$work/report.json" --quiet >"$work/load.txt" 2>"$work/load.err" || load_rc=$?
  cat "$work/load.txt"
  if [ "$load_rc" = 2 ] || [ ! -s "$work/report.json" ]; then
    cat "$work/load.err" >&2
    die "the load tool could not run (exit $load_rc)"
  fi
  mkdir -p "$OUT"
  cp "$work/report.json" "$OUT/$name-report.json"
}

# ledger_sql: the queries (for `psql -At -F '|'` on the store's database) that compare it with
# the ledger: `key|value` lines read back with `value KEY`.
ledger_sql() {
  cat <<SQL
\\set report \`cat '$work/report.json'\`
CREATE TEMP TABLE ledger AS
  SELECT jsonb_array_elements_text(:'report'::jsonb -> 'accepted_ids') AS id;
SELECT 'ledger_accepted', count(*) FROM ledger;
SELECT 'db_messages', count(*) FROM messages;
SELECT 'db_acked', count(*) FROM deliveries WHERE state = 'acked';
SELECT 'acked_twice', count(*) FROM (
  SELECT message_seq FROM journal WHERE kind IN ('acked', 'refused')
  GROUP BY message_seq HAVING count(*) > 1) t;
SELECT 'accepted_not_acked', count(*) FROM ledger l
  LEFT JOIN messages m ON m.id = l.id
  LEFT JOIN deliveries d ON d.message_seq = m.seq
  WHERE d.state IS DISTINCT FROM 'acked';
SELECT 'accepted_missing', count(*) FROM ledger l
  WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = l.id);
SELECT 'pending', count(*) FROM deliveries WHERE state IN ('queued', 'leased');
SELECT 'not_in_ledger', count(*) FROM messages m
  WHERE NOT EXISTS (SELECT 1 FROM ledger l WHERE l.id = m.id);
SELECT 'redelivered_events', count(*) FROM journal WHERE kind = 'redelivered';
SELECT 'acked_by_node', coalesce(string_agg(node || '=' || n, ' ' ORDER BY node), '')
  FROM (SELECT coalesce(node, '?') AS node, count(*) AS n FROM journal WHERE kind = 'acked' GROUP BY 1) t;
SQL
}

value() { awk -F '|' -v k="$1" '$1 == k { print $2 }' <<<"$checks"; }

db_status=0
fail_check() {
  echo "FAIL (database): $*"
  db_status=1
}
