//! Cost controls: what a deployment keeps of what it is sent. Drop and sample rules
//! (`rules`), quotas per project (`quota`) and spike protection (`spike`), applied at ingest
//! before the queue.
//!
//! Pure: the rules and their verdicts; *wasm*: `store` (the rules in D1, cached per isolate).

pub mod quota;
pub mod rules;
pub mod spike;
#[cfg(target_arch = "wasm32")]
pub mod store;
