//! Sending to a queue: message bodies as bytes (`Uint8Array`, V8 content type), so their size
//! is exactly what was measured and nothing is re-encoded on the way.

use worker::js_sys::{Uint8Array, JSON};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::{Queue, QueueContentType, RawMessageBuilder, SendMessage};

/// One `send_batch` of byte messages (callers keep within 100 messages and 256 KB).
pub async fn send_bytes<B: AsRef<[u8]>>(queue: &Queue, bodies: &[B]) -> worker::Result<()> {
    let messages: Vec<SendMessage<JsValue>> = bodies
        .iter()
        .map(|body| {
            RawMessageBuilder::new(Uint8Array::from(body.as_ref()).into())
                .build_with_content_type(QueueContentType::V8)
        })
        .collect();
    queue.send_raw_batch(messages).await
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
