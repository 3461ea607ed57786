#!/usr/bin/env bash
# `npm test`: install what is missing, native tests, wasm build, integration tests under Miniflare.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_all
started=$(date +%s)

log "cargo fmt --check; clippy (native and wasm32: the platform edge only builds for wasm)"
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
cargo clippy --quiet --target wasm32-unknown-unknown -- -D warnings

log "cargo test (native, pure core)"
cargo test --quiet

bash scripts/build.sh

log "integration tests (built worker in workerd via Miniflare: real local D1, KV, Queues)"
node --test --test-concurrency=1 tests/

log "npm test finished in $(( $(date +%s) - started ))s"
