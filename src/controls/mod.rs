//! Cost controls: what a deployment keeps of what it is sent. Drop and sample rules
//! (`rules`) and quotas per project (`quota`), applied at ingest before the queue.
//!
//! Pure: the rules and their verdicts; *wasm*: `store` (the rules in D1, cached per isolate).

pub mod quota;
pub mod rules;
#[cfg(target_arch = "wasm32")]
pub mod store;
