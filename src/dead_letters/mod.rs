//! Dead letters: events and alert deliveries the queues gave up on. What a replay request names
//! (pure, here); `store` keeps them in D1 with the reason each failed, and the handler replays
//! them.

#[cfg(target_arch = "wasm32")]
pub(crate) mod store;

use serde_json::Value;

use crate::error::AppError;

/// The ids a `POST /v1/dead-letters/replay` body names; `None` (an empty body, or no `ids`)
/// replays every dead letter.
pub fn replay_ids(body: &[u8]) -> Result<Option<Vec<String>>, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    if !value.is_object() {
        return Err(AppError::InvalidParameter(
            "The body is an object: {\"ids\": [...]}, or empty for every dead letter.".into(),
        ));
    }
    let ids = match value.get("ids") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(ids)) => ids,
        Some(_) => {
            return Err(AppError::InvalidParameter(
                "ids must be an array of dead-letter ids".into(),
            ))
        }
    };
    ids.iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .ok_or_else(|| AppError::InvalidParameter("ids must be strings".into()))
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// The queue binding a dead letter goes back to.
pub fn replay_binding(queue: &str) -> &'static str {
    match queue.contains("alerts") {
        true => "ALERTS",
        false => "LOGS",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_bodies() {
        assert_eq!(replay_ids(b"").unwrap(), None);
        assert_eq!(replay_ids(b"{}").unwrap(), None);
        assert_eq!(
            replay_ids(br#"{"ids":["a","b"]}"#).unwrap(),
            Some(vec!["a".into(), "b".into()])
        );
        for bad in [&b"[]"[..], br#"{"ids":"a"}"#, br#"{"ids":[1]}"#, b"{"] {
            assert_eq!(replay_ids(bad).unwrap_err().status(), 400);
        }
        assert_eq!(replay_binding("edge-logger-alerts-dlq"), "ALERTS");
        assert_eq!(replay_binding("edge-logger-logs-dlq"), "LOGS");
    }
}
