//! Operations: the retention plan (`retention`), the R2 archive format (`archive`), dead-letter
//! replays (`dead_letters`), the
//! service's own metrics (`metrics`, counted per isolate by `recorder`), and the scheduled run
//! that applies retention and housekeeping (`maintenance`).

pub mod archive;
pub mod dead_letters;
pub mod metrics;
pub mod retention;

#[cfg(target_arch = "wasm32")]
pub(crate) mod maintenance;
#[cfg(target_arch = "wasm32")]
pub(crate) mod recorder;
