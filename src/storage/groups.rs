//! D1 calls for error groups: one group by fingerprint, and its status. The list of groups is
//! built by `crate::query::groups`.

use worker::{D1Database, Result};

use super::d1::{self, opt_text, text};
use super::sql::{Bind, SqlQuery};
use crate::query::groups::{Group, GROUP_COLUMNS};

pub async fn find(db: &D1Database, fingerprint: &str) -> Result<Option<Group>> {
    let query = SqlQuery {
        sql: format!("SELECT {GROUP_COLUMNS} FROM groups WHERE fingerprint = ?"),
        binds: vec![Bind::Text(fingerprint.to_string())],
    };
    Ok(d1::rows::<Group>(db, &query).await?.into_iter().next())
}

/// Sets a group's status; a resolution may name the release it is resolved in (and its version
/// key) or the time after which a new release reopens it (`in_next_release`).
pub async fn set_status(
    db: &D1Database,
    fingerprint: &str,
    status: &str,
    in_release: Option<(&str, Option<&str>)>,
    resolved_after: Option<&str>,
) -> Result<bool> {
    let result = db
        .prepare(
            "UPDATE groups SET status = ?2, resolved_in_release = ?3, resolved_in_key = ?4, resolved_after = ?5,
               ignore_until_at = NULL, ignore_until_count = NULL, ignore_count_base = NULL,
               ignore_window_seconds = NULL, ignore_window_start = NULL, ignore_window_count = NULL
             WHERE fingerprint = ?1",
        )
        .bind(&[
            text(fingerprint),
            text(status),
            opt_text(in_release.map(|(r, _)| r)),
            opt_text(in_release.and_then(|(_, k)| k)),
            opt_text(resolved_after),
        ])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}

/// Sets (or clears) who works on a group.
pub async fn set_assignee(
    db: &D1Database,
    fingerprint: &str,
    assignee: Option<&str>,
) -> Result<()> {
    db.prepare("UPDATE groups SET assignee = ?2 WHERE fingerprint = ?1")
        .bind(&[text(fingerprint), opt_text(assignee)])?
        .run()
        .await?;
    Ok(())
}

/// One entry of a group's history.
pub async fn add_activity(
    db: &D1Database,
    fingerprint: &str,
    kind: &str,
    actor: &str,
    detail: &serde_json::Value,
    at: &str,
) -> Result<()> {
    db.prepare("INSERT INTO group_activity (fingerprint, kind, actor, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)")
        .bind(&[text(fingerprint), text(kind), text(actor), text(&detail.to_string()), text(at)])?
        .run()
        .await?;
    Ok(())
}

#[derive(serde::Deserialize, serde::Serialize)]
pub struct ActivityRow {
    pub id: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub detail: String,
    pub at: String,
}

/// A group's history, newest first.
pub async fn activity(db: &D1Database, fingerprint: &str) -> Result<Vec<ActivityRow>> {
    d1::rows(
        db,
        &SqlQuery {
            sql: "SELECT id, kind, actor, detail, at FROM group_activity WHERE fingerprint = ? ORDER BY id DESC LIMIT 200".into(),
            binds: vec![Bind::Text(fingerprint.into())],
        },
    )
    .await
}

/// An ignored group's condition to reopen: a time, or a number of events (more than its count
/// now, or within a window).
pub async fn set_ignore_until(
    db: &D1Database,
    fingerprint: &str,
    at: Option<&str>,
    count: Option<i64>,
    window_seconds: Option<i64>,
) -> Result<()> {
    db.prepare(
        "UPDATE groups SET ignore_until_at = ?2, ignore_until_count = ?3, ignore_count_base = count,
           ignore_window_seconds = ?4, ignore_window_start = NULL, ignore_window_count = 0
         WHERE fingerprint = ?1",
    )
    .bind(&[
        text(fingerprint),
        opt_text(at),
        count.map_or(worker::wasm_bindgen::JsValue::NULL, |n| (n as f64).into()),
        window_seconds.map_or(worker::wasm_bindgen::JsValue::NULL, |n| (n as f64).into()),
    ])?
    .run()
    .await?;
    Ok(())
}
