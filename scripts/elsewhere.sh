#!/usr/bin/env bash
# A team's servers, tested across a network: `vitrine serve` runs on a host of its own (a
# network namespace this script makes, joined to this machine by a veth pair, 10.231.7.1 and
# 10.231.7.2; inside it 127.0.0.1 is the namespace's own loopback, not this machine's), bound
# to all its addresses and told only its --public-url. From outside, a build agent stores a
# build (small files, one of 70 MiB, screenshots, an HTML report, a trace), the API lists it
# with every URL on the public host, `vitrine artifacts download` with the project's build
# token fetches it byte for byte, and Chromium (end2end/elsewhere/) loads the build
# page, its thumbnails, the report and the trace. Removes the namespace when done.
#
# Usage: bash scripts/elsewhere.sh (after scripts/build.sh; as root, which `ip netns` needs)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$PWD/target/release/vitrine
[ -x "$bin" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }

ns=vitrine-elsewhere-$$
outside=vte$$o inside=vte$$i
server_ip=10.231.7.1 client_ip=10.231.7.2
url=http://$server_ip:3000
work=$(mktemp -d)
chmod 755 "$work"
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  ip netns del "$ns" 2>/dev/null || true
  ip link del "$outside" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAILED: $*" >&2; echo "--- the server's last lines" >&2; tail -n 15 "$work/server.log" | cut -c1-300 >&2; exit 1; }

ip netns add "$ns"
ip link add "$outside" type veth peer name "$inside"
ip link set "$inside" netns "$ns"
ip addr add "$client_ip/30" dev "$outside"
ip link set "$outside" up
ip netns exec "$ns" ip addr add "$server_ip/30" dev "$inside"
ip netns exec "$ns" ip link set "$inside" up
ip netns exec "$ns" ip link set lo up

# Every listener on all the host's addresses; only the public URL says how clients reach it.
ip netns exec "$ns" "$bin" serve --data-dir "$work/data" --public-url "$url" --addr 0.0.0.0:3000 \
  --embedded-s3-addr 0.0.0.0:3900 --artifacts-addr 0.0.0.0:3001 --trace-viewer-addr 0.0.0.0:3002 \
  >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "$url/healthz" >/dev/null || fail "the server does not answer at $url"

admin() { "$bin" admin --data-dir "$work/data" "$@"; }
admin project add gh/team/app >/dev/null
printf 'team-password\n' | admin user add alice --password-stdin >/dev/null
admin member add gh/team/app alice >/dev/null
token=$(admin project token gh/team/app | tail -n 1)
reader=$(admin token create alice | tail -n 1)

# The build, stored from outside.
mkdir -p "$work/build"
cp -r demo/screenshots demo/report demo/traces "$work/build/"
(
  cd "$work/build"
  for i in $(seq 1 20); do echo "log line $i of the build" >"small-$i.txt"; done
  head -c $((70 << 20)) /dev/urandom >big.bin
  "$bin" run --server "$url" --token "$token" --project gh/team/app --branch main -- bash -ec '
    cp small-*.txt big.bin "$CIRCLE_ARTIFACTS/"
    vitrine=$0
    "$vitrine" store-artifacts --path screenshots --destination screenshots
    "$vitrine" store-artifacts --path report --destination report
    "$vitrine" store-artifacts --path traces/trace.zip --destination traces/trace.zip
  ' "$bin"
) >"$work/run.log" 2>&1 || { cat "$work/run.log"; fail "vitrine run from outside"; }

# Listed with every URL on the public host.
curl -fsS -H "Circle-Token: $reader" "$url/api/v1.1/project/gh/team/app/1/artifacts" >"$work/listing.json" \
  || fail "the listing"
python3 - "$work/listing.json" "$url" <<'PY' || fail "the listing's URLs"
import json, sys
listing, url = json.load(open(sys.argv[1])), sys.argv[2]
assert len(listing) == 20 + 1 + 3 + 3 + 1, f"{len(listing)} artifacts listed"
strays = [a["url"] for a in listing if not a["url"].startswith(url + "/")]
assert not strays, f"URLs not on {url}: {strays[:3]}"
PY
# The big file's artifact route leads to the embedded store on the public host, and its bytes
# come back whole.
location=$(curl -fsS -o /dev/null -w '%{redirect_url}' -H "Circle-Token: $reader" \
  "$url/api/v1.1/project/gh/team/app/1/artifacts/0/\$CIRCLE_ARTIFACTS/big.bin")
case "$location" in "$url/"*) ;; *) fail "the big file's download URL is $location" ;; esac
[ "$(curl -fsS "$location" | sha256sum)" = "$(sha256sum <"$work/build/big.bin")" ] || fail "the big file's bytes"

# Fan-in: the project's build token downloads the build, byte for byte.
"$bin" artifacts download --server "$url" --token "$token" --project gh/team/app --build 1 '**' "$work/fetched" \
  >"$work/download.log" 2>&1 || { cat "$work/download.log"; fail "artifacts download"; }
for f in big.bin small-1.txt small-20.txt; do
  cmp -s "$work/build/$f" "$work/fetched/\$CIRCLE_ARTIFACTS/$f" || fail "downloaded $f differs"
done
cmp -s demo/traces/trace.zip "$work/fetched/traces/trace.zip" || fail "downloaded trace.zip differs"
echo "elsewhere: stored, listed and downloaded across the network (28 artifacts, one of 70 MiB)"

# Chromium outside: the build page, its thumbnails, the report and the trace.
cd end2end
VITRINE_ELSEWHERE_BUILD=/gh/team/app/1 VITRINE_ELSEWHERE_USER=alice VITRINE_ELSEWHERE_PASSWORD=team-password \
  VITRINE_ELSEWHERE_TRACE_ORIGIN=http://$server_ip:3002 BASE_URL=$url npx playwright test --config elsewhere.config.ts 2>&1 \
  || fail "the browser outside"
