#!/usr/bin/env bash
# `npm test`: install what is missing, native tests, wasm build, integration tests under Miniflare.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_all
ensure_chromium
ensure_client_runtimes
ensure_schemathesis
ensure_otel_python
ensure_shippers
started=$(date +%s)

log "cargo fmt --check; clippy (native and wasm32: the platform edge only builds for wasm)"
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown -- -D warnings

log "cargo test (native, pure core)"
cargo test --quiet

log "fuzz targets: type-checked, so they keep building as the code moves (fuzzing itself runs on nightly)"
(cd fuzz && CARGO_TARGET_DIR=../target/fuzz cargo check --quiet --bins)

log "SDK: unit tests, types, size"
(cd sdk && node --test test/*.test.mjs)
npx --no-install tsc --noEmit --strict --target es2022 --module nodenext --moduleResolution nodenext sdk/test/types.check.ts
node sdk/scripts/size.mjs

log "clients: Python (unittest) and Ruby (minitest) unit tests"
(cd clients/python && python3 -m unittest discover -s tests)
(cd clients/ruby && ruby -Ilib -e 'Dir["test/test_*.rb"].each { |f| require_relative f }')

bash scripts/build.sh
# The wasm budget (docs/decisions.md, "Build and size"): a worker that grows past it fails
# here, not at deploy time. Set from what size costs at start-up (a cold first request in
# workerd, `npm run bench`'s `startup` phase): 2 MB gzipped is two thirds of the Free plan's 3 MB.
wasm_gz=$(gzipped build/index_bg.wasm)
if [ "$wasm_gz" -gt 2000000 ]; then
  log "build/index_bg.wasm is $wasm_gz bytes gzipped: over the 2,000,000-byte budget"
  exit 1
fi

log "integration tests (built worker in workerd via Miniflare: real local D1, KV, Queues)"
node --test --test-concurrency=1 tests/

log "npm test finished in $(( $(date +%s) - started ))s"
