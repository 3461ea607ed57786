//! What a key may do (`Scope`) and how fast (`RateTier`): the words keys are made of, shared by
//! `keys` (which stores them) and `auth` (which checks them).

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Ingest,
    Read,
    /// Upload and remove source maps (a CI job's token for `sentry-cli`).
    Sourcemaps,
    Admin,
}

/// A key's rate-limit tier: which of the platform's rate-limiting bindings counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RateTier {
    #[default]
    Default,
    Low,
    High,
}

impl RateTier {
    pub fn as_str(self) -> &'static str {
        match self {
            RateTier::Default => "default",
            RateTier::Low => "low",
            RateTier::High => "high",
        }
    }

    pub fn parse(text: &str) -> Option<RateTier> {
        [RateTier::Default, RateTier::Low, RateTier::High]
            .into_iter()
            .find(|t| t.as_str() == text)
    }
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Ingest, Scope::Read, Scope::Sourcemaps, Scope::Admin];

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Sourcemaps => "sourcemaps",
            Scope::Admin => "admin",
        }
    }
}
