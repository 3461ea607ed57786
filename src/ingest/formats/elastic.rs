//! Elasticsearch's bulk API (`POST /_bulk`, `POST /{index}/_bulk`): the one API Filebeat,
//! Logstash, Fluent Bit, Vector and Elastic Agent all speak. NDJSON pairs of an action line
//! (`index` or `create`) and a source document, each document mapped from ECS onto our fields;
//! the answer is Elasticsearch's, item by item. Also what those clients ask before they send:
//! the version at `GET /`, and the template, ILM and licence probes of Beats and Logstash.
//!
//! ECS onto ours: `@timestamp` → `timestamp`, `log.level` → `level`, `error.{type,message,
//! stack_trace}` → `error`, `service.{name,environment,version}` → `service`, `environment`,
//! `release`, `trace.id`, `span.id`, `transaction.id`, `user.id`, `http.request.id`,
//! `url.path` → our fields, `host.name` and `labels.*` → tags, the index name → tag `index`;
//! every other field lands in `context`. Dotted keys (`"log.level": …`) and nested objects
//! (`"log": {"level": …}`) are read alike.

use serde_json::{Map, Value};

use crate::error::AppError;
use crate::model::{ItemError, RejectReason};
use crate::processors::body::{RawItem, AGENT_MAX_EVENTS};
use crate::processors::fields::{EventJson, Fields};

/// The version we answer with; a Beat or Logstash newer than this is answered with its own
/// version, because they refuse an Elasticsearch older than themselves.
const VERSION: (u32, u32, u32) = (8, 19, 0);
/// Index of documents whose action and URL name none.
pub const DEFAULT_INDEX: &str = "edge-logger";

/// One action of the body, in order: what it asked, and into which index.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// `index`, `create`, `update`, `delete`, or `index` for a line that was no action.
    pub kind: String,
    pub index: String,
}

/// A bulk body: one raw item per action (documents to ingest, or why not), and the actions.
#[derive(Debug)]
pub struct Bulk {
    pub items: Vec<RawItem>,
    pub actions: Vec<Action>,
}

/// How one item of the bulk ended, for the answer.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemOutcome {
    /// Stored under this id.
    Created(String),
    /// Refused for good (the client drops it).
    Rejected(String),
    /// Not queued this time: the client retries this item alone.
    Retry,
}

const ACTIONS: &[&str] = &["index", "create", "update", "delete"];

/// The action of a line, if it is one: `{"index": {"_index": …, "_id": …}}`.
/// An action line: one action key and its metadata. Keys that are no action beside it are
/// ignored, as Elasticsearch does (winston-elasticsearch adds `"attempts": 0`).
fn action_line(line: &[u8]) -> Option<(String, Map<String, Value>)> {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) else {
        return None;
    };
    let mut actions = object
        .into_iter()
        .filter(|(key, _)| ACTIONS.contains(&key.as_str()));
    let (kind, meta) = actions.next()?;
    if actions.next().is_some() {
        return None;
    }
    match meta {
        Value::Object(meta) => Some((kind, meta)),
        Value::Null => Some((kind, Map::new())),
        _ => None,
    }
}

/// Elasticsearch's rules for an index name, kept to ASCII: lowercase letters, digits, `.`,
/// `_` and `-`, not starting with `.`, `_` or `-`, at most 255 bytes.
pub fn valid_index(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z' | b'0'..=b'9'))
        && name.len() <= 255
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'))
}

/// Splits a bulk body into items. A line that is not an action, and the document after it
/// (when the next line is not an action either), is one rejected item, so that one bad line
/// costs one item and every other item keeps its place in the answer.
pub fn parse_bulk(body: &[u8], path_index: Option<&str>) -> Result<Bulk, AppError> {
    let mut lines = body
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .enumerate()
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
        .peekable();
    let mut items = Vec::new();
    let mut actions = Vec::new();
    if let Some(index) = path_index.filter(|i| !valid_index(i)) {
        return Err(AppError::InvalidParameter(format!(
            "'{index}' is not a valid index name: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit."
        )));
    }
    let default_index = path_index.unwrap_or(DEFAULT_INDEX);
    let mut budget = super::budget::MappedBudget::for_body(body.len());
    while let Some((number, line)) = lines.next() {
        if actions.len() >= AGENT_MAX_EVENTS {
            return Err(AppError::PayloadTooLarge(format!(
                "The body holds more than {AGENT_MAX_EVENTS} actions; the limit is {AGENT_MAX_EVENTS} per request."
            )));
        }
        let index = items.len();
        let reject = |message: String| {
            RawItem::Rejected(ItemError::new(index, RejectReason::InvalidEvent, message))
        };
        let Some((kind, meta)) = action_line(line) else {
            if lines
                .peek()
                .is_some_and(|(_, next)| action_line(next).is_none())
            {
                lines.next();
            }
            items.push(reject(format!(
                "Malformed action/metadata line [{}]: expected {{\"index\"|\"create\": {{…}}}} followed by a document.",
                number + 1
            )));
            actions.push(Action {
                kind: "index".into(),
                index: default_index.into(),
            });
            continue;
        };
        let target = meta
            .get("_index")
            .and_then(Value::as_str)
            .unwrap_or(default_index)
            .to_string();
        let source = match kind.as_str() {
            "delete" => None,
            _ => lines.next(),
        };
        let item = match (kind.as_str(), source) {
            _ if !valid_index(&target) => reject(format!(
                "'{target}' is not a valid index name: lowercase letters, digits, '.', '_' and '-', starting with a letter or digit."
            )),
            ("index" | "create", Some((_, source))) => {
                match serde_json::from_slice::<EventJson>(source) {
                    Ok(EventJson::Object(document)) => {
                        let id = meta.get("_id").and_then(Value::as_str);
                        RawItem::Object(ecs_to_event(flatten_ecs(document), &target, id))
                    }
                    Ok(EventJson::Other(_)) => reject(format!(
                        "The document of line {} is not a JSON object.",
                        number + 2
                    )),
                    Err(e) => reject(format!(
                        "The document of line {} is not JSON: {e}.",
                        number + 2
                    )),
                }
            }
            ("index" | "create", None) => {
                reject(format!("The action of line {} has no document after it.", number + 1))
            }
            (other, _) => reject(format!(
                "'{other}' is not supported: events are immutable once stored; send index or create."
            )),
        };
        items.push(budget.admit(index, item)?);
        actions.push(Action {
            kind,
            index: target,
        });
    }
    if items.is_empty() {
        return Err(AppError::InvalidEvents {
            message: "The bulk body holds no actions.".into(),
            errors: vec![],
        });
    }
    Ok(Bulk { items, actions })
}

/// The ECS objects whose fields we map. A document's objects of these names are read flat, as
/// dotted keys (`"log": {"level": "error"}` as `"log.level": "error"`), so that each field is
/// found and taken in one step; what is left of them lands in `context` under those keys.
const ECS_OBJECTS: &[&str] = &[
    "log",
    "service",
    "trace",
    "span",
    "transaction",
    "url",
    "host",
    "error",
    "labels",
    "user",
    "http",
    "event",
];

/// A bulk document's `ECS_OBJECTS` flattened one level, as dotted keys.
fn flatten_ecs(doc: Fields) -> Fields {
    let mut entries = Vec::with_capacity(16);
    for (key, value) in doc {
        match value {
            Value::Object(fields) if ECS_OBJECTS.contains(&key.as_str()) => {
                for (field, value) in fields {
                    entries.push((format!("{key}.{field}"), value));
                }
            }
            value => entries.push((key, value)),
        }
    }
    Fields::from_entries(entries)
}

/// Takes an ECS field from a flattened document: dotted (`"http.request.id"`), or one level
/// further down (`"http.request": {"id"}`); a parent object left empty goes too.
fn take(doc: &mut Fields, path: &str) -> Option<Value> {
    if let Some(v) = doc.remove(path) {
        return Some(v);
    }
    let (parent, field) = path.rsplit_once('.')?;
    let Some(Value::Object(inner)) = doc.get_mut(parent) else {
        return None;
    };
    let found = inner.remove(field);
    if inner.is_empty() {
        doc.remove(parent);
    }
    found
}

fn scalar_text(v: Value) -> Option<Value> {
    match v {
        Value::String(s) if !s.is_empty() => Some(Value::String(s)),
        Value::Number(n) => Some(Value::String(n.to_string())),
        Value::Bool(b) => Some(Value::String(b.to_string())),
        _ => None,
    }
}

/// An ECS document into an event. The document is read into fields (no map is built for its
/// top level) and the event is built as fields, as our own bodies are.
pub fn ecs_to_event(mut doc: Fields, index: &str, id: Option<&str>) -> Fields {
    // Other loggers' names (pino's, syslog's) while the document is whole: its shape is what
    // tells a pino level from an OpenTelemetry severity number.
    crate::processors::aliases::shipper_shapes(&mut doc);
    let mut event = Fields::with_capacity(12);
    let mut tags = Map::new();
    for (ecs, ours) in [
        ("@timestamp", "timestamp"),
        ("log.level", "level"),
        ("service.name", "service"),
        ("service.environment", "environment"),
        ("service.version", "release"),
        ("trace.id", "trace_id"),
        ("span.id", "span_id"),
        ("transaction.id", "request_id"),
        ("http.request.id", "request_id"),
        ("user.id", "user_id"),
        ("url.path", "endpoint"),
    ] {
        if let Some(v) = take(&mut doc, ecs).and_then(scalar_text) {
            event.insert_if_absent(ours.to_string(), v);
        }
    }
    let error: Map<String, Value> = [
        ("error.type", "type"),
        ("error.message", "message"),
        ("error.stack_trace", "stack"),
    ]
    .into_iter()
    .filter_map(|(ecs, ours)| Some((ours.to_string(), take(&mut doc, ecs).and_then(scalar_text)?)))
    .collect();
    if !error.is_empty() {
        event.push("error", Value::Object(error));
    }
    // `host` is an object in ECS and a plain name in Vector's and older Logstash's events.
    if let Some(host) = take(&mut doc, "host.name")
        .or_else(|| take(&mut doc, "host").filter(Value::is_string))
        .and_then(scalar_text)
    {
        tags.insert("host".into(), host);
    }
    // The line itself when there is no `message`: `log` from Fluent Bit's tail input and
    // Docker's json-file logs, `msg`, or ECS's `event.original`.
    if !doc.contains_key("message") {
        let line = take(&mut doc, "log")
            .filter(Value::is_string)
            .or_else(|| take(&mut doc, "msg"))
            .or_else(|| take(&mut doc, "event.original"));
        if let Some(line) = line {
            event.push("message", line);
        }
    }
    let labels: Vec<String> = doc
        .iter()
        .filter(|(k, _)| k.starts_with("labels."))
        .map(|(k, _)| k.clone())
        .collect();
    for key in labels {
        if let Some(v) = doc.remove(&key).and_then(scalar_text) {
            tags.entry(key["labels.".len()..].to_string()).or_insert(v);
        }
    }
    if let Some(logger) = take(&mut doc, "log.logger") {
        doc.insert("logger".into(), logger);
    }
    // Our own fields, when the document was written for us: the scalar ones (objects such as
    // an ECS `error` are not ours), and never `source_type`, which shippers use for their own.
    for field in crate::model::fields::names(crate::model::fields::role::SENT)
        .filter(|f| *f != "source_type")
    {
        if matches!(doc.get(field), Some(Value::String(_) | Value::Number(_))) {
            if let Some(v) = doc.remove(field) {
                event.insert_if_absent(field.to_string(), v);
            }
        }
    }
    // Our `tags` is an object; ECS's is a list of words, which stays in context as sent.
    if matches!(doc.get("tags"), Some(Value::Object(_))) {
        if let Some(Value::Object(own_tags)) = doc.remove("tags") {
            for (k, v) in own_tags {
                if let Some(v) = scalar_text(v) {
                    tags.entry(k).or_insert(v);
                }
            }
        }
    }
    if let Some(id) = id.filter(|id| !id.is_empty()) {
        event.insert_if_absent("event_id".to_string(), Value::String(id.to_string()));
    }
    tags.insert("index".into(), Value::String(index.to_string()));
    event.push("tags", Value::Object(tags));
    if !doc.is_empty() {
        event.push("context", Value::Object(doc.into_iter().collect()));
    }
    event
}

/// Elasticsearch's bulk answer: one item per action, `errors` when any failed. Written as text:
/// a hundred items built as JSON values cost more than the rest of the request's mapping. An
/// item carries what agents read (`status`, `error`, `_id`, `result`), not the replication
/// details (`_shards`, `_seq_no`) that mean nothing here.
pub fn bulk_response(actions: &[Action], outcomes: &[ItemOutcome], took_ms: u64) -> String {
    use std::fmt::Write;
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let errors = outcomes
        .iter()
        .any(|o| !matches!(o, ItemOutcome::Created(_)));
    let mut out = String::with_capacity(64 + actions.len() * 120);
    let _ = write!(out, r#"{{"took":{took_ms},"errors":{errors},"items":["#);
    for (seq, (action, outcome)) in actions.iter().zip(outcomes).enumerate() {
        if seq > 0 {
            out.push(',');
        }
        let (kind, index) = (text(&action.kind), text(&action.index));
        let _ = match outcome {
            ItemOutcome::Created(id) => write!(
                out,
                r#"{{{kind}:{{"_index":{index},"_id":{},"_version":1,"result":"created","status":201}}}}"#,
                text(id)
            ),
            ItemOutcome::Rejected(reason) => write!(
                out,
                r#"{{{kind}:{{"_index":{index},"status":400,"error":{{"type":"mapper_parsing_exception","reason":{}}}}}}}"#,
                text(reason)
            ),
            ItemOutcome::Retry => write!(
                out,
                r#"{{{kind}:{{"_index":{index},"status":429,"error":{{"type":"es_rejected_execution_exception","reason":"the queue did not take this document; send it again"}}}}}}"#
            ),
        };
    }
    out.push_str("]}");
    out
}

/// `major.minor.patch` after a Beat's or Logstash's name in its `User-Agent`
/// (`Elastic-Filebeat/9.1.3 (linux; amd64; …)`, `logstash/9.0.0`).
fn agent_version(user_agent: &str) -> Option<(u32, u32, u32)> {
    let lower = user_agent.to_ascii_lowercase();
    let at = ["beat", "logstash", "elastic-agent"]
        .iter()
        .find_map(|name| lower.find(name))?;
    let rest = &lower[at..];
    let start = rest.find(|c: char| c.is_ascii_digit())?;
    let mut parts = rest[start..]
        .split(|c: char| !c.is_ascii_digit())
        .take(3)
        .map(|p| p.parse::<u32>().ok());
    Some((
        parts.next()??,
        parts.next()??,
        parts.next().flatten().unwrap_or(0),
    ))
}

/// `GET /` for Elasticsearch clients (with `X-Elastic-Product: Elasticsearch`), merged with
/// our own pointers to the API. JSON text: a fixed answer costs less wasm written out than
/// built with `json!`.
pub fn root_info(user_agent: Option<&str>) -> String {
    let (major, minor, patch) = user_agent
        .and_then(agent_version)
        .map_or(VERSION, |asked| asked.max(VERSION));
    format!(
        r#"{{"name":"edge-logger","cluster_name":"edge-logger","cluster_uuid":"edge-logger","version":{{"number":"{major}.{minor}.{patch}","build_flavor":"default","build_type":"edge-logger","lucene_version":"9.12.0","minimum_wire_compatibility_version":"7.17.0","minimum_index_compatibility_version":"7.0.0"}},"tagline":"You Know, for Search","openapi":"/openapi.json","dashboard":"/dashboard/","health":"/health"}}"#
    )
}

/// The named objects of the Elasticsearch management APIs agents set up before they send:
/// templates, pipelines, policies and data streams. `GET` finds each (so agents do not try to
/// create it) and `PUT`/`DELETE` are acknowledged: we keep no mappings, every event has our
/// schema.
fn probed_object<'a>(segments: &[&'a str]) -> Option<&'a str> {
    match segments {
        ["_ilm", "policy", name] | ["_ingest", "pipeline", name] => Some(*name),
        [kind, name]
            if [
                "_index_template",
                "_template",
                "_component_template",
                "_data_stream",
            ]
            .contains(kind) =>
        {
            Some(*name)
        }
        _ => None,
    }
    .filter(|name| !name.is_empty())
}

/// `GET /_cat/health` as Elasticsearch's cat API answers it: one line of text (a header line
/// first with `v`), or a JSON array with `format=json`. `epoch` is the caller's clock.
pub fn cat_health(json: bool, header: bool, epoch_seconds: i64) -> String {
    let time = chrono::DateTime::from_timestamp(epoch_seconds, 0)
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default();
    if json {
        return format!(
            r#"[{{"epoch":"{epoch_seconds}","timestamp":"{time}","cluster":"edge-logger","status":"green","node.total":"1","node.data":"1","shards":"1","pri":"1","relo":"0","init":"0","unassign":"0","pending_tasks":"0","max_task_wait_time":"-","active_shards_percent":"100.0%"}}]"#
        );
    }
    let head = if header {
        "epoch      timestamp cluster     status node.total node.data shards pri relo init unassign pending_tasks max_task_wait_time active_shards_percent\n"
    } else {
        ""
    };
    format!("{head}{epoch_seconds} {time} edge-logger green 1 1 1 1 0 0 0 0 - 100.0%\n")
}

/// The answer to what Beats, Logstash and Vector ask before they send, as JSON text:
/// `GET /_license`, `/_xpack`, `/_cluster/health`, and `GET`/`PUT`/`DELETE` of the objects
/// above. `None`: not a path we answer.
pub fn probe_answer(method: &str, segments: &[&str]) -> Option<String> {
    let fixed = match (method, segments) {
        ("GET", ["_license"]) => {
            r#"{"license":{"status":"active","uid":"edge-logger","type":"basic","issue_date_in_millis":0,"max_nodes":1000,"issued_to":"edge-logger","issuer":"edge-logger","start_date_in_millis":-1}}"#
        }
        ("GET", ["_xpack"]) => {
            r#"{"build":{"hash":"edge-logger","date":"2026-01-01T00:00:00Z"},"license":{"uid":"edge-logger","type":"basic","mode":"basic","status":"active"},"features":{"ilm":{"available":true,"enabled":true}}}"#
        }
        ("GET" | "POST", ["_refresh"] | [_, "_refresh"]) => {
            r#"{"_shards":{"total":1,"successful":1,"failed":0}}"#
        }
        ("GET", ["_cluster", "health"]) => {
            r#"{"cluster_name":"edge-logger","status":"green","timed_out":false,"number_of_nodes":1,"number_of_data_nodes":1,"active_shards_percent_as_number":100.0}"#
        }
        ("GET", _) => {
            let name = serde_json::to_string(probed_object(segments)?).ok()?;
            return Some(format!("{{{name}:{{}}}}"));
        }
        ("PUT" | "DELETE", _) => {
            probed_object(segments)?;
            r#"{"acknowledged":true}"#
        }
        _ => return None,
    };
    Some(fixed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(item: &RawItem) -> Map<String, Value> {
        match item {
            RawItem::Object(fields) => fields.clone().into_iter().collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn ecs_documents_map_onto_our_fields() {
        let body = concat!(
            r#"{"create":{"_index":"filebeat-9.1.0"}}"#,
            "\n",
            r#"{"@timestamp":"2026-12-04T10:00:00.123Z","message":"payment failed","log":{"level":"error","logger":"pay","file":{"path":"/var/log/app.log"}},"error":{"type":"CardError","message":"declined","stack_trace":"CardError: declined\n  at pay (pay.js:1:1)"},"service":{"name":"checkout","environment":"prod","version":"1.4.2","type":"node"},"host":{"name":"web-1","ip":["10.0.0.1"]},"trace.id":"5b8efff798038103d269b633813fc60c","http":{"request":{"id":"req-7"}},"labels":{"team":"pay"},"tags":["beats_input"]}"#,
            "\n",
            r#"{"index":{"_id":"doc-7"}}"#,
            "\n",
            r#"{"message":"plain","level":"warn","service":"api"}"#,
            "\n",
        );
        let bulk = parse_bulk(body.as_bytes(), Some("logs-app")).unwrap();
        assert_eq!(
            bulk.actions,
            vec![
                Action {
                    kind: "create".into(),
                    index: "filebeat-9.1.0".into()
                },
                Action {
                    kind: "index".into(),
                    index: "logs-app".into()
                },
            ]
        );
        let first = event(&bulk.items[0]);
        assert_eq!(first["timestamp"], "2026-12-04T10:00:00.123Z");
        assert_eq!(first["level"], "error");
        assert_eq!(first["message"], "payment failed");
        assert_eq!(first["service"], "checkout");
        assert_eq!(first["environment"], "prod");
        assert_eq!(first["release"], "1.4.2");
        assert_eq!(first["trace_id"], "5b8efff798038103d269b633813fc60c");
        assert_eq!(
            first["error"],
            json!({"type": "CardError", "message": "declined", "stack": "CardError: declined\n  at pay (pay.js:1:1)"})
        );
        assert_eq!(
            first["tags"],
            json!({"host": "web-1", "team": "pay", "index": "filebeat-9.1.0"})
        );
        assert_eq!(first["context"]["logger"], "pay");
        assert_eq!(first["request_id"], "req-7", "two levels down");
        assert_eq!(first["context"]["log.file"]["path"], "/var/log/app.log");
        assert_eq!(
            first["context"]["service.type"], "node",
            "what is left of an ECS object stays in context, by its dotted name"
        );
        assert_eq!(first["context"]["host.ip"], json!(["10.0.0.1"]));
        assert_eq!(first["context"]["tags"], json!(["beats_input"]));
        let second = event(&bulk.items[1]);
        assert_eq!(
            (second["level"].as_str(), second["service"].as_str()),
            (Some("warn"), Some("api"))
        );
        assert_eq!(second["event_id"], "doc-7", "_id is the client's event id");
        assert_eq!(second["tags"], json!({"index": "logs-app"}));
    }

    #[test]
    fn shippers_without_ecs_messages() {
        let body = concat!(
            r#"{"create":{"_index":"fluent-bit"}}"#,
            "\n",
            r#"{"@timestamp":"2026-12-04T10:00:00Z","log":"GET /health 200","stream":"stdout","kubernetes":{"pod_name":"web-1"}}"#,
            "\n",
            r#"{"index":{}}"#,
            "\n",
            r#"{"timestamp":"2026-12-04T10:00:00Z","message":"from vector","host":"web-2","source_type":"file"}"#,
            "\n",
            r#"{"index":{}}"#,
            "\n",
            r#"{"@timestamp":"2026-12-04T10:00:00Z","event":{"original":"raw logstash line"},"@version":"1"}"#,
            "\n",
        );
        let bulk = parse_bulk(body.as_bytes(), None).unwrap();
        let fluent = event(&bulk.items[0]);
        assert_eq!(fluent["message"], "GET /health 200");
        assert_eq!(fluent["context"]["stream"], "stdout");
        let vector = event(&bulk.items[1]);
        assert_eq!(vector["tags"]["host"], "web-2");
        assert_eq!(
            vector["context"]["source_type"], "file",
            "not our source_type"
        );
        assert_eq!(event(&bulk.items[2])["message"], "raw logstash line");
    }

    #[test]
    fn through_the_pipeline() {
        use chrono::TimeZone;
        let ctx = crate::processors::normalize::IngestContext::new(
            chrono::Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap(),
            "production",
        );
        let body = b"{\"create\":{}}\n{\"@timestamp\":\"2026-12-04T10:00:00Z\",\"message\":\"x failed\",\"log.level\":\"ERROR\",\"error.type\":\"E\",\"error.stack_trace\":\"E: x\\n  at f (a.js:1:1)\",\"agent\":{\"type\":\"filebeat\"}}\n";
        let bulk = parse_bulk(body, None).unwrap();
        let out =
            crate::ingest::pipeline::process_items(bulk.items, &ctx, uuid::Uuid::new_v4).unwrap();
        let e = &out.accepted[0].1;
        assert_eq!(
            (e.level.as_str(), e.error_kind.as_deref()),
            ("error", Some("exception"))
        );
        assert_eq!(e.context["agent"]["type"], "filebeat");
        assert_eq!(e.tags["index"], "edge-logger");
    }

    #[test]
    fn bad_lines_cost_one_item_each() {
        let body = concat!(
            r#"{"index":{}}"#,
            "\n",
            r#"{"message":"one"}"#,
            "\n",
            "not an action\n",
            r#"{"message":"its document"}"#,
            "\n",
            r#"{"index":{}}"#,
            "\n",
            r#"{"message":"two"}"#,
            "\n",
            r#"{"delete":{"_id":"x"}}"#,
            "\n",
            r#"{"update":{"_id":"x"}}"#,
            "\n",
            r#"{"doc":{}}"#,
            "\n",
            r#"{"create":{}}"#,
            "\n",
            "[1,2]\n",
            r#"{"create":{}}"#,
            "\n",
            "{broken\n",
            r#"{"index":{}}"#,
            "\n",
            r#"{"message":"three"}"#,
            "\n",
            r#"{"create":{}}"#,
            "\n",
        );
        let bulk = parse_bulk(body.as_bytes(), None).unwrap();
        let kinds: Vec<&str> = bulk
            .items
            .iter()
            .map(|i| match i {
                RawItem::Object(e) => e.get("message").and_then(Value::as_str).unwrap(),
                RawItem::Rejected(_) => "rejected",
                RawItem::Event(_) => "value",
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "one", "rejected", "two", "rejected", "rejected", "rejected", "rejected", "three",
                "rejected"
            ]
        );
        for (i, item) in bulk.items.iter().enumerate() {
            if let RawItem::Rejected(e) = item {
                assert_eq!(e.index, i);
            }
        }
        let bad_index = parse_bulk(
            b"{\"index\":{\"_index\":\"Logs\"}}\n{\"message\":\"x\"}\n",
            None,
        )
        .unwrap();
        assert!(
            matches!(&bad_index.items[0], RawItem::Rejected(e) if e.message.contains("index name"))
        );
        assert_eq!(parse_bulk(b"{}", Some("_x")).unwrap_err().status(), 400);
        for (name, valid) in [
            ("logs-app", true),
            ("filebeat-9.1.0", true),
            ("Logs", false),
            ("-x", false),
            ("a b", false),
            ("a%2Fb", false),
            ("", false),
        ] {
            assert_eq!(valid_index(name), valid, "{name}");
        }
        for bad in [&b""[..], b"\n\n"] {
            assert_eq!(parse_bulk(bad, None).unwrap_err().status(), 400);
        }
    }

    #[test]
    fn answers() {
        let actions = vec![
            Action {
                kind: "create".into(),
                index: "a".into(),
            },
            Action {
                kind: "index".into(),
                index: "b".into(),
            },
            Action {
                kind: "index".into(),
                index: "b".into(),
            },
        ];
        let outcomes = [
            ItemOutcome::Created("id1".into()),
            ItemOutcome::Rejected("message is required".into()),
            ItemOutcome::Retry,
        ];
        let answer: Value = serde_json::from_str(&bulk_response(&actions, &outcomes, 3)).unwrap();
        assert_eq!(answer["errors"], true);
        assert_eq!(answer["items"][0]["create"]["status"], 201);
        assert_eq!(answer["items"][0]["create"]["_id"], "id1");
        assert_eq!(answer["items"][1]["index"]["status"], 400);
        assert_eq!(
            answer["items"][1]["index"]["error"]["reason"],
            "message is required"
        );
        assert_eq!(answer["items"][2]["index"]["status"], 429);
        let clean: Value =
            serde_json::from_str(&bulk_response(&actions[..1], &outcomes[..1], 1)).unwrap();
        assert_eq!(clean["errors"], false);
        assert_eq!(clean["took"], 1);
    }

    #[test]
    fn versions_and_probes() {
        for (ua, expected) in [
            (None, "8.19.0"),
            (
                Some("Elastic-Filebeat/9.1.3 (linux; amd64; abc; 2025-08-01)"),
                "9.1.3",
            ),
            (Some("Filebeat/8.11.0 (linux)"), "8.19.0"),
            (Some("logstash/9.2.0"), "9.2.0"),
            (
                Some("elastic-transport-js/8.9.1 (linux 6.1-x64; Node.js v22.0.0)"),
                "8.19.0",
            ),
            (Some("Vector/0.49.0"), "8.19.0"),
        ] {
            let info: Value = serde_json::from_str(&root_info(ua)).unwrap();
            assert_eq!(info["version"]["number"], expected, "{ua:?}");
            assert_eq!(info["openapi"], "/openapi.json");
        }
        let probe = |method, segments: &[&str]| -> Value {
            serde_json::from_str(&probe_answer(method, segments).unwrap()).unwrap()
        };
        assert_eq!(probe("GET", &["_license"])["license"]["status"], "active");
        assert_eq!(
            probe("GET", &["_xpack"])["features"]["ilm"]["enabled"],
            true
        );
        assert_eq!(
            probe("GET", &["_index_template", "filebeat-9.1.0"]),
            json!({"filebeat-9.1.0": {}})
        );
        assert_eq!(
            probe("PUT", &["_ilm", "policy", "filebeat"]),
            json!({"acknowledged": true})
        );
        assert_eq!(
            probe("DELETE", &["_data_stream", "logs-x"]),
            json!({"acknowledged": true})
        );
        assert_eq!(probe("GET", &["_cluster", "health"])["status"], "green");
        assert_eq!(probe_answer("GET", &["_search"]), None);
        assert_eq!(probe_answer("GET", &["_ilm"]), None);
        assert_eq!(probe_answer("POST", &["_template", "x"]), None);
        assert_eq!(probe_answer("GET", &["_ingest", "pipeline", ""]), None);
    }

    /// What real shippers send, read as Elasticsearch would: winston-elasticsearch's action
    /// lines with extra keys, syslog-ng's default template, rsyslog's default template, and
    /// pino-elasticsearch's numeric levels.
    #[test]
    fn shippers_documents_as_they_send_them() {
        let body = concat!(
            r#"{"index":{"_index":"logs-2026.12.07","pipeline":null},"attempts":0}"#,
            "\n",
            r#"{"@timestamp":"2026-12-07T10:00:00.000Z","message":"winston line","severity":"warn"}"#,
            "\n",
            r#"{"index":{"_index":"syslog-ng"}}"#,
            "\n",
            r#"{"PROGRAM":"sshd","PRIORITY":"err","MESSAGE":"auth failed","HOST":"web-1","FACILITY":"auth","ISODATE":"2026-12-07T10:00:01+00:00","@timestamp":"2026-12-07T10:00:01+00:00"}"#,
            "\n",
            r#"{"index":{"_index":"rsyslog"}}"#,
            "\n",
            r#"{"message":"disk full","fromhost":"db-1","facility":"daemon","priority":"crit","timereported":"2026-12-07T10:00:02+00:00","timegenerated":"2026-12-07T10:00:02+00:00"}"#,
            "\n",
            r#"{"index":{"_index":"pino"}}"#,
            "\n",
            r#"{"level":20,"time":1765101603000,"pid":42,"hostname":"app-1","msg":"cache warm"}"#,
            "\n",
            r#"{"index":{"_index":"pino"}}"#,
            "\n",
            r#"{"level":10,"@timestamp":"2026-12-07T10:00:04.000Z","pid":42,"hostname":"app-1","msg":"tracing"}"#,
            "\n",
        );
        let bulk = parse_bulk(body.as_bytes(), None).unwrap();
        assert_eq!(bulk.actions.len(), 5);
        let events: Vec<Map<String, Value>> = bulk.items.iter().map(event).collect();
        assert_eq!(
            (events[0]["message"].as_str(), events[0]["level"].as_str()),
            (Some("winston line"), Some("warn"))
        );
        let syslog = &events[1];
        assert_eq!(syslog["message"], "auth failed");
        assert_eq!(syslog["level"], "err");
        assert_eq!(syslog["service"], "sshd");
        assert_eq!(syslog["timestamp"], "2026-12-07T10:00:01+00:00");
        assert_eq!(syslog["tags"]["host"], "web-1");
        let rsyslog = &events[2];
        assert_eq!(
            (rsyslog["level"].as_str(), rsyslog["timestamp"].as_str()),
            (Some("crit"), Some("2026-12-07T10:00:02+00:00"))
        );
        assert_eq!(rsyslog["tags"]["host"], "db-1");
        assert_eq!(
            (events[3]["level"].as_str(), events[3]["message"].as_str()),
            (Some("debug"), Some("cache warm"))
        );
        assert_eq!(events[3]["timestamp"], 1765101603000u64);
        assert_eq!(events[4]["level"], "trace");
    }
}
