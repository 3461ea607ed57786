//! One HTTP call to a receiver, made the way every alert call is: only to a public
//! destination, never following a redirect, with a timeout; and what its answer means (2xx
//! delivered; 408, 429 and 5xx worth retrying after `Retry-After`; other 4xx final).

use std::time::Duration;

use futures_util::future::{select, Either};
use worker::wasm_bindgen::JsValue;
use worker::{
    AbortController, Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
};

use crate::alerting::destinations::Destinations;
use crate::alerting::notice::HttpCall;

const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// How an attempt ended when it did not deliver.
pub enum Failure {
    /// Worth another attempt (a network failure, a timeout, 408, 429, 5xx), after at least
    /// the receiver's `Retry-After` when it gave one.
    Retry { reason: String, after: Option<u32> },
    /// The receiver refused the request itself (another 4xx): retrying cannot help.
    Permanent(String),
    /// The request cannot be made at all (its URL or a header is not one a request can carry,
    /// or the destination is not public): the channel's own fields are wrong.
    Invalid(String),
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Retry { reason, .. }
            | Failure::Permanent(reason)
            | Failure::Invalid(reason) => reason,
        }
    }
}

/// A receiver's answer.
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub retry_after: Option<u32>,
}

impl Answer {
    /// 2xx is delivered; 408, 429 and 5xx are retried; any other status is final. The reason
    /// quotes the start of the receiver's answer (receivers say what they refused).
    pub fn verdict(self) -> Result<Answer, Failure> {
        let reason = || {
            let said: String = self.body.chars().take(300).collect();
            match said.trim().is_empty() {
                true => format!("HTTP {}", self.status),
                false => format!("HTTP {}: {}", self.status, said.trim()),
            }
        };
        match self.status {
            200..=299 => Ok(self),
            408 | 429 | 500.. => Err(Failure::Retry {
                reason: reason(),
                after: self.retry_after,
            }),
            _ => Err(Failure::Permanent(reason())),
        }
    }
}

/// One HTTP call to a public receiver (checked again here: a rule saved before the check
/// existed may name another), never following a redirect; the answer whatever its status.
pub async fn execute(call: &HttpCall, allowed: Destinations) -> Result<Answer, Failure> {
    let failed = |reason: String| Failure::Retry {
        reason,
        after: None,
    };
    crate::alerting::destinations::check(&call.url, allowed).map_err(Failure::Invalid)?;
    let headers = Headers::new();
    // Every receiver gets our name; GitHub refuses calls without one.
    let _ = headers.set("user-agent", "edge-logger-alerts/1");
    for (name, value) in &call.headers {
        headers
            .set(name, value)
            .map_err(|e| Failure::Invalid(format!("bad header {name}: {e}")))?;
    }
    let method = Method::from(call.method.clone());
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_redirect(RequestRedirect::Manual)
        .with_headers(headers);
    if !call.body.is_empty() {
        init.with_body(Some(JsValue::from_str(&call.body)));
    }
    let request = Request::new_with_init(&call.url, &init)
        .map_err(|e| Failure::Invalid(format!("the channel's URL cannot be called: {e}")))?;
    let controller = AbortController::default();
    let signal = controller.signal();
    let exchange = Box::pin(async move {
        let mut response = Fetch::Request(request).send_with_signal(&signal).await?;
        let retry_after = response
            .headers()
            .get("retry-after")
            .ok()
            .flatten()
            .and_then(|v| v.trim().parse::<u32>().ok());
        let status = response.status_code();
        let body = response.text().await.unwrap_or_default();
        Ok::<_, worker::Error>(Answer {
            status,
            body,
            retry_after,
        })
    });
    let timeout = Box::pin(Delay::from(DELIVERY_TIMEOUT));
    match select(exchange, timeout).await {
        Either::Left((Ok(answer), _)) => Ok(answer),
        Either::Left((Err(e), _)) => Err(failed(format!("fetch failed: {e}"))),
        Either::Right(_) => {
            controller.abort();
            Err(failed(format!(
                "timed out after {}s",
                DELIVERY_TIMEOUT.as_secs()
            )))
        }
    }
}
