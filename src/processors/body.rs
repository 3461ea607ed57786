//! Request bodies of `POST /v1/logs`: which content types we read, and splitting a body into
//! one raw JSON value per event, with the contract's size and count limits.

use serde_json::value::RawValue;
use serde_json::Value;

use super::fields::{EventJson, Fields};
use crate::error::AppError;
use crate::model::{ItemError, RejectReason};

/// Largest body we read: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Most events in one request.
pub const MAX_EVENTS: usize = 1000;
/// Most records in one request of an agent's protocol (OTLP, Loki, Elasticsearch bulk): agents
/// batch more than our SDKs do (the Collector's batch processor sends up to 8,192 records,
/// Filebeat 1,600 events).
pub const AGENT_MAX_EVENTS: usize = 10_000;
/// Largest agent request once decompressed: 5 MiB (Promtail and Alloy batch 1 MiB of lines).
pub const AGENT_MAX_BODY_BYTES: usize = 5 * 1024 * 1024;
/// Largest single event as sent: 64 KiB.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: one event object or an array of them.
    Json,
    /// `application/x-ndjson` (and the JSON Lines spellings): one event per line.
    Ndjson,
    /// `text/plain` (what `navigator.sendBeacon` sends with a string), or no content type: JSON
    /// as above, falling back to NDJSON when the body is not one JSON document.
    Sniff,
}

/// The media type of a `Content-Type` header, lowercased, without its parameters ("" when
/// there is none).
pub fn mime_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

/// `?key=` exists for navigator.sendBeacon, which sends text/plain; everything else can send a
/// header, which keeps keys out of URLs and logs.
pub fn beacon_key_allowed(key_in_query: bool, content_type: Option<&str>) -> Result<(), AppError> {
    let plain = content_type
        .unwrap_or("text/plain")
        .to_ascii_lowercase()
        .starts_with("text/plain");
    match key_in_query && !plain {
        true => Err(AppError::UnsupportedMediaType("A key in ?key= is accepted only with text/plain bodies (navigator.sendBeacon); send other bodies with an Authorization header.".into())),
        false => Ok(()),
    }
}

/// Reads the `Content-Type` header. Only UTF-8 is accepted as a charset.
pub fn body_format(content_type: Option<&str>) -> Result<BodyFormat, AppError> {
    let Some(header) = content_type.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(BodyFormat::Sniff);
    };
    let mut parts = header.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    for param in parts {
        let mut kv = param.splitn(2, '=');
        let key = kv.next().unwrap_or("").trim().to_ascii_lowercase();
        let value = kv
            .next()
            .unwrap_or("")
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase();
        if key == "charset" && value != "utf-8" && value != "utf8" && value != "us-ascii" {
            return Err(AppError::UnsupportedMediaType(format!(
                "charset '{value}' is not supported; send UTF-8"
            )));
        }
    }
    match mime.as_str() {
        "application/json" | "text/json" => Ok(BodyFormat::Json),
        m if m.starts_with("application/") && m.ends_with("+json") => Ok(BodyFormat::Json),
        "application/x-ndjson"
        | "application/ndjson"
        | "application/jsonl"
        | "application/x-jsonlines"
        | "application/jsonlines"
        | "application/json-seq" => Ok(BodyFormat::Ndjson),
        "text/plain" => Ok(BodyFormat::Sniff),
        other => Err(AppError::UnsupportedMediaType(format!(
            "Content-Type '{other}' is not supported; send application/json, \
             application/x-ndjson or text/plain"
        ))),
    }
}

/// Undoes `Content-Encoding` (gzip, deflate, identity) within `limit` bytes. Snappy is no
/// content encoding of ours: it is how Loki's protobuf push is framed, and that route undoes it
/// itself; no agent sends it to another route.
/// Inflation stops one byte past the limit, and a snappy block's declared length is checked
/// before anything is allocated, so a small compressed bomb can never make us hold more than
/// the limit: the limits apply to what was sent once decompressed.
pub fn decode_content_encoding(
    encoding: Option<&str>,
    body: Vec<u8>,
    limit: usize,
) -> Result<Vec<u8>, AppError> {
    use std::io::Read;
    let encoding = encoding
        .map(|e| e.trim().to_ascii_lowercase())
        .unwrap_or_default();
    let mut reader: Box<dyn Read> = match encoding.as_str() {
        "" | "identity" => return Ok(body),
        "gzip" | "x-gzip" => Box::new(flate2::read::GzDecoder::new(body.as_slice())),
        "deflate" => Box::new(flate2::read::ZlibDecoder::new(body.as_slice())),
        other => {
            return Err(AppError::UnsupportedMediaType(format!(
                "Content-Encoding '{other}' is not supported; send gzip, deflate or no encoding"
            )))
        }
    };
    let mut decoded = Vec::new();
    reader
        .by_ref()
        .take(limit as u64 + 1)
        .read_to_end(&mut decoded)
        .map_err(|e| {
            AppError::InvalidJson(format!(
                "The {encoding} body could not be decompressed ({e})."
            ))
        })?;
    if decoded.len() > limit {
        return Err(decompressed_too_large(limit));
    }
    Ok(decoded)
}

fn decompressed_too_large(limit: usize) -> AppError {
    AppError::PayloadTooLarge(format!(
        "The body decompresses to more than {limit} bytes, the limit."
    ))
}

/// A raw snappy block (not the framed stream format), as Loki's push protocol sends it. The
/// length it declares is checked against `limit` before the output is allocated.
pub fn decode_snappy(body: &[u8], limit: usize) -> Result<Vec<u8>, AppError> {
    let invalid = |e: snap::Error| {
        AppError::InvalidJson(format!("The body is not a valid snappy block ({e})."))
    };
    let declared = snap::raw::decompress_len(body).map_err(invalid)?;
    if declared > limit {
        return Err(decompressed_too_large(limit));
    }
    snap::raw::Decoder::new()
        .decompress_vec(body)
        .map_err(invalid)
}

/// One event's place in the body: its parsed value, or why it could not be parsed.
#[derive(Debug, Clone, PartialEq)]
pub enum RawItem {
    Event(Value),
    /// An object from our own body formats, read straight into its fields.
    Object(Fields),
    Rejected(ItemError),
}

impl From<EventJson> for RawItem {
    fn from(parsed: EventJson) -> Self {
        match parsed {
            EventJson::Object(fields) => RawItem::Object(fields),
            EventJson::Other(value) => RawItem::Event(value),
        }
    }
}

/// Splits a body into events. Whole-body problems are an `AppError` (400/413); problems of
/// one event are a `RawItem::Rejected` so that the rest of the body is still accepted.
pub fn split_events(format: BodyFormat, body: &[u8]) -> Result<Vec<RawItem>, AppError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(too_large_body(body.len()));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid UTF-8 ({e}).")))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(AppError::InvalidJson(
            "The body is empty; send an event object, an array of events, or NDJSON.".into(),
        ));
    }
    match format {
        BodyFormat::Json => split_json(text),
        BodyFormat::Ndjson => split_ndjson(text),
        BodyFormat::Sniff => match split_json(text) {
            Err(AppError::InvalidJson(_)) if text.trim().contains('\n') => split_ndjson(text),
            other => other,
        },
    }
}

pub fn too_large_body(len: usize) -> AppError {
    AppError::PayloadTooLarge(format!(
        "The body is {len} bytes; the limit is {MAX_BODY_BYTES} bytes (1 MiB)."
    ))
}

pub fn too_large_agent_body(len: usize) -> AppError {
    AppError::PayloadTooLarge(format!(
        "The body is {len} bytes; the limit is {AGENT_MAX_BODY_BYTES} bytes (5 MiB)."
    ))
}

fn too_many_events(count: usize) -> AppError {
    AppError::PayloadTooLarge(format!(
        "The body holds {count} events; the limit is {MAX_EVENTS} per request."
    ))
}

fn split_json(text: &str) -> Result<Vec<RawItem>, AppError> {
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') {
        // A body no larger than the per-event limit cannot hold an event over it, so it is
        // parsed in one pass (callgrind: the separate split was 3 % of the pipeline). Should
        // that fail (invalid JSON, or a number out of range in one event), the split below
        // gives the same answer as for any body: per-event errors, or the body's.
        if text.len() <= MAX_EVENT_BYTES {
            if let Ok(elements) = serde_json::from_str::<Vec<EventJson>>(text) {
                if !elements.is_empty() && elements.len() <= MAX_EVENTS {
                    return Ok(elements.into_iter().map(RawItem::from).collect());
                }
            }
        }
        let elements: Vec<&RawValue> = serde_json::from_str(text)
            .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
        if elements.is_empty() {
            return Err(AppError::InvalidEvents {
                message: "The array holds no events.".into(),
                errors: vec![],
            });
        }
        if elements.len() > MAX_EVENTS {
            return Err(too_many_events(elements.len()));
        }
        return Ok(elements
            .iter()
            .enumerate()
            .map(|(index, raw)| parse_one(index, raw.get()))
            .collect());
    }
    let value: Value = serde_json::from_str(text)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    if !value.is_object() {
        return Err(AppError::InvalidEvents {
            message: "The body must be an event object, an array of event objects, or NDJSON."
                .into(),
            errors: vec![],
        });
    }
    if text.len() > MAX_EVENT_BYTES {
        return Ok(vec![RawItem::Rejected(event_too_large(0, text.len()))]);
    }
    Ok(vec![RawItem::Event(value)])
}

fn split_ndjson(text: &str) -> Result<Vec<RawItem>, AppError> {
    let lines: Vec<(usize, &str)> = text
        .split('\n')
        .enumerate()
        .map(|(n, line)| {
            (
                n + 1,
                line.trim_matches(|c: char| c == '\r' || c == '\u{1e}'),
            )
        })
        .filter(|(_, line)| !line.trim().is_empty())
        .collect();
    if lines.len() > MAX_EVENTS {
        return Err(too_many_events(lines.len()));
    }
    Ok(lines
        .into_iter()
        .enumerate()
        .map(|(index, (line_no, line))| match parse_one(index, line) {
            RawItem::Rejected(mut e) if e.code == RejectReason::InvalidJson => {
                e.message = format!("line {line_no}: {}", e.message);
                RawItem::Rejected(e)
            }
            other => other,
        })
        .collect())
}

fn parse_one(index: usize, raw: &str) -> RawItem {
    if raw.len() > MAX_EVENT_BYTES {
        return RawItem::Rejected(event_too_large(index, raw.len()));
    }
    match serde_json::from_str::<EventJson>(raw) {
        Ok(parsed) => RawItem::from(parsed),
        Err(e) => RawItem::Rejected(ItemError::new(
            index,
            RejectReason::InvalidJson,
            format!("not valid JSON: {e}"),
        )),
    }
}

fn event_too_large(index: usize, len: usize) -> ItemError {
    ItemError::new(
        index,
        RejectReason::EventTooLarge,
        format!("the event is {len} bytes; the limit is {MAX_EVENT_BYTES} bytes (64 KiB)"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(items: &[RawItem]) -> usize {
        items
            .iter()
            .filter(|i| matches!(i, RawItem::Event(_) | RawItem::Object(_)))
            .count()
    }

    #[test]
    fn content_types() {
        let ok = [
            (None, BodyFormat::Sniff),
            (Some(""), BodyFormat::Sniff),
            (Some("application/json"), BodyFormat::Json),
            (Some("Application/JSON; charset=UTF-8"), BodyFormat::Json),
            (Some("application/json;charset=\"utf-8\""), BodyFormat::Json),
            (Some("application/vnd.api+json"), BodyFormat::Json),
            (Some("application/x-ndjson"), BodyFormat::Ndjson),
            (Some("application/jsonl"), BodyFormat::Ndjson),
            (Some("text/plain;charset=UTF-8"), BodyFormat::Sniff),
        ];
        for (header, expected) in ok {
            assert_eq!(body_format(header).unwrap(), expected, "{header:?}");
        }
        let bad = [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/xml",
            "text/html",
            "application/json; charset=latin1",
            "application/octet-stream",
        ];
        for header in bad {
            let err = body_format(Some(header)).unwrap_err();
            assert_eq!(err.status(), 415, "{header}");
        }
    }

    #[test]
    fn shapes_of_bodies() {
        let cases: Vec<(BodyFormat, &str, usize, usize)> = vec![
            // (format, body, events, rejected)
            (BodyFormat::Json, r#"{"message":"a"}"#, 1, 0),
            (BodyFormat::Json, "\u{feff}{\"message\":\"a\"}", 1, 0),
            (
                BodyFormat::Json,
                r#"[{"message":"a"},{"message":"b"}]"#,
                2,
                0,
            ),
            (BodyFormat::Json, r#"[{"message":"a"}, 5, "x"]"#, 3, 0),
            (
                BodyFormat::Ndjson,
                "{\"message\":\"a\"}\n{\"message\":\"b\"}\n",
                2,
                0,
            ),
            (
                BodyFormat::Ndjson,
                "{\"message\":\"a\"}\r\n\r\n{\"message\":\"b\"}",
                2,
                0,
            ),
            (
                BodyFormat::Ndjson,
                "{\"message\":\"a\"}\n{oops\n{\"message\":\"c\"}",
                2,
                1,
            ),
            (BodyFormat::Sniff, r#"{"message":"a"}"#, 1, 0),
            (BodyFormat::Sniff, r#"[{"message":"a"}]"#, 1, 0),
            (
                BodyFormat::Sniff,
                "{\"message\":\"a\"}\n{\"message\":\"b\"}",
                2,
                0,
            ),
        ];
        for (format, body, ok, rejected) in cases {
            let items =
                split_events(format, body.as_bytes()).unwrap_or_else(|e| panic!("{body}: {e}"));
            assert_eq!(events(&items), ok, "{body}");
            assert_eq!(items.len() - events(&items), rejected, "{body}");
        }
    }

    #[test]
    fn whole_body_errors() {
        let cases: Vec<(BodyFormat, Vec<u8>, u16, &str)> = vec![
            (BodyFormat::Json, b"".to_vec(), 400, "invalid_json"),
            (BodyFormat::Json, b"   \n ".to_vec(), 400, "invalid_json"),
            (BodyFormat::Json, b"{".to_vec(), 400, "invalid_json"),
            (
                BodyFormat::Json,
                b"{\"message\":\"a\"} trailing".to_vec(),
                400,
                "invalid_json",
            ),
            (
                BodyFormat::Json,
                b"[{\"message\":\"a\"},]".to_vec(),
                400,
                "invalid_json",
            ),
            (
                BodyFormat::Json,
                b"\"just a string\"".to_vec(),
                400,
                "invalid_event",
            ),
            (BodyFormat::Json, b"42".to_vec(), 400, "invalid_event"),
            (BodyFormat::Json, b"null".to_vec(), 400, "invalid_event"),
            (BodyFormat::Json, b"[]".to_vec(), 400, "invalid_event"),
            (
                BodyFormat::Json,
                vec![0xff, 0xfe, b'{', b'}'],
                400,
                "invalid_json",
            ),
            (
                BodyFormat::Sniff,
                b"not json at all".to_vec(),
                400,
                "invalid_json",
            ),
            (
                BodyFormat::Json,
                vec![b' '; MAX_BODY_BYTES + 1],
                413,
                "payload_too_large",
            ),
        ];
        for (format, body, status, code) in cases {
            let err = split_events(format, &body).unwrap_err();
            assert_eq!(
                (err.status(), err.code()),
                (status, code),
                "{:?}",
                String::from_utf8_lossy(&body)
            );
        }
    }

    #[test]
    fn count_limit_applies_to_arrays_and_lines() {
        let array = format!("[{}]", vec![r#"{"message":"x"}"#; MAX_EVENTS + 1].join(","));
        assert_eq!(
            split_events(BodyFormat::Json, array.as_bytes())
                .unwrap_err()
                .status(),
            413
        );
        let lines = vec![r#"{"message":"x"}"#; MAX_EVENTS + 1].join("\n");
        assert_eq!(
            split_events(BodyFormat::Ndjson, lines.as_bytes())
                .unwrap_err()
                .status(),
            413
        );
        let exactly = format!("[{}]", vec![r#"{"message":"x"}"#; MAX_EVENTS].join(","));
        assert_eq!(
            split_events(BodyFormat::Json, exactly.as_bytes())
                .unwrap()
                .len(),
            MAX_EVENTS
        );
    }

    #[test]
    fn oversized_event_is_rejected_alone() {
        let big = format!(r#"{{"message":"{}"}}"#, "x".repeat(MAX_EVENT_BYTES));
        let body = format!(r#"[{{"message":"small"}},{big}]"#);
        let items = split_events(BodyFormat::Json, body.as_bytes()).unwrap();
        assert!(matches!(items[0], RawItem::Object(_)));
        match &items[1] {
            RawItem::Rejected(e) => assert_eq!((e.index, e.code.code()), (1, "event_too_large")),
            other => panic!("{other:?}"),
        }
        let single = split_events(BodyFormat::Json, big.as_bytes()).unwrap();
        assert!(
            matches!(&single[0], RawItem::Rejected(e) if e.code == RejectReason::EventTooLarge)
        );
    }

    #[test]
    fn content_encodings_and_bombs() {
        use flate2::write::{GzEncoder, ZlibEncoder};
        use flate2::Compression;
        use std::io::Write;
        let body = br#"[{"message":"compressed"}]"#.to_vec();
        let mut gz = GzEncoder::new(Vec::new(), Compression::default());
        gz.write_all(&body).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(
            decode_content_encoding(Some("gzip"), gz.clone(), MAX_BODY_BYTES).unwrap(),
            body
        );
        assert_eq!(
            decode_content_encoding(Some(" GZIP "), gz, MAX_BODY_BYTES).unwrap(),
            body
        );
        let mut zlib = ZlibEncoder::new(Vec::new(), Compression::default());
        zlib.write_all(&body).unwrap();
        assert_eq!(
            decode_content_encoding(Some("deflate"), zlib.finish().unwrap(), MAX_BODY_BYTES)
                .unwrap(),
            body
        );
        assert_eq!(
            decode_content_encoding(None, body.clone(), MAX_BODY_BYTES).unwrap(),
            body
        );
        assert_eq!(
            decode_content_encoding(Some("identity"), body.clone(), MAX_BODY_BYTES).unwrap(),
            body
        );
        // 64 MiB of spaces compresses to ~64 KiB: refused at 1 MiB + 1 byte of inflation.
        let mut bomb = GzEncoder::new(Vec::new(), Compression::best());
        for _ in 0..64 {
            bomb.write_all(&vec![b' '; 1024 * 1024]).unwrap();
        }
        let bomb = bomb.finish().unwrap();
        assert!(bomb.len() < 200 * 1024, "{}", bomb.len());
        assert_eq!(
            decode_content_encoding(Some("gzip"), bomb, MAX_BODY_BYTES)
                .unwrap_err()
                .status(),
            413
        );
        assert_eq!(
            decode_content_encoding(Some("gzip"), b"not gzip".to_vec(), MAX_BODY_BYTES)
                .unwrap_err()
                .code(),
            "invalid_json"
        );
        assert_eq!(
            decode_content_encoding(Some("br"), body, MAX_BODY_BYTES)
                .unwrap_err()
                .status(),
            415
        );
    }

    #[test]
    fn snappy_blocks_and_length_lies() {
        let body = br#"{"streams":[]}"#.repeat(100);
        let block = snap::raw::Encoder::new().compress_vec(&body).unwrap();
        assert_eq!(
            decode_content_encoding(Some("snappy"), block.clone(), MAX_BODY_BYTES)
                .unwrap_err()
                .status(),
            415,
            "only Loki's route reads snappy"
        );
        assert_eq!(decode_snappy(&block, MAX_BODY_BYTES).unwrap(), body);
        // A block that declares 4 GiB in its 5-byte preamble: refused before any allocation.
        let mut lie = vec![0x80, 0x80, 0x80, 0x80, 0x0f];
        lie.extend_from_slice(&block[1..]);
        assert_eq!(
            decode_snappy(&lie, MAX_BODY_BYTES).unwrap_err().status(),
            413
        );
        // A block that declares fewer bytes than it holds, or is cut short: a 400.
        let mut short = block.clone();
        short[0] = 3;
        assert_eq!(
            decode_snappy(&short, MAX_BODY_BYTES).unwrap_err().status(),
            400
        );
        assert_eq!(
            decode_snappy(&block[..block.len() / 2], MAX_BODY_BYTES)
                .unwrap_err()
                .status(),
            400
        );
        // 64 MiB of spaces fits a ~3 MB snappy block: the declared length is over the limit.
        let bomb = snap::raw::Encoder::new()
            .compress_vec(&vec![b' '; 64 * 1024 * 1024])
            .unwrap();
        assert_eq!(
            decode_snappy(&bomb, AGENT_MAX_BODY_BYTES)
                .unwrap_err()
                .status(),
            413
        );
    }

    #[test]
    fn ndjson_errors_name_the_line() {
        let items = split_events(BodyFormat::Ndjson, b"{\"message\":\"a\"}\n\n{bad}\n").unwrap();
        match &items[1] {
            RawItem::Rejected(e) => {
                assert_eq!(e.index, 1);
                assert!(e.message.starts_with("line 3:"), "{}", e.message);
            }
            other => panic!("{other:?}"),
        }
    }
}
