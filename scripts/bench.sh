#!/usr/bin/env bash
# `npm run bench`: installs what is missing (wrk and hey from Debian's packages), builds, and runs
# bench/run.mjs; results land in bench/results.json and are summarised in BENCHMARKS.md.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_all
# wrk for the most a worker answers; hey for a constant offered rate (the end-to-end phase).
for tool in wrk hey; do
  if ! command -v "$tool" >/dev/null; then
    log "installing $tool (Debian package)"
    if [ "$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool"; else sudo apt-get install -y "$tool"; fi
  fi
done
bash scripts/build.sh
exec node bench/run.mjs
