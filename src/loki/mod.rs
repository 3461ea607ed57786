//! Grafana's Loki data source reads edge-logger: the Loki HTTP query API over our events.
//! LogQL (`logql`) and its evaluation over entries (`eval`) are pure; `api` reads the query
//! API's parameters and writes its answers; the worker's handlers (`handlers::loki_read`) fetch
//! the events through the shards and call them.

pub mod api;
pub mod discover;
pub mod entries;
pub mod eval;
pub mod logql;
pub mod rollup;
#[cfg(target_arch = "wasm32")]
pub(crate) mod runner;
#[cfg(target_arch = "wasm32")]
pub(crate) mod serve;

#[cfg(test)]
mod eval_tests;
