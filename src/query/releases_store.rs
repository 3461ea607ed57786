//! D1 calls for releases: the `releases` table the intake trigger keeps (with each release's
//! environments and the groups it introduced), and the groups a release introduced or saw
//! regress.

use serde::{Deserialize, Serialize};
use worker::{D1Database, Result};

use crate::query::groups::{Group, GROUP_COLUMNS};
use crate::storage::d1;
use crate::storage::sql::{Bind, SqlQuery};

#[derive(Debug, Serialize, Deserialize)]
pub struct ReleaseRow {
    pub project: String,
    pub release: String,
    pub first_event: String,
    pub last_event: String,
    pub events: i64,
    pub errors: i64,
    /// Groups first seen in it (merged ones left out).
    pub new_groups: i64,
    /// A JSON array of the environments it was seen in.
    pub environments: String,
}

const RELEASE_COLUMNS: &str = "r.project, r.release, r.first_event, r.last_event, r.events, r.errors,
  (SELECT count(*) FROM groups g WHERE g.first_release = r.release AND coalesce(g.project, '') = r.project
     AND g.merged_into IS NULL) AS new_groups,
  (SELECT coalesce(json_group_array(e.environment), '[]') FROM release_environments e
     WHERE e.project = r.project AND e.release = r.release) AS environments";

/// A project's releases ('' for events without one), newest first by first event, 100 at most.
pub async fn list(db: &D1Database, project: &str) -> Result<Vec<ReleaseRow>> {
    d1::rows(
        db,
        &SqlQuery {
            sql: format!(
                "SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.project = ?
                 ORDER BY r.first_event DESC, r.release DESC LIMIT 100"
            ),
            binds: vec![Bind::Text(project.into())],
        },
    )
    .await
}

pub async fn find(db: &D1Database, project: &str, release: &str) -> Result<Option<ReleaseRow>> {
    let rows: Vec<ReleaseRow> = d1::rows(
        db,
        &SqlQuery {
            sql: format!(
                "SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.project = ? AND r.release = ?"
            ),
            binds: vec![Bind::Text(project.into()), Bind::Text(release.into())],
        },
    )
    .await?;
    Ok(rows.into_iter().next())
}

/// The release first seen before `first_event`.
pub async fn previous(
    db: &D1Database,
    project: &str,
    first_event: &str,
) -> Result<Option<ReleaseRow>> {
    let rows: Vec<ReleaseRow> = d1::rows(
        db,
        &SqlQuery {
            sql: format!(
                "SELECT {RELEASE_COLUMNS} FROM releases r WHERE r.project = ? AND r.first_event < ?
                 ORDER BY r.first_event DESC LIMIT 1"
            ),
            binds: vec![Bind::Text(project.into()), Bind::Text(first_event.into())],
        },
    )
    .await?;
    Ok(rows.into_iter().next())
}

/// The groups a release introduced (most events first) and those that regressed in it (latest
/// first), 50 each.
pub async fn groups_of(
    db: &D1Database,
    project: &str,
    release: &str,
) -> Result<(Vec<Group>, Vec<Group>)> {
    let project_is = if project.is_empty() {
        "project IS NULL"
    } else {
        "project = ?"
    };
    let mut binds = vec![Bind::Text(release.into())];
    if !project.is_empty() {
        binds.push(Bind::Text(project.into()));
    }
    let introduced = d1::rows(
        db,
        &SqlQuery {
            sql: format!(
                "SELECT {GROUP_COLUMNS} FROM groups WHERE first_release = ? AND {project_is}
                   AND merged_into IS NULL ORDER BY count DESC LIMIT 50"
            ),
            binds: binds.clone(),
        },
    )
    .await?;
    let regressed = d1::rows(
        db,
        &SqlQuery {
            sql: format!(
                "SELECT {GROUP_COLUMNS} FROM groups WHERE last_release = ? AND {project_is}
                   AND merged_into IS NULL
                   AND fingerprint IN (SELECT fingerprint FROM group_transitions WHERE kind = 'regression')
                 ORDER BY last_seen DESC LIMIT 50"
            ),
            binds,
        },
    )
    .await?;
    Ok((introduced, regressed))
}
