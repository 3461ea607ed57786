//! Operations: the R2 archive format and its restore (`archive`), and the scheduled run that
//! applies retention (`shards::retention`) and housekeeping (`maintenance`). The service's own
//! metrics are `crate::metrics`, dead letters `crate::dead_letters`.

pub mod archive;

#[cfg(target_arch = "wasm32")]
pub(crate) mod maintenance;
