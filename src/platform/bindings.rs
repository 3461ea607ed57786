//! The names of the worker's bindings, as `wrangler.toml` declares them.

/// D1: the control plane and the shard catalogue.
pub const DB: &str = "DB";
/// The static assets (dashboard, `/openapi.json`).
pub const ASSETS: &str = "ASSETS";
/// Durable Objects (SQLite): the event shards.
pub const EVENT_SHARDS: &str = "EVENT_SHARDS";
/// KV: the hot feed, and caches of key records and allowed origins.
pub const HOT: &str = "HOT";
/// The live tail's hubs (`src/tail/hub.rs`): one Durable Object per project.
pub const TAIL_HUBS: &str = "TAIL_HUBS";
/// Queue producer for accepted events.
pub const LOGS: &str = "LOGS";
/// Queue producer for alert deliveries.
pub const ALERTS: &str = "ALERTS";
/// R2 bucket of expired events (optional).
pub const ARCHIVE: &str = "ARCHIVE";
/// Source maps and minified files, and the chunks of uploads (`src/sourcemaps`).
pub const ARTIFACTS: &str = "ARTIFACTS";
/// The `send_email` binding for alert e-mails (optional).
pub const SEND_EMAIL: &str = "SEND_EMAIL";
/// Rate limiters, by a key's `rate_limit` tier.
pub const RATE_LIMIT: &str = "RATE_LIMIT";
pub const RATE_LIMIT_LOW: &str = "RATE_LIMIT_LOW";
pub const RATE_LIMIT_HIGH: &str = "RATE_LIMIT_HIGH";
