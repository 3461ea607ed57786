//! Other tools' wire formats, mapped into our one event model.

crate::error::message_error!(
    /// Why part of another tool's request could not be read (a Loki entry, an OTLP record, a
    /// label set): a sentence naming the part, which becomes that item's rejection.
    Malformed
);

pub mod budget;
pub mod elastic;
pub mod loki;
pub mod otlp;
pub mod sentry;

use serde_json::Value;

use crate::error::AppError;

/// The array under `key` of a JSON request body (`resourceLogs`, `streams`): a body that is
/// not JSON, or has no such array, is a 400 naming the protocol it was sent as.
pub(crate) fn root_array(body: &[u8], key: &str, protocol: &str) -> Result<Vec<Value>, AppError> {
    let mut root: Value = serde_json::from_slice(body)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid {protocol}: {e}.")))?;
    take_array(&mut root, key).ok_or_else(|| AppError::InvalidEvents {
        message: format!("The body has no {key} array."),
        errors: vec![],
    })
}

/// The array under `key` of a parsed object, moved out rather than copied.
pub(crate) fn take_array(value: &mut Value, key: &str) -> Option<Vec<Value>> {
    match value.get_mut(key).map(Value::take) {
        Some(Value::Array(items)) => Some(items),
        _ => None,
    }
}

#[cfg(test)]
mod snapshots;
