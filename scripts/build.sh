#!/usr/bin/env bash
# Builds the release binaries (target/release/vitrine, and target/release/vitrine-agent for
# build machines) and the site (target/site) once; incremental when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo leptos build --release
cargo build --release --locked -p vitrine-agent --bin vitrine-agent
# Playwright's trace viewer, which the artifacts origin serves under /trace-viewer/: copied from
# the playwright-core package that scripts/setup.sh installs.
viewer=end2end/node_modules/playwright-core/lib/vite/traceViewer
if [ -f "$viewer/index.html" ]; then
  rm -rf target/site/trace-viewer
  cp -r "$viewer" target/site/trace-viewer
fi
