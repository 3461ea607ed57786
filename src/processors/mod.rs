//! The pure ingest steps, each a function from plain data to plain data:
//! body → normalise → scrub → categorise → fingerprint (triage lives in `crate::triage`).

pub mod aliases;
pub mod body;
pub mod categorize;
pub mod environment;
pub mod fields;
pub mod fingerprint;
pub mod level;
pub mod normalize;
pub mod route;
pub mod scrub;
pub mod stack;
pub mod timestamp;
