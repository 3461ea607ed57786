//! The one error type of the service and its mapping onto the contract's JSON error body.
//!
//! Every handler returns `Result<_, AppError>`; `handlers::dispatch::error_response` turns an
//! `AppError` into a response in exactly one place. Messages are human sentences written for API users: never a
//! `Debug` dump, never an internal cause (5xx causes are logged, not returned).

use serde_json::{json, Value};

/// Declares a small error type of one concern that carries one sentence: why something failed,
/// for a log line or an answer. Each concern names its own (`processors::Invalid`,
/// `sourcemaps::MapError`, …), so a signature says what can go wrong where.
macro_rules! message_error {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        // Each type gets the same three accessors; a concern uses the ones it needs.
        #[allow(dead_code)]
        impl $name {
            pub fn new(message: impl Into<String>) -> Self {
                $name(message.into())
            }

            pub fn message(&self) -> &str {
                &self.0
            }

            pub fn into_message(self) -> String {
                self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        /// A sentence built where the failure is found (`format!`), taken as this error.
        impl From<String> for $name {
            fn from(message: String) -> Self {
                $name(message)
            }
        }

        impl From<&str> for $name {
            fn from(message: &str) -> Self {
                $name(message.to_string())
            }
        }
    };
}
pub(crate) use message_error;

use crate::model::{ItemError, RejectReason};

#[derive(Debug, Clone, PartialEq)]
pub enum AppError {
    /// 401: no credential, or one we do not know.
    Unauthorized(String),
    /// 403: a known credential without the scope the route needs.
    Forbidden(String),
    /// The request is well-formed but the resource's state refuses it (a built-in rule).
    Conflict(String),
    /// 404: unknown route or missing resource.
    NotFound(String),
    /// 405: known route, wrong method; carries the methods that are allowed.
    MethodNotAllowed(String),
    /// 400: the body is not JSON at all.
    InvalidJson(String),
    /// 400: the body parsed, but not one event in it is usable.
    InvalidEvents {
        message: String,
        errors: Vec<ItemError>,
    },
    /// 400: a bad query parameter or request field.
    InvalidParameter(String),
    /// 413: body, event count or event size over the contract's limits.
    PayloadTooLarge(String),
    /// 415: a content type we do not read.
    UnsupportedMediaType(String),
    /// 426: a WebSocket route asked without `Upgrade: websocket`.
    UpgradeRequired(String),
    /// 429: too many requests; retry after this many seconds.
    RateLimited { retry_after: u32 },
    /// 429: a project's quota is used up (the message names it); retry after its window turns.
    QuotaExceeded { message: String, retry_after: u32 },
    /// 503: a dependency (the queue, D1) is unavailable; retry after this many seconds.
    Unavailable { message: String, retry_after: u32 },
    /// 502: a receiver called on the caller's behalf (a ticket tracker) refused or failed; the
    /// message quotes what it said.
    BadGateway(String),
    /// 500: a bug or an unexpected platform failure. The cause is logged, never returned.
    Internal(String),
}

impl AppError {
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthorized(_) => 401,
            AppError::Forbidden(_) => 403,
            AppError::Conflict(_) => 409,
            AppError::NotFound(_) => 404,
            AppError::MethodNotAllowed(_) => 405,
            AppError::InvalidJson(_)
            | AppError::InvalidEvents { .. }
            | AppError::InvalidParameter(_) => 400,
            AppError::PayloadTooLarge(_) => 413,
            AppError::UnsupportedMediaType(_) => 415,
            AppError::UpgradeRequired(_) => 426,
            AppError::RateLimited { .. } | AppError::QuotaExceeded { .. } => 429,
            AppError::Unavailable { .. } => 503,
            AppError::BadGateway(_) => 502,
            AppError::Internal(_) => 500,
        }
    }

    /// The contract's snake_case error code.
    pub fn code(&self) -> &'static str {
        match self {
            AppError::Unauthorized(_) => "unauthorized",
            AppError::Forbidden(_) => "forbidden",
            AppError::Conflict(_) => "conflict",
            AppError::NotFound(_) => "not_found",
            AppError::MethodNotAllowed(_) => "method_not_allowed",
            AppError::InvalidJson(_) => RejectReason::InvalidJson.code(),
            AppError::InvalidEvents { .. } => RejectReason::InvalidEvent.code(),
            AppError::InvalidParameter(_) => "invalid_parameter",
            AppError::PayloadTooLarge(_) => "payload_too_large",
            AppError::UnsupportedMediaType(_) => "unsupported_media_type",
            AppError::UpgradeRequired(_) => "upgrade_required",
            AppError::RateLimited { .. } => "rate_limited",
            AppError::QuotaExceeded { .. } => RejectReason::QuotaExceeded.code(),
            AppError::Unavailable { .. } => "unavailable",
            AppError::BadGateway(_) => "bad_gateway",
            AppError::Internal(_) => "internal_error",
        }
    }

    /// The human sentence of the body. For 500 it is deliberately generic.
    pub fn message(&self) -> String {
        match self {
            AppError::Unauthorized(m)
            | AppError::Forbidden(m)
            | AppError::Conflict(m)
            | AppError::NotFound(m)
            | AppError::InvalidJson(m)
            | AppError::InvalidParameter(m)
            | AppError::PayloadTooLarge(m)
            | AppError::UnsupportedMediaType(m)
            | AppError::UpgradeRequired(m)
            | AppError::BadGateway(m) => m.clone(),
            AppError::InvalidEvents { message, .. } => message.clone(),
            AppError::Unavailable { message, .. } | AppError::QuotaExceeded { message, .. } => {
                message.clone()
            }
            AppError::MethodNotAllowed(allowed) => {
                format!("This route does not accept that method; allowed: {allowed}.")
            }
            AppError::RateLimited { retry_after } => {
                format!("Too many requests; retry after {retry_after} seconds.")
            }
            AppError::Internal(_) => {
                "An internal error occurred; it has been logged. Please retry later.".to_string()
            }
        }
    }

    /// Seconds for a `Retry-After` header, where the status calls for one.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            AppError::RateLimited { retry_after }
            | AppError::Unavailable { retry_after, .. }
            | AppError::QuotaExceeded { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// Methods for an `Allow` header on 405.
    pub fn allow(&self) -> Option<&str> {
        match self {
            AppError::MethodNotAllowed(allowed) => Some(allowed),
            _ => None,
        }
    }

    /// Whether the platform edge should log this error (every 5xx is logged with its cause).
    pub fn is_server_error(&self) -> bool {
        self.status() >= 500
    }

    /// The JSON body: `{"error": {"code", "message"}}`, plus per-event errors for ingest.
    pub fn body(&self) -> Value {
        let mut body = json!({"error": {"code": self.code(), "message": self.message()}});
        if let AppError::InvalidEvents { errors, .. } = self {
            body["accepted"] = json!(0);
            body["rejected"] = json!(errors.len());
            body["errors"] = json!(errors);
        }
        body
    }
}

/// A 400 `invalid_parameter` with a sentence naming the parameter and what is wrong with it.
pub fn invalid_parameter(message: impl Into<String>) -> AppError {
    AppError::InvalidParameter(message.into())
}

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppError::Internal(cause) => write!(f, "internal error: {cause}"),
            other => write!(f, "{}: {}", other.code(), other.message()),
        }
    }
}

impl std::error::Error for AppError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_maps_to_status_code_and_a_json_body() {
        let cases: Vec<(AppError, u16, &str)> = vec![
            (AppError::Unauthorized("no key".into()), 401, "unauthorized"),
            (AppError::Forbidden("no scope".into()), 403, "forbidden"),
            (AppError::Conflict("built-in".into()), 409, "conflict"),
            (AppError::NotFound("nope".into()), 404, "not_found"),
            (
                AppError::MethodNotAllowed("GET".into()),
                405,
                "method_not_allowed",
            ),
            (AppError::InvalidJson("bad".into()), 400, "invalid_json"),
            (
                AppError::InvalidEvents {
                    message: "none".into(),
                    errors: vec![],
                },
                400,
                "invalid_event",
            ),
            (
                AppError::InvalidParameter("limit".into()),
                400,
                "invalid_parameter",
            ),
            (
                AppError::PayloadTooLarge("big".into()),
                413,
                "payload_too_large",
            ),
            (
                AppError::UnsupportedMediaType("xml".into()),
                415,
                "unsupported_media_type",
            ),
            (
                AppError::RateLimited { retry_after: 3 },
                429,
                "rate_limited",
            ),
            (
                AppError::Unavailable {
                    message: "q".into(),
                    retry_after: 5,
                },
                503,
                "unavailable",
            ),
            (
                AppError::Internal("secret cause".into()),
                500,
                "internal_error",
            ),
        ];
        for (err, status, code) in cases {
            assert_eq!(err.status(), status, "{err:?}");
            assert_eq!(err.code(), code);
            let body = err.body();
            assert_eq!(body["error"]["code"], code);
            let message = body["error"]["message"].as_str().unwrap();
            assert!(!message.is_empty());
        }
    }

    #[test]
    fn internal_cause_never_reaches_the_body() {
        let body = AppError::Internal("D1_ERROR: no such table: events".into()).body();
        assert!(!body.to_string().contains("D1_ERROR"));
    }

    #[test]
    fn retry_after_only_where_the_contract_wants_it() {
        assert_eq!(
            AppError::RateLimited { retry_after: 7 }.retry_after(),
            Some(7)
        );
        assert_eq!(
            AppError::Unavailable {
                message: "x".into(),
                retry_after: 2
            }
            .retry_after(),
            Some(2)
        );
        assert_eq!(AppError::NotFound("x".into()).retry_after(), None);
    }

    #[test]
    fn invalid_events_body_lists_per_event_errors() {
        let err = AppError::InvalidEvents {
            message: "No event in the body is usable.".into(),
            errors: vec![ItemError::new(
                0,
                RejectReason::InvalidEvent,
                "message is required",
            )],
        };
        let body = err.body();
        assert_eq!(body["accepted"], 0);
        assert_eq!(body["rejected"], 1);
        assert_eq!(body["errors"][0]["index"], 0);
        assert_eq!(body["errors"][0]["code"], "invalid_event");
    }
}
