#!/usr/bin/env bash
# The viewer's heavier reads, each against a reference in the same run, on a private
# `vitrine serve` (fresh data dir, free ports on 127.0.0.1, embedded S3):
#
# 1. A folder of one 1 GiB file downloaded as a zip, against the same bytes read straight
#    from S3 through their signed URL; the server's peak RSS while it streams (goal: flat,
#    no more than a few tens of MiB over its idle size).
# 2. A folder of 1,000 files as a zip, against the 1,000 files read one by one.
# 3. A file inside a zip of 5,000 files (a report uploaded as one archive), opened on the
#    artifacts origin: the first read (central directory read by ranged GETs) and later ones
#    (cached), against a stored artifact of the same size on the same origin.
# 4. Two 1920x1080 screenshots compared pixel by pixel: first time and cached.
#
# Needs a release build (bash scripts/build.sh). Usage: bash bench/viewer.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/private_server.sh
start_private_server --max-build-artifacts 200000
"$bin" admin --data-dir "$work/data" project add gh/bench/viewer --public >/dev/null
token=$("$bin" admin --data-dir "$work/data" project token gh/bench/viewer | tail -n 1)
api="$url/api/v1.1/project/gh/bench/viewer"

echo "storing a build: 1 GiB file, 1,000 files, a zip of 5,000 files, two screenshots (a minute)..." >&2
(cd "$work" && "$bin" run --server "$url" --token "$token" --project gh/bench/viewer --branch main -- bash -ec '
  cd "$CIRCLE_ARTIFACTS"
  mkdir -p big many site shots
  head -c 1073741824 /dev/urandom > big/blob.bin
  for i in $(seq 1 1000); do head -c 2000 /dev/urandom | base64 > "many/$i.txt"; done
  python3 - <<PY
import base64, os, zipfile, struct, zlib
with zipfile.ZipFile("site/report.zip", "w", zipfile.ZIP_DEFLATED) as z:
    for i in range(5000):
        z.writestr(f"report/pages/{i}.html", "<p>" + base64.b64encode(os.urandom(1500)).decode() + "</p>")
    z.writestr("report/index.html", "<h1>report</h1>" + "x" * 20000)
open("site/plain.html", "w").write("<h1>report</h1>" + "x" * 20000)
def png(path, w, h, box):
    rows = []
    for y in range(h):
        row = bytearray(b"\x00" + b"\xf3\xf4\xf6" * w)
        if box[1] <= y < box[3]:
            row[1 + box[0] * 3:1 + box[2] * 3] = b"\x34\x51\xb2" * (box[2] - box[0])
        rows.append(bytes(row))
    def chunk(t, d): return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    open(path, "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))
png("shots/a.png", 1920, 1080, (100, 100, 600, 400))
png("shots/b.png", 1920, 1080, (140, 120, 640, 420))
PY
' >"$work/store.log" 2>&1) || { tail -n 20 "$work/store.log" >&2; exit 1; }
# A second build on main with b.png as a.png: its screenshot compares with build 1's.
(cd "$work" && "$bin" run --server "$url" --token "$token" --project gh/bench/viewer --branch main -- bash -ec "
  mkdir -p \"\$CIRCLE_ARTIFACTS/shots\"
  curl -fsSL '$api/1/artifacts/0/\$CIRCLE_ARTIFACTS/shots/b.png' -o \"\$CIRCLE_ARTIFACTS/shots/a.png\"
" >>"$work/store.log" 2>&1) || { tail -n 20 "$work/store.log" >&2; exit 1; }

print_versions
echo "machine: $(nproc) cores"
rss_mib() { awk '/VmRSS/ {printf "%d", $2/1024}' "/proc/$server/status"; }
secs() { python3 -c "print(f'{$1:.2f}')"; }

echo
echo "1. a folder of one 1 GiB file as a zip, against the bytes straight from S3"
signed=$(curl -fsS -o /dev/null -w '%{redirect_url}' "$api/1/artifacts/0/\$CIRCLE_ARTIFACTS/big/blob.bin")
raw=$(curl -fsS -o /dev/null -w '%{time_total}' "$signed")
idle=$(rss_mib)
peak=$idle
curl -fsS -o /dev/null -w '%{time_total} %{size_download}\n' "$url/gh/bench/viewer/1/download/0?folder=%24CIRCLE_ARTIFACTS%2Fbig%2F" >"$work/zip.out" &
zipper=$!
while kill -0 $zipper 2>/dev/null; do now=$(rss_mib); [ "$now" -gt "$peak" ] && peak=$now; sleep 0.1; done
wait $zipper
read -r zipped bytes <"$work/zip.out"
echo "   S3 signed URL: $(secs "$raw") s ($(secs "1024/$raw") MiB/s)"
echo "   zip download:  $(secs "$zipped") s ($(secs "$bytes/1048576/$zipped") MiB/s), ratio $(secs "$raw/$zipped") of S3"
echo "   server RSS:    idle $idle MiB, peak $peak MiB while zipping"

echo
echo "2. a folder of 1,000 files as a zip, against reading the 1,000 files one by one"
start=$(date +%s.%N)
for i in $(seq 1 1000); do curl -fsSL -o /dev/null "$api/1/artifacts/0/\$CIRCLE_ARTIFACTS/many/$i.txt"; done
one_by_one=$(python3 -c "import time; print(time.time() - $start)")
zip_many=$(curl -fsS -o /dev/null -w '%{time_total}' "$url/gh/bench/viewer/1/download/0?folder=%24CIRCLE_ARTIFACTS%2Fmany%2F")
echo "   one by one (curl, redirect + GET each): $(secs "$one_by_one") s"
echo "   as one zip:                              $(secs "$zip_many") s"

echo
echo "3. a page inside a zip of 5,000 files, against the same page stored on its own (20 reads each)"
open_on_origin() { curl -fsS -o /dev/null -w '%{redirect_url}' -H 'Sec-Fetch-Mode: navigate' "$api/1/artifacts/0/\$CIRCLE_ARTIFACTS/site/$1"; }
time_reads() { # URL: first, then median of 20
  local first; first=$(curl -fsS -o /dev/null -w '%{time_total}' "$1")
  local rest; rest=$(for _ in $(seq 1 20); do curl -fsS -o /dev/null -w '%{time_total}\n' "$1"; done | sort -n | sed -n 10p)
  echo "$first $rest"
}
read -r member_first member_median < <(time_reads "$(open_on_origin report.zip/report/index.html)")
read -r plain_first plain_median < <(time_reads "$(open_on_origin plain.html)")
echo "   in the zip:  first $(secs "$member_first*1000") ms, then median $(secs "$member_median*1000") ms"
echo "   stored:      first $(secs "$plain_first*1000") ms, then median $(secs "$plain_median*1000") ms"
echo "   ratio (median): $(secs "$member_median/$plain_median")x the stored file"

echo
echo "4. two 1920x1080 screenshots compared pixel by pixel"
diff_url="$url/gh/bench/viewer/2/compare/0/%24CIRCLE_ARTIFACTS/shots/a.png"
cold=$(curl -fsS -o /dev/null -w '%{time_total}' "$diff_url")
changed=$(curl -fsS -D - -o /dev/null "$diff_url" | awk -F': ' 'tolower($1) == "x-changed-pixels" {print $2}' | tr -d '\r')
warm=$(for _ in $(seq 1 20); do curl -fsS -o /dev/null -w '%{time_total}\n' "$diff_url"; done | sort -n | sed -n 10p)
echo "   first: $(secs "$cold*1000") ms; cached: median $(secs "$warm*1000") ms; $changed pixels changed"
