#!/usr/bin/env bash
# Hostile artifacts under load: the zoo of server/tests/zoo.py (a JUnit report with a 1 MiB
# suite name over 250,000 cases, nested JSON, colour-per-character and progress-bar logs, a
# wide and a tall screenshot compared, a zip of 120,000 entries, a zip that lies about its
# central directory, a deflated member of 256 MiB of zeros, tars with long-name and PAX headers
# that claim gigabytes, a tar.gz bomb, a million slashes as a folder, a folder of zeros as a zip)
# stored by two builds of a public project on a private `vitrine serve`, then opened by CLIENTS
# clients at once (default 8) through every route that reads them, while /healthz is timed
# every 50 ms. Prints each request's slowest time and statuses, /healthz's p50/p95, the
# server's idle and peak RSS, and the goals: every answer within 2 s, peak RSS at most
# 256 MiB above idle, /healthz p95 under 50 ms, 0 crashes.
#
# Needs a release build (bash scripts/build.sh). Usage: bash bench/hostile.sh [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/private_server.sh
start_private_server
"$bin" admin --data-dir "$work/data" project add gh/acme/zoo --public >/dev/null
token=$("$bin" admin --data-dir "$work/data" project token gh/acme/zoo | tail -n 1)

echo "writing the zoo and storing it as builds 1 and 2 of gh/acme/zoo..." >&2
python3 server/tests/zoo.py "$work/zoo"
for build in first second; do
  (cd "$work" && "$bin" run --server "$url" --token "$token" --project gh/acme/zoo --branch main -- \
    bash -ec "cp -r '$work/zoo/$build/.' \"\$CIRCLE_ARTIFACTS\"/" >>"$work/store.log" 2>&1) \
    || { tail -n 20 "$work/store.log" >&2; exit 1; }
done

print_versions
echo "machine: $(nproc) cores"
python3 bench/hostile.py "$url" "$server" "${1:-8}"
