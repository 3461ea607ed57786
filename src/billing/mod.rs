//! What Cloudflare bills this service for, counted from what the runtime reports: D1's
//! `meta.rows_read`/`rows_written` of every statement, the Durable Object SQL cursors'
//! `rowsRead`/`rowsWritten` (each shard reports its own with every answer), queue operations
//! (each 64 KB of a message written, read and deleted), KV reads and writes, Durable Object and
//! Worker requests. A leaf: every runner adds to the isolate's [`Meter`], the metrics recorder
//! flushes it into `edge_logger_billed_total{item}` and the daily usage rows, and `/v1/usage`
//! prices it with [`PRICES`].

use std::cell::RefCell;
use std::collections::BTreeMap;

/// One line of the bill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Item {
    WorkerRequests,
    DoRequests,
    D1RowsRead,
    D1RowsWritten,
    DoRowsRead,
    DoRowsWritten,
    QueueOperations,
    KvReads,
    KvWrites,
    R2ClassA,
    R2ClassB,
}

/// A line item's list price, in US dollars per million units, beyond the Workers Paid plan's
/// included amounts (Cloudflare's published prices, as of December 2026): Workers requests,
/// Durable Object requests and SQLite rows, D1 rows, Queues operations (per 64 KB written,
/// read or deleted), KV, R2 class A (writes) and B (reads). Storage is priced per GB-month
/// apart ([`STORAGE_PRICES`]).
pub const PRICES: [(Item, &str, f64); 11] = [
    (Item::WorkerRequests, "worker_requests", 0.30),
    (Item::DoRequests, "do_requests", 0.15),
    (Item::D1RowsRead, "d1_rows_read", 0.001),
    (Item::D1RowsWritten, "d1_rows_written", 1.00),
    (Item::DoRowsRead, "do_rows_read", 0.001),
    (Item::DoRowsWritten, "do_rows_written", 1.00),
    (Item::QueueOperations, "queue_operations", 0.40),
    (Item::KvReads, "kv_reads", 0.50),
    (Item::KvWrites, "kv_writes", 5.00),
    (Item::R2ClassA, "r2_class_a", 4.50),
    (Item::R2ClassB, "r2_class_b", 0.36),
];

/// Storage, in US dollars per GB-month: Durable Object SQLite, D1, R2.
pub const STORAGE_PRICES: [(&str, f64); 3] = [
    ("do_storage", 0.20),
    ("d1_storage", 0.75),
    ("r2_storage", 0.015),
];

impl Item {
    pub fn name(self) -> &'static str {
        PRICES
            .iter()
            .find(|(i, _, _)| *i == self)
            .map_or("", |(_, n, _)| n)
    }

    pub fn parse(name: &str) -> Option<Item> {
        PRICES
            .iter()
            .find(|(_, n, _)| *n == name)
            .map(|(i, _, _)| *i)
    }

    /// Dollars per million units.
    pub fn price(self) -> f64 {
        PRICES
            .iter()
            .find(|(i, _, _)| *i == self)
            .map_or(0.0, |(_, _, p)| *p)
    }
}

/// The dollars `units` of an item cost.
pub fn dollars(item: Item, units: u64) -> f64 {
    units as f64 * item.price() / 1_000_000.0
}

/// The answer header in which a Durable Object reports the SQLite rows a call read and wrote.
pub const ROWS_HEADER: &str = "x-billed-rows";

/// Units counted and not yet flushed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Meter(BTreeMap<Item, u64>);

impl Meter {
    pub fn add(&mut self, item: Item, units: u64) {
        if units > 0 {
            *self.0.entry(item).or_default() += units;
        }
    }

    pub fn take(&mut self) -> Vec<(Item, u64)> {
        std::mem::take(&mut self.0).into_iter().collect()
    }

    /// The DO rows a shard reports in [`ROWS_HEADER`]: `rows_read,rows_written`.
    pub fn header(read: u64, written: u64) -> String {
        format!("{read},{written}")
    }

    pub fn parse_header(text: &str) -> Option<(u64, u64)> {
        let (read, written) = text.split_once(',')?;
        Some((read.trim().parse().ok()?, written.trim().parse().ok()?))
    }
}

/// A day's billed units of one item, as `usage_daily` holds them.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct UsageRow {
    pub day: String,
    pub item: String,
    pub units: i64,
}

/// A day's events stored and bytes kept (the shard catalogue).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct StoredRow {
    pub day: String,
    pub events: i64,
    pub bytes: i64,
}

/// `GET /v1/usage`: each day's line items with their units and list-price dollars, the events
/// stored that day and what a million of them cost, then the totals.
pub fn usage_report(rows: &[UsageRow], stored: &[StoredRow]) -> serde_json::Value {
    use serde_json::json;
    let mut days: BTreeMap<&str, Vec<&UsageRow>> = BTreeMap::new();
    for row in rows {
        days.entry(row.day.as_str()).or_default().push(row);
    }
    for s in stored {
        days.entry(s.day.as_str()).or_default();
    }
    let mut total_usd = 0.0;
    let mut total_events = 0i64;
    let per_day: Vec<serde_json::Value> = days
        .iter()
        .map(|(day, rows)| {
            let items: Vec<serde_json::Value> = rows
                .iter()
                .filter_map(|r| Some((Item::parse(&r.item)?, r.units.max(0) as u64)))
                .map(|(item, units)| json!({"item": item.name(), "units": units, "usd": dollars(item, units)}))
                .collect();
            let usd: f64 = items.iter().filter_map(|i| i["usd"].as_f64()).sum();
            let day_stored = stored.iter().find(|s| s.day == *day);
            let events = day_stored.map_or(0, |s| s.events);
            total_usd += usd;
            total_events += events;
            json!({
                "day": day, "items": items, "usd": usd, "events": events,
                "bytes": day_stored.map_or(0, |s| s.bytes),
                "usd_per_million_events": (events > 0).then(|| usd / events as f64 * 1_000_000.0),
            })
        })
        .collect();
    let prices: Vec<serde_json::Value> = PRICES
        .iter()
        .map(|(_, name, usd)| json!({"item": name, "usd_per_million": usd}))
        .collect();
    json!({
        "days": per_day,
        "total": {"usd": total_usd, "events": total_events, "usd_per_million_events": (total_events > 0).then(|| total_usd / total_events as f64 * 1_000_000.0)},
        "prices": prices,
        "storage_prices_per_gb_month": STORAGE_PRICES.iter().map(|(n, p)| json!({"item": n, "usd": p})).collect::<Vec<_>>(),
    })
}

/// What a project's events did on a day, by service and level (`usage_events`).
#[derive(Debug, Clone, PartialEq, Default, serde::Deserialize)]
pub struct EventUsageRow {
    pub day: String,
    pub project: String,
    pub service: String,
    pub level: String,
    pub received: i64,
    pub accepted: i64,
    pub dropped: i64,
    pub sampled_out: i64,
    pub refused_quota: i64,
    pub stored: i64,
}

/// The bytes a project's shards of a day keep (the shard catalogue).
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ProjectBytesRow {
    pub day: String,
    pub project: String,
    pub bytes: i64,
}

/// What `GET /v1/usage?by=` groups by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Day,
    Project,
    Service,
    Level,
}

impl By {
    pub fn parse(text: &str) -> Option<By> {
        Some(match text {
            "day" => By::Day,
            "project" => By::Project,
            "service" => By::Service,
            "level" => By::Level,
            _ => return None,
        })
    }
}

/// Each group's events and estimated dollars. A day's bill (every line item) is shared by the
/// events that day stored (by what they received on a day nothing was stored), and each
/// project's storage by its bytes; `only` keeps one project's share. Storage is priced for 30
/// days at the Durable Object rate.
pub fn breakdown(
    by: By,
    billed: &[UsageRow],
    events: &[EventUsageRow],
    bytes: &[ProjectBytesRow],
    only: Option<&str>,
) -> Vec<serde_json::Value> {
    use serde_json::json;
    let mut day_usd: BTreeMap<&str, BTreeMap<&'static str, f64>> = BTreeMap::new();
    for row in billed {
        if let Some(item) = Item::parse(&row.item) {
            *day_usd
                .entry(row.day.as_str())
                .or_default()
                .entry(item.name())
                .or_default() += dollars(item, row.units.max(0) as u64);
        }
    }
    let mut day_stored: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    let mut project_stored: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for e in events {
        let d = day_stored.entry(e.day.as_str()).or_default();
        d.0 += e.stored;
        d.1 += e.received;
        *project_stored
            .entry((e.day.as_str(), e.project.as_str()))
            .or_default() += e.stored;
    }
    let mut project_bytes: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for b in bytes {
        *project_bytes
            .entry((b.day.as_str(), b.project.as_str()))
            .or_default() += b.bytes;
    }
    let storage_price = STORAGE_PRICES.first().map_or(0.2, |(_, p)| *p);
    #[derive(Default)]
    struct Group {
        counts: [i64; 6],
        bytes: f64,
        items: BTreeMap<&'static str, f64>,
        /// By day: events stored and dollars (without storage).
        days: BTreeMap<String, (i64, f64)>,
    }
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| only.is_none_or(|p| e.project == p))
    {
        let key = match by {
            By::Day => e.day.clone(),
            By::Project => e.project.clone(),
            By::Service => e.service.clone(),
            By::Level => e.level.clone(),
        };
        let g = groups.entry(key).or_default();
        for (slot, n) in g.counts.iter_mut().zip([
            e.received,
            e.accepted,
            e.dropped,
            e.sampled_out,
            e.refused_quota,
            e.stored,
        ]) {
            *slot += n;
        }
        let (stored, received) = day_stored.get(e.day.as_str()).copied().unwrap_or_default();
        let share = if stored > 0 {
            e.stored as f64 / stored as f64
        } else if received > 0 {
            e.received as f64 / received as f64
        } else {
            0.0
        };
        let day = g.days.entry(e.day.clone()).or_default();
        day.0 += e.stored;
        for (item, usd) in day_usd.get(e.day.as_str()).into_iter().flatten() {
            *g.items.entry(item).or_default() += usd * share;
            day.1 += usd * share;
        }
        let in_project = project_stored
            .get(&(e.day.as_str(), e.project.as_str()))
            .copied()
            .unwrap_or(0);
        if in_project > 0 {
            let project_bytes = project_bytes
                .get(&(e.day.as_str(), e.project.as_str()))
                .copied()
                .unwrap_or(0);
            g.bytes += project_bytes as f64 * e.stored as f64 / in_project as f64;
        }
    }
    groups
        .into_iter()
        .map(|(key, g)| {
            let storage_usd = g.bytes / 1e9 * storage_price;
            let usd: f64 = g.items.values().sum::<f64>() + storage_usd;
            let [received, accepted, dropped, sampled_out, refused_quota, stored] = g.counts;
            json!({
                "key": key, "received": received, "accepted": accepted, "dropped": dropped,
                "sampled_out": sampled_out, "refused_quota": refused_quota, "stored": stored,
                "bytes": g.bytes.round() as i64, "items": g.items, "storage_usd_30_days": storage_usd,
                "usd": usd,
                "days": g.days.iter().map(|(day, (stored, usd))| json!({"day": day, "stored": stored, "usd": usd})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

thread_local! {
    static METER: RefCell<Meter> = RefCell::new(Meter::default());
}

/// Counts units of an item in this isolate.
pub fn add(item: Item, units: u64) {
    METER.with(|m| m.borrow_mut().add(item, units));
}

/// What this isolate counted since the last call.
pub fn take() -> Vec<(Item, u64)> {
    METER.with(|m| m.borrow_mut().take())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_days_bill_is_shared_by_what_each_project_stored() {
        let billed = vec![UsageRow {
            day: "2026-12-01".into(),
            item: "d1_rows_written".into(),
            units: 1_000_000,
        }];
        let row = |project: &str, service: &str, stored: i64| EventUsageRow {
            day: "2026-12-01".into(),
            project: project.into(),
            service: service.into(),
            level: "info".into(),
            received: stored + 1,
            accepted: stored,
            stored,
            ..Default::default()
        };
        let events = vec![
            row("shop", "api", 30),
            row("shop", "web", 10),
            row("blog", "api", 60),
        ];
        let bytes = vec![ProjectBytesRow {
            day: "2026-12-01".into(),
            project: "shop".into(),
            bytes: 4000,
        }];
        let by_project = breakdown(By::Project, &billed, &events, &bytes, None);
        let keys: Vec<&str> = by_project
            .iter()
            .map(|g| g["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["blog", "shop"]);
        let d1 = dollars(Item::D1RowsWritten, 1_000_000);
        assert!(
            (by_project[0]["items"]["d1_rows_written"].as_f64().unwrap() - d1 * 0.6).abs() < 1e-12
        );
        assert_eq!(by_project[1]["stored"], 40);
        assert_eq!(by_project[1]["bytes"], 4000);
        let shop_only = breakdown(By::Service, &billed, &events, &bytes, Some("shop"));
        assert_eq!(shop_only.len(), 2);
        assert_eq!(shop_only[0]["key"], "api");
        assert_eq!(
            shop_only[0]["bytes"], 3000,
            "a project's bytes shared by what each service stored"
        );
        assert_eq!(
            breakdown(By::Day, &billed, &events, &bytes, None)[0]["received"],
            103
        );
        assert_eq!(
            by_project[1]["days"][0]["stored"], 40,
            "each group's days, for a daily chart"
        );
    }

    #[test]
    fn items_have_names_and_prices() {
        for (item, name, price) in PRICES {
            assert_eq!(Item::parse(name), Some(item));
            assert_eq!(item.name(), name);
            assert!(price > 0.0);
        }
        assert_eq!(dollars(Item::D1RowsWritten, 2_000_000), 2.0);
    }

    #[test]
    fn a_meter_sums_and_empties() {
        let mut m = Meter::default();
        m.add(Item::KvWrites, 2);
        m.add(Item::KvWrites, 3);
        m.add(Item::D1RowsRead, 0);
        assert_eq!(m.take(), vec![(Item::KvWrites, 5)]);
        assert!(m.take().is_empty());
        assert_eq!(Meter::parse_header(&Meter::header(7, 3)), Some((7, 3)));
        assert_eq!(Meter::parse_header("x"), None);
    }

    #[test]
    fn a_usage_report_prices_each_day() {
        let rows = vec![
            UsageRow {
                day: "2026-12-07".into(),
                item: "d1_rows_written".into(),
                units: 3_000_000,
            },
            UsageRow {
                day: "2026-12-07".into(),
                item: "worker_requests".into(),
                units: 1_000_000,
            },
            UsageRow {
                day: "2026-12-08".into(),
                item: "kv_writes".into(),
                units: 200_000,
            },
            UsageRow {
                day: "2026-12-08".into(),
                item: "retired_item".into(),
                units: 5,
            },
        ];
        let stored = vec![StoredRow {
            day: "2026-12-07".into(),
            events: 1_000_000,
            bytes: 9,
        }];
        let report = usage_report(&rows, &stored);
        let first = &report["days"][0];
        assert_eq!(first["day"], "2026-12-07");
        assert!((first["usd"].as_f64().unwrap() - 3.3).abs() < 1e-9);
        assert!((first["usd_per_million_events"].as_f64().unwrap() - 3.3).abs() < 1e-9);
        assert_eq!(report["days"][1]["items"].as_array().unwrap().len(), 1);
        assert!((report["total"]["usd"].as_f64().unwrap() - 4.3).abs() < 1e-9);
    }
}
