#!/usr/bin/env bash
# A second, independent S3 implementation for the tests: moto's server (PyPI), installed once
# into a virtualenv under ~/.cache/vitrine (versions pinned in scripts/moto-requirements.txt)
# and started on 127.0.0.1:PORT. moto takes any keys (the tests use testing/testing), keeps
# objects in memory, and fails the server's start-up probe of checked PUTs, so the server's
# fallback (verifying uploads by copying them) runs against it. Prints the endpoint URL to give
# the tests as VITRINE_TEST_S3.
#
# Usage: bash scripts/moto.sh start DIR PORT     (DIR: its pid and log)
#        bash scripts/moto.sh stop DIR
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=scripts/moto-requirements.txt
version=$(sed -n 's/^moto==//p' "$requirements")
venv=${XDG_CACHE_HOME:-$HOME/.cache}/vitrine/moto-$version

case "${1:-}" in
  start)
    dir=$2 port=$3
    mkdir -p "$dir"
    if [ ! -x "$venv/bin/moto_server" ]; then
      python3 -m venv "$venv" >"$dir/install.log" 2>&1 \
        || { cat "$dir/install.log" >&2; echo "python3 -m venv failed (Debian: apt-get install python3-venv)" >&2; exit 1; }
      "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >>"$dir/install.log" 2>&1 \
        || { cat "$dir/install.log" >&2; rm -rf "$venv"; exit 1; }
    fi
    "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
    echo $! >"$dir/pid"
    for _ in $(seq 1 100); do
      curl -fsS -o /dev/null "http://127.0.0.1:$port/moto-api/" 2>/dev/null && { echo "http://127.0.0.1:$port"; exit 0; }
      sleep 0.1
    done
    cat "$dir/moto.log" >&2
    exit 1
    ;;
  stop)
    [ -f "$2/pid" ] && kill "$(cat "$2/pid")" 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 start DIR PORT | stop DIR" >&2
    exit 2
    ;;
esac
