//! The lexer of the search language: a query's characters, and its values (quoted or bare,
//! `*` wildcards, `\\` escapes, the end of a `[a, b]` list's item).

use super::terms::{at, Pattern, MAX_WILDCARDS};
use crate::error::AppError;

/// A query's characters and the position reached; the parser moves `pos` past keys and
/// separators, the lexer reads values.
pub(super) struct Lexer {
    pub(super) chars: Vec<char>,
    pub(super) pos: usize,
}

impl Lexer {
    pub(super) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }
    pub(super) fn column(&self) -> usize {
        self.pos + 1
    }
    pub(super) fn token_from(&self, start: usize) -> String {
        let end = (start..self.chars.len())
            .find(|i| self.chars[*i].is_whitespace())
            .unwrap_or(self.chars.len())
            .max(self.pos.min(self.chars.len()));
        self.chars[start..end].iter().collect()
    }

    /// A value: quoted (with `\"` and `\\`) or bare up to whitespace (or `,`/`]` inside a
    /// list). `*` is a wildcard; `\*` a literal star.
    pub(super) fn value(&mut self, in_list: bool) -> Result<Pattern, AppError> {
        let start = self.pos;
        let mut pieces = vec![String::new()];
        if self.peek() == Some('"') {
            self.pos += 1;
            loop {
                match self.peek() {
                    None => {
                        return Err(at(start + 1, &self.token_from(start), "an unclosed quote"))
                    }
                    Some('"') => {
                        self.pos += 1;
                        break;
                    }
                    Some('\\') if self.chars.get(self.pos + 1).is_some() => {
                        pieces.last_mut().unwrap().push(self.chars[self.pos + 1]);
                        self.pos += 2;
                    }
                    Some('*') => {
                        pieces.push(String::new());
                        self.pos += 1;
                    }
                    Some(c) => {
                        pieces.last_mut().unwrap().push(c);
                        self.pos += 1;
                    }
                }
            }
            return self.within_wildcards(start, pieces);
        }
        while let Some(c) = self.peek() {
            if c.is_whitespace() || (in_list && (c == ',' || c == ']')) {
                break;
            }
            match c {
                '\\' if self.chars.get(self.pos + 1).is_some() => {
                    pieces.last_mut().unwrap().push(self.chars[self.pos + 1]);
                    self.pos += 2;
                    continue;
                }
                '*' => pieces.push(String::new()),
                '"' => {
                    return Err(at(
                        self.column(),
                        &self.token_from(start),
                        "a quote inside a value (quote the whole value)",
                    ))
                }
                c => pieces.last_mut().unwrap().push(c),
            }
            self.pos += 1;
        }
        self.within_wildcards(start, pieces)
    }

    fn within_wildcards(&self, start: usize, pieces: Vec<String>) -> Result<Pattern, AppError> {
        if pieces.len() > MAX_WILDCARDS + 1 {
            return Err(at(
                start + 1,
                &self.token_from(start),
                format!("more than {MAX_WILDCARDS} wildcards (*) in one value"),
            ));
        }
        Ok(Pattern(pieces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lexer(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
        }
    }

    #[test]
    fn reads_values_as_typed() {
        // (input, in a list, pieces between wildcards, where it stops)
        let cases: &[(&str, bool, &[&str], usize)] = &[
            ("checkout rest", false, &["checkout"], 8),
            ("\"two words\" x", false, &["two words"], 11),
            ("\"a\\\"b\"", false, &["a\"b"], 6),
            ("/api/*", false, &["/api/", ""], 6),
            ("1.0\\*", false, &["1.0*"], 5),
            ("a,b]", true, &["a"], 1),
            ("a,b]", false, &["a,b]"], 4),
            ("\"x*y\"", false, &["x", "y"], 5),
            ("", false, &[""], 0),
        ];
        for (input, in_list, pieces, end) in cases {
            let mut lx = lexer(input);
            let p = lx.value(*in_list).unwrap();
            let want: Vec<String> = pieces.iter().map(|s| s.to_string()).collect();
            assert_eq!(p.0, want, "{input}");
            assert_eq!(lx.pos, *end, "{input}");
        }
    }

    #[test]
    fn refuses_unclosed_quotes_inner_quotes_and_too_many_wildcards() {
        let cases: &[(&str, &str)] = &[
            ("\"open", "an unclosed quote at column 1"),
            (
                "a\"b",
                "a quote inside a value (quote the whole value) at column 2",
            ),
            (&"*".repeat(MAX_WILDCARDS + 1), "wildcards"),
        ];
        for (input, wanted) in cases {
            let err = lexer(input).value(false).unwrap_err().message();
            assert!(err.contains(wanted), "{input}: {err}");
        }
        assert!(lexer(&"*".repeat(MAX_WILDCARDS)).value(false).is_ok());
    }

    #[test]
    fn a_token_runs_to_the_next_space() {
        let mut lx = lexer("key:value next");
        lx.pos = 4;
        assert_eq!(lx.token_from(0), "key:value");
        assert_eq!(lx.column(), 5);
        assert_eq!(lx.peek(), Some('v'));
    }
}
