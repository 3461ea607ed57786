//! The read API: query parameters into SQL and rows into answers, for logs (`logs`), groups
//! (`groups`), stats (`stats`), ad-hoc aggregation (`aggregate`), hourly series (`trends`) and
//! trend and anomaly scores (`analysis`). Pure: the edge runs the statements and passes the clock.

pub mod aggregate;
pub mod analysis;
pub mod filter;
pub mod groups;
#[cfg(target_arch = "wasm32")]
pub(crate) mod groups_store;
pub mod logs;
#[cfg(target_arch = "wasm32")]
pub(crate) mod releases_store;
pub mod search;
pub mod stats;
pub mod trends;

/// The OpenAPI document against the parsers: the same parameters, the same bounds, and
/// patterns that accept exactly what the parsers accept, for the values that matter.
#[cfg(test)]
mod contract {
    use serde_json::Value;

    use super::groups::GROUP_PARAMS;
    use super::logs::{
        decode_cursor, encode_cursor, parse_log_query, MAX_ALERTS_LIMIT, MAX_DEAD_LETTERS_LIMIT,
        MAX_LIMIT,
    };
    use super::stats::STATS_PARAMS;

    use crate::processors::level::Level;
    use crate::storage::HOT_FEED_SIZE;

    fn doc() -> Value {
        crate::handlers::openapi::document()
    }

    fn params(path: &str) -> Vec<Value> {
        doc()["paths"][path]["get"]["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn names(path: &str) -> Vec<String> {
        let mut n: Vec<String> = params(path)
            .iter()
            .map(|p| p["name"].as_str().unwrap().to_string())
            .collect();
        n.sort();
        n
    }

    fn schema(path: &str, name: &str) -> Value {
        params(path)
            .into_iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{path} documents no {name}"))["schema"]
            .clone()
    }

    fn pattern(path: &str, name: &str) -> regex::Regex {
        regex::Regex::new(schema(path, name)["pattern"].as_str().unwrap()).unwrap()
    }

    fn sorted(list: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn every_parameter_the_parsers_take_is_documented_and_no_other() {
        assert_eq!(names("/v1/groups"), sorted(GROUP_PARAMS));
        assert_eq!(names("/v1/stats"), sorted(STATS_PARAMS));
        // The logs parser's own list is in its error for an unknown parameter.
        let err = parse_log_query(&[("nope".into(), "x".into())])
            .unwrap_err()
            .message();
        let known = err
            .split("known: ")
            .nth(1)
            .unwrap()
            .replace(", tag.<name>", "");
        let mut known: Vec<String> = known.split(", ").map(str::to_string).collect();
        known.push("tags".into()); // the tag.<name> family, one object parameter
        known.sort();
        assert_eq!(names("/v1/logs"), known);
    }

    #[test]
    fn limits_are_the_parsers() {
        for (path, max) in [
            ("/v1/logs", MAX_LIMIT),
            ("/v1/groups", MAX_LIMIT),
            ("/v1/recent", HOT_FEED_SIZE),
            ("/v1/alerts", MAX_ALERTS_LIMIT),
            ("/v1/dead-letters", MAX_DEAD_LETTERS_LIMIT),
        ] {
            let s = schema(path, "limit");
            assert_eq!(
                (s["minimum"].as_u64(), s["maximum"].as_u64()),
                (Some(1), Some(max as u64)),
                "{path}"
            );
        }
    }

    #[test]
    fn level_patterns_accept_every_name_and_alias_and_nothing_else() {
        let list = pattern("/v1/logs", "level");
        for level in Level::ALL {
            assert!(list.is_match(level.as_str()), "{}", level.as_str());
            assert!(Level::from_name(level.as_str()).is_some());
        }
        for alias in ["warning", "ERR", "Crit", "emerg", "dpanic", "info, warn"] {
            assert!(list.is_match(alias), "{alias}");
            assert!(
                parse_log_query(&[("level".into(), alias.into())]).is_ok(),
                "{alias}"
            );
        }
        for bad in ["", "nope", "info,", ",", "info,,warn", "13"] {
            assert!(!list.is_match(bad), "{bad}");
            assert!(
                parse_log_query(&[("level".into(), bad.into())]).is_err(),
                "{bad}"
            );
        }
        let min = pattern("/v1/logs", "min_level");
        for ok in ["warn", "WARNING", "1", "13", "24"] {
            assert!(
                min.is_match(ok) && parse_log_query(&[("min_level".into(), ok.into())]).is_ok(),
                "{ok}"
            );
        }
        for bad in ["0", "25", "x"] {
            assert!(
                !min.is_match(bad) && parse_log_query(&[("min_level".into(), bad.into())]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn the_cursor_pattern_is_what_the_api_issues_and_reads() {
        let p = pattern("/v1/logs", "cursor");
        let issued = encode_cursor(
            "2026-12-03T14:00:00.123Z",
            "0190a1b2-0000-7000-8000-000000000000",
        );
        assert!(p.is_match(&issued) && decode_cursor(&issued).is_ok());
        for bad in ["x", "2026-12-03T14:00:00Z_x", "2026-12-03T14:00:00.123Z_"] {
            assert!(!p.is_match(bad) && decode_cursor(bad).is_err(), "{bad}");
        }
    }
}
