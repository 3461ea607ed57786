//! Quotas per project: events per UTC day and per minute. A hard quota refuses what passes it
//! (each refused event named in the 202's errors; a request of nothing but refused events is a
//! 429 naming the quota, with `Retry-After` until the window turns); a soft one keeps a sample
//! of it (`sample_rate`, by the same stable hash as sample rules). The grant is one D1 upsert
//! per request of a project with a quota, exact however many isolates ingest: it adds what fits
//! both windows and answers how much that was.
//!
//! Pure: a quota's body checked, the grant statement, the split of a request by the grant.

use chrono::{DateTime, Duration, Timelike, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::StoredEvent;
use crate::storage::sql::{Bind, SqlQuery};

crate::error::message_error!(
    /// A quota's body that cannot be a quota; the message names the field.
    QuotaError
);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Hard,
    Soft,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quota {
    pub events_per_day: Option<i64>,
    pub events_per_minute: Option<i64>,
    pub mode: Mode,
    /// What a soft quota keeps of the events past it.
    pub sample_rate: f64,
    /// Spike protection: a sample is kept while five minutes bring more than this many times
    /// the project's trailing day rate (`spike`); `None`: off.
    #[serde(default)]
    pub spike_multiplier: Option<f64>,
}

/// The default share a soft quota keeps.
pub const SOFT_SAMPLE_RATE: f64 = 0.1;

fn bad(message: impl Into<String>) -> QuotaError {
    QuotaError::new(message.into())
}

/// `PUT /v1/projects/{p}/quota` body: `{"events_per_day", "events_per_minute", "mode": "hard" |
/// "soft", "sample_rate"}`; at least one limit.
pub fn parse_quota(body: &Value) -> Result<Quota, QuotaError> {
    let object = body
        .as_object()
        .ok_or_else(|| bad("the body must be a JSON object"))?;
    const KNOWN: &[&str] = &[
        "events_per_day",
        "events_per_minute",
        "mode",
        "sample_rate",
        "spike_multiplier",
    ];
    if let Some(unknown) = object.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(bad(format!(
            "unknown field '{unknown}'; a quota has {}",
            KNOWN.join(", ")
        )));
    }
    let limit = |name: &str| -> Result<Option<i64>, QuotaError> {
        match object.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => match v.as_i64() {
                Some(n) if (1..=1_000_000_000_000).contains(&n) => Ok(Some(n)),
                _ => Err(bad(format!(
                    "{name} must be a whole number of events, at least 1"
                ))),
            },
        }
    };
    let (events_per_day, events_per_minute) =
        (limit("events_per_day")?, limit("events_per_minute")?);
    let spike_multiplier = match object.get("spike_multiplier") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(m) if (2.0..=1000.0).contains(&m) => Some(m),
            _ => return Err(bad("spike_multiplier must be a number from 2 to 1000")),
        },
    };
    if events_per_day.is_none() && events_per_minute.is_none() && spike_multiplier.is_none() {
        return Err(bad(
            "events_per_day, events_per_minute or spike_multiplier is required",
        ));
    }
    let mode = match object.get("mode") {
        None | Some(Value::Null) => Mode::Hard,
        Some(Value::String(m)) if m == "hard" => Mode::Hard,
        Some(Value::String(m)) if m == "soft" => Mode::Soft,
        Some(other) => return Err(bad(format!("mode {other} is not hard or soft"))),
    };
    let sample_rate = match object.get("sample_rate") {
        None | Some(Value::Null) => SOFT_SAMPLE_RATE,
        Some(v) => match v.as_f64() {
            Some(r) if r > 0.0 && r < 1.0 => r,
            _ => {
                return Err(bad(
                    "sample_rate must be a number between 0 and 1 (exclusive)",
                ))
            }
        },
    };
    if mode == Mode::Hard && object.get("sample_rate").is_some_and(|v| !v.is_null()) {
        return Err(bad(
            "sample_rate: a hard quota keeps no sample; use mode soft",
        ));
    }
    Ok(Quota {
        events_per_day,
        events_per_minute,
        mode,
        sample_rate,
        spike_multiplier,
    })
}

/// The windows of a time: its UTC day and minute.
pub fn windows(now: DateTime<Utc>) -> (String, String) {
    (
        now.format("%Y-%m-%d").to_string(),
        now.format("%Y-%m-%dT%H:%M").to_string(),
    )
}

/// Seconds until the window that refused turns: the next minute, or the next UTC day.
pub fn retry_after(now: DateTime<Utc>, day_full: bool) -> u32 {
    let next = if day_full {
        (now + Duration::days(1))
            .date_naive()
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc())
    } else {
        now.with_second(0)
            .and_then(|t| t.with_nanosecond(0))
            .map(|t| t + Duration::minutes(1))
    };
    next.map_or(60, |t| (t - now).num_seconds().max(1) as u32)
}

/// One statement that takes up to `wanted` events from both windows at once and answers the
/// grant (`last_grant`) and the day's count: a new day or minute starts from zero.
pub fn grant(project: &str, quota: &Quota, wanted: i64, now: DateTime<Utc>) -> SqlQuery {
    let (day, minute) = windows(now);
    let day_limit = quota.events_per_day.unwrap_or(i64::MAX / 4);
    let minute_limit = quota.events_per_minute.unwrap_or(i64::MAX / 4);
    // ?1 project ?2 day ?3 minute ?4 wanted ?5 day limit ?6 minute limit ?7 five minutes
    let room = "max(0, min(?4, ?5 - n_day, ?6 - CASE WHEN minute = ?3 THEN n_minute ELSE 0 END))";
    let first = "max(0, min(?4, ?5, ?6))";
    SqlQuery {
        sql: format!(
            "INSERT INTO quota_counts (project, day, n_day, minute, n_minute, last_grant, received_day, five, n_five)
             VALUES (?1, ?2, {first}, ?3, {first}, {first}, ?4, ?7, ?4)
             ON CONFLICT (project, day) DO UPDATE SET
               n_day = n_day + {room},
               n_minute = CASE WHEN minute = ?3 THEN n_minute ELSE 0 END + {room},
               minute = ?3,
               last_grant = {room},
               received_day = received_day + ?4,
               n_five = CASE WHEN five = ?7 THEN n_five ELSE 0 END + ?4,
               five = ?7
             RETURNING last_grant AS granted, n_day AS day_count, received_day, n_five"
        ),
        binds: vec![
            Bind::Text(project.into()),
            Bind::Text(day),
            Bind::Text(minute),
            Bind::Int(wanted),
            Bind::Int(day_limit),
            Bind::Int(minute_limit),
            Bind::Text(super::spike::five_minute(now)),
        ],
    }
}

/// What a project received on a day (the spike's baseline reads yesterday's).
pub fn received_on(project: &str, day: &str) -> SqlQuery {
    SqlQuery {
        sql: "SELECT received_day FROM quota_counts WHERE project = ? AND day = ?".into(),
        binds: vec![Bind::Text(project.into()), Bind::Text(day.into())],
    }
}

/// What a grant left of a request: the events kept (in order, the first ones fit), the ones
/// refused (hard) and the ones sampled out (soft).
pub struct Split {
    pub kept: Vec<(usize, StoredEvent)>,
    pub refused: Vec<(usize, StoredEvent)>,
    pub sampled_out: Vec<(usize, StoredEvent)>,
}

/// Splits a request's events by the grant: the first `granted` fit; past them a hard quota
/// refuses, a soft one keeps `sample_rate` of them (by trace, else the event's id).
pub fn split(quota: &Quota, events: Vec<(usize, StoredEvent)>, granted: usize) -> Split {
    let mut out = Split {
        kept: Vec::new(),
        refused: Vec::new(),
        sampled_out: Vec::new(),
    };
    for (position, (index, event)) in events.into_iter().enumerate() {
        if position < granted {
            out.kept.push((index, event));
            continue;
        }
        match quota.mode {
            Mode::Hard => out.refused.push((index, event)),
            Mode::Soft => {
                let key = event.trace_id.clone().unwrap_or_else(|| event.id.clone());
                if super::rules::unit_hash(&key) < quota.sample_rate {
                    out.kept.push((index, event));
                } else {
                    out.sampled_out.push((index, event));
                }
            }
        }
    }
    out
}

/// Which window refused: the day's when its count reached its limit.
pub fn day_is_full(quota: &Quota, day_count: i64) -> bool {
    quota.events_per_day.is_some_and(|limit| day_count >= limit)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::timestamp::parse_text;
    use serde_json::json;

    #[test]
    fn bodies_become_quotas_or_name_their_field() {
        let q = parse_quota(&json!({"events_per_day": 1000})).unwrap();
        assert_eq!(
            (q.events_per_day, q.events_per_minute, q.mode),
            (Some(1000), None, Mode::Hard)
        );
        let soft =
            parse_quota(&json!({"events_per_minute": 60, "mode": "soft", "sample_rate": 0.2}))
                .unwrap();
        assert_eq!((soft.mode, soft.sample_rate), (Mode::Soft, 0.2));
        for (body, says) in [
            (json!(1), "JSON object"),
            (
                json!({}),
                "events_per_day, events_per_minute or spike_multiplier",
            ),
            (json!({"spike_multiplier": 1}), "spike_multiplier"),
            (json!({"events_per_day": 0}), "events_per_day"),
            (json!({"events_per_day": 1.5}), "events_per_day"),
            (json!({"events_per_minute": "many"}), "events_per_minute"),
            (json!({"events_per_day": 5, "mode": "strict"}), "mode"),
            (
                json!({"events_per_day": 5, "mode": "soft", "sample_rate": 2}),
                "sample_rate",
            ),
            (
                json!({"events_per_day": 5, "sample_rate": 0.5}),
                "sample_rate",
            ),
            (
                json!({"events_per_day": 5, "burst": 1}),
                "unknown field 'burst'",
            ),
        ] {
            let message = parse_quota(&body).unwrap_err().message().to_string();
            assert!(message.contains(says), "{body}: {message}");
        }
    }

    #[test]
    fn windows_turn_with_the_clock() {
        let late = parse_text("2026-12-07T23:59:30.000Z").unwrap();
        assert_eq!(
            windows(late),
            ("2026-12-07".to_string(), "2026-12-07T23:59".to_string())
        );
        let next = late + Duration::seconds(31);
        assert_eq!(
            windows(next).0,
            "2026-12-08",
            "a new day: the grant starts from zero (a new row)"
        );
        assert_eq!(retry_after(late, true), 30);
        assert_eq!(
            retry_after(parse_text("2026-12-07T10:00:45.500Z").unwrap(), false),
            14
        );
    }

    #[test]
    fn a_request_splits_at_its_grant() {
        let events: Vec<(usize, StoredEvent)> = (0..10)
            .map(|i| {
                (
                    i,
                    StoredEvent {
                        id: format!("e{i}"),
                        trace_id: Some(format!("t{i}")),
                        ..Default::default()
                    },
                )
            })
            .collect();
        let hard = parse_quota(&json!({"events_per_day": 5})).unwrap();
        let s = split(&hard, events.clone(), 4);
        assert_eq!(
            (s.kept.len(), s.refused.len(), s.sampled_out.len()),
            (4, 6, 0)
        );
        assert_eq!(s.refused[0].0, 4);
        let soft =
            parse_quota(&json!({"events_per_day": 5, "mode": "soft", "sample_rate": 0.5})).unwrap();
        let s = split(&soft, events, 4);
        assert_eq!(s.kept.len() + s.sampled_out.len(), 10);
        assert!(s.refused.is_empty());
    }

    #[test]
    fn the_grant_binds_both_windows() {
        let q = parse_quota(&json!({"events_per_day": 1000, "events_per_minute": 100})).unwrap();
        let now = parse_text("2026-12-07T10:00:00.000Z").unwrap();
        let statement = grant("shop", &q, 50, now);
        assert_eq!(statement.binds.len(), 7);
        assert!(statement.sql.contains("RETURNING last_grant"));
    }
}
