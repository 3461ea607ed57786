#!/usr/bin/env bash
# `npm start`: install what is missing, apply D1 migrations locally, build and serve on
# 127.0.0.1:8787 (wrangler dev runs scripts/build.sh through wrangler.toml's [build]).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
setup_all
log "applying D1 migrations to the local database"
npx wrangler d1 migrations apply DB --local
log "building and serving on http://127.0.0.1:${PORT:-8787} (admin token: see .dev.vars)"
exec npx wrangler dev --ip 127.0.0.1 --port "${PORT:-8787}" "$@"
