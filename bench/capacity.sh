#!/usr/bin/env bash
# What one and two servers take, for the deployment guide: `vitrine serve` on a throwaway
# PostgreSQL (scripts/postgres.sh) and one S3 store (the first server's embedded one, which the
# second reaches over HTTP as any S3), on free ports on 127.0.0.1.
#   uploads/s:  BUILDS builds at once, each `vitrine run` storing FILES small files (distinct
#               content, so every file is planned, PUT to S3, verified and listed), spread over
#               the servers; artifacts listed per second of wall time.
#   listings/s: wrk on the v1.1 listing of a finished 100-artifact build (a member's token),
#               one wrk per server at once, summed.
# Two servers on one machine share its cores: the figures show what the second costs and
# that both answer alike, not how a second machine scales.
#
# Needs a release build (bash scripts/build.sh), wrk and PostgreSQL (scripts/setup.sh).
# Usage: bash bench/capacity.sh [BUILDS [FILES [SECONDS]]]    (default 8 200 8)
set -euo pipefail
cd "$(dirname "$0")/.."
builds=${1:-8} files=${2:-200} seconds=${3:-8}
source bench/private_server.sh
command -v wrk >/dev/null || { echo "wrk is missing: bash scripts/setup.sh installs it" >&2; exit 1; }

read -r pg_port < <(free_ports 1)
pg_dir=$(mktemp -d)
chmod 755 "$pg_dir"
pg_url=$(bash scripts/postgres.sh start "$pg_dir/data" "$pg_port")
# The first server: embedded S3, on PostgreSQL.
start_private_server --database-url "$pg_url"
first=$url
trap 'kill $server ${second:-} 2>/dev/null; wait $server ${second:-} 2>/dev/null || true; bash scripts/postgres.sh stop "$pg_dir/data"; rm -rf "$work" "$pg_dir"' EXIT
# The second: the same database, the first one's store as an external S3.
read -r port2 s3port2 art2 < <(free_ports 3)
(
  set -a; . "$work/data/embedded-s3.env"; set +a
  VITRINE_LOG=warn "$bin" serve --addr "127.0.0.1:$port2" --embedded-s3-addr "127.0.0.1:$s3port2" \
    --artifacts-addr "127.0.0.1:$art2" --trace-viewer-addr 127.0.0.1:0 --data-dir "$work/data2" --database-url "$pg_url" \
    --s3-endpoint "$AWS_ENDPOINT_URL" --s3-bucket "$VITRINE_S3_BUCKET" >"$work/server2.log" 2>&1
) &
second=$!
url2="http://127.0.0.1:$port2"
for _ in $(seq 1 150); do curl -fsS "$url2/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$url2/readyz" >/dev/null || { cat "$work/server2.log" >&2; exit 1; }

admin() { "$bin" admin --data-dir "$work/data" --database-url "$pg_url" "$@"; }
admin project add gh/bench/capacity >/dev/null
printf 'capacity-password\n' | admin user add alice --password-stdin >/dev/null
admin member add gh/bench/capacity alice >/dev/null
token=$(admin token create alice | tail -n 1)
build_token=$(admin project token gh/bench/capacity | tail -n 1)

# store SERVER N TAG: one build of N files of distinct content.
store() {
  local dir
  dir=$(mktemp -d -p "$work")
  (cd "$dir" && N=$2 TAG=$3 "$bin" run --server "$1" --token "$build_token" --project gh/bench/capacity --branch main -- \
    bash -ec 'for i in $(seq 1 "$N"); do echo "$TAG $i" > "$CIRCLE_ARTIFACTS/file-$i.txt"; done' >"$dir/log" 2>&1) \
    || { tail -n 5 "$dir/log" >&2; return 1; }
}

# uploads SERVERS...: $builds builds at once, round-robin over SERVERS; prints artifacts/s.
round=0
uploads() {
  round=$((round + 1))
  local servers=("$@") pids=() started ended i
  started=$(date +%s.%N)
  for i in $(seq 1 "$builds"); do
    store "${servers[$((i % ${#servers[@]}))]}" "$files" "round-$round-build-$i" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  ended=$(date +%s.%N)
  awk -v n=$((builds * files)) -v a="$started" -v b="$ended" 'BEGIN { printf "%.0f", n / (b - a) }'
}

# listings SERVERS...: one wrk per server at once on the same listing; prints the summed req/s.
listings() {
  local pids=() i=0 target
  for target in "$@"; do
    i=$((i + 1))
    wrk -t1 -c16 -d"${seconds}s" -H "Circle-Token: $token" -H 'Accept-Encoding: gzip' \
      "$target/api/v1.1/project/gh/bench/capacity/1/artifacts" >"$work/wrk-$i" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  cat "$work"/wrk-* | awk '/^Requests\/sec/ { s += $2 } /Non-2xx|Socket errors/ { bad = 1 } END { printf "%.0f%s", s, bad ? " (errors!)" : "" }'
  grep -h 'Non-2xx\|Socket errors' "$work"/wrk-* >&2 || true
  rm -f "$work"/wrk-*
}

store "$first" 100 listing
uploads "$first" "$url2" >/dev/null # warm both servers (connections, caches) before measuring
print_versions
echo "machine: $(nproc) cores; PostgreSQL $(ls /usr/lib/postgresql | sort -V | tail -n 1); S3: the first server's embedded store"
echo "uploads: $builds builds at once x $files files each; listings: wrk -c16 -d${seconds}s per server, a 100-artifact build"
printf '%-12s %16s %14s\n' servers "artifacts/s" "listings/s"
printf '%-12s %16s %14s\n' 1 "$(uploads "$first")" "$(listings "$first")"
printf '%-12s %16s %14s\n' 2 "$(uploads "$first" "$url2")" "$(listings "$first" "$url2")"
listed=$(curl -fsS -H "Circle-Token: $token" "$url2/api/v1.1/project/gh/bench/capacity?limit=100" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
echo "builds both servers list: $listed (expected $((1 + 3 * builds)))"
[ "$listed" -eq $((1 + 3 * builds)) ]
