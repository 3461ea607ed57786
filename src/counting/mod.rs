//! Counting a batch of stored events into D1 once per batch, not once per event: the consumer
//! adds up the batch here and writes one upsert per distinct key of each rollup (minute, hour,
//! the narrow hour rollups), of the stored-events metric, of releases and of the alert rules'
//! counters and each project's stored events by day, service and level; groups get one intake row per fingerprint, release, user, severity and
//! hour (its newest event, with how many events it stands for and its oldest's time and
//! message), whose trigger keeps the group's status rules. A key written once costs one row however many events it
//! counts.
//!
//! Pure: events in, statements out. The exactly-once guard (the token ledger) is the consumer's.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::alerting::query_counts::{self, QueryRule};
use crate::model::StoredEvent;
use crate::storage::sql::{Bind, SqlQuery};

/// A rollup row's dimensions: project (`''` for none), bucket, level, environment, component,
/// route, source type.
type RollupKey = (String, String, String, String, String, String, String);

#[derive(Debug, Clone, PartialEq)]
struct ReleaseTally {
    release_key: Option<String>,
    first: String,
    last: String,
    events: i64,
    errors: i64,
}

/// An event of the batch as a group intake row: its place in the batch (the tally's events)
/// and its time.
#[derive(Debug, Clone, PartialEq)]
struct Placed {
    index: usize,
    received_at: String,
}

/// A group key's events: the oldest and the newest (ties: the later in the batch), how many.
#[derive(Debug, Clone, PartialEq)]
struct GroupTally {
    first: Placed,
    last: Placed,
    weight: i64,
}

/// A batch's counts, added up.
#[derive(Debug, Default)]
pub struct Tally {
    minute: BTreeMap<RollupKey, i64>,
    hour: BTreeMap<RollupKey, i64>,
    /// bucket, project, level, environment, source type
    hour_les: BTreeMap<(String, String, String, String, String), i64>,
    /// dim, bucket, project, value
    hour_dim: BTreeMap<(&'static str, String, String, String), i64>,
    stored_by_level: BTreeMap<String, i64>,
    /// day, project, service, level: each project's stored events (`usage_events`)
    stored_usage: BTreeMap<(String, String, String, String), i64>,
    releases: BTreeMap<(String, String), ReleaseTally>,
    release_environments: BTreeSet<(String, String, String)>,
    /// fingerprint, release, user, severity, hour
    groups: BTreeMap<(String, String, String, u8, String), GroupTally>,
    events: Vec<StoredEvent>,
}

/// Whether an event belongs to a group (warnings and worse, or anything with an error).
pub fn grouped(e: &StoredEvent) -> bool {
    e.severity_number >= 13 || e.error_kind.is_some()
}

impl Tally {
    /// Adds one stored event.
    pub fn add(&mut self, e: StoredEvent) {
        let project = e.project.clone().unwrap_or_default();
        let component = e.component.clone().unwrap_or_default();
        let route = e.route.clone().unwrap_or_default();
        let minute = e.timestamp.get(..16).unwrap_or(&e.timestamp).to_string();
        let hour = e.timestamp.get(..13).unwrap_or(&e.timestamp).to_string();
        let key = |bucket: &str| {
            (
                project.clone(),
                bucket.to_string(),
                e.level.clone(),
                e.environment.clone(),
                component.clone(),
                route.clone(),
                e.source_type.clone(),
            )
        };
        *self.minute.entry(key(&minute)).or_default() += 1;
        *self.hour.entry(key(&hour)).or_default() += 1;
        *self
            .hour_les
            .entry((
                hour.clone(),
                project.clone(),
                e.level.clone(),
                e.environment.clone(),
                e.source_type.clone(),
            ))
            .or_default() += 1;
        for (dim, value) in [("component", &component), ("route", &route)] {
            *self
                .hour_dim
                .entry((dim, hour.clone(), project.clone(), value.clone()))
                .or_default() += 1;
        }
        *self.stored_by_level.entry(e.level.clone()).or_default() += 1;
        *self
            .stored_usage
            .entry((
                e.received_at.get(..10).unwrap_or_default().to_string(),
                project.clone(),
                e.service.clone().unwrap_or_default(),
                e.level.clone(),
            ))
            .or_default() += 1;
        if let Some(release) = &e.release {
            let error = i64::from(e.severity_number >= 17);
            self.releases
                .entry((project.clone(), release.clone()))
                .and_modify(|r| {
                    r.first = r.first.clone().min(e.received_at.clone());
                    r.last = r.last.clone().max(e.received_at.clone());
                    r.events += 1;
                    r.errors += error;
                })
                .or_insert_with(|| ReleaseTally {
                    release_key: e.release_key.clone(),
                    first: e.received_at.clone(),
                    last: e.received_at.clone(),
                    events: 1,
                    errors: error,
                });
            self.release_environments.insert((
                project.clone(),
                release.clone(),
                e.environment.clone(),
            ));
        }
        if grouped(&e) {
            let received_hour = e.received_at.get(..13).unwrap_or_default().to_string();
            let key = (
                e.fingerprint.clone(),
                e.release.clone().unwrap_or_default(),
                e.user_id.clone().unwrap_or_default(),
                e.severity_number,
                received_hour,
            );
            let placed = Placed {
                index: self.events.len(),
                received_at: e.received_at.clone(),
            };
            match self.groups.get_mut(&key) {
                None => {
                    self.groups.insert(
                        key,
                        GroupTally {
                            first: placed.clone(),
                            last: placed,
                            weight: 1,
                        },
                    );
                }
                Some(tally) => {
                    tally.weight += 1;
                    if placed.received_at < tally.first.received_at {
                        tally.first = placed.clone();
                    }
                    if placed.received_at >= tally.last.received_at {
                        tally.last = placed;
                    }
                }
            }
        }
        self.events.push(e);
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The statements that write these counts: one per table, each an upsert of every distinct
    /// key (`json_each` over the rows). Releases come before the groups' intake, whose trigger
    /// reads them; `merges` maps merged fingerprints to their group for the alert counters.
    pub fn statements(
        &self,
        rules: &[QueryRule],
        merges: &BTreeMap<String, String>,
    ) -> Vec<SqlQuery> {
        if self.is_empty() {
            return Vec::new();
        }
        let rows = |rows: Vec<Value>| Bind::Text(Value::Array(rows).to_string());
        let rollup = |map: &BTreeMap<RollupKey, i64>| {
            rows(
                map.iter()
                    .map(|((p, b, l, e, c, r, s), n)| json!([p, b, l, e, c, r, s, n]))
                    .collect(),
            )
        };
        let mut out = Vec::new();
        if !self.releases.is_empty() {
            out.push(SqlQuery {
                sql: "INSERT INTO releases (project, release, release_key, first_event, last_event, events, errors)
                      SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
                      FROM json_each(?1) WHERE true
                      ON CONFLICT (project, release) DO UPDATE SET
                        first_event = min(first_event, excluded.first_event),
                        last_event = max(last_event, excluded.last_event),
                        events = events + excluded.events,
                        errors = errors + excluded.errors"
                    .into(),
                binds: vec![rows(
                    self.releases
                        .iter()
                        .map(|((p, r), t)| {
                            json!([p, r, t.release_key, t.first, t.last, t.events, t.errors])
                        })
                        .collect(),
                )],
            });
            out.push(SqlQuery {
                sql: "INSERT OR IGNORE INTO release_environments (project, release, environment)
                      SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?1)"
                    .into(),
                binds: vec![rows(
                    self.release_environments
                        .iter()
                        .map(|(p, r, e)| json!([p, r, e]))
                        .collect(),
                )],
            });
        }
        for table in ["event_counts_minute", "event_counts_hour"] {
            let map = if table == "event_counts_minute" {
                &self.minute
            } else {
                &self.hour
            };
            out.push(SqlQuery {
                sql: format!(
                    "INSERT INTO {table} (project, bucket, level, environment, component, route, source_type, n)
                     SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6, value ->> 7
                     FROM json_each(?1) WHERE true
                     ON CONFLICT DO UPDATE SET n = n + excluded.n"
                ),
                binds: vec![rollup(map)],
            });
        }
        out.push(SqlQuery {
            sql: "INSERT INTO event_counts_hour_les (bucket, project, level, environment, source_type, n)
                  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5
                  FROM json_each(?1) WHERE true
                  ON CONFLICT DO UPDATE SET n = n + excluded.n"
                .into(),
            binds: vec![rows(
                self.hour_les
                    .iter()
                    .map(|((b, p, l, e, s), n)| json!([b, p, l, e, s, n]))
                    .collect(),
            )],
        });
        out.push(SqlQuery {
            sql: "INSERT INTO event_counts_hour_dim (dim, bucket, project, value, n)
                  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4
                  FROM json_each(?1) WHERE true
                  ON CONFLICT DO UPDATE SET n = n + excluded.n"
                .into(),
            binds: vec![rows(
                self.hour_dim
                    .iter()
                    .map(|((d, b, p, v), n)| json!([d, b, p, v, n]))
                    .collect(),
            )],
        });
        out.push(SqlQuery {
            sql: "INSERT INTO metric_counters (name, labels, value)
                  SELECT 'edge_logger_events_stored_total', 'level=\"' || (value ->> 0) || '\"', value ->> 1
                  FROM json_each(?1) WHERE true
                  ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value"
                .into(),
            binds: vec![rows(
                self.stored_by_level
                    .iter()
                    .map(|(l, n)| json!([l, n]))
                    .collect(),
            )],
        });
        out.push(SqlQuery {
            sql: "INSERT INTO usage_events (day, project, service, level, stored)
                  SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4
                  FROM json_each(?1) WHERE true
                  ON CONFLICT DO UPDATE SET stored = stored + excluded.stored"
                .into(),
            binds: vec![rows(
                self.stored_usage
                    .iter()
                    .map(|((d, p, s, l), n)| json!([d, p, s, l, n]))
                    .collect(),
            )],
        });
        let merged: Vec<StoredEvent> = self
            .events
            .iter()
            .map(|e| match merges.get(&e.fingerprint) {
                Some(target) => StoredEvent {
                    fingerprint: target.clone(),
                    ..e.clone()
                },
                None => e.clone(),
            })
            .collect();
        let counts = query_counts::count(rules, &merged);
        if !counts.is_empty() {
            out.push(SqlQuery {
                sql: "INSERT INTO alert_counters (rule_id, group_key, window_start, count, last_event_id)
                      SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4
                      FROM json_each(?1) WHERE true
                      ON CONFLICT DO UPDATE SET count = count + excluded.count, last_event_id = excluded.last_event_id"
                    .into(),
                binds: vec![rows(
                    counts
                        .iter()
                        .map(|c| {
                            json!([c.rule_id, c.group_key, c.window_start, c.count, c.last_event_id])
                        })
                        .collect(),
                )],
            });
        }
        if !self.groups.is_empty() {
            let intake: Vec<Value> = self
                .intake_rows()
                .into_iter()
                .map(|g| {
                    let mut row =
                        serde_json::to_value(&self.events[g.last.index]).unwrap_or(Value::Null);
                    if let Some(map) = row.as_object_mut() {
                        map.insert("intake_weight".into(), json!(g.weight));
                        if g.first.index != g.last.index {
                            let first = &self.events[g.first.index];
                            map.insert("intake_first_seen".into(), json!(first.received_at));
                            map.insert("intake_title".into(), json!(first.message));
                        }
                    }
                    row
                })
                .collect();
            // OR IGNORE, as the events table's insert had: its conflict rule reaches into the
            // triggers. A fingerprint merged into another group is counted as that group's
            // (`merged_from` keeps its own), in this transaction.
            out.push(SqlQuery {
                sql: "INSERT OR IGNORE INTO events_intake (data)
                      SELECT CASE WHEN m.target IS NULL THEN e.value
                                  ELSE json_set(e.value, '$.fingerprint', m.target, '$.merged_from', m.source) END
                      FROM json_each(?1) e
                      LEFT JOIN group_merges m ON m.source = json_extract(e.value, '$.fingerprint')"
                    .into(),
                binds: vec![rows(intake)],
            });
            out.push(SqlQuery {
                sql: "DELETE FROM events_intake".into(),
                binds: vec![],
            });
        }
        out
    }

    /// The group intake rows, one per key in the order of its newest event: the newest carries
    /// the group's latest environment, component and event, the key's weight, and, when older
    /// events of the key came first, the oldest's time and message (a new group's first
    /// sighting and title).
    fn intake_rows(&self) -> Vec<&GroupTally> {
        let mut rows: Vec<&GroupTally> = self.groups.values().collect();
        rows.sort_by_key(|g| g.last.index);
        rows
    }

    /// The fingerprints of the batch, to look up their merges.
    pub fn fingerprints(&self) -> BTreeSet<String> {
        self.events.iter().map(|e| e.fingerprint.clone()).collect()
    }
}

/// The second a token is recorded under: its oldest event's `received_at`, to the second. The
/// shard answers a redelivered token with the same events, so the same second.
pub fn token_second(events_json: &str) -> String {
    #[derive(serde::Deserialize)]
    struct At<'a> {
        #[serde(borrow)]
        received_at: std::borrow::Cow<'a, str>,
    }
    serde_json::from_str::<Vec<At>>(events_json)
        .ok()
        .and_then(|events| events.into_iter().map(|e| e.received_at.into_owned()).min())
        .map(|at| at.get(..19).unwrap_or(&at).to_string())
        .unwrap_or_default()
}

/// Records the tokens counted, in the batch that counts them: one upsert per second, appending
/// to that second's row; a token counted meanwhile by another consumer makes the row hold it
/// twice, which its trigger refuses, failing the whole batch (nothing is counted twice; the
/// message is retried and then found counted).
pub fn ledger(tokens: &[(String, String)]) -> Vec<SqlQuery> {
    let mut by_second: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (second, token) in tokens {
        by_second
            .entry(second.as_str())
            .or_default()
            .push(token.as_str());
    }
    by_second
        .into_iter()
        .map(|(second, tokens)| SqlQuery {
            sql: "INSERT INTO count_ledger_seconds (second, tokens) VALUES (?1, json(?2))
                  ON CONFLICT (second) DO UPDATE SET tokens = (
                    SELECT json_group_array(value) FROM (
                      SELECT value FROM json_each(count_ledger_seconds.tokens)
                      UNION ALL SELECT value FROM json_each(?2)))"
                .into(),
            binds: vec![
                Bind::Text(second.into()),
                Bind::Text(serde_json::to_string(&tokens).unwrap_or_else(|_| "[]".into())),
            ],
        })
        .collect()
}

/// Which of these `(second, token)`s D1 has counted (in the ledger by second, or in the ledger
/// by token of earlier releases).
pub fn counted_tokens(tokens: &[(String, String)]) -> SqlQuery {
    let seconds: BTreeSet<&str> = tokens.iter().map(|(s, _)| s.as_str()).collect();
    let names: Vec<&str> = tokens.iter().map(|(_, t)| t.as_str()).collect();
    SqlQuery {
        sql: "SELECT j.value AS token FROM count_ledger_seconds l, json_each(l.tokens) j
              WHERE l.second IN (SELECT value FROM json_each(?1)) AND j.value IN (SELECT value FROM json_each(?2))
              UNION SELECT token FROM count_ledger WHERE token IN (SELECT value FROM json_each(?2))"
            .into(),
        binds: vec![
            Bind::Text(serde_json::to_string(&seconds).unwrap_or_else(|_| "[]".into())),
            Bind::Text(serde_json::to_string(&names).unwrap_or_else(|_| "[]".into())),
        ],
    }
}

/// The groups these fingerprints were merged into.
pub fn merges_of(fingerprints: &BTreeSet<String>) -> SqlQuery {
    SqlQuery {
        sql: "SELECT source, target FROM group_merges WHERE source IN (SELECT value FROM json_each(?1))"
            .into(),
        binds: vec![Bind::Text(
            serde_json::to_string(fingerprints).unwrap_or_else(|_| "[]".into()),
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: usize, level: &str, severity: u8) -> StoredEvent {
        StoredEvent {
            id: format!("id{n}"),
            event_id: format!("e{n}"),
            project: Some("shop".into()),
            received_at: format!("2026-12-01T10:{:02}:00.000Z", n % 60),
            timestamp: format!("2026-12-01T10:{:02}:00.000Z", n % 2),
            level: level.into(),
            severity_number: severity,
            environment: "production".into(),
            source_type: "backend".into(),
            release: n.is_multiple_of(2).then(|| "1.0".to_string()),
            fingerprint: format!("fp{}", n % 3),
            ..Default::default()
        }
    }

    #[test]
    fn a_batch_writes_one_row_per_distinct_key() {
        let mut tally = Tally::default();
        for n in 0..100 {
            let (level, severity) = if n % 10 == 0 {
                ("error", 17)
            } else {
                ("info", 9)
            };
            tally.add(event(n, level, severity));
        }
        // Info in both minutes; errors (n % 10 == 0, even) in the first only.
        assert_eq!(tally.minute.len(), 3);
        assert_eq!(tally.hour.len(), 2);
        assert_eq!(tally.minute.values().sum::<i64>(), 100);
        assert_eq!(tally.stored_by_level.get("error"), Some(&10));
        let release = &tally.releases[&("shop".to_string(), "1.0".to_string())];
        assert_eq!((release.events, release.errors), (50, 10));
        assert_eq!(release.first, "2026-12-01T10:00:00.000Z");
        // Errors: fingerprints 0,1,2 by n % 3 over n = 0,10,…,90; releases by n % 2.
        let weights: i64 = tally.groups.values().map(|g| g.weight).sum();
        assert_eq!(weights, 10);
        let statements = tally.statements(&[], &BTreeMap::new());
        assert!(statements
            .last()
            .is_some_and(|s| s.sql == "DELETE FROM events_intake"));
        let intake = statements
            .iter()
            .find(|s| s.sql.contains("INTO events_intake"))
            .unwrap();
        let Bind::Text(rows) = &intake.binds[0] else {
            panic!("rows bound as text")
        };
        let rows: Vec<Value> = serde_json::from_str(rows).unwrap();
        let weights: i64 = rows
            .iter()
            .map(|r| r["intake_weight"].as_i64().unwrap())
            .sum();
        assert_eq!(weights, 10, "every grouped event counted once");
        assert_eq!(rows.len(), tally.groups.len(), "one row per group key");
        // A key with older events carries the oldest's time and message.
        let spanning = rows
            .iter()
            .filter(|r| r["intake_weight"].as_i64() > Some(1))
            .collect::<Vec<_>>();
        assert!(!spanning.is_empty());
        for r in spanning {
            assert!(r["intake_first_seen"].as_str() < r["received_at"].as_str());
            assert!(r["intake_title"].is_string());
        }
        let order: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
        let mut sorted = order.clone();
        sorted.sort_by_key(|id| id[2..].parse::<usize>().unwrap());
        assert_eq!(order, sorted, "rows in batch order");
        let releases_at = statements
            .iter()
            .position(|s| s.sql.contains("INTO releases"));
        let intake_at = statements
            .iter()
            .position(|s| s.sql.contains("INTO events_intake"));
        assert!(releases_at < intake_at, "the group trigger reads releases");
    }

    #[test]
    fn tokens_are_recorded_by_the_second_of_their_oldest_event() {
        let events = r#"[{"received_at":"2026-12-01T10:00:02.500Z"},{"received_at":"2026-12-01T10:00:01.900Z"}]"#;
        assert_eq!(token_second(events), "2026-12-01T10:00:01");
        let tokens = vec![
            ("2026-12-01T10:00:01".to_string(), "a".to_string()),
            ("2026-12-01T10:00:01".to_string(), "b".to_string()),
            ("2026-12-01T10:00:02".to_string(), "c".to_string()),
        ];
        let statements = ledger(&tokens);
        assert_eq!(statements.len(), 2, "one row per second, not per token");
        assert_eq!(statements[0].binds[1], Bind::Text(r#"["a","b"]"#.into()));
        assert_eq!(counted_tokens(&tokens).binds.len(), 2);
    }

    #[test]
    fn an_empty_batch_writes_nothing() {
        assert!(Tally::default()
            .statements(&[], &BTreeMap::new())
            .is_empty());
    }
}
