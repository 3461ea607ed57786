#!/usr/bin/env bash
# Provisions one customer domain's resources and prints its wrangler.toml block.
#
#   bash scripts/provision-domain.sh <env-name> <route-pattern> <zone-name>
#   e.g. bash scripts/provision-domain.sh acme 'logger.acme.io/*' acme.io
#
# Creates the queues (logs, alerts and their dead-letter queues), the D1 database and the KV
# namespace with wrangler (log in first: npx wrangler login), then prints the [env.<name>] block
# to paste into wrangler.toml, ids filled in. With --print-only it creates nothing and prints
# the block with placeholder ids. Then: migrations, secrets and deploy, as docs/manual/deploy.md says.
set -euo pipefail
cd "$(dirname "$0")/.."
export WRANGLER_SEND_METRICS=false

print_only=false
if [ "${1:-}" = "--print-only" ]; then print_only=true; shift; fi
if [ $# -ne 3 ]; then
  echo "usage: $0 [--print-only] <env-name> <route-pattern> <zone-name>" >&2
  exit 2
fi
name="$1" route="$2" zone="$3"
if ! [[ "$name" =~ ^[a-z0-9][a-z0-9-]{0,40}$ ]]; then
  echo "env name: lowercase letters, digits and '-'" >&2
  exit 2
fi
prefix="edge-logger-$name"
d1_id="REPLACE-WITH-D1-DATABASE-ID"
kv_id="REPLACE-WITH-KV-NAMESPACE-ID"
ns_base=$(( (($(printf '%s' "$name" | cksum | cut -d' ' -f1) % 9000) + 1000) * 10 ))

if ! $print_only; then
  for queue in "$prefix-logs" "$prefix-logs-dlq" "$prefix-alerts" "$prefix-alerts-dlq"; do
    npx wrangler queues create "$queue" >&2
  done
  d1_out=$(npx wrangler d1 create "$prefix" 2>&1 | tee /dev/stderr)
  d1_id=$(grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' <<<"$d1_out" | head -1)
  npx wrangler r2 bucket create "$prefix-artifacts" >&2
  kv_out=$(npx wrangler kv namespace create "$prefix-hot" 2>&1 | tee /dev/stderr)
  kv_id=$(grep -oE '[0-9a-f]{32}' <<<"$kv_out" | head -1)
  [ -n "$d1_id" ] && [ -n "$kv_id" ] || { echo "could not read the new ids from wrangler's output" >&2; exit 1; }
fi

cat <<TOML
[env.$name]
name = "$prefix"
routes = [{ pattern = "$route", zone_name = "$zone" }]

[env.$name.triggers]
crons = ["*/5 * * * *"]

[env.$name.vars]
DEFAULT_ENVIRONMENT = "production"
SCRUB_EMAILS = "true"
SCRUB_IPS = "true"
RETENTION_DEBUG_DAYS = "7"
RETENTION_INFO_DAYS = "30"
RETENTION_WARN_DAYS = "30"
RETENTION_ERROR_DAYS = "90"
BUILTIN_ALERTS = "true"
ALERT_CHANNELS = "[]"
PUBLIC_URL = "https://${route%%/*}"

[[env.$name.ratelimits]]
name = "RATE_LIMIT"
namespace_id = "$((ns_base + 1))"
simple = { limit = 1000, period = 10 }

[[env.$name.ratelimits]]
name = "RATE_LIMIT_LOW"
namespace_id = "$((ns_base + 2))"
simple = { limit = 100, period = 10 }

[[env.$name.ratelimits]]
name = "RATE_LIMIT_HIGH"
namespace_id = "$((ns_base + 3))"
simple = { limit = 10000, period = 10 }

[[env.$name.d1_databases]]
binding = "DB"
database_name = "$prefix"
database_id = "$d1_id"
migrations_dir = "migrations"

[[env.$name.durable_objects.bindings]]
name = "EVENT_SHARDS"
class_name = "EventShard"

[[env.$name.migrations]]
tag = "v1-event-shards"
new_sqlite_classes = ["EventShard"]

[[env.$name.durable_objects.bindings]]
name = "TAIL_HUBS"
class_name = "TailHub"

[[env.$name.migrations]]
tag = "v2-tail-hubs"
new_sqlite_classes = ["TailHub"]

[[env.$name.r2_buckets]]
binding = "ARTIFACTS"
bucket_name = "$prefix-artifacts"

[[env.$name.kv_namespaces]]
binding = "HOT"
id = "$kv_id"

[[env.$name.queues.producers]]
binding = "LOGS"
queue = "$prefix-logs"

[[env.$name.queues.consumers]]
queue = "$prefix-logs"
max_batch_size = 100
max_batch_timeout = 1
max_retries = 5
retry_delay = 5
dead_letter_queue = "$prefix-logs-dlq"

[[env.$name.queues.consumers]]
queue = "$prefix-logs-dlq"
max_batch_size = 10
max_batch_timeout = 5

[[env.$name.queues.producers]]
binding = "ALERTS"
queue = "$prefix-alerts"

[[env.$name.queues.consumers]]
queue = "$prefix-alerts"
max_batch_size = 10
max_batch_timeout = 1
max_retries = 4
dead_letter_queue = "$prefix-alerts-dlq"

[[env.$name.queues.consumers]]
queue = "$prefix-alerts-dlq"
max_batch_size = 10
max_batch_timeout = 5
TOML

if ! $print_only; then
  cat >&2 <<NEXT

Paste the block above into wrangler.toml, then:
  npx wrangler d1 migrations apply DB --remote --env $name
  npx wrangler secret put ADMIN_TOKEN --env $name       # e.g. openssl rand -hex 32
  npx wrangler secret put ENCRYPTION_KEY --env $name    # optional, 64 hex characters
  npm run deploy -- --env $name
NEXT
fi
