#!/usr/bin/env bash
# `npm run bench`: installs what is missing (wrk from Debian's packages), builds, and runs
# bench/run.mjs; results land in bench/results.json and are summarised in BENCHMARKS.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_all
if ! command -v wrk >/dev/null; then
  log "installing wrk (Debian package)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; else sudo apt-get install -y wrk; fi
fi
bash scripts/build.sh
exec node bench/run.mjs
