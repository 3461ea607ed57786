//! The channel types an alert can go to, declared once: each type's fields, which of them are
//! credentials (sealed at rest, masked on read, restored from the stored rule when an update
//! repeats the mask), the URLs it calls (checked by `destinations`), how a delivery record
//! names it without its credentials, and what makes its fields valid. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::security::encryption::Sealer;

/// What a masked credential reads as.
pub const MASK: &str = "********";
/// A sealed credential: `$sealed:v1.<base64url(nonce ‖ ciphertext)>`; a sealed URL keeps its
/// scheme and host in clear (`https://hooks.slack.com/$sealed:v1.…`) so it can be shown masked
/// and checked as a destination without its key.
const SEALED: &str = "$sealed:";

pub const PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
pub const OPSGENIE_US: &str = "https://api.opsgenie.com";
pub const OPSGENIE_EU: &str = "https://api.eu.opsgenie.com";
pub const TWILIO_API: &str = "https://api.twilio.com";
pub const GITHUB_API: &str = "https://api.github.com";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Channel {
    /// JSON POST, signed with `X-Signature: sha256=<hex HMAC of the body>` when a secret is set.
    Webhook {
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret: Option<String>,
    },
    /// A Slack incoming webhook (Block Kit message).
    Slack { url: String },
    /// E-mail through the deployment's HTTP e-mail provider (`EMAIL_API_URL`).
    Email { to: Vec<String> },
    /// PagerDuty Events API v2: `trigger` and `resolve` with a stable `dedup_key`.
    Pagerduty {
        routing_key: String,
        /// The Events API endpoint (default the US one; `https://events.eu.pagerduty.com/v2/enqueue` for EU accounts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Opsgenie Alert API: create with an `alias` per incident, close on resolve.
    Opsgenie {
        api_key: String,
        /// `us` (default) or `eu`.
        #[serde(default = "us")]
        region: String,
        /// The API host, when neither region's (a proxy).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        tags: Vec<String>,
    },
    /// Prometheus Alertmanager's `POST /api/v2/alerts`, re-sent while firing, `endsAt` on resolve.
    Alertmanager {
        /// The Alertmanager's base URL (`https://alertmanager.example.com`).
        url: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        username: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        password: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bearer_token: Option<String>,
    },
    /// A Microsoft Teams Workflows (Power Automate) webhook, sent an Adaptive Card.
    Teams { url: String },
    /// A Discord webhook, sent an embed coloured by level.
    Discord { url: String },
    /// A Google Chat space webhook, sent a card.
    GoogleChat { url: String },
    /// SMS through Twilio's Messages API, one message per number in `to`.
    Sms {
        account_sid: String,
        auth_token: String,
        /// A number in E.164 form, or a Messaging Service SID (`MG…`).
        from: String,
        to: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        url: Option<String>,
    },
    /// Jira Cloud REST v3: one issue per group, a comment on regression, an optional
    /// transition on resolve.
    Jira {
        /// The site, `https://your-team.atlassian.net`.
        url: String,
        email: String,
        api_token: String,
        project_key: String,
        #[serde(default = "bug")]
        issue_type: String,
        /// The id of the transition that resolves an issue (e.g. `31`); none: issues stay open.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resolve_transition: Option<String>,
    },
    /// GitHub Issues: one issue per group with labels, a comment on regression, closed on
    /// resolve when `close_on_resolve`.
    Github {
        /// `owner/name`.
        repo: String,
        token: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        labels: Vec<String>,
        #[serde(default)]
        close_on_resolve: bool,
        /// GitHub Enterprise Server's API (`https://github.example.com/api/v3`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_url: Option<String>,
    },
    /// ServiceNow Table API `incident`: one per group (its `correlation_id`), work notes on
    /// regression, the Resolved state on resolve.
    Servicenow {
        /// The instance, `https://your-instance.service-now.com`.
        instance_url: String,
        username: String,
        password: String,
    },
}

fn us() -> String {
    "us".into()
}
fn bug() -> String {
    "Bug".into()
}

/// How a credential field is kept: a secret is masked whole; a URL whose path is the secret
/// keeps its scheme and host.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Secret {
    Whole,
    UrlPath,
}

/// The credential fields of each channel type.
fn credential_fields(kind: &str) -> &'static [(&'static str, Secret)] {
    match kind {
        "webhook" => &[("secret", Secret::Whole)],
        "slack" | "teams" | "discord" | "google_chat" => &[("url", Secret::UrlPath)],
        "pagerduty" => &[("routing_key", Secret::Whole)],
        "opsgenie" => &[("api_key", Secret::Whole)],
        "alertmanager" => &[("password", Secret::Whole), ("bearer_token", Secret::Whole)],
        "sms" => &[("auth_token", Secret::Whole)],
        "jira" => &[("api_token", Secret::Whole)],
        "github" => &[("token", Secret::Whole)],
        "servicenow" => &[("password", Secret::Whole)],
        _ => &[],
    }
}

/// Every channel type, for documents and editors.
pub const TYPES: &[&str] = &[
    "webhook",
    "slack",
    "email",
    "pagerduty",
    "opsgenie",
    "alertmanager",
    "teams",
    "discord",
    "google_chat",
    "sms",
    "jira",
    "github",
    "servicenow",
];

/// A credential URL as shown: its scheme and host, the rest masked
/// (`https://hooks.slack.com/********`).
pub fn masked_url(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    format!("{scheme}://{host}/{MASK}")
}

/// A delivery record's target as shown: a URL that is a credential masked (records written
/// before targets were masked at the source are masked here).
pub fn shown_target(kind: &str, target: &str) -> String {
    let url_is_secret = credential_fields(kind)
        .iter()
        .any(|(_, how)| *how == Secret::UrlPath);
    match url_is_secret && !target.ends_with(MASK) {
        true => masked_url(target),
        false => target.to_string(),
    }
}

fn split_url(url: &str) -> (String, &str) {
    let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let path = rest[end..].strip_prefix('/').unwrap_or(&rest[end..]);
    (format!("{scheme}://{}/", &rest[..end]), path)
}

fn is_masked(value: &str, how: Secret) -> bool {
    match how {
        Secret::Whole => value == MASK,
        Secret::UrlPath => value.ends_with(&format!("/{MASK}")),
    }
}

fn is_sealed(value: &str, how: Secret) -> bool {
    match how {
        Secret::Whole => value.starts_with(SEALED),
        Secret::UrlPath => split_url(value).1.starts_with(SEALED),
    }
}

/// The channel's fields as a JSON object, changed by `f` and read back.
fn edit_fields<E>(
    channel: &Channel,
    mut f: impl FnMut(&'static str, Secret, &mut String) -> Result<(), E>,
) -> Result<Channel, E> {
    let mut value = serde_json::to_value(channel).expect("a channel serialises");
    let fields: &mut Map<String, Value> = value.as_object_mut().expect("a channel is an object");
    let kind = channel.kind();
    for (name, how) in credential_fields(kind) {
        if let Some(Value::String(text)) = fields.get_mut(*name) {
            f(name, *how, text)?;
        }
    }
    Ok(serde_json::from_value(value).expect("credential edits keep a channel's shape"))
}

/// Where a channel's credentials are sealed and opened: the deployment's `ENCRYPTION_KEY`
/// when set (sealing and opening), and its generated credentials key (opening what was sealed
/// before `ENCRYPTION_KEY` was set, and sealing when it is not).
pub struct CredentialKeys<'a> {
    pub keys: Vec<&'a Sealer>,
}

impl CredentialKeys<'_> {
    fn aad(kind: &str, field: &str) -> String {
        format!("credential:{kind}.{field}")
    }
}

impl Channel {
    /// The type's name, as in `{"type": …}`.
    pub fn kind(&self) -> &'static str {
        match self {
            Channel::Webhook { .. } => "webhook",
            Channel::Slack { .. } => "slack",
            Channel::Email { .. } => "email",
            Channel::Pagerduty { .. } => "pagerduty",
            Channel::Opsgenie { .. } => "opsgenie",
            Channel::Alertmanager { .. } => "alertmanager",
            Channel::Teams { .. } => "teams",
            Channel::Discord { .. } => "discord",
            Channel::GoogleChat { .. } => "google_chat",
            Channel::Sms { .. } => "sms",
            Channel::Jira { .. } => "jira",
            Channel::Github { .. } => "github",
            Channel::Servicenow { .. } => "servicenow",
        }
    }

    /// Whether the receiver keeps state an alert opens and a resolution closes (an incident,
    /// an alert, a ticket): these are told when a group is resolved or a threshold clears.
    pub fn resolves(&self) -> bool {
        matches!(
            self,
            Channel::Pagerduty { .. }
                | Channel::Opsgenie { .. }
                | Channel::Alertmanager { .. }
                | Channel::Jira { .. }
                | Channel::Github { .. }
                | Channel::Servicenow { .. }
        )
    }

    /// Ticket trackers: one ticket per group, kept on the group.
    pub fn is_tracker(&self) -> bool {
        matches!(
            self,
            Channel::Jira { .. } | Channel::Github { .. } | Channel::Servicenow { .. }
        )
    }

    /// The base URL each call of the channel starts with (`None`: e-mail, sent by the
    /// deployment's provider).
    pub fn base_url(&self) -> Option<String> {
        let or = |url: &Option<String>, default: &str| url.clone().unwrap_or(default.into());
        Some(match self {
            Channel::Webhook { url, .. }
            | Channel::Slack { url }
            | Channel::Teams { url }
            | Channel::Discord { url }
            | Channel::GoogleChat { url }
            | Channel::Alertmanager { url, .. }
            | Channel::Jira { url, .. } => url.clone(),
            Channel::Email { .. } => return None,
            Channel::Pagerduty { url, .. } => or(url, PAGERDUTY_EVENTS_URL),
            Channel::Opsgenie { url, region, .. } => or(
                url,
                if region == "eu" {
                    OPSGENIE_EU
                } else {
                    OPSGENIE_US
                },
            ),
            Channel::Sms { url, .. } => or(url, TWILIO_API),
            Channel::Github { api_url, .. } => or(api_url, GITHUB_API),
            Channel::Servicenow { instance_url, .. } => instance_url.clone(),
        })
    }

    /// What a delivery record and a log line say the channel is: never a credential.
    pub fn display_target(&self) -> String {
        let base = self.base_url().map(|u| split_url(&u).0);
        match self {
            Channel::Webhook { url, .. } => url.clone(),
            Channel::Email { to } => to.join(", "),
            Channel::Sms { to, .. } => to.join(", "),
            Channel::Jira {
                url, project_key, ..
            } => format!("{} {project_key}", split_url(url).0),
            Channel::Github { repo, .. } => format!("github.com/{repo}"),
            Channel::Slack { url }
            | Channel::Teams { url }
            | Channel::Discord { url }
            | Channel::GoogleChat { url } => masked_url(url),
            _ => base.unwrap_or_default(),
        }
    }

    /// The copy an API answer shows: every credential masked.
    pub fn redacted(&self) -> Channel {
        edit_fields::<()>(self, |_, how, text| {
            *text = match how {
                Secret::Whole => MASK.into(),
                Secret::UrlPath => masked_url(text),
            };
            Ok(())
        })
        .expect("masking cannot fail")
    }

    /// Seals each credential not sealed yet; `nonce` gives fresh random bytes per call.
    pub fn sealed(&self, key: &Sealer, mut nonce: impl FnMut() -> [u8; 12]) -> Channel {
        let kind = self.kind();
        edit_fields::<()>(self, |field, how, text| {
            if is_sealed(text, how) {
                return Ok(());
            }
            let aad = CredentialKeys::aad(kind, field);
            *text = match how {
                Secret::Whole => {
                    format!("{SEALED}{}", key.seal_text(text.as_bytes(), &aad, nonce()))
                }
                Secret::UrlPath => {
                    let (head, path) = split_url(text);
                    format!(
                        "{head}{SEALED}{}",
                        key.seal_text(path.as_bytes(), &aad, nonce())
                    )
                }
            };
            Ok(())
        })
        .expect("sealing cannot fail")
    }

    /// The channel with its credentials opened; `Err` names a credential no key opens.
    pub fn opened(&self, keys: &CredentialKeys) -> Result<Channel, String> {
        let kind = self.kind();
        edit_fields(self, |field, how, text| {
            if !is_sealed(text, how) {
                return Ok(());
            }
            let aad = CredentialKeys::aad(kind, field);
            let (head, sealed) = match how {
                Secret::Whole => (String::new(), text.as_str()),
                Secret::UrlPath => split_url(text),
            };
            let sealed = sealed.strip_prefix(SEALED).unwrap_or(sealed);
            let plain = keys
                .keys
                .iter()
                .find_map(|k| k.open_text(sealed, &aad))
                .and_then(|p| String::from_utf8(p).ok())
                .ok_or_else(|| {
                    format!("the {kind} channel's {field} was sealed with a key this deployment no longer has")
                })?;
            *text = format!("{head}{plain}");
            Ok(())
        })
    }

    /// Puts back credentials an update repeated masked, from the stored channel of the same
    /// type (the one at the same place first). `Err` names a mask with nothing to restore.
    pub fn restore_masked(&self, at: usize, stored: &[Channel]) -> Result<Channel, String> {
        let kind = self.kind();
        let candidates: Vec<&Channel> = stored
            .get(at)
            .into_iter()
            .chain(stored.iter())
            .filter(|c| c.kind() == kind)
            .collect();
        edit_fields(self, |field, how, text| {
            if !is_masked(text, how) {
                return Ok(());
            }
            // A secret goes back only to the receiver it was given for: never to another URL.
            let kept = candidates.iter().find_map(|c| {
                let value = serde_json::to_value(c).ok()?;
                let old = value.get(field)?.as_str()?.to_string();
                let same = match how {
                    Secret::Whole => c.base_url() == self.base_url(),
                    Secret::UrlPath => masked_url(&old) == *text,
                };
                same.then_some(old)
            });
            *text = kept.ok_or_else(|| {
                format!("channels[{at}].{field} is the mask; send the real value")
            })?;
            Ok(())
        })
    }

    /// The channel's own fields checked; `Err` names the field (`channels[i].field: why`).
    pub fn validate(&self, at: usize, url_ok: impl Fn(&str) -> bool) -> Result<(), String> {
        let field = |name: &str, why: &str| Err(format!("channels[{at}].{name}: {why}"));
        let credential_ok =
            |v: &str, how: Secret| is_masked(v, how) || is_sealed(v, how) || !v.trim().is_empty();
        let check_url = |name: &str, url: &str| -> Result<(), String> {
            if url_ok(url) || is_sealed(url, Secret::UrlPath) || is_masked(url, Secret::UrlPath) {
                Ok(())
            } else {
                field(name, "must be an http(s) URL")
            }
        };
        let phone = |n: &str| {
            n.len() >= 8
                && n.len() <= 16
                && n.starts_with('+')
                && n[1..].bytes().all(|b| b.is_ascii_digit())
        };
        let secret = |name: &str, v: &str| {
            if credential_ok(v, Secret::Whole) {
                Ok(())
            } else {
                field(name, "is required")
            }
        };
        match self {
            Channel::Webhook { url, secret } => {
                check_url("url", url)?;
                if secret
                    .as_deref()
                    .is_some_and(|s| s.len() < 16 && s != MASK && !s.starts_with(SEALED))
                {
                    return field("secret", "must be at least 16 characters");
                }
            }
            Channel::Slack { url }
            | Channel::Teams { url }
            | Channel::Discord { url }
            | Channel::GoogleChat { url } => check_url("url", url)?,
            Channel::Email { to } => {
                if to.is_empty() || to.iter().any(|a| !a.contains('@') || a.len() > 254) {
                    return field("to", "a list of e-mail addresses");
                }
            }
            Channel::Pagerduty { routing_key, url } => {
                let plain = !is_masked(routing_key, Secret::Whole)
                    && !is_sealed(routing_key, Secret::Whole);
                if plain
                    && !(routing_key.len() == 32
                        && routing_key.bytes().all(|b| b.is_ascii_alphanumeric()))
                {
                    return field(
                        "routing_key",
                        "a PagerDuty integration key is 32 letters and digits",
                    );
                }
                if let Some(url) = url {
                    check_url("url", url)?;
                }
            }
            Channel::Opsgenie {
                api_key,
                region,
                url,
                tags,
            } => {
                secret("api_key", api_key)?;
                if !matches!(region.as_str(), "us" | "eu") {
                    return field("region", "us or eu");
                }
                if let Some(url) = url {
                    check_url("url", url)?;
                }
                if tags.len() > 20 || tags.iter().any(|t| t.is_empty() || t.len() > 50) {
                    return field("tags", "at most 20 tags of 1 to 50 characters");
                }
            }
            Channel::Alertmanager {
                url,
                username,
                password,
                bearer_token,
            } => {
                check_url("url", url)?;
                if username.is_some() != password.is_some() {
                    return field("password", "basic auth needs both username and password");
                }
                if bearer_token.is_some() && username.is_some() {
                    return field("bearer_token", "use basic auth or a bearer token, not both");
                }
            }
            Channel::Sms {
                account_sid,
                auth_token,
                from,
                to,
                url,
            } => {
                if !(account_sid.len() == 34
                    && account_sid.starts_with("AC")
                    && account_sid[2..].bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    return field(
                        "account_sid",
                        "a Twilio account SID is AC and 32 hex digits",
                    );
                }
                secret("auth_token", auth_token)?;
                if !(phone(from) || (from.starts_with("MG") && from.len() == 34)) {
                    return field(
                        "from",
                        "a number in E.164 form (+14155550100) or a Messaging Service SID",
                    );
                }
                if to.is_empty() || to.len() > 10 || !to.iter().all(|n| phone(n)) {
                    return field("to", "1 to 10 numbers in E.164 form (+14155550100)");
                }
                if let Some(url) = url {
                    check_url("url", url)?;
                }
            }
            Channel::Jira {
                url,
                email,
                api_token,
                project_key,
                issue_type,
                resolve_transition,
            } => {
                check_url("url", url)?;
                if !email.contains('@') {
                    return field("email", "the Atlassian account's e-mail address");
                }
                secret("api_token", api_token)?;
                let key_ok = project_key.len() >= 2
                    && project_key.len() <= 20
                    && project_key.starts_with(|c: char| c.is_ascii_uppercase())
                    && project_key
                        .bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_');
                if !key_ok {
                    return field("project_key", "a Jira project key such as OPS");
                }
                if issue_type.trim().is_empty() {
                    return field("issue_type", "an issue type such as Bug");
                }
                if resolve_transition
                    .as_deref()
                    .is_some_and(|t| t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()))
                {
                    return field("resolve_transition", "the numeric id of a transition");
                }
            }
            Channel::Github {
                repo,
                token,
                labels,
                api_url,
                ..
            } => {
                let parts: Vec<&str> = repo.split('/').collect();
                let part_ok = |p: &str| {
                    !p.is_empty()
                        && p.len() <= 100
                        && p.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
                };
                if parts.len() != 2 || !parts.iter().all(|p| part_ok(p)) {
                    return field("repo", "owner/name");
                }
                secret("token", token)?;
                if labels.len() > 20 || labels.iter().any(|l| l.is_empty() || l.len() > 50) {
                    return field("labels", "at most 20 labels of 1 to 50 characters");
                }
                if let Some(url) = api_url {
                    check_url("api_url", url)?;
                }
            }
            Channel::Servicenow {
                instance_url,
                username,
                password,
            } => {
                check_url("instance_url", instance_url)?;
                if username.trim().is_empty() {
                    return field("username", "is required");
                }
                secret("password", password)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> Sealer {
        Sealer::from_secret(&format!("{byte:02x}").repeat(32)).unwrap()
    }

    fn every_type() -> Vec<Channel> {
        serde_json::from_value(serde_json::json!([
            {"type": "webhook", "url": "https://h.example.com/x", "secret": "0123456789abcdef"},
            {"type": "slack", "url": "https://hooks.slack.com/services/T/B/secret"},
            {"type": "email", "to": ["a@example.com"]},
            {"type": "pagerduty", "routing_key": "abcdefghijklmnopqrstuvwxyz012345"},
            {"type": "opsgenie", "api_key": "9c1a2b3c-0000-4000-8000-000000000000", "region": "eu"},
            {"type": "alertmanager", "url": "https://am.example.com", "username": "u", "password": "p"},
            {"type": "teams", "url": "https://prod.westeurope.logic.azure.com/workflows/abc?sig=s"},
            {"type": "discord", "url": "https://discord.com/api/webhooks/1/tok"},
            {"type": "google_chat", "url": "https://chat.googleapis.com/v1/spaces/S/messages?key=k&token=t"},
            {"type": "sms", "account_sid": format!("AC{}", "0".repeat(32)), "auth_token": "tok", "from": "+14155550100", "to": ["+14155550101"]},
            {"type": "jira", "url": "https://team.atlassian.net", "email": "a@example.com", "api_token": "jt", "project_key": "OPS"},
            {"type": "github", "repo": "acme/api", "token": "ghp_x", "labels": ["bug"]},
            {"type": "servicenow", "instance_url": "https://acme.service-now.com", "username": "svc", "password": "pw"}
        ]))
        .unwrap()
    }

    #[test]
    fn every_type_is_listed_and_valid() {
        let channels = every_type();
        let kinds: Vec<&str> = channels.iter().map(Channel::kind).collect();
        assert_eq!(kinds, TYPES);
        for (i, c) in channels.iter().enumerate() {
            assert_eq!(
                c.validate(i, |u| u.starts_with("https://")),
                Ok(()),
                "{c:?}"
            );
        }
    }

    #[test]
    fn sealed_credentials_open_and_never_show() {
        let (old, new) = (key(1), key(2));
        let mut n = 0u8;
        for channel in every_type() {
            let sealed = channel.sealed(&old, || {
                n = n.wrapping_add(1);
                [n; 12]
            });
            let text = serde_json::to_string(&sealed).unwrap();
            for secret in [
                "0123456789abcdef",
                "services/T",
                "abcdefghijklmnop",
                "9c1a2b3c",
                "\"p\"",
                "sig=s",
                "/tok",
                "token=t",
                "\"tok\"",
                "\"jt\"",
                "ghp_x",
                "\"pw\"",
            ] {
                assert!(!text.contains(secret), "{secret} in {text}");
            }
            // Sealing twice changes nothing; a key set later still opens the old ones.
            assert_eq!(sealed.sealed(&new, || [9; 12]), sealed);
            let keys = CredentialKeys {
                keys: vec![&new, &old],
            };
            assert_eq!(sealed.opened(&keys).unwrap(), channel);
            assert!(
                sealed.opened(&CredentialKeys { keys: vec![&new] }).is_err() || sealed == channel
            );
            let shown = serde_json::to_string(&sealed.redacted()).unwrap();
            assert!(!shown.contains(SEALED), "{shown}");
            assert_eq!(sealed.redacted(), channel.redacted());
        }
    }

    #[test]
    fn masks_are_restored_from_the_stored_channel_of_the_same_type() {
        let stored = every_type();
        for (i, channel) in stored.iter().enumerate() {
            assert_eq!(
                channel.redacted().restore_masked(i, &stored).unwrap(),
                *channel
            );
        }
        let slack_elsewhere = Channel::Slack {
            url: "https://other.example.com/********".into(),
        };
        assert_eq!(
            slack_elsewhere.restore_masked(1, &stored).unwrap_err(),
            "channels[1].url is the mask; send the real value"
        );
        let pd = Channel::Pagerduty {
            routing_key: MASK.into(),
            url: None,
        };
        assert!(pd
            .restore_masked(0, &[])
            .unwrap_err()
            .contains("routing_key"));
    }

    #[test]
    fn the_document_declares_every_type_and_no_other() {
        let doc = crate::handlers::openapi::document();
        for schema in ["Channel", "ChannelAnswer"] {
            let declared: Vec<&str> = doc["components"]["schemas"][schema]["oneOf"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["properties"]["type"]["const"].as_str().unwrap())
                .collect();
            assert_eq!(declared, TYPES, "{schema}");
        }
    }

    #[test]
    fn display_targets_hold_no_credential() {
        for channel in every_type() {
            let target = channel.display_target();
            for secret in ["secret", "tok", "sig=", "token=", "ghp_", "jt", "pw"] {
                assert!(
                    !target.contains(secret) || channel.kind() == "webhook",
                    "{target}"
                );
            }
        }
    }

    #[test]
    fn bad_fields_are_named() {
        let cases = [
            (
                serde_json::json!({"type": "pagerduty", "routing_key": "short"}),
                "channels[0].routing_key",
            ),
            (
                serde_json::json!({"type": "opsgenie", "api_key": "k", "region": "mars"}),
                "channels[0].region",
            ),
            (
                serde_json::json!({"type": "sms", "account_sid": "AC1", "auth_token": "t", "from": "+1", "to": []}),
                "channels[0].account_sid",
            ),
            (
                serde_json::json!({"type": "sms", "account_sid": format!("AC{}", "a".repeat(32)), "auth_token": "t", "from": "+14155550100", "to": ["555"]}),
                "channels[0].to",
            ),
            (
                serde_json::json!({"type": "jira", "url": "https://x.atlassian.net", "email": "a@b", "api_token": "t", "project_key": "ops"}),
                "channels[0].project_key",
            ),
            (
                serde_json::json!({"type": "github", "repo": "nope", "token": "t"}),
                "channels[0].repo",
            ),
            (
                serde_json::json!({"type": "servicenow", "instance_url": "ftp://x", "username": "u", "password": "p"}),
                "channels[0].instance_url",
            ),
            (
                serde_json::json!({"type": "alertmanager", "url": "https://am", "username": "u"}),
                "channels[0].password",
            ),
            (
                serde_json::json!({"type": "teams", "url": "not a url"}),
                "channels[0].url",
            ),
        ];
        for (json, named) in cases {
            let channel: Channel = serde_json::from_value(json.clone()).unwrap();
            let err = channel
                .validate(0, |u| u.starts_with("https://"))
                .unwrap_err();
            assert!(err.starts_with(named), "{json}: {err}");
        }
    }
}
