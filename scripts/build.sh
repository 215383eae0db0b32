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
#
# cargo-leptos makes the bundle's JS and WASM again on every run (wasm-bindgen and its
# optimizer: about 25 s) even when nothing changed. So the browser side is compiled first, as
# cargo-leptos compiles it (same target dir, profile and features: nothing is compiled twice);
# when it, the styles and the assets are what the site was made from last time, the site is
# kept and only the server is built, as cargo-leptos builds it.
front=(-p vitrine-app --lib --target wasm32-unknown-unknown --target-dir target/front --profile wasm-release
  --no-default-features --features hydrate)
LEPTOS_OUTPUT_NAME=vitrine cargo build --locked "${front[@]}"
inputs=$( {
  sha256sum target/front/wasm32-unknown-unknown/wasm-release/vitrine_app.wasm Cargo.toml Cargo.lock
  find style public -type f -print0 | sort -z | xargs -0 sha256sum
} | sha256sum)
if [ -f target/site/.made-from ] && [ "$(cat target/site/.made-from)" = "$inputs" ] && [ -f target/release/hash.txt ]; then
  LEPTOS_OUTPUT_NAME=vitrine cargo build --release --locked --package=vitrine --bin=vitrine --no-default-features
else
  rm -f target/site/.made-from
  cargo leptos build --release --precompress
  cp target/release/hash.txt target/site/hash.txt
  # cargo-leptos's gzip copies are made fast, not small: the bundle's own are remade at
  # gzip's best (a fifth smaller), as browsers without brotli fetch them.
  for file in target/site/pkg/*.wasm target/site/pkg/*.js target/site/pkg/*.css; do
    [ -f "$file" ] && gzip -9 -n -k -f "$file"
  done
  echo "$inputs" >target/site/.made-from
fi
# `--workspace`, not `-p vitrine-agent`: the features of the crates it shares with the server
# are then the server's, and nothing is compiled twice.
cargo build --release --locked --workspace --bin vitrine-agent
# The agent for build machines, which the server serves at /downloads/ with its checksum.
target=$(rustc -vV | sed -n 's/^host: //p')
agent=target/site/downloads/vitrine-agent-$target
if ! cmp -s target/release/vitrine-agent "$agent"; then
  mkdir -p target/site/downloads
  install -m 755 target/release/vitrine-agent "$agent"
  (cd target/site/downloads && sha256sum "vitrine-agent-$target" >"vitrine-agent-$target.sha256")
fi
# Playwright's trace viewer, which the artifacts origin serves under /trace-viewer/: copied from
# the playwright-core package that scripts/setup.sh installs.
viewer=end2end/node_modules/playwright-core/lib/vite/traceViewer
if [ -f "$viewer/index.html" ]; then
  rm -rf target/site/trace-viewer
  cp -r "$viewer" target/site/trace-viewer
fi
