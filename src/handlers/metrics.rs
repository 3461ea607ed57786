//! `GET /metrics`: the service's own counters in the Prometheus text format.

use super::Call;
use worker::Response;

use crate::error::AppError;
use crate::metrics::recorder;
use crate::metrics::render;
use crate::metrics::store;
use crate::platform::bindings;

pub async fn serve(c: &Call<'_>) -> Result<Response, AppError> {
    let env = c.env;
    recorder::flush_now(env).await;
    let rows = store::read_all(&env.d1(bindings::DB)?).await?;
    let mut response = Response::ok(render(&rows))?;
    response
        .headers_mut()
        .set("content-type", "text/plain; version=0.0.4; charset=utf-8")?;
    Ok(response)
}
