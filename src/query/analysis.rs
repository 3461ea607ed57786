//! Trends and anomalies from hourly counts. Pure: the edge reads the counts from
//! the rollups (`group_counts_hour`, `event_counts_*`), passes the clock, and gets numbers back.
//!
//! **Trend.** The current window is the last `window_hours` hours up to now, the current hour
//! included as far as it has gone; the previous window is the `window_hours` before it. Each
//! is a rate per hour (the current window's elapsed time counts at least ten minutes of its
//! open hour, so a new hour's first event is not extrapolated sixfold), and the change is
//! `(current − previous) / previous` in percent. No previous events: the direction is `new`.
//!
//! **Anomaly.** The current hour's rate `x` (its count so far over the elapsed fraction `f` of
//! the hour, `f` at least 1/6) against the 24 full hours before it, by a robust z-score:
//! `z = (x − median) / scale`, where `scale = max(1.4826 × MAD, √(max(median, 1) / f))`.
//! 1.4826 × MAD estimates the standard deviation of normal data without letting one earlier
//! burst widen it; the floor is the Poisson noise of a rate measured over `f` of an hour, so a
//! flat baseline (MAD 0) does not turn one extra event into an anomaly, and the first minutes
//! of an hour (few events, a noisy rate) are judged with the width they deserve. A **spike** is
//! `z ≥ 3.5` (Iglewicz and Hoaglin's cut-off) with at least 5 events more than the median
//! expected so far (`(x − median) × f ≥ 5`); a **drop** ("went quiet") is `z ≤ −3.5` where at least 5 events were expected so far
//! (`median × f ≥ 5`).

use serde::Serialize;

/// Hours of history an anomaly is judged against.
pub const BASELINE_HOURS: usize = 24;
pub const Z_THRESHOLD: f64 = 3.5;
/// A spike needs this many events more than expected so far; a drop this many expected.
pub const MIN_EVENTS: f64 = 5.0;
/// The open hour counts as at least this much of an hour when turned into a rate.
const MIN_ELAPSED_HOURS: f64 = 10.0 / 60.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Up,
    Down,
    Flat,
    New,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub window_hours: u32,
    /// Events in the current window so far, and in the whole previous one.
    pub current: i64,
    pub previous: i64,
    /// Per-hour rates of both windows.
    pub current_rate: f64,
    pub previous_rate: f64,
    /// `None` when the previous window had no events.
    pub change_pct: Option<f64>,
    pub direction: Direction,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyKind {
    Spike,
    Drop,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Anomaly {
    /// The robust z-score of the current hour's rate (0 without history).
    pub score: f64,
    pub baseline_median: f64,
    pub current_rate: f64,
    /// `None` when the current hour is ordinary.
    pub kind: Option<AnomalyKind>,
}

/// Hourly counts ending with the open hour: `counts[last]` is the current hour, which has run
/// for `elapsed_fraction` (0–1) of its length.
#[derive(Debug, Clone, PartialEq)]
pub struct HourlySeries<'a> {
    pub counts: &'a [i64],
    pub elapsed_fraction: f64,
}

impl HourlySeries<'_> {
    fn open_hour_rate(&self) -> f64 {
        let last = self.counts.last().copied().unwrap_or(0) as f64;
        last / self.elapsed_fraction.clamp(MIN_ELAPSED_HOURS, 1.0)
    }

    pub fn trend(&self, window_hours: u32) -> Trend {
        let w = window_hours.max(1) as usize;
        let n = self.counts.len();
        let current_slice = &self.counts[n.saturating_sub(w)..];
        let previous_slice = &self.counts[n.saturating_sub(2 * w)..n.saturating_sub(w)];
        let current: i64 = current_slice.iter().sum();
        let previous: i64 = previous_slice.iter().sum();
        let elapsed = (w - 1) as f64 + self.elapsed_fraction.clamp(MIN_ELAPSED_HOURS, 1.0);
        let current_rate = current as f64 / elapsed;
        let previous_rate = previous as f64 / w as f64;
        let change_pct =
            (previous > 0).then(|| round1((current_rate - previous_rate) / previous_rate * 100.0));
        let direction = match change_pct {
            None if current > 0 => Direction::New,
            None => Direction::None,
            Some(p) if p >= 10.0 => Direction::Up,
            Some(p) if p <= -10.0 => Direction::Down,
            Some(_) => Direction::Flat,
        };
        Trend {
            window_hours: w as u32,
            current,
            previous,
            current_rate: round1(current_rate),
            previous_rate: round1(previous_rate),
            change_pct,
            direction,
        }
    }

    pub fn anomaly(&self) -> Anomaly {
        let n = self.counts.len();
        let baseline: Vec<f64> = self.counts
            [n.saturating_sub(BASELINE_HOURS + 1)..n.saturating_sub(1)]
            .iter()
            .map(|c| *c as f64)
            .collect();
        let x = self.open_hour_rate();
        judge(&baseline, x, self.elapsed_fraction)
    }
}

/// The robust z-score of the rate `x`, measured over `elapsed` of an hour, against `baseline`
/// (hourly counts), and whether it is a spike or a drop.
pub fn judge(baseline: &[f64], x: f64, elapsed: f64) -> Anomaly {
    let f = elapsed.clamp(MIN_ELAPSED_HOURS, 1.0);
    if baseline.is_empty() {
        return Anomaly {
            score: 0.0,
            baseline_median: 0.0,
            current_rate: round1(x),
            kind: None,
        };
    }
    let m = median(baseline);
    let deviations: Vec<f64> = baseline.iter().map(|v| (v - m).abs()).collect();
    let mad = median(&deviations);
    let scale = (1.4826 * mad).max((m.max(1.0) / f).sqrt());
    let z = (x - m) / scale;
    let kind = if z >= Z_THRESHOLD && (x - m) * f >= MIN_EVENTS {
        Some(AnomalyKind::Spike)
    } else if z <= -Z_THRESHOLD && m * f >= MIN_EVENTS {
        Some(AnomalyKind::Drop)
    } else {
        None
    };
    Anomaly {
        score: round1(z),
        baseline_median: round1(m),
        current_rate: round1(x),
        kind,
    }
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A day of steady traffic around `level` with deterministic noise, then the open hour.
    fn day_then(level: i64, open_hour: i64) -> Vec<i64> {
        let mut v: Vec<i64> = (0..BASELINE_HOURS as i64)
            .map(|i| level + [0, 3, -2, 4, -3, 1, -1, 2][(i % 8) as usize])
            .collect();
        v.push(open_hour);
        v
    }

    #[test]
    fn known_spikes_and_drops_are_found_and_ordinary_hours_are_not() {
        let cases: &[(&str, Vec<i64>, f64, Option<AnomalyKind>)] = &[
            ("steady", day_then(40, 41), 1.0, None),
            ("a burst", day_then(40, 160), 1.0, Some(AnomalyKind::Spike)),
            (
                "a burst early in the hour",
                day_then(40, 30),
                0.25,
                Some(AnomalyKind::Spike),
            ),
            ("early and ordinary", day_then(40, 10), 0.25, None),
            ("silence", day_then(40, 0), 1.0, Some(AnomalyKind::Drop)),
            (
                "a quarter of the usual",
                day_then(40, 10),
                1.0,
                Some(AnomalyKind::Drop),
            ),
            // Half of 40/h is 3.2 Poisson deviations down: within what chance does.
            ("half the usual", day_then(40, 20), 1.0, None),
            ("a quiet service staying quiet", day_then(0, 0), 1.0, None),
            ("one extra event on a flat zero", day_then(0, 1), 1.0, None),
            (
                "a first burst from nothing",
                day_then(0, 12),
                1.0,
                Some(AnomalyKind::Spike),
            ),
            ("no history", vec![50], 1.0, None),
            // Three events a few minutes into the hour extrapolate to 18/h, but are 3 events.
            (
                "three events from nothing, early",
                day_then(0, 3),
                5.0 / 60.0,
                None,
            ),
            // Five minutes into an hour of a 12/h stream, no event yet is what chance does.
            (
                "a quiet start of the hour",
                day_then(12, 0),
                5.0 / 60.0,
                None,
            ),
            (
                "silence for most of an hour",
                day_then(40, 0),
                0.75,
                Some(AnomalyKind::Drop),
            ),
        ];
        for (name, counts, elapsed, want) in cases {
            let a = HourlySeries {
                counts,
                elapsed_fraction: *elapsed,
            }
            .anomaly();
            assert_eq!(a.kind, *want, "{name}: {a:?}");
        }
    }

    #[test]
    fn one_earlier_burst_does_not_hide_the_next() {
        // A mean and standard deviation would be dragged up by hour 5's burst; the median and
        // MAD are not, so a second burst is still seen.
        let mut counts = day_then(20, 100);
        counts[5] = 400;
        let a = HourlySeries {
            counts: &counts,
            elapsed_fraction: 1.0,
        }
        .anomaly();
        assert_eq!(a.kind, Some(AnomalyKind::Spike), "{a:?}");
        assert_eq!(a.baseline_median, 20.5);
    }

    #[test]
    fn trends_compare_rates_of_whole_windows() {
        // 24 h windows: 10/h before, 16/h now (the open hour half gone: 8 events so far).
        let mut counts = vec![10; 24];
        counts.extend(vec![16; 23]);
        counts.push(8);
        let t = HourlySeries {
            counts: &counts,
            elapsed_fraction: 0.5,
        }
        .trend(24);
        assert_eq!((t.current, t.previous), (16 * 23 + 8, 240));
        assert_eq!(t.previous_rate, 10.0);
        assert_eq!(t.current_rate, 16.0);
        assert_eq!(t.change_pct, Some(60.0));
        assert_eq!(t.direction, Direction::Up);

        let quieter = HourlySeries {
            counts: &[20, 5],
            elapsed_fraction: 1.0,
        }
        .trend(1);
        assert_eq!(
            (quieter.change_pct, quieter.direction),
            (Some(-75.0), Direction::Down)
        );
        let same = HourlySeries {
            counts: &[20, 21],
            elapsed_fraction: 1.0,
        }
        .trend(1);
        assert_eq!(same.direction, Direction::Flat);
        let new = HourlySeries {
            counts: &[0, 0, 3],
            elapsed_fraction: 0.2,
        }
        .trend(1);
        assert_eq!((new.change_pct, new.direction), (None, Direction::New));
        let none = HourlySeries {
            counts: &[],
            elapsed_fraction: 0.2,
        }
        .trend(6);
        assert_eq!((none.current, none.direction), (0, Direction::None));
    }
}
