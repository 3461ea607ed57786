//! What an alert says, for every channel: the notice (its facts, summary and top frames), what
//! it asks of a receiver (trigger, resolve, test), and the HTTP call a channel module plans.
//! Pure; the channel modules (`channels`, `paging`, `chat`, `tickets`) build on it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::StoredEvent;

/// What a notice asks of a receiver that keeps state: open (or keep open) the incident, or
/// close it; a test says it is one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    #[default]
    Trigger,
    Resolve,
    Test,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Trigger => "trigger",
            Action::Resolve => "resolve",
            Action::Test => "test",
        }
    }
}

/// What an alert says, for every channel.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertNotice {
    pub alert_id: String,
    pub rule_id: String,
    pub rule_name: String,
    pub trigger: String,
    pub group_key: String,
    pub count: i64,
    pub window_start: Option<String>,
    pub window_seconds: Option<i64>,
    pub fired_at: String,
    /// A link to the matching events or group in the API.
    pub link: String,
    /// The group's page in the dashboard, when the alert is about one group.
    pub group_url: Option<String>,
    /// The release of the event that fired it.
    pub release: Option<String>,
    /// Why a group transition happened when it is not the plain one: `ignore_until` for a
    /// group whose "ignored until" condition was met.
    pub reason: Option<String>,
    pub sample_event: Option<StoredEvent>,
    #[serde(default)]
    pub action: Action,
    /// The key receivers deduplicate on: `group:<fingerprint>` for a group's transitions,
    /// `rule:<rule id>:<group key>` for thresholds and rates. Stable across re-sends, retries
    /// and the resolution.
    #[serde(default)]
    pub incident_key: String,
    /// When the group was first and last seen, and its events so far (alerts about a group).
    #[serde(default)]
    pub first_seen: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub group_count: Option<i64>,
    /// When a receiver that expires alerts (Alertmanager) should consider this one over unless
    /// sent again: a little past the next re-send while firing, now when resolved.
    #[serde(default)]
    pub ends_at: Option<String>,
}

/// One HTTP call, as a pure module plans it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpCall {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpCall {
    pub fn post_json(url: String, body: &Value) -> HttpCall {
        HttpCall {
            method: "POST".into(),
            url,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string(),
        }
    }

    pub fn with_header(mut self, name: &str, value: String) -> HttpCall {
        self.headers.push((name.into(), value));
        self
    }

    pub fn basic_auth(self, user: &str, password: &str) -> HttpCall {
        use base64::Engine;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.with_header("authorization", format!("Basic {token}"))
    }
}

impl AlertNotice {
    pub fn summary(&self) -> String {
        match self.action {
            Action::Resolve => return format!("[{}] Resolved: {}", self.rule_name, self.title()),
            Action::Test => {
                return format!("[{}] Test notification from edge-logger", self.rule_name)
            }
            Action::Trigger => {}
        }
        if self.reason.as_deref() == Some(super::rules::IGNORE_UNTIL_MET) {
            return format!("[{}] Back from ignore: {}", self.rule_name, self.title());
        }
        match self.trigger.as_str() {
            "new_group" => format!("[{}] New issue: {}", self.rule_name, self.title()),
            "regression" => format!("[{}] Regression: {}", self.rule_name, self.title()),
            "spike" => format!(
                "[{}] Spike: {} events this hour in {}, far above the usual rate",
                self.rule_name, self.count, self.group_key
            ),
            "quiet" => format!(
                "[{}] Went quiet: {} events this hour in {}, far below the usual rate",
                self.rule_name, self.count, self.group_key
            ),
            _ => match self.window_seconds {
                Some(w) => format!(
                    "[{}] {} events in {}s: {}",
                    self.rule_name,
                    self.count,
                    w,
                    self.title()
                ),
                None => format!("[{}] {}", self.rule_name, self.title()),
            },
        }
    }

    pub fn title(&self) -> String {
        self.sample_event
            .as_ref()
            .map(|e| e.message.chars().take(200).collect())
            .unwrap_or_else(|| self.group_key.clone())
    }

    /// The sample event's level (`error` when there is none).
    pub fn level(&self) -> &str {
        self.sample_event
            .as_ref()
            .map(|e| e.level.as_str())
            .unwrap_or("error")
    }

    /// Triage's priority of the sample event, 1 (lowest) to 10.
    pub fn priority(&self) -> u8 {
        self.sample_event.as_ref().map(|e| e.priority).unwrap_or(8)
    }

    /// Where people go: the group's page, else the API link.
    pub fn url(&self) -> &str {
        self.group_url.as_deref().unwrap_or(&self.link)
    }

    fn sample_text(&self, f: impl Fn(&StoredEvent) -> Option<String>) -> String {
        self.sample_event.as_ref().and_then(f).unwrap_or_default()
    }

    /// The facts every rich channel shows, in order; empty ones left out.
    pub fn facts(&self) -> Vec<(&'static str, String)> {
        let count = match self.group_count {
            Some(total) => format!("{} ({total} in the group)", self.count),
            None => self.count.to_string(),
        };
        [
            ("Rule", self.rule_name.clone()),
            ("Level", self.level().to_string()),
            ("Service", self.sample_text(|e| e.service.clone())),
            (
                "Environment",
                self.sample_text(|e| Some(e.environment.clone())),
            ),
            ("Project", self.sample_text(|e| e.project.clone())),
            ("Count", count),
            ("First seen", self.first_seen.clone().unwrap_or_default()),
            ("Last seen", self.last_seen.clone().unwrap_or_default()),
            ("Release", self.release.clone().unwrap_or_default()),
        ]
        .into_iter()
        .filter(|(_, v)| !v.is_empty())
        .collect()
    }

    /// The sample's top stack frames, at most `n`.
    pub fn top_frames(&self, n: usize) -> Vec<String> {
        let Some(stack) = self
            .sample_event
            .as_ref()
            .and_then(|e| e.error.as_ref())
            .and_then(|e| e.stack.as_deref())
        else {
            return Vec::new();
        };
        let lines: Vec<&str> = stack
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let frame = |l: &&&str| {
            l.starts_with("at ") || l.starts_with("File ") || l.contains(".rs:") || l.contains('@')
        };
        let frames: Vec<String> = lines
            .iter()
            .filter(frame)
            .take(n)
            .map(|l| l.to_string())
            .collect();
        if frames.is_empty() {
            lines
                .iter()
                .skip(1)
                .take(n)
                .map(|l| l.to_string())
                .collect()
        } else {
            frames
        }
    }

    /// The notice as the alerts table keeps it for re-sends and resolutions: the sample event
    /// without its context and with a short stack (a receiver never needs more).
    pub fn for_keeping(&self) -> AlertNotice {
        let mut kept = self.clone();
        if let Some(e) = kept.sample_event.as_mut() {
            e.context = Default::default();
            e.tags = Default::default();
            if let Some(stack) = e.error.as_mut().and_then(|x| x.stack.as_mut()) {
                *stack = stack.chars().take(4000).collect();
            }
        }
        kept
    }
}

/// The notice the channel modules' tests share.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    pub fn notice() -> AlertNotice {
        AlertNotice {
            alert_id: "alt_1".into(),
            rule_id: "rule_1".into(),
            rule_name: "errors".into(),
            trigger: "threshold".into(),
            group_key: "abc".into(),
            count: 5,
            window_start: Some("2026-11-23T12:00:00.000Z".into()),
            window_seconds: Some(60),
            fired_at: "2026-11-23T12:00:30.000Z".into(),
            link: "https://logger.example.com/v1/groups/abc".into(),
            group_url: Some("https://logger.example.com/#/groups/abc".into()),
            release: Some("1.4.0".into()),
            reason: None,
            sample_event: Some(StoredEvent {
                message: "boom".into(),
                level: "error".into(),
                environment: "production".into(),
                service: Some("api".into()),
                priority: 8,
                error: Some(crate::model::ErrorInfo {
                    stack: Some(
                        "Error: boom\n    at handler (app.js:10:5)\n    at run (app.js:2:1)".into(),
                    ),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            action: Action::Trigger,
            incident_key: "group:abc".into(),
            first_seen: Some("2026-11-23T11:00:00.000Z".into()),
            last_seen: Some("2026-11-23T12:00:29.000Z".into()),
            group_count: Some(42),
            ends_at: None,
        }
    }
}
