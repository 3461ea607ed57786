//! D1 calls for error groups: one group by fingerprint, and its status. The list of groups is
//! built by `crate::query::groups`.

use worker::{D1Database, Result};

use super::d1::{self, text};
use super::sql::{Bind, SqlQuery};
use crate::query::groups::{Group, GROUP_COLUMNS};

pub async fn find(db: &D1Database, fingerprint: &str) -> Result<Option<Group>> {
    let query = SqlQuery {
        sql: format!("SELECT {GROUP_COLUMNS} FROM groups WHERE fingerprint = ?"),
        binds: vec![Bind::Text(fingerprint.to_string())],
    };
    Ok(d1::rows::<Group>(db, &query).await?.into_iter().next())
}

pub async fn set_status(db: &D1Database, fingerprint: &str, status: &str) -> Result<bool> {
    let result = db
        .prepare("UPDATE groups SET status = ?2 WHERE fingerprint = ?1")
        .bind(&[text(fingerprint), text(status)])?
        .run()
        .await?;
    Ok(result.meta()?.and_then(|m| m.changes).unwrap_or(0) > 0)
}
