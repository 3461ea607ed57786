//! One POST to a named Durable Object and its answer's text: how the edge calls the event
//! shards and the tail hubs. A refusal (any status but 200) is an error carrying the text.

use worker::wasm_bindgen::JsValue;
use worker::{Method, ObjectNamespace, Request, RequestInit};

crate::error::message_error!(
    /// A Durable Object call that failed or was refused, with the object's name and answer.
    CallError
);

pub(crate) async fn post(
    namespace: &ObjectNamespace,
    name: &str,
    url: &str,
    body: JsValue,
) -> Result<String, CallError> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body));
    let request =
        Request::new_with_init(url, &init).map_err(|e| CallError::new(format!("{name}: {e}")))?;
    let stub = namespace
        .get_by_name(name)
        .map_err(|e| CallError::new(format!("{name}: {e}")))?;
    let mut response = stub
        .fetch_with_request(request)
        .await
        .map_err(|e| CallError::new(format!("{name} failed: {e}")))?;
    // Billed: the request, and the SQLite rows the object reports it read and wrote.
    crate::billing::add(crate::billing::Item::DoRequests, 1);
    let rows = response
        .headers()
        .get(crate::billing::ROWS_HEADER)
        .ok()
        .flatten();
    if let Some((read, written)) = rows
        .as_deref()
        .and_then(crate::billing::Meter::parse_header)
    {
        crate::billing::add(crate::billing::Item::DoRowsRead, read);
        crate::billing::add(crate::billing::Item::DoRowsWritten, written);
    }
    let text = response
        .text()
        .await
        .map_err(|e| CallError::new(format!("{name}: {e}")))?;
    if response.status_code() != 200 {
        return Err(CallError::new(format!(
            "{name} answered {}: {text}",
            response.status_code()
        )));
    }
    Ok(text)
}
