#!/usr/bin/env bash
# The build page of a big build in headless Chromium (Debian's), against a static page: a
# private `vitrine serve` (fresh data dir, free ports on 127.0.0.1) stores a public build of
# 10,000 artifacts and one of 100,000, each over 4 containers; python's http.server serves a
# static HTML page listing the same 10,000 links. bench/page.mjs then times, 5 times each
# (median): navigation to the first artifact rows visible, and to a filter's first result, and
# the build page's time to interactive; the script prints the client bundle's sizes first.
# Goal: at most 1.5x the static page at 10,000, under 2 s at 100,000. Needs a release build
# (bash scripts/build.sh) and end2end's npm packages (bash scripts/setup.sh).
#
# Usage: bash bench/page.sh [SMALL [BIG]]     (default 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
small=${1:-10000} big=${2:-100000}
source bench/private_server.sh
start_private_server --max-build-artifacts 200000
"$bin" admin --data-dir "$work/data" project add gh/bench/page --public >/dev/null
token=$("$bin" admin --data-dir "$work/data" project token gh/bench/page | tail -n 1)

# A build of N artifacts over 4 containers: reports in 50 folders, and screenshots.
store() { # BUILD_NUM N
  local num=$1 n=$2 per=$(( $2 / 4 ))
  for node in 0 1 2 3; do
    # The first container starts the build; the others join it.
    local join=(); [ "$node" -gt 0 ] && join=(--build-num "$num")
    (cd "$work" && N=$per NODE=$node "$bin" run --server "$url" --token "$token" --project gh/bench/page \
      "${join[@]}" --node-index "$node" --node-total 4 --branch main -- bash -ec '
        cd "$CIRCLE_ARTIFACTS"; mkdir -p screenshots
        for f in $(seq 0 49); do mkdir -p "reports/r$f"; done
        for i in $(seq 1 "$N"); do
          if [ $((i % 10)) -eq 0 ]; then echo "$i" > "screenshots/shot-$NODE-$i.png"
          else echo "$i" > "reports/r$((i % 50))/file-$NODE-$i.txt"; fi
        done' >>"$work/store.log" 2>&1) || { tail -n 20 "$work/store.log" >&2; exit 1; }
  done
}
echo "storing builds of $small and $big artifacts (a few minutes)..." >&2
store 1 "$small"
store 2 "$big"

# The static reference: the same 10,000 links on one page.
mkdir -p "$work/static"
curl -fsS "$url/api/v1.1/project/gh/bench/page/1/artifacts" | python3 -c '
import html, json, sys
items = json.load(sys.stdin)
print("<!doctype html><html><head><meta charset=utf-8><title>static</title></head><body><ul>")
for a in items:
    href, name, size = html.escape(a["url"]), html.escape(a["pretty_path"]), a["size"]
    print(f"<li><a href={chr(34)}{href}{chr(34)}>{name}</a> {size} B</li>")
print("</ul></body></html>")' >"$work/static/index.html"
read -r static_port < <(free_ports 1)
(cd "$work/static" && exec python3 -m http.server "$static_port" --bind 127.0.0.1 >/dev/null 2>&1) &
also_stop=$!
for _ in $(seq 1 50); do curl -fsS "http://127.0.0.1:$static_port/" >/dev/null 2>&1 && break; sleep 0.1; done

for num in 1 2; do
  stored=$(curl -fsS "$url/api/v1.1/project/gh/bench/page/$num/artifacts" | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
  echo "build $num: $stored artifacts stored"
done
print_versions
# The client bundle as browsers fetch it (cargo leptos build --release --precompress).
for file in target/site/pkg/vitrine.*.wasm target/site/pkg/vitrine.*.js target/site/pkg/vitrine.*.css; do
  [ -f "$file" ] || continue
  size() { [ -f "$1" ] && awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f KiB", b / 1024 }' || echo "-"; }
  echo "bundle:  $(basename "$file"): $(size "$file") raw, $(size "$file.gz") gzip, $(size "$file.br") brotli"
done
echo "machine: $(nproc) cores; Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}')"
NODE_PATH=end2end/node_modules node bench/page.mjs "$url/gh/bench/page" "http://127.0.0.1:$static_port/" "$small" "$big"
