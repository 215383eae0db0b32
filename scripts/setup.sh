#!/usr/bin/env bash
# Installs what building and testing Vitrine needs, each only when missing or at the wrong
# version: the wasm32 target, cargo-leptos, wasm-bindgen-cli (matching Cargo.lock), Debian's
# Chromium, Debian's PostgreSQL, Debian's wrk, and the npm packages of end2end/ (Playwright,
# binaryen's wasm-opt).
#
# With --build-only (the Containerfile's build stage): what building needs and no test tool
# (Node.js and npm from Debian when missing, for binaryen's wasm-opt).
set -euo pipefail
cd "$(dirname "$0")/.."
build_only=false
[ "${1:-}" = "--build-only" ] && build_only=true

CARGO_LEPTOS_VERSION=0.3.10
WASM_BINDGEN_VERSION=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' Cargo.lock)
export PATH="$HOME/.cargo/bin:$PATH"

step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

# npm packages: reinstall only when package-lock.json changed since the last install.
npm_packages() {
  local stamp=end2end/node_modules/.vitrine-lock
  if [ ! -f "$stamp" ] || ! cmp -s end2end/package-lock.json "$stamp"; then
    step "Installing end2end npm packages"
    (cd end2end && npm ci --no-audit --no-fund)
    cp end2end/package-lock.json "$stamp"
  fi
}

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  step "Adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [ "$(cargo leptos --version 2>/dev/null)" != "cargo-leptos $CARGO_LEPTOS_VERSION" ]; then
  step "Installing cargo-leptos $CARGO_LEPTOS_VERSION (takes 15-20 minutes on 2 cores, once)"
  cargo install cargo-leptos --locked --version "$CARGO_LEPTOS_VERSION"
fi

if [ "$(wasm-bindgen --version 2>/dev/null)" != "wasm-bindgen $WASM_BINDGEN_VERSION" ]; then
  step "Installing wasm-bindgen-cli $WASM_BINDGEN_VERSION (must match Cargo.lock)"
  # Not --locked: the CLI's own lock file names a yanked crate.
  cargo install wasm-bindgen-cli --version "$WASM_BINDGEN_VERSION" --force
fi

if ! command -v npm >/dev/null 2>&1; then
  step "Installing Debian's Node.js and npm (the build uses binaryen's wasm-opt from npm)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm >/dev/null
fi

if $build_only; then
  npm_packages
  exit 0
fi

if [ ! -x /usr/bin/chromium ]; then
  step "Installing Debian's Chromium"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

if ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
  step "Installing Debian's PostgreSQL (the test suite runs on it too)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql postgresql-contrib >/dev/null
fi

if ! command -v wrk >/dev/null 2>&1; then
  step "Installing Debian's wrk (the load smoke test drives the server with it)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq wrk >/dev/null
fi

if ! command -v ip >/dev/null 2>&1; then
  step "Installing Debian's iproute2 (scripts/elsewhere.sh puts a server on a network namespace of its own)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq iproute2 >/dev/null
fi

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  step "Installing Debian's python3-venv (scripts/moto.sh installs moto, a second S3 for the tests, in one)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
fi

npm_packages
