//! Security: who is calling and what they may do (`auth`), API key records and material
//! (`keys`), the scopes and rate tiers of keys (`scopes`), and encryption at rest
//! (`encryption`). Pure, but for `store` (the keys' D1 table and KV cache, wasm).

pub mod auth;
pub mod encryption;
pub mod keys;
pub mod scopes;
#[cfg(target_arch = "wasm32")]
pub(crate) mod store;
