# Sourced by the benchmarks (from the repository's root): a private `vitrine serve` from a
# fresh data dir, on free ports on 127.0.0.1, stopped and cleaned up when the script exits.
bin=${VITRINE_BIN:-$PWD/target/release/vitrine}
[ -x "$bin" ] || { echo "no release build: run bash scripts/build.sh first" >&2; exit 1; }

# free_ports N: N distinct free ports on 127.0.0.1, on one line.
free_ports() {
  python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))' "$1"
}

# start_private_server [SERVE FLAGS...]: sets $work (its data is $work/data, its log
# $work/server.log), $url and $server; on exit also stops the pids in $also_stop.
start_private_server() {
  work=$(mktemp -d)
  local port s3port artifacts_port
  read -r port s3port artifacts_port < <(free_ports 3)
  url="http://127.0.0.1:$port"
  env -u DATABASE_URL -u AWS_ENDPOINT_URL -u VITRINE_PUBLIC_URL VITRINE_LOG="${VITRINE_LOG:-warn}" "$bin" serve \
    --addr "127.0.0.1:$port" --embedded-s3-addr "127.0.0.1:$s3port" --artifacts-addr "127.0.0.1:$artifacts_port" \
    --trace-viewer-addr 127.0.0.1:0 \
    --data-dir "$work/data" "$@" >"$work/server.log" 2>&1 &
  server=$!
  trap 'kill $server ${also_stop:-} 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 1 150); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
}

# The lines every benchmark's figures start with.
print_versions() {
  echo "date:    $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "vitrine: $("$bin" --version | head -n 1) (tree $(git rev-parse --short HEAD 2>/dev/null || echo unknown))"
}
