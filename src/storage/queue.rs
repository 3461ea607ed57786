//! Sending to a queue: message bodies as bytes (`Uint8Array`, V8 content type), so their size
//! is exactly what was measured and nothing is re-encoded on the way; a body past one billed
//! 64 KB unit is gzip-compressed when that saves units (`queue_body`).
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

use super::queue_body;

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
    let wire: Vec<_> = bodies
        .iter()
        .map(|b| queue_body::seal(b.as_ref()))
        .collect();
    let array: Array = wire
        .iter()
        .map(|body| JsValue::from(Uint8Array::from(body.as_ref())))
        .collect();
    let promise = send_bodies(queue.as_ref(), &array)?;
    JsFuture::from(promise).await?;
    let units: u64 = wire.iter().map(|b| queue_body::units(b.len())).sum();
    crate::billing::add(crate::billing::Item::QueueOperations, units);
    Ok(())
}

/// A delivered message's body ([`decode_body`]), its queue operations counted on the bytes
/// that crossed the wire: its read now and its delete when acked (a retry is read again, and
/// counted again).
pub fn delivered(body: &JsValue) -> Option<String> {
    let (text, wire_bytes) = decode_body(body)?;
    let units = queue_body::units(wire_bytes);
    crate::billing::add(crate::billing::Item::QueueOperations, 2 * units);
    Some(text)
}

/// A received message's body as text, and its size on the wire. Messages are bytes (what
/// `send_bytes` sends, gzip-compressed past one billed unit); JSON text or a JSON value (what a
/// replay tool may send) is accepted too.
fn decode_body(body: &JsValue) -> Option<(String, usize)> {
    if let Some(text) = body.as_string() {
        let len = text.len();
        return Some((text, len));
    }
    if body.is_instance_of::<Uint8Array>() || body.is_instance_of::<worker::js_sys::ArrayBuffer>() {
        let wire = Uint8Array::new(body).to_vec();
        let text = match queue_body::open(&wire) {
            Ok(bytes) => String::from_utf8(bytes.into_owned()).ok(),
            Err(e) => {
                worker::console_error!("{e}");
                None
            }
        }?;
        return Some((text, wire.len()));
    }
    if body.is_object() {
        let text = JSON::stringify(body).ok().and_then(|s| s.as_string())?;
        let len = text.len();
        return Some((text, len));
    }
    None
}
