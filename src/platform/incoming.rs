//! The request as the platform hands it to `fetch`, read without `worker::Request`.
//!
//! A CPU profile of single-event ingestion under load (BENCHMARKS.md) found two costs in
//! `worker::Request` that nothing here needs: its conversion reads `request.cf` on every
//! request, which the runtime materialises as a fresh object of the edge's metadata (5 % of
//! the worker's CPU), and `Request::stream` reads a body through a stream reader whose release
//! rejects a promise with a new `TypeError` (24 % for reading a 200-byte body). So the raw
//! request is kept, and a body whose length is declared is read with one `arrayBuffer()`.
//!
//! The headers every request is asked about are read in one call into JS when the request
//! arrives ([`PREFETCHED`]): one `Headers.get` per header, each crossing into JS and copying
//! its answer back, was 4 % of the worker's CPU for single events.

use futures_util::StreamExt;
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys;
use worker::{js_sys, Headers, Url};

use crate::error::AppError;

/// Read for every request, in this order.
const PREFETCHED: [&str; 6] = [
    "origin",
    "content-type",
    "content-length",
    "content-encoding",
    "authorization",
    "x-api-key",
];

#[wasm_bindgen(inline_js = r#"
// Each named header as "\u0001<value>" or "\u0000" (absent), one per line: header values
// hold no control characters.
export function headerValues(headers, names) {
  let out = "";
  for (const name of names) {
    const value = headers.get(name);
    out += (value === null ? "\u0000" : "\u0001" + value) + "\n";
  }
  return out;
}
// A multipart body already read (within its limit) parsed by the runtime.
export function formDataOf(bytes, contentType) {
  return new Response(bytes, { headers: { "content-type": contentType } }).formData();
}
"#)]
extern "C" {
    #[wasm_bindgen(js_name = headerValues)]
    fn header_values(headers: &web_sys::Headers, names: &js_sys::Array) -> String;
    #[wasm_bindgen(js_name = formDataOf)]
    fn form_data_of(bytes: &js_sys::Uint8Array, content_type: &str) -> js_sys::Promise;
}

thread_local! {
    /// [`PREFETCHED`] as a JS array, made once per isolate and passed by reference.
    static NAMES: js_sys::Array = PREFETCHED.iter().map(|name| JsValue::from_str(name)).collect();
}

/// The largest unread body a refusal reads before answering (see
/// [`Incoming::discard_unread_body`]).
const DISCARD_UP_TO: usize = 64 * 1024;

pub(crate) struct Incoming {
    raw: web_sys::Request,
    headers: Headers,
    /// The values of [`PREFETCHED`], in its order.
    prefetched: Vec<Option<String>>,
    /// Set once the body was read here: nothing is left to discard.
    body_read: std::cell::Cell<bool>,
}

impl Incoming {
    pub fn new(raw: web_sys::Request) -> Self {
        let headers = Headers(raw.headers());
        let text = NAMES.with(|names| header_values(&headers.0, names));
        let prefetched = text
            .split('\n')
            .take(PREFETCHED.len())
            .map(|line| line.strip_prefix('\u{1}').map(str::to_string))
            .collect();
        Incoming {
            raw,
            headers,
            prefetched,
            body_read: std::cell::Cell::new(false),
        }
    }

    /// A header's value (`None` when absent).
    pub fn header(&self, name: &str) -> Result<Option<String>, AppError> {
        match PREFETCHED.iter().position(|n| *n == name) {
            Some(i) => Ok(self.prefetched.get(i).cloned().flatten()),
            None => Ok(self.headers.get(name)?),
        }
    }

    pub fn method(&self) -> String {
        self.raw.method()
    }

    pub fn url(&self) -> Result<Url, AppError> {
        Url::parse(&self.raw.url()).map_err(|e| AppError::Internal(format!("request URL: {e}")))
    }

    /// A `multipart/form-data` body, parsed by the runtime; refused past `limit` bytes, declared
    /// or (for a body of undeclared length) counted as it streams in, before the runtime parses
    /// anything.
    pub async fn form_data(
        &self,
        limit: usize,
        too_large: impl Fn(usize) -> AppError,
    ) -> Result<worker::FormData, AppError> {
        let declared = self
            .header("content-length")?
            .and_then(|v| v.trim().parse::<usize>().ok());
        let promise = match declared {
            Some(length) if length > limit => return Err(too_large(length)),
            // The runtime delivers exactly the declared length.
            Some(_) => self.raw.form_data().map_err(js_error)?,
            None => {
                let body = self.body_within(limit, too_large).await?;
                let content_type = self.header("content-type")?.unwrap_or_default();
                form_data_of(&js_sys::Uint8Array::from(body.as_slice()), &content_type)
            }
        };
        let value = JsFuture::from(promise).await.map_err(|_| {
            AppError::InvalidParameter(
                "The body is not multipart/form-data the runtime can read.".into(),
            )
        })?;
        Ok(worker::FormData::from(value))
    }

    /// The whole body, refused with `too_large(size)` as soon as it is known to pass `limit`:
    /// from the declared `Content-Length` before reading, and for a body of undeclared length
    /// (chunked) while streaming it, so that no more than `limit` bytes are ever buffered.
    pub async fn body_within(
        &self,
        limit: usize,
        too_large: impl Fn(usize) -> AppError,
    ) -> Result<Vec<u8>, AppError> {
        let declared = self
            .header("content-length")?
            .and_then(|v| v.trim().parse::<usize>().ok());
        match declared {
            Some(length) if length > limit => Err(too_large(length)),
            Some(0) => Ok(Vec::new()),
            // The runtime delivers exactly the declared length, so one read is bounded by it.
            Some(_) => {
                self.body_read.set(true);
                let promise = self.raw.array_buffer().map_err(js_error)?;
                let buffer = JsFuture::from(promise).await.map_err(js_error)?;
                let body = js_sys::Uint8Array::new(&buffer).to_vec();
                match body.len() > limit {
                    true => Err(too_large(body.len())),
                    false => Ok(body),
                }
            }
            // `request.body` builds a stream object, so it is only asked for here.
            None if self.raw.body().is_none() => Ok(Vec::new()),
            None => self.stream_within(limit, too_large).await,
        }
    }

    /// Reads and drops a body of at most [`DISCARD_UP_TO`] declared bytes that nothing read
    /// (a refusal before the body, a fixed answer to an agent's probe); larger or undeclared
    /// ones are left to the runtime (it closes such a connection).
    pub async fn discard_unread_body(&self) {
        let small = self
            .header("content-length")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .is_some_and(|n| n > 0 && n <= DISCARD_UP_TO);
        if small && !self.body_read.get() && !self.raw.body_used() {
            if let Ok(promise) = self.raw.array_buffer() {
                let _ = JsFuture::from(promise).await;
            }
        }
    }

    async fn stream_within(
        &self,
        limit: usize,
        too_large: impl Fn(usize) -> AppError,
    ) -> Result<Vec<u8>, AppError> {
        // Rare (chunked uploads), so worker's stream reader is good enough here.
        // `Clone::clone` copies the reference; `Request::clone` would tee the body.
        self.body_read.set(true);
        let mut stream = worker::Request::from(Clone::clone(&self.raw)).stream()?;
        let mut body = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            if body.len() + chunk.len() > limit {
                return Err(too_large(body.len() + chunk.len()));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn js_error(e: worker::wasm_bindgen::JsValue) -> AppError {
    let text = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{e:?}"));
    AppError::Internal(format!("reading the request body: {text}"))
}
