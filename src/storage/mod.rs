//! Storage: every call to D1, KV, Queues and R2, the SQL of the event shards, and the SQL primitives they share (`sql`).

pub mod queue_body;
pub mod sql;

#[cfg(target_arch = "wasm32")]
pub mod d1;
#[cfg(target_arch = "wasm32")]
pub mod kv;
#[cfg(target_arch = "wasm32")]
pub mod queue;

/// The KV key of the hot feed: the latest events, refreshed once per consumer batch.
pub const HOT_FEED_KEY: &str = "recent:v1";
/// How many events the hot feed keeps.
pub const HOT_FEED_SIZE: usize = 100;
