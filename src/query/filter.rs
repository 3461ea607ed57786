//! A log query as a filter over events in memory: what a shard runs over the events of its
//! blocks. It means what the query's SQL means over rows (`logs::LogQuery::to_sql`): the same
//! parameters, the search terms through the search language's own matcher, full text through
//! the in-memory form of the FTS index. Also the tokens a matching event must hold, which let
//! a shard skip the blocks whose Bloom filter lacks them.
//!
//! Pure: plain data in, plain data out, the clock passed in.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::fields::{self, role};
use crate::model::StoredEvent;
use crate::processors::timestamp::parse_text;
use crate::query::search::{self, tag_text, text_matches, words, Condition, Op, Search, Term};

/// The tokens of an event that a read can ask a block for: its ids, its filterable field
/// values and tags (lowercased), and the words of its message, error and stack.
pub fn event_tokens(e: &StoredEvent, out: &mut BTreeSet<String>) {
    out.insert(id_token(&e.id));
    out.insert(format!("e:{}", e.event_id));
    for name in fields::names(role::FILTER) {
        if let Some(value) = fields::event_field(name).and_then(|f| (f.value)(e)) {
            out.insert(field_token(name, &value));
        }
    }
    for name in e.tags.keys() {
        if let Some(value) = tag_text(e, name) {
            out.insert(tag_token(name, &value));
        }
    }
    let error = e.error.as_ref();
    for text in [
        Some(e.message.as_str()),
        error.and_then(|x| x.kind.as_deref()),
        error.and_then(|x| x.message.as_deref()),
        error.and_then(|x| x.stack.as_deref()),
    ]
    .into_iter()
    .flatten()
    {
        for word in words(text) {
            out.insert(word_token(&word));
        }
    }
}

pub fn field_token(name: &str, value: &str) -> String {
    format!("f:{name}={}", value.to_lowercase())
}

pub fn tag_token(name: &str, value: &str) -> String {
    format!("t:{name}={}", value.to_lowercase())
}

pub fn word_token(word: &str) -> String {
    format!("w:{word}")
}

pub fn id_token(id: &str) -> String {
    format!("i:{id}")
}

/// A `/v1/logs` query in the form a shard evaluates: serialisable, the search terms as text.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventFilter {
    pub project: Option<String>,
    pub levels: Vec<String>,
    pub min_severity: Option<u8>,
    pub environment: Option<String>,
    /// Exact field filters (`service=checkout`), by the field table's names.
    pub exact: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    /// Full text in the FTS form `logs::fts_query` makes: quoted words, all required.
    pub text: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// Rows strictly before this `(received_at, id)`.
    pub cursor: Option<(String, String)>,
    pub match_nothing: bool,
    /// A group and the groups merged into it: any of these fingerprints.
    pub fingerprints: Vec<String>,
    /// The search terms no parameter expresses, printed in the search language.
    pub search: String,
    /// The clock the search's relative times (`timestamp:>-1h`) were read with.
    pub now: Option<String>,
}

/// An [`EventFilter`] ready to test events: its search and full text parsed once.
pub struct PreparedFilter {
    filter: EventFilter,
    terms: Search,
    phrases: Vec<String>,
    now: DateTime<Utc>,
    texts: RawTexts,
}

/// Texts a matching event's JSON must contain: a test on the raw text that rules out most
/// events before any is parsed.
#[derive(Debug, Default)]
struct RawTexts {
    /// As they are (a filter's exact value, quoted as JSON writes it; a tag's value).
    exact: Vec<String>,
    /// Lowercase ASCII words and values, found whatever their case.
    folded: Vec<String>,
    /// Groups of exact texts of which one must be there (a group's fingerprints).
    any_exact: Vec<Vec<String>>,
    /// `folded`, found whatever their case without lowercasing the event.
    folded_finder: Option<aho_corasick::AhoCorasick>,
}

impl RawTexts {
    fn of(filter: &EventFilter, phrases: &[String], terms: &Search) -> Self {
        let quoted = |v: &str| serde_json::to_string(v).unwrap_or_default();
        let mut exact: Vec<String> = filter.exact.iter().map(|(_, v)| quoted(v)).collect();
        exact.extend(filter.environment.iter().map(|v| quoted(v)));
        exact.extend(filter.tags.iter().map(|(_, v)| v.clone()));
        // JSON keeps these as they are: a text holding a quote, a backslash or a control
        // character would be escaped and is not looked for.
        let plain = |t: &String| {
            !t.is_empty() && !t.chars().any(|c| c.is_control() || c == '"' || c == '\\')
        };
        exact.retain(|t| plain(&t.trim_matches('"').to_string()));
        let mut folded: Vec<String> = phrases
            .iter()
            .flat_map(|p| whole_words(p))
            .chain(terms.literals())
            .filter(|w| w.is_ascii() && plain(w))
            .map(|w| w.to_ascii_lowercase())
            .collect();
        folded.sort_unstable();
        folded.dedup();
        let any_exact = if filter.fingerprints.is_empty() {
            Vec::new()
        } else {
            vec![filter.fingerprints.iter().map(|f| quoted(f)).collect()]
        };
        let folded_finder = (!folded.is_empty())
            .then(|| {
                aho_corasick::AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build(&folded)
                    .ok()
            })
            .flatten();
        RawTexts {
            exact,
            folded,
            any_exact,
            folded_finder,
        }
    }

    fn may_match(&self, raw: &str) -> bool {
        if !self.exact.iter().all(|t| raw.contains(t.as_str()))
            || !self
                .any_exact
                .iter()
                .all(|group| group.iter().any(|t| raw.contains(t.as_str())))
        {
            return false;
        }
        if self.folded.is_empty() {
            return true;
        }
        let Some(finder) = &self.folded_finder else {
            let lower = raw.to_ascii_lowercase();
            return self.folded.iter().all(|t| lower.contains(t.as_str()));
        };
        // Every text must be found: note each as it is, stop once all are.
        let mut seen = vec![false; self.folded.len()];
        let mut left = self.folded.len();
        for found in finder.find_overlapping_iter(raw) {
            let slot = &mut seen[found.pattern().as_usize()];
            if !*slot {
                *slot = true;
                left -= 1;
                if left == 0 {
                    return true;
                }
            }
        }
        false
    }
}

/// The quoted words of an FTS query made by `logs::fts_query` (`"a" "b-c"*`), each as the
/// in-memory matcher takes a phrase (a trailing `*` kept for a prefix).
fn fts_phrases(text: &str) -> Vec<String> {
    let mut phrases = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '"' {
            continue;
        }
        let mut phrase = String::new();
        while let Some(c) = chars.next() {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    phrase.push('"');
                    continue;
                }
                break;
            }
            phrase.push(c);
        }
        if chars.peek() == Some(&'*') {
            chars.next();
            phrase.push('*');
        }
        phrases.push(phrase);
    }
    phrases
}

/// The words of a phrase an event must hold whole (a prefix word only starts one).
fn whole_words(phrase: &str) -> Vec<String> {
    let mut list: Vec<String> = words(phrase);
    if phrase.ends_with('*') {
        list.pop();
    }
    list
}

impl EventFilter {
    /// Parses the search and full text once; `Err` names a search the shard cannot read (it was
    /// printed by this code, so that is a bug, answered as one).
    pub fn prepare(self, clock: DateTime<Utc>) -> Result<PreparedFilter, String> {
        let terms = if self.search.trim().is_empty() {
            Search::default()
        } else {
            search::parse(&self.search).map_err(|e| format!("search not readable: {e:?}"))?
        };
        let now = self.now.as_deref().and_then(parse_text).unwrap_or(clock);
        let phrases = self.text.as_deref().map(fts_phrases).unwrap_or_default();
        Ok(PreparedFilter {
            texts: RawTexts::of(&self, &phrases, &terms),
            phrases,
            filter: self,
            terms,
            now,
        })
    }
}

impl PreparedFilter {
    pub fn filter(&self) -> &EventFilter {
        &self.filter
    }

    /// Whether a stored event's JSON may match: `false` only when it lacks a text every match
    /// holds (a cheap test before parsing it).
    pub fn may_match_raw(&self, raw: &str) -> bool {
        !self.filter.match_nothing && self.texts.may_match(raw)
    }

    /// Whether the event matches, as the query's SQL would.
    pub fn matches(&self, e: &StoredEvent) -> bool {
        let f = &self.filter;
        if f.match_nothing {
            return false;
        }
        if let Some((at, id)) = &f.cursor {
            if (e.received_at.as_str(), e.id.as_str()) >= (at.as_str(), id.as_str()) {
                return false;
            }
        }
        if f.project
            .as_ref()
            .is_some_and(|p| e.project.as_ref() != Some(p))
            || (!f.levels.is_empty() && !f.levels.contains(&e.level))
            || f.min_severity.is_some_and(|min| e.severity_number < min)
            || f.environment
                .as_ref()
                .is_some_and(|env| *env != e.environment)
            || f.from.as_ref().is_some_and(|from| e.timestamp < *from)
            || f.to.as_ref().is_some_and(|to| e.timestamp > *to)
        {
            return false;
        }
        let exact = f.exact.iter().all(|(name, value)| {
            fields::event_field(name)
                .and_then(|field| (field.value)(e))
                .is_some_and(|v| v == *value)
        });
        let tags = f
            .tags
            .iter()
            .all(|(name, value)| tag_text(e, name).is_some_and(|v| v == *value));
        let fingerprint = f.fingerprints.is_empty() || f.fingerprints.contains(&e.fingerprint);
        exact
            && tags
            && fingerprint
            && self.phrases.iter().all(|p| text_matches(e, p, true))
            && self.terms.matches(e, self.now)
    }

    /// Tokens every matching event holds (see [`event_tokens`]).
    pub fn required_tokens(&self) -> Vec<String> {
        let f = &self.filter;
        let mut out: Vec<String> = f
            .exact
            .iter()
            .map(|(name, value)| field_token(name, value))
            .chain(f.tags.iter().map(|(n, v)| tag_token(n, v)))
            .chain(
                self.phrases
                    .iter()
                    .flat_map(|p| whole_words(p))
                    .map(|w| word_token(&w)),
            )
            .collect();
        for term in self.terms.terms.iter().filter(|t| !t.negated) {
            if let Condition::Text { text, .. } = &term.condition {
                out.extend(whole_words(text).iter().map(|w| word_token(w)));
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Groups of tokens of which every matching event holds one: a group's fingerprints, and
    /// each positive `field:a,b` or `tag:a` term on a filterable field without wildcards.
    pub fn any_of_tokens(&self) -> Vec<Vec<String>> {
        let mut out = Vec::new();
        if !self.filter.fingerprints.is_empty() {
            out.push(
                self.filter
                    .fingerprints
                    .iter()
                    .map(|fp| field_token("fingerprint", fp))
                    .collect(),
            );
        }
        for term in self.terms.terms.iter().filter(|t| !t.negated) {
            if let Some(group) = term_tokens(term) {
                out.push(group);
            }
        }
        out
    }
}

fn term_tokens(term: &Term) -> Option<Vec<String>> {
    match &term.condition {
        Condition::Field {
            field,
            op: Op::Eq,
            values,
        } if fields::event_field(field).is_some_and(|f| f.is(role::FILTER))
            && values.iter().all(|v| !v.is_wildcard()) =>
        {
            Some(
                values
                    .iter()
                    .map(|v| field_token(field, &v.text()))
                    .collect(),
            )
        }
        Condition::Tag { name, values } if values.iter().all(|v| !v.is_wildcard()) => {
            Some(values.iter().map(|v| tag_token(name, &v.text())).collect())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::processors::timestamp::parse_text;

    fn event() -> StoredEvent {
        StoredEvent {
            id: "0193-b".into(),
            event_id: "e1".into(),
            project: Some("shop".into()),
            received_at: "2026-12-01T10:00:00.000Z".into(),
            timestamp: "2026-12-01T09:59:59.000Z".into(),
            level: "error".into(),
            severity_number: 17,
            message: "Payment failed: card-declined".into(),
            environment: "production".into(),
            service: Some("checkout".into()),
            source_type: "backend".into(),
            fingerprint: "fp1".into(),
            tags: serde_json::json!({"region": "eu", "shard": 3})
                .as_object()
                .cloned()
                .unwrap(),
            ..Default::default()
        }
    }

    fn now() -> DateTime<Utc> {
        parse_text("2026-12-01T10:05:00.000Z").unwrap()
    }

    fn matches(filter: EventFilter) -> bool {
        filter.prepare(now()).unwrap().matches(&event())
    }

    #[test]
    fn each_parameter_filters_as_its_sql_does() {
        let cases: Vec<(EventFilter, bool)> = vec![
            (EventFilter::default(), true),
            (
                EventFilter {
                    project: Some("shop".into()),
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    project: Some("other".into()),
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    levels: vec!["warn".into(), "error".into()],
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    levels: vec!["info".into()],
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    min_severity: Some(17),
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    min_severity: Some(18),
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    environment: Some("staging".into()),
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    exact: vec![("service".into(), "checkout".into())],
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    exact: vec![("service".into(), "Checkout".into())],
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    exact: vec![("release".into(), "1.0".into())],
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    tags: vec![("region".into(), "eu".into())],
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    tags: vec![("shard".into(), "3".into())],
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    text: Some("\"payment\" \"card-declined\"".into()),
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    text: Some("\"pay\"*".into()),
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    text: Some("\"pay\"".into()),
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    from: Some("2026-12-01T10:00:00.000Z".into()),
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    to: Some("2026-12-01T10:00:00.000Z".into()),
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    cursor: Some(("2026-12-01T10:00:00.000Z".into(), "0193-c".into())),
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    cursor: Some(("2026-12-01T10:00:00.000Z".into(), "0193-b".into())),
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    match_nothing: true,
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    fingerprints: vec!["fp0".into(), "fp1".into()],
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    fingerprints: vec!["fp0".into()],
                    ..Default::default()
                },
                false,
            ),
            (
                EventFilter {
                    search: "-service:api service:check* payment".into(),
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    search: "timestamp:>-1h".into(),
                    ..Default::default()
                },
                true,
            ),
            (
                EventFilter {
                    search: "timestamp:<-1h".into(),
                    ..Default::default()
                },
                false,
            ),
        ];
        for (n, (filter, expected)) in cases.into_iter().enumerate() {
            assert_eq!(matches(filter.clone()), expected, "case {n}: {filter:?}");
        }
    }

    #[test]
    fn the_raw_test_never_rules_out_a_match() {
        let raw = serde_json::to_string(&event()).unwrap();
        let filters = [
            EventFilter {
                exact: vec![("service".into(), "checkout".into())],
                ..Default::default()
            },
            EventFilter {
                tags: vec![("shard".into(), "3".into())],
                ..Default::default()
            },
            EventFilter {
                text: Some("\"PAYMENT\" \"card-declined\"".into()),
                ..Default::default()
            },
            EventFilter {
                search: "Payment service:check*".into(),
                ..Default::default()
            },
            EventFilter {
                fingerprints: vec!["fp0".into(), "fp1".into()],
                environment: Some("production".into()),
                ..Default::default()
            },
        ];
        for filter in filters {
            let prepared = filter.clone().prepare(now()).unwrap();
            assert!(prepared.matches(&event()), "{filter:?}");
            assert!(prepared.may_match_raw(&raw), "{filter:?}");
        }
        let misses = [
            EventFilter {
                exact: vec![("service".into(), "checkou".into())],
                ..Default::default()
            },
            EventFilter {
                text: Some("\"refund\"".into()),
                ..Default::default()
            },
            EventFilter {
                fingerprints: vec!["fp7".into()],
                ..Default::default()
            },
        ];
        for filter in misses {
            assert!(
                !filter.clone().prepare(now()).unwrap().may_match_raw(&raw),
                "{filter:?}"
            );
        }
    }

    #[test]
    fn fts_phrases_read_what_fts_query_writes() {
        let text = crate::query::logs::fts_query("pay* say\"hi  card-declined").unwrap();
        assert_eq!(fts_phrases(&text), vec!["pay*", "say\"hi", "card-declined"]);
    }

    #[test]
    fn required_tokens_come_from_what_every_match_holds() {
        let filter = EventFilter {
            exact: vec![("service".into(), "Checkout".into())],
            text: Some("\"payment\" \"card\"*".into()),
            search: "timeout -refused trace_id:[abc,def] tag[region]:eu".into(),
            fingerprints: vec!["fp1".into()],
            ..Default::default()
        }
        .prepare(now())
        .unwrap();
        assert_eq!(
            filter.required_tokens(),
            vec!["f:service=checkout", "w:payment", "w:timeout"]
        );
        assert_eq!(
            filter.any_of_tokens(),
            vec![
                vec!["f:fingerprint=fp1".to_string()],
                vec!["f:trace_id=abc".to_string(), "f:trace_id=def".to_string()],
                vec!["t:region=eu".to_string()],
            ]
        );
        let mut held = BTreeSet::new();
        event_tokens(&event(), &mut held);
        for token in [
            "i:0193-b",
            "e:e1",
            "f:service=checkout",
            "t:shard=3",
            "w:declined",
        ] {
            assert!(held.contains(token), "{token} in {held:?}");
        }
    }
}
