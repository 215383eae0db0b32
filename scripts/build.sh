#!/usr/bin/env bash
# Builds the release binaries (target/release/vitrine, and target/release/vitrine-agent for
# build machines) and the site (target/site, precompressed, hashed names) once; incremental
# when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# --precompress: a brotli and a gzip copy beside each site file, which the server sends as they
# are. With hash-files (Cargo.toml), the bundle's names carry its content hash, listed in
# target/release/hash.txt; a copy goes into the site, so the site folder is complete alone.
cargo leptos build --release --precompress
cp target/release/hash.txt target/site/hash.txt
# cargo-leptos's gzip copies are made fast, not small: the bundle's own are remade at gzip's
# best (a fifth smaller), as browsers without brotli fetch them.
for file in target/site/pkg/*.wasm target/site/pkg/*.js target/site/pkg/*.css; do
  [ -f "$file" ] && gzip -9 -n -k -f "$file"
done
# `--workspace`, not `-p vitrine-agent`: the features of the crates it shares with the server
# are then the server's, and nothing is compiled twice.
cargo build --release --locked --workspace --bin vitrine-agent
# Playwright's trace viewer, which the artifacts origin serves under /trace-viewer/: copied from
# the playwright-core package that scripts/setup.sh installs.
viewer=end2end/node_modules/playwright-core/lib/vite/traceViewer
if [ -f "$viewer/index.html" ]; then
  rm -rf target/site/trace-viewer
  cp -r "$viewer" target/site/trace-viewer
fi
