#!/usr/bin/env bash
# Makes the upgrade fixtures with a release's own binary: what that release left on disk, for
# server/tests/it/upgrade.rs to serve with the current one.
#
#   bash scripts/upgrade-fixture.sh PREVIOUS_VITRINE_BINARY server/tests/fixtures/upgrade/NAME
#
# Writes into the folder: sqlite.tar.gz (a data dir: SQLite and the embedded store's objects),
# postgres.sql (pg_dump of a PostgreSQL database) with postgres-data.tar.gz (that server's data
# dir: its embedded store's objects), and fixture.env (the tokens, the session and when they
# were made). Both installations hold the same: a private project gh/fixture/app with two
# builds, a member alice with a personal token and a browser session, and the build token.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(realpath "$1")
out=$2
mkdir -p "$out"
out=$(realpath "$out")
work=$(mktemp -d)
chmod 755 "$work"
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  bash scripts/postgres.sh stop "$work/pg" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Fills an installation (DATA_DIR, optional DATABASE_URL) through that release's server and
# commands; appends what it made to fixture.env with the given prefix.
fill() {
  local data=$1 database=${2:-} prefix=$3 port url token reader cookie
  port=$(free_port)
  url=http://127.0.0.1:$port
  local db_args=()
  [ -n "$database" ] && db_args=(--database-url "$database")
  "$bin" serve --data-dir "$data" "${db_args[@]}" --addr "127.0.0.1:$port" --embedded-s3-addr "127.0.0.1:$(free_port)" \
    --artifacts-addr "127.0.0.1:$(free_port)" --trace-viewer-addr "127.0.0.1:$(free_port)" >"$work/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
  admin() { "$bin" admin --data-dir "$data" "${db_args[@]}" "$@"; }
  admin project add gh/fixture/app >/dev/null
  printf 'fixture-password\n' | admin user add alice --password-stdin >/dev/null
  admin member add gh/fixture/app alice >/dev/null
  token=$(admin project token gh/fixture/app | tail -n 1)
  reader=$(admin token create alice | tail -n 1)
  mkdir -p "$work/build"
  cp demo/screenshots/home.png "$work/build/"
  (
    cd "$work/build"
    "$bin" run --server "$url" --token "$token" --project gh/fixture/app --branch main -- bash -ec '
      echo "stored by the previous release" > "$CIRCLE_ARTIFACTS/hello.txt"
      cp home.png "$CIRCLE_ARTIFACTS/home.png"
      mkdir -p "$CIRCLE_ARTIFACTS/report" && echo "<h1>Report</h1>" > "$CIRCLE_ARTIFACTS/report/index.html"'
    "$bin" run --server "$url" --token "$token" --project gh/fixture/app --branch feature -- bash -ec '
      echo "the second build" > "$CIRCLE_ARTIFACTS/hello.txt"'
  ) >"$work/run.log" 2>&1 || { cat "$work/run.log" "$work/server.log"; exit 1; }
  cookie=$(curl -fsS -o /dev/null -D - -X POST --data 'username=alice&password=fixture-password&next=' "$url/api/login" \
    | tr -d '\r' | sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -n 1)
  [ -n "$cookie" ] || { echo "no session cookie" >&2; exit 1; }
  kill "$server" && wait "$server" 2>/dev/null || true
  server=
  {
    echo "${prefix}_BUILD_TOKEN=$token"
    echo "${prefix}_READER_TOKEN=$reader"
    echo "${prefix}_SESSION_COOKIE=$cookie"
  } >>"$out/fixture.env"
}

{
  echo "# Made by scripts/upgrade-fixture.sh with $("$bin" --version) on $(date -u +%FT%TZ)"
  echo "MADE_AT=$(date +%s)"
} >"$out/fixture.env"

# SQLite and the embedded store, in one data dir.
fill "$work/sqlite" "" SQLITE
tar -C "$work/sqlite" -czf "$out/sqlite.tar.gz" .

# PostgreSQL (dumped), the objects in that server's embedded store.
pg_url=$(bash scripts/postgres.sh start "$work/pg" "$(free_port)")
fill "$work/pgdata" "$pg_url" POSTGRES
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
"$pg_bin/pg_dump" --no-owner --no-privileges "$pg_url" >"$out/postgres.sql"
tar -C "$work/pgdata" -czf "$out/postgres-data.tar.gz" .
ls -la "$out"
