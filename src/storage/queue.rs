//! Sending to a queue: message bodies as bytes (`Uint8Array`, V8 content type), so their size
//! is exactly what was measured and nothing is re-encoded on the way.
//!
//! The call is made in JS: workers-rs' `send_raw_batch` builds each message's options through
//! `serde_wasm_bindgen` and sets them property by property from wasm. One message goes with
//! `send`: one write either way, but in the local runtime the broker takes a `sendBatch` as
//! base64 in JSON checked against a schema, and a `send` as the bytes themselves
//! (BENCHMARKS.md, "Queue sends").

use worker::js_sys::{Array, Promise, Uint8Array, JSON};
use worker::wasm_bindgen::prelude::wasm_bindgen;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::Queue;

#[wasm_bindgen(inline_js = r#"
export function sendBodies(queue, bodies) {
  if (bodies.length === 1) return queue.send(bodies[0], { contentType: "v8" });
  return queue.sendBatch(bodies.map((body) => ({ body, contentType: "v8" })));
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = sendBodies, catch)]
    fn send_bodies(queue: &JsValue, bodies: &Array) -> Result<Promise, JsValue>;
}

/// Byte messages in one call (callers keep within 100 messages and 256 KB).
pub async fn send_bytes<B: AsRef<[u8]>>(queue: &Queue, bodies: &[B]) -> worker::Result<()> {
    if bodies.is_empty() {
        return Ok(());
    }
    let array: Array = bodies
        .iter()
        .map(|body| JsValue::from(Uint8Array::from(body.as_ref())))
        .collect();
    let promise = send_bodies(queue.as_ref(), &array)?;
    JsFuture::from(promise).await?;
    let units: u64 = bodies
        .iter()
        .map(|b| crate::billing::queue_units(b.as_ref().len()))
        .sum();
    crate::billing::add(crate::billing::Item::QueueOperations, units);
    Ok(())
}

/// A delivered message's body ([`decode_body`]), its queue operations counted: its read now and
/// its delete when acked (a retry is read again, and counted again).
pub fn delivered(body: &JsValue) -> Option<String> {
    let text = decode_body(body)?;
    let units = crate::billing::queue_units(text.len());
    crate::billing::add(crate::billing::Item::QueueOperations, 2 * units);
    Some(text)
}

/// A received message's body as text. Messages are bytes (what `send_bytes` sends); JSON text
/// or a JSON value (what a replay tool may send) is accepted too.
pub fn decode_body(body: &JsValue) -> Option<String> {
    if let Some(text) = body.as_string() {
        return Some(text);
    }
    if body.is_instance_of::<Uint8Array>() || body.is_instance_of::<worker::js_sys::ArrayBuffer>() {
        return String::from_utf8(Uint8Array::new(body).to_vec()).ok();
    }
    if body.is_object() {
        return JSON::stringify(body).ok().and_then(|s| s.as_string());
    }
    None
}
