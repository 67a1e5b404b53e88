#!/usr/bin/env bash
# PostgreSQL failover under load: zero acknowledged messages lost.
#
# Builds, on this machine, with Debian's postgresql-common, a PostgreSQL primary (cluster
# `osmvprimary`, port 5441) and a synchronous streaming replica (`osmvreplica`, port 5442, made
# with pg_basebackup -R, application_name=osmvreplica), checks that pg_stat_replication shows the
# replica `sync`, creates the database `opensmev` on the primary, and starts two `opensmev serve
# --demo` nodes whose store names both servers with target_session_attrs=read-write (B gets a
# copy of A's data directory: the same demo keys and certificates). Then `opensmev-load failover`
# runs across both nodes and, at --at seconds, stops the primary with `-m immediate` and promotes
# the replica. Afterwards, on the promoted replica: no message acknowledged twice (at most one
# `acked`/`refused` journal event per message), every message the load tool was told was accepted
# (201) is there and acknowledged, nothing left queued or leased.
#
# Run as root. The clusters are dropped at the end, also on failure, and leftovers of an
# interrupted run are dropped at the start; the main cluster (5432) is not touched. Exits 1 when a
# check fails, 2 when the run cannot be set up. Logs are kept on failure (the path is printed).
#
# Settings (environment):
#   PG_VERSION=<newest installed> PRIMARY_PORT=5441 REPLICA_PORT=5442
#   DURATION=20 AT=8 CONSUMERS=4 PROVIDERS=4 LEASE=5 SWEEP_MS=200 WAIT=5
#   PROFILE=release                            release (built here, ~7 min on 2 cores from scratch) or
#                                              debug (what scripts/test.sh built; fewer messages/s)
#   BUILD=1                                    build first; 0: use target/$PROFILE as is
#   OUT=target/multinode   where the load tool's JSON report is copied
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
started=$SECONDS

# The newest PostgreSQL installed (15 on this project's machines).
PG_VERSION=${PG_VERSION:-$(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1)}
PG_VERSION=${PG_VERSION:-15}
PRIMARY_PORT=${PRIMARY_PORT:-5441}
REPLICA_PORT=${REPLICA_PORT:-5442}
DURATION=${DURATION:-20}
AT=${AT:-8}
CONSUMERS=${CONSUMERS:-4}
PROVIDERS=${PROVIDERS:-4}
LEASE=${LEASE:-5}
SWEEP_MS=${SWEEP_MS:-200}
WAIT=${WAIT:-5}
BUILD=${BUILD:-1}
OUT=${OUT:-target/multinode}
PROFILE=${PROFILE:-release}
OPENSMEV=target/$PROFILE/opensmev
LOAD=target/$PROFILE/opensmev-load
PRIMARY=osmvprimary
REPLICA=osmvreplica

say() { echo "== $*" >&2; }
die() {
  echo "failover-test.sh: $*" >&2
  exit 2
}
# free_port, start_two_nodes, demo_tokens, run_load, ledger_sql, value, fail_check.
. scripts/lib/two-nodes.sh

[ "$(id -u)" = 0 ] || die "run as root (it creates PostgreSQL clusters with pg_createcluster)"
for tool in pg_createcluster pg_ctlcluster pg_dropcluster pg_lsclusters psql createdb curl runuser; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is needed (Debian's postgresql-common, postgresql-$PG_VERSION, curl)"
done
[ -x "/usr/lib/postgresql/$PG_VERSION/bin/pg_basebackup" ] || die "PostgreSQL $PG_VERSION is not installed"
BASEBACKUP=/usr/lib/postgresql/$PG_VERSION/bin/pg_basebackup

pgc() { pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$@"; }
# psql on a port over TCP as postgres (trust).
pgp() {
  local port=$1
  shift
  psql -h 127.0.0.1 -p "$port" -U postgres -X -q -v ON_ERROR_STOP=1 "$@"
}
cluster_exists() { pg_lsclusters -h 2>/dev/null | awk -v v="$PG_VERSION" -v c="$1" '$1 == v && $2 == c { found = 1 } END { exit !found }'; }
drop_clusters() {
  for c in $REPLICA $PRIMARY; do
    if cluster_exists "$c"; then
      pgc "$c" stop -m immediate >/dev/null 2>&1 || true
      pg_dropcluster --stop "$PG_VERSION" "$c" >/dev/null 2>&1 || pg_dropcluster "$PG_VERSION" "$c" || true
    fi
  done
}

if [ "$BUILD" = 1 ]; then
  say "building ($PROFILE)"
  case $PROFILE in
    release) cargo build --release --locked -p opensmev-cli -p opensmev-loadgen >&2 ;;
    debug) cargo build --locked -p opensmev-cli -p opensmev-loadgen >&2 ;;
    *) die "PROFILE is release or debug" ;;
  esac
fi
[ -x "$OPENSMEV" ] && [ -x "$LOAD" ] || die "$OPENSMEV and $LOAD are needed (BUILD=1)"

if cluster_exists $PRIMARY || cluster_exists $REPLICA; then
  say "dropping the clusters of an interrupted run"
  drop_clusters
fi
for port in "$PRIMARY_PORT" "$REPLICA_PORT"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    die "127.0.0.1:$port is in use (set PRIMARY_PORT / REPLICA_PORT)"
  fi
done

# Nodes left running by a run that was killed outright (no trap ran): their pids are in this file.
pidfile=${TMPDIR:-/tmp}/opensmev-failover-test.pids
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
work=$(mktemp -d "${TMPDIR:-/tmp}/opensmev-failover.XXXXXX")
chmod 755 "$work"
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
  if [ "$status" != 0 ]; then
    for c in $PRIMARY $REPLICA; do
      cp "/var/log/postgresql/postgresql-$PG_VERSION-$c.log" "$work/" 2>/dev/null || true
    done
  fi
  drop_clusters
  if [ "$status" = 0 ]; then
    rm -rf "$work"
  else
    echo "failover-test.sh: logs kept in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- The primary.
hba() {
  cat >"/etc/postgresql/$PG_VERSION/$1/pg_hba.conf" <<'HBA'
# failover-test.sh: loopback only, trust.
local   all             all                     trust
local   replication     all                     trust
host    all             all     127.0.0.1/32    trust
host    replication     all     127.0.0.1/32    trust
host    all             all     ::1/128         trust
host    replication     all     ::1/128         trust
HBA
}
say "primary: cluster $PG_VERSION/$PRIMARY on port $PRIMARY_PORT"
pg_createcluster "$PG_VERSION" $PRIMARY -p "$PRIMARY_PORT" --start-conf=manual >"$work/createcluster.log" 2>&1 \
  || { cat "$work/createcluster.log" >&2; die "pg_createcluster $PRIMARY failed"; }
hba $PRIMARY
cat >"/etc/postgresql/$PG_VERSION/$PRIMARY/conf.d/failover-test.conf" <<CONF
listen_addresses = '127.0.0.1'
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 5
wal_keep_size = 256MB
synchronous_standby_names = '$REPLICA'
synchronous_commit = on
max_connections = 100
CONF
pgc $PRIMARY start

# --- The synchronous replica.
say "replica: cluster $PG_VERSION/$REPLICA on port $REPLICA_PORT (pg_basebackup of the primary)"
pg_createcluster "$PG_VERSION" $REPLICA -p "$REPLICA_PORT" --start-conf=manual >>"$work/createcluster.log" 2>&1 \
  || { cat "$work/createcluster.log" >&2; die "pg_createcluster $REPLICA failed"; }
hba $REPLICA
cat >"/etc/postgresql/$PG_VERSION/$REPLICA/conf.d/failover-test.conf" <<CONF
listen_addresses = '127.0.0.1'
shared_buffers = 32MB
wal_level = replica
max_wal_senders = 5
hot_standby = on
max_connections = 100
CONF
replica_data=$(pg_lsclusters -h | awk -v v="$PG_VERSION" -v c=$REPLICA '$1 == v && $2 == c { print $6 }')
[ -n "$replica_data" ] && [ -d "$replica_data" ] || die "no data directory for $REPLICA"
# Emptied, not removed: postgres may not create directories in /var/lib/postgresql/<version>.
find "$replica_data" -mindepth 1 -delete
runuser -u postgres -- "$BASEBACKUP" -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres -D "$replica_data" -R -X stream \
  >"$work/basebackup.log" 2>&1 || { cat "$work/basebackup.log" >&2; die "pg_basebackup failed"; }
# The later line of postgresql.auto.conf wins: the replica names itself as the primary expects.
echo "primary_conninfo = 'host=127.0.0.1 port=$PRIMARY_PORT user=postgres application_name=$REPLICA'" \
  >>"$replica_data/postgresql.auto.conf"
pgc $REPLICA start

sync_state=
for _ in $(seq 100); do
  sync_state=$(pgp "$PRIMARY_PORT" -d postgres -Atc "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$REPLICA'" 2>/dev/null || true)
  [ "$sync_state" = sync ] && break
  sleep 0.2
done
[ "$sync_state" = sync ] || die "the replica is not synchronous (pg_stat_replication: '${sync_state:-no row}')"
say "pg_stat_replication: $REPLICA is $sync_state"
createdb -h 127.0.0.1 -p "$PRIMARY_PORT" -U postgres opensmev
store="postgres://postgres@127.0.0.1:$PRIMARY_PORT,127.0.0.1:$REPLICA_PORT/opensmev?target_session_attrs=read-write"

# --- The nodes.
start_two_nodes
demo_tokens

disruption="pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $PRIMARY stop -m immediate && pg_ctlcluster --skip-systemctl-redirect $PG_VERSION $REPLICA promote"
say "load: $CONSUMERS consumers, $PROVIDERS providers, $DURATION s; at $AT s: $disruption"
run_load failover "$disruption"

# --- The promoted replica, checked directly.
say "checking the promoted replica (port $REPLICA_PORT)"
in_recovery=$(pgp "$REPLICA_PORT" -d opensmev -Atc 'SELECT pg_is_in_recovery()' 2>/dev/null || echo unreachable)
primary_down=$(pgp "$PRIMARY_PORT" -d postgres -Atc 'SELECT 1' >/dev/null 2>&1 && echo no || echo yes)
checks=$(ledger_sql | pgp "$REPLICA_PORT" -d opensmev -At -F '|') || { status=1; die "the promoted replica could not be queried"; }
[ "$in_recovery" = f ] || fail_check "the replica was not promoted (pg_is_in_recovery: $in_recovery)"
[ "$primary_down" = yes ] || fail_check "the old primary still answers"
[ "$(value acked_twice)" = 0 ] || fail_check "$(value acked_twice) messages with more than one acked/refused event"
[ "$(value accepted_missing)" = 0 ] || fail_check "$(value accepted_missing) accepted messages LOST (not in the promoted database)"
[ "$(value accepted_not_acked)" = 0 ] || fail_check "$(value accepted_not_acked) accepted messages not acked in the database"
[ "$(value pending)" = 0 ] || fail_check "$(value pending) deliveries left queued or leased"
[ "$(value ledger_accepted)" -gt 0 ] || fail_check "the ledger accepted nothing"

summary=$(pgp "$REPLICA_PORT" -d postgres -At -F '|' <<SQL
\\set report \`cat '$work/report.json'\`
SELECT r -> 'counts' ->> 'accepted', r -> 'counts' ->> 'redelivered', r -> 'counts' ->> 'lost_answers',
       r -> 'counts' ->> 'accepted_on_retry', r -> 'counts' ->> 'duplicate_acks',
       r -> 'failover_gap' ->> 'seconds', r -> 'disruption_gap' ->> 'seconds', r -> 'failover_gap' ->> 'from_s', r -> 'failover_gap' ->> 'to_s',
       r -> 'rates_per_s' -> 'before' ->> 'accepted', r -> 'rates_per_s' -> 'after_recovery' ->> 'accepted',
       r ->> 'drain_finished_s', r -> 'disruption' ->> 'exit_code', r ->> 'passed'
  FROM (SELECT :'report'::jsonb AS r) t;
SQL
)
IFS='|' read -r accepted redelivered lost on_retry dup_acks gap outage gap_from gap_to rate_before rate_after drained cmd_rc passed <<<"$summary"

echo
echo "failover summary: accepted $accepted ($on_retry known by a duplicate answer after a lost one), redelivered $redelivered, lost answers $lost, duplicate acks $dup_acks"
printf 'longest gap %.3f s (%.3f–%.3f s), around the failover %.3f s; accepted/s before %.1f, after recovery %.1f; drained at %s s; stop+promote exit %s\n' \
  "$gap" "$gap_from" "$gap_to" "$outage" "$rate_before" "$rate_after" "$drained" "$cmd_rc"
echo "promoted replica: $(value db_messages) messages, $(value db_acked) acked, accepted and missing $(value accepted_missing), $(value redelivered_events) redelivered events, acks by node: $(value acked_by_node), $(value not_in_ledger) not in the ledger (lost answers)"
echo "load tool verdict: $passed (exit $load_rc); database checks: $([ "$db_status" = 0 ] && echo passed || echo FAILED); $((SECONDS - started)) s"

if [ "$load_rc" = 0 ] && [ "$db_status" = 0 ]; then
  status=0
else
  status=1
fi
exit "$status"
