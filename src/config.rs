//! Every variable and secret of the deployment, read in one place, once per isolate: a
//! deployment's settings do not change while an isolate lives (a new deploy starts new
//! isolates), and some are not free to build (the AES key schedule).
//!
//! [`Config::from_vars`] is pure and tested natively; the edge hands it the platform's lookup
//! (a secret first, then a plain variable; unset and empty are both "not set").

use crate::processors::scrub::ScrubConfig;
use crate::security::encryption::{KeyError, Sealer};
use crate::shards::retention::RetentionDays;

/// The deployment's settings.
pub struct Config {
    /// `ADMIN_TOKEN` (secret): the operator's token, with every scope. Without it only API keys
    /// are accepted.
    pub admin_token: Option<String>,
    /// `DEFAULT_ENVIRONMENT`: the environment of events that name none (default `production`).
    pub default_environment: String,
    /// `SCRUB_EMAILS`, `SCRUB_IPS`: mask e-mail and IP addresses in event text (default on).
    /// Secrets are always scrubbed.
    pub scrub: ScrubConfig,
    /// `ENCRYPTION_KEY` (secret): 32 bytes as 64 hex characters or base64. `Ok(None)`: not set;
    /// `Err`: set but unusable (ingest then refuses rather than store plaintext).
    pub encryption: Result<Option<Sealer>, KeyError>,
    /// `RETENTION_{DEBUG,INFO,WARN,ERROR}_DAYS`: how long events are kept, by level.
    pub retention: RetentionDays,
    /// The alert engine's settings.
    pub alerts: AlertSettings,
    /// `SHARD_MAX_EVENTS`: events in one shard before the next of the same day opens (default
    /// 1,000,000, ≈4 GB of a Durable Object's 10 GB).
    pub shard_max_events: u64,
}

/// What the alert engine reads from the deployment.
pub struct AlertSettings {
    /// `BUILTIN_ALERTS`: alerts for events triaged `alert` (default on).
    pub builtin_enabled: bool,
    /// `ALERT_CHANNELS`: a JSON array of channels for the built-in alerts, as set; the alert
    /// engine reads it (`alerting::rules::default_channels`).
    pub channels_json: Option<String>,
    /// `PUBLIC_URL`: makes links in alerts absolute (no trailing slash).
    pub public_url: String,
    /// `EMAIL_API_URL`, `EMAIL_API_KEY` (secret): an HTTP e-mail provider.
    pub email_api_url: Option<String>,
    pub email_api_key: Option<String>,
    /// `EMAIL_FROM`: the sender of alert e-mails.
    pub email_from: String,
    /// `ALERT_RETRY_BASE_SECONDS`: the first delay of a failed delivery's backoff (default 5).
    pub retry_base_seconds: u32,
    /// `ALERT_ALLOW_LOOPBACK`: alerts may go to loopback receivers (local development and
    /// tests only; off unless set to `true`). Private and metadata addresses never.
    pub allow_loopback: bool,
}

/// A switch: on unless set to `false`, `0`, `off` or `no`.
fn switch_on(value: Option<String>) -> bool {
    value.is_none_or(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "false" | "0" | "off" | "no"
        )
    })
}

impl Config {
    /// The settings from a lookup of the deployment's variables and secrets.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Config {
        let text = |name: &str| get(name).filter(|v| !v.is_empty());
        Config {
            admin_token: text("ADMIN_TOKEN"),
            default_environment: text("DEFAULT_ENVIRONMENT").unwrap_or_else(|| "production".into()),
            scrub: ScrubConfig {
                emails: switch_on(text("SCRUB_EMAILS")),
                ips: switch_on(text("SCRUB_IPS")),
            },
            encryption: text("ENCRYPTION_KEY")
                .map(|secret| Sealer::from_secret(&secret))
                .transpose(),
            retention: RetentionDays::from_vars(text),
            alerts: AlertSettings {
                builtin_enabled: switch_on(text("BUILTIN_ALERTS")),
                channels_json: text("ALERT_CHANNELS"),
                public_url: text("PUBLIC_URL")
                    .unwrap_or_default()
                    .trim_end_matches('/')
                    .to_string(),
                email_api_url: text("EMAIL_API_URL"),
                email_api_key: text("EMAIL_API_KEY"),
                email_from: text("EMAIL_FROM")
                    .unwrap_or_else(|| "alerts@edge-logger.invalid".into()),
                retry_base_seconds: text("ALERT_RETRY_BASE_SECONDS")
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(5),
                allow_loopback: text("ALERT_ALLOW_LOOPBACK")
                    .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
            },
            shard_max_events: text("SHARD_MAX_EVENTS")
                .and_then(|v| v.trim().parse().ok())
                .filter(|n| *n > 0)
                .unwrap_or(crate::shards::DEFAULT_SHARD_MAX_EVENTS),
        }
    }

    /// Opens sealed fields of events served to an authorised reader; the ids of events sealed
    /// with another key (served as they are) come back. Without a usable key nothing is opened.
    pub fn open_events(&self, events: &mut [crate::model::StoredEvent]) -> Vec<String> {
        let Ok(Some(sealer)) = &self.encryption else {
            return Vec::new();
        };
        events
            .iter_mut()
            .filter_map(|event| (!sealer.open(event)).then(|| event.id.clone()))
            .collect()
    }
}

#[cfg(target_arch = "wasm32")]
mod edge {
    use std::rc::Rc;

    use worker::{console_error, Env};

    use super::Config;

    thread_local! {
        static CONFIG: std::cell::OnceCell<Rc<Config>> = const { std::cell::OnceCell::new() };
    }

    impl Config {
        /// The isolate's settings, read from `env` the first time.
        pub fn get(env: &Env) -> Rc<Config> {
            CONFIG.with(|cell| {
                cell.get_or_init(|| {
                    let config = Config::from_vars(|name| {
                        env.secret(name)
                            .map(|s| s.to_string())
                            .or_else(|_| env.var(name).map(|v| v.to_string()))
                            .ok()
                    });
                    if config.admin_token.is_none() {
                        console_error!("ADMIN_TOKEN is not set: only API keys are accepted. Set it with `wrangler secret put ADMIN_TOKEN`.");
                    }
                    Rc::new(config)
                })
                .clone()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Config {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn defaults_when_nothing_is_set() {
        let c = config(&[]);
        assert_eq!(c.admin_token, None);
        assert_eq!(c.default_environment, "production");
        assert!(c.scrub.emails && c.scrub.ips);
        assert!(matches!(c.encryption, Ok(None)));
        assert_eq!(c.retention, RetentionDays::default());
        assert!(c.alerts.builtin_enabled);
        assert_eq!(c.alerts.channels_json, None);
        assert_eq!(c.alerts.public_url, "");
        assert_eq!(c.alerts.email_from, "alerts@edge-logger.invalid");
        assert_eq!(c.alerts.retry_base_seconds, 5);
        assert!(
            !c.alerts.allow_loopback,
            "loopback receivers only when asked for"
        );
        assert_eq!(c.shard_max_events, 1_000_000);
    }

    #[test]
    fn empty_values_count_as_unset() {
        let c = config(&[("ADMIN_TOKEN", ""), ("DEFAULT_ENVIRONMENT", "")]);
        assert_eq!(c.admin_token, None);
        assert_eq!(c.default_environment, "production");
    }

    #[test]
    fn switches_are_off_only_when_said_so() {
        for (value, on) in [
            ("false", false),
            ("0", false),
            ("OFF", false),
            (" no ", false),
            ("true", true),
            ("yes", true),
            ("1", true),
        ] {
            let c = config(&[("SCRUB_EMAILS", value), ("BUILTIN_ALERTS", value)]);
            assert_eq!(c.scrub.emails, on, "{value}");
            assert_eq!(c.alerts.builtin_enabled, on, "{value}");
        }
    }

    #[test]
    fn values_are_read() {
        let c = config(&[
            ("ADMIN_TOKEN", "t"),
            ("DEFAULT_ENVIRONMENT", "staging"),
            ("RETENTION_DEBUG_DAYS", "3"),
            ("PUBLIC_URL", "https://logger.example.com/"),
            (
                "ALERT_CHANNELS",
                r#"[{"type":"slack","url":"https://hooks.slack.com/x"}]"#,
            ),
            ("ALERT_RETRY_BASE_SECONDS", "2"),
            ("EMAIL_FROM", "ops@example.com"),
            ("SHARD_MAX_EVENTS", "1000"),
        ]);
        assert_eq!(c.shard_max_events, 1000);
        assert_eq!(c.admin_token.as_deref(), Some("t"));
        assert_eq!(c.default_environment, "staging");
        assert_eq!(c.retention.debug, 3);
        assert_eq!(c.alerts.public_url, "https://logger.example.com");
        assert!(c.alerts.channels_json.is_some());
        assert_eq!(c.alerts.retry_base_seconds, 2);
        assert_eq!(c.alerts.email_from, "ops@example.com");
    }

    #[test]
    fn unusable_values_are_reported_not_ignored() {
        let c = config(&[("ENCRYPTION_KEY", "short")]);
        assert!(c.encryption.is_err());
    }
}
