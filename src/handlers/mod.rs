//! The HTTP adapter: the route table (pure) and one file per group of routes (wasm-only).

#[cfg(test)]
pub mod openapi;
pub mod routes;

#[cfg(target_arch = "wasm32")]
mod alerts;
#[cfg(target_arch = "wasm32")]
mod archive;
#[cfg(target_arch = "wasm32")]
mod assign_rules;
#[cfg(target_arch = "wasm32")]
mod dead_letters;
#[cfg(target_arch = "wasm32")]
mod dispatch;
#[cfg(target_arch = "wasm32")]
mod elastic;
#[cfg(target_arch = "wasm32")]
mod groups;
#[cfg(target_arch = "wasm32")]
mod health;
#[cfg(target_arch = "wasm32")]
mod ingest;
#[cfg(target_arch = "wasm32")]
mod ingest_rules;
#[cfg(target_arch = "wasm32")]
mod keys;
#[cfg(target_arch = "wasm32")]
mod logs;
#[cfg(target_arch = "wasm32")]
mod loki_read;
#[cfg(target_arch = "wasm32")]
mod metrics;
#[cfg(target_arch = "wasm32")]
mod quotas;
#[cfg(target_arch = "wasm32")]
mod releases;
#[cfg(target_arch = "wasm32")]
mod sourcemaps;
#[cfg(target_arch = "wasm32")]
mod stats;
#[cfg(target_arch = "wasm32")]
mod storage;
#[cfg(target_arch = "wasm32")]
mod tail;
#[cfg(target_arch = "wasm32")]
mod usage;

#[cfg(target_arch = "wasm32")]
pub(crate) use dispatch::*;
