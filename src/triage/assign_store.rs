//! D1 calls for the assignment rules (`assign_rules`), which the `groups_auto_assign` trigger
//! applies to each new group, first matching rule by position.

use serde::{Deserialize, Serialize};
use worker::{D1Database, Result};

use crate::storage::d1;
use crate::storage::sql::{Bind, SqlQuery};
use crate::triage::workflow::AssignRule;

#[derive(Debug, Serialize, Deserialize)]
pub struct StoredRule {
    pub id: String,
    pub position: i64,
    #[serde(flatten)]
    pub rule: AssignRule,
    pub created_at: String,
}

pub async fn list(db: &D1Database) -> Result<Vec<StoredRule>> {
    d1::rows(
        db,
        &SqlQuery {
            sql: "SELECT id, position, field, pattern, assignee, nullif(project, '') AS project, created_at
                  FROM assign_rules ORDER BY position, id"
                .into(),
            binds: vec![],
        },
    )
    .await
}

fn insert(id: &str, position: Option<i64>, rule: &AssignRule, now: &str) -> SqlQuery {
    SqlQuery {
        // Without a position the rule goes last.
        sql: "INSERT INTO assign_rules (id, position, project, field, pattern, assignee, created_at)
              VALUES (?1, coalesce(?2, (SELECT coalesce(max(position), 0) + 1 FROM assign_rules)), ?3, ?4, ?5, ?6, ?7)"
            .into(),
        binds: vec![
            Bind::Text(id.into()),
            position.map_or(Bind::Null, Bind::Int),
            rule.project.clone().map_or(Bind::Null, Bind::Text),
            Bind::Text(rule.field.clone()),
            Bind::Text(rule.pattern.clone()),
            Bind::Text(rule.assignee.clone()),
            Bind::Text(now.into()),
        ],
    }
}

/// Replaces the whole list, in its order, in one transaction.
pub async fn replace(db: &D1Database, rules: &[(String, AssignRule)], now: &str) -> Result<()> {
    let mut statements = vec![SqlQuery {
        sql: "DELETE FROM assign_rules".into(),
        binds: vec![],
    }];
    statements.extend(
        rules
            .iter()
            .enumerate()
            .map(|(i, (id, rule))| insert(id, Some(i as i64 + 1), rule, now)),
    );
    d1::batch(db, &statements).await
}

/// Adds one rule after the others.
pub async fn append(db: &D1Database, id: &str, rule: &AssignRule, now: &str) -> Result<()> {
    d1::execute(db, &insert(id, None, rule, now))
        .await
        .map(|_| ())
}

/// Deletes a rule; false when there was none with that id.
pub async fn delete(db: &D1Database, id: &str) -> Result<bool> {
    let changed = d1::execute(
        db,
        &SqlQuery {
            sql: "DELETE FROM assign_rules WHERE id = ?".into(),
            binds: vec![Bind::Text(id.into())],
        },
    )
    .await?;
    Ok(changed > 0)
}
