#!/usr/bin/env bash
# `npm run schemathesis`: property-based API tests generated from /openapi.json against a
# running worker (`npm start`, 127.0.0.1:8787), with every check (schemathesis.toml names the
# few left out and why). schemathesis is pinned and installed into the project's own venv.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
VENV=".tools/schemathesis-venv"
BASE="${BASE_URL:-http://127.0.0.1:8787}"
TOKEN="${ADMIN_TOKEN:-dev-admin-token}"
ensure_schemathesis
curl -sf "$BASE/health" >/dev/null || { echo "start the worker first: npm start" >&2; exit 1; }
# The coverage phase is left out: 4.32.5 stops on an internal error of its own there.
exec "$VENV/bin/schemathesis" --config-file schemathesis.toml run "$BASE/openapi.json" \
  --header "Authorization: Bearer $TOKEN" --phases examples,fuzzing,stateful \
  --max-examples "${MAX_EXAMPLES:-40}" --workers 2 --continue-on-failure --no-color "$@"
