//! Wasm-only runtime helpers that are not HTTP: the incoming request as the platform hands it,
//! and how the isolate resumes Rust futures.

pub(crate) mod incoming;
pub(crate) mod microtasks;
