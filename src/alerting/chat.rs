//! What the chat apps and phones receive: a Microsoft Teams Workflows webhook (an Adaptive
//! Card), a Discord webhook (an embed coloured by level), a Google Chat webhook (a card), and
//! an SMS through Twilio's Messages API. Each says the message, counts, first and last seen,
//! the release and the top frame, with a way to the group. Pure.

use serde_json::{json, Value};

use super::notice::{AlertNotice, HttpCall};
use super::paging::percent_encode;

/// The Discord embed colour (and Teams' accent) of a level.
pub fn level_colour(level: &str) -> u32 {
    match level {
        "fatal" | "critical" | "alert" | "emergency" => 0x8B0000,
        "error" => 0xE03E2F,
        "warn" | "warning" => 0xF2A900,
        "info" => 0x2F81F7,
        _ => 0x8A8F98,
    }
}

fn top_frame(notice: &AlertNotice) -> Option<String> {
    notice.top_frames(1).into_iter().next()
}

/// A Workflows ("When a Teams webhook request is received") message with one Adaptive Card.
pub fn teams(url: &str, notice: &AlertNotice) -> HttpCall {
    let facts: Vec<Value> = notice
        .facts()
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": value}))
        .collect();
    let mut body = vec![
        json!({"type": "TextBlock", "text": notice.summary(), "weight": "Bolder", "size": "Medium", "wrap": true,
               "color": if matches!(notice.level(), "error" | "fatal" | "critical") { "Attention" } else { "Default" }}),
        json!({"type": "FactSet", "facts": facts}),
    ];
    if let Some(frame) = top_frame(notice) {
        body.push(json!({"type": "TextBlock", "text": frame, "fontType": "Monospace", "wrap": true, "isSubtle": true}));
    }
    let card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": [{"type": "Action.OpenUrl", "title": "Open the group", "url": notice.url()}],
    });
    HttpCall::post_json(
        url.to_string(),
        &json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": card,
            }],
        }),
    )
}

/// A Discord webhook message with one embed; mentions are never parsed from event text.
pub fn discord(url: &str, notice: &AlertNotice) -> HttpCall {
    let mut fields: Vec<Value> = notice
        .facts()
        .into_iter()
        .map(|(name, value)| json!({"name": name, "value": value.chars().take(1024).collect::<String>(), "inline": true}))
        .collect();
    if let Some(frame) = top_frame(notice) {
        let frame: String = frame.chars().take(1000).collect();
        fields.push(json!({"name": "Top frame", "value": format!("`{frame}`"), "inline": false}));
    }
    HttpCall::post_json(
        url.to_string(),
        &json!({
            "username": "edge-logger",
            "allowed_mentions": {"parse": []},
            "embeds": [{
                "title": notice.summary().chars().take(256).collect::<String>(),
                "url": notice.url(),
                "description": notice.title().chars().take(4096).collect::<String>(),
                "color": level_colour(notice.level()),
                "fields": fields,
                "timestamp": notice.fired_at,
                "footer": {"text": "edge-logger"},
            }],
        }),
    )
}

/// A Google Chat message with a card (`cardsV2`) and a button to the group.
pub fn google_chat(url: &str, notice: &AlertNotice) -> HttpCall {
    let mut widgets: Vec<Value> = notice
        .facts()
        .into_iter()
        .map(|(label, text)| json!({"decoratedText": {"topLabel": label, "text": text}}))
        .collect();
    if let Some(frame) = top_frame(notice) {
        widgets.push(
            json!({"decoratedText": {"topLabel": "Top frame", "text": frame, "wrapText": true}}),
        );
    }
    widgets.push(json!({"buttonList": {"buttons": [{"text": "Open the group", "onClick": {"openLink": {"url": notice.url()}}}]}}));
    HttpCall::post_json(
        url.to_string(),
        &json!({
            "text": notice.summary(),
            "cardsV2": [{
                "cardId": format!("edge-logger-{}", notice.alert_id),
                "card": {
                    "header": {"title": notice.summary().chars().take(200).collect::<String>(), "subtitle": notice.level()},
                    "sections": [{"widgets": widgets}],
                },
            }],
        }),
    )
}

/// The text of an SMS: one GSM-7 segment (160 characters) where it fits, plain ASCII.
pub fn sms_text(notice: &AlertNotice) -> String {
    let ascii = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii() && !c.is_ascii_control() {
                    c
                } else {
                    '?'
                }
            })
            .collect()
    };
    let text = format!(
        "{} x{} {}",
        ascii(&notice.summary()),
        notice.count,
        notice.url()
    );
    if text.chars().count() <= 160 {
        return text;
    }
    let tail = format!(" x{} {}", notice.count, notice.url());
    let room = 160usize.saturating_sub(tail.len() + 3);
    if room < 20 {
        return ascii(&notice.summary()).chars().take(160).collect();
    }
    format!(
        "{}...{tail}",
        ascii(&notice.summary())
            .chars()
            .take(room)
            .collect::<String>()
    )
}

/// Twilio's `POST /2010-04-01/Accounts/{sid}/Messages.json`, form-encoded, basic auth.
pub fn sms(
    api: &str,
    account_sid: &str,
    auth_token: &str,
    from: &str,
    to: &str,
    notice: &AlertNotice,
) -> HttpCall {
    let sender = if from.starts_with("MG") {
        "MessagingServiceSid"
    } else {
        "From"
    };
    let form = [("To", to), (sender, from), ("Body", &sms_text(notice))]
        .iter()
        .map(|(k, v)| format!("{k}={}", percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    HttpCall {
        method: "POST".into(),
        url: format!(
            "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
            api.trim_end_matches('/')
        ),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        body: form,
    }
    .basic_auth(account_sid, auth_token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerting::notice::tests_support::notice;

    #[test]
    fn teams_sends_an_adaptive_card_through_a_workflow() {
        let body: Value =
            serde_json::from_str(&teams("https://x.logic.azure.com/w", &notice()).body).unwrap();
        assert_eq!(body["type"], "message");
        let a = &body["attachments"][0];
        assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
        assert_eq!(a["content"]["type"], "AdaptiveCard");
        assert_eq!(
            a["content"]["actions"][0]["url"],
            "https://logger.example.com/#/groups/abc"
        );
        let text = a["content"].to_string();
        assert!(
            text.contains("First seen")
                && text.contains("1.4.0")
                && text.contains("at handler (app.js:10:5)"),
            "{text}"
        );
    }

    #[test]
    fn discord_embed_is_coloured_and_mentions_nobody() {
        let body: Value =
            serde_json::from_str(&discord("https://discord.com/api/webhooks/1/t", &notice()).body)
                .unwrap();
        assert_eq!(body["allowed_mentions"]["parse"], json!([]));
        assert_eq!(body["embeds"][0]["color"], 0xE03E2F);
        assert_eq!(
            body["embeds"][0]["url"],
            "https://logger.example.com/#/groups/abc"
        );
        assert!(body["embeds"][0]["fields"].as_array().unwrap().len() <= 25);
    }

    #[test]
    fn google_chat_card_has_a_button() {
        let body: Value = serde_json::from_str(
            &google_chat(
                "https://chat.googleapis.com/v1/spaces/S/messages",
                &notice(),
            )
            .body,
        )
        .unwrap();
        let text = body["cardsV2"][0]["card"].to_string();
        assert!(
            text.contains("openLink") && text.contains("/#/groups/abc"),
            "{text}"
        );
    }

    #[test]
    fn sms_is_one_segment_and_form_encoded() {
        let mut long = notice();
        long.sample_event.as_mut().unwrap().message = "é".repeat(400);
        for n in [notice(), long] {
            let text = sms_text(&n);
            assert!(text.chars().count() <= 160 && text.is_ascii(), "{text}");
            assert!(
                text.ends_with("https://logger.example.com/#/groups/abc"),
                "{text}"
            );
        }
        let call = sms(
            "https://api.twilio.com",
            "AC1",
            "tok",
            "+14155550100",
            "+14155550101",
            &notice(),
        );
        assert_eq!(
            call.url,
            "https://api.twilio.com/2010-04-01/Accounts/AC1/Messages.json"
        );
        assert!(
            call.body
                .starts_with("To=%2B14155550101&From=%2B14155550100&Body="),
            "{}",
            call.body
        );
        let via_service = sms(
            "https://api.twilio.com",
            "AC1",
            "tok",
            "MG123",
            "+14155550101",
            &notice(),
        );
        assert!(via_service.body.contains("MessagingServiceSid=MG123"));
    }
}
