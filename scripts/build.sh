#!/usr/bin/env bash
# Builds build/index.js + build/index_bg.wasm, and the dashboard (dashboard/dist, served as
# Workers static assets). wrangler's [build] command runs this too.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
# The test suite's dry-run deploys reuse the build it just made.
if [ "${EDGE_LOGGER_SKIP_BUILD:-}" = "1" ] && [ -f build/index.js ]; then
  log "reusing build/ (EDGE_LOGGER_SKIP_BUILD=1)"
  exit 0
fi
setup_all

# worker-build would download these; this network reaches only the package registries.
export WASM_BINDGEN_BIN="$CARGO_HOME/bin/wasm-bindgen"
export ESBUILD_BIN="$ROOT/node_modules/.bin/esbuild"
log "building the worker (release wasm)"
worker-build --release
wasm="build/index_bg.wasm"
[ -f "$wasm" ] || wasm="$(ls build/*.wasm | head -1)"
log "wasm: $(stat -c %s "$wasm") bytes raw, $(gzip -9 -c "$wasm" | wc -c) bytes gzipped"
log "building the dashboard"
node scripts/build-dashboard.mjs
