#!/usr/bin/env bash
# Load on the read path: a private `vitrine serve` (fresh data dir, free ports on 127.0.0.1)
# with a build of ARTIFACTS artifacts; wrk then drives, one after another, the v1.1 listing
# and the artifact route (an authenticated member's token) and the build page (a session),
# each with CONNECTIONS connections for SECONDS seconds, while bench/load_probe.py times
# /healthz and samples the server's RSS. Prints requests/s, latency, errors, non-2xx/3xx
# answers, /healthz p50/p95/p99 and the server's peak RSS. Fails if any request errored or
# answered other than 2xx/3xx. Needs a release build (bash scripts/build.sh) and wrk.
#
# Usage: bash bench/load.sh [SECONDS [CONNECTIONS [ARTIFACTS]]]   (default 30 200 500)
# The test suite runs a short version: bash bench/load.sh 3 200 100
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30} connections=${2:-200} artifacts=${3:-500}
bin=$PWD/target/release/vitrine
[ -x "$bin" ] || { echo "no release build: run bash scripts/build.sh first" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is missing: bash scripts/setup.sh installs it" >&2; exit 1; }
work=$(mktemp -d)
read -r port s3port artifacts_port < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
url="http://127.0.0.1:$port"
env -u DATABASE_URL -u AWS_ENDPOINT_URL -u VITRINE_PUBLIC_URL VITRINE_LOG=warn "$bin" serve \
  --addr "127.0.0.1:$port" --embedded-s3-addr "127.0.0.1:$s3port" --artifacts-addr "127.0.0.1:$artifacts_port" \
  --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 150); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done

admin() { "$bin" admin --data-dir "$work/data" "$@"; }
admin project add gh/acme/load >/dev/null
printf 'load-password\n' | admin user add alice --password-stdin >/dev/null
admin member add gh/acme/load alice >/dev/null
token=$(admin token create alice | tail -n 1)
build_token=$(admin project token gh/acme/load | tail -n 1)
(cd "$work" && N=$artifacts "$bin" run --server "$url" --token "$build_token" --project gh/acme/load --branch main -- \
  bash -ec 'mkdir -p "$CIRCLE_ARTIFACTS/logs"; for i in $(seq 1 "$N"); do echo "line $i" > "$CIRCLE_ARTIFACTS/logs/file-$i.txt"; done' \
  >/dev/null 2>&1)
cookie=$(curl -fsS -o /dev/null -D - -X POST "$url/api/login" --data 'username=alice&password=load-password&next=' \
  | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')
[ -n "$cookie" ] || { echo "could not sign in" >&2; exit 1; }

echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "vitrine: $("$bin" --version | head -n 1) (tree $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
echo "machine: $(nproc) cores; wrk -t2 -c$connections -d${seconds}s; build of $artifacts artifacts"
failed=0
run() { # NAME HEADER PATH
  local name=$1 header=$2 path=$3
  python3 bench/load_probe.py "$url" "$server" "$seconds" >"$work/probe" &
  local probe=$!
  wrk -t2 -c"$connections" -d"${seconds}s" --timeout 10s --latency -H "$header" "$url$path" >"$work/wrk" 2>&1 || true
  wait $probe || true
  local rps p50 p99 non errors
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$work/wrk")
  p50=$(awk '$1 == "50%" { print $2 }' "$work/wrk")
  p99=$(awk '$1 == "99%" { print $2 }' "$work/wrk")
  non=$(awk '/Non-2xx or 3xx responses/ { print $NF }' "$work/wrk")
  errors=$(awk '/Socket errors/ { sub(/.*Socket errors: /, ""); print }' "$work/wrk")
  printf '%-14s %10s req/s  p50 %-9s p99 %-9s non-2xx/3xx %-6s socket errors %-28s %s\n' \
    "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "${non:-0}" "${errors:-none}" "$(cat "$work/probe")"
  if [ -z "$rps" ] || [ -n "$non" ] || [ -n "$errors" ]; then
    failed=1
    cat "$work/wrk"
  fi
}
run listing "Circle-Token: $token" "/api/v1.1/project/gh/acme/load/1/artifacts"
run "artifact 302" "Circle-Token: $token" '/api/v1.1/project/gh/acme/load/1/artifacts/0/$CIRCLE_ARTIFACTS/logs/file-1.txt'
run "build page" "Cookie: $cookie" "/gh/acme/load/1"
if grep -q ' ERROR \|panicked' "$work/server.log"; then
  echo "the server logged errors:" >&2
  grep ' ERROR \|panicked' "$work/server.log" | head -n 20 >&2
  failed=1
fi
[ $failed -eq 0 ] && echo "load: no errors, no answer other than 2xx/3xx" || { echo "load: FAILED" >&2; exit 1; }
