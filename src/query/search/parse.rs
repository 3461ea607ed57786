//! The parser of the search language: a query's text into terms (`key:value`, negations,
//! lists, comparisons, `has:`, `is:`, tags and free text), every refusal a 400 naming the token
//! and its column.

use chrono::DateTime;

use super::lexer::Lexer;
use super::terms::{
    at, find_field, time_value, Condition, Field, Kind, Op, Pattern, Search, Term, MAX_QUERY_CHARS,
    MAX_TERMS, STATUSES,
};
use crate::error::{invalid_parameter as bad, AppError};
use crate::processors::level::Level;

/// Parses a query. An empty query has no terms.
pub fn parse(source: &str) -> Result<Search, AppError> {
    if source.chars().count() > MAX_QUERY_CHARS {
        return Err(bad(format!(
            "query is longer than {MAX_QUERY_CHARS} characters"
        )));
    }
    let mut lx = Lexer {
        chars: source.chars().collect(),
        pos: 0,
    };
    let mut terms = Vec::new();
    loop {
        while lx.peek().is_some_and(char::is_whitespace) {
            lx.pos += 1;
        }
        if lx.peek().is_none() {
            break;
        }
        if terms.len() == MAX_TERMS {
            return Err(at(
                lx.column(),
                &lx.token_from(lx.pos),
                format_args!("more than {MAX_TERMS} terms"),
            ));
        }
        terms.push(term(&mut lx)?);
    }
    Ok(Search { terms })
}

fn term(lx: &mut Lexer) -> Result<Term, AppError> {
    let start = lx.pos;
    let column = lx.column();
    let negated = matches!(lx.peek(), Some('!') | Some('-'))
        && lx.chars.get(lx.pos + 1).is_some_and(|c| !c.is_whitespace());
    if negated {
        lx.pos += 1;
    }
    // A key is letters, digits and `_-./@` up to `:` (or `tag[name]:`); anything else is text.
    let key_start = lx.pos;
    let mut key_end = key_start;
    let mut tag_name: Option<String> = None;
    while key_end < lx.chars.len() && is_key_char(lx.chars[key_end]) && lx.chars[key_end] != ':' {
        key_end += 1;
    }
    let key: String = lx.chars[key_start..key_end].iter().collect();
    if key.eq_ignore_ascii_case("tag") && lx.chars.get(key_end) == Some(&'[') {
        let close = (key_end..lx.chars.len()).find(|i| lx.chars[*i] == ']');
        match close {
            Some(close) if lx.chars.get(close + 1) == Some(&':') => {
                tag_name = Some(lx.chars[key_end + 1..close].iter().collect());
                key_end = close;
            }
            _ => {
                return Err(at(
                    column,
                    &lx.token_from(start),
                    "tag[...] needs a name in brackets and then ':'",
                ))
            }
        }
        key_end += 1;
    }
    if key_end == key_start || lx.chars.get(key_end) != Some(&':') {
        // Free text.
        let quoted = lx.peek() == Some('"');
        let value = lx.value(false)?;
        let text = value.0.join("*");
        if text.trim().is_empty() {
            return Err(at(column, &lx.token_from(start), "an empty term"));
        }
        return Ok(Term {
            negated,
            condition: Condition::Text {
                text,
                phrase: quoted,
            },
            column,
        });
    }
    lx.pos = key_end + 1;
    let value_column = lx.column();
    let token = lx.token_from(start);
    if lx.peek().is_none_or(char::is_whitespace) {
        return Err(at(
            value_column,
            &token,
            "a key with no value (quote an empty value as \"\")",
        ));
    }
    let condition = match (&tag_name, key.to_ascii_lowercase().as_str()) {
        (Some(name), _) => Condition::Tag {
            name: valid_tag(name, column, &token)?,
            values: values(lx)?,
        },
        (None, "has") => {
            let v = lx.value(false)?;
            let name = v.text();
            match find_field(&name) {
                Some(f) => Condition::Has {
                    field: Some(f.name),
                    tag: None,
                },
                None => Condition::Has {
                    field: None,
                    tag: Some(valid_tag(&name, value_column, &token)?),
                },
            }
        }
        (None, "is") => {
            let typed = lx.value(false)?.text();
            // `is:new_in:<release>`: a group first seen in that release.
            if let Some(release) = typed
                .get(..7)
                .filter(|p| p.eq_ignore_ascii_case("new_in:"))
                .map(|_| &typed[7..])
            {
                if release.is_empty() {
                    return Err(at(value_column, &token, "is:new_in: needs a release"));
                }
                Condition::Field {
                    field: "first_release",
                    op: Op::Eq,
                    values: vec![Pattern::literal(release)],
                }
            } else {
                let v = typed.to_ascii_lowercase();
                let status = STATUSES
                    .iter()
                    .find(|(name, _)| *name == v)
                    .map(|(_, stored)| *stored)
                    .ok_or_else(|| {
                        at(
                            value_column,
                            &token,
                            "is: takes unresolved, resolved, ignored or new_in:<release>",
                        )
                    })?;
                Condition::Status(status)
            }
        }
        (None, name) => match find_field(name) {
            Some(f) => field_condition(lx, f, value_column, &token)?,
            None => Condition::Tag {
                name: valid_tag(&key, column, &token)?,
                values: values(lx)?,
            },
        },
    };
    if lx.peek().is_some_and(|c| !c.is_whitespace()) {
        return Err(at(
            lx.column(),
            &token,
            "unexpected text after the value (quote a value with spaces)",
        ));
    }
    Ok(Term {
        negated,
        condition,
        column,
    })
}

fn valid_tag(name: &str, column: usize, token: &str) -> Result<String, AppError> {
    if name.is_empty()
        || name.len() > 128
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/".contains(c))
    {
        return Err(at(
            column,
            token,
            format_args!("'{name}' is neither a field nor a tag name (letters, digits and _-.:/)"),
        ));
    }
    Ok(name.to_string())
}

/// One value or `[a, b, …]`.
fn values(lx: &mut Lexer) -> Result<Vec<Pattern>, AppError> {
    if lx.peek() != Some('[') {
        return Ok(vec![lx.value(false)?]);
    }
    let start = lx.pos;
    lx.pos += 1;
    let mut out = Vec::new();
    loop {
        while lx.peek().is_some_and(char::is_whitespace) {
            lx.pos += 1;
        }
        out.push(lx.value(true)?);
        while lx.peek().is_some_and(char::is_whitespace) {
            lx.pos += 1;
        }
        match lx.peek() {
            Some(',') => lx.pos += 1,
            Some(']') => {
                lx.pos += 1;
                break;
            }
            _ => return Err(at(start + 1, &lx.token_from(start), "an unclosed [ list")),
        }
    }
    if out.len() > 20 {
        return Err(at(start + 1, "[…]", "more than 20 values in a list"));
    }
    Ok(out)
}

fn field_condition(
    lx: &mut Lexer,
    f: &'static Field,
    column: usize,
    token: &str,
) -> Result<Condition, AppError> {
    let op = [Op::Ge, Op::Le, Op::Gt, Op::Lt]
        .into_iter()
        .find(|op| {
            let s = op.as_str();
            lx.chars[lx.pos..]
                .iter()
                .take(s.len())
                .copied()
                .eq(s.chars())
        })
        .unwrap_or(Op::Eq);
    lx.pos += op.as_str().len();
    if op != Op::Eq && matches!(f.kind, Kind::Text) {
        return Err(at(
            column,
            token,
            format_args!(
                "{} is text: compare it with : or * wildcards, not {}",
                f.name,
                op.as_str()
            ),
        ));
    }
    let values = if op == Op::Eq {
        values(lx)?
    } else {
        vec![lx.value(false)?]
    };
    for v in &values {
        if v.is_wildcard() && f.kind != Kind::Text {
            return Err(at(
                column,
                token,
                format_args!("{} takes no * wildcard", f.name),
            ));
        }
        let text = v.text();
        let ok = match f.kind {
            Kind::Text => true,
            Kind::Level => Level::from_name(&text).is_some(),
            Kind::Number => text.parse::<i64>().is_ok(),
            Kind::Time => time_value(&text, DateTime::UNIX_EPOCH).is_some(),
        };
        if !ok {
            let what = match f.kind {
                Kind::Level => format!("level '{text}' is unknown; use one of {}", Level::names()),
                Kind::Number => format!("{} takes a whole number, not '{text}'", f.name),
                _ => format!(
                    "{} takes a time: RFC 3339, a date, epoch milliseconds or -1h/-30m/-7d",
                    f.name
                ),
            };
            return Err(at(column, token, what));
        }
    }
    // Environments are compared as stored (`prod` is `production`), wildcards as typed.
    let values = if f.name == "environment" {
        values
            .into_iter()
            .map(|v| match v.is_wildcard() {
                false => crate::processors::environment::normalize_environment(&v.text())
                    .map(|env| Pattern::literal(&env))
                    .unwrap_or(v),
                true => v,
            })
            .collect()
    } else {
        values
    };
    if op == Op::Eq && f.kind == Kind::Time && values.len() > 1 {
        return Err(at(column, token, format_args!("{} takes one time", f.name)));
    }
    Ok(Condition::Field {
        field: f.name,
        op,
        values,
    })
}

fn is_key_char(c: char) -> bool {
    c.is_alphanumeric() || "_-.:/@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::super::print::unparse;
    use super::*;

    #[test]
    fn parses_every_form() {
        let cases: &[(&str, &str)] = &[
            ("payment", "payment"),
            ("\"gateway timeout\"", "\"gateway timeout\""),
            ("service:checkout", "service:checkout"),
            (
                "!service:checkout -env:dev",
                "!service:checkout !environment:development",
            ),
            ("component:[Auth, Cart]", "component:[Auth,Cart]"),
            ("route:/api/*", "route:/api/*"),
            ("priority:>=8 level:>=warn", "priority:>=8 level:>=warn"),
            ("timestamp:>-1h", "timestamp:>-1h"),
            ("has:user_id has:region", "has:user_id has:region"),
            (
                "is:unresolved is:resolved is:ignored",
                "is:unresolved is:resolved is:ignored",
            ),
            ("tag[region]:eu region:eu", "region:eu region:eu"),
            ("tag[service]:x", "tag[service]:x"),
            ("release:\"1.0 beta\"", "release:\"1.0 beta\""),
            ("error.type:TypeError", "error_type:TypeError"),
            ("user.id:42 trace:abc", "user_id:42 trace_id:abc"),
            ("message:\"a\\\"b\"", "message:\"a\\\"b\""),
            ("  pay*  ", "pay*"),
            ("release:1.0\\*", "release:1.0\\*"),
            ("", ""),
        ];
        for (query, canonical) in cases {
            let s = parse(query).unwrap_or_else(|e| panic!("{query}: {}", e.message()));
            assert_eq!(unparse(&s), *canonical, "{query}");
        }
    }
    #[test]
    fn refuses_with_the_token_and_its_column() {
        let cases: &[(&str, &str)] = &[
            ("service:", "column 9"),
            ("level:loud", "level 'loud' is unknown"),
            ("a \"unclosed", "column 3"),
            ("priority:>=high", "whole number"),
            ("priority:8*", "no * wildcard"),
            ("service:>x", "service is text"),
            ("is:maybe", "is: takes unresolved"),
            ("timestamp:>yesterday", "takes a time"),
            ("tag[]:x", "neither a field nor a tag"),
            ("tag[a:x", "tag[...] needs a name"),
            ("component:[a,b", "unclosed [ list"),
            ("x:a\"b", "quote inside a value"),
            ("has:\"bad name\"", "neither a field nor a tag"),
        ];
        for (query, wanted) in cases {
            let err = parse(query).unwrap_err().message();
            assert!(err.contains(wanted), "{query}: {err}");
            assert!(err.starts_with("query: "), "{query}: {err}");
        }
        let err = parse("ok level:loud").unwrap_err().message();
        assert!(err.contains("at column 10 ('level:loud')"), "{err}");
        let long = "a ".repeat(MAX_TERMS + 1);
        assert!(parse(&long).unwrap_err().message().contains("more than"));
    }
}
