//! Live tail: events streamed to WebSocket viewers as they are accepted.
//!
//! One hub per project (`hub`, a SQLite-backed Durable Object using the WebSocket Hibernation
//! API, so an idle viewer costs nothing) receives every queued message from the isolate that
//! queued it (`feed`, after the send, never in a request's path) and sends each viewer the
//! events its query matches. This module is the hub's pure part: the viewer's state (kept as
//! the socket's attachment, so it survives hibernation), the per-viewer rate limit, the resume
//! cursor, the frames, and the short-lived tickets browsers use instead of a header.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::error::{invalid_parameter as bad, AppError};

#[cfg(target_arch = "wasm32")]
pub mod feed;
#[cfg(target_arch = "wasm32")]
pub mod hub;

/// Events per second a viewer receives unless it asks for fewer (`rate=`); the most it may ask.
pub const DEFAULT_RATE: u32 = 100;
pub const MAX_RATE: u32 = 1000;
/// Viewers one project's hub serves at once; the next is closed with [`CLOSE_TOO_MANY`].
pub const MAX_VIEWERS: usize = 100;
/// How long the hub keeps what it sent (in its own SQLite), so that a viewer that reconnects
/// with its cursor misses nothing; and the most batches it keeps.
pub const BUFFER_MS: i64 = 15 * 60 * 1000;
pub const BUFFER_MAX_BATCHES: i64 = 20_000;
/// Events sent on a resume before the rest are counted as dropped.
pub const MAX_RESUME_EVENTS: usize = 10_000;
/// Events per frame.
pub const FRAME_EVENTS: usize = 500;
/// A ticket's life: long enough to open a socket, too short to be worth stealing.
pub const TICKET_MS: i64 = 60_000;

/// Close codes the server ends a tail with (4000–4999 are the application's).
pub const CLOSE_REVOKED: u16 = 4001;
pub const CLOSE_LIMIT: u16 = 4008;
/// 1013 "try again later": the hub has [`MAX_VIEWERS`].
pub const CLOSE_TOO_MANY: u16 = 1013;

/// A position in the hub's stream: `batch` is a pushed message's sequence number, `next` the
/// index of the first event of it not yet accounted for (sent or dropped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Cursor {
    pub batch: i64,
    pub next: usize,
}

impl Cursor {
    pub fn text(&self) -> String {
        format!("{}.{}", self.batch, self.next)
    }

    pub fn parse(text: &str) -> Result<Cursor, AppError> {
        let invalid = || bad("cursor is not one a tail frame carried; reconnect without it");
        let (batch, next) = text.split_once('.').ok_or_else(invalid)?;
        Ok(Cursor {
            batch: batch.parse().ok().filter(|b| *b >= 0).ok_or_else(invalid)?,
            next: next.parse().map_err(|_| invalid())?,
        })
    }
}

/// A viewer, as its socket's attachment: who it is, what it asked, where it is, and its
/// rate-limit bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Viewer {
    /// The key it authenticated with, so revoking the key ends its tail.
    pub key_id: String,
    /// The search, as typed (parsed again after hibernation).
    pub query: String,
    pub rate: u32,
    /// Close after this many events (`limit=`).
    pub limit: Option<u64>,
    pub sent: u64,
    /// Events matched but not sent since the last frame (over the rate).
    pub dropped: u64,
    pub tokens: f64,
    pub refilled_ms: i64,
    pub cursor: Cursor,
    /// A Loki tail (`/loki/api/v1/tail`): the LogQL log query its frames are filtered and
    /// shaped by (Loki's `{"streams": […], "dropped_entries": …}`), instead of `query`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logql: Option<String>,
}

impl Viewer {
    pub fn new(key_id: String, query: String, rate: u32, limit: Option<u64>, now_ms: i64) -> Self {
        Viewer {
            key_id,
            query,
            rate,
            limit,
            sent: 0,
            dropped: 0,
            tokens: rate as f64,
            refilled_ms: now_ms,
            cursor: Cursor::default(),
            logql: None,
        }
    }

    /// How many of `matched` events may go now: a token bucket of one second's worth, refilled
    /// at `rate` per second, and never past `limit`. The rest count as dropped.
    pub fn admit(&mut self, matched: usize, now_ms: i64) -> usize {
        let elapsed = (now_ms - self.refilled_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + elapsed * self.rate as f64).min(self.rate as f64);
        self.refilled_ms = now_ms;
        let mut allowed = (self.tokens.floor() as usize).min(matched);
        if let Some(limit) = self.limit {
            allowed = allowed.min(limit.saturating_sub(self.sent) as usize);
        }
        self.tokens -= allowed as f64;
        self.sent += allowed as u64;
        self.dropped += (matched - allowed) as u64;
        allowed
    }

    pub fn limit_reached(&self) -> bool {
        self.limit.is_some_and(|l| self.sent >= l)
    }
}

/// A frame of events: the events (JSON texts), the events dropped since the last frame, and
/// the cursor to resume after them.
pub fn events_frame(events: &[&str], dropped: u64, cursor: Cursor, gap: bool) -> String {
    let mut out = String::with_capacity(64 + events.iter().map(|e| e.len() + 1).sum::<usize>());
    out.push_str(r#"{"type":"events","events":["#);
    for (i, e) in events.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(e);
    }
    out.push_str(&format!(
        r#"],"dropped":{dropped},"cursor":"{}"{}}}"#,
        cursor.text(),
        if gap { r#","gap":true"# } else { "" }
    ));
    out
}

/// The first frame: what the viewer is tailing and where the stream starts.
pub fn hello_frame(viewer: &Viewer, project: Option<&str>) -> String {
    serde_json::json!({
        "type": "hello",
        "query": viewer.query,
        "project": project,
        "rate": viewer.rate,
        "limit": viewer.limit,
        "cursor": viewer.cursor.text(),
    })
    .to_string()
}

/// The hub's name for a project (`""`: events sent without one).
pub fn hub_name(project: Option<&str>) -> String {
    format!("tail:{}", project.unwrap_or(""))
}

/// A message body's project: `{"project":<json>,"events":[` is how every message starts.
pub fn project_of(body: &[u8]) -> Option<String> {
    let rest = body.strip_prefix(br#"{"project":"#)?;
    let end = rest.windows(11).position(|w| w == br#","events":["#)?;
    serde_json::from_slice::<Option<String>>(&rest[..end])
        .ok()
        .flatten()
}

/// The tag a viewer's socket carries, to find a key's sockets when it is revoked.
pub fn key_tag(key_id: &str) -> String {
    format!("key:{key_id}")
}

type HmacSha256 = Hmac<Sha256>;

fn ticket_mac(secret: &str, payload: &str) -> HmacSha256 {
    // The deployment's admin token, kept apart from any other use of it by a label.
    let mut mac =
        HmacSha256::new_from_slice(format!("edge-logger tail ticket\0{secret}").as_bytes())
            .expect("HMAC takes keys of any length");
    mac.update(payload.as_bytes());
    mac
}

/// A ticket for `key_id` valid until `expires_ms`: `<payload>.<signature>`, both base64url.
pub fn issue_ticket(secret: &str, key_id: &str, expires_ms: i64) -> String {
    let payload = URL_SAFE_NO_PAD.encode(format!("{key_id}\n{expires_ms}"));
    let signature = URL_SAFE_NO_PAD.encode(ticket_mac(secret, &payload).finalize().into_bytes());
    format!("{payload}.{signature}")
}

/// The key id a ticket stands for, if it is ours and not expired.
pub fn verify_ticket(secret: &str, ticket: &str, now_ms: i64) -> Result<String, AppError> {
    let refused = |why: &str| {
        AppError::Unauthorized(format!(
            "The tail ticket {why}; ask POST /v1/tail/ticket for a new one."
        ))
    };
    let (payload, signature) = ticket
        .split_once('.')
        .ok_or_else(|| refused("is malformed"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| refused("is malformed"))?;
    ticket_mac(secret, payload)
        .verify_slice(&signature)
        .map_err(|_| refused("is not valid"))?;
    let text = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| refused("is malformed"))?;
    let (key_id, expires) = text
        .split_once('\n')
        .ok_or_else(|| refused("is malformed"))?;
    let expires: i64 = expires.parse().map_err(|_| refused("is malformed"))?;
    if now_ms > expires {
        return Err(refused("has expired"));
    }
    Ok(key_id.to_string())
}

/// What a viewer asked for in its URL, checked before the socket opens (a bad query is a 400
/// the client sees, not a socket that closes at once).
#[derive(Debug, Clone, PartialEq)]
pub struct TailRequest {
    pub query: String,
    pub project: Option<String>,
    pub rate: u32,
    pub limit: Option<u64>,
    pub cursor: Option<Cursor>,
}

pub const TAIL_PARAMS: &[&str] = &["query", "project", "rate", "limit", "cursor", "ticket"];

pub fn parse_tail_request(params: &[(String, String)]) -> Result<TailRequest, AppError> {
    let mut request = TailRequest {
        query: String::new(),
        project: None,
        rate: DEFAULT_RATE,
        limit: None,
        cursor: None,
    };
    for (key, value) in params {
        if value.is_empty() && key != "query" && key != "key" {
            return Err(bad(format!("{key} is empty; leave it out for none")));
        }
        match key.as_str() {
            "query" => request.query = value.clone(),
            "project" => request.project = Some(value.clone()),
            "rate" => {
                request.rate = value
                    .parse()
                    .ok()
                    .filter(|r| (1..=MAX_RATE).contains(r))
                    .ok_or_else(|| bad(format!("rate '{value}' is not a whole number from 1 to {MAX_RATE} (events per second)")))?
            }
            "limit" => {
                request.limit = Some(
                    value
                        .parse()
                        .ok()
                        .filter(|n| (1..=1_000_000).contains(n))
                        .ok_or_else(|| bad(format!("limit '{value}' is not a whole number from 1 to 1000000")))?,
                )
            }
            "cursor" => request.cursor = Some(Cursor::parse(value)?),
            "ticket" | "key" => {}
            other => {
                return Err(bad(format!(
                    "unknown query parameter '{other}'; known: {}",
                    TAIL_PARAMS.join(", ")
                )))
            }
        }
    }
    let search = crate::query::search::parse(&request.query)?;
    if let Some(term) = search.has_status() {
        return Err(crate::query::search::unsupported(
            term,
            "/v1/tail",
            "event fields and tags (is: applies to /v1/groups)",
        ));
    }
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_admits_a_second_of_events_then_the_rate() {
        let mut v = Viewer::new("k".into(), String::new(), 10, None, 0);
        assert_eq!(v.admit(25, 0), 10);
        assert_eq!(v.dropped, 15);
        assert_eq!(v.admit(5, 100), 1, "a tenth of a second refills one");
        assert_eq!(
            v.admit(100, 10_000),
            10,
            "never more than one second's worth"
        );
        assert_eq!(v.sent, 21);
        let mut limited = Viewer::new("k".into(), String::new(), 100, Some(3), 0);
        assert_eq!(limited.admit(5, 0), 3);
        assert!(limited.limit_reached());
    }

    #[test]
    fn a_message_names_its_project() {
        assert_eq!(
            project_of(br#"{"project":"shop","events":[{"a":1}]}"#).as_deref(),
            Some("shop")
        );
        assert_eq!(project_of(br#"{"project":null,"events":[]}"#), None);
        let tricky = br#"{"project":"a\",\"events\":[","events":[]}"#;
        assert_eq!(project_of(tricky).as_deref(), Some(r#"a","events":["#));
        assert_eq!(project_of(b"junk"), None);
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = Cursor { batch: 42, next: 7 };
        assert_eq!(Cursor::parse(&c.text()).unwrap(), c);
        for junk in ["", "1", "a.b", "-1.0", "1.-2", "1.2.3"] {
            assert!(Cursor::parse(junk).is_err(), "{junk}");
        }
    }

    #[test]
    fn tickets_are_signed_bound_and_short_lived() {
        let t = issue_ticket("secret", "key_1", 1_000);
        assert_eq!(verify_ticket("secret", &t, 999).unwrap(), "key_1");
        assert!(verify_ticket("secret", &t, 1_001)
            .unwrap_err()
            .message()
            .contains("expired"));
        assert!(verify_ticket("other", &t, 0)
            .unwrap_err()
            .message()
            .contains("not valid"));
        let (payload, sig) = t.split_once('.').unwrap();
        let forged = format!(
            "{}.{sig}",
            URL_SAFE_NO_PAD.encode("admin-token\n9999999999999")
        );
        assert!(verify_ticket("secret", &forged, 0).is_err());
        assert!(verify_ticket("secret", payload, 0).is_err());
        assert!(verify_ticket("secret", "x.y", 0).is_err());
    }

    #[test]
    fn frames_carry_events_drops_and_the_cursor() {
        let f = events_frame(
            &[r#"{"id":"a"}"#, r#"{"id":"b"}"#],
            3,
            Cursor { batch: 5, next: 2 },
            false,
        );
        let v: serde_json::Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["events"][1]["id"], "b");
        assert_eq!(v["dropped"], 3);
        assert_eq!(v["cursor"], "5.2");
        assert!(v.get("gap").is_none());
        let g: serde_json::Value =
            serde_json::from_str(&events_frame(&[], 0, Cursor::default(), true)).unwrap();
        assert_eq!(g["gap"], true);
    }

    #[test]
    fn tail_requests_are_checked_before_the_socket_opens() {
        let p = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let r = parse_tail_request(&p(&[
            ("query", "level:>=error"),
            ("rate", "5"),
            ("cursor", "3.1"),
        ]))
        .unwrap();
        assert_eq!((r.rate, r.cursor), (5, Some(Cursor { batch: 3, next: 1 })));
        for bad in [
            vec![("rate", "0")],
            vec![("rate", "5000")],
            vec![("limit", "x")],
            vec![("query", "level:loud")],
            vec![("query", "is:resolved")],
            vec![("nope", "1")],
        ] {
            assert!(parse_tail_request(&p(&bad)).is_err(), "{bad:?}");
        }
    }
}
