#!/usr/bin/env bash
# Sign-in flood against a private `vitrine serve` (fresh data dir, free ports on 127.0.0.1):
# CLIENTS clients post wrong passwords for SECONDS seconds while /healthz is timed. See
# bench/README.md. Needs a release build (bash scripts/build.sh).
#
# Usage: bash bench/login_flood.sh [CLIENTS [SECONDS]]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/private_server.sh
start_private_server
print_versions
echo "machine: $(nproc) cores"
python3 bench/login_flood.py "$url" "${1:-48}" "${2:-8}"
