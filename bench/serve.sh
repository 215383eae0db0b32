#!/usr/bin/env bash
# The read path against a static file server: a private `vitrine serve` (fresh data dir, free
# ports on 127.0.0.1) stores a private project's build of ARTIFACTS artifacts; Debian's nginx
# serves the same answers as static files. wrk then drives each with the same settings
# (2 threads, 32 connections, 8 s, Accept-Encoding: gzip; Vitrine's requests carry a member's
# token or session), one after another:
#   (a) the v1.1 listing            vs nginx serving its JSON bytes with gzip_static
#   (b) the artifact route's 302    vs nginx's `return 302` to a URL as long
#   (c) the v2 listing's first page and the build page's HTML vs the same bytes, static
# and prints requests/s, p50 and p99 of each, with Vitrine's ratio to nginx, and the server's
# CPU time per 1,000 requests and RSS. Goals: (a) at least 0.7, (b) at least 0.5.
#
# `--scale` instead stores builds of 10, 1,000, 10,000 and 100,000 artifacts and prints the
# cost of each build's listing and page (first listing, time per request, bytes, CPU, RSS).
#
# ONLY=abcd picks which of the four runs (b: the 302 alone). With PROFILE=1, perf samples the server during each of its runs and prints where the time
# went (the hottest functions, self time).
#
# Needs a release build (bash scripts/build.sh), wrk and nginx (installed when missing).
# Usage: bash bench/serve.sh [ARTIFACTS]    (default 10000)
#        bash bench/serve.sh --scale
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk nginx; do
  if ! command -v "$tool" >/dev/null && [ ! -x "/usr/sbin/$tool" ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$tool" >/dev/null
  fi
done
nginx=$(command -v nginx || echo /usr/sbin/nginx)
mode=compare artifacts=10000
if [ "${1:-}" = --scale ]; then mode=scale; else artifacts=${1:-10000}; fi

source bench/private_server.sh
start_private_server --max-build-artifacts 200000
admin() { "$bin" admin --data-dir "$work/data" "$@"; }
admin project add gh/bench/serve >/dev/null
printf 'serve-password\n' | admin user add alice --password-stdin >/dev/null
admin member add gh/bench/serve alice >/dev/null
token=$(admin token create alice | tail -n 1)
build_token=$(admin project token gh/bench/serve | tail -n 1)
cookie=$(curl -fsS -o /dev/null -D - -X POST "$url/api/login" --data 'username=alice&password=serve-password&next=' \
  | awk -F'[ ;]' 'tolower($1) == "set-cookie:" { print $2 }')
[ -n "$cookie" ] || { echo "could not sign in" >&2; exit 1; }
project=/api/v1.1/project/gh/bench/serve

# store N: the next build, of N small artifacts in 100 folders.
store() {
  (cd "$work" && N=$1 "$bin" run --server "$url" --token "$build_token" --project gh/bench/serve --branch main -- \
    bash -ec 'cd "$CIRCLE_ARTIFACTS"; for f in $(seq 0 99); do mkdir -p "reports/r$f"; done
      for i in $(seq 1 "$N"); do echo "$i" > "reports/r$((i % 100))/file-$i.txt"; done' \
    >>"$work/store.log" 2>&1) || { tail -n 20 "$work/store.log" >&2; exit 1; }
}

# cpu_ticks PID...: user and system time of the processes, in clock ticks.
cpu_ticks() { local pid; for pid in "$@"; do cat "/proc/$pid/stat"; done | awk '{ t += $14 + $15 } END { print t }'; }
# The processes that answer URL: the server, or nginx's master and workers.
answering() { if [[ $1 == "$url"* ]]; then echo "$server"; else echo "$nginx_master $(pgrep -P "$nginx_master" | tr '\n' ' ')"; fi; }
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$server/status"; }
hz=$(getconf CLK_TCK)

# drive NAME URL [HEADER...]: one wrk run; prints a row, sets $rps and $p50.
drive() {
  local name=$1 target=$2; shift 2
  local args=() header before after requests
  for header in "Accept-Encoding: gzip" "$@"; do args+=(-H "$header"); done
  local perf=""
  if [ -n "${PROFILE:-}" ] && [[ $target == "$url"* ]]; then
    perf record -q -F 499 -g -p "$server" -o "$work/perf.data" -- sleep 8 >/dev/null 2>&1 &
    perf=$!
  fi
  local pids
  read -r -a pids <<<"$(answering "$target")"
  before=$(cpu_ticks "${pids[@]}")
  wrk -t2 -c32 -d8s --timeout 10s --latency "${args[@]}" "$target" >"$work/wrk" 2>&1 || true
  after=$(cpu_ticks "${pids[@]}")
  rps=$(awk '/^Requests\/sec/ { print $2 }' "$work/wrk")
  p50=$(awk '$1 == "50%" { print $2 }' "$work/wrk")
  local p99 bad
  p99=$(awk '$1 == "99%" { print $2 }' "$work/wrk")
  requests=$(awk '/requests in/ { print $1 }' "$work/wrk")
  bad=$(awk '/Non-2xx or 3xx/ { print $NF } /Socket errors/ { print "socket errors" }' "$work/wrk")
  local cpu
  cpu=$(awk -v t=$((after - before)) -v n="${requests:-1}" -v hz="$hz" 'BEGIN { printf "%.3f", t / hz / n * 1000 }')
  cpu_ms=$cpu
  cpu="cpu ${cpu} s/1k req"
  if [[ $target == "$url"* ]]; then
    cpu="$cpu  rss $(rss_mib) MiB"
  fi
  printf '  %-34s %9s req/s  p50 %-8s p99 %-8s %s%s\n' "$name" "${rps:-?}" "${p50:-?}" "${p99:-?}" "$cpu" \
    "${bad:+  (non-2xx/3xx or errors: $bad)}"
  if [ -n "$perf" ]; then
    wait "$perf" || true
    echo "    where the server's time went (perf, self time, top 12):"
    perf report -i "$work/perf.data" --no-children --sort dso,symbol --stdio 2>/dev/null \
      | grep -E '^ +[0-9.]+%' | head -n ${TOP:-12} | sed -E 's/[[:space:]]+(-[[:space:]]+)*$//; s/^/    /' | cut -c1-150
  fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

start_nginx() { # ROOT REDIRECT_TARGET
  read -r nginx_port < <(free_ports 1)
  mkdir -p "$work/nginx"
  cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  types { application/json json; text/html html; }
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$nginx_port;
    root $1;
    gzip_static on;
    location = /redirect { return 302 "$2"; }
  }
}
EOF
  # nginx's workers run as nobody: they must reach the files.
  chmod o+x "$work"; chmod -R o+rX "$1"
  "$nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
  nginx_master=$!
  also_stop="$also_stop $nginx_master"
  for _ in $(seq 1 50); do curl -fsS -o /dev/null "http://127.0.0.1:$nginx_port/redirect" -w '%{http_code}' 2>/dev/null \
    | grep -q 302 && break; sleep 0.1; done
}
also_stop=""

# static NAME URL [CURL ARGS...]: the answer's bytes as NAME and NAME.gz under $work/www.
static() {
  local name=$1 target=$2; shift 2
  curl -fsS --compressed "$@" "$target" >"$work/www/$name"
  gzip -6 -k -f "$work/www/$name"
}

if [ "$mode" = compare ]; then
  echo "storing a build of $artifacts artifacts..." >&2
  store "$artifacts"
  listing="$url$project/1/artifacts"
  first=$(curl -fsS --compressed -H "Circle-Token: $token" "$listing" | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["pretty_path"])')
  artifact="$url$project/1/artifacts/0/$first"
  signed=$(curl -fsS -o /dev/null -w '%{redirect_url}' -H "Circle-Token: $token" "$artifact")
  v2="$url/api/v2/project/gh/bench/serve/1/artifacts"
  page="$url/gh/bench/serve/1"
  mkdir -p "$work/www"
  static listing.json "$listing" -H "Circle-Token: $token"
  static v2.json "$v2" -H "Circle-Token: $token"
  static page.html "$page" -H "Cookie: $cookie"
  start_nginx "$work/www" "$signed"
  ngx="http://127.0.0.1:$nginx_port"

  print_versions
  echo "nginx:   $("$nginx" -v 2>&1 | sed 's/.*: //')"
  echo "machine: $(nproc) cores; wrk -t2 -c32 -d8s -H 'Accept-Encoding: gzip'; a private build of $artifacts artifacts"
  echo "bytes:   listing $(stat -c %s "$work/www/listing.json") B json, $(stat -c %s "$work/www/listing.json.gz") B gzip;" \
    "v2 page $(stat -c %s "$work/www/v2.json.gz") B gzip; build page $(stat -c %s "$work/www/page.html.gz") B gzip"
  curl -fsS -o /dev/null -H "Circle-Token: $token" -H 'Accept-Encoding: gzip' "$listing" # warm the cache
  # run LETTER TITLE REF_NAME REF_URL NAME URL HEADER: one comparison, when ONLY names it;
  # prints the ratio to nginx on stdout: of requests/s, and (after a slash) of CPU time a
  # request, nginx's to Vitrine's. The first is the goal; the second drifts less with the
  # machine (requests/s on loopback share the 2 cores with wrk, and weigh the kernel's
  # part, nearly all of nginx's time, more or less as the host is busy).
  only=${ONLY:-abcd}
  run() {
    [[ $only == *$1* ]] || { echo -; return; }
    echo "$2" >&2
    drive "$3" "$4" >&2; local ref=$rps ref_cpu=$cpu_ms
    drive "$5" "$6" "$7" >&2; echo "$(ratio "$rps" "$ref") / cpu $(ratio "$ref_cpu" "$cpu_ms")"
  }
  a=$(run a "(a) v1.1 listing" "nginx gzip_static" "$ngx/listing.json" "vitrine (member's token)" "$listing" "Circle-Token: $token")
  b=$(run b "(b) artifact route" "nginx return 302" "$ngx/redirect" "vitrine 302 (member's token)" "$artifact" "Circle-Token: $token")
  c1=$(run c "(c) v2 listing, first page" "nginx gzip_static" "$ngx/v2.json" "vitrine (member's token)" "$v2" "Circle-Token: $token")
  c2=$(run d "(c) build page HTML" "nginx gzip_static" "$ngx/page.html" "vitrine (member's session)" "$page" "Cookie: $cookie")
  echo "ratios to nginx, requests/s / cpu a request: (a) listing $a (goal 0.7)  (b) 302 $b (goal 0.5)"
  echo "                                              (c) v2 page $c1, build page $c2"
  echo "server peak RSS: $(awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$server/status")"
  if grep -q ' ERROR \|panicked' "$work/server.log"; then grep ' ERROR \|panicked' "$work/server.log" | head >&2; exit 1; fi
  exit 0
fi

# --scale: builds 1..4 of 10, 1,000, 10,000 and 100,000 artifacts.
sizes=(10 1000 10000 100000)
echo "storing builds of ${sizes[*]} artifacts (several minutes)..." >&2
for n in "${sizes[@]}"; do store "$n"; done
print_versions
echo "machine: $(nproc) cores; per build: the first (uncached) listing by curl, then wrk -t2 -c32 -d8s on the"
echo "listing (cached, gzip) and on the build page, with CPU time per 1,000 requests and RSS after each"
printf '%9s  %-12s %-13s %-s\n' artifacts "first listing" "listing gzip" "runs"
num=0
for n in "${sizes[@]}"; do
  num=$((num + 1))
  listing="$url$project/$num/artifacts"
  cold=$(curl -fsS -o /dev/null -w '%{time_total}' -H "Circle-Token: $token" -H 'Accept-Encoding: gzip' "$listing")
  bytes=$(curl -fsS -H "Circle-Token: $token" -H 'Accept-Encoding: gzip' "$listing" | wc -c)
  printf '%9s  %-12s %-13s\n' "$n" "${cold}s" "$bytes B"
  drive "listing" "$listing" "Circle-Token: $token"
  drive "304 (If-None-Match)" "$listing" "Circle-Token: $token" \
    "If-None-Match: $(curl -fsS -o /dev/null -D - -H "Circle-Token: $token" "$listing" | awk 'tolower($1) == "etag:" { print $2 }' | tr -d '\r')"
  drive "build page" "$url/gh/bench/serve/$num" "Cookie: $cookie"
done
echo "server peak RSS: $(awk '/^VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$server/status")"
