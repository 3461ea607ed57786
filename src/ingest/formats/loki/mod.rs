//! Loki's push API (`POST /loki/api/v1/push`) in both of its encodings, as Loki reads them:
//! snappy-compressed protobuf when `Content-Type` is `application/x-protobuf` or absent (what
//! Promtail, Grafana Alloy, the Docker driver, Fluent Bit's Loki plugin and Vector send by
//! default), JSON when it is `application/json`. Either is decoded into one model (`Stream`)
//! and mapped once (`map`).

pub mod map;
pub mod proto;

use crate::ingest::formats::Malformed;
use prost::Message;
use serde_json::{Map, Value};

use crate::error::AppError;
use crate::processors::body::{decode_snappy, RawItem, AGENT_MAX_BODY_BYTES};

/// One stream: its labels, and each entry or why it could not be read.
#[derive(Debug, Default, PartialEq)]
pub struct Stream {
    pub labels: Map<String, Value>,
    pub entries: Vec<Result<Entry, Malformed>>,
}

#[derive(Debug, PartialEq)]
pub struct Entry {
    pub nanos: u64,
    pub line: String,
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `logproto.PushRequest` in a raw snappy block.
    SnappyProtobuf,
    Json,
}

impl Encoding {
    /// As Loki chooses: JSON only when said so, protobuf otherwise (Promtail sends
    /// `application/x-protobuf`; some senders send no `Content-Type` at all).
    pub fn of(content_type: Option<&str>) -> Result<Encoding, AppError> {
        match crate::processors::body::mime_type(content_type).as_str() {
            "" | "application/x-protobuf" | "application/protobuf" => Ok(Encoding::SnappyProtobuf),
            "application/json" => Ok(Encoding::Json),
            other => Err(AppError::UnsupportedMediaType(format!(
                "Content-Type '{other}' is not a Loki push; send snappy-compressed protobuf \
                 (application/x-protobuf) or application/json."
            ))),
        }
    }
}

/// Whether the HTTP layer should undo this `Content-Encoding`. As in Loki, a protobuf push is
/// always a snappy block, and `Content-Encoding: snappy` (which some clients add) says only
/// that: the block is undone here, once, not twice.
pub fn undo_content_encoding(encoding: Encoding, content_encoding: Option<&str>) -> bool {
    !(encoding == Encoding::SnappyProtobuf
        && content_encoding.is_some_and(|e| e.trim().eq_ignore_ascii_case("snappy")))
}

/// The body, once any other `Content-Encoding` is undone, into raw items.
pub fn loki_push_to_items(body: &[u8], encoding: Encoding) -> Result<Vec<RawItem>, AppError> {
    let (streams, decoded_bytes) = match encoding {
        Encoding::Json => (map::json_streams(body)?, body.len()),
        Encoding::SnappyProtobuf => {
            let decoded = decode_snappy(body, AGENT_MAX_BODY_BYTES)?;
            (protobuf_streams(&decoded)?, decoded.len())
        }
    };
    map::streams_to_items(streams, decoded_bytes)
}

fn protobuf_streams(body: &[u8]) -> Result<Vec<Stream>, AppError> {
    let request = proto::PushRequest::decode(body).map_err(|e| {
        AppError::InvalidJson(format!(
            "The body is not a valid Loki PushRequest (snappy-compressed protobuf): {e}."
        ))
    })?;
    Ok(request
        .streams
        .into_iter()
        .map(|stream| {
            let labels = parse_labels(&String::from_utf8_lossy(&stream.labels));
            let entries = stream.entries.into_iter().map(|entry| match &labels {
                Err(reason) => Err(reason.clone()),
                Ok(_) => protobuf_entry(entry),
            });
            let entries = entries.collect();
            Stream {
                labels: labels.unwrap_or_default(),
                entries,
            }
        })
        .collect())
}

fn protobuf_entry(entry: proto::EntryAdapter) -> Result<Entry, Malformed> {
    let ts = entry.timestamp.unwrap_or_default();
    let nanos = u64::try_from(ts.seconds)
        .ok()
        .zip(u64::try_from(ts.nanos).ok())
        .and_then(|(s, n)| s.checked_mul(1_000_000_000)?.checked_add(n))
        .ok_or_else(|| {
            format!(
                "timestamp {}s {}ns is before the epoch",
                ts.seconds, ts.nanos
            )
        })?;
    Ok(Entry {
        nanos,
        line: String::from_utf8(entry.line)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
        metadata: entry
            .structured_metadata
            .into_iter()
            .map(|pair| {
                (
                    String::from_utf8_lossy(&pair.name).into_owned(),
                    Value::String(String::from_utf8_lossy(&pair.value).into_owned()),
                )
            })
            .collect(),
    })
}

/// Prometheus' label text, `{name="value", …}`, with `\"`, `\\` and `\n` escapes in values.
pub fn parse_labels(text: &str) -> Result<Map<String, Value>, Malformed> {
    let bad = |why: &str| Malformed::new(format!("labels {text:?} are malformed: {why}"));
    let inner = text
        .trim()
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .ok_or_else(|| bad("they must be inside { }"))?;
    let mut labels = Map::new();
    let mut chars = inner.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace() || *c == ',').is_some() {}
        if chars.peek().is_none() {
            return Ok(labels);
        }
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.') {
            name.push(c);
        }
        if name.is_empty() {
            return Err(bad("a label name is missing"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let equals = chars.next() == Some('=');
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if !equals || chars.next() != Some('"') {
            return Err(bad(&format!("label {name} needs =\"value\"")));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                None => return Err(bad(&format!("the value of {name} is not closed"))),
                Some('"') => break,
                Some('\\') => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(c) => value.push(c),
                    None => return Err(bad("it ends inside an escape")),
                },
                Some(c) => value.push(c),
            }
        }
        labels.insert(name, Value::String(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels() {
        let cases: &[(&str, Result<Value, ()>)] = &[
            (
                r#"{job="api", env="prod"}"#,
                Ok(json!({"job": "api", "env": "prod"})),
            ),
            (
                r#"{a="x\"y\\z\nw",b="",}"#,
                Ok(json!({"a": "x\"y\\z\nw", "b": ""})),
            ),
            ("{}", Ok(json!({}))),
            (
                r#"  { service_name = "checkout" }  "#,
                Ok(json!({"service_name": "checkout"})),
            ),
            (r#"job="api""#, Err(())),
            (r#"{job="api}"#, Err(())),
            (r#"{job=api}"#, Err(())),
            (r#"{="x"}"#, Err(())),
        ];
        for (text, expected) in cases {
            let parsed = parse_labels(text).map(Value::Object).map_err(|_| ());
            assert_eq!(&parsed, expected, "{text}");
        }
    }

    #[test]
    fn encodings_by_content_type() {
        for (header, expected) in [
            (None, Ok(Encoding::SnappyProtobuf)),
            (Some("application/x-protobuf"), Ok(Encoding::SnappyProtobuf)),
            (Some("application/json; charset=utf-8"), Ok(Encoding::Json)),
            (Some("text/plain"), Err(415)),
        ] {
            assert_eq!(
                Encoding::of(header).map_err(|e| e.status()),
                expected,
                "{header:?}"
            );
        }
    }
}
