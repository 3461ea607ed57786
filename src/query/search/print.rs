//! The printer of the search language: terms back into canonical text, so that
//! `parse(unparse(s)) == s` for every parsed `s` (and error messages quote a term as typed).

use super::terms::{at, find_field, Condition, Pattern, Search, Term};
use crate::error::AppError;

/// The query as canonical text: `parse(unparse(s)) == s` for every parsed `s`.
pub fn unparse(search: &Search) -> String {
    search
        .terms
        .iter()
        .map(|t| {
            let mut out = String::new();
            if t.negated {
                out.push('!');
            }
            match &t.condition {
                Condition::Text { text, phrase } => {
                    let p = Pattern(text.split('*').map(str::to_string).collect());
                    if *phrase || needs_quotes(&p) || text.starts_with(['!', '-']) {
                        out.push_str(&quoted(&p));
                    } else {
                        out.push_str(&bare(&p));
                    }
                }
                Condition::Field { field, op, values } => {
                    out.push_str(field);
                    out.push(':');
                    out.push_str(op.as_str());
                    out.push_str(&list(values));
                }
                Condition::Tag { name, values } => {
                    if find_field(name).is_some() || ["has", "is", "tag"].contains(&name.as_str()) {
                        out.push_str(&format!("tag[{name}]:"));
                    } else {
                        out.push_str(name);
                        out.push(':');
                    }
                    out.push_str(&list(values));
                }
                Condition::Has { field, tag } => {
                    out.push_str("has:");
                    out.push_str(
                        field
                            .map(str::to_string)
                            .or(tag.clone())
                            .unwrap_or_default()
                            .as_str(),
                    );
                }
                Condition::Status(s) => {
                    out.push_str("is:");
                    out.push_str(if *s == "open" { "unresolved" } else { s });
                }
            }
            out
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn list(values: &[Pattern]) -> String {
    if values.len() == 1 {
        return value_text(&values[0]);
    }
    format!(
        "[{}]",
        values.iter().map(value_text).collect::<Vec<_>>().join(",")
    )
}

fn needs_quotes(p: &Pattern) -> bool {
    let text = p.0.concat();
    text.is_empty()
        || text
            .chars()
            .any(|c| c.is_whitespace() || "\"[],:<>=".contains(c))
}

pub(super) fn value_text(p: &Pattern) -> String {
    if needs_quotes(p) {
        quoted(p)
    } else {
        bare(p)
    }
}

fn escape(piece: &str) -> String {
    piece
        .replace('\\', "\\\\")
        .replace('*', "\\*")
        .replace('"', "\\\"")
}

fn bare(p: &Pattern) -> String {
    p.0.iter().map(|s| escape(s)).collect::<Vec<_>>().join("*")
}

fn quoted(p: &Pattern) -> String {
    format!("\"{}\"", bare(p))
}

/// The term's text as typed, for error messages.
pub fn term_text(term: &Term) -> String {
    unparse(&Search {
        terms: vec![term.clone()],
    })
}

/// A term of the search that a route cannot apply: a 400 naming it and what the route takes.
pub fn unsupported(term: &Term, route: &str, takes: &str) -> AppError {
    at(
        term.column,
        &term_text(term),
        format_args!("{route} cannot be filtered so; it takes {takes}"),
    )
}

#[cfg(test)]
mod tests {
    use super::super::parse::parse;
    use super::super::terms::testing::Lcg;
    use super::*;

    /// Random queries print and parse back to themselves.
    #[test]
    fn unparse_round_trips() {
        let mut rng = Lcg(11);
        let atoms = [
            "svc",
            "\"two words\"",
            "-x",
            "!service:a",
            "component:[a,\"b c\"]",
            "route:/a/*",
            "priority:>3",
            "level:<=info",
            "timestamp:<-2d",
            "has:trace_id",
            "is:ignored",
            "tag[k.v]:\"q\\\"\"",
            "zone:eu*",
            "release:1.0\\*",
            "pay*",
            "user:\"\"",
        ];
        for _ in 0..2000 {
            let q: Vec<&str> = (0..(1 + rng.next() % 6))
                .map(|_| *rng.pick(&atoms))
                .collect();
            let q = q.join(" ");
            let parsed = parse(&q).unwrap_or_else(|e| panic!("{q}: {}", e.message()));
            let printed = unparse(&parsed);
            let again = parse(&printed).unwrap();
            assert_eq!(
                strip_columns(again),
                strip_columns(parsed),
                "{q} → {printed}"
            );
            assert_eq!(unparse(&parse(&printed).unwrap()), printed);
        }
    }

    fn strip_columns(mut s: Search) -> Search {
        for t in &mut s.terms {
            t.column = 0;
        }
        s
    }
}
