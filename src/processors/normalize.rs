//! One raw event (a JSON value) into the fields of a `StoredEvent`, or a per-event error.
//!
//! Only `message` is required (or derivable from `error`). Scalars are accepted where a string
//! is expected (`"user_id": 42`), structures are not. Unknown top-level fields are kept under
//! `context`. Derived fields (source type, route, fingerprint, triage) are filled by later steps.

use crate::processors::Invalid;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::environment::normalize_environment;
use super::fields::Fields;
use super::level::parse_level;
use super::timestamp::{format_ts, parse_timestamp};
use crate::model::{ErrorInfo, StoredEvent};

/// Longest `message` kept; longer ones are cut and flagged `message_truncated`.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;
pub const MAX_EVENT_ID_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 256;
const MAX_ENDPOINT_CHARS: usize = 2048;
const MAX_STACK_BYTES: usize = 32 * 1024;
const MAX_TAGS: usize = 64;
const MAX_TAG_KEY_CHARS: usize = 128;
const MAX_TAG_VALUE_CHARS: usize = 1024;

/// UUID namespace for ids derived from a client's `event_id`: the same `event_id` (in the same
/// project) always gets the same `id`, so a retried request answers with the id that was stored
/// the first time, and two projects' `event_id`s never collide.
const EVENT_ID_NAMESPACE: Uuid = Uuid::from_u128(0x6c0f_2a51_8d3e_4b7a_9c41_e1d2_0b5f_7a38);

/// An event id that leads with a 48-bit Unix time in milliseconds (RFC 9562's layout, version
/// 7), the rest from `random`. Ids are a unique index of the events table: random ids put every
/// insert on a random page of it, which on disk (SQLite, the full events schema, measured in
/// BENCHMARKS.md) halved inserts per second by 300,000 rows and kept falling; time-ordered ids
/// append at the index's end.
pub fn time_ordered_id(unix_ms: i64, random: Uuid) -> Uuid {
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&random.as_bytes()[6..]);
    uuid::Builder::from_unix_timestamp_millis(unix_ms.max(0) as u64, &tail).into_uuid()
}

/// The name a client `event_id` is hashed under: the project length-prefixed, then the
/// event_id (`5:shop|x`), or `:x` without a project. No two (project, event_id) pairs share a
/// name, whatever characters an event_id holds, so no event can take another project's id.
pub fn event_id_name(project: Option<&str>, event_id: &str) -> Vec<u8> {
    match project {
        Some(project) => format!("{}:{project}|{event_id}", project.len()).into_bytes(),
        None => format!(":{event_id}").into_bytes(),
    }
}

/// The id of an event with a client `event_id` (`name`: the project and the event_id): the
/// same on every retry. With the client's own timestamp, which a retry repeats, it leads with
/// that time like [`time_ordered_id`] (version 8, the rest from the name's SHA-1 hash);
/// without one, it is the name's version-5 UUID.
pub fn client_event_uuid(name: &[u8], client_unix_ms: Option<i64>) -> Uuid {
    let hashed = Uuid::new_v5(&EVENT_ID_NAMESPACE, name);
    match client_unix_ms {
        None => hashed,
        Some(ms) => {
            let mut bytes = *hashed.as_bytes();
            bytes[..6].copy_from_slice(&(ms.max(0) as u64).to_be_bytes()[2..]);
            uuid::Builder::from_custom_bytes(bytes).into_uuid()
        }
    }
}

/// The Unix milliseconds an id leads with: those of [`time_ordered_id`] (version 7) and of
/// [`client_event_uuid`] with a client timestamp (version 8). `None` for any other id.
pub fn id_unix_ms(id: &str) -> Option<i64> {
    let uuid = Uuid::parse_str(id).ok()?;
    if !matches!(uuid.get_version_num(), 7 | 8) {
        return None;
    }
    let b = uuid.as_bytes();
    Some(u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]]) as i64)
}

/// Whether a key is an event field of the contract (anything else lands in `context`).
pub(crate) fn is_known_field(key: &str) -> bool {
    crate::model::fields::names(crate::model::fields::role::SENT).any(|f| f == key)
}

/// What the edge knows about the request that the pure pipeline needs.
#[derive(Debug, Clone)]
pub struct IngestContext {
    /// Read once per request at the edge (`Date::now()`).
    received_at: DateTime<Utc>,
    /// `received_at` as stored, formatted once per request rather than once per event.
    received_at_text: String,
    /// The deployment's environment for events that name none, normalised once per request.
    default_environment: String,
    /// The ingest key's project: every event of the request belongs to it.
    pub project: Option<String>,
    /// The deployment's scrubbing switches.
    pub scrub: super::scrub::ScrubConfig,
}

impl IngestContext {
    /// When the request was received: the clock every event of it is judged by.
    pub fn received_at(&self) -> DateTime<Utc> {
        self.received_at
    }

    pub fn new(received_at: DateTime<Utc>, default_environment: &str) -> Self {
        IngestContext {
            received_at,
            received_at_text: format_ts(received_at),
            default_environment: normalize_environment(default_environment)
                .unwrap_or_else(|| "production".to_string()),
            project: None,
            scrub: Default::default(),
        }
    }
}

/// Normalises one event. `random_id` is used as the event's `id` when it has no `event_id`.
pub fn normalize_event(
    value: Value,
    ctx: &IngestContext,
    random_id: Uuid,
) -> Result<StoredEvent, Invalid> {
    let Value::Object(map) = value else {
        return Err(Invalid::new(format!(
            "an event must be a JSON object, not {}",
            kind_of(&value)
        )));
    };
    normalize_fields(Fields::new(map), ctx, random_id)
}

/// [`normalize_event`] for an object already read into its fields.
pub fn normalize_fields(
    mut obj: Fields,
    ctx: &IngestContext,
    random_id: Uuid,
) -> Result<StoredEvent, Invalid> {
    super::aliases::apply_aliases(&mut obj);

    let error = take_error(&mut obj)?;
    let message = match obj.remove("message") {
        None | Some(Value::Null) => derive_message(error.as_ref())
            .ok_or_else(|| Invalid::new("message is required (a non-empty string)"))?,
        Some(Value::String(s)) => s,
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        Some(other) => {
            return Err(Invalid::new(format!(
                "message must be a string, not {}",
                kind_of(&other)
            )))
        }
    };
    if message.trim().is_empty() {
        return Err(Invalid::new("message is required (a non-empty string)"));
    }
    let (message, message_truncated) = truncate_utf8(message, MAX_MESSAGE_BYTES);

    let severity = parse_level(obj.get("level"))?;
    let received_at = ctx.received_at_text.clone();
    let client_time = parse_timestamp(obj.get("timestamp"))?;
    let timestamp = client_time
        .map(format_ts)
        .unwrap_or_else(|| received_at.clone());

    let event_id = take_string(&mut obj, "event_id", MAX_EVENT_ID_CHARS)?;
    let client_ms = client_time.map(|t| t.timestamp_millis());
    let id = match &event_id {
        Some(eid) => client_event_uuid(&event_id_name(ctx.project.as_deref(), eid), client_ms),
        None => time_ordered_id(ctx.received_at.timestamp_millis(), random_id),
    }
    .to_string();

    let environment = match take_string(&mut obj, "environment", MAX_NAME_CHARS)? {
        Some(env) => normalize_environment(&env),
        None => None,
    }
    .unwrap_or_else(|| ctx.default_environment.clone());

    let source_type = match take_string(&mut obj, "source_type", MAX_NAME_CHARS)? {
        None => String::new(),
        Some(s) => match super::short_lowercase(&s, &mut [0; 16]) {
            Some(t @ ("ui" | "logic" | "backend")) => t.to_string(),
            _ => {
                return Err(Invalid::new(format!(
                    "source_type '{s}' is unknown; use ui, logic or backend"
                )))
            }
        },
    };

    let tags = take_tags(&mut obj)?;
    let mut context = match obj.remove("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(Invalid::new(format!(
                "context must be an object, not {}",
                kind_of(&other)
            )))
        }
    };
    let fingerprint = take_client_fingerprint(&mut obj)?;

    let mut event = StoredEvent {
        id: id.clone(),
        event_id: event_id.unwrap_or(id),
        project: ctx.project.clone(),
        received_at,
        timestamp,
        level: severity.level.as_str().to_string(),
        severity_number: severity.number,
        message,
        message_truncated,
        environment,
        service: take_string(&mut obj, "service", MAX_NAME_CHARS)?,
        release: take_string(&mut obj, "release", MAX_NAME_CHARS)?,
        source_type,
        component: take_string(&mut obj, "component", MAX_NAME_CHARS)?,
        endpoint: take_string(&mut obj, "endpoint", MAX_ENDPOINT_CHARS)?,
        error,
        trace_id: take_string(&mut obj, "trace_id", MAX_NAME_CHARS)?,
        span_id: take_string(&mut obj, "span_id", MAX_NAME_CHARS)?,
        request_id: take_string(&mut obj, "request_id", MAX_NAME_CHARS)?,
        user_id: take_string(&mut obj, "user_id", MAX_NAME_CHARS)?,
        session_id: take_string(&mut obj, "session_id", MAX_NAME_CHARS)?,
        tags,
        fingerprint: fingerprint.unwrap_or_default(),
        ..Default::default()
    };

    // Whatever is left is unknown to the contract: keep it under `context` (context's own keys win).
    for (key, value) in obj {
        if !is_known_field(&key) {
            context.entry(key).or_insert(value);
        }
    }
    event.context = context;
    event.release_key = event
        .release
        .as_deref()
        .and_then(crate::processors::release::release_key);
    Ok(event)
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A string field: scalars coerced to text, blank is absent, structures and over-long values rejected.
fn take_string(obj: &mut Fields, key: &str, max_chars: usize) -> Result<Option<String>, Invalid> {
    let s = match obj.remove(key) {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s,
        Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
        Some(other) => {
            return Err(Invalid::new(format!(
                "{key} must be a string, not {}",
                kind_of(&other)
            )))
        }
    };
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Ok(None);
    }
    if trimmed.chars().count() > max_chars {
        return Err(Invalid::new(format!(
            "{key} is longer than {max_chars} characters"
        )));
    }
    // Most values need no trimming: keep the parsed String rather than copying it.
    Ok(Some(if trimmed.len() == s.len() {
        s
    } else {
        trimmed.to_string()
    }))
}

fn take_error(obj: &mut Fields) -> Result<Option<ErrorInfo>, Invalid> {
    let mut fields = match obj.remove("error") {
        None | Some(Value::Null) => return Ok(None),
        // `"error": "boom"`: an error with only a message.
        Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
        Some(Value::String(s)) => {
            return Ok(Some(ErrorInfo {
                message: Some(truncate_utf8(s, MAX_MESSAGE_BYTES).0),
                ..Default::default()
            }))
        }
        Some(Value::Object(m)) => Fields::new(m),
        Some(other) => {
            return Err(Invalid::new(format!(
                "error must be an object {{type, message, stack}}, not {}",
                kind_of(&other)
            )))
        }
    };
    let kind = take_string(&mut fields, "type", MAX_NAME_CHARS)
        .map_err(|e| Invalid::new(format!("error.{e}")))?
        .or(take_string(&mut fields, "name", MAX_NAME_CHARS)
            .map_err(|e| Invalid::new(format!("error.{e}")))?);
    let message = match fields.remove("message") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => {
            Some(truncate_utf8(s, MAX_MESSAGE_BYTES).0).filter(|s| !s.trim().is_empty())
        }
        Some(v @ (Value::Number(_) | Value::Bool(_))) => Some(v.to_string()),
        Some(other) => {
            return Err(Invalid::new(format!(
                "error.message must be a string, not {}",
                kind_of(&other)
            )))
        }
    };
    let stack = match fields
        .remove("stack")
        .or_else(|| fields.remove("stacktrace"))
    {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        // Some SDKs send the stack as an array of lines.
        Some(Value::Array(lines)) => {
            let mut joined = Vec::with_capacity(lines.len());
            for line in lines {
                match line {
                    Value::String(s) => joined.push(s),
                    other => {
                        return Err(Invalid::new(format!(
                            "error.stack lines must be strings, not {}",
                            kind_of(&other)
                        )))
                    }
                }
            }
            Some(joined.join("\n"))
        }
        Some(other) => {
            return Err(Invalid::new(format!(
                "error.stack must be a string, not {}",
                kind_of(&other)
            )))
        }
    }
    .filter(|s| !s.trim().is_empty())
    .map(|s| truncate_utf8(s, MAX_STACK_BYTES).0);
    let debug_ids = take_debug_ids(&mut fields)?;
    if !fields.is_empty() {
        // Extra exception fields (code, cause, errno…) are kept where queries can see them.
        obj.insert_if_absent(
            "error_details".to_string(),
            Value::Object(fields.into_iter().collect()),
        );
    }
    if kind.is_none() && message.is_none() && stack.is_none() {
        return Ok(None);
    }
    Ok(Some(ErrorInfo {
        kind,
        message,
        stack,
        debug_ids,
        ..Default::default()
    }))
}

/// `error.debug_ids`: `{minified file URL: debug id}` (at most 100, ids as sentry-cli injects
/// them: a UUID, maybe with an age suffix).
fn take_debug_ids(
    fields: &mut Fields,
) -> Result<std::collections::BTreeMap<String, String>, Invalid> {
    let mut out = std::collections::BTreeMap::new();
    let map = match fields.remove("debug_ids") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(Invalid::new(format!(
                "error.debug_ids must be an object of file URL to debug id, not {}",
                kind_of(&other)
            )))
        }
    };
    if map.len() > 100 {
        return Err(Invalid::new("error.debug_ids holds at most 100 files"));
    }
    for (url, id) in map {
        let id = match id {
            Value::String(id) if url.len() <= 2048 && valid_debug_id(&id) => {
                id.to_ascii_lowercase()
            }
            _ => {
                return Err(Invalid::new(format!(
                    "error.debug_ids['{}'] is not a debug id (a UUID)",
                    truncate_utf8(url, 100).0
                )))
            }
        };
        out.insert(url, id);
    }
    Ok(out)
}

/// A UUID in its hyphenated form, as sentry-cli injects it (an `-age` suffix is allowed).
pub fn valid_debug_id(id: &str) -> bool {
    let uuid = id.get(..36).unwrap_or("");
    id.len() <= 48 && uuid::Uuid::try_parse(uuid).is_ok() && uuid.len() == 36
}

fn derive_message(error: Option<&ErrorInfo>) -> Option<String> {
    let e = error?;
    match (&e.kind, &e.message) {
        (Some(k), Some(m)) => Some(format!("{k}: {m}")),
        (None, Some(m)) => Some(m.clone()),
        (Some(k), None) => Some(k.clone()),
        (None, None) => None,
    }
}

fn take_tags(obj: &mut Fields) -> Result<Map<String, Value>, Invalid> {
    let raw = match obj.remove("tags") {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(m)) => m,
        Some(other) => {
            return Err(Invalid::new(format!(
                "tags must be an object of strings, not {}",
                kind_of(&other)
            )))
        }
    };
    if raw.len() > MAX_TAGS {
        return Err(Invalid::new(format!(
            "tags has {} entries; the limit is {MAX_TAGS}",
            raw.len()
        )));
    }
    let mut tags = Map::new();
    for (key, value) in raw {
        let key_trimmed = key.trim();
        if key_trimmed.is_empty() || key_trimmed.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(Invalid::new(format!(
                "tag names must be 1 to {MAX_TAG_KEY_CHARS} characters"
            )));
        }
        let text = match value {
            Value::Null => continue,
            Value::String(s) => s,
            v @ (Value::Number(_) | Value::Bool(_)) => v.to_string(),
            other => {
                return Err(Invalid::new(format!(
                    "tags.{key_trimmed} must be a string, not {}",
                    kind_of(&other)
                )))
            }
        };
        if text.chars().count() > MAX_TAG_VALUE_CHARS {
            return Err(Invalid::new(format!(
                "tags.{key_trimmed} is longer than {MAX_TAG_VALUE_CHARS} characters"
            )));
        }
        tags.insert(key_trimmed.to_string(), Value::String(text));
    }
    Ok(tags)
}

/// A client-chosen grouping key (Sentry's `fingerprint`): a string or an array of strings.
fn take_client_fingerprint(obj: &mut Fields) -> Result<Option<String>, Invalid> {
    match obj.remove("fingerprint") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.len() <= 1024 => Ok(Some(s)),
        Some(Value::Array(parts)) if !parts.is_empty() && parts.len() <= 32 => {
            let mut out = Vec::with_capacity(parts.len());
            for p in parts {
                match p {
                    Value::String(s) if s.len() <= 256 => out.push(s),
                    v @ Value::Number(_) => out.push(v.to_string()),
                    _ => {
                        return Err(Invalid::new(
                            "fingerprint parts must be strings of at most 256 bytes",
                        ))
                    }
                }
            }
            Ok(Some(out.join("\u{1f}")))
        }
        Some(_) => Err(Invalid::new(
            "fingerprint must be a string or an array of up to 32 strings",
        )),
    }
}

/// The longest start of `s` of at most `max` bytes that ends on a character boundary.
pub fn utf8_prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut cut = max;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    &s[..cut]
}

/// Cuts a string to at most `max` bytes on a character boundary; says whether it cut.
pub fn truncate_utf8(mut s: String, max: usize) -> (String, bool) {
    let cut = utf8_prefix(&s, max).len();
    let was_cut = cut < s.len();
    s.truncate(cut);
    (s, was_cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn ctx() -> IngestContext {
        IngestContext::new(
            Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap(),
            "production",
        )
    }

    fn norm(v: Value) -> Result<StoredEvent, Invalid> {
        normalize_event(v, &ctx(), Uuid::from_u128(1))
    }

    #[test]
    fn minimal_event_gets_defaults() {
        let e = norm(json!({"message": "hello"})).unwrap();
        assert_eq!(e.message, "hello");
        assert_eq!(e.level, "info");
        assert_eq!(e.severity_number, 9);
        assert_eq!(e.timestamp, "2026-01-02T03:04:05.000Z");
        assert_eq!(e.received_at, e.timestamp);
        assert_eq!(e.environment, "production");
        assert_eq!(
            e.id,
            time_ordered_id(ctx().received_at.timestamp_millis(), Uuid::from_u128(1)).to_string()
        );
        assert_eq!(e.event_id, e.id);
    }

    #[test]
    fn ids_lead_with_their_time_so_they_sort_in_arrival_order() {
        let at = |ms: i64| time_ordered_id(ms, Uuid::new_v4()).to_string();
        let (earlier, later) = (at(1_767_323_045_000), at(1_767_323_045_001));
        assert!(earlier < later, "{earlier} < {later}");
        assert_eq!(
            &earlier[..13],
            "019b7ca9-8c88",
            "48 bits of milliseconds first"
        );
        let random = time_ordered_id(1_767_323_045_000, Uuid::new_v4());
        assert_eq!(random.get_version_num(), 7);
        assert_eq!(random.get_variant(), uuid::Variant::RFC4122);
        // With a client event_id: the same on a retry, ordered by the client's timestamp.
        let derived = client_event_uuid(b"evt-1", Some(1_767_323_045_000));
        assert_eq!(
            derived,
            client_event_uuid(b"evt-1", Some(1_767_323_045_000))
        );
        assert_ne!(
            derived,
            client_event_uuid(b"evt-2", Some(1_767_323_045_000))
        );
        assert_eq!(derived.get_version_num(), 8);
        assert_eq!(&derived.to_string()[..13], &earlier[..13]);
        assert_eq!(
            client_event_uuid(b"evt-1", None),
            Uuid::new_v5(&EVENT_ID_NAMESPACE, b"evt-1")
        );
        // Read back from the id: its time, for both kinds; none for an id of no time.
        assert_eq!(id_unix_ms(&random.to_string()), Some(1_767_323_045_000));
        assert_eq!(id_unix_ms(&derived.to_string()), Some(1_767_323_045_000));
        assert_eq!(
            id_unix_ms(&client_event_uuid(b"evt-1", None).to_string()),
            None
        );
        assert_eq!(id_unix_ms("not-an-id"), None);
    }

    #[test]
    fn full_event_is_normalised() {
        let e = norm(json!({
            "message": "payment failed",
            "level": "ERR",
            "timestamp": 1714564800,
            "event_id": "evt-1",
            "environment": "prod",
            "service": "billing",
            "release": 1.4,
            "source_type": "Backend",
            "component": "ChargeService",
            "endpoint": "/api/charges/42",
            "error": {"type": "CardError", "message": "declined", "stack": ["at a (x.js:1:1)", "at b (y.js:2:2)"], "code": "E42"},
            "trace_id": "abc", "user_id": 42,
            "tags": {"region": "eu", "retry": 3, "gone": null},
            "context": {"order": 7},
            "shard": "s1"
        }))
        .unwrap();
        assert_eq!(e.level, "error");
        assert_eq!(e.timestamp, "2024-05-01T12:00:00.000Z");
        assert_eq!(e.environment, "production");
        assert_eq!(e.release.as_deref(), Some("1.4"));
        assert_eq!(e.source_type, "backend");
        assert_eq!(e.user_id.as_deref(), Some("42"));
        assert_eq!(e.event_id, "evt-1");
        assert_eq!(
            e.id,
            client_event_uuid(&event_id_name(None, "evt-1"), Some(1_714_564_800_000)).to_string(),
            "derived from the event_id, led by the client's timestamp"
        );
        let err = e.error.unwrap();
        assert_eq!(err.kind.as_deref(), Some("CardError"));
        assert_eq!(
            err.stack.as_deref(),
            Some("at a (x.js:1:1)\nat b (y.js:2:2)")
        );
        assert_eq!(
            e.tags,
            json!({"region": "eu", "retry": "3"})
                .as_object()
                .unwrap()
                .clone()
        );
        assert_eq!(e.context["order"], 7);
        assert_eq!(e.context["shard"], "s1");
        assert_eq!(e.context["error_details"], json!({"code": "E42"}));
    }

    #[test]
    fn same_event_id_same_id() {
        let a = normalize_event(
            json!({"message": "a", "event_id": "x"}),
            &ctx(),
            Uuid::from_u128(1),
        )
        .unwrap();
        let b = normalize_event(
            json!({"message": "b", "event_id": "x"}),
            &ctx(),
            Uuid::from_u128(2),
        )
        .unwrap();
        assert_eq!(a.id, b.id);
    }

    #[test]
    fn message_derived_from_error_and_truncated() {
        let e = norm(json!({"error": {"type": "TypeError", "message": "x is undefined"}})).unwrap();
        assert_eq!(e.message, "TypeError: x is undefined");
        let e = norm(json!({"error": "boom"})).unwrap();
        assert_eq!(e.message, "boom");
        let long = "é".repeat(MAX_MESSAGE_BYTES); // two bytes each
        let e = norm(json!({ "message": long })).unwrap();
        assert!(e.message_truncated);
        assert!(e.message.len() <= MAX_MESSAGE_BYTES);
        let e = norm(json!({"message": 404})).unwrap();
        assert_eq!(e.message, "404");
    }

    #[test]
    fn malformed_events_are_rejected_with_reasons() {
        let cases: Vec<(Value, &str)> = vec![
            (json!("a string"), "JSON object"),
            (json!(42), "JSON object"),
            (json!(null), "JSON object"),
            (json!([{"message": "nested"}]), "JSON object"),
            (json!({}), "message is required"),
            (json!({"message": ""}), "message is required"),
            (json!({"message": "   "}), "message is required"),
            (json!({"message": null}), "message is required"),
            (
                json!({"message": {"text": "x"}}),
                "message must be a string",
            ),
            (json!({"message": ["x"]}), "message must be a string"),
            (json!({"message": "x", "level": "loud"}), "level"),
            (json!({"message": "x", "level": 99}), "level"),
            (
                json!({"message": "x", "timestamp": "yesterday"}),
                "timestamp",
            ),
            (json!({"message": "x", "timestamp": true}), "timestamp"),
            (
                json!({"message": "x", "event_id": "e".repeat(129)}),
                "event_id is longer",
            ),
            (
                json!({"message": "x", "event_id": {"a": 1}}),
                "event_id must be a string",
            ),
            (
                json!({"message": "x", "service": ["a"]}),
                "service must be a string",
            ),
            (
                json!({"message": "x", "source_type": "mobile"}),
                "source_type",
            ),
            (
                json!({"message": "x", "tags": "a=b"}),
                "tags must be an object",
            ),
            (
                json!({"message": "x", "tags": {"a": {"b": 1}}}),
                "tags.a must be a string",
            ),
            (json!({"message": "x", "tags": {"": "v"}}), "tag names"),
            (
                json!({"message": "x", "context": "text"}),
                "context must be an object",
            ),
            (
                json!({"message": "x", "context": [1]}),
                "context must be an object",
            ),
            (
                json!({"message": "x", "error": 5}),
                "error must be an object",
            ),
            (
                json!({"message": "x", "error": {"stack": 5}}),
                "error.stack",
            ),
            (
                json!({"message": "x", "error": {"stack": [1, 2]}}),
                "error.stack lines",
            ),
            (
                json!({"message": "x", "error": {"message": {"a": 1}}}),
                "error.message",
            ),
            (
                json!({"message": "x", "fingerprint": {"a": 1}}),
                "fingerprint",
            ),
            (
                json!({"message": "x", "fingerprint": [{"a": 1}]}),
                "fingerprint",
            ),
            (
                json!({"message": "x", "endpoint": "/".repeat(3000)}),
                "endpoint is longer",
            ),
        ];
        for (input, expected) in cases {
            let err = norm(input.clone()).expect_err(&input.to_string());
            assert!(err.message().contains(expected), "{input} -> {err}");
        }
        let many_tags: Map<String, Value> =
            (0..65).map(|i| (format!("t{i}"), json!("v"))).collect();
        assert!(norm(json!({"message": "x", "tags": many_tags}))
            .unwrap_err()
            .message()
            .contains("limit"));
    }

    #[test]
    fn blank_optional_strings_are_absent_and_default_environment_applies() {
        let c = IngestContext::new(ctx().received_at, "stg");
        let e = normalize_event(
            json!({"message": "x", "service": "  ", "environment": ""}),
            &c,
            Uuid::nil(),
        )
        .unwrap();
        assert_eq!(e.service, None);
        assert_eq!(e.environment, "staging");
    }

    #[test]
    fn client_fingerprint_is_kept_for_the_fingerprint_step() {
        let e = norm(json!({"message": "x", "fingerprint": ["checkout", "card"]})).unwrap();
        assert_eq!(e.fingerprint, "checkout\u{1f}card");
    }

    #[test]
    fn event_ids_of_different_projects_never_share_an_id() {
        let names = [
            event_id_name(Some("shop"), "x"),
            event_id_name(None, "shop\u{1f}x"),
            event_id_name(None, "4:shop|x"),
            event_id_name(Some("sho"), "p|x"),
            event_id_name(Some("shop|"), "x"),
        ];
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }
}
