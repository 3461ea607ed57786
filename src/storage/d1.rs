//! D1 calls of the edge. SQL text lives here or in `query`; every value is bound.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, D1Result, Result};

use crate::storage::sql::{Bind, SqlQuery};

/// Bind values for D1: text, a number (D1 takes JS numbers), or NULL for `None`.
pub fn text(s: &str) -> JsValue {
    JsValue::from_str(s)
}

pub fn opt_text(s: Option<&str>) -> JsValue {
    s.map(text).unwrap_or(JsValue::NULL)
}

pub fn num(n: i64) -> JsValue {
    JsValue::from_f64(n as f64)
}

pub fn opt_num(n: Option<i64>) -> JsValue {
    n.map(num).unwrap_or(JsValue::NULL)
}

#[derive(Deserialize)]
struct DataRow {
    data: String,
}

fn bind_all(statement: D1PreparedStatement, binds: &[Bind]) -> Result<D1PreparedStatement> {
    let values: Vec<JsValue> = binds
        .iter()
        .map(|b| match b {
            Bind::Text(s) => text(s),
            Bind::Int(n) => num(*n),
            Bind::Real(x) => JsValue::from_f64(*x),
            Bind::Null => JsValue::NULL,
        })
        .collect();
    statement.bind(&values)
}

/// Counts what D1 reports a statement read and wrote (its triggers' and indexes' rows
/// included: what Cloudflare bills).
pub fn metered(result: &D1Result) {
    if let Ok(Some(meta)) = result.meta() {
        let rows = |n: Option<usize>| n.unwrap_or(0) as u64;
        crate::billing::add(crate::billing::Item::D1RowsRead, rows(meta.rows_read));
        crate::billing::add(crate::billing::Item::D1RowsWritten, rows(meta.rows_written));
    }
}

/// [`metered`] in a chain: `db.prepare(…).bind(…)?.run().await?.metered()`, for the statements
/// written where they are used.
pub trait Metered {
    fn metered(self) -> Self;
}

impl Metered for D1Result {
    fn metered(self) -> Self {
        metered(&self);
        self
    }
}

/// Runs a built statement; returns how many rows it changed (triggers' rows not counted).
pub async fn execute(db: &D1Database, query: &SqlQuery) -> Result<usize> {
    let result = bind_all(db.prepare(&query.sql), &query.binds)?
        .run()
        .await?;
    metered(&result);
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0))
}

/// Runs built statements as one D1 batch (one transaction).
pub async fn batch(db: &D1Database, queries: &[SqlQuery]) -> Result<()> {
    let statements = queries
        .iter()
        .map(|q| bind_all(db.prepare(&q.sql), &q.binds))
        .collect::<Result<Vec<_>>>()?;
    db.batch(statements).await?.iter().for_each(metered);
    Ok(())
}

/// Runs built queries as one D1 batch (one round trip) and deserialises each one's rows.
pub async fn batch_rows<T: DeserializeOwned>(
    db: &D1Database,
    queries: &[SqlQuery],
) -> Result<Vec<Vec<T>>> {
    if queries.is_empty() {
        return Ok(Vec::new());
    }
    let statements = queries
        .iter()
        .map(|q| bind_all(db.prepare(&q.sql), &q.binds))
        .collect::<Result<Vec<_>>>()?;
    let results = db.batch(statements).await?;
    results.iter().for_each(metered);
    results.iter().map(|result| result.results()).collect()
}

/// Runs a built query and deserialises its rows.
pub async fn rows<T: DeserializeOwned>(db: &D1Database, query: &SqlQuery) -> Result<Vec<T>> {
    let result = bind_all(db.prepare(&query.sql), &query.binds)?
        .all()
        .await?;
    metered(&result);
    result.results()
}

/// [`rows`] for answers of many small rows: SQLite packs them into one JSON text
/// (`json_group_array`), so one value crosses from JS instead of an object per row, converted
/// field by field. `columns` names the query's columns. Row order is not kept.
pub async fn rows_packed<T: DeserializeOwned>(
    db: &D1Database,
    query: &SqlQuery,
    columns: &[&str],
) -> Result<Vec<T>> {
    #[derive(Deserialize)]
    struct Packed {
        packed: String,
    }
    let object: Vec<String> = columns.iter().map(|c| format!("'{c}', {c}")).collect();
    let packed = SqlQuery {
        sql: format!(
            "SELECT json_group_array(json_object({})) AS packed FROM ({})",
            object.join(", "),
            query.sql
        ),
        binds: query.binds.clone(),
    };
    let rows: Vec<Packed> = rows(db, &packed).await?;
    match rows.first() {
        Some(row) => serde_json::from_str(&row.packed)
            .map_err(|e| worker::Error::RustError(format!("packed rows: {e}"))),
        None => Ok(Vec::new()),
    }
}

/// Runs a query whose only column is `data` and returns the stored JSON texts.
pub async fn data_rows(db: &D1Database, query: &SqlQuery) -> Result<Vec<String>> {
    let rows: Vec<DataRow> = rows(db, query).await?;
    Ok(rows.into_iter().map(|r| r.data).collect())
}

/// Runs a query whose one row has a count column `n`.
pub async fn count(db: &D1Database, query: &SqlQuery) -> Result<i64> {
    #[derive(serde::Deserialize)]
    struct Count {
        n: i64,
    }
    let rows: Vec<Count> = rows(db, query).await?;
    Ok(rows.first().map_or(0, |r| r.n))
}

/// One event still in D1 from before the shards.
pub async fn event_by_id(db: &D1Database, id: &str) -> Result<Option<String>> {
    let statement = db
        .prepare("SELECT data FROM events WHERE id = ?1")
        .bind(&[text(id)])?;
    Ok(statement.first::<DataRow>(None).await?.map(|r| r.data))
}

pub async fn ping(db: &D1Database) -> Result<()> {
    db.prepare("SELECT 1 AS ok")
        .first::<serde_json::Value>(None)
        .await
        .map(|_| ())
}
