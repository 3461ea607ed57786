//! Alerting: rules and the decisions around them (`rules`) and what each channel receives
//! (`channels`), both pure; the engine that turns stored batches and the cron into alerts
//! (`engine`), the `ALERTS` consumer that delivers them (`delivery`), and IANA time zones from
//! the runtime's `Intl` (`time_zones`).

pub mod channels;
pub mod destinations;
pub mod query_counts;
pub mod rules;
pub mod series;

#[cfg(target_arch = "wasm32")]
pub(crate) mod delivery;
#[cfg(target_arch = "wasm32")]
pub(crate) mod engine;
#[cfg(target_arch = "wasm32")]
pub(crate) mod store;
#[cfg(target_arch = "wasm32")]
pub(crate) mod time_zones;
