#!/usr/bin/env bash
# Runs every test: the lint gate (scripts/lint.sh), Rust unit and integration tests (real
# server, embedded S3, SQLite), the integration tests again on PostgreSQL (a throwaway server on
# loopback) and on another S3 implementation (moto), a server on a host of its own with an agent
# and Chromium outside it (scripts/elsewhere.sh: a network namespace), a short wrk load run
# (bench/load.sh: no errors, no 5xx), then Playwright in Debian's Chromium against a freshly
# seeded server.
# Builds once; every stage reuses that build (same release profile, so dependencies compile
# once). The three Rust stages run at once, each on its own servers and stores, and print in
# turn when all are done; then the browser tests run beside the load test, and print last, so
# that Playwright's summary ends the output.
set -uo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n\033[1m==> %s\033[0m (at %d s)\n' "$*" "$SECONDS"; }

bash scripts/setup.sh || exit 1
step "Lint (rustfmt, clippy, layers)"
bash scripts/lint.sh || exit 1
step "Build"
bash scripts/build.sh || exit 1

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
tmp=$(mktemp -d)
chmod 755 "$tmp" # PostgreSQL runs as its own user and must reach its data dir
cleanup() {
  [ -f "$tmp/e2e.pid" ] && kill "$(cat "$tmp/e2e.pid")" 2>/dev/null
  [ -f "$tmp/oidc.pid" ] && kill "$(cat "$tmp/oidc.pid")" 2>/dev/null
  bash scripts/postgres.sh stop "$tmp/pg/data"
  bash scripts/moto.sh stop "$tmp/moto"
  rm -rf "$tmp"
}
trap cleanup EXIT

# The browser tests: the suite runs inside `vitrine run` on the server it tests: its
# screenshots of the key screens, its HTML report and its traces are stored as a build of
# gh/vitrine/vitrine there. That server's data stays in target/e2e (serve it again with
# `target/release/vitrine serve --data-dir target/e2e/data`), its log in target/e2e/server.log.
browser_tests() {
  local own=$PWD/target/e2e port s3port reports url bin server token
  rm -rf "$own" && mkdir -p "$own"
  port=$(free_port) s3port=$(free_port) reports=$(free_port) oidc=$(free_port)
  url="http://127.0.0.1:$port"
  bin=$PWD/target/release/vitrine
  # The test OpenID Provider (oidc-provider, its development login page), as "Test SSO".
  node end2end/oidc/provider.mjs --port "$oidc" --redirect "$url/auth/oidc/callback" --post-logout "$url/login" \
    >"$own/oidc.log" 2>&1 &
  echo $! >"$tmp/oidc.pid"
  echo "vitrine-test-secret" >"$own/oidc-secret"
  for _ in $(seq 1 100); do grep -q '^ISSUER ' "$own/oidc.log" && break; sleep 0.1; done
  # Each build's reports on an origin of their own (*.localhost reaches 127.0.0.1 in browsers).
  "$bin" serve --addr "127.0.0.1:$port" --embedded-s3-addr "127.0.0.1:$s3port" --artifacts-addr "127.0.0.1:$reports" \
    --artifacts-url "http://*.artifacts.localhost:$reports" --data-dir "$own/data" \
    --oidc-issuer "http://127.0.0.1:$oidc" --oidc-client-id vitrine --oidc-client-secret-file "$own/oidc-secret" \
    --oidc-name "Test SSO" --oidc-groups-claim groups --oidc-scopes "profile email groups" >"$own/server.log" 2>&1 &
  server=$!
  echo "$server" >"$tmp/e2e.pid"
  for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
  if ! bash demo/seed.sh "$bin" "$own/data" "$url" >"$tmp/seed.log" 2>&1; then
    cat "$tmp/seed.log" "$own/server.log"
    kill "$server"; wait "$server" 2>/dev/null
    return 1
  fi
  "$bin" admin --data-dir "$own/data" project add gh/vitrine/vitrine --public >/dev/null
  token=$("$bin" admin --data-dir "$own/data" project token gh/vitrine/vitrine | tail -n 1)
  echo "The suite's screenshots, report and traces go to $url/gh/vitrine/vitrine/1 (data kept in target/e2e/data)"
  # vitrine run's own lines go to a file, so that Playwright's summary ends the output.
  "$bin" run --server "$url" --token "$token" --project gh/vitrine/vitrine \
    --branch "$(git rev-parse --abbrev-ref HEAD 2>/dev/null || echo main)" \
    --revision "$(git rev-parse HEAD 2>/dev/null || echo 0000000000000000000000000000000000000000)" \
    -- bash -c 'cd end2end && BASE_URL="$0" npx playwright test 2>&1' "$url" 2>"$own/vitrine-run.log"
  local e2e=$?
  [ $e2e -eq 0 ] || cat "$own/vitrine-run.log"
  kill "$server"; wait "$server" 2>/dev/null
  return $e2e
}

step "Rust tests on SQLite, PostgreSQL and moto, at once"
# The same LEPTOS_OUTPUT_NAME as cargo-leptos sets, and (server/Cargo.toml) the same features
# with the tests' dev-dependencies as without: what `cargo leptos build` compiled is reused.
# Every test binary is built first; the stages then run binaries, not cargo, side by side.
if ! LEPTOS_OUTPUT_NAME=vitrine cargo test --release --workspace --no-run --message-format=json-render-diagnostics \
  >"$tmp/tests.json"; then
  exit 1
fi
tests=$(python3 -c '
import json, os, sys
for line in open(sys.argv[1]):
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["profile"]["test"]:
        print(m["target"]["name"], m["executable"], os.path.dirname(m["manifest_path"]))
' "$tmp/tests.json")
it=$(awk '$1 == "it" { print $2 }' <<<"$tests")
[ -n "$it" ] || { echo "no integration test binary" >&2; exit 1; }
# The binaries run where cargo runs them: in their package's folder.
run_tests() { # name, package dir, binary, args...
  local name=$1 dir=$2 bin=$3; shift 3
  (cd "$dir" && "$bin" "$@") >"$tmp/$name.log" 2>&1
  echo $? >"$tmp/$name.rc"
}
sqlite() {
  local name bin dir
  while read -r name bin dir; do
    echo "     Running $name ($bin)"
    (cd "$dir" && env -u VITRINE_TEST_POSTGRES -u VITRINE_TEST_S3 "$bin") || echo "FAILED: $name"
  done <<<"$tests"
}
( sqlite >"$tmp/sqlite.log" 2>&1; ! grep -q '^FAILED: ' "$tmp/sqlite.log"; echo $? >"$tmp/sqlite.rc" ) &
if pg_url=$(bash scripts/postgres.sh start "$tmp/pg/data" "$(free_port)"); then
  VITRINE_TEST_POSTGRES=$pg_url run_tests pg server "$it" &
else
  echo "PostgreSQL did not start" >"$tmp/pg.log"; echo 1 >"$tmp/pg.rc"
fi
# The upload, listing, download, archive and zip paths against a store that is not ours and
# does not prove what it stored (its probe at start-up fails), so the server verifies uploads
# by copying and hashing them: the fallback other S3 services take.
if s3_url=$(bash scripts/moto.sh start "$tmp/moto" "$(free_port)"); then
  VITRINE_TEST_S3=$s3_url run_tests moto server "$it" \
    cli_run:: cli_download:: api_v1_1:: api_v2:: archives:: viewer:: downloads::a_folder_of_a_thousand \
    --skip a_listing_longer_than_a_page operations::metrics_count &
else
  echo "moto did not start" >"$tmp/moto.log"; echo 1 >"$tmp/moto.rc"
fi
wait
step "Rust tests (SQLite): unit tests and integration tests"
cat "$tmp/sqlite.log"
step "Rust integration tests (PostgreSQL)"
cat "$tmp/pg.log"
step "Rust integration tests on another S3 implementation (moto)"
cat "$tmp/moto.log"
rust=$(cat "$tmp/sqlite.rc") pg=$(cat "$tmp/pg.rc") moto=$(cat "$tmp/moto.rc")

step "A team's servers: the server on a host of its own (a network namespace), an agent and Chromium outside; the image's layout"
bash scripts/elsewhere.sh 2>&1 && bash scripts/image.sh check 2>&1
elsewhere=$?


step "Load smoke test (wrk, 200 connections: no errors, no answer other than 2xx/3xx), beside the browser tests"
( browser_tests >"$tmp/e2e.log" 2>&1; echo $? >"$tmp/e2e.rc" ) &
bash bench/load.sh 3 200 100 2>&1
load=$?
wait

step "Browser tests (Playwright, run beside the load test)"
cat "$tmp/e2e.log"
e2e=$(cat "$tmp/e2e.rc")
[ "$rust" -eq 0 ] && [ "$pg" -eq 0 ] && [ "$moto" -eq 0 ] && [ $elsewhere -eq 0 ] && [ $load -eq 0 ] && [ "$e2e" -eq 0 ]
