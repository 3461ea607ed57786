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
log "wasm: $(stat -c %s "$wasm") bytes raw, $(gzipped "$wasm") bytes gzipped"
# Cargo builds at opt-level 3 for speed; binaryen's wasm-opt (npm, pinned) then wins back the
# size: about -9 % gzipped for ~30 s. worker-build's own wasm-opt step stays off (Cargo.toml)
# because it would download a binary and does not pass the features wasm-bindgen's output uses
# (exception handling for its catch wrappers). WASM_OPT=off skips it for a quick edit loop.
if [ "${WASM_OPT:-on}" != "off" ]; then
  log "wasm-opt -O2 (binaryen $(node -p 'require("binaryen/package.json").version'))"
  node_modules/.bin/wasm-opt -O2 \
    --enable-exception-handling --enable-reference-types --enable-bulk-memory \
    --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    --enable-multivalue "$wasm" -o "$wasm.opt"
  mv "$wasm.opt" "$wasm"
  log "wasm after wasm-opt: $(stat -c %s "$wasm") bytes raw, $(gzipped "$wasm") bytes gzipped"
fi
log "building the dashboard"
node scripts/build-dashboard.mjs
