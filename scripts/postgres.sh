#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server for the tests: a fresh cluster in DIR, listening on
# 127.0.0.1:PORT only, trust authentication for the user `vitrine`, no fsync (the data is
# thrown away). Prints the URL to give the tests as VITRINE_TEST_POSTGRES.
#
# Usage: bash scripts/postgres.sh start DIR PORT
#        bash scripts/postgres.sh stop DIR
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$bin" ] || { echo "PostgreSQL is not installed (scripts/setup.sh installs it)" >&2; exit 1; }

# PostgreSQL refuses to run as root: as root, run it as the `postgres` user.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
  start)
    dir=$2 port=$3
    mkdir -p "$dir"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; chmod a+x "$(dirname "$dir")"; fi
    as_pg "$bin/initdb" -D "$dir" -A trust -U vitrine -E UTF8 --locale=C --no-sync >"$dir.initdb.log" 2>&1 \
      || { cat "$dir.initdb.log" >&2; exit 1; }
    as_pg "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start -o \
      "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
      >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "postgres://vitrine@127.0.0.1:$port/postgres"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$2" -m immediate stop >/dev/null 2>&1 || true
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
