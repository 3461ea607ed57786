//! What each channel of a fired alert receives: the notice every channel says, and the HTTP
//! request (or `send_email` message) each channel type gets: webhook (signed), Slack and
//! e-mail here, the pagers in `paging`, the chat apps and SMS in `chat`, the ticket trackers
//! in `tickets`. Pure: the alert engine queues these deliveries and the consumer makes the calls.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sha2::Sha256;

pub use super::notice::{Action, AlertNotice, HttpCall};
use super::rules::Channel;
use crate::security::encryption::Sealer;

fn post() -> String {
    "POST".into()
}

/// An HTTP request a delivery makes: what the `ALERTS` queue carries. A ticket tracker's
/// delivery carries the ticket step instead (the consumer plans its call from the group's
/// ticket as stored then). With a key, the request is `sealed`: the queue and its dead letters
/// hold no credential.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub delivery_id: String,
    pub alert_id: String,
    pub channel_type: String,
    #[serde(default = "post")]
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ticket: Option<super::tickets::TicketStep>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

/// What a sealed delivery hides.
#[derive(Serialize, Deserialize)]
struct Hidden {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: String,
    ticket: Option<super::tickets::TicketStep>,
}

impl Delivery {
    fn of(delivery_id: String, notice: &AlertNotice, kind: &str, call: HttpCall) -> Delivery {
        Delivery {
            delivery_id,
            alert_id: notice.alert_id.clone(),
            channel_type: kind.into(),
            method: call.method,
            url: call.url,
            headers: call.headers,
            body: call.body,
            ticket: None,
            sealed: None,
        }
    }

    /// The HTTP call the delivery makes.
    pub fn call(&self) -> HttpCall {
        HttpCall {
            method: self.method.clone(),
            url: self.url.clone(),
            headers: self.headers.clone(),
            body: self.body.clone(),
        }
    }

    /// The request sealed under `key` (the delivery id is the associated data).
    pub fn sealed(mut self, key: &Sealer, nonce: [u8; 12]) -> Delivery {
        let hidden = Hidden {
            method: std::mem::take(&mut self.method),
            url: std::mem::take(&mut self.url),
            headers: std::mem::take(&mut self.headers),
            body: std::mem::take(&mut self.body),
            ticket: self.ticket.take(),
        };
        let plain = serde_json::to_vec(&hidden).expect("a request serialises");
        self.sealed = Some(key.seal_text(&plain, &self.delivery_id, nonce));
        self
    }

    /// The request opened (a delivery never sealed is returned as it is).
    pub fn opened(mut self, keys: &[&Sealer]) -> Result<Delivery, String> {
        let Some(sealed) = self.sealed.take() else {
            return Ok(self);
        };
        let hidden: Hidden = keys
            .iter()
            .find_map(|k| k.open_text(&sealed, &self.delivery_id))
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .ok_or_else(|| {
                "the delivery was sealed with a key this deployment no longer has".to_string()
            })?;
        self.method = hidden.method;
        self.url = hidden.url;
        self.headers = hidden.headers;
        self.body = hidden.body;
        self.ticket = hidden.ticket;
        Ok(self)
    }
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

/// The requests for one channel (one per SMS recipient; none when the channel cannot be
/// served: e-mail without a provider, or a resolution to a receiver that keeps no state). The
/// alert is recorded either way. Delivery ids are `base` or, for several, `base.k`.
pub fn deliveries_for(
    channel: &Channel,
    notice: &AlertNotice,
    base: String,
    email: &EmailProvider,
) -> Vec<Delivery> {
    if notice.action == Action::Resolve && !channel.resolves() {
        return Vec::new();
    }
    let kind = channel.kind();
    let one = |call: HttpCall| vec![Delivery::of(base.clone(), notice, kind, call)];
    // Every call names us by its user agent where it is made (`calls::execute`).
    match channel {
        Channel::Webhook { url, secret } => one(webhook(url, secret.as_deref(), notice)),
        Channel::Slack { url } => one(slack(url, notice)),
        Channel::Email { to } => email_delivery(to, notice, base, email)
            .into_iter()
            .collect(),
        Channel::Pagerduty { routing_key, .. } => one(super::paging::pagerduty(
            routing_key,
            &channel.base_url().unwrap_or_default(),
            notice,
        )),
        Channel::Opsgenie { api_key, tags, .. } => one(super::paging::opsgenie(
            api_key,
            &channel.base_url().unwrap_or_default(),
            tags,
            notice,
        )),
        Channel::Alertmanager {
            url,
            username,
            password,
            bearer_token,
        } => one(super::paging::alertmanager(
            url,
            username.as_deref().zip(password.as_deref()),
            bearer_token.as_deref(),
            notice,
        )),
        Channel::Teams { url } => one(super::chat::teams(url, notice)),
        Channel::Discord { url } => one(super::chat::discord(url, notice)),
        Channel::GoogleChat { url } => one(super::chat::google_chat(url, notice)),
        Channel::Sms {
            account_sid,
            auth_token,
            from,
            to,
            ..
        } => {
            let api = channel.base_url().unwrap_or_default();
            let calls: Vec<HttpCall> = to
                .iter()
                .map(|number| super::chat::sms(&api, account_sid, auth_token, from, number, notice))
                .collect();
            let several = calls.len() > 1;
            calls
                .into_iter()
                .enumerate()
                .map(|(k, call)| {
                    let id = if several {
                        format!("{base}.{k}")
                    } else {
                        base.clone()
                    };
                    Delivery::of(id, notice, kind, call)
                })
                .collect()
        }
        Channel::Jira { .. } | Channel::Github { .. } | Channel::Servicenow { .. } => {
            let mut d = Delivery::of(
                base.clone(),
                notice,
                kind,
                HttpCall {
                    method: "POST".into(),
                    url: String::new(),
                    headers: Vec::new(),
                    body: String::new(),
                },
            );
            d.ticket = Some(super::tickets::TicketStep::of(channel, notice));
            vec![d]
        }
    }
}

fn webhook(url: &str, secret: Option<&str>, notice: &AlertNotice) -> HttpCall {
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
    });
    let call = HttpCall::post_json(url.to_string(), &body);
    match secret {
        Some(secret) => {
            let signature = format!("sha256={}", sign(secret, &call.body));
            call.with_header("x-signature", signature)
        }
        None => call,
    }
}

fn slack(url: &str, notice: &AlertNotice) -> HttpCall {
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
    });
    HttpCall::post_json(url.to_string(), &body)
}

fn email_delivery(
    to: &[String],
    notice: &AlertNotice,
    delivery_id: String,
    email: &EmailProvider,
) -> Option<Delivery> {
    let body = json!({"from": email.from, "to": to, "subject": notice.summary(), "text": email_text(notice)});
    let (kind, url) = match (&email.url, email.binding) {
        (Some(url), _) => ("email", url.clone()),
        (None, true) => (EMAIL_BINDING, "send_email:SEND_EMAIL".to_string()),
        (None, false) => return None,
    };
    let mut call = HttpCall::post_json(url, &body);
    if kind == EMAIL_BINDING {
        call.headers.clear();
    } else if let Some(key) = &email.api_key {
        call = call.with_header("authorization", format!("Bearer {key}"));
    }
    Some(Delivery::of(delivery_id, notice, kind, call))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notice::tests_support::notice;

    fn delivery_for(
        channel: &Channel,
        notice: &AlertNotice,
        id: String,
        email: &EmailProvider,
    ) -> Option<Delivery> {
        deliveries_for(channel, notice, id, email)
            .into_iter()
            .next()
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
