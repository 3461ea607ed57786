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
