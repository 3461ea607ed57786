//! Alert rules and the decisions around them. Pure: the consumer brings the counts, the last
//! notification time and the clock; this decides what fires and what is throttled or muted.
//! What each channel receives is `crate::alerting::channels`'.
//!
//! A rule fires on a `threshold` (`count` matching events within `window_seconds`, optionally
//! per fingerprint or component), on a `new_group` (a fingerprint never seen before) or on a
//! `regression` (a resolved group that occurs again), or on the hourly rate of the matching
//! events: a `spike` or a drop (`quiet`) against its own baseline, as `crate::query::analysis` judges
//! it (the cron looks every five minutes).

use chrono::{DateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{invalid_parameter as bad, AppError};
use crate::model::StoredEvent;
use crate::processors::environment::normalize_environment;
use crate::processors::level::Level;
use crate::security::keys::valid_project;

pub const MAX_CHANNELS: usize = 10;
pub use super::receivers::{masked_url, Channel, MASK};
const MAX_WINDOW_SECONDS: i64 = 86_400;
const MAX_THROTTLE_SECONDS: i64 = 7 * 86_400;

/// The reason of a transition left by a group whose "ignored until" condition was met.
pub const IGNORE_UNTIL_MET: &str = "ignore_until";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    Threshold,
    NewGroup,
    Regression,
    Spike,
    Quiet,
}

impl Trigger {
    pub fn as_str(&self) -> &'static str {
        match self {
            Trigger::Threshold => "threshold",
            Trigger::NewGroup => "new_group",
            Trigger::Regression => "regression",
            Trigger::Spike => "spike",
            Trigger::Quiet => "quiet",
        }
    }

    /// Rules judged from hourly counts by the cron rather than from events as they arrive.
    pub fn is_rate(&self) -> bool {
        matches!(self, Trigger::Spike | Trigger::Quiet)
    }

    /// Whether a rule on this trigger takes a group transition of `kind` (`new_group` or
    /// `regression`) and `reason`: its own kind, and a group back from "ignored until" is news
    /// to new-group rules as well as to regression rules.
    pub fn takes_transition(&self, kind: &str, reason: Option<&str>) -> bool {
        match self {
            Trigger::NewGroup => kind == "new_group" || reason == Some(IGNORE_UNTIL_MET),
            Trigger::Regression => kind == "regression",
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleMatch {
    pub min_level: Option<String>,
    /// Only events at or below this level (e.g. warnings but not errors).
    pub max_level: Option<String>,
    pub environment: Option<String>,
    pub component: Option<String>,
    pub route: Option<String>,
    pub fingerprint: Option<String>,
    pub q: Option<String>,
    /// The search language (as in `/v1/logs?query=`), on top of the fields above.
    pub query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    #[serde(deserialize_with = "whole_number")]
    pub count: i64,
    #[serde(deserialize_with = "whole_number")]
    pub window_seconds: i64,
    /// Fire only when this many windows in a row reached `count` (a problem that persists).
    #[serde(default = "one", deserialize_with = "whole_number")]
    pub consecutive_windows: i64,
}

/// A whole number, also when written `60.0`: JSON (and JSON Schema's `integer`) does not tell
/// them apart, and some clients write every number as a float.
fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    let n = serde_json::Number::deserialize(d)?;
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .ok_or_else(|| serde::de::Error::custom(format!("{n} is not a whole number")))
}

fn one() -> i64 {
    1
}

impl Default for Threshold {
    fn default() -> Self {
        Threshold {
            count: 1,
            window_seconds: 60,
            consecutive_windows: 1,
        }
    }
}

/// A time of the week when notifications are held back (recorded, not sent).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteWindow {
    /// `HH:MM` local time; a window whose end is before its start wraps past midnight.
    pub start: String,
    pub end: String,
    #[serde(default = "utc")]
    pub tz: String,
    /// `mon`…`sun`: the days the window starts on; empty means every day.
    #[serde(default)]
    pub days: Vec<String>,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    #[serde(default = "threshold_trigger")]
    pub trigger: Trigger,
    #[serde(default, rename = "match")]
    pub matcher: RuleMatch,
    #[serde(default)]
    pub threshold: Threshold,
    #[serde(default)]
    pub group_by: Option<String>,
    #[serde(default = "default_throttle", deserialize_with = "whole_number")]
    pub throttle_seconds: i64,
    #[serde(default)]
    pub mute: Vec<MuteWindow>,
    #[serde(default)]
    pub channels: Vec<Channel>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Only events of this project count (a rule of an unbound admin sees every project).
    #[serde(default)]
    pub project: Option<String>,
}

fn threshold_trigger() -> Trigger {
    Trigger::Threshold
}
fn default_throttle() -> i64 {
    300
}
fn yes() -> bool {
    true
}

/// IANA time zones: the local weekday and time of day of an instant, `None` for an unknown
/// zone. The worker answers from the runtime's ICU (`Intl`); native tests from chrono-tz.
pub trait TimeZones {
    fn local(&self, tz: &str, at: DateTime<Utc>) -> Option<(Weekday, NaiveTime)>;
}

crate::error::message_error!(
    /// Why `ALERT_CHANNELS` cannot be read (built-in alerts are then recorded but not sent).
    ChannelsError
);

/// The built-in alerts' channels from `ALERT_CHANNELS` as set (a JSON array); `Err` names
/// the problem when it is not one (built-in alerts are then recorded but not sent).
pub fn default_channels(raw: Option<&str>) -> Result<Vec<Channel>, ChannelsError> {
    match raw {
        None => Ok(Vec::new()),
        Some(json) => serde_json::from_str(json).map_err(|e| {
            ChannelsError::new(format!(
                "ALERT_CHANNELS is not a JSON array of channels ({e})"
            ))
        }),
    }
}

/// Every URL the channels call names a public receiver (`destinations`); the first that does
/// not is a 400 naming it.
pub fn check_destinations(
    channels: &[Channel],
    allowed: crate::alerting::destinations::Destinations,
) -> Result<(), AppError> {
    for (i, channel) in channels.iter().enumerate() {
        if let Some(url) = channel.base_url() {
            crate::alerting::destinations::check(&url, allowed)
                .map_err(|why| bad(format!("channels[{i}]: {why}")))?;
        }
    }
    Ok(())
}

/// `POST /v1/alert-rules/test`: `{"channels": [...]}` to test, and/or `{"rule_id": ...}` whose
/// channels are tested (or whose stored credentials fill the masks of `channels`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    #[serde(default)]
    pub channels: Option<Vec<Channel>>,
    #[serde(default)]
    pub rule_id: Option<String>,
}

/// Reads a test request; its channels are checked as a rule's would be.
pub fn parse_test_request(body: &[u8]) -> Result<TestRequest, AppError> {
    let request: TestRequest =
        serde_json::from_slice(body).map_err(|e| bad(format!("not a valid test request: {e}")))?;
    match &request.channels {
        None if request.rule_id.is_none() => {
            return Err(bad(
                "give channels to test, or the rule_id whose channels to test",
            ))
        }
        Some(channels) if channels.is_empty() || channels.len() > MAX_CHANNELS => {
            return Err(bad(format!("channels: 1 to {MAX_CHANNELS} channels")))
        }
        _ => {}
    }
    for (i, channel) in request.channels.iter().flatten().enumerate() {
        channel.validate(i, channel_url_ok).map_err(bad)?;
    }
    Ok(request)
}

/// Parses and validates a rule body (as created or replaced).
pub fn parse_rule(body: &[u8], zones: &dyn TimeZones) -> Result<AlertRule, AppError> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| AppError::InvalidJson(format!("The body is not valid JSON: {e}.")))?;
    let mut rule: AlertRule =
        serde_json::from_value(value).map_err(|e| bad(format!("not a valid alert rule: {e}")))?;
    rule.name = rule.name.trim().to_string();
    if rule.name.is_empty() || rule.name.chars().count() > 200 {
        return Err(bad("name is required: 1 to 200 characters"));
    }
    if let Some(level) = &rule.matcher.min_level {
        let level = Level::from_name(level).ok_or_else(|| {
            bad(format!(
                "match.min_level '{level}' is unknown; use one of {}",
                Level::names()
            ))
        })?;
        rule.matcher.min_level = Some(level.as_str().into());
    }
    if let Some(level) = &rule.matcher.max_level {
        let level = Level::from_name(level).ok_or_else(|| {
            bad(format!(
                "match.max_level '{level}' is unknown; use one of {}",
                Level::names()
            ))
        })?;
        rule.matcher.max_level = Some(level.as_str().into());
    }
    if let Some(env) = &rule.matcher.environment {
        rule.matcher.environment = normalize_environment(env);
    }
    if rule
        .matcher
        .q
        .as_deref()
        .is_some_and(|q| q.trim().is_empty() || q.len() > 200)
    {
        return Err(bad("match.q must be 1 to 200 characters"));
    }
    if let Some(query) = &rule.matcher.query {
        let search = crate::query::search::parse(query)
            .map_err(|e| bad(format!("match.{}", e.message())))?;
        if let Some(term) = search.has_status() {
            return Err(crate::query::search::unsupported(
                term,
                "match.query",
                "event fields and tags (is: applies to groups)",
            ));
        }
        if search.terms.is_empty() {
            rule.matcher.query = None;
        }
    }
    if !(1..=1_000_000).contains(&rule.threshold.count) {
        return Err(bad("threshold.count must be from 1 to 1000000"));
    }
    if !(1..=MAX_WINDOW_SECONDS).contains(&rule.threshold.window_seconds) {
        return Err(bad(format!(
            "threshold.window_seconds must be from 1 to {MAX_WINDOW_SECONDS}"
        )));
    }
    if !(1..=24).contains(&rule.threshold.consecutive_windows) {
        return Err(bad("threshold.consecutive_windows must be from 1 to 24"));
    }
    if let Some(group_by) = &rule.group_by {
        if group_by != "fingerprint" && group_by != "component" {
            return Err(bad("group_by must be fingerprint, component or null"));
        }
    }
    if rule.trigger.is_rate() {
        // Rates come from the hourly count rollups, which hold no message text and are not
        // split per group for event-level filters.
        if rule.matcher.q.is_some() {
            return Err(bad(
                "match.q cannot be used by spike and quiet rules: rates come from hourly counts, which hold no text",
            ));
        }
        if rule.matcher.query.is_some() {
            return Err(bad(
                "match.query cannot be used by spike and quiet rules: rates come from hourly counts; use match's level, environment, component and route",
            ));
        }
        if rule.group_by.is_some() {
            return Err(bad(
                "group_by cannot be used by spike and quiet rules; use match.fingerprint for one group",
            ));
        }
    }
    if !(0..=MAX_THROTTLE_SECONDS).contains(&rule.throttle_seconds) {
        return Err(bad(format!(
            "throttle_seconds must be from 0 to {MAX_THROTTLE_SECONDS}"
        )));
    }
    for window in &rule.mute {
        validate_mute(window, zones)?;
    }
    if rule.channels.len() > MAX_CHANNELS {
        return Err(bad(format!("a rule has at most {MAX_CHANNELS} channels")));
    }
    for (i, channel) in rule.channels.iter().enumerate() {
        channel.validate(i, channel_url_ok).map_err(bad)?;
    }
    if let Some(project) = &rule.project {
        if !valid_project(project) {
            return Err(bad(
                "project must be 1 to 64 characters of a-z, 0-9, '-' and '_'",
            ));
        }
    }
    Ok(rule)
}

/// `HH:MM`, two digits each (the OpenAPI document's `^([01][0-9]|2[0-3]):[0-5][0-9]$`).
fn parse_hhmm(s: &str) -> Option<NaiveTime> {
    let b = s.as_bytes();
    if b.len() != 5
        || b[2] != b':'
        || !b
            .iter()
            .enumerate()
            .all(|(i, c)| i == 2 || c.is_ascii_digit())
    {
        return None;
    }
    NaiveTime::parse_from_str(s, "%H:%M").ok()
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn validate_mute(window: &MuteWindow, zones: &dyn TimeZones) -> Result<(), AppError> {
    if parse_hhmm(&window.start).is_none() || parse_hhmm(&window.end).is_none() {
        return Err(bad("mute start and end are HH:MM times, e.g. 22:00"));
    }
    if zones.local(&window.tz, DateTime::UNIX_EPOCH).is_none() {
        return Err(bad(format!(
            "mute tz '{}' is not an IANA time zone (e.g. Europe/Paris, UTC)",
            window.tz
        )));
    }
    if let Some(day) = window
        .days
        .iter()
        .find(|d| !DAYS.contains(&d.to_ascii_lowercase().as_str()))
    {
        return Err(bad(format!(
            "mute day '{day}' is unknown; use mon, tue, wed, thu, fri, sat, sun"
        )));
    }
    Ok(())
}

/// A channel's URL: http(s), a host name or IPv4 address with an optional port, then an
/// optional path and query of visible ASCII. The OpenAPI document declares the same pattern
/// (a test holds them equal); anything else could never be delivered to.
pub const CHANNEL_URL_PATTERN: &str =
    r"^https?://[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252}[A-Za-z0-9])?(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$";

pub fn channel_url_ok(url: &str) -> bool {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(CHANNEL_URL_PATTERN).expect("channel url pattern"))
        .is_match(url)
}

impl AlertRule {
    /// The severity number at or above which events count.
    pub fn min_severity(&self) -> u8 {
        self.matcher
            .min_level
            .as_deref()
            .and_then(Level::from_name)
            .map(|l| l.severity_number())
            .unwrap_or(0)
    }

    /// The severity number at or below which events count (the top of the max level's band).
    pub fn max_severity(&self) -> u8 {
        match self.matcher.max_level.as_deref().and_then(Level::from_name) {
            Some(level) => (1..=24u8)
                .rev()
                .find(|n| Level::from_severity_number(*n) == Some(level))
                .unwrap_or(24),
            None => 24,
        }
    }

    /// Whether an event matches this rule's filters (the consumer's SQL trigger applies the same
    /// filters for thresholds; this serves new-group and regression transitions).
    pub fn matches(&self, event: &StoredEvent) -> bool {
        self.fields_match(event) && self.query_matches(event)
    }

    /// Every filter of `match` but the query.
    pub fn fields_match(&self, event: &StoredEvent) -> bool {
        let m = &self.matcher;
        let eq = |want: &Option<String>, have: Option<&str>| {
            want.as_deref().is_none_or(|w| Some(w) == have)
        };
        event.severity_number >= self.min_severity()
            && event.severity_number <= self.max_severity()
            && self
                .project
                .as_deref()
                .is_none_or(|p| event.project.as_deref() == Some(p))
            && eq(&m.environment, Some(&event.environment))
            && eq(&m.component, event.component.as_deref())
            && eq(&m.route, event.route.as_deref())
            && eq(&m.fingerprint, Some(&event.fingerprint))
            && m.q
                .as_deref()
                .is_none_or(|q| event.message.to_lowercase().contains(&q.to_lowercase()))
    }

    /// `match.query` against one event, relative times taken from when it was received.
    pub fn query_matches(&self, event: &StoredEvent) -> bool {
        let Some(query) = &self.matcher.query else {
            return true;
        };
        let at = crate::processors::timestamp::parse_text(&event.received_at).unwrap_or_default();
        crate::query::search::parse(query).is_ok_and(|s| s.matches(event, at))
    }

    /// Whether `at` falls in one of the mute windows, in each window's own time zone.
    pub fn is_muted(&self, at: DateTime<Utc>, zones: &dyn TimeZones) -> bool {
        self.mute.iter().any(|window| {
            let (Some(start), Some(end), Some((weekday, time))) = (
                parse_hhmm(&window.start),
                parse_hhmm(&window.end),
                zones.local(&window.tz, at),
            ) else {
                return false;
            };
            let day_ok = |weekday: Weekday| {
                window.days.is_empty()
                    || window.days.iter().any(|d| {
                        d.eq_ignore_ascii_case(DAYS[weekday.num_days_from_monday() as usize])
                    })
            };
            if start <= end {
                time >= start && time < end && day_ok(weekday)
            } else {
                // Wraps past midnight: the early part belongs to the window that began the day before.
                (time >= start && day_ok(weekday)) || (time < end && day_ok(weekday.pred()))
            }
        })
    }

    /// Puts back stored credentials where an update repeated the mask (`receivers`); a mask
    /// that cannot be restored is a 400 naming the field (it would call, or sign with, the mask).
    pub fn restore_secrets(&mut self, stored: Option<&AlertRule>) -> Result<(), AppError> {
        let old_channels = stored.map(|r| r.channels.as_slice()).unwrap_or_default();
        for (i, channel) in self.channels.iter_mut().enumerate() {
            *channel = channel.restore_masked(i, old_channels).map_err(bad)?;
        }
        Ok(())
    }

    /// Every URL a channel calls names a public receiver (`destinations`); the first that does
    /// not is a 400 naming it.
    pub fn check_destinations(
        &self,
        allowed: crate::alerting::destinations::Destinations,
    ) -> Result<(), AppError> {
        check_destinations(&self.channels, allowed)
    }

    /// The copy of the rule the API shows: every channel credential masked.
    pub fn redacted(&self) -> AlertRule {
        let mut shown = self.clone();
        for channel in &mut shown.channels {
            *channel = channel.redacted();
        }
        shown
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Notify,
    /// Inside `throttle_seconds` of the last notification for this rule and group.
    Throttled,
    /// Inside a mute window.
    Muted,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Notify => "notified",
            Decision::Throttled => "throttled",
            Decision::Muted => "muted",
        }
    }
}

/// Mute first (a muted alert is recorded as such even if it would also be throttled), then
/// the throttle against the last notification of the same rule and group.
pub fn decide(
    rule: &AlertRule,
    now: DateTime<Utc>,
    last_notified: Option<DateTime<Utc>>,
    zones: &dyn TimeZones,
) -> Decision {
    if rule.is_muted(now, zones) {
        return Decision::Muted;
    }
    match last_notified {
        Some(last) if (now - last).num_seconds() < rule.throttle_seconds => Decision::Throttled,
        _ => Decision::Notify,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, TimeZone};

    /// The IANA database from chrono-tz, standing in for the runtime's Intl.
    pub struct ChronoTz;

    impl TimeZones for ChronoTz {
        fn local(&self, tz: &str, at: DateTime<Utc>) -> Option<(Weekday, NaiveTime)> {
            let local = at.with_timezone(&tz.parse::<chrono_tz::Tz>().ok()?);
            Some((local.weekday(), local.time()))
        }
    }

    fn rule(json: &str) -> Result<AlertRule, AppError> {
        parse_rule(json.as_bytes(), &ChronoTz)
    }

    impl AlertRule {
        fn is_muted_tz(&self, at: DateTime<Utc>) -> bool {
            self.is_muted(at, &ChronoTz)
        }
    }

    #[test]
    fn rules_parse_with_defaults_and_normalisation() {
        let r = rule(r#"{"name":" errors ","match":{"min_level":"ERR","environment":"prod"},"channels":[{"type":"webhook","url":"https://hooks.example.com/x","secret":"0123456789abcdef"}]}"#).unwrap();
        assert_eq!(r.name, "errors");
        assert_eq!(r.trigger, Trigger::Threshold);
        assert_eq!(r.matcher.min_level.as_deref(), Some("error"));
        assert_eq!(r.matcher.environment.as_deref(), Some("production"));
        assert_eq!(
            r.threshold,
            Threshold {
                count: 1,
                window_seconds: 60,
                consecutive_windows: 1
            }
        );
        let warnings = rule(r#"{"name":"w","match":{"min_level":"warn","max_level":"warning"},"threshold":{"count":1,"window_seconds":300,"consecutive_windows":3}}"#).unwrap();
        assert_eq!((warnings.min_severity(), warnings.max_severity()), (13, 16));
        // A band that is empty is a rule that matches nothing, not an error: the document can
        // state each bound, not an order between two fields.
        let empty =
            rule(r#"{"name":"w","match":{"min_level":"error","max_level":"warn"}}"#).unwrap();
        assert!(empty.max_severity() < empty.min_severity());
        assert!(rule(
            r#"{"name":"w","threshold":{"count":1,"window_seconds":60,"consecutive_windows":0}}"#
        )
        .is_err());
        assert_eq!(r.throttle_seconds, 300);
        assert!(r.enabled);
        assert_eq!(r.min_severity(), 17);
        let shown = serde_json::to_string(&r.redacted()).unwrap();
        assert!(!shown.contains("0123456789abcdef") && shown.contains("********"));
        let spike = rule(r#"{"name":"spike","trigger":"spike","match":{"min_level":"error","component":"Checkout"}}"#).unwrap();
        assert!(spike.trigger.is_rate());
        assert_eq!(
            rule(r#"{"name":"q","trigger":"quiet","match":{"q":"timeout"}}"#)
                .unwrap_err()
                .status(),
            400,
            "no text in rollups"
        );
        assert_eq!(
            rule(r#"{"name":"q","trigger":"spike","group_by":"fingerprint"}"#)
                .unwrap_err()
                .status(),
            400
        );
        let new_group = rule(r#"{"name":"new","trigger":"new_group","channels":[{"type":"slack","url":"https://hooks.slack.com/x"}]}"#).unwrap();
        assert_eq!(new_group.trigger, Trigger::NewGroup);
    }

    #[test]
    fn which_rules_take_a_transition() {
        let back = Some(IGNORE_UNTIL_MET);
        let cases = [
            (Trigger::NewGroup, "new_group", None, true),
            (Trigger::NewGroup, "regression", None, false),
            (Trigger::NewGroup, "regression", back, true),
            (Trigger::Regression, "regression", None, true),
            (Trigger::Regression, "regression", back, true),
            (Trigger::Regression, "new_group", None, false),
            (Trigger::Threshold, "regression", back, false),
            (Trigger::Spike, "new_group", None, false),
        ];
        for (trigger, kind, reason, takes) in cases {
            assert_eq!(
                trigger.takes_transition(kind, reason),
                takes,
                "{trigger:?} {kind} {reason:?}"
            );
        }
    }

    #[test]
    fn invalid_rules_are_400s() {
        let cases = [
            ("{", 400, "JSON"),
            (r#"{"match":{}}"#, 400, "name"),
            (r#"{"name":""}"#, 400, "name"),
            (
                r#"{"name":"x","match":{"min_level":"loud"}}"#,
                400,
                "min_level",
            ),
            (
                r#"{"name":"x","match":{"colour":"red"}}"#,
                400,
                "unknown field",
            ),
            (
                r#"{"name":"x","threshold":{"count":0,"window_seconds":60}}"#,
                400,
                "threshold.count",
            ),
            (
                r#"{"name":"x","threshold":{"count":1,"window_seconds":100000}}"#,
                400,
                "window_seconds",
            ),
            (r#"{"name":"x","group_by":"user"}"#, 400, "group_by"),
            (
                r#"{"name":"x","throttle_seconds":-1}"#,
                400,
                "throttle_seconds",
            ),
            (
                r#"{"name":"x","mute":[{"start":"25:00","end":"06:00"}]}"#,
                400,
                "HH:MM",
            ),
            (
                r#"{"name":"x","mute":[{"start":"22:00","end":"06:00","tz":"Mars/Olympus"}]}"#,
                400,
                "time zone",
            ),
            (
                r#"{"name":"x","mute":[{"start":"22:00","end":"06:00","days":["someday"]}]}"#,
                400,
                "day",
            ),
            (
                r#"{"name":"x","channels":[{"type":"pager"}]}"#,
                400,
                "alert rule",
            ),
            (
                r#"{"name":"x","channels":[{"type":"webhook","url":"ftp://x"}]}"#,
                400,
                "http",
            ),
            (
                r#"{"name":"x","channels":[{"type":"webhook","url":"https://x","secret":"short"}]}"#,
                400,
                "secret",
            ),
            (
                r#"{"name":"x","channels":[{"type":"email","to":[]}]}"#,
                400,
                "addresses",
            ),
            (r#"{"name":"x","trigger":"sometimes"}"#, 400, "alert rule"),
        ];
        for (body, status, expected) in cases {
            let err = rule(body).unwrap_err();
            assert_eq!(err.status(), status, "{body}");
            assert!(
                err.message().contains(expected),
                "{body}: {}",
                err.message()
            );
        }
    }

    #[test]
    fn mute_windows_in_time_zones_and_across_midnight() {
        let r = rule(r#"{"name":"x","mute":[{"start":"22:00","end":"06:00","tz":"Europe/Paris","days":["mon","tue","wed","thu","fri"]}]}"#).unwrap();
        // 2026-11-23 is a Monday; Paris is UTC+1 in November.
        let at = |h: u32, m: u32| Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        assert!(r.is_muted_tz(at(21, 30)), "22:30 Paris, Monday");
        assert!(!r.is_muted_tz(at(20, 30)), "21:30 Paris");
        assert!(
            r.is_muted_tz(Utc.with_ymd_and_hms(2026, 11, 24, 4, 0, 0).unwrap()),
            "05:00 Tuesday, from Monday's window"
        );
        assert!(
            !r.is_muted_tz(Utc.with_ymd_and_hms(2026, 11, 24, 5, 30, 0).unwrap()),
            "06:30 Paris"
        );
        // Saturday 23:00 Paris: the window does not start on Saturdays.
        assert!(!r.is_muted_tz(Utc.with_ymd_and_hms(2026, 11, 28, 22, 0, 0).unwrap()));
        // Saturday 03:00 Paris: the early part of Friday's window.
        assert!(r.is_muted_tz(Utc.with_ymd_and_hms(2026, 11, 28, 2, 0, 0).unwrap()));
        let daytime = rule(r#"{"name":"x","mute":[{"start":"09:00","end":"17:00"}]}"#).unwrap();
        assert!(
            daytime.is_muted_tz(at(12, 0))
                && !daytime.is_muted_tz(at(17, 0))
                && !daytime.is_muted_tz(at(8, 59))
        );
    }

    #[test]
    fn masked_secrets_are_restored_only_from_the_same_url() {
        let stored = rule(r#"{"name":"x","channels":[{"type":"webhook","url":"https://a.example","secret":"0123456789abcdef"}]}"#).unwrap();
        let mut update = stored.redacted();
        update.restore_secrets(Some(&stored)).unwrap();
        assert_eq!(update, stored);
        let mut moved = rule(r#"{"name":"x","channels":[{"type":"webhook","url":"https://b.example","secret":"********"}]}"#).unwrap();
        assert_eq!(
            moved.restore_secrets(Some(&stored)).unwrap_err().status(),
            400
        );
        let mut fresh = stored.redacted();
        assert_eq!(fresh.restore_secrets(None).unwrap_err().status(), 400);
    }

    #[test]
    fn channel_urls_are_what_the_document_declares() {
        let doc = crate::handlers::openapi::document();
        for channel in doc["components"]["schemas"]["Channel"]["oneOf"]
            .as_array()
            .unwrap()
        {
            if let Some(url) = channel["properties"].get("url") {
                assert_eq!(url["pattern"], CHANNEL_URL_PATTERN);
            }
        }
        for ok in [
            "https://hooks.slack.com/services/T/B/X",
            "http://127.0.0.1:8080/hook?x=1",
        ] {
            assert!(channel_url_ok(ok), "{ok}");
        }
        for bad in [
            "ftp://x",
            "https://",
            "https://[::1/",
            "https://a b",
            "https://x.com/\u{e9}",
        ] {
            assert!(!channel_url_ok(bad), "{bad}");
        }
    }

    #[test]
    fn whole_numbers_may_be_written_as_floats() {
        let r = rule(r#"{"name":"x","threshold":{"count":5.0,"window_seconds":60},"throttle_seconds":300.0}"#).unwrap();
        assert_eq!((r.threshold.count, r.throttle_seconds), (5, 300));
        assert!(rule(r#"{"name":"x","threshold":{"count":5.5,"window_seconds":60}}"#).is_err());
    }

    #[test]
    fn decisions() {
        let r = rule(r#"{"name":"x","throttle_seconds":300}"#).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        assert_eq!(decide(&r, now, None, &ChronoTz), Decision::Notify);
        assert_eq!(
            decide(
                &r,
                now,
                Some(now - chrono::Duration::seconds(299)),
                &ChronoTz
            ),
            Decision::Throttled
        );
        assert_eq!(
            decide(
                &r,
                now,
                Some(now - chrono::Duration::seconds(300)),
                &ChronoTz
            ),
            Decision::Notify
        );
        let muted = rule(r#"{"name":"x","mute":[{"start":"00:00","end":"23:59"}]}"#).unwrap();
        assert_eq!(decide(&muted, now, None, &ChronoTz), Decision::Muted);
    }

    #[test]
    fn matching_events() {
        let r = rule(r#"{"name":"x","match":{"min_level":"error","environment":"production","q":"TIMEOUT"},"project":"shop"}"#).unwrap();
        let event = StoredEvent {
            message: "upstream timeout".into(),
            severity_number: 17,
            environment: "production".into(),
            project: Some("shop".into()),
            ..Default::default()
        };
        assert!(r.matches(&event));
        assert!(!r.matches(&StoredEvent {
            severity_number: 13,
            ..event.clone()
        }));
        assert!(!r.matches(&StoredEvent {
            project: Some("blog".into()),
            ..event.clone()
        }));
        assert!(!r.matches(&StoredEvent {
            message: "fine".into(),
            ..event.clone()
        }));
    }

    #[test]
    fn default_channels_come_from_alert_channels() {
        assert_eq!(default_channels(None), Ok(Vec::new()));
        let one = default_channels(Some(
            r#"[{"type":"webhook","url":"https://example.com/h"}]"#,
        ));
        assert_eq!(one.map(|c| c.len()), Ok(1));
        assert!(default_channels(Some("{"))
            .unwrap_err()
            .message()
            .contains("ALERT_CHANNELS"));
    }

    #[test]
    fn slack_urls_are_credentials_masked_and_restored() {
        let stored = rule(r#"{"name":"s","channels":[{"type":"slack","url":"https://hooks.slack.com/services/T0/B0/secretpart"}]}"#).unwrap();
        let shown = serde_json::to_string(&stored.redacted()).unwrap();
        assert!(!shown.contains("secretpart"), "{shown}");
        assert!(
            shown.contains("https://hooks.slack.com/********"),
            "{shown}"
        );
        let mut update = stored.redacted();
        update.restore_secrets(Some(&stored)).unwrap();
        assert_eq!(update, stored);
        let mut fresh = stored.redacted();
        assert_eq!(fresh.restore_secrets(None).unwrap_err().status(), 400);
    }
}
