#!/usr/bin/env bash
# One command on a fresh machine: installs what is missing, builds, starts Vitrine with its
# embedded S3 server and SQLite under ./data, seeds the demo, and serves until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/build.sh

addr=${VITRINE_ADDR:-127.0.0.1:3000}
data=${VITRINE_DATA_DIR:-$PWD/data}
url="http://$addr"
bin=$PWD/target/release/vitrine

# Each build's reports on an origin of their own (*.localhost reaches 127.0.0.1 in browsers).
"$bin" serve --addr "$addr" --data-dir "$data" --artifacts-url "${VITRINE_ARTIFACTS_URL:-http://*.artifacts.localhost:3001}" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { echo "vitrine serve exited; see the messages above" >&2; exit 1; }
  sleep 0.2
done
bash demo/seed.sh "$bin" "$data" "$url"
cat <<MSG

  Vitrine is running at $url
  Demo build:   $url/gh/vitrine-demo/shop/2
  Sign in:      demo / demo-password (sees the private project gh/vitrine-demo/internal)
  Data:         $data (embedded S3 keys in $data/embedded-s3.env)

  Press Ctrl-C to stop.
MSG
wait $server
