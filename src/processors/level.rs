//! Log levels: names, aliases and OpenTelemetry severity numbers onto one canonical scale.
//!
//! Canonical names and their severity numbers follow the OpenTelemetry log data model's
//! mapping of syslog (Appendix B): notice is INFO2, critical ERROR2, alert ERROR3; fatal is
//! FATAL and emergency, the most severe syslog level, FATAL4.
//!
//! | number | name      |   | number | name      |
//! |--------|-----------|---|--------|-----------|
//! | 1–4    | trace     |   | 17     | error     |
//! | 5–8    | debug     |   | 18     | critical  |
//! | 9      | info      |   | 19–20  | alert     |
//! | 10–12  | notice    |   | 21–23  | fatal     |
//! | 13–16  | warn      |   | 24     | emergency |

use crate::processors::Invalid;
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Notice,
    Warn,
    Error,
    Critical,
    Alert,
    Fatal,
    Emergency,
}

/// A level as stored: canonical name plus the severity number (kept as sent when a number was sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Severity {
    pub level: Level,
    pub number: u8,
}

impl Level {
    pub const ALL: [Level; 10] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Notice,
        Level::Warn,
        Level::Error,
        Level::Critical,
        Level::Alert,
        Level::Fatal,
        Level::Emergency,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Notice => "notice",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Critical => "critical",
            Level::Alert => "alert",
            Level::Fatal => "fatal",
            Level::Emergency => "emergency",
        }
    }

    /// The severity number a level name stands for.
    pub fn severity_number(self) -> u8 {
        match self {
            Level::Trace => 1,
            Level::Debug => 5,
            Level::Info => 9,
            Level::Notice => 10,
            Level::Warn => 13,
            Level::Error => 17,
            Level::Critical => 18,
            Level::Alert => 19,
            Level::Fatal => 21,
            Level::Emergency => 24,
        }
    }

    /// The level an OpenTelemetry severity number (1–24) falls in.
    pub fn from_severity_number(n: u8) -> Option<Level> {
        Some(match n {
            1..=4 => Level::Trace,
            5..=8 => Level::Debug,
            9 => Level::Info,
            10..=12 => Level::Notice,
            13..=16 => Level::Warn,
            17 => Level::Error,
            18 => Level::Critical,
            19..=20 => Level::Alert,
            21..=23 => Level::Fatal,
            24 => Level::Emergency,
            _ => return None,
        })
    }

    /// A name or alias, case-insensitive: the spellings of syslog, log4j/logback, Python,
    /// java.util.logging, Go's zap/logrus, Serilog/.NET and the browser console.
    pub fn from_name(name: &str) -> Option<Level> {
        let mut buf = [0; 16];
        Some(match super::short_lowercase(name, &mut buf)? {
            "trace" | "trc" | "verbose" | "finest" | "finer" | "all" => Level::Trace,
            "debug" | "dbg" | "fine" | "config" | "log" => Level::Debug,
            "info" | "inf" | "information" | "informational" => Level::Info,
            "notice" => Level::Notice,
            "warn" | "warning" | "wrn" => Level::Warn,
            "error" | "err" | "eror" | "severe" => Level::Error,
            "critical" | "crit" | "crt" => Level::Critical,
            "alert" => Level::Alert,
            "fatal" | "ftl" | "panic" | "dpanic" => Level::Fatal,
            "emergency" | "emerg" => Level::Emergency,
            _ => return None,
        })
    }

    pub fn names() -> String {
        Level::ALL
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Reads the `level` field: a name, an alias, a number 1–24, or a numeric string.
/// `None` (absent or null) is `info`. Errors are sentences for the per-event error list.
pub fn parse_level(value: Option<&Value>) -> Result<Severity, Invalid> {
    let from_number = |n: f64| -> Result<Severity, Invalid> {
        if n.fract() != 0.0 || !(1.0..=24.0).contains(&n) {
            return Err(Invalid::new(format!(
                "level {n} is not an OpenTelemetry severity number (a whole number from 1 to 24)"
            )));
        }
        let number = n as u8;
        let level = Level::from_severity_number(number).expect("1..=24 always maps");
        Ok(Severity { level, number })
    };
    match value {
        None | Some(Value::Null) => Ok(Severity {
            level: Level::Info,
            number: 9,
        }),
        Some(Value::Number(n)) => from_number(n.as_f64().unwrap_or(f64::NAN)),
        Some(Value::String(s)) => {
            if let Some(level) = Level::from_name(s) {
                return Ok(Severity {
                    level,
                    number: level.severity_number(),
                });
            }
            match s.trim().parse::<f64>() {
                Ok(n) => from_number(n),
                Err(_) => Err(Invalid::new(format!(
                    "level '{}' is unknown; use one of {} or a severity number 1-24",
                    truncate_for_message(s),
                    Level::names()
                ))),
            }
        }
        Some(_) => Err(Invalid::new("level must be a string or a number")),
    }
}

/// Shortens user input quoted back in an error message.
pub fn truncate_for_message(s: &str) -> String {
    if s.chars().count() > 40 {
        format!("{}…", s.chars().take(40).collect::<String>())
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_aliases_and_numbers() {
        let cases: Vec<(Value, &str, u8)> = vec![
            (json!("trace"), "trace", 1),
            (json!("VERBOSE"), "trace", 1),
            (json!("debug"), "debug", 5),
            (json!("Info"), "info", 9),
            (json!(" information "), "info", 9),
            (json!("notice"), "notice", 10),
            (json!("warn"), "warn", 13),
            (json!("WARNING"), "warn", 13),
            (json!("error"), "error", 17),
            (json!("err"), "error", 17),
            (json!("SEVERE"), "error", 17),
            (json!("critical"), "critical", 18),
            (json!("crit"), "critical", 18),
            (json!("alert"), "alert", 19),
            (json!("fatal"), "fatal", 21),
            (json!("panic"), "fatal", 21),
            (json!("emergency"), "emergency", 24),
            (json!("emerg"), "emergency", 24),
            (json!(1), "trace", 1),
            (json!(4), "trace", 4),
            (json!(5), "debug", 5),
            (json!(9), "info", 9),
            (json!(11), "notice", 11),
            (json!(13), "warn", 13),
            (json!(17), "error", 17),
            (json!(18), "critical", 18),
            (json!(20), "alert", 20),
            (json!(21), "fatal", 21),
            (json!(24), "emergency", 24),
            (json!(17.0), "error", 17),
            (json!("17"), "error", 17),
            (Value::Null, "info", 9),
        ];
        for (input, name, number) in cases {
            let sev = parse_level(Some(&input)).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(sev.level.as_str(), name, "{input}");
            assert_eq!(sev.number, number, "{input}");
        }
        assert_eq!(parse_level(None).unwrap().level, Level::Info);
    }

    #[test]
    fn malformed_levels_are_rejected_with_a_sentence() {
        let cases = vec![
            json!("loud"),
            json!(""),
            json!(0),
            json!(25),
            json!(-3),
            json!(17.5),
            json!("99"),
            json!(true),
            json!({"name": "error"}),
            json!(["error"]),
        ];
        for input in cases {
            let err = parse_level(Some(&input)).expect_err(&input.to_string());
            assert!(err.message().contains("level"), "{err}");
        }
    }

    #[test]
    fn every_number_maps_and_names_round_trip() {
        for n in 1..=24u8 {
            let level = Level::from_severity_number(n).unwrap();
            assert!(Level::from_severity_number(level.severity_number()) == Some(level));
        }
        for level in Level::ALL {
            assert_eq!(Level::from_name(level.as_str()), Some(level));
        }
        let numbers: Vec<u8> = Level::ALL.iter().map(|l| l.severity_number()).collect();
        assert!(
            numbers.windows(2).all(|w| w[0] < w[1]),
            "ordered: {numbers:?}"
        );
    }
}
