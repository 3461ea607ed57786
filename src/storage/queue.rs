//! Sending to a queue: message bodies as bytes (`Uint8Array`, V8 content type), so their size
//! is exactly what was measured and nothing is re-encoded on the way.

use worker::js_sys::Uint8Array;
use worker::wasm_bindgen::JsValue;
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
