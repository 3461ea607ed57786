#!/usr/bin/env bash
# `npm run test:repeat`: installs what is missing, builds once, then runs every suite many times
# under a CPU hog (scripts/test-repeat.mjs says how many and how to choose).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_all
ensure_chromium
ensure_client_runtimes
if [[ ",${TEST_REPEAT_SUITES:-native,sdk,python,ruby,integration}," == *",integration,"* ]]; then
  bash scripts/build.sh
fi
log "building the native tests once"
cargo test --no-run --quiet
exec node scripts/test-repeat.mjs
