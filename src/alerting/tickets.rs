//! Tickets: one per group in Jira (Cloud REST v3), GitHub Issues or ServiceNow (Table API
//! `incident`). A delivery to a tracker carries a [`TicketStep`]; the consumer plans the call
//! from it and the group's ticket as stored at that moment ([`plan`]): create it, comment on a
//! regression, resolve or close it, or nothing. [`created`] reads the new ticket's reference
//! from the tracker's answer. Pure.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::notice::{Action, AlertNotice, HttpCall};
use super::paging::percent_encode;
use super::rules::Channel;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketAction {
    /// A new group or a threshold: create the group's ticket unless it has one.
    Open,
    /// A regression: comment on the ticket (create it when there is none).
    Regress,
    /// The group resolved or the condition cleared.
    Resolve,
    /// The test button: check the credentials and the project without creating anything.
    Test,
}

/// What a tracker delivery carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketStep {
    pub channel: Channel,
    /// Which tracker, without credentials: `jira:<site>/<project>`, `github:<repo>`,
    /// `servicenow:<instance>`. A group has one ticket per tracker.
    pub tracker: String,
    pub fingerprint: String,
    pub action: TicketAction,
    pub title: String,
    pub summary: String,
    pub facts: Vec<(String, String)>,
    pub frames: Vec<String>,
    pub link: String,
    pub priority: u8,
}

/// A group's ticket in a tracker: Jira's key (`OPS-12`), GitHub's issue number, ServiceNow's
/// `sys_id` (its `number`, `INC0010001`, is what people read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TicketRef {
    pub key: String,
    pub number: Option<String>,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Create(HttpCall),
    Comment(HttpCall),
    Resolve(HttpCall),
    Check(HttpCall),
    /// Nothing to call, and why.
    Nothing(&'static str),
}

fn host(url: &str) -> &str {
    url.split_once("://")
        .map_or(url, |(_, r)| r)
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default()
}

/// The tracker key of a ticket channel (`None` for other channels).
pub fn tracker_of(channel: &Channel) -> Option<String> {
    Some(match channel {
        Channel::Jira {
            url, project_key, ..
        } => format!("jira:{}/{project_key}", host(url)),
        Channel::Github { repo, .. } => format!("github:{}", repo.to_ascii_lowercase()),
        Channel::Servicenow { instance_url, .. } => format!("servicenow:{}", host(instance_url)),
        _ => return None,
    })
}

impl TicketStep {
    pub fn of(channel: &Channel, notice: &AlertNotice) -> TicketStep {
        let action = match notice.action {
            Action::Resolve => TicketAction::Resolve,
            Action::Test => TicketAction::Test,
            Action::Trigger if notice.trigger == "regression" => TicketAction::Regress,
            Action::Trigger => TicketAction::Open,
        };
        TicketStep {
            channel: channel.clone(),
            tracker: tracker_of(channel).unwrap_or_default(),
            fingerprint: notice.group_key.clone(),
            action,
            title: notice.title().chars().take(200).collect(),
            summary: notice.summary(),
            facts: notice
                .facts()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            frames: notice.top_frames(8),
            link: notice.url().to_string(),
            priority: notice.priority(),
        }
    }

    fn markdown(&self) -> String {
        let facts: String = self
            .facts
            .iter()
            .map(|(k, v)| format!("| {k} | {} |\n", v.replace('|', "\\|")))
            .collect();
        let frames = match self.frames.is_empty() {
            true => String::new(),
            false => format!("\n```\n{}\n```\n", self.frames.join("\n")),
        };
        format!(
            "{}\n\n| | |\n|---|---|\n{facts}{frames}\n[Open the group in edge-logger]({})\n\n<sub>fingerprint `{}`</sub>",
            self.summary, self.link, self.fingerprint
        )
    }

    fn plain(&self) -> String {
        let facts: String = self
            .facts
            .iter()
            .map(|(k, v)| format!("{k}: {v}\n"))
            .collect();
        format!(
            "{}\n\n{facts}\n{}\n\n{}",
            self.summary,
            self.frames.join("\n"),
            self.link
        )
    }

    /// Jira's Atlassian Document Format: the summary, the facts, the top frames as code, the link.
    fn adf(&self, lead: &str) -> Value {
        let text = |t: &str| json!({"type": "text", "text": t});
        let mut content = vec![json!({"type": "paragraph", "content": [text(lead)]})];
        let facts: Vec<Value> = self
            .facts
            .iter()
            .map(|(k, v)| json!({"type": "listItem", "content": [{"type": "paragraph", "content": [{"type": "text", "text": format!("{k}: "), "marks": [{"type": "strong"}]}, text(v)]}]}))
            .collect();
        if !facts.is_empty() {
            content.push(json!({"type": "bulletList", "content": facts}));
        }
        if !self.frames.is_empty() {
            content.push(json!({"type": "codeBlock", "content": [text(&self.frames.join("\n"))]}));
        }
        content.push(json!({"type": "paragraph", "content": [{"type": "text", "text": "Open the group in edge-logger", "marks": [{"type": "link", "attrs": {"href": self.link}}]}]}));
        json!({"type": "doc", "version": 1, "content": content})
    }
}

/// ServiceNow's urgency and impact (1 high, 3 low) from triage's priority (10 highest).
pub fn servicenow_urgency(priority: u8) -> &'static str {
    match priority {
        9.. => "1",
        6..=8 => "2",
        _ => "3",
    }
}

fn json_call(method: &str, url: String, body: Option<Value>) -> HttpCall {
    HttpCall {
        method: method.into(),
        url,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("accept".into(), "application/json".into()),
        ],
        body: body.map(|b| b.to_string()).unwrap_or_default(),
    }
}

/// The call a step makes, given the group's ticket in this tracker as stored now.
pub fn plan(step: &TicketStep, existing: Option<&TicketRef>) -> Plan {
    use TicketAction::*;
    let call = match (step.action, existing) {
        (Test, _) => return Plan::Check(check(step)),
        (Resolve, None) => return Plan::Nothing("the group has no ticket to resolve"),
        (Resolve, Some(t)) => match resolve(step, t) {
            Some(call) => return Plan::Resolve(call),
            None => return Plan::Nothing("this channel leaves tickets open on resolve"),
        },
        (Open, Some(_)) => return Plan::Nothing("the group already has its ticket"),
        (Regress, Some(t)) => return Plan::Comment(comment(step, t)),
        (Open | Regress, None) => create(step),
    };
    Plan::Create(call)
}

fn create(step: &TicketStep) -> HttpCall {
    match &step.channel {
        Channel::Jira {
            url,
            email,
            api_token,
            project_key,
            issue_type,
            ..
        } => json_call(
            "POST",
            format!("{}/rest/api/3/issue", url.trim_end_matches('/')),
            Some(json!({"fields": {
                "project": {"key": project_key},
                "issuetype": {"name": issue_type},
                "summary": step.summary.chars().take(250).collect::<String>(),
                "description": step.adf(&step.title),
                "labels": ["edge-logger"],
            }})),
        )
        .basic_auth(email, api_token),
        Channel::Github {
            repo,
            token,
            labels,
            api_url,
            ..
        } => github_call(
            "POST",
            api_url,
            &format!("/repos/{repo}/issues"),
            token,
            Some(json!({
                "title": step.summary.chars().take(250).collect::<String>(),
                "body": step.markdown(),
                "labels": labels,
            })),
        ),
        Channel::Servicenow {
            instance_url,
            username,
            password,
        } => json_call(
            "POST",
            format!(
                "{}/api/now/table/incident",
                instance_url.trim_end_matches('/')
            ),
            Some(json!({
                "short_description": step.summary.chars().take(160).collect::<String>(),
                "description": step.plain(),
                "urgency": servicenow_urgency(step.priority),
                "impact": servicenow_urgency(step.priority),
                "correlation_id": format!("edge-logger:{}", step.fingerprint),
                "correlation_display": "edge-logger",
                "category": "software",
            })),
        )
        .basic_auth(username, password),
        _ => unreachable!("only trackers carry ticket steps"),
    }
}

fn github_call(
    method: &str,
    api_url: &Option<String>,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> HttpCall {
    let api = api_url
        .as_deref()
        .unwrap_or(super::receivers::GITHUB_API)
        .trim_end_matches('/');
    let mut call = json_call(method, format!("{api}{path}"), body);
    call.headers.retain(|(k, _)| k != "accept");
    call.with_header("accept", "application/vnd.github+json".into())
        .with_header("x-github-api-version", "2022-11-28".into())
        .with_header("authorization", format!("Bearer {token}"))
}

fn comment(step: &TicketStep, ticket: &TicketRef) -> HttpCall {
    let lead = format!("Regressed: {}", step.summary);
    match &step.channel {
        Channel::Jira {
            url,
            email,
            api_token,
            ..
        } => json_call(
            "POST",
            format!(
                "{}/rest/api/3/issue/{}/comment",
                url.trim_end_matches('/'),
                percent_encode(&ticket.key)
            ),
            Some(json!({"body": step.adf(&lead)})),
        )
        .basic_auth(email, api_token),
        Channel::Github {
            repo,
            token,
            api_url,
            ..
        } => github_call(
            "POST",
            api_url,
            &format!("/repos/{repo}/issues/{}/comments", ticket.key),
            token,
            Some(json!({"body": format!("**Regressed.** {}", step.markdown())})),
        ),
        Channel::Servicenow { .. } => servicenow_update(
            &step.channel,
            ticket,
            json!({"work_notes": format!("{lead}\n\n{}", step.plain())}),
        ),
        _ => unreachable!("only trackers carry ticket steps"),
    }
}

/// A PATCH of the group's ServiceNow incident.
fn servicenow_update(channel: &Channel, ticket: &TicketRef, body: Value) -> HttpCall {
    let Channel::Servicenow {
        instance_url,
        username,
        password,
    } = channel
    else {
        unreachable!("only ServiceNow channels update incidents")
    };
    json_call(
        "PATCH",
        format!(
            "{}/api/now/table/incident/{}",
            instance_url.trim_end_matches('/'),
            percent_encode(&ticket.key)
        ),
        Some(body),
    )
    .basic_auth(username, password)
}

fn resolve(step: &TicketStep, ticket: &TicketRef) -> Option<HttpCall> {
    Some(match &step.channel {
        Channel::Jira {
            url,
            email,
            api_token,
            resolve_transition,
            ..
        } => json_call(
            "POST",
            format!(
                "{}/rest/api/3/issue/{}/transitions",
                url.trim_end_matches('/'),
                percent_encode(&ticket.key)
            ),
            Some(json!({"transition": {"id": resolve_transition.as_ref()?}})),
        )
        .basic_auth(email, api_token),
        Channel::Github {
            repo,
            token,
            api_url,
            close_on_resolve,
            ..
        } => {
            if !close_on_resolve {
                return None;
            }
            github_call(
                "PATCH",
                api_url,
                &format!("/repos/{repo}/issues/{}", ticket.key),
                token,
                Some(json!({"state": "closed", "state_reason": "completed"})),
            )
        }
        Channel::Servicenow { .. } => servicenow_update(
            &step.channel,
            ticket,
            json!({
                "state": "6",
                "close_code": "Solved (Permanently)",
                "close_notes": format!("Resolved in edge-logger: {}", step.link),
            }),
        ),
        _ => return None,
    })
}

/// A harmless read that proves the credentials and the target: the Jira project, the GitHub
/// repository, one ServiceNow incident.
fn check(step: &TicketStep) -> HttpCall {
    let mut call = match &step.channel {
        Channel::Jira {
            url,
            email,
            api_token,
            project_key,
            ..
        } => json_call(
            "GET",
            format!(
                "{}/rest/api/3/project/{project_key}",
                url.trim_end_matches('/')
            ),
            None,
        )
        .basic_auth(email, api_token),
        Channel::Github {
            repo,
            token,
            api_url,
            ..
        } => github_call("GET", api_url, &format!("/repos/{repo}"), token, None),
        Channel::Servicenow {
            instance_url,
            username,
            password,
        } => json_call(
            "GET",
            format!(
                "{}/api/now/table/incident?sysparm_limit=1&sysparm_fields=sys_id",
                instance_url.trim_end_matches('/')
            ),
            None,
        )
        .basic_auth(username, password),
        _ => unreachable!("only trackers carry ticket steps"),
    };
    call.headers.retain(|(k, _)| k != "content-type");
    call
}

/// The new ticket's reference from the tracker's answer to a create.
pub fn created(step: &TicketStep, answer: &str) -> Option<TicketRef> {
    let v: Value = serde_json::from_str(answer).ok()?;
    let s = |v: &Value| v.as_str().map(str::to_string);
    match &step.channel {
        Channel::Jira { url, .. } => {
            let key = s(&v["key"])?;
            Some(TicketRef {
                url: Some(format!("{}/browse/{key}", url.trim_end_matches('/'))),
                number: Some(key.clone()),
                key,
            })
        }
        Channel::Github { .. } => Some(TicketRef {
            key: v["number"].as_u64()?.to_string(),
            number: v["number"].as_u64().map(|n| format!("#{n}")),
            url: s(&v["html_url"]),
        }),
        Channel::Servicenow { instance_url, .. } => {
            let sys_id = s(&v["result"]["sys_id"])?;
            Some(TicketRef {
                url: Some(format!(
                    "{}/nav_to.do?uri=incident.do%3Fsys_id%3D{sys_id}",
                    instance_url.trim_end_matches('/')
                )),
                number: s(&v["result"]["number"]),
                key: sys_id,
            })
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notice::tests_support::notice;

    fn channels() -> Vec<Channel> {
        serde_json::from_value(json!([
            {"type": "jira", "url": "https://team.atlassian.net", "email": "a@example.com", "api_token": "jt", "project_key": "OPS", "resolve_transition": "31"},
            {"type": "github", "repo": "acme/api", "token": "ghp_x", "labels": ["bug"], "close_on_resolve": true},
            {"type": "servicenow", "instance_url": "https://acme.service-now.com", "username": "svc", "password": "pw"}
        ]))
        .unwrap()
    }

    fn step(channel: &Channel, action: Action, trigger: &str) -> TicketStep {
        let mut n = notice();
        n.action = action;
        n.trigger = trigger.into();
        TicketStep::of(channel, &n)
    }

    #[test]
    fn one_ticket_per_group_then_comments_and_resolution() {
        let answers = [
            r#"{"id":"10001","key":"OPS-12","self":"https://team.atlassian.net/rest/api/3/issue/10001"}"#,
            r#"{"number":7,"html_url":"https://github.com/acme/api/issues/7"}"#,
            r#"{"result":{"sys_id":"abc123","number":"INC0010001"}}"#,
        ];
        let expect = [
            (
                "https://team.atlassian.net/rest/api/3/issue",
                "/rest/api/3/issue/OPS-12/comment",
                "/rest/api/3/issue/OPS-12/transitions",
            ),
            (
                "https://api.github.com/repos/acme/api/issues",
                "/repos/acme/api/issues/7/comments",
                "/repos/acme/api/issues/7",
            ),
            (
                "https://acme.service-now.com/api/now/table/incident",
                "/api/now/table/incident/abc123",
                "/api/now/table/incident/abc123",
            ),
        ];
        for ((channel, answer), (create_url, comment_path, resolve_path)) in
            channels().iter().zip(answers).zip(expect)
        {
            let open = step(channel, Action::Trigger, "new_group");
            let Plan::Create(call) = plan(&open, None) else {
                panic!("create")
            };
            assert_eq!(call.url, create_url);
            assert!(call.headers.iter().any(|(k, _)| k == "authorization"));
            let ticket = created(&open, answer).expect("a reference");
            assert_eq!(
                plan(&open, Some(&ticket)),
                Plan::Nothing("the group already has its ticket")
            );
            let Plan::Comment(c) =
                plan(&step(channel, Action::Trigger, "regression"), Some(&ticket))
            else {
                panic!("comment")
            };
            assert!(c.url.ends_with(comment_path), "{}", c.url);
            let Plan::Resolve(r) =
                plan(&step(channel, Action::Resolve, "new_group"), Some(&ticket))
            else {
                panic!("resolve")
            };
            assert!(r.url.ends_with(resolve_path), "{}", r.url);
            assert!(matches!(
                plan(&step(channel, Action::Test, "new_group"), None),
                Plan::Check(_)
            ));
        }
    }

    #[test]
    fn bodies_follow_each_tracker() {
        let [jira, github, snow]: [Channel; 3] = channels().try_into().unwrap();
        let Plan::Create(call) = plan(&step(&jira, Action::Trigger, "new_group"), None) else {
            panic!()
        };
        let body: Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(body["fields"]["project"]["key"], "OPS");
        assert_eq!(body["fields"]["issuetype"]["name"], "Bug");
        assert_eq!(body["fields"]["description"]["type"], "doc");
        assert!(body["fields"]["description"]
            .to_string()
            .contains("codeBlock"));
        let Plan::Create(call) = plan(&step(&github, Action::Trigger, "new_group"), None) else {
            panic!()
        };
        assert!(call
            .headers
            .contains(&("accept".into(), "application/vnd.github+json".into())));
        let body: Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(body["labels"], json!(["bug"]));
        let Plan::Create(call) = plan(&step(&snow, Action::Trigger, "new_group"), None) else {
            panic!()
        };
        let body: Value = serde_json::from_str(&call.body).unwrap();
        assert_eq!(body["correlation_id"], "edge-logger:abc");
        assert_eq!(body["urgency"], "2");
        let ticket = TicketRef {
            key: "OPS-1".into(),
            number: None,
            url: None,
        };
        let mut no_transition = jira.clone();
        if let Channel::Jira {
            resolve_transition, ..
        } = &mut no_transition
        {
            *resolve_transition = None;
        }
        assert!(matches!(
            plan(
                &step(&no_transition, Action::Resolve, "new_group"),
                Some(&ticket)
            ),
            Plan::Nothing(_)
        ));
        assert_eq!(tracker_of(&jira).unwrap(), "jira:team.atlassian.net/OPS");
    }
}
