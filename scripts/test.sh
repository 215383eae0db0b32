#!/usr/bin/env bash
# Runs every test: Rust unit and integration tests (real server, embedded S3, SQLite), then
# Playwright in Debian's Chromium against a freshly seeded server. Builds once; both stages
# reuse that build (same release profile, so dependencies compile once).
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 1
bash scripts/build.sh || exit 1

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "Rust tests"
# The same LEPTOS_OUTPUT_NAME as cargo-leptos sets, so the leptos crates it built are reused.
LEPTOS_OUTPUT_NAME=vitrine cargo test --release --workspace 2>&1
rust=$?

step "Browser tests"
tmp=$(mktemp -d)
mkdir -p end2end/test-results
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) s3port=$(free_port) reports=$(free_port)
url="http://127.0.0.1:$port"
bin=$PWD/target/release/vitrine
"$bin" serve --addr "127.0.0.1:$port" --embedded-s3-addr "127.0.0.1:$s3port" --artifacts-addr "127.0.0.1:$reports" --data-dir "$tmp/data" >end2end/test-results/server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
if ! bash demo/seed.sh "$bin" "$tmp/data" "$url" >"$tmp/seed.log" 2>&1; then
  cat "$tmp/seed.log" end2end/test-results/server.log
  e2e=1
else
  (cd end2end && BASE_URL="$url" npx playwright test)
  e2e=$?
fi
# The server's log stays in end2end/test-results/server.log.
[ $rust -eq 0 ] && [ $e2e -eq 0 ]
