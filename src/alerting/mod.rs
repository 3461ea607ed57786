//! Alerting: rules and the decisions around them (`rules`) and what each channel receives
//! (`channels`), both pure; the engine that turns stored batches and the cron into alerts
//! (`engine`), the `ALERTS` consumer that delivers them (`delivery`), and IANA time zones from
//! the runtime's `Intl` (`time_zones`).

pub mod channels;
pub mod chat;
pub mod destinations;
pub mod notice;
pub mod paging;
pub mod query_counts;
pub mod receivers;
pub mod rules;
pub mod series;
pub mod tickets;

#[cfg(target_arch = "wasm32")]
pub(crate) mod calls;
#[cfg(target_arch = "wasm32")]
pub(crate) mod delivery;
#[cfg(target_arch = "wasm32")]
pub(crate) mod engine;
#[cfg(target_arch = "wasm32")]
pub(crate) mod keys;
#[cfg(target_arch = "wasm32")]
pub(crate) mod manual;
#[cfg(target_arch = "wasm32")]
pub(crate) mod store;
#[cfg(target_arch = "wasm32")]
pub(crate) mod ticketing;
#[cfg(target_arch = "wasm32")]
pub(crate) mod time_zones;
