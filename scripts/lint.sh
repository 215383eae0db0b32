#!/usr/bin/env bash
# The lint gate, run first by scripts/test.sh: formatting (rustfmt), clippy with warnings as
# errors on each crate and feature set that ships (the server with the app's `ssr` side and the
# agent, the app's `hydrate` side for wasm32), and the shape of the code (scripts/layers.py). Lints themselves are in Cargo.toml's
# [workspace.lints] and clippy.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
start=$SECONDS
say() { printf '  %-44s %4d s\n' "$1" "$((SECONDS - start))"; }

rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

cargo fmt --all --check
say "rustfmt"
# Both checks below use the profile, target dir and LEPTOS_OUTPUT_NAME of the builds they lint
# (scripts/build.sh, cargo-leptos), so that build scripts, C libraries and proc macros are
# compiled once for the lint and the build (a cold run saves about two minutes).
# The server with the app's server side (`ssr`), the agent (built for build machines with the
# workspace's features, scripts/build.sh), the shared types, and all their tests.
LEPTOS_OUTPUT_NAME=vitrine cargo clippy --release --locked --workspace --all-targets -- -D warnings
say "clippy: the workspace (ssr, agent), with tests"
# The app's browser side, as the WASM bundle is built.
LEPTOS_OUTPUT_NAME=vitrine cargo clippy --locked -p vitrine-app --lib --no-default-features --features hydrate \
  --target wasm32-unknown-unknown --target-dir target/front --profile wasm-release -- -D warnings
say "clippy: the app for the browser (hydrate)"
# Layers, import cycles and file sizes (ARCHITECTURE.md says what each layer is).
python3 scripts/layers.py
say "layers, cycles and sizes"
