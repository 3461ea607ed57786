//! LogQL text into its tree: a lexer, then recursive descent with precedence climbing for
//! binary operators. Errors say where, the way Loki's do (`parse error at line 1, col 12: …`),
//! and name what is not supported.

use super::ast::*;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// A number, duration (`5m`) or byte size (`1KB`), as written.
    Num(String),
    Sym(&'static str),
}

const SYMS: &[&str] = &[
    "|=", "|~", "|>", "!=", "!~", "!>", "=~", "==", ">=", "<=", "{", "}", "(", ")", "[", "]", ",",
    "=", ">", "<", "|", "+", "-", "*", "/", "%", "^",
];

struct Lexed {
    toks: Vec<(Tok, usize)>,
}

fn lex(text: &str) -> Result<Lexed, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c == '#' {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
            continue;
        }
        let start = i;
        if c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(at(start, "unterminated string")),
                    Some('"') => break,
                    Some('\\') => {
                        i += 1;
                        let e = chars
                            .get(i)
                            .ok_or_else(|| at(start, "unterminated string"))?;
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            other => *other,
                        });
                    }
                    Some(ch) => s.push(*ch),
                }
                i += 1;
            }
            i += 1;
            toks.push((Tok::Str(s), start));
            continue;
        }
        if c == '`' {
            let end = chars[i + 1..]
                .iter()
                .position(|ch| *ch == '`')
                .ok_or_else(|| at(start, "unterminated raw string"))?;
            toks.push((Tok::Str(chars[i + 1..i + 1 + end].iter().collect()), start));
            i += end + 2;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()))
        {
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == 'µ')
            {
                i += 1;
            }
            toks.push((Tok::Num(chars[start..i].iter().collect()), start));
            continue;
        }
        if c.is_alphabetic() || c == '_' {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            toks.push((Tok::Ident(chars[start..i].iter().collect()), start));
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
        match SYMS.iter().find(|s| rest.starts_with(**s)) {
            Some(sym) => {
                toks.push((Tok::Sym(sym), start));
                i += sym.chars().count();
            }
            None => return Err(at(start, &format!("unexpected character '{c}'"))),
        }
    }
    Ok(Lexed { toks })
}

fn at(offset: usize, what: &str) -> String {
    format!(
        "parse error at line 1, col {}: syntax error: {what}",
        offset + 1
    )
}

pub use crate::processors::timestamp::parse_duration;

/// Bytes of a size (`1KB`, `1.5MiB`, `512B`), as Loki's humanize reads it.
pub fn parse_bytes(text: &str) -> Option<f64> {
    let num_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let number: f64 = text[..num_len].parse().ok()?;
    let factor = match text[num_len..].to_ascii_lowercase().as_str() {
        "b" => 1.0,
        "kb" => 1e3,
        "kib" => 1024.0,
        "mb" => 1e6,
        "mib" => 1024.0 * 1024.0,
        "gb" => 1e9,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tb" => 1e12,
        "tib" => 1024f64.powi(4),
        _ => return None,
    };
    Some(number * factor)
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    len: usize,
}

type R<T> = Result<T, String>;

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(t, _)| t)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.pos + n).map(|(t, _)| t)
    }

    fn offset(&self) -> usize {
        self.toks.get(self.pos).map(|(_, o)| *o).unwrap_or(self.len)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(t, _)| t.clone());
        self.pos += 1;
        t
    }

    fn unexpected<T>(&self) -> R<T> {
        let what = match self.peek() {
            None => "unexpected end of query".to_string(),
            Some(Tok::Ident(s)) => format!("unexpected IDENTIFIER '{s}'"),
            Some(Tok::Str(s)) => format!("unexpected STRING \"{s}\""),
            Some(Tok::Num(s)) => format!("unexpected NUMBER {s}"),
            Some(Tok::Sym(s)) => format!("unexpected '{s}'"),
        };
        Err(at(self.offset(), &what))
    }

    fn is_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym)
    }

    fn is_ident(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == word)
    }

    fn expect_sym(&mut self, sym: &str) -> R<()> {
        if self.is_sym(sym) {
            self.pos += 1;
            Ok(())
        } else {
            self.unexpected()
        }
    }

    fn ident(&mut self) -> R<String> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.unexpected(),
        }
    }

    fn string(&mut self) -> R<String> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => self.unexpected(),
        }
    }

    fn number(&mut self) -> R<f64> {
        let negative = self.is_sym("-");
        if negative {
            self.pos += 1;
        }
        match self.peek() {
            Some(Tok::Num(s)) => match s.parse::<f64>() {
                Ok(n) => {
                    self.pos += 1;
                    Ok(if negative { -n } else { n })
                }
                Err(_) => self.unexpected(),
            },
            _ => self.unexpected(),
        }
    }

    fn duration(&mut self) -> R<(i64, String)> {
        let off = self.offset();
        match self.next() {
            Some(Tok::Num(s)) => match parse_duration(&s) {
                Some(secs) if secs > 0.0 => Ok(((secs * 1000.0).round() as i64, s)),
                _ => Err(at(off, &format!("invalid duration {s}"))),
            },
            _ => {
                self.pos -= 1;
                self.unexpected()
            }
        }
    }

    // ---- log queries ----

    fn selector(&mut self) -> R<Vec<Matcher>> {
        self.expect_sym("{")?;
        let mut matchers = Vec::new();
        while !self.is_sym("}") {
            let name = self.ident()?;
            let op = match self.next() {
                Some(Tok::Sym("=")) => MatchOp::Eq,
                Some(Tok::Sym("!=")) => MatchOp::Ne,
                Some(Tok::Sym("=~")) => MatchOp::Re,
                Some(Tok::Sym("!~")) => MatchOp::Nre,
                _ => {
                    self.pos -= 1;
                    return self.unexpected();
                }
            };
            let value = self.string()?;
            if matches!(op, MatchOp::Re | MatchOp::Nre) && regex::Regex::new(&value).is_err() {
                return Err(at(
                    self.offset(),
                    &format!("invalid regular expression {value:?}"),
                ));
            }
            matchers.push(Matcher { name, op, value });
            if self.is_sym(",") {
                self.pos += 1;
            } else if !self.is_sym("}") {
                return self.unexpected();
            }
        }
        self.pos += 1;
        if matchers.is_empty() {
            return Err(at(
                self.offset(),
                "queries require at least one label matcher",
            ));
        }
        Ok(matchers)
    }

    fn log_expr(&mut self) -> R<LogExpr> {
        let selector = self.selector()?;
        let mut stages = Vec::new();
        loop {
            let line_op = match self.peek() {
                Some(Tok::Sym("|=")) => Some(LineOp::Contains),
                Some(Tok::Sym("!=")) => Some(LineOp::NotContains),
                Some(Tok::Sym("|~")) => Some(LineOp::Re),
                Some(Tok::Sym("!~")) => Some(LineOp::NotRe),
                Some(Tok::Sym("|>")) => Some(LineOp::Pattern),
                Some(Tok::Sym("!>")) => Some(LineOp::NotPattern),
                _ => None,
            };
            if let Some(op) = line_op {
                self.pos += 1;
                let mut values = vec![self.string()?];
                while self.is_ident("or") && matches!(self.peek_at(1), Some(Tok::Str(_))) {
                    self.pos += 1;
                    values.push(self.string()?);
                }
                if matches!(op, LineOp::Re | LineOp::NotRe) {
                    if let Some(bad) = values.iter().find(|v| regex::Regex::new(v).is_err()) {
                        return Err(at(
                            self.offset(),
                            &format!("invalid regular expression {bad:?}"),
                        ));
                    }
                }
                stages.push(Stage::Line(op, values));
                continue;
            }
            if !self.is_sym("|") {
                break;
            }
            self.pos += 1;
            stages.push(self.stage()?);
        }
        Ok(LogExpr { selector, stages })
    }

    fn stage(&mut self) -> R<Stage> {
        let word = match self.peek() {
            Some(Tok::Ident(w)) => w.clone(),
            Some(Tok::Sym("(")) => return Ok(Stage::Filter(self.pred()?)),
            _ => return self.unexpected(),
        };
        let simple = |s: Stage| Ok(s);
        // A stage keyword followed by a comparison is a label of that name.
        let is_label = matches!(
            self.peek_at(1),
            Some(Tok::Sym(
                "=" | "!=" | "=~" | "!~" | ">" | ">=" | "<" | "<=" | "=="
            ))
        );
        if is_label {
            return Ok(Stage::Filter(self.pred()?));
        }
        self.pos += 1;
        match word.as_str() {
            "json" => {
                let mut params = Vec::new();
                while let Some(Tok::Ident(_)) = self.peek() {
                    let name = self.ident()?;
                    let path = if self.is_sym("=") {
                        self.pos += 1;
                        Some(self.string()?)
                    } else {
                        None
                    };
                    params.push((name, path));
                    if self.is_sym(",") {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                simple(Stage::Json(params))
            }
            "logfmt" => {
                if self.is_sym("-") {
                    return Err(at(
                        self.offset(),
                        "logfmt flags (--strict, --keep-empty) are not supported",
                    ));
                }
                simple(Stage::Logfmt)
            }
            "regexp" => {
                let re = self.string()?;
                if regex::Regex::new(&re).is_err() {
                    return Err(at(
                        self.offset(),
                        &format!("invalid regular expression {re:?}"),
                    ));
                }
                simple(Stage::Regexp(re))
            }
            "pattern" => simple(Stage::Pattern(self.string()?)),
            "unpack" => simple(Stage::Unpack),
            "decolorize" => simple(Stage::Decolorize),
            "line_format" => simple(Stage::LineFormat(self.string()?)),
            "label_format" => {
                let mut items = Vec::new();
                loop {
                    let dst = self.ident()?;
                    self.expect_sym("=")?;
                    items.push(match self.peek() {
                        Some(Tok::Str(_)) => Rename::Template(dst, self.string()?),
                        _ => Rename::Label(dst, self.ident()?),
                    });
                    if self.is_sym(",") {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                simple(Stage::LabelFormat(items))
            }
            "drop" | "keep" => {
                let mut items = Vec::new();
                loop {
                    let name = self.ident()?;
                    let value = if self.is_sym("=") {
                        self.pos += 1;
                        Some(self.string()?)
                    } else {
                        None
                    };
                    items.push(LabelSel { name, value });
                    if self.is_sym(",") {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                simple(if word == "drop" {
                    Stage::Drop(items)
                } else {
                    Stage::Keep(items)
                })
            }
            "unwrap" => {
                let name = self.ident()?;
                let conv = match name.as_str() {
                    "bytes" | "duration" | "duration_seconds" if self.is_sym("(") => {
                        self.pos += 1;
                        let label = self.ident()?;
                        self.expect_sym(")")?;
                        let conv = match name.as_str() {
                            "bytes" => Conversion::Bytes,
                            "duration" => Conversion::Duration,
                            _ => Conversion::DurationSeconds,
                        };
                        return Ok(Stage::Unwrap(label, Some(conv)));
                    }
                    _ => None,
                };
                Ok(Stage::Unwrap(name, conv))
            }
            "distinct" | "limit" => Err(at(
                self.offset(),
                &format!("the {word} stage is not supported"),
            )),
            _ => {
                self.pos -= 1;
                Ok(Stage::Filter(self.pred()?))
            }
        }
    }

    /// Label filters: `a="x" and b>1 or (c!="y", d=~"z")`; `,` and whitespace mean `and`.
    fn pred(&mut self) -> R<LabelPred> {
        let mut left = self.pred_and()?;
        while self.is_ident("or") {
            self.pos += 1;
            let right = self.pred_and()?;
            left = LabelPred::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn pred_and(&mut self) -> R<LabelPred> {
        let mut left = self.pred_atom()?;
        while self.is_ident("and") || self.is_sym(",") {
            self.pos += 1;
            let right = self.pred_atom()?;
            left = LabelPred::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn pred_atom(&mut self) -> R<LabelPred> {
        if self.is_sym("(") {
            self.pos += 1;
            let inner = self.pred()?;
            self.expect_sym(")")?;
            return Ok(inner);
        }
        let label = self.ident()?;
        let op = match self.next() {
            Some(Tok::Sym("=" | "==")) => CmpOp::Eq,
            Some(Tok::Sym("!=")) => CmpOp::Ne,
            Some(Tok::Sym(">")) => CmpOp::Gt,
            Some(Tok::Sym(">=")) => CmpOp::Ge,
            Some(Tok::Sym("<")) => CmpOp::Lt,
            Some(Tok::Sym("<=")) => CmpOp::Le,
            Some(Tok::Sym("=~")) => CmpOp::Re,
            Some(Tok::Sym("!~")) => CmpOp::Nre,
            _ => {
                self.pos -= 1;
                return self.unexpected();
            }
        };
        let off = self.offset();
        let value = match self.next() {
            Some(Tok::Str(s)) => {
                if matches!(op, CmpOp::Re | CmpOp::Nre) && regex::Regex::new(&s).is_err() {
                    return Err(at(off, &format!("invalid regular expression {s:?}")));
                }
                LabelValue::Text(s)
            }
            Some(Tok::Num(s)) => {
                if let Ok(n) = s.parse::<f64>() {
                    LabelValue::Number(n, s)
                } else if let Some(d) = parse_duration(&s) {
                    LabelValue::Duration(d, s)
                } else if let Some(b) = parse_bytes(&s) {
                    LabelValue::Bytes(b, s)
                } else {
                    return Err(at(off, &format!("invalid number, duration or size {s}")));
                }
            }
            Some(Tok::Sym("-")) => match self.next() {
                Some(Tok::Num(s)) if s.parse::<f64>().is_ok() => {
                    let n: f64 = s.parse().expect("checked");
                    LabelValue::Number(-n, format!("-{s}"))
                }
                _ => return Err(at(off, "a number after '-'")),
            },
            _ => {
                self.pos -= 1;
                return self.unexpected();
            }
        };
        if matches!(value, LabelValue::Text(_))
            && matches!(op, CmpOp::Gt | CmpOp::Ge | CmpOp::Lt | CmpOp::Le)
        {
            return Err(at(
                off,
                "comparing a label with a string needs =, !=, =~ or !~",
            ));
        }
        if !matches!(value, LabelValue::Text(_)) && matches!(op, CmpOp::Re | CmpOp::Nre) {
            return Err(at(off, "a regular expression must be a string"));
        }
        Ok(LabelPred::Cmp { label, op, value })
    }

    // ---- metric queries ----

    fn grouping(&mut self) -> R<Option<Grouping>> {
        let without = match self.peek() {
            Some(Tok::Ident(w)) if w == "by" => false,
            Some(Tok::Ident(w)) if w == "without" => true,
            _ => return Ok(None),
        };
        self.pos += 1;
        self.expect_sym("(")?;
        let mut labels = Vec::new();
        while !self.is_sym(")") {
            labels.push(self.ident()?);
            if self.is_sym(",") {
                self.pos += 1;
            } else if !self.is_sym(")") {
                return self.unexpected();
            }
        }
        self.pos += 1;
        Ok(Some(Grouping { without, labels }))
    }

    fn metric(&mut self, min_prec: u8) -> R<MetricExpr> {
        let mut lhs = self.operand()?;
        loop {
            let op = match self.peek() {
                Some(Tok::Ident(w)) if w == "or" => BinOp::Or,
                Some(Tok::Ident(w)) if w == "and" => BinOp::And,
                Some(Tok::Ident(w)) if w == "unless" => BinOp::Unless,
                Some(Tok::Sym(s)) => match *s {
                    "==" => BinOp::Eq,
                    "!=" => BinOp::Ne,
                    ">" => BinOp::Gt,
                    ">=" => BinOp::Ge,
                    "<" => BinOp::Lt,
                    "<=" => BinOp::Le,
                    "+" => BinOp::Add,
                    "-" => BinOp::Sub,
                    "*" => BinOp::Mul,
                    "/" => BinOp::Div,
                    "%" => BinOp::Mod,
                    "^" => BinOp::Pow,
                    _ => break,
                },
                _ => break,
            };
            let prec = op.precedence();
            if prec < min_prec {
                break;
            }
            self.pos += 1;
            let return_bool = op.is_comparison() && self.is_ident("bool");
            if return_bool {
                self.pos += 1;
            }
            if matches!(self.peek(), Some(Tok::Ident(w)) if w == "on" || w == "ignoring" || w == "group_left" || w == "group_right")
            {
                return Err(at(
                    self.offset(),
                    "vector matching (on, ignoring, group_left, group_right) is not supported",
                ));
            }
            // `^` is right-associative; the others bind to the left.
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let rhs = self.metric(next_min)?;
            lhs = MetricExpr::Binary {
                op,
                return_bool,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            };
        }
        Ok(lhs)
    }

    fn operand(&mut self) -> R<MetricExpr> {
        match self.peek().cloned() {
            Some(Tok::Num(_)) => Ok(MetricExpr::Number(self.number()?)),
            Some(Tok::Sym("-")) if matches!(self.peek_at(1), Some(Tok::Num(_))) => Ok(MetricExpr::Number(self.number()?)),
            Some(Tok::Sym("(")) => {
                self.pos += 1;
                let inner = self.metric(0)?;
                self.expect_sym(")")?;
                Ok(MetricExpr::Paren(Box::new(inner)))
            }
            Some(Tok::Sym("{")) => Err(at(self.offset(), "a log query cannot be used in a metric query; wrap it in a range aggregation such as count_over_time({…}[5m])")),
            Some(Tok::Ident(word)) if word == "vector" => {
                self.pos += 1;
                self.expect_sym("(")?;
                let n = self.number()?;
                self.expect_sym(")")?;
                Ok(MetricExpr::VectorOf(n))
            }
            Some(Tok::Ident(word)) => {
                if let Some((_, func)) = RANGE_FNS.iter().find(|(n, _)| *n == word) {
                    self.pos += 1;
                    return self.range(*func);
                }
                if let Some((_, op)) = VEC_OPS.iter().find(|(n, _)| *n == word) {
                    self.pos += 1;
                    return self.vector(*op);
                }
                Err(at(self.offset(), &format!("{word} is not a supported function")))
            }
            _ => self.unexpected(),
        }
    }

    fn range(&mut self, func: RangeFn) -> R<MetricExpr> {
        self.expect_sym("(")?;
        let param = if func == RangeFn::Quantile {
            let q = self.number()?;
            self.expect_sym(",")?;
            Some(q)
        } else {
            None
        };
        let log = self.log_expr()?;
        let unwrapped = log.stages.iter().any(|s| matches!(s, Stage::Unwrap(..)));
        if func.unwraps() && !unwrapped && func != RangeFn::Rate {
            return Err(at(
                self.offset(),
                &format!("{} needs an unwrap stage (| unwrap <label>)", func.name()),
            ));
        }
        if !func.unwraps() && unwrapped {
            return Err(at(
                self.offset(),
                &format!("{} cannot read unwrapped values", func.name()),
            ));
        }
        self.expect_sym("[")?;
        let range = self.duration()?;
        self.expect_sym("]")?;
        let offset = if self.is_ident("offset") {
            self.pos += 1;
            Some(self.duration()?)
        } else {
            None
        };
        self.expect_sym(")")?;
        let grouping = self.grouping()?;
        if grouping.is_some() && !func.unwraps() {
            return Err(at(
                self.offset(),
                &format!("grouping cannot be used with {}", func.name()),
            ));
        }
        Ok(MetricExpr::Range {
            func,
            param,
            log,
            range,
            offset,
            grouping,
        })
    }

    fn vector(&mut self, op: VecOp) -> R<MetricExpr> {
        let before = self.grouping()?;
        self.expect_sym("(")?;
        let param = if matches!(op, VecOp::Topk | VecOp::Bottomk) {
            let k = self.number()?;
            if k < 1.0 || k.fract() != 0.0 {
                return Err(at(
                    self.offset(),
                    &format!("{} needs a whole k of at least 1", op.name()),
                ));
            }
            self.expect_sym(",")?;
            Some(k)
        } else {
            None
        };
        let inner = self.metric(0)?;
        self.expect_sym(")")?;
        let after = self.grouping()?;
        if before.is_some() && after.is_some() {
            return self.unexpected();
        }
        let grouping = before.or(after);
        if grouping.is_some() && matches!(op, VecOp::Sort | VecOp::SortDesc) {
            return Err(at(self.offset(), "sort and sort_desc take no grouping"));
        }
        Ok(MetricExpr::Vector {
            op,
            param,
            grouping,
            inner: Box::new(inner),
        })
    }
}

/// Parses a LogQL query.
pub fn parse(text: &str) -> Result<Expr, String> {
    let lexed = lex(text)?;
    let mut p = Parser {
        toks: lexed.toks,
        pos: 0,
        len: text.chars().count(),
    };
    if p.peek().is_none() {
        return Err(at(0, "the query is empty"));
    }
    let expr = if p.is_sym("{") {
        Expr::Log(p.log_expr()?)
    } else {
        Expr::Metric(p.metric(0)?)
    };
    if p.peek().is_some() {
        return p.unexpected();
    }
    if let Expr::Log(log) = &expr {
        if log.stages.iter().any(|s| matches!(s, Stage::Unwrap(..))) {
            return Err(at(
                0,
                "unwrap belongs in a range aggregation such as sum_over_time(… | unwrap x [5m])",
            ));
        }
    }
    Ok(expr)
}
