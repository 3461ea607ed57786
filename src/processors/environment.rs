//! Environment names: aliases onto canonical names, everything else lower-cased and kept.

/// Canonical name for an environment as sent, or `None` if it is blank.
/// `prod`, `prd`, `live` → `production`; `dev`, `local` → `development`;
/// `stage`, `stg`, `preprod` → `staging`; `qa`, `testing` → `test`.
pub fn normalize_environment(raw: &str) -> Option<String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return None;
    }
    let mut buf = [0; 16];
    let canonical = match super::short_lowercase(trimmed, &mut buf) {
        Some("prod" | "prd" | "production" | "live") => "production",
        Some("dev" | "develop" | "development" | "local" | "localhost") => "development",
        Some("stage" | "stg" | "staging" | "preprod" | "pre-prod" | "pre-production") => "staging",
        Some("test" | "testing" | "qa" | "tst") => "test",
        _ => return Some(trimmed.to_lowercase()),
    };
    Some(canonical.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases() {
        let cases = [
            ("prod", Some("production")),
            ("PRD", Some("production")),
            ("Live", Some("production")),
            ("production", Some("production")),
            ("dev", Some("development")),
            ("local", Some("development")),
            (" development ", Some("development")),
            ("stage", Some("staging")),
            ("stg", Some("staging")),
            ("qa", Some("test")),
            ("Canary-EU", Some("canary-eu")),
            ("", None),
            ("   ", None),
        ];
        for (input, expected) in cases {
            assert_eq!(
                normalize_environment(input).as_deref(),
                expected,
                "{input:?}"
            );
        }
    }
}
