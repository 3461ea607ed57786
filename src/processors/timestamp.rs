//! Timestamps: RFC 3339 or Unix epoch numbers in, one fixed-width UTC text out.
//!
//! Stored times are `YYYY-MM-DDTHH:MM:SS.mmmZ`: fixed width, so comparing the text compares
//! the instants, which lets D1 index and range-scan them as plain TEXT.

use crate::processors::Invalid;
use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use serde_json::Value;

/// Earliest and latest instants we store: the fixed-width format needs four-digit years.
const MIN_MS: i64 = -62_135_596_800_000; // 0001-01-01T00:00:00Z
const MAX_MS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

pub fn format_ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn from_millis(ms: i64) -> Option<DateTime<Utc>> {
    if !(MIN_MS..=MAX_MS).contains(&ms) {
        return None;
    }
    Utc.timestamp_millis_opt(ms).single()
}

/// An epoch number whose unit is read from its magnitude: seconds below 10^11 (until the year
/// 5138), milliseconds below 10^14, microseconds below 10^17, else nanoseconds. Seconds may
/// carry a fraction.
pub fn from_epoch_number(n: f64) -> Option<DateTime<Utc>> {
    if !n.is_finite() || n < 0.0 {
        return None;
    }
    let ms = if n < 1e11 {
        n * 1000.0
    } else if n < 1e14 {
        n
    } else if n < 1e17 {
        n / 1000.0
    } else {
        n / 1_000_000.0
    };
    from_millis(ms.round() as i64)
}

/// [`parse_text`] for a bound of a time range (`from`, `to`): an RFC 3339 instant before the
/// year 1 or after 9999 is the first or last instant we store, since no event lies beyond it.
pub fn parse_bound(s: &str) -> Option<DateTime<Utc>> {
    parse_text(s).or_else(|| {
        let t = DateTime::parse_from_rfc3339(s.trim())
            .ok()?
            .with_timezone(&Utc);
        let ms = t.timestamp_millis().clamp(MIN_MS, MAX_MS);
        from_millis(ms)
    })
}

/// RFC 3339, also with a space for the `T` and without a zone (read as UTC), or a numeric string.
pub fn parse_text(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return in_range(t.with_timezone(&Utc));
    }
    let with_t = s.replacen(' ', "T", 1);
    if let Ok(t) = DateTime::parse_from_rfc3339(&with_t) {
        return in_range(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(&with_t, format) {
            return in_range(Utc.from_utc_datetime(&naive));
        }
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return s.parse::<f64>().ok().and_then(from_epoch_number);
    }
    None
}

fn in_range(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    from_millis(t.timestamp_millis())
}

/// Reads the event's `timestamp` field; `None` (absent or null) means "use the time received".
pub fn parse_timestamp(value: Option<&Value>) -> Result<Option<DateTime<Utc>>, Invalid> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            n.as_f64()
                .and_then(from_epoch_number)
                .map(Some)
                .ok_or_else(|| {
                    Invalid::new(format!(
                        "timestamp {n} is not a Unix epoch time in seconds or milliseconds"
                    ))
                })
        }
        Some(Value::String(s)) => parse_text(s).map(Some).ok_or_else(|| {
            Invalid::new(format!(
                "timestamp '{}' is not RFC 3339 (e.g. 2024-05-01T12:00:00Z) or a Unix epoch",
                super::level::truncate_for_message(s)
            ))
        }),
        Some(_) => Err(Invalid::new(
            "timestamp must be an RFC 3339 string or a Unix epoch number",
        )),
    }
}

/// Seconds of a Prometheus/Go duration (`1h30m`, `5m`, `1.5s`, `100ms`, `1d`, `1w`, `1y`).
pub fn parse_duration(text: &str) -> Option<f64> {
    let mut total = 0.0;
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let seconds = match unit {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            "d" => 86_400.0,
            "w" => 604_800.0,
            "y" => 31_536_000.0,
            _ => return None,
        };
        total += number * seconds;
    }
    Some(total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn accepted_forms() {
        let cases: Vec<(Value, &str)> = vec![
            (json!("2024-05-01T12:00:00Z"), "2024-05-01T12:00:00.000Z"),
            (
                json!("2024-05-01T12:00:00.123456Z"),
                "2024-05-01T12:00:00.123Z",
            ),
            (
                json!("2024-05-01T14:00:00+02:00"),
                "2024-05-01T12:00:00.000Z",
            ),
            (json!("2024-05-01t12:00:00z"), "2024-05-01T12:00:00.000Z"),
            (json!("2024-05-01 12:00:00Z"), "2024-05-01T12:00:00.000Z"),
            (json!("2024-05-01 12:00:00.5"), "2024-05-01T12:00:00.500Z"),
            (json!("2024-05-01T12:00:00"), "2024-05-01T12:00:00.000Z"),
            (json!("2024-05-01T12:00"), "2024-05-01T12:00:00.000Z"),
            (json!(1714564800), "2024-05-01T12:00:00.000Z"),
            (json!(1714564800.25), "2024-05-01T12:00:00.250Z"),
            (json!(1714564800123_i64), "2024-05-01T12:00:00.123Z"),
            (json!(1714564800123456_i64), "2024-05-01T12:00:00.123Z"),
            (json!(1714564800123456789_i64), "2024-05-01T12:00:00.123Z"),
            (json!("1714564800"), "2024-05-01T12:00:00.000Z"),
            (json!("1714564800123"), "2024-05-01T12:00:00.123Z"),
            (json!(0), "1970-01-01T00:00:00.000Z"),
        ];
        for (input, expected) in cases {
            let t = parse_timestamp(Some(&input)).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(format_ts(t.unwrap()), expected, "{input}");
        }
        assert_eq!(parse_timestamp(None).unwrap(), None);
        assert_eq!(parse_timestamp(Some(&Value::Null)).unwrap(), None);
    }

    #[test]
    fn malformed_timestamps_are_rejected() {
        let cases = vec![
            json!(""),
            json!("yesterday"),
            json!("2024-13-01T00:00:00Z"),
            json!("2024-02-30T00:00:00Z"),
            json!("2024-05-01T25:00:00Z"),
            json!("12:00:00"),
            json!(-5),
            json!(true),
            json!([2024, 5, 1]),
            json!({"seconds": 1}),
            json!("1.2.3"),
            json!("10000-01-01T00:00:00Z"),
        ];
        for input in cases {
            let err = parse_timestamp(Some(&input)).expect_err(&input.to_string());
            assert!(err.message().contains("timestamp"), "{err}");
        }
    }

    #[test]
    fn fixed_width_text_orders_like_time() {
        let a = format_ts(from_millis(999).unwrap());
        let b = format_ts(from_millis(1_000).unwrap());
        let c = format_ts(from_millis(1_714_564_800_000).unwrap());
        assert!(a < b && b < c);
        assert_eq!(a.len(), b.len());
        assert_eq!(b.len(), c.len());
    }
}
