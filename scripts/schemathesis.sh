#!/usr/bin/env bash
# `npm run schemathesis`: property-based API tests from /openapi.json against a running
# `npm start` (127.0.0.1:8787), failing on any server error. Installs schemathesis if missing.
set -euo pipefail
VERSION="4.32.5"
BASE="${BASE_URL:-http://127.0.0.1:8787}"
TOKEN="${ADMIN_TOKEN:-dev-admin-token}"
if ! schemathesis --version 2>/dev/null | grep -q "$VERSION"; then
  pip install --quiet "schemathesis==$VERSION"
fi
curl -sf "$BASE/health" >/dev/null || { echo "start the worker first: npm start" >&2; exit 1; }
exec schemathesis run "$BASE/openapi.json" --header "Authorization: Bearer $TOKEN" \
  --checks not_a_server_error --max-examples "${MAX_EXAMPLES:-25}" --workers 2
