#!/usr/bin/env bash
# Makes a local PostgreSQL ready for the tests (idempotent): installs Debian's `postgresql` when
# missing, starts its main cluster when it is not running, and creates the test role
# `opensmev_test` (a superuser: the tests create and drop a database per test). Then prints the
# connection string the tests read from OSMV_TEST_POSTGRES:
#   export OSMV_TEST_POSTGRES="$(bash scripts/postgres-setup.sh)"
# Everything else goes to stderr.
set -euo pipefail
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  echo "Installing PostgreSQL (Debian's postgresql)" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >&2
fi
version="$(ls /etc/postgresql | sort -V | tail -1)"
port="$(awk -F= '/^[[:space:]]*port[[:space:]]*=/{gsub(/[^0-9]/,"",$2); print $2; exit}' "/etc/postgresql/$version/main/postgresql.conf" 2>/dev/null || true)"
port="${port:-5432}"
if ! pg_isready -q -h 127.0.0.1 -p "$port" >/dev/null 2>&1; then
  echo "Starting PostgreSQL $version/main on port $port" >&2
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2 || true
fi
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 -p "$port" >/dev/null 2>&1 && break
  sleep 0.5
done
pg_isready -h 127.0.0.1 -p "$port" >&2
as_postgres() {
  if [ "$(id -un)" = postgres ]; then "$@"; else $SUDO runuser -u postgres -- "$@"; fi
}
as_postgres psql -q -p "$port" -v ON_ERROR_STOP=1 -d postgres >&2 <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'opensmev_test') THEN
    CREATE ROLE opensmev_test LOGIN SUPERUSER PASSWORD 'opensmev_test';
  END IF;
END
$$;
SQL
echo "host=127.0.0.1 port=$port user=opensmev_test password=opensmev_test dbname=postgres"
