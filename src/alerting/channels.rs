//! What each channel of a fired alert receives: the notice every channel says, and the HTTP
//! request (or `send_email` message) a webhook, Slack or e-mail channel gets, signed for
//! webhooks. Pure: the alert engine queues these deliveries and makes the calls.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

use super::rules::Channel;
use crate::model::StoredEvent;

/// What an alert says, for every channel.
#[derive(Debug, Clone, Serialize)]
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
}

impl AlertNotice {
    pub fn summary(&self) -> String {
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

    fn title(&self) -> String {
        self.sample_event
            .as_ref()
            .map(|e| e.message.chars().take(200).collect())
            .unwrap_or_else(|| self.group_key.clone())
    }
}

/// An HTTP request a delivery makes: what the `ALERTS` queue carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub delivery_id: String,
    pub alert_id: String,
    pub channel_type: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

fn email_text(notice: &AlertNotice) -> String {
    format!(
        "{}\n\nRule: {}\nGroup: {}\nRelease: {}\nCount: {}\nFired at: {}\n\n{}\n",
        notice.summary(),
        notice.rule_name,
        notice.group_key,
        notice.release.as_deref().unwrap_or("none"),
        notice.count,
        notice.fired_at,
        notice.group_url.as_deref().unwrap_or(&notice.link)
    )
}

pub fn sign(secret: &str, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// How the deployment sends e-mail: an HTTP API taking `{from, to, subject, text}`
/// (`EMAIL_API_URL`), else the Cloudflare `send_email` binding (`SEND_EMAIL`) when bound.
#[derive(Debug, Clone, Default)]
pub struct EmailProvider {
    pub url: Option<String>,
    pub api_key: Option<String>,
    pub from: String,
    pub binding: bool,
}

/// The channel type of deliveries that go through the `send_email` binding, not HTTP.
pub const EMAIL_BINDING: &str = "email_binding";

/// The request for one channel. `None` when the channel cannot be served (e-mail without a
/// configured provider); the alert is still recorded.
pub fn delivery_for(
    channel: &Channel,
    notice: &AlertNotice,
    delivery_id: String,
    email: &EmailProvider,
) -> Option<Delivery> {
    let json_headers = || vec![("content-type".to_string(), "application/json".to_string())];
    let (channel_type, url, mut headers, body) = match channel {
        Channel::Webhook { url, secret } => {
            let body = json!({
                "type": "alert",
                "alert_id": notice.alert_id,
                "rule": {"id": notice.rule_id, "name": notice.rule_name, "trigger": notice.trigger},
                "group": notice.group_key,
                "count": notice.count,
                "window": {"start": notice.window_start, "seconds": notice.window_seconds},
                "fired_at": notice.fired_at,
                "summary": notice.summary(),
                "link": notice.link,
                "group_url": notice.group_url,
                "release": notice.release,
                "reason": notice.reason,
                "sample_event": notice.sample_event,
            })
            .to_string();
            let mut headers = json_headers();
            if let Some(secret) = secret {
                headers.push((
                    "x-signature".into(),
                    format!("sha256={}", sign(secret, &body)),
                ));
            }
            ("webhook", url.clone(), headers, body)
        }
        Channel::Slack { url } => {
            let sample = notice.sample_event.as_ref();
            let fields: Vec<Value> = [
                ("Rule", notice.rule_name.clone()),
                ("Count", notice.count.to_string()),
                ("Level", sample.map(|e| e.level.clone()).unwrap_or_default()),
                (
                    "Environment",
                    sample.map(|e| e.environment.clone()).unwrap_or_default(),
                ),
                ("Release", notice.release.clone().unwrap_or_default()),
            ]
            .into_iter()
            .map(|(k, v)| json!({"type": "mrkdwn", "text": format!("*{k}:*\n{v}")}))
            .collect();
            let body = json!({
                "text": notice.summary(),
                "blocks": [
                    {"type": "header", "text": {"type": "plain_text", "text": notice.summary().chars().take(150).collect::<String>()}},
                    {"type": "section", "fields": fields},
                    {"type": "context", "elements": [{"type": "mrkdwn", "text": match &notice.group_url {
                        Some(group) => format!("<{group}|Open the group> · <{}|API>", notice.link),
                        None => format!("<{}|Open the events>", notice.link),
                    }}]}
                ]
            })
            .to_string();
            ("slack", url.clone(), json_headers(), body)
        }
        Channel::Email { to } => {
            let url = match (&email.url, email.binding) {
                (Some(url), _) => url.clone(),
                (None, true) => {
                    let body = json!({"from": email.from, "to": to, "subject": notice.summary(), "text": email_text(notice)}).to_string();
                    return Some(Delivery {
                        delivery_id,
                        alert_id: notice.alert_id.clone(),
                        channel_type: EMAIL_BINDING.into(),
                        url: "send_email:SEND_EMAIL".into(),
                        headers: Vec::new(),
                        body,
                    });
                }
                (None, false) => return None,
            };
            let body = json!({"from": email.from, "to": to, "subject": notice.summary(), "text": email_text(notice)}).to_string();
            let mut headers = json_headers();
            if let Some(key) = &email.api_key {
                headers.push(("authorization".into(), format!("Bearer {key}")));
            }
            ("email", url, headers, body)
        }
    };
    headers.push(("user-agent".into(), "edge-logger-alerts/1".into()));
    Some(Delivery {
        delivery_id,
        alert_id: notice.alert_id.clone(),
        channel_type: channel_type.into(),
        url,
        headers,
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice() -> AlertNotice {
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
                ..Default::default()
            }),
        }
    }

    #[test]
    fn channel_payloads() {
        let email = EmailProvider {
            url: Some("https://mail.example.com/send".into()),
            api_key: Some("k".into()),
            from: "alerts@example.com".into(),
            binding: false,
        };
        let webhook = Channel::Webhook {
            url: "https://h.example.com".into(),
            secret: Some("0123456789abcdef".into()),
        };
        let d = delivery_for(&webhook, &notice(), "d1".into(), &email).unwrap();
        let body: Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(body["rule"]["name"], "errors");
        assert_eq!(body["count"], 5);
        assert_eq!(body["window"]["seconds"], 60);
        assert_eq!(body["sample_event"]["message"], "boom");
        assert_eq!(body["link"], "https://logger.example.com/v1/groups/abc");
        assert_eq!(body["group_url"], "https://logger.example.com/#/groups/abc");
        assert_eq!(body["release"], "1.4.0");
        let signature = d.headers.iter().find(|(k, _)| k == "x-signature").unwrap();
        assert_eq!(
            signature.1,
            format!("sha256={}", sign("0123456789abcdef", &d.body))
        );
        let slack = delivery_for(
            &Channel::Slack {
                url: "https://hooks.slack.com/x".into(),
            },
            &notice(),
            "d2".into(),
            &email,
        )
        .unwrap();
        let body: Value = serde_json::from_str(&slack.body).unwrap();
        assert_eq!(body["blocks"][0]["type"], "header");
        assert!(body["text"].as_str().unwrap().contains("5 events in 60s"));
        let slack_text = body["blocks"].to_string();
        assert!(slack_text.contains("*Release:*\\n1.4.0"), "{slack_text}");
        assert!(slack_text.contains("<https://logger.example.com/#/groups/abc|Open the group>"));
        let mail = delivery_for(
            &Channel::Email {
                to: vec!["oncall@example.com".into()],
            },
            &notice(),
            "d3".into(),
            &email,
        )
        .unwrap();
        let body: Value = serde_json::from_str(&mail.body).unwrap();
        assert_eq!(body["to"][0], "oncall@example.com");
        assert_eq!(body["from"], "alerts@example.com");
        let text = body["text"].as_str().unwrap();
        assert!(
            text.contains("Release: 1.4.0") && text.contains("/#/groups/abc"),
            "{text}"
        );
        assert!(mail
            .headers
            .contains(&("authorization".into(), "Bearer k".into())));
        assert!(delivery_for(
            &Channel::Email {
                to: vec!["a@b.c".into()]
            },
            &notice(),
            "d4".into(),
            &EmailProvider::default()
        )
        .is_none());
        let binding = EmailProvider {
            binding: true,
            from: "alerts@example.com".into(),
            ..Default::default()
        };
        let via_binding = delivery_for(
            &Channel::Email {
                to: vec!["a@b.c".into()],
            },
            &notice(),
            "d5".into(),
            &binding,
        )
        .unwrap();
        assert_eq!(via_binding.channel_type, EMAIL_BINDING);
        let body: Value = serde_json::from_str(&via_binding.body).unwrap();
        assert_eq!(
            (body["to"][0].as_str(), body["from"].as_str()),
            (Some("a@b.c"), Some("alerts@example.com"))
        );
    }

    #[test]
    fn summaries_say_what_happened() {
        let with = |trigger: &str, reason: Option<&str>| AlertNotice {
            trigger: trigger.into(),
            reason: reason.map(Into::into),
            window_seconds: None,
            ..notice()
        };
        let cases = [
            (with("new_group", None), "[errors] New issue: boom"),
            (with("regression", None), "[errors] Regression: boom"),
            (
                with("regression", Some("ignore_until")),
                "[errors] Back from ignore: boom",
            ),
            (
                with("new_group", Some("ignore_until")),
                "[errors] Back from ignore: boom",
            ),
            (notice(), "[errors] 5 events in 60s: boom"),
        ];
        for (notice, summary) in cases {
            assert_eq!(notice.summary(), summary);
        }
    }

    #[test]
    fn hmac_known_answer() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
