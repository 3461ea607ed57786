//! Snapshots of what each agent format's mapper makes of a representative request
//! (`fixtures/`): a change to a mapping shows as a diff of its snapshot, reviewed with
//! `cargo insta review` (or `INSTA_UPDATE=always cargo test` and `git diff`).

use serde_json::{json, Value};

use super::elastic::parse_bulk;
use super::loki::{self, loki_push_to_items};
use super::otlp::{self, otlp_logs_to_items};
use super::sentry::envelope_to_items;
use crate::processors::body::RawItem;

/// The items as JSON: the mapped event, or the refusal with its code and reason.
fn items_json(items: &[RawItem]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|item| match item {
                RawItem::Event(event) => event.clone(),
                RawItem::Object(fields) => Value::Object(fields.clone().into_iter().collect()),
                RawItem::Rejected(e) => {
                    json!({"rejected": {"index": e.index, "code": e.code.code(), "message": e.message}})
                }
            })
            .collect(),
    )
}

#[test]
fn otlp_json_maps_resource_scope_and_records() {
    let body = include_bytes!("fixtures/otlp.json");
    let items = otlp_logs_to_items(body, otlp::Encoding::Json).unwrap();
    insta::assert_json_snapshot!("otlp", items_json(&items));
}

#[test]
fn loki_json_maps_labels_lines_and_metadata() {
    let body = include_bytes!("fixtures/loki.json");
    let items = loki_push_to_items(body, loki::Encoding::Json).unwrap();
    insta::assert_json_snapshot!("loki", items_json(&items));
}

#[test]
fn elasticsearch_bulk_maps_ecs_and_plain_documents() {
    let body = include_bytes!("fixtures/bulk.ndjson");
    let bulk = parse_bulk(body, Some("logs-app")).unwrap();
    let actions: Vec<Value> = bulk
        .actions
        .iter()
        .map(|a| json!({"kind": a.kind, "index": a.index}))
        .collect();
    insta::assert_json_snapshot!(
        "elasticsearch",
        json!({"actions": actions, "items": items_json(&bulk.items)})
    );
}

#[test]
fn sentry_envelope_maps_its_event_and_skips_sessions() {
    let body = include_bytes!("fixtures/sentry.envelope");
    let items = envelope_to_items(body).unwrap();
    insta::assert_json_snapshot!("sentry", items_json(&items));
}
