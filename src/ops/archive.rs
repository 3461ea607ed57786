//! The R2 archive of expired events: gzipped NDJSON objects partitioned by day, written by the
//! retention run before it deletes, read back by `POST /v1/archive/restore`. The format is pure; `restore_day` (wasm) runs a
//! restore.
//!
//! Object keys: `events/<YYYY-MM-DD>/<source>-block-<band>-<first>-<last>.ndjson.gz`, one per
//! day and expired block (or batch of a dropped shard); each line is a stored event exactly as
//! the shard held it. Rows of an earlier release's row store are named without `block-`.

use std::collections::BTreeMap;
use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Deserialize;

crate::error::message_error!(
    /// An archive object that could not be read back (not gzip, not NDJSON).
    ArchiveError
);

/// A row about to expire.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ExpiringRow {
    pub seq: i64,
    pub day: String,
    pub data: String,
}

pub fn day_prefix(day: &str) -> String {
    format!("events/{day}/")
}

pub fn object_key(band: &str, day: &str, rows: &[&ExpiringRow]) -> String {
    let first = rows.iter().map(|r| r.seq).min().unwrap_or(0);
    let last = rows.iter().map(|r| r.seq).max().unwrap_or(0);
    format!("{}{band}-{first:012}-{last:012}.ndjson.gz", day_prefix(day))
}

/// Rows grouped by the day they were received.
pub fn by_day(rows: &[ExpiringRow]) -> BTreeMap<&str, Vec<&ExpiringRow>> {
    let mut days: BTreeMap<&str, Vec<&ExpiringRow>> = BTreeMap::new();
    for row in rows {
        days.entry(row.day.as_str()).or_default().push(row);
    }
    days
}

pub fn gzip_ndjson(rows: &[&ExpiringRow]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    for row in rows {
        encoder
            .write_all(row.data.as_bytes())
            .expect("writing to memory cannot fail");
        encoder
            .write_all(b"\n")
            .expect("writing to memory cannot fail");
    }
    encoder.finish().expect("writing to memory cannot fail")
}

/// The events of one archive object, as JSON lines.
pub fn read_ndjson_gz(bytes: &[u8]) -> Result<Vec<String>, ArchiveError> {
    let mut text = String::new();
    GzDecoder::new(bytes)
        .read_to_string(&mut text)
        .map_err(|e| ArchiveError::new(format!("not a gzipped NDJSON object: {e}")))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

/// `YYYY-MM-DD`, a real date.
pub fn valid_day(day: &str) -> bool {
    chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").is_ok() && day.len() == 10
}

#[cfg(target_arch = "wasm32")]
pub(crate) use runner::restore_day;

#[cfg(target_arch = "wasm32")]
mod runner {
    use super::{day_prefix, read_ndjson_gz};
    use crate::error::AppError;
    use crate::ingest::queue_message::pack;
    use crate::platform::bindings;
    use crate::storage::queue::send_bytes;

    /// Sends every archived event of `day` back through the queue, whose consumer stores each
    /// once; returns the objects and events read.
    pub async fn restore_day(env: &worker::Env, day: &str) -> Result<(usize, usize), AppError> {
        let bucket = env.bucket(bindings::ARCHIVE).map_err(|_| {
            AppError::NotFound(
                "This deployment has no ARCHIVE bucket; nothing was archived.".into(),
            )
        })?;
        let queue = env.queue(bindings::LOGS)?;
        let (mut objects, mut events) = (0usize, 0usize);
        let mut cursor: Option<String> = None;
        loop {
            let mut list = bucket.list().prefix(day_prefix(day));
            if let Some(c) = cursor.take() {
                list = list.cursor(c);
            }
            let page = list.execute().await?;
            for object in page.objects() {
                let Some(found) = bucket.get(object.key()).execute().await? else {
                    continue;
                };
                let Some(body) = found.body() else {
                    continue;
                };
                let lines = read_ndjson_gz(&body.bytes().await?)
                    .map_err(|e| AppError::Internal(format!("{}: {e}", object.key())))?;
                events += lines.len();
                objects += 1;
                let (batches, _) = pack(None, lines.into_iter().enumerate().collect());
                for batch in batches {
                    send_bytes(&queue, &batch.iter().map(|m| &m.body).collect::<Vec<_>>())
                        .await
                        .map_err(|e| AppError::Unavailable { message: format!("The queue refused the restore ({e}); run it again, restoring is idempotent."), retry_after: 5 })?;
                }
            }
            match (page.truncated(), page.cursor()) {
                (true, Some(next)) => cursor = Some(next),
                _ => break,
            }
        }
        Ok((objects, events))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, day: &str) -> ExpiringRow {
        ExpiringRow {
            seq,
            day: day.into(),
            data: format!(r#"{{"id":"e{seq}","message":"m{seq}"}}"#),
        }
    }

    #[test]
    fn round_trip_by_day() {
        let rows = vec![
            row(3, "2026-08-01"),
            row(1, "2026-08-01"),
            row(7, "2026-08-02"),
        ];
        let days = by_day(&rows);
        assert_eq!(
            days.keys().copied().collect::<Vec<_>>(),
            vec!["2026-08-01", "2026-08-02"]
        );
        let first = &days["2026-08-01"];
        assert_eq!(
            object_key("info", "2026-08-01", first),
            "events/2026-08-01/info-000000000001-000000000003.ndjson.gz"
        );
        let lines = read_ndjson_gz(&gzip_ndjson(first)).unwrap();
        assert_eq!(lines, vec![rows[0].data.clone(), rows[1].data.clone()]);
        assert!(read_ndjson_gz(b"plain text").is_err());
    }

    #[test]
    fn days() {
        assert!(valid_day("2026-08-01"));
        for bad in ["2026-8-1", "2026-13-01", "yesterday", "2026-08-01/../x", ""] {
            assert!(!valid_day(bad), "{bad}");
        }
    }
}
