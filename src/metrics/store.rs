//! D1 reads for `GET /metrics` (the counters, and the gauges counted from their tables) and
//! for `GET /v1/usage` (the billed units by day).

use crate::storage::d1::Metered;
use serde::Deserialize;
use worker::{D1Database, Result};

#[derive(Deserialize)]
struct Row {
    name: String,
    labels: String,
    value: f64,
}

/// Every counter and gauge as `(name, labels, value)`, counters in name and label order.
pub async fn read_all(db: &D1Database) -> Result<Vec<(String, String, f64)>> {
    let counters: Vec<Row> = db
        .prepare("SELECT name, labels, value FROM metric_counters ORDER BY name, labels")
        .all()
        .await?
        .metered()
        .results()?;
    let gauges: Vec<Row> = db
        .prepare(
            "SELECT 'edge_logger_dead_letters_pending' AS name, '' AS labels, (SELECT count(*) FROM dead_letters WHERE replayed_at IS NULL) AS value
             UNION ALL SELECT 'edge_logger_groups', 'status=\"' || status || '\"', count(*) FROM groups GROUP BY status",
        )
        .all()
        .await?
        .metered()
        .results()?;
    Ok(counters
        .into_iter()
        .chain(gauges)
        .map(|r| (r.name, r.labels, r.value))
        .collect())
}

/// The billed units of the days from `from` to `to` (inclusive, `YYYY-MM-DD`).
pub async fn usage(db: &D1Database, from: &str, to: &str) -> Result<Vec<crate::billing::UsageRow>> {
    let query = crate::storage::sql::SqlQuery {
        sql: "SELECT day, item, units FROM usage_daily WHERE day >= ? AND day <= ? ORDER BY day, item".into(),
        binds: vec![crate::storage::sql::Bind::Text(from.into()), crate::storage::sql::Bind::Text(to.into())],
    };
    crate::storage::d1::rows(db, &query).await
}

/// What each project's events did, by day, service and level, from `from` to `to`.
pub async fn usage_events(
    db: &D1Database,
    from: &str,
    to: &str,
) -> Result<Vec<crate::billing::EventUsageRow>> {
    let query = crate::storage::sql::SqlQuery {
        sql: "SELECT day, project, service, level, received, accepted, dropped, sampled_out, refused_quota, stored
              FROM usage_events WHERE day >= ? AND day <= ?"
            .into(),
        binds: vec![crate::storage::sql::Bind::Text(from.into()), crate::storage::sql::Bind::Text(to.into())],
    };
    crate::storage::d1::rows(db, &query).await
}
