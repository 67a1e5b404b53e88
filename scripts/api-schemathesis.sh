#!/usr/bin/env bash
# The REST API against its own OpenAPI document: runs Schemathesis (property-based tests generated
# from /api/v1/openapi.json) against a fresh `opensmev serve --demo` on loopback, with the demo
# admin token and with each of the demo IS tokens MFC01 and PFR01 (the IS endpoints answer only
# an IS token), after a round trip through the API that leaves messages to find. Every response
# must be no 5xx, of a documented status and content type, and match the documented schema and
# headers; exits 1 on any failure, 2 when the run cannot be set up.
#
# Needs only loopback and PyPI (Schemathesis is installed into target/schemathesis-venv).
#
# Settings (environment):
#   EXAMPLES=100         the most test cases per operation and phase
#   SEED=1               the generation seed (a fixed one: the run is repeatable)
#   CHECKS=…             the Schemathesis checks (default: those named at the run below)
#   REPORT=target/schemathesis-report  where the JUnit and NDJSON reports go
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${EXAMPLES:-100}
SEED=${SEED:-1}
CHECKS=${CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance,missing_required_header,unsupported_method,ignored_auth}
REPORT=${REPORT:-target/schemathesis-report}
VENV=target/schemathesis-venv
OPENSMEV=target/debug/opensmev
started=$(date +%s)

# --- Schemathesis, in a virtualenv of the first python3 on PATH (pyenv's or Debian's).
PYTHON=$(command -v python3 || true)
if [ -z "$PYTHON" ]; then
  echo "api-schemathesis.sh: python3 is needed" >&2
  exit 2
fi
make_venv() {
  rm -rf "$VENV"
  "$1" -m venv "$VENV" >/dev/null 2>&1
}
if [ ! -x "$VENV/bin/schemathesis" ] \
  || [ "$("$VENV/bin/schemathesis" --version 2>/dev/null | awk '{print $NF}')" != "$SCHEMATHESIS_VERSION" ]; then
  echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV" >&2
  if ! make_venv "$PYTHON"; then
    # Debian's python3 has venv (ensurepip) in a package of its own.
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
    fi
    if ! make_venv "$PYTHON" && ! { [ -x /usr/bin/python3 ] && make_venv /usr/bin/python3; }; then
      echo "api-schemathesis.sh: '$PYTHON -m venv' fails; install python3-venv" >&2
      exit 2
    fi
  fi
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
    "schemathesis==$SCHEMATHESIS_VERSION" >&2
fi

# --- The server.
echo "== building opensmev" >&2
cargo build --locked -p opensmev-cli >&2

port=$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
data=$(mktemp -d "${TMPDIR:-/tmp}/opensmev-schemathesis.XXXXXX")
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  rm -rf "$data"
}
trap cleanup EXIT

echo "== starting the demo server on $base" >&2
# Long polls (`wait`) of at most a second: a generated `wait=60` must not hold the run a minute.
OPENSMEV_API_MAX_POLL_WAIT_SECONDS=1 "$OPENSMEV" serve --demo --data-dir "$data/store" --listen "127.0.0.1:$port" \
  >"$data/stdout" 2>"$data/stderr" &
server=$!

ready=
for _ in $(seq 1 600); do
  if ! kill -0 "$server" 2>/dev/null; then
    break
  fi
  if curl -fsS -o /dev/null "$base/health/ready" 2>/dev/null; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "api-schemathesis.sh: the server did not become ready; its output:" >&2
  cat "$data/stdout" "$data/stderr" >&2
  exit 2
fi

token_of() {
  awk -v holder="$1" '$1 == holder && $2 ~ /^osmv_/ { print $2; exit }' "$data/stdout"
}

# call STATUS HOLDER METHOD PATH [curl options…]: one API call that must answer STATUS; prints
# the answer's body.
call() {
  local expected=$1 holder=$2 method=$3 path=$4 got
  shift 4
  got=$(curl -sS -o "$data/answer" -w '%{http_code}' -X "$method" \
    -H "Authorization: Bearer $(token_of "$holder")" "$@" "$base$path")
  if [ "$got" != "$expected" ]; then
    echo "api-schemathesis.sh: $holder $method $path answered $got, not $expected:" >&2
    cat "$data/answer" >&2
    echo >&2
    exit 2
  fi
  cat "$data/answer"
}

# --- Messages for the runs to find: a request of MFC01 to PFR01 sent as XML, then answered by
# PFR01; another sent as JSON, waiting for PFR01. So the journal has items and timelines, MFC01
# has a response and status notices to receive, PFR01 a request.
demo=$(awk '/\/registry\.toml/ { print $1; exit }' "$data/stdout")
demo=${demo%/registry.toml}
kind=VS00001v001-PFR001
echo "== sending the messages the runs find (demo in $demo)" >&2
call 201 MFC01 POST '/api/v1/requests?client_id=seed-xml' \
  -H 'Content-Type: application/xml' --data-binary "@$demo/examples/$kind/request.xml" >/dev/null
"$VENV/bin/python" -c 'import json, sys; print(json.dumps({"business_xml": open(sys.argv[1]).read(), "client_id": "seed-json", "test_message": True}))' \
  "$demo/examples/$kind/request.xml" >"$data/request.json"
call 201 MFC01 POST /api/v1/requests \
  -H 'Content-Type: application/json' --data-binary "@$data/request.json" >/dev/null
request=$(call 200 PFR01 POST /api/v1/inbox/requests/next \
  | "$VENV/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["message_id"])')
call 201 PFR01 POST "/api/v1/requests/$request/response?client_id=seed-response" \
  -H 'Content-Type: application/xml' --data-binary "@$demo/examples/$kind/response.xml" >/dev/null
call 204 PFR01 POST "/api/v1/messages/$request/ack" >/dev/null

# --- The runs.
# The registry document goes as text: Schemathesis knows no TOML serializer of its own.
cat >"$data/opensmev_schemathesis_hooks.py" <<'PY'
import schemathesis

schemathesis.serializer.alias("application/toml", "text/plain")
PY
export PYTHONPATH="$data" SCHEMATHESIS_HOOKS=opensmev_schemathesis_hooks
REPORT=$(mkdir -p "$REPORT" && cd "$REPORT" && pwd)
# Schemathesis keeps its cache of failures (for `st replay`) in the working directory.
WORK=$(mkdir -p target/schemathesis-work && cd target/schemathesis-work && pwd)
SCHEMATHESIS=$(cd "$VENV/bin" && pwd)/schemathesis

# run NAME HOLDER [filter options…]: one Schemathesis run with the demo token of HOLDER.
status=0
run() {
  local name=$1 holder=$2 token
  shift 2
  token=$(token_of "$holder")
  if [ -z "$token" ]; then
    echo "api-schemathesis.sh: no demo token for $holder in the server's output:" >&2
    cat "$data/stdout" >&2
    exit 2
  fi
  echo "== schemathesis: $name (the $holder token)" >&2
  # The checks: no 5xx; only documented statuses, content types, bodies and headers; 401 without
  # the token where the document asks for one; 405 with Allow for undocumented methods. The
  # data-acceptance checks (positive_data_acceptance, negative_data_rejection) are left out: a
  # body the schema allows is still refused by rules of the bus the document does not hold (an
  # XML of no kind of information, a MessageID that names no message), and some refusals are
  # not 4xx by design (an IS asking for another system's messages gets an empty page).
  # One worker: CPython 3.11 before 3.11.8 (pyenv's 3.11.7 here) fails in ast.parse when two
  # threads parse at once ("AST constructor recursion depth mismatch"), and Hypothesis does.
  if ! (cd "$WORK" && "$SCHEMATHESIS" run "$base/api/v1/openapi.json" \
    --url "$base" \
    -H "Authorization: Bearer $token" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" \
    --seed "$SEED" \
    --workers 1 \
    --request-timeout 30 \
    --generation-database none \
    --suppress-health-check too_slow,filter_too_much \
    --warnings off \
    --no-color \
    --report junit,ndjson \
    --report-junit-path "$REPORT/$name.junit.xml" \
    --report-ndjson-path "$REPORT/$name.ndjson" \
    "$@"); then
    status=1
  fi
}

# Destructive operations go last, each in a run of its own: a registry that is accepted
# replaces the demo one (the IS tokens lose their system), and a revoked token is the run's own
# token as often as not (Schemathesis takes the ids from GET /api/v1/tokens).
run admin admin --exclude-operation-id import --exclude-operation-id revoke_token
run is-consumer MFC01
run is-provider PFR01
# Had a run lost its token, every answer would have been a 401, which the document allows.
for holder in admin MFC01 PFR01; do
  if ! (call 200 "$holder" GET /api/v1/me >/dev/null); then
    status=1
  fi
done
run admin-registry admin --include-operation-id import
run admin-revoke admin --include-operation-id revoke_token

if ! kill -0 "$server" 2>/dev/null; then
  echo "api-schemathesis.sh: the server stopped during the run; its log:" >&2
  tail -50 "$data/stderr" >&2
  status=1
fi
echo "== api-schemathesis.sh: $(( $(date +%s) - started )) s, $([ "$status" = 0 ] && echo passed || echo FAILED)" >&2
exit "$status"
