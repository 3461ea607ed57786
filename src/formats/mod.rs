//! Other tools' wire formats, mapped into our one event model.

pub mod loki;
pub mod otlp;
pub mod sentry;
