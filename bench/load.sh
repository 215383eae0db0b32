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
command -v wrk >/dev/null || { echo "wrk is missing: bash scripts/setup.sh installs it" >&2; exit 1; }
source bench/private_server.sh
start_private_server

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

print_versions
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
