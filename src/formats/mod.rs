//! Other tools' wire formats, mapped into our one event model.

pub mod otlp;
