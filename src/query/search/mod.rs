//! The search language: what a Sentry or Loki user types into one box, parsed once into terms
//! that every reader applies the same way (`/v1/logs`, `/v1/groups`, `/v1/stats`, alert rules'
//! `match.query` and the live tail).
//!
//! ```text
//! payment "gateway timeout"        free text (full text; a quoted phrase stays one phrase)
//! service:checkout                 a field equals a value
//! !service:checkout -env:dev       not (both prefixes)
//! component:[Auth,Cart]            any of
//! route:/api/*  release:*-rc       * wildcards on text fields
//! priority:>=8  level:>=warn       comparisons on numbers and levels
//! timestamp:>-1h  timestamp:<2026-12-01T00:00:00Z    times, relative or absolute
//! has:user_id  is:unresolved       presence; a group's status
//! is:new_in:1.4.0  assignee:ann*   a group first seen in a release; its assignee
//! tag[region]:eu  region:eu        tags (any key that is not a field is a tag)
//! ```
//!
//! Pure, one stage a file, each with its tests: `terms` (the tree, the field table), `lexer`
//! (values), `parse` (text into terms), `print` (terms into canonical text), `lower` (terms into
//! a route's parameters and SQL) and `matcher` (one event in memory, as the tail hub, alert
//! rules and the shards' block reader apply it). Nothing here imports `worker`.

mod lexer;
mod lower;
mod matcher;
mod parse;
mod print;
mod terms;

pub use lower::{
    bound, field_of, field_sql, fts_text, level_names, plain_value, tag_expr, take_query, Lowered,
    Params,
};
pub use matcher::event_value;
pub(crate) use matcher::{tag_text, text_matches, words};
pub use parse::parse;
pub use print::{term_text, unparse, unsupported};
pub use terms::{
    fields, find_field, level_band, time_range, time_value, Condition, Field, Kind, Op, Pattern,
    Search, Term, MAX_QUERY_CHARS, MAX_TERMS, MAX_WILDCARDS, STATUSES,
};
