//! The scheduled run (`#[event(scheduled)]`, every 5 minutes): the move of events still in D1
//! into shards; retention — a shard wholly past the longest retention is dropped whole, one
//! partly expired is trimmed in bounded batches, each archived to R2 first when an `ARCHIVE`
//! bucket is bound; then housekeeping of derived tables; groups ignored until a time that has
//! passed reopen (with their alerts); then the spike and quiet alert rules.
//! Failures are logged; the next run continues where this one stopped.

use worker::{console_error, console_log, Bucket, D1Database, Env, ObjectNamespace};

use crate::ops::archive::{by_day, gzip_ndjson, object_key, ExpiringRow};
use crate::platform::bindings;
use crate::shards::client::{call, namespace};
use crate::shards::retention::{
    delete_seqs, event_deletes, expiring_selects, housekeeping, RetentionDays, DELETE_BATCH,
    MAX_BATCHES_PER_RUN,
};
use crate::shards::{catalogue, sql as shard_sql};
use crate::shards::{
    retention_of, BlockExport, ChangeAnswer, ExportAnswer, ShardCall, ShardInfo, ShardRetention,
};
use crate::storage::d1;
use crate::storage::sql::{Bind, SqlQuery};

crate::error::message_error!(
    /// A retention or archive step that failed: the D1 or shard call, or the R2 write.
    RetentionError
);

impl From<crate::platform::objects::CallError> for RetentionError {
    fn from(e: crate::platform::objects::CallError) -> Self {
        RetentionError::new(e.into_message())
    }
}

/// Where expired events are: D1 (events from before the shards) or one shard.
enum Source<'a> {
    D1(&'a D1Database),
    Shard(&'a ObjectNamespace, &'a ShardInfo),
}

impl Source<'_> {
    /// A tag that keeps archive objects of different sources of one day apart.
    fn tag(&self) -> String {
        match self {
            Source::D1(_) => String::new(),
            Source::Shard(_, shard) => format!("{}-", crate::shards::archive_tag(shard)),
        }
    }

    async fn rows(&self, query: &SqlQuery) -> Result<Vec<ExpiringRow>, RetentionError> {
        match self {
            Source::D1(db) => d1::rows(db, query)
                .await
                .map_err(|e| RetentionError::new(e.to_string())),
            Source::Shard(ns, shard) => {
                let rows: Vec<serde_json::Value> = call(
                    ns,
                    &shard.name,
                    &ShardCall::Rows {
                        query: query.clone(),
                    },
                )
                .await?;
                rows.into_iter()
                    .map(|r| {
                        serde_json::from_value(r).map_err(|e| RetentionError::new(e.to_string()))
                    })
                    .collect()
            }
        }
    }

    async fn execute(&self, query: &SqlQuery) -> Result<usize, RetentionError> {
        match self {
            Source::D1(db) => d1::execute(db, query)
                .await
                .map_err(|e| RetentionError::new(e.to_string())),
            Source::Shard(ns, shard) => {
                let answer: ChangeAnswer = call(
                    ns,
                    &shard.name,
                    &ShardCall::Run {
                        queries: vec![query.clone()],
                    },
                )
                .await?;
                Ok(answer.changes as usize)
            }
        }
    }
}

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
    let moved = crate::shards::migrate::run(env, &db, config.shard_max_events).await;
    let rewritten = crate::shards::migrate::rewrite_rows(env, &db).await;
    // Shards of earlier releases may hold rows until the rewrite is done.
    let rows_left = !catalogue::rows_rewritten(&db).await.unwrap_or(false);
    let bucket = env.bucket(bindings::ARCHIVE).ok();
    let mut deleted = 0;
    let legacy = match catalogue::catalogue(&db, None).await {
        Ok((shards, legacy)) => {
            if let Ok(ns) = namespace(env) {
                for shard in &shards {
                    deleted +=
                        retain_shard(&db, &ns, shard, bucket.as_ref(), days, now, rows_left).await;
                }
            }
            legacy
        }
        Err(e) => {
            console_error!("retention: reading the shard catalogue failed: {e}");
            true
        }
    };
    if legacy {
        deleted += retain(&Source::D1(&db), bucket.as_ref(), days, now).await;
    }
    for statement in housekeeping(days, now) {
        if let Err(e) = d1::execute(&db, &statement).await {
            console_error!(
                "retention: housekeeping statement failed ({}): {e}",
                statement.sql
            );
        }
    }
    let reopened = reopen_ignored_until(&db, env, now).await;
    crate::alerting::engine::evaluate_rates(&db, env).await;
    crate::alerting::engine::maintain_open_alerts(&db, env).await;
    if reopened > 0 {
        console_log!("{reopened} groups ignored until a time reopened");
    }
    console_log!("retention: {moved} events moved from D1 into shards, {rewritten} shard rows rewritten as blocks, {deleted} expired events removed (keeping debug {}d, info {}d, warn {}d, error {}d)", days.debug, days.info, days.warn, days.error);
}

/// Groups ignored until a time that has passed reopen now, not at their next event; the
/// transitions they leave are turned into alerts at once.
async fn reopen_ignored_until(
    db: &D1Database,
    env: &Env,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    let now_text = crate::processors::timestamp::format_ts(now);
    match crate::query::groups_store::reopen_ignored_until(db, &now_text).await {
        Ok(0) => 0,
        Ok(n) => {
            crate::alerting::engine::evaluate(db, env).await;
            n
        }
        Err(e) => {
            console_error!(
                "reopening groups ignored until a time failed (the next run retries): {e}"
            );
            0
        }
    }
}

/// What retention does to one shard: drop it whole (archiving it first), or trim its expired
/// rows; the catalogue follows. Returns the events removed.
async fn retain_shard(
    db: &D1Database,
    ns: &ObjectNamespace,
    shard: &ShardInfo,
    bucket: Option<&Bucket>,
    days: &RetentionDays,
    now: chrono::DateTime<chrono::Utc>,
    rows_left: bool,
) -> usize {
    let source = Source::Shard(ns, shard);
    match retention_of(shard, days, now) {
        ShardRetention::Keep => 0,
        ShardRetention::Trim => {
            let mut deleted = expire_blocks(ns, shard, bucket, days, now).await;
            if rows_left {
                deleted += retain(&source, bucket, days, now).await;
            }
            if deleted > 0 {
                refresh_catalogue(db, ns, shard).await;
            }
            deleted
        }
        ShardRetention::Drop => {
            if let Some(bucket) = bucket {
                if let Err(e) = archive_whole(&source, bucket).await {
                    console_error!("archive: shard {} not archived, kept: {e}", shard.name);
                    return 0;
                }
            }
            match call::<ChangeAnswer>(ns, &shard.name, &ShardCall::Drop).await {
                Ok(_) => {
                    if let Err(e) = d1::execute(db, &catalogue::remove(&shard.name)).await {
                        console_error!(
                            "retention: shard {} dropped, catalogue not told: {e}",
                            shard.name
                        );
                    }
                    shard.stats.events.max(0) as usize
                }
                Err(e) => {
                    console_error!("retention: dropping shard {} failed: {e}", shard.name);
                    0
                }
            }
        }
    }
}

/// Retention by whole blocks: each band's blocks whose newest event has expired go, archived
/// first (and deleted only once the archive holds them) when a bucket is bound.
async fn expire_blocks(
    ns: &ObjectNamespace,
    shard: &ShardInfo,
    bucket: Option<&Bucket>,
    days: &RetentionDays,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    let cutoffs = days.cutoffs(now);
    let Some(bucket) = bucket else {
        let expire = ShardCall::Expire {
            cutoffs,
            export: false,
            max_blocks: 0,
        };
        return match call::<ExportAnswer>(ns, &shard.name, &expire).await {
            Ok(answer) => answer.deleted.max(0) as usize,
            Err(e) => {
                console_error!("retention: expiring blocks of {} failed: {e}", shard.name);
                0
            }
        };
    };
    let mut deleted = 0;
    for _ in 0..MAX_BATCHES_PER_RUN {
        let expire = ShardCall::Expire {
            cutoffs: cutoffs.clone(),
            export: true,
            max_blocks: ARCHIVE_BLOCKS_PER_CALL,
        };
        let answer = match call::<ExportAnswer>(ns, &shard.name, &expire).await {
            Ok(answer) => answer,
            Err(e) => {
                console_error!(
                    "archive: reading expiring blocks of {} failed: {e}",
                    shard.name
                );
                break;
            }
        };
        if answer.blocks.is_empty() {
            break;
        }
        if let Err(e) = archive_blocks(&Source::Shard(ns, shard), bucket, &answer.blocks).await {
            console_error!("archive: {e}; nothing deleted");
            break;
        }
        let seqs = answer.blocks.iter().map(|b| b.seq).collect();
        match call::<ExportAnswer>(ns, &shard.name, &ShardCall::DeleteBlocks { seqs }).await {
            Ok(done) => deleted += done.deleted.max(0) as usize,
            Err(e) => {
                // Archived but not deleted: the next run archives them again (same key) and deletes.
                console_error!("archive: deleting archived blocks failed: {e}");
                break;
            }
        }
    }
    deleted
}

/// Blocks' events into R2: per block, one gzipped NDJSON object per day, named by the band and
/// the block (the same key when a failed run archives a block again).
async fn archive_blocks(
    source: &Source<'_>,
    bucket: &Bucket,
    blocks: &[BlockExport],
) -> Result<(), RetentionError> {
    for block in blocks {
        let rows: Vec<ExpiringRow> = block
            .events
            .iter()
            .map(|e| ExpiringRow {
                seq: block.seq,
                day: crate::shards::day_of(&received_at(e.get())).to_string(),
                data: e.get().to_string(),
            })
            .collect();
        let band = crate::shards::retention::BAND_NAMES
            .get(block.band as usize)
            .copied()
            .unwrap_or("error");
        put_rows(source, bucket, &format!("block-{band}"), &rows).await?;
    }
    Ok(())
}

/// Rows into R2, one gzipped NDJSON object per day, named by `what` and the rows' numbers.
async fn put_rows(
    source: &Source<'_>,
    bucket: &Bucket,
    what: &str,
    rows: &[ExpiringRow],
) -> Result<(), RetentionError> {
    for (day, day_rows) in by_day(rows) {
        let key = object_key(&format!("{}{what}", source.tag()), day, &day_rows);
        bucket
            .put(&key, gzip_ndjson(&day_rows))
            .execute()
            .await
            .map_err(|e| RetentionError::new(format!("writing {key}: {e}")))?;
    }
    Ok(())
}

fn received_at(raw: &str) -> String {
    serde_json::from_str::<crate::shards::Placement>(raw)
        .map(|p| p.received_at.into_owned())
        .unwrap_or_default()
}

/// Blocks archived per shard call: each holds up to a few thousand events.
const ARCHIVE_BLOCKS_PER_CALL: usize = 4;

/// Records a shard's report after retention changed it.
async fn refresh_catalogue(db: &D1Database, ns: &ObjectNamespace, shard: &ShardInfo) {
    match call::<crate::shards::ShardStats>(ns, &shard.name, &ShardCall::Stats).await {
        Ok(stats) => {
            let now = crate::platform::clock::clock_text().unwrap_or_default();
            // A change moves the shard's version on, so this report replaces the kept one.
            let upsert = catalogue::upsert(
                &ShardInfo {
                    stats,
                    ..shard.clone()
                },
                &now,
            );
            if let Err(e) = d1::execute(db, &upsert).await {
                console_error!("retention: catalogue of {} not updated: {e}", shard.name);
            }
        }
        Err(e) => console_error!("retention: {e}"),
    }
}

/// Every event of a shard into R2 (its blocks, then any rows of an earlier release), one
/// object per day and block or page; nothing is deleted here.
async fn archive_whole(source: &Source<'_>, bucket: &Bucket) -> Result<(), RetentionError> {
    if let Source::Shard(ns, shard) = source {
        // Blocks' events gathered into objects of up to `DELETE_BATCH` events, numbered in
        // export order (the same numbers when a failed run exports them again).
        let (mut after, mut number) = (0i64, 0i64);
        let mut rows: Vec<ExpiringRow> = Vec::new();
        loop {
            let export = ShardCall::Export {
                after,
                max_blocks: ARCHIVE_BLOCKS_PER_CALL,
            };
            let answer: ExportAnswer = call(ns, &shard.name, &export).await?;
            let Some(last) = answer.blocks.last() else {
                break;
            };
            after = last.seq;
            for event in answer.blocks.iter().flat_map(|b| &b.events) {
                number += 1;
                rows.push(ExpiringRow {
                    seq: number,
                    day: crate::shards::day_of(&received_at(event.get())).to_string(),
                    data: event.get().to_string(),
                });
            }
            if rows.len() as i64 >= DELETE_BATCH {
                put_rows(source, bucket, "block-all", &std::mem::take(&mut rows)).await?;
            }
        }
        put_rows(source, bucket, "block-all", &rows).await?;
    }
    let mut after = 0i64;
    loop {
        let query = SqlQuery {
            sql: shard_sql::EXPORT_PAGE.into(),
            binds: vec![Bind::Int(after), Bind::Int(DELETE_BATCH)],
        };
        let rows = source.rows(&query).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.seq;
        for (day, day_rows) in by_day(&rows) {
            let key = object_key(&format!("{}all", source.tag()), day, &day_rows);
            bucket
                .put(&key, gzip_ndjson(&day_rows))
                .execute()
                .await
                .map_err(|e| RetentionError::new(format!("writing {key}: {e}")))?;
        }
        if (rows.len() as i64) < DELETE_BATCH {
            return Ok(());
        }
    }
}

async fn retain(
    source: &Source<'_>,
    bucket: Option<&Bucket>,
    days: &RetentionDays,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    match bucket {
        Some(bucket) => archive_and_delete(source, bucket, days, now).await,
        None => delete(source, days, now).await,
    }
}

async fn delete(
    source: &Source<'_>,
    days: &RetentionDays,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    let mut deleted = 0;
    for statement in event_deletes(days, now) {
        for _ in 0..MAX_BATCHES_PER_RUN {
            match source.execute(&statement).await {
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
    source: &Source<'_>,
    bucket: &Bucket,
    days: &RetentionDays,
    now: chrono::DateTime<chrono::Utc>,
) -> usize {
    let mut deleted = 0;
    for (band, select) in expiring_selects(days, now) {
        for _ in 0..MAX_BATCHES_PER_RUN {
            let rows: Vec<ExpiringRow> = match source.rows(&select).await {
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
                let key = object_key(&format!("{}{band}", source.tag()), day, &day_rows);
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
            match source.execute(&delete_seqs(&seqs)).await {
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
