//! Spike protection: when a project receives, over five minutes, more than `multiplier` times
//! its own trailing 24-hour rate, only a sample is kept until it calms — each group's first
//! [`KEEP_PER_GROUP_MINUTE`] events a minute, then one in [`KEEP_ONE_IN`] — and one alert says
//! so (at most one a day). The counts ride on the quota's grant statement; a project opts in
//! with `spike_multiplier` in its quota.
//!
//! Pure: the windows, the baseline, the decision, the sample.

use chrono::{DateTime, Timelike, Utc};

/// A five-minute window with fewer events than this never counts as a spike.
pub const SPIKE_MIN_EVENTS: i64 = 100;
/// While a spike lasts: the first events of each group in a minute are kept …
pub const KEEP_PER_GROUP_MINUTE: u32 = 100;
/// … then one in this many.
pub const KEEP_ONE_IN: u32 = 10;
/// Five-minute windows in a day, less the current one.
const WINDOWS_BEFORE: f64 = 287.0;

/// The five-minute window of a time: `YYYY-MM-DDTHH:M0` or `…:M5`.
pub fn five_minute(now: DateTime<Utc>) -> String {
    let minute = now.minute() - now.minute() % 5;
    format!("{}:{minute:02}", now.format("%Y-%m-%dT%H"))
}

/// The project's events per five minutes over the trailing day, the current window left out:
/// the part of yesterday still within 24 hours (as a share of yesterday's count) and today's
/// before this window.
pub fn baseline(yesterday: i64, today: i64, this_window: i64, now: DateTime<Utc>) -> f64 {
    let elapsed = (now.num_seconds_from_midnight() as f64 / 86_400.0).clamp(0.0, 1.0);
    let trailing = yesterday as f64 * (1.0 - elapsed) + (today - this_window).max(0) as f64;
    trailing / WINDOWS_BEFORE
}

/// Whether this window is a spike: over the floor, and over `multiplier` times the baseline.
pub fn engaged(multiplier: f64, this_window: i64, baseline: f64) -> bool {
    this_window > SPIKE_MIN_EVENTS && this_window as f64 > multiplier * baseline.max(1.0)
}

/// Whether an event is kept during a spike: its group's `seen`-th event this minute (from 0),
/// or, past the first ones, one in [`KEEP_ONE_IN`] by its id's stable hash.
pub fn keep(seen: u32, id: &str) -> bool {
    seen < KEEP_PER_GROUP_MINUTE || super::rules::unit_hash(id) < 1.0 / KEEP_ONE_IN as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::timestamp::parse_text;

    #[test]
    fn a_twenty_fold_burst_engages_and_calm_releases() {
        let now = parse_text("2026-12-07T12:07:30.000Z").unwrap();
        assert_eq!(five_minute(now), "2026-12-07T12:05");
        // 2,880 events a day: ten per five minutes.
        let base = baseline(2880, 1440 + 15, 15, now);
        assert!((base - 10.0).abs() < 0.2, "{base}");
        assert!(!engaged(20.0, 15, base), "a normal window");
        assert!(!engaged(20.0, 150, base), "over the floor, under 20×");
        assert!(engaged(20.0, 250, base), "a 25× window");
        assert!(
            !engaged(20.0, 90, 0.0),
            "never under the floor, even for a new project"
        );
    }

    #[test]
    fn a_spike_keeps_each_groups_first_events_then_a_tenth() {
        assert!((0..KEEP_PER_GROUP_MINUTE).all(|seen| keep(seen, "any")));
        let kept = (0..10_000)
            .filter(|i| keep(KEEP_PER_GROUP_MINUTE, &format!("e{i}")))
            .count();
        assert!((800..=1200).contains(&kept), "{kept}");
    }
}
