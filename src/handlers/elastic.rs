//! What Elasticsearch clients need besides `_bulk` (in `ingest`): the product header they
//! check on every answer, and the answers to the probes Beats and Logstash make at start-up
//! (`probe`, one route table row per probe).

use worker::Response;

use super::{bytes_response, Call};
use crate::error::AppError;

/// The official clients refuse an answer without `X-Elastic-Product: Elasticsearch`.
pub fn as_elasticsearch(mut response: Response) -> Result<Response, AppError> {
    response
        .headers_mut()
        .set("x-elastic-product", "Elasticsearch")?;
    Ok(response)
}

/// A 200 with JSON text, as Elasticsearch answers.
pub fn answer(json: String) -> Result<Response, AppError> {
    as_elasticsearch(bytes_response(200, "application/json", json.into_bytes())?)
}

/// What Beats, Logstash and Vector ask before they send (`GET /_license`, templates,
/// policies…): Elasticsearch's answer, so that they go on to `_bulk`.
pub async fn probe(c: &Call<'_>) -> Result<Response, AppError> {
    let segments: Vec<&str> = c.url.path().trim_start_matches('/').split('/').collect();
    let method = match c.req.method().as_str() {
        "HEAD" => "GET".to_string(),
        other => other.to_string(),
    };
    match crate::ingest::formats::elastic::probe_answer(&method, &segments) {
        Some(json) => answer(json),
        None => Err(AppError::NotFound(format!("No route {}.", c.url.path()))),
    }
}

/// `GET /_cat/health`: green, in the cat API's text or, with `format=json`, JSON.
pub async fn cat_health(c: &Call<'_>) -> Result<Response, AppError> {
    let pairs = super::query_pairs(&c.url);
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let json = match param("format") {
        None | Some("text") => false,
        Some("json") => true,
        Some(other) => {
            return Err(AppError::InvalidParameter(format!(
                "format '{other}' is not one this cat API answers in; use json or text"
            )))
        }
    };
    let header = param("v").is_some_and(|v| v != "false");
    let epoch = (crate::platform::clock::millis() / 1000) as i64;
    let body = crate::ingest::formats::elastic::cat_health(json, header, epoch);
    let content_type = if json {
        "application/json"
    } else {
        "text/plain; charset=UTF-8"
    };
    as_elasticsearch(bytes_response(200, content_type, body.into_bytes())?)
}
