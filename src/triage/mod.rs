//! Triage: what to do with an event (`alert`, `escalate`, `aggregate`), how urgent it is
//! (`priority` 1–10), where it routes (`routing_key`), and hints at the likely root cause.

mod hints;

pub use hints::hint_rules;

use crate::model::{StoredEvent, Triage};

/// Fills `priority`, `routing_key` and `triage` from the categorised event.
pub fn triage(event: &mut StoredEvent) {
    let action = if event.severity_number >= 18 {
        // critical and above wake someone up
        "alert"
    } else if event.severity_number >= 17 && event.environment == "production" {
        "escalate"
    } else {
        "aggregate"
    };
    event.priority = priority(event);
    event.routing_key = routing_key(event);
    event.triage = Triage {
        action: action.to_string(),
        hints: hints::matching_hints(event),
    };
}

/// Level sets the base; production, exceptions and UI-visible failures raise it, development lowers it.
fn priority(event: &StoredEvent) -> u8 {
    let base: i32 = match event.severity_number {
        0..=8 => 1,
        9 => 2,
        10..=12 => 3,
        13..=16 => 4,
        17 => 6,
        18 => 8,
        19..=23 => 9,
        _ => 10,
    };
    let mut p = base;
    if event.severity_number >= 13 {
        match event.environment.as_str() {
            "production" => p += 1,
            "development" | "test" => p -= 1,
            _ => {}
        }
    }
    if event.error_kind.as_deref() == Some("exception") {
        p += 1;
    }
    p.clamp(1, 10) as u8
}

/// `environment.source_type.component.level`, each part a safe token.
fn routing_key(event: &StoredEvent) -> String {
    let part = |s: &str| -> String {
        let cleaned: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        if cleaned.is_empty() {
            "unknown".into()
        } else {
            cleaned
        }
    };
    format!(
        "{}.{}.{}.{}",
        part(&event.environment),
        part(&event.source_type),
        part(event.component.as_deref().unwrap_or("unknown")),
        part(&event.level)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(level: &str, sev: u8, env: &str) -> StoredEvent {
        StoredEvent {
            message: "x".into(),
            level: level.into(),
            severity_number: sev,
            environment: env.into(),
            source_type: "backend".into(),
            ..Default::default()
        }
    }

    #[test]
    fn actions_and_priorities() {
        let cases = [
            ("debug", 5, "production", None, "aggregate", 1),
            ("info", 9, "production", None, "aggregate", 2),
            ("warn", 13, "production", None, "aggregate", 5),
            ("warn", 13, "development", None, "aggregate", 3),
            ("error", 17, "production", None, "escalate", 7),
            ("error", 17, "production", Some("exception"), "escalate", 8),
            ("error", 17, "staging", None, "aggregate", 6),
            ("critical", 18, "production", None, "alert", 9),
            ("fatal", 21, "production", Some("exception"), "alert", 10),
            ("emergency", 24, "development", None, "alert", 9),
        ];
        for (level, sev, env, kind, action, prio) in cases {
            let mut e = event(level, sev, env);
            e.error_kind = kind.map(Into::into);
            triage(&mut e);
            assert_eq!(
                (e.triage.action.as_str(), e.priority),
                (action, prio),
                "{level} {env} {kind:?}"
            );
        }
    }

    #[test]
    fn routing_keys_are_safe_tokens() {
        let mut e = event("error", 17, "production");
        e.component = Some("Auth.Validator v2".into());
        triage(&mut e);
        assert_eq!(e.routing_key, "production.backend.Auth_Validator_v2.error");
        let mut e = event("info", 9, "staging");
        triage(&mut e);
        assert_eq!(e.routing_key, "staging.backend.unknown.info");
    }
}
