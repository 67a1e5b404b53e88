#!/usr/bin/env bash
# Two nodes on one PostgreSQL database, one of them killed with SIGKILL under load.
#
# Makes a fresh database on the local PostgreSQL (socket /var/run/postgresql, role postgres),
# starts node A (`opensmev serve --demo`, store = that database, lease 5 s), copies A's data
# directory for node B (the demo keys and certificates must be the same on both nodes: the
# registry in the database names A's demo certificates, and B's `--demo` keeps a stored registry),
# starts node B, and runs `opensmev-load failover` across both: consumers and providers spread over
# the two nodes, `kill -9` of node A (the first --node: the one the load tool takes to be
# disrupted) at --at seconds, exact bookkeeping of every message. One second before the kill, the
# providers polling node A take LOST deliveries from it and never acknowledge them (as if their
# answers had gone down with A): each must come back after its lease through node B and be
# acknowledged once. Then it checks the database itself: no message acknowledged twice (at most
# one `acked`/`refused` journal event per message), every message the load tool was told was
# accepted (201) is acknowledged in the database, nothing left queued or leased, at least LOST
# `redelivered` events, and the journal of every lost message shows its first delivery on node-a
# and its redelivery and acknowledgement on node-b. Prints a summary; exits 1 when a check fails, 2 when
# the run cannot be set up. Kills what it started and drops the database (also on failure); the
# data directories and logs are kept on failure (the path is printed).
#
# Settings (environment):
#   DURATION=20 AT=8 CONSUMERS=4 PROVIDERS=4   the load and when node A is killed
#   LOST=4                                     deliveries lost with node A (--lost-deliveries); 0: none
#   LEASE=5 SWEEP_MS=200 WAIT=5                lease_seconds, sweep_interval_ms, ?wait= of receives
#   PGHOST=/var/run/postgresql PGPORT=5432 PGUSER=postgres   the PostgreSQL server (trust). When
#                                              that role cannot connect (Debian's default `peer`
#                                              for root) and OSMV_TEST_POSTGRES is set (the
#                                              key=value string of scripts/postgres-setup.sh), its
#                                              host, port, user and password are used instead
#   PROFILE=release                            release (built here, ~7 min on 2 cores from scratch) or
#                                              debug (what scripts/test.sh built; fewer messages/s)
#   BUILD=1                                    build first; 0: use target/$PROFILE as is
#   OUT=target/multinode                       where the load tool's JSON report is copied
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
started=$SECONDS

DURATION=${DURATION:-20}
AT=${AT:-8}
CONSUMERS=${CONSUMERS:-4}
PROVIDERS=${PROVIDERS:-4}
LOST=${LOST:-4}
LEASE=${LEASE:-5}
SWEEP_MS=${SWEEP_MS:-200}
WAIT=${WAIT:-5}
PG_HOST=${PGHOST:-/var/run/postgresql}
PG_PORT=${PGPORT:-5432}
PG_USER=${PGUSER:-postgres}
PG_PASSWORD=${PGPASSWORD:-}
BUILD=${BUILD:-1}
OUT=${OUT:-target/multinode}
PROFILE=${PROFILE:-release}
OPENSMEV=target/$PROFILE/opensmev
LOAD=target/$PROFILE/opensmev-load

say() { echo "== $*" >&2; }
die() {
  echo "multinode-test.sh: $*" >&2
  exit 2
}
# free_port, start_two_nodes, demo_tokens, run_load, ledger_sql, value, fail_check.
. scripts/lib/two-nodes.sh

for tool in psql createdb dropdb curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is needed (PostgreSQL client tools, curl)"
done
pg() { PGPASSWORD=$PG_PASSWORD psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -X -q -v ON_ERROR_STOP=1 "$@"; }
pgtool() {
  local tool=$1
  shift
  PGPASSWORD=$PG_PASSWORD "$tool" -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$@"
}
if ! pg -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && [ -n "${OSMV_TEST_POSTGRES:-}" ]; then
  # key=value pairs without quoting, as scripts/postgres-setup.sh prints them.
  for pair in $OSMV_TEST_POSTGRES; do
    case $pair in
      host=*) PG_HOST=${pair#host=} ;;
      port=*) PG_PORT=${pair#port=} ;;
      user=*) PG_USER=${pair#user=} ;;
      password=*) PG_PASSWORD=${pair#password=} ;;
    esac
  done
fi
pg -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 \
  || die "no PostgreSQL answers on $PG_HOST:$PG_PORT as $PG_USER (start it: bash scripts/postgres-setup.sh)"

if [ "$BUILD" = 1 ]; then
  say "building ($PROFILE)"
  case $PROFILE in
    release) cargo build --release --locked -p opensmev-cli -p opensmev-loadgen >&2 ;;
    debug) cargo build --locked -p opensmev-cli -p opensmev-loadgen >&2 ;;
    *) die "PROFILE is release or debug" ;;
  esac
fi
[ -x "$OPENSMEV" ] && [ -x "$LOAD" ] || die "$OPENSMEV and $LOAD are needed (BUILD=1)"

# Databases of earlier runs that were interrupted (their script is gone).
for old in $(pg -d postgres -Atc "SELECT datname FROM pg_database WHERE datname LIKE 'osmv\_multinode\_%'"); do
  pid=${old#osmv_multinode_}
  if ! kill -0 "$pid" 2>/dev/null; then
    say "dropping $old (left by an interrupted run)"
    pgtool dropdb --if-exists --force "$old" || true
  fi
done

db=osmv_multinode_$$
# Nodes left running by a run that was killed outright (no trap ran): their pids are in this file.
pidfile=${TMPDIR:-/tmp}/opensmev-multinode-test.pids
if [ -f "$pidfile" ]; then
  while read -r owner pid; do
    # Only nodes whose script is gone (another run may be going on).
    if [ -n "$pid" ] && ! kill -0 "$owner" 2>/dev/null \
      && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'opensmev serve'; then
      say "stopping node $pid (left by an interrupted run)"
      kill -9 "$pid" 2>/dev/null || true
    fi
  done <"$pidfile"
  # Keep the lines of runs still going.
  keep=$(while read -r owner pid; do
    if kill -0 "$owner" 2>/dev/null; then echo "$owner $pid"; fi
  done <"$pidfile")
  printf '%s\n' "$keep" | sed '/^$/d' >"$pidfile"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/opensmev-multinode.XXXXXX")
pid_a=
pid_b=
status=2
cleanup() {
  for pid in $pid_a $pid_b; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $pid_a $pid_b; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  sed -i "/^$$ /d" "$pidfile" 2>/dev/null || true
  [ -s "$pidfile" ] || rm -f "$pidfile"
  pgtool dropdb --if-exists --force "$db" 2>/dev/null || true
  if [ "$status" = 0 ]; then
    rm -rf "$work"
  else
    echo "multinode-test.sh: logs and data kept in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pgtool createdb "$db"
case $PG_HOST in
  /*) store="postgres:///$db?host=$PG_HOST&port=$PG_PORT&user=$PG_USER" ;;
  *) store="postgres://$PG_USER${PG_PASSWORD:+:$PG_PASSWORD}@$PG_HOST:$PG_PORT/$db" ;;
esac

start_two_nodes disown_a
demo_tokens
[ "$(token_of MFC01 "$work/node-b.out")" = "$consumer" ] \
  || die "node B printed other demo tokens than node A (the data directory copy is not the same demo)"

say "load: $CONSUMERS consumers, $PROVIDERS providers, $DURATION s, kill -9 of node A (pid $pid_a) at $AT s, $LOST deliveries lost with it"
run_load multinode "kill -9 $pid_a" --lost-deliveries "$LOST"
if kill -0 "$pid_a" 2>/dev/null; then
  echo "multinode-test.sh: node A is still running after the kill" >&2
fi
for _ in $(seq 50); do kill -0 "$pid_a" 2>/dev/null || break; sleep 0.1; done
pid_a=

# --- The database, checked directly.
say "checking the database"
checks=$({
  ledger_sql
  cat <<SQL
-- The deliveries lost with node A: each message's journal, by node.
CREATE TEMP TABLE lost AS
  SELECT l.id, m.seq,
         (SELECT count(*) FROM journal j WHERE j.message_seq = m.seq AND j.kind = 'delivered' AND j.node = 'node-a') AS delivered_a,
         (SELECT count(*) FROM journal j WHERE j.message_seq = m.seq AND j.kind = 'redelivered' AND j.node = 'node-b') AS redelivered_b,
         (SELECT count(*) FROM journal j WHERE j.message_seq = m.seq AND j.kind = 'redelivered' AND j.node IS DISTINCT FROM 'node-b') AS redelivered_elsewhere,
         (SELECT count(*) FROM journal j WHERE j.message_seq = m.seq AND j.kind = 'acked' AND j.node = 'node-b') AS acked_b,
         (SELECT count(*) FROM journal j WHERE j.message_seq = m.seq AND j.kind IN ('acked', 'refused')) AS acked_all
    FROM (SELECT jsonb_array_elements_text(coalesce(:'report'::jsonb -> 'lost_with_node' -> 'ids', '[]')) AS id) l
    LEFT JOIN messages m ON m.id = l.id;
SELECT 'lost', count(*) FROM lost;
SELECT 'lost_missing', count(*) FROM lost WHERE seq IS NULL;
SELECT 'lost_delivered_on_a', count(*) FROM lost WHERE delivered_a = 1;
SELECT 'lost_redelivered_on_b', count(*) FROM lost WHERE redelivered_b >= 1 AND redelivered_elsewhere = 0;
SELECT 'lost_acked_once_on_b', count(*) FROM lost WHERE acked_b = 1 AND acked_all = 1;
SELECT 'lost_journal', coalesce(string_agg(id || ': ' || (
    SELECT string_agg(j.kind || '@' || coalesce(j.node, '?') || coalesce('#' || j.attempt, ''), ' ' ORDER BY j.seq)
      FROM journal j WHERE j.message_seq = lost.seq), '; ' ORDER BY id), '')
  FROM lost;
SQL
} | pg -d "$db" -At -F '|')
[ "$(value acked_twice)" = 0 ] || fail_check "$(value acked_twice) messages with more than one acked/refused event"
[ "$(value accepted_not_acked)" = 0 ] || fail_check "$(value accepted_not_acked) accepted messages not acked in the database ($(value accepted_missing) of them not there at all)"
[ "$(value pending)" = 0 ] || fail_check "$(value pending) deliveries left queued or leased"
[ "$(value ledger_accepted)" -gt 0 ] || fail_check "the ledger accepted nothing"
if [ "$LOST" -gt 0 ]; then
  lost_n=$(value lost)
  [ "$lost_n" -ge "$LOST" ] || fail_check "$lost_n deliveries lost with node A, $LOST asked for"
  [ "$(value redelivered_events)" -ge "$LOST" ] \
    || fail_check "$(value redelivered_events) redelivered journal events, at least $LOST expected"
  [ "$(value lost_missing)" = 0 ] || fail_check "$(value lost_missing) lost messages not in the database"
  [ "$(value lost_delivered_on_a)" = "$lost_n" ] \
    || fail_check "$(value lost_delivered_on_a) of $lost_n lost messages first delivered on node-a: $(value lost_journal)"
  [ "$(value lost_redelivered_on_b)" = "$lost_n" ] \
    || fail_check "$(value lost_redelivered_on_b) of $lost_n lost messages redelivered on node-b (and nowhere else): $(value lost_journal)"
  [ "$(value lost_acked_once_on_b)" = "$lost_n" ] \
    || fail_check "$(value lost_acked_once_on_b) of $lost_n lost messages acknowledged once, on node-b: $(value lost_journal)"
fi

# The report's numbers, read by psql (no JSON tool needed).
summary=$(pg -d postgres -At -F '|' <<SQL
\\set report \`cat '$work/report.json'\`
SELECT r -> 'counts' ->> 'accepted', r -> 'counts' ->> 'redelivered', r -> 'counts' ->> 'lost_answers',
       r -> 'counts' ->> 'duplicate_acks', r -> 'counts' ->> 'acks_not_leased',
       r -> 'failover_gap' ->> 'seconds', r -> 'disruption_gap' ->> 'seconds', r -> 'longest_consumer_gap' -> 'gap' ->> 'seconds',
       r -> 'rates_per_s' -> 'before' ->> 'accepted', r -> 'rates_per_s' -> 'after_recovery' ->> 'accepted',
       r ->> 'drain_finished_s', r -> 'disruption' ->> 'exit_code', r ->> 'passed',
       r -> 'lost_with_node' ->> 'taken', r -> 'lost_with_node' -> 'redelivered_after_s' ->> 'min',
       r -> 'lost_with_node' -> 'redelivered_after_s' ->> 'max'
  FROM (SELECT :'report'::jsonb AS r) t;
SQL
)
IFS='|' read -r accepted redelivered lost dup_acks not_leased gap outage consumer_gap rate_before rate_after drained kill_rc passed \
  lost_taken lost_min lost_max <<<"$summary"

echo
echo "multinode summary: accepted $accepted, redelivered $redelivered, lost answers $lost, duplicate acks $dup_acks, late acks (SMEV-115) $not_leased"
printf 'longest gap %.3f s, around the kill %.3f s (longest of one consumer %.3f s); accepted/s before %.1f, after recovery %.1f; drained at %s s; kill exit %s\n' \
  "$gap" "$outage" "$consumer_gap" "$rate_before" "$rate_after" "$drained" "$kill_rc"
if [ -n "$lost_min" ]; then
  lost_delay=$(printf '%.3f–%.3f s' "$lost_min" "$lost_max")
else
  lost_delay=-
fi
echo "lost with node A: ${lost_taken:-0} of $LOST asked for; redelivered through node B after $lost_delay (lease $LEASE s); in the journal: $(value lost_delivered_on_a) first delivered on node-a, $(value lost_redelivered_on_b) redelivered on node-b, $(value lost_acked_once_on_b) acked once on node-b"
[ "$LOST" = 0 ] || echo "journal of the lost messages (kind@node#attempt): $(value lost_journal)"
echo "database: $(value db_messages) messages, $(value db_acked) acked, $(value redelivered_events) redelivered events, acks by node: $(value acked_by_node), $(value not_in_ledger) not in the ledger (lost answers)"
echo "load tool verdict: $passed (exit $load_rc); database checks: $([ "$db_status" = 0 ] && echo passed || echo FAILED); $((SECONDS - started)) s"

if [ "$load_rc" = 0 ] && [ "$db_status" = 0 ]; then
  status=0
else
  status=1
fi
exit "$status"
