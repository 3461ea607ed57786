//! OpenTelemetry logs over OTLP/HTTP (`POST /otlp/v1/logs`), in both of its encodings:
//! `application/x-protobuf` (the spec's default, and the only one of the Python, Java and .NET
//! exporters and the Collector's `otlphttp`) and `application/json`. Either is decoded into
//! one model (`model`, the protobuf messages) and mapped once (`map`); the answer goes back in
//! the request's encoding.

pub mod json;
pub mod map;
pub mod model;

use prost::Message;
use serde_json::json;

use crate::error::AppError;
use crate::processors::body::RawItem;

/// The two encodings of OTLP/HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// The route OTLP/HTTP exporters send logs to.
pub const PATH: &str = "/otlp/v1/logs";

pub const PROTOBUF_CONTENT_TYPE: &str = "application/x-protobuf";

impl Encoding {
    /// From `Content-Type`, as the spec names them; anything else is a 415.
    pub fn of(content_type: Option<&str>) -> Result<Encoding, AppError> {
        match crate::processors::body::mime_type(content_type).as_str() {
            "application/x-protobuf" | "application/protobuf" => Ok(Encoding::Protobuf),
            "application/json" => Ok(Encoding::Json),
            _ => Err(AppError::UnsupportedMediaType(
                "Send OTLP/HTTP as application/x-protobuf or application/json.".into(),
            )),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => PROTOBUF_CONTENT_TYPE,
            Encoding::Json => "application/json",
        }
    }
}

/// The request body into raw items for the pipeline, in order. A body that does not decode is
/// a 400; a record that cannot be read is rejected alone.
pub fn otlp_logs_to_items(body: &[u8], encoding: Encoding) -> Result<Vec<RawItem>, AppError> {
    match encoding {
        Encoding::Protobuf => {
            let request = model::ExportLogsServiceRequest::decode(body).map_err(|e| {
                AppError::InvalidJson(format!(
                    "The body is not a valid OTLP ExportLogsServiceRequest (protobuf): {e}."
                ))
            })?;
            map::request_to_items(request, &[], body.len())
        }
        Encoding::Json => {
            let decoded = json::decode(body)?;
            map::request_to_items(decoded.request, &decoded.malformed, body.len())
        }
    }
}

/// The OTLP answer: empty when everything was accepted, else `partial_success` with how many
/// records were rejected and why.
pub fn export_response(rejected: usize, first_error: Option<&str>, encoding: Encoding) -> Vec<u8> {
    let partial = (rejected > 0).then(|| model::ExportLogsPartialSuccess {
        rejected_log_records: i64::try_from(rejected).unwrap_or(i64::MAX),
        error_message: first_error
            .unwrap_or("some log records were rejected")
            .to_string(),
    });
    match (encoding, partial) {
        (Encoding::Protobuf, partial_success) => {
            model::ExportLogsServiceResponse { partial_success }.encode_to_vec()
        }
        (Encoding::Json, None) => b"{}".to_vec(),
        (Encoding::Json, Some(p)) => json!({"partialSuccess": {
            "rejectedLogRecords": p.rejected_log_records.to_string(),
            "errorMessage": p.error_message,
        }})
        .to_string()
        .into_bytes(),
    }
}

/// A failed protobuf request's body: `google.rpc.Status`, with the gRPC code closest to the
/// HTTP status (the spec leaves the code to the server; clients read the message).
pub fn rpc_status(status: u16, message: &str) -> Vec<u8> {
    let code = match status {
        400 | 413 | 415 => 3, // INVALID_ARGUMENT
        401 => 16,            // UNAUTHENTICATED
        403 => 7,             // PERMISSION_DENIED
        404 | 405 => 12,      // UNIMPLEMENTED
        429 => 8,             // RESOURCE_EXHAUSTED
        503 => 14,            // UNAVAILABLE
        _ => 13,              // INTERNAL
    };
    model::Status {
        code,
        message: message.to_string(),
    }
    .encode_to_vec()
}
