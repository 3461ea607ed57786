//! What Elasticsearch clients need besides `_bulk` (in `ingest`): the product header they
//! check on every answer, and the answers to the probes Beats and Logstash make at start-up
//! (found while routing, see `probe_answer`).

use worker::Response;

use super::bytes_response;
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
