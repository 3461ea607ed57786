//! The platform clock: the one place the edge reads it (pure code is given it as a value, since
//! `std::time::Instant` panics on wasm32). Also what durations are measured with.

use crate::error::AppError;
use crate::processors::timestamp::{format_ts, from_millis};

/// Unix milliseconds, from `Date.now()` (no `Date` object is made).
pub(crate) fn millis() -> u64 {
    worker::js_sys::Date::now() as u64
}

/// [`millis`] as a UTC instant.
pub(crate) fn clock() -> Result<chrono::DateTime<chrono::Utc>, AppError> {
    from_millis(millis() as i64).ok_or_else(|| AppError::Internal("clock out of range".into()))
}

/// [`clock`] in the stored text form (`YYYY-MM-DDTHH:MM:SS.mmmZ`).
pub(crate) fn clock_text() -> Result<String, AppError> {
    clock().map(format_ts)
}
