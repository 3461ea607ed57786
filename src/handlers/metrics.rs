//! `GET /metrics`: the service's own counters in the Prometheus text format.

use worker::{Env, Response};

use crate::error::AppError;
use crate::ops::metrics::render;
use crate::ops::recorder;
use crate::platform::bindings;
use crate::storage::metrics as store;

pub async fn serve(env: &Env) -> Result<Response, AppError> {
    recorder::flush_now(env).await;
    let rows = store::read_all(&env.d1(bindings::DB)?).await?;
    let mut response = Response::ok(render(&rows))?;
    response
        .headers_mut()
        .set("content-type", "text/plain; version=0.0.4; charset=utf-8")?;
    Ok(response)
}
