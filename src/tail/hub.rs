//! The tail hub: one SQLite-backed Durable Object per project, holding its viewers' WebSockets
//! through the Hibernation API (the object may sleep between messages; a viewer's state lives
//! in its socket's attachment, its query is parsed again on waking).
//!
//! Calls, from this worker only:
//! - `POST /push`, a queued message's body (`{"project", "events": [...]}`): each viewer gets
//!   the events its query matches, within its rate; the message is kept for resumes while
//!   anyone watches (or watched within [`BUFFER_MS`]).
//! - `GET /connect` with `Upgrade: websocket` and the viewer in `x-tail-viewer`: accepts the
//!   socket, sends `hello`, then what the viewer's cursor missed.
//! - `POST /revoke` `{"key_id"}`: closes that key's sockets ([`CLOSE_REVOKED`]).

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use serde::Deserialize;
use serde_json::value::RawValue;
use worker::{
    durable_object, DurableObject, Env, Request, Response, Result, SqlStorage, SqlStorageValue,
    State, WebSocket, WebSocketIncomingMessage, WebSocketPair,
};

use super::{
    events_frame, hello_frame, key_tag, Cursor, Viewer, BUFFER_MAX_BATCHES, BUFFER_MS, CLOSE_LIMIT,
    CLOSE_REVOKED, CLOSE_TOO_MANY, FRAME_EVENTS, MAX_RESUME_EVENTS, MAX_VIEWERS,
};
use crate::model::StoredEvent;
use crate::query::search::{parse, Search};

const SCHEMA: &str = "CREATE TABLE IF NOT EXISTS batches (seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, events TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);";

/// A viewer's query, parsed, and the texts a matching event must contain.
type ParsedQuery = (Search, Vec<String>);

#[durable_object(websocket)]
pub struct TailHub {
    state: State,
    schema_ready: Cell<bool>,
    /// Parsed queries (and their literals) by their text: parsed once per query, not per event.
    searches: RefCell<HashMap<String, Rc<ParsedQuery>>>,
    /// Loki viewers' log queries by their text.
    logqls: RefCell<HashMap<String, Rc<crate::loki::logql::ast::LogExpr>>>,
    /// When `last_viewer_ms` was last written (at most once a minute while viewers watch).
    meta_written: Cell<i64>,
}

/// What a push did: the viewers it reached, and whether the hub kept it (someone watches, or
/// watched within [`BUFFER_MS`]); `false` tells the pushing isolate it may skip this hub a while.
#[derive(serde::Serialize, Deserialize)]
pub struct PushAnswer {
    pub viewers: usize,
    pub kept: bool,
}

#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct OwnedBatch {
    events: Vec<Box<RawValue>>,
}

#[derive(Deserialize)]
struct SeqRow {
    seq: f64,
    events: String,
}

#[derive(Deserialize)]
struct ValueRow {
    value: Option<f64>,
}

#[derive(Deserialize)]
struct Revoke {
    key_id: String,
}

fn now_ms() -> i64 {
    crate::platform::clock::millis() as i64
}

impl DurableObject for TailHub {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            schema_ready: Cell::new(false),
            searches: RefCell::new(HashMap::new()),
            logqls: RefCell::new(HashMap::new()),
            meta_written: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let path = req.path();
        match path.as_str() {
            "/push" => {
                let body = req.bytes().await?;
                let answer = self.push(&body)?;
                Response::ok(serde_json::to_string(&answer)?)
            }
            "/connect" => {
                let viewer = req
                    .headers()
                    .get("x-tail-viewer")?
                    .and_then(|v| serde_json::from_str::<Viewer>(&v).ok());
                let project = req.headers().get("x-tail-project")?;
                let resume = req
                    .headers()
                    .get("x-tail-cursor")?
                    .and_then(|c| Cursor::parse(&c).ok());
                match viewer {
                    Some(viewer) => self.connect(viewer, project.as_deref(), resume),
                    None => Response::error("no viewer", 400),
                }
            }
            "/revoke" => {
                let revoke: Revoke = serde_json::from_slice(&req.bytes().await?)?;
                let sockets = self.state.get_websockets_with_tag(&key_tag(&revoke.key_id));
                for ws in &sockets {
                    let _ = ws.close(Some(CLOSE_REVOKED), Some("key revoked"));
                }
                Response::ok(format!(r#"{{"closed":{}}}"#, sockets.len()))
            }
            _ => Response::error("not a hub call", 404),
        }
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        // A viewer may say "ping" (answered) and nothing else matters: the stream is one way.
        if let WebSocketIncomingMessage::String(text) = message {
            if text == "ping" {
                ws.send_with_str(r#"{"type":"pong"}"#)?;
            }
        }
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _clean: bool,
    ) -> Result<()> {
        // Answer the viewer's close (a code it may send back), then remember when the hub was
        // last watched, so a reconnect within the buffer's span finds what it missed.
        let code = if (1000..=4999).contains(&code) && code != 1005 && code != 1006 {
            code as u16
        } else {
            1000
        };
        let _ = ws.close(Some(code), Some("closed"));
        self.touch(true)?;
        Ok(())
    }

    async fn websocket_error(&self, _ws: WebSocket, _error: worker::Error) -> Result<()> {
        self.touch(true)?;
        Ok(())
    }
}

impl TailHub {
    fn db(&self) -> Result<SqlStorage> {
        let db = self.state.storage().sql();
        if !self.schema_ready.get() {
            db.exec(SCHEMA, None)?;
            self.schema_ready.set(true);
        }
        Ok(db)
    }

    /// Records that the hub is (or was just) watched; written at most once a minute unless
    /// `force`.
    fn touch(&self, force: bool) -> Result<()> {
        let now = now_ms();
        if force || now - self.meta_written.get() > 60_000 {
            self.db()?.exec(
                "INSERT INTO meta (key, value) VALUES ('last_viewer_ms', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                Some(vec![SqlStorageValue::from(now as f64)]),
            )?;
            self.meta_written.set(now);
        }
        Ok(())
    }

    fn watched_recently(&self, db: &SqlStorage) -> Result<bool> {
        let rows: Vec<ValueRow> = db
            .exec("SELECT value FROM meta WHERE key = 'last_viewer_ms'", None)?
            .to_array()?;
        Ok(rows
            .first()
            .and_then(|r| r.value)
            .is_some_and(|at| now_ms() - (at as i64) < BUFFER_MS))
    }

    /// A Loki viewer's log query, parsed once.
    fn logql(&self, text: &str) -> Option<Rc<crate::loki::logql::ast::LogExpr>> {
        if let Some(l) = self.logqls.borrow().get(text) {
            return Some(l.clone());
        }
        let crate::loki::logql::ast::Expr::Log(log) =
            crate::loki::logql::parse::parse(text).ok()?
        else {
            return None;
        };
        let log = Rc::new(log);
        self.logqls
            .borrow_mut()
            .insert(text.to_string(), log.clone());
        Some(log)
    }

    fn search(&self, query: &str) -> Rc<ParsedQuery> {
        if let Some(s) = self.searches.borrow().get(query) {
            return s.clone();
        }
        // Checked before the socket opened, so this parses; a query that no longer does (after
        // an upgrade changed the language) matches nothing rather than everything.
        let search = parse(query).unwrap_or_else(|_| parse("\"\u{0}\"").unwrap_or_default());
        let literals = search.literals();
        let entry = Rc::new((search, literals));
        self.searches
            .borrow_mut()
            .insert(query.to_string(), entry.clone());
        entry
    }

    /// A pushed message: kept while watched, sent to each viewer as its query and rate allow.
    fn push(&self, body: &[u8]) -> Result<PushAnswer> {
        let sockets = self.state.get_websockets();
        let db = self.db()?;
        if sockets.is_empty() && !self.watched_recently(&db)? {
            return Ok(PushAnswer {
                viewers: 0,
                kept: false,
            });
        }
        let text =
            std::str::from_utf8(body).map_err(|e| worker::Error::RustError(e.to_string()))?;
        let now = now_ms();
        // Kept as the message came (a resume parses it): a push while nobody watches costs one
        // insert and no parsing.
        let rows: Vec<ValueRow> = db
            .exec(
                "INSERT INTO batches (at_ms, events) VALUES (?, ?) RETURNING seq AS value",
                Some(vec![
                    SqlStorageValue::from(now as f64),
                    SqlStorageValue::from(text),
                ]),
            )?
            .to_array()?;
        let seq = rows.first().and_then(|r| r.value).unwrap_or(0.0) as i64;
        if seq % 100 == 0 {
            db.exec(
                "DELETE FROM batches WHERE seq <= ? OR at_ms < ?",
                Some(vec![
                    SqlStorageValue::from((seq - BUFFER_MAX_BATCHES) as f64),
                    SqlStorageValue::from((now - BUFFER_MS) as f64),
                ]),
            )?;
        }
        if sockets.is_empty() {
            return Ok(PushAnswer {
                viewers: 0,
                kept: true,
            });
        }
        self.touch(false)?;
        let batch: Batch = serde_json::from_str(text)?;
        // Each event is lowercased and parsed at most once, and only when some viewer needs it.
        let lowered: Vec<OnceCell<String>> = batch.events.iter().map(|_| OnceCell::new()).collect();
        let parsed: Vec<OnceCell<Option<StoredEvent>>> =
            batch.events.iter().map(|_| OnceCell::new()).collect();
        let today = chrono::DateTime::from_timestamp_millis(now).unwrap_or_default();
        for ws in &sockets {
            let Ok(Some(mut viewer)) = ws.deserialize_attachment::<Viewer>() else {
                continue;
            };
            if let Some(text) = viewer.logql.clone() {
                // Each event parsed once for every viewer, Loki's and ours (`parsed`).
                let events: Vec<&StoredEvent> = batch
                    .events
                    .iter()
                    .enumerate()
                    .filter_map(|(i, raw)| {
                        parsed[i]
                            .get_or_init(|| serde_json::from_str(raw.get()).ok())
                            .as_ref()
                    })
                    .collect();
                self.send_loki(ws, &mut viewer, &text, &events, now);
                viewer.cursor = Cursor {
                    batch: seq,
                    next: batch.events.len(),
                };
                let _ = ws.serialize_attachment(&viewer);
                if viewer.limit_reached() {
                    let _ = ws.close(Some(CLOSE_LIMIT), Some("limit reached"));
                }
                continue;
            }
            let entry = self.search(&viewer.query);
            let (search, literals) = (&entry.0, &entry.1);
            let matched: Vec<&str> = batch
                .events
                .iter()
                .enumerate()
                .filter(|(i, raw)| {
                    if search.terms.is_empty() {
                        return true;
                    }
                    let lower = lowered[*i].get_or_init(|| raw.get().to_ascii_lowercase());
                    literals.iter().all(|l| lower.contains(l.as_str()))
                        && parsed[*i]
                            .get_or_init(|| serde_json::from_str(raw.get()).ok())
                            .as_ref()
                            .is_some_and(|e| search.matches(e, today))
                })
                .map(|(_, raw)| raw.get())
                .collect();
            let allowed = viewer.admit(matched.len(), now);
            viewer.cursor = Cursor {
                batch: seq,
                next: batch.events.len(),
            };
            // A frame says how many matching events were not sent since the previous frame
            // (this push's included), so a slow viewer knows what it missed.
            if allowed > 0 || viewer.dropped > 0 {
                let dropped = std::mem::take(&mut viewer.dropped);
                let _ = ws.send_with_str(events_frame(
                    &matched[..allowed],
                    dropped,
                    viewer.cursor,
                    false,
                ));
            }
            let _ = ws.serialize_attachment(&viewer);
            if viewer.limit_reached() {
                let _ = ws.close(Some(CLOSE_LIMIT), Some("limit reached"));
            }
        }
        Ok(PushAnswer {
            viewers: sockets.len(),
            kept: true,
        })
    }

    /// A Loki viewer's frame: the events its log query keeps, as streams.
    fn send_loki(
        &self,
        ws: &WebSocket,
        viewer: &mut Viewer,
        text: &str,
        events: &[&StoredEvent],
        now: i64,
    ) {
        let Some(log) = self.logql(text) else { return };
        let entries: Vec<crate::loki::eval::Entry> = events
            .iter()
            .map(|e| crate::loki::entries::entry_of((*e).clone()))
            .collect();
        let streams = crate::loki::eval::streams(&log, &entries, entries.len(), false);
        let kept: usize = streams.iter().map(|s| s.values.len()).sum();
        let allowed = viewer.admit(kept, now);
        if allowed == 0 && viewer.dropped == 0 {
            return;
        }
        let mut left = allowed;
        let trimmed: Vec<crate::loki::eval::Stream> = streams
            .into_iter()
            .filter_map(|mut s| {
                s.values.truncate(left);
                left -= s.values.len();
                (!s.values.is_empty()).then_some(s)
            })
            .collect();
        let dropped = std::mem::take(&mut viewer.dropped);
        let _ = ws.send_with_str(crate::loki::api::tail_frame(&trimmed, dropped));
    }

    fn connect(
        &self,
        mut viewer: Viewer,
        project: Option<&str>,
        resume: Option<Cursor>,
    ) -> Result<Response> {
        let pair = WebSocketPair::new()?;
        let server = pair.server;
        self.state
            .accept_websocket_with_tags(&server, &[&key_tag(&viewer.key_id)]);
        if self.state.get_websockets().len() > MAX_VIEWERS {
            server.close(
                Some(CLOSE_TOO_MANY),
                Some(format!(
                    "this project's tail has {MAX_VIEWERS} viewers; try again later"
                )),
            )?;
            return Response::from_websocket(pair.client);
        }
        let db = self.db()?;
        let next: Vec<ValueRow> = db
            .exec(
                "SELECT seq AS value FROM sqlite_sequence WHERE name = 'batches'",
                None,
            )?
            .to_array()
            .unwrap_or_default();
        let newest = next.first().and_then(|r| r.value).unwrap_or(0.0) as i64;
        viewer.cursor = Cursor {
            batch: newest + 1,
            next: 0,
        };
        // Loki's tail sends nothing but stream frames.
        if viewer.logql.is_none() {
            server.send_with_str(hello_frame(&viewer, project))?;
        }
        if let Some(from) = resume.filter(|c| c.batch <= newest && viewer.logql.is_none()) {
            self.resume(&db, &server, &mut viewer, from)?;
        }
        server.serialize_attachment(&viewer)?;
        self.touch(true)?;
        Response::from_websocket(pair.client)
    }

    /// Sends what the viewer's cursor missed from the buffer, in frames; marks a `gap` when the
    /// buffer no longer reaches back to it.
    fn resume(
        &self,
        db: &SqlStorage,
        ws: &WebSocket,
        viewer: &mut Viewer,
        from: Cursor,
    ) -> Result<()> {
        let rows: Vec<SeqRow> = db
            .exec(
                "SELECT seq, events FROM batches WHERE seq >= ? ORDER BY seq",
                Some(vec![SqlStorageValue::from(from.batch as f64)]),
            )?
            .to_array()?;
        let gap = rows.first().is_none_or(|r| r.seq as i64 > from.batch) && from.batch > 0;
        let entry = self.search(&viewer.query);
        let search = &entry.0;
        let today = chrono::DateTime::from_timestamp_millis(now_ms()).unwrap_or_default();
        let mut pending: Vec<Box<RawValue>> = Vec::new();
        let mut sent = 0usize;
        let mut dropped = 0u64;
        let mut first = true;
        for row in &rows {
            let events: Vec<Box<RawValue>> = serde_json::from_str::<OwnedBatch>(&row.events)
                .map(|b| b.events)
                .unwrap_or_default();
            let skip = if row.seq as i64 == from.batch {
                from.next
            } else {
                0
            };
            for raw in events.into_iter().skip(skip) {
                let matches = serde_json::from_str::<StoredEvent>(raw.get())
                    .is_ok_and(|e| search.matches(&e, today));
                if !matches {
                    continue;
                }
                if sent >= MAX_RESUME_EVENTS {
                    dropped += 1;
                } else {
                    pending.push(raw);
                    sent += 1;
                }
            }
            viewer.cursor = Cursor {
                batch: row.seq as i64 + 1,
                next: 0,
            };
            if pending.len() >= FRAME_EVENTS {
                let texts: Vec<&str> = pending.iter().map(|r| r.get()).collect();
                ws.send_with_str(events_frame(&texts, 0, viewer.cursor, gap && first))?;
                first = false;
                pending.clear();
            }
        }
        if !pending.is_empty() || gap || dropped > 0 {
            let texts: Vec<&str> = pending.iter().map(|r| r.get()).collect();
            ws.send_with_str(events_frame(&texts, dropped, viewer.cursor, gap && first))?;
        }
        viewer.sent += sent as u64;
        Ok(())
    }
}
