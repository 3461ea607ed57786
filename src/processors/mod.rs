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
pub mod release;
pub mod route;
pub mod scrub;
pub mod stack;
pub mod timestamp;

crate::error::message_error!(
    /// Why an event was refused: one sentence for its sender that names the field (it becomes
    /// the per-event error of the 202 answer, code `invalid_event`).
    Invalid
);

/// `word` trimmed and ASCII-lowercased in `buf`, for matching against a table of short names
/// without allocating; `None` when longer than any such name.
pub(crate) fn short_lowercase<'a>(word: &str, buf: &'a mut [u8; 16]) -> Option<&'a str> {
    let word = word.trim().as_bytes();
    let lower = buf.get_mut(..word.len())?;
    lower.copy_from_slice(word);
    lower.make_ascii_lowercase();
    // ASCII lowercasing keeps UTF-8 valid.
    std::str::from_utf8(lower).ok()
}
