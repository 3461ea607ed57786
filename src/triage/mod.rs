//! Triage: what to do with an event (`alert`, `escalate`, `aggregate`), how urgent it is
//! (`priority` 1–10), where it routes (`routing_key`), and hints at the likely root cause.
//!
//! Severity sets the action: critical, alert, fatal and emergency → `alert`; error and warn →
//! `escalate`; notice and below → `aggregate`. A hint rule may raise it (a full disk pages
//! someone even when logged at `error`); nothing lowers it.

#[cfg(target_arch = "wasm32")]
pub(crate) mod assign_store;
mod hints;
pub mod workflow;

pub use hints::{matching_hints, HintRule, RULES};

use crate::model::{StoredEvent, Triage};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Action {
    Aggregate,
    Escalate,
    Alert,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Aggregate => "aggregate",
            Action::Escalate => "escalate",
            Action::Alert => "alert",
        }
    }

    fn for_severity(severity_number: u8) -> Action {
        match severity_number {
            18.. => Action::Alert,
            13..=17 => Action::Escalate,
            _ => Action::Aggregate,
        }
    }
}

/// Fills `priority`, `routing_key` and `triage` from the categorised event.
pub fn triage(event: &mut StoredEvent) {
    let (hints, raised) = matching_hints(event);
    let action =
        Action::for_severity(event.severity_number).max(raised.unwrap_or(Action::Aggregate));
    event.priority = priority(event);
    event.routing_key = routing_key(event);
    event.triage = Triage {
        action: action.as_str().to_string(),
        hints,
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
    // One buffer, each part's characters mapped in place: `format!` over four collected
    // Strings was 5 % of the native pipeline in `perf`.
    let parts = [
        event.environment.as_str(),
        event.source_type.as_str(),
        event.component.as_deref().unwrap_or("unknown"),
        event.level.as_str(),
    ];
    let mut key = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum::<usize>() + 8);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            key.push('.');
        }
        let start = key.len();
        key.extend(part.chars().map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        }));
        if key.len() == start {
            key.push_str("unknown");
        }
    }
    key
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
            ("notice", 10, "production", None, "aggregate", 3),
            ("warn", 13, "production", None, "escalate", 5),
            ("warn", 13, "development", None, "escalate", 3),
            ("error", 17, "production", None, "escalate", 7),
            ("error", 17, "production", Some("exception"), "escalate", 8),
            ("error", 17, "staging", None, "escalate", 6),
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
    fn hint_rules_raise_but_never_lower_the_action() {
        let mut disk = event("error", 17, "production");
        disk.message = "ENOSPC: no space left on device".into();
        triage(&mut disk);
        assert_eq!(disk.triage.action, "alert");
        let mut fatal = event("fatal", 21, "production");
        fatal.message = "22P02 validation failed".into();
        triage(&mut fatal);
        assert_eq!(fatal.triage.action, "alert");
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
        let mut e = event("warn", 13, "");
        e.source_type = String::new();
        e.component = Some("Crème brûlée".into());
        triage(&mut e);
        assert_eq!(
            e.routing_key, "unknown.unknown.Cr_me_br_l_e.warn",
            "one _ per character"
        );
    }
}
