#!/usr/bin/env bash
# Builds the release binary (target/release/vitrine) and the site (target/site) once;
# incremental when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo leptos build --release
