#!/usr/bin/env bash
# Sign-in flood against a private `vitrine serve` (fresh data dir, free ports on 127.0.0.1):
# CLIENTS clients post wrong passwords for SECONDS seconds while /healthz is timed. See
# bench/README.md. Needs a release build (bash scripts/build.sh).
#
# Usage: bash bench/login_flood.sh [CLIENTS [SECONDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/vitrine
[ -x "$bin" ] || { echo "no release build: run bash scripts/build.sh first" >&2; exit 1; }
work=$(mktemp -d)
read -r port s3port artifacts < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
env -u DATABASE_URL -u AWS_ENDPOINT_URL -u VITRINE_PUBLIC_URL VITRINE_LOG=warn "$bin" serve \
  --addr "127.0.0.1:$port" --embedded-s3-addr "127.0.0.1:$s3port" --artifacts-addr "127.0.0.1:$artifacts" \
  --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 150); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "vitrine: $("$bin" --version | head -n 1) (tree $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
echo "machine: $(nproc) cores"
python3 bench/login_flood.py "http://127.0.0.1:$port" "${1:-48}" "${2:-8}"
