//! D1 calls for error groups: one group by fingerprint, and its status. The list of groups is
//! built by `crate::query::groups`.

use crate::storage::d1::Metered;
use worker::{D1Database, Result};

use crate::query::groups::{Group, GROUP_COLUMNS};
use crate::storage::d1::{self, opt_text, text};
use crate::storage::sql::{Bind, SqlQuery};

pub async fn find(db: &D1Database, fingerprint: &str) -> Result<Option<Group>> {
    let query = SqlQuery {
        sql: format!("SELECT {GROUP_COLUMNS} FROM groups WHERE fingerprint = ?"),
        binds: vec![Bind::Text(fingerprint.to_string())],
    };
    Ok(d1::rows::<Group>(db, &query).await?.into_iter().next())
}

/// Clears an ignored group's condition to reopen (what `set_status` sets with `until`); the D1
/// triggers that reopen a group clear the same columns.
const NO_IGNORE_CONDITION: &str = "ignore_until_at = NULL, ignore_until_count = NULL, ignore_count_base = NULL,
  ignore_window_seconds = NULL, ignore_window_start = NULL, ignore_window_count = NULL, ignore_until_users = NULL";

/// Sets a group's status, in one transaction: a resolution may name the release it is resolved
/// in (and its version key) or the time after which a new release reopens it
/// (`in_next_release`); an ignore may carry its condition to reopen. Any earlier condition,
/// and the users counted toward it, go.
pub async fn set_status(
    db: &D1Database,
    fingerprint: &str,
    status: &str,
    in_release: Option<(&str, Option<&str>)>,
    resolved_after: Option<&str>,
    until: Option<&crate::triage::workflow::IgnoreUntil>,
) -> Result<()> {
    let opt = |v: Option<&str>| v.map_or(Bind::Null, t);
    let mut statements = vec![
        SqlQuery {
            sql: format!(
                "UPDATE groups SET status = ?2, resolved_in_release = ?3, resolved_in_key = ?4, resolved_after = ?5,
                   {NO_IGNORE_CONDITION} WHERE fingerprint = ?1"
            ),
            binds: vec![
                t(fingerprint),
                t(status),
                opt(in_release.map(|(r, _)| r)),
                opt(in_release.and_then(|(_, k)| k)),
                opt(resolved_after),
            ],
        },
        SqlQuery {
            sql: "DELETE FROM group_ignore_users WHERE fingerprint = ?".into(),
            binds: vec![t(fingerprint)],
        },
    ];
    if let Some(until) = until {
        let opt_int = |n: Option<i64>| n.map_or(Bind::Null, Bind::Int);
        statements.push(SqlQuery {
            sql: "UPDATE groups SET ignore_until_at = ?2, ignore_until_count = ?3, ignore_count_base = count,
                    ignore_window_seconds = ?4, ignore_window_start = NULL, ignore_window_count = 0,
                    ignore_until_users = ?5
                  WHERE fingerprint = ?1"
                .into(),
            binds: vec![
                t(fingerprint),
                opt(until.at.as_deref()),
                opt_int(until.count),
                opt_int(until.window_seconds),
                opt_int(until.users),
            ],
        });
    }
    d1::batch(db, &statements).await
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
        .await?
        .metered();
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
        .await?
        .metered();
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

/// Reopens the groups ignored until a time that has passed (`now`, as stored times are
/// written), each once: a regression transition with reason `ignore_until` (so alert rules
/// hear of it) and a history entry, then the status, in one transaction. Returns how many.
pub async fn reopen_ignored_until(db: &D1Database, now: &str) -> Result<usize> {
    const DUE: &str = "status = 'ignored' AND ignore_until_at IS NOT NULL AND ignore_until_at <= ?1 AND merged_into IS NULL";
    let statements = vec![
        format!(
            "INSERT INTO group_transitions (kind, fingerprint, project, event_id, at, reason)
             SELECT 'regression', fingerprint, project, last_event_id, ?1, 'ignore_until' FROM groups WHERE {DUE}"
        ),
        format!(
            "INSERT INTO group_activity (fingerprint, kind, actor, detail, at)
             SELECT fingerprint, 'regression', 'ignore_until',
                    json_object('ignored_until_met', 1, 'at', ignore_until_at, 'release', last_release), ?1
             FROM groups WHERE {DUE}"
        ),
        format!(
            "UPDATE groups SET status = 'open', {NO_IGNORE_CONDITION} WHERE {DUE} RETURNING fingerprint"
        ),
    ];
    // The UPDATE's returned rows count the groups reopened; nothing in them is read.
    let results =
        d1::batch_rows::<serde::de::IgnoredAny>(db, &numbered(statements, &[t(now)])).await?;
    Ok(results.last().map_or(0, Vec::len))
}

fn t(s: &str) -> Bind {
    Bind::Text(s.to_string())
}

/// Statements over the numbered parameters `?1`…: each gets the binds up to the highest it
/// names (D1 refuses a statement given more binds than it has parameters).
fn numbered(statements: Vec<String>, binds: &[Bind]) -> Vec<SqlQuery> {
    statements
        .into_iter()
        .map(|sql| {
            let used = (1..=binds.len())
                .rev()
                .find(|n| sql.contains(&format!("?{n}")))
                .unwrap_or(0);
            SqlQuery {
                binds: binds[..used].to_vec(),
                sql,
            }
        })
        .collect()
}

/// Merges `source` into `target` (both unmerged, one project), as one transaction: the target
/// takes the source's count; the merge remembers the source's own count (its count less what
/// its own merged groups brought); those groups now point at the target; the source is hidden
/// behind `merged_into`; both histories say so. Every statement re-checks that the source is
/// still unmerged, so a concurrent merge of the same source changes nothing twice.
pub fn merge_statements(target: &str, source: &str, actor: &str, now: &str) -> Vec<SqlQuery> {
    const UNMERGED: &str =
        "(SELECT merged_into FROM groups WHERE fingerprint = ?2) IS NULL AND (SELECT merged_into FROM groups WHERE fingerprint = ?1) IS NULL";
    let brought =
        "coalesce((SELECT sum(moved_count + redirected) FROM group_merges WHERE target = ?2), 0)";
    let statements: [String; 6] = [
        format!(
            "UPDATE groups SET
               count = count + (SELECT s.count FROM groups s WHERE s.fingerprint = ?2),
               first_release = CASE WHEN (SELECT s.first_seen FROM groups s WHERE s.fingerprint = ?2) < first_seen
                 THEN coalesce((SELECT s.first_release FROM groups s WHERE s.fingerprint = ?2), first_release) ELSE first_release END,
               first_seen = min(first_seen, (SELECT s.first_seen FROM groups s WHERE s.fingerprint = ?2)),
               last_seen = max(last_seen, (SELECT s.last_seen FROM groups s WHERE s.fingerprint = ?2))
             WHERE fingerprint = ?1 AND {UNMERGED}"
        ),
        format!(
            "INSERT INTO group_merges (source, target, merged_at, actor, moved_count)
             SELECT fingerprint, ?1, ?4, ?3, count - {brought} FROM groups
             WHERE fingerprint = ?2 AND {UNMERGED}"
        ),
        format!(
            "UPDATE groups SET count = count - {brought}, merged_into = ?1
             WHERE fingerprint = ?2 AND merged_into IS NULL
               AND EXISTS (SELECT 1 FROM group_merges WHERE source = ?2 AND target = ?1)"
        ),
        "UPDATE group_merges SET target = ?1
         WHERE target = ?2
           AND EXISTS (SELECT 1 FROM group_merges WHERE source = ?2 AND target = ?1)"
            .into(),
        "UPDATE groups SET merged_into = ?1
         WHERE merged_into = ?2"
            .into(),
        "INSERT INTO group_activity (fingerprint, kind, actor, detail, at)
         SELECT ?1, 'merged', ?3, json_object('fingerprints', json_array(?2), 'events', moved_count), ?4
         FROM group_merges WHERE source = ?2 AND target = ?1 AND merged_at = ?4
         UNION ALL
         SELECT ?2, 'merged', ?3, json_object('into', ?1), ?4
         FROM group_merges WHERE source = ?2 AND target = ?1 AND merged_at = ?4"
            .into(),
    ];
    numbered(statements.into(), &[t(target), t(source), t(actor), t(now)])
}

/// Splits `source` from `target` again: the target gives back what the merge moved and every
/// event it redirected since; the source takes the redirected ones; its future events are its
/// own again.
pub fn unmerge_statements(target: &str, source: &str, actor: &str, now: &str) -> Vec<SqlQuery> {
    let merge = "FROM group_merges WHERE source = ?2 AND target = ?1";
    let statements: [String; 4] = [
        format!(
            "INSERT INTO group_activity (fingerprint, kind, actor, detail, at)
             SELECT ?1, 'unmerged', ?3, json_object('fingerprints', json_array(?2), 'events', moved_count + redirected), ?4 {merge}
             UNION ALL
             SELECT ?2, 'unmerged', ?3, json_object('from', ?1, 'events', redirected), ?4 {merge}"
        ),
        format!(
            "UPDATE groups SET count = count - (SELECT moved_count + redirected {merge})
             WHERE fingerprint = ?1 AND EXISTS (SELECT 1 {merge})"
        ),
        format!(
            "UPDATE groups SET count = count + (SELECT redirected {merge}), merged_into = NULL,
               last_seen = max(last_seen, coalesce((SELECT last_redirected {merge}), last_seen))
             WHERE fingerprint = ?2 AND EXISTS (SELECT 1 {merge})"
        ),
        format!("DELETE {merge}"),
    ];
    numbered(statements.into(), &[t(target), t(source), t(actor), t(now)])
}

/// A fingerprint merged into a group, with the events it brought (moved and redirected).
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct MergedFingerprint {
    pub fingerprint: String,
    pub merged_at: String,
    pub actor: Option<String>,
    pub events: i64,
}

pub async fn merged_into(db: &D1Database, target: &str) -> Result<Vec<MergedFingerprint>> {
    d1::rows(
        db,
        &SqlQuery {
            sql:
                "SELECT source AS fingerprint, merged_at, actor, moved_count + redirected AS events
                  FROM group_merges WHERE target = ? ORDER BY merged_at, source LIMIT 500"
                    .into(),
            binds: vec![t(target)],
        },
    )
    .await
}
