//! The scheduled run (`#[event(scheduled)]`, every 5 minutes): retention in bounded batches —
//! archiving each batch to R2 first when an `ARCHIVE` bucket is bound — then housekeeping of
//! derived tables, then the spike and quiet alert rules. Failures are logged; the next run
//! continues where this one stopped.

use worker::{console_error, console_log, Bucket, D1Database, Env};

use crate::ops::archive::{by_day, gzip_ndjson, object_key, ExpiringRow};
use crate::ops::retention::{
    delete_seqs, event_deletes, expiring_selects, housekeeping, RetentionDays, DELETE_BATCH,
    MAX_BATCHES_PER_RUN,
};
use crate::platform::bindings;
use crate::storage::d1;

pub async fn run(env: &Env) {
    let Ok(db) = env.d1(bindings::DB) else {
        console_error!("retention: D1 binding DB missing");
        return;
    };
    let Ok(now) = crate::platform::clock::clock() else {
        return;
    };
    let config = crate::config::Config::get(env);
    let days = &config.retention;
    let deleted = match env.bucket(bindings::ARCHIVE) {
        Ok(bucket) => archive_and_delete(&db, &bucket, days, now).await,
        Err(_) => delete(&db, days, now).await,
    };
    for statement in housekeeping(days, now) {
        if let Err(e) = d1::execute(&db, &statement).await {
            console_error!(
                "retention: housekeeping statement failed ({}): {e}",
                statement.sql
            );
        }
    }
    crate::alerting::engine::evaluate_rates(&db, env).await;
    console_log!("retention: {deleted} expired events removed (keeping debug {}d, info {}d, warn {}d, error {}d)", days.debug, days.info, days.warn, days.error);
}

async fn delete(
    db: &D1Database,
    days: &RetentionDays,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    let mut deleted = 0;
    for statement in event_deletes(days, now) {
        for _ in 0..MAX_BATCHES_PER_RUN {
            match d1::execute(db, &statement).await {
                Ok(changes) => {
                    deleted += changes;
                    if (changes as i64) < DELETE_BATCH {
                        break;
                    }
                }
                Err(e) => {
                    console_error!("retention: delete failed, the next run continues: {e}");
                    break;
                }
            }
        }
    }
    deleted
}

/// Each batch: read the expiring rows, write one gzipped NDJSON object per day, and only then
/// delete exactly those rows. A failed write deletes nothing; the next run tries again.
async fn archive_and_delete(
    db: &D1Database,
    bucket: &Bucket,
    days: &RetentionDays,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    let mut deleted = 0;
    for (band, select) in expiring_selects(days, now) {
        for _ in 0..MAX_BATCHES_PER_RUN {
            let rows: Vec<ExpiringRow> = match d1::rows(db, &select).await {
                Ok(rows) => rows,
                Err(e) => {
                    console_error!("archive: reading expiring {band} events failed: {e}");
                    break;
                }
            };
            if rows.is_empty() {
                break;
            }
            let mut archived = true;
            for (day, day_rows) in by_day(&rows) {
                let key = object_key(band, day, &day_rows);
                if let Err(e) = bucket.put(&key, gzip_ndjson(&day_rows)).execute().await {
                    console_error!("archive: writing {key} failed, nothing deleted: {e}");
                    archived = false;
                    break;
                }
            }
            if !archived {
                break;
            }
            let seqs: Vec<i64> = rows.iter().map(|r| r.seq).collect();
            match d1::execute(db, &delete_seqs(&seqs)).await {
                Ok(changes) => deleted += changes,
                Err(e) => {
                    // Archived but not deleted: the next run archives them again (same key) and deletes.
                    console_error!("archive: deleting archived rows failed: {e}");
                    break;
                }
            }
            if (rows.len() as i64) < DELETE_BATCH {
                break;
            }
        }
    }
    deleted
}
