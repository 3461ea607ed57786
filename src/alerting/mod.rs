//! Alerting: rules and every decision around them (`rules`, pure), the engine that turns stored
//! batches and the cron into alerts and delivers them (`engine`), and IANA time zones from the
//! runtime's `Intl` (`time_zones`).

pub mod rules;

#[cfg(target_arch = "wasm32")]
pub(crate) mod engine;
#[cfg(target_arch = "wasm32")]
pub(crate) mod time_zones;
