#!/usr/bin/env bash
# The container image's steps, as a script, so that they run here too (the Containerfile runs
# them in its stages; the test suite runs `check`, as no container engine runs on its machines):
#
#   stage ROOT   after scripts/build.sh: the image's layout under ROOT: the server and the
#                agent in /usr/local/bin, the site (with the agent binaries it serves at
#                /downloads/ and Playwright's trace viewer) in /usr/local/share/vitrine/site
#   user ROOT    the non-root user `vitrine` (uid 10001) and its data dir /var/lib/vitrine
#   check        stages into a temporary ROOT and serves from it as an unprivileged user, as
#                the image would: the app, its assets, the agent download and the first start
set -euo pipefail
cd "$(dirname "$0")/.."

stage() {
  local root=$1
  install -D -m 755 target/release/vitrine "$root/usr/local/bin/vitrine"
  install -D -m 755 target/release/vitrine-agent "$root/usr/local/bin/vitrine-agent"
  mkdir -p "$root/usr/local/share/vitrine"
  rm -rf "$root/usr/local/share/vitrine/site"
  cp -r target/site "$root/usr/local/share/vitrine/site"
  ls "$root/usr/local/share/vitrine/site/downloads/"vitrine-agent-* >/dev/null
}

user() {
  local root=$1
  if ! grep -q '^vitrine:' "$root/etc/passwd" 2>/dev/null; then
    echo 'vitrine:x:10001:10001:Vitrine:/var/lib/vitrine:/usr/sbin/nologin' >>"$root/etc/passwd"
    echo 'vitrine:x:10001:' >>"$root/etc/group"
  fi
  install -d -m 700 -o 10001 -g 10001 "$root/var/lib/vitrine"
}

check() {
  local root port url log
  root=$(mktemp -d)
  trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$root"' RETURN
  stage "$root"
  mkdir -p "$root/etc" && touch "$root/etc/passwd" "$root/etc/group"
  user "$root"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  url=http://127.0.0.1:$port
  log=$root/server.log
  # As the image's user would run it: uid 10001, its own data dir, the site where the image has it.
  chmod 755 "$root"
  setpriv --reuid=10001 --regid=10001 --clear-groups env -i PATH=/usr/bin:/bin \
    LEPTOS_SITE_ROOT="$root/usr/local/share/vitrine/site" VITRINE_DATA_DIR="$root/var/lib/vitrine" \
    "$root/usr/local/bin/vitrine" serve --addr "127.0.0.1:$port" --embedded-s3-addr 127.0.0.1:0 \
    --artifacts-addr 127.0.0.1:0 --trace-viewer-addr 127.0.0.1:0 >"$log" 2>&1 &
  server=$!
  for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  fail() { echo "image check: $*" >&2; cat "$log" >&2; return 1; }
  curl -fsS "$url/healthz" >/dev/null || fail "the staged server does not answer"
  local page wasm
  curl -fsS -o /dev/null "$url/" || fail "no front page"
  curl -fsS -o /dev/null "$url/login" || fail "no sign-in page"
  # A build page is the app's: it names the bundle (a 404 for a build that is not there).
  page=$(curl -sS "$url/gh/no-such/project/1") || fail "no build page"
  wasm=$(grep -o '/pkg/[^"]*\.wasm' <<<"$page" | head -n 1 || true)
  [ -n "$wasm" ] && curl -fsS -o /dev/null "$url$wasm" || fail "the site's bundle is not served ($wasm)"
  curl -fsS "$url/downloads/" | grep -q "/downloads/vitrine-agent-" || fail "no agent at /downloads/"
  grep -q "No one can sign in yet" "$log" || fail "the first start does not say how to make the first user"
  [ "$(stat -c %u "$root/var/lib/vitrine/vitrine.db")" = 10001 ] || fail "the data dir is not the user's"
  echo "image: staged, served as uid 10001: the app, its bundle, the agent download and the first start's advice"
}

case "${1:-}" in
  stage) stage "$2" ;;
  user) user "$2" ;;
  check) check ;;
  *) echo "usage: $0 stage ROOT | user ROOT | check" >&2; exit 2 ;;
esac
