//! Wasm-only runtime helpers that are not HTTP: binding names, the clock, the incoming request
//! as the platform hands it, and how the isolate resumes Rust futures.

pub(crate) mod bindings;
pub(crate) mod clock;
pub(crate) mod incoming;
pub(crate) mod microtasks;
pub(crate) mod objects;
