//! What Elasticsearch clients need besides `_bulk` (in `ingest`): the product header they
//! check on every answer, and the answers to the probes Beats and Logstash make at start-up.

use worker::Response;

use super::Incoming;
use crate::error::AppError;
use crate::ingest::formats::elastic::probe_answer;

/// The official clients refuse an answer without `X-Elastic-Product: Elasticsearch`.
pub fn as_elasticsearch(mut response: Response) -> Result<Response, AppError> {
    response
        .headers_mut()
        .set("x-elastic-product", "Elasticsearch")?;
    Ok(response)
}

/// `GET /_license`, `PUT /_index_template/{name}`, …: see `probe_answer`.
pub fn probe(req: &Incoming, url: &worker::Url) -> Result<Response, AppError> {
    let segments: Vec<&str> = url.path().trim_matches('/').split('/').collect();
    let method = match req.method().as_str() {
        "HEAD" => "GET".to_string(),
        other => other.to_string(),
    };
    let answer = probe_answer(&method, &segments)
        .ok_or_else(|| AppError::NotFound(format!("No route {}.", url.path())))?;
    as_elasticsearch(json_text(answer)?)
}

/// A 200 with JSON text.
pub fn json_text(body: String) -> Result<Response, AppError> {
    let mut response = Response::ok(body)?;
    response
        .headers_mut()
        .set("content-type", "application/json")?;
    Ok(response)
}
