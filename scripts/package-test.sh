#!/usr/bin/env bash
# Builds the Debian package with cargo-deb, installs it (dpkg -i) and tries it as installed,
# without systemctl: the installed binary, as the opensmev user, with the installed configuration
# (/etc/opensmev/opensmev.toml and the bus key made by the package's postinst) must answer ?wsdl
# and pass `opensmev doctor`; a call in flight when SIGTERM arrives must still be answered, and
# the server must then exit 0 with its store readable. Called by .ci/run after the tests;
# runs on a fresh Debian 12 machine as root. Installs the package system-wide.
#
# Settings (environment):
#   PORT=7500   the port of the sample configuration (must be free; the sample listens on it)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
PORT=${PORT:-7500}

if [ "$(id -u)" -ne 0 ]; then
  echo "package-test: must run as root (it installs the package)" >&2
  exit 2
fi
bash scripts/install-deps.sh
# dpkg-shlibdeps (the package's $auto dependencies) is in dpkg-dev.
if ! command -v dpkg-shlibdeps >/dev/null 2>&1; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dpkg-dev
fi
if ! cargo deb --version >/dev/null 2>&1; then
  echo "== installing cargo-deb"
  cargo install cargo-deb --locked
fi

echo "== cargo deb -p opensmev-cli"
deb=$(cargo deb -p opensmev-cli --locked | tail -n 1)
[ -f "$deb" ] || { echo "package-test: cargo deb did not name a package: $deb" >&2; exit 1; }
echo "== $deb"
dpkg-deb --info "$deb"
dpkg-deb --contents "$deb"

echo "== dpkg -i"
# A server started by an earlier run must not hold the port.
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "package-test: 127.0.0.1:$PORT is already in use; stop what listens there or set PORT" >&2
  exit 2
fi
DEBIAN_FRONTEND=noninteractive dpkg -i "$deb"

fail() {
  echo "package-test: FAILED: $*" >&2
  [ -f "${log:-}" ] && { echo "--- server log" >&2; cat "$log" >&2; }
  exit 1
}

getent passwd opensmev >/dev/null || fail "no opensmev user"
[ "$(stat -c %U /var/lib/opensmev)" = opensmev ] || fail "/var/lib/opensmev is not owned by opensmev"
[ -f /var/lib/opensmev/keys/key.pem ] || fail "postinst made no bus key"
[ "$(stat -c %U:%a /var/lib/opensmev/keys/key.pem)" = opensmev:600 ] \
  || fail "the bus key is not opensmev's with mode 600"
[ -f /lib/systemd/system/opensmev.service ] || fail "no systemd unit"
dpkg-query -W -f='${Conffiles}\n' opensmev | grep -q /etc/opensmev/opensmev.toml \
  || fail "/etc/opensmev/opensmev.toml is not a conffile"
# The package owns /usr/bin/opensmev (a developer's ~/.cargo/bin/opensmev may come first on this
# script's PATH; the system PATH of the service and of users finds /usr/bin).
[ -x /usr/bin/opensmev ] || fail "the package installed no executable /usr/bin/opensmev"
[ "$(dpkg -S /usr/bin/opensmev 2>/dev/null | cut -d: -f1)" = opensmev ] \
  || fail "/usr/bin/opensmev does not belong to the opensmev package"
[ "$(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin sh -c 'command -v opensmev')" = /usr/bin/opensmev ] \
  || fail "opensmev is not /usr/bin/opensmev on the system PATH"

# The sample configuration listens on 127.0.0.1:7500; a different PORT goes in by the variable.
config=/etc/opensmev/opensmev.toml
run_as() { runuser -u opensmev -- env OPENSMEV_LISTEN="127.0.0.1:$PORT" "$@"; }
# `opensmev [ARGS] doctor` with the installed configuration, as opensmev; its exit code in $code.
doctor() {
  set +e
  run_as /usr/bin/opensmev "$@" doctor --config "$config"
  code=$?
  set -e
}

echo "== opensmev doctor before the first start (as opensmev)"
doctor
# A fresh installation: no store and no registry yet are warnings (exit 1), nothing may fail.
[ "$code" -le 1 ] || fail "opensmev doctor exit $code before the first start"

echo "== starting the installed binary as opensmev (no systemctl)"
log=$(mktemp /tmp/opensmev-package-test.XXXXXX.log)
chmod 644 "$log"
# setpriv execs the server (runuser would stay its parent and turn SIGTERM into SIGKILL after 2 s).
OPENSMEV_LISTEN="127.0.0.1:$PORT" setpriv --reuid=opensmev --regid=opensmev --init-groups \
  /usr/bin/opensmev serve --config "$config" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
url="http://127.0.0.1:$PORT/smev/v1.2/ws"
for _ in $(seq 100); do
  curl -fsS -o /dev/null "$url?wsdl" 2>/dev/null && break
  kill -0 "$server" 2>/dev/null || fail "the server exited at start"
  sleep 0.1
done
wsdl=$(curl -fsS "$url?wsdl") || fail "no answer to ?wsdl"
grep -q 'definitions' <<<"$wsdl" || fail "?wsdl is not a WSDL"
grep -q "127.0.0.1:$PORT/smev/v1.2/ws" <<<"$wsdl" || fail "the WSDL does not name this server"
echo "?wsdl answered ($(wc -c <<<"$wsdl") bytes)"

echo "== opensmev doctor on the running server (as opensmev)"
doctor
# The registry is still missing (a warning); the store, the key and the address must be fine.
[ "$code" -le 1 ] || fail "opensmev doctor exit $code on the running server"
report=$(run_as /usr/bin/opensmev --lang en doctor --config "$config" || true)
grep -q '^OK .*running OpenSMEV' <<<"$report" || fail "doctor does not see the running server on its address"

echo "== SIGTERM during a call in flight"
# A 48 KiB body sent at 16 KiB/s: still uploading when SIGTERM arrives; the call must be answered
# (a SOAP fault: it is not a valid message) before the server exits.
body=$(mktemp /tmp/opensmev-package-body.XXXXXX)
{
  printf '<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><!--'
  head -c 49152 /dev/zero | tr '\0' 'x'
  printf -- '--></s:Body></s:Envelope>'
} >"$body"
curl -sS -o /dev/null -w '%{http_code}' --limit-rate 16K -H 'Content-Type: text/xml; charset=utf-8' \
  -H 'SOAPAction: "urn:SendRequest"' --data-binary @"$body" "$url" >"$body.status" 2>&1 &
call=$!
sleep 1
kill -TERM "$server"
wait "$call" || true
status=$(cat "$body.status")
rm -f "$body" "$body.status"
case "$status" in
  [2345]??) echo "the call in flight was answered: HTTP $status" ;;
  *) fail "the call in flight was not answered (curl: $status)" ;;
esac
set +e
wait "$server"
code=$?
set -e
trap - EXIT
[ "$code" -eq 0 ] || fail "the server exited with $code after SIGTERM"
# A clean stop closes the store: the WAL is checkpointed and removed.
[ ! -e /var/lib/opensmev/store/opensmev.db-wal ] || fail "the stopped server left opensmev.db-wal: the store was not closed"
# The stopped server's store must open and read (the doctor opens it read-only).
doctor --lang en >"$log.doctor"
grep -q '^OK .*Store: .* opens' "$log.doctor" || { cat "$log.doctor"; fail "the store does not open after the stop"; }
[ "$code" -le 1 ] || { cat "$log.doctor"; fail "opensmev doctor exit $code after the stop"; }
rm -f "$log.doctor"
cat "$log"
rm -f "$log"
echo "== package test passed: $deb"
