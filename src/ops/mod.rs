//! Operations: the retention plan (`retention`), the R2 archive format (`archive`), the
//! service's own metrics (`metrics`), and the scheduled run that applies them (`maintenance`).

pub mod archive;
pub mod metrics;
pub mod retention;

#[cfg(target_arch = "wasm32")]
pub(crate) mod maintenance;
