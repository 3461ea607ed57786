//! A query's tree back into LogQL text, in one canonical layout (what
//! `/loki/api/v1/format_query` answers): `parse(print(e)) == e` for every tree.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;

/// A string as LogQL writes it: double quotes, with `\` and `"` and control characters escaped.
pub fn quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A number as Prometheus prints it (no trailing `.0`).
pub fn number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        format!("{n}")
    }
}

impl Display for Matcher {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.name, self.op.as_str(), quote(&self.value))
    }
}

impl Display for LabelValue {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelValue::Text(s) => f.write_str(&quote(s)),
            LabelValue::Number(_, t) | LabelValue::Duration(_, t) | LabelValue::Bytes(_, t) => {
                f.write_str(t)
            }
        }
    }
}

impl Display for LabelPred {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            LabelPred::Cmp { label, op, value } => write!(f, "{label}{}{value}", op.as_str()),
            LabelPred::And(a, b) => {
                let side = |p: &LabelPred| match p {
                    LabelPred::Or(..) => format!("({p})"),
                    _ => p.to_string(),
                };
                write!(f, "{} and {}", side(a), side(b))
            }
            LabelPred::Or(a, b) => write!(f, "{a} or {b}"),
        }
    }
}

fn join<T: Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Display for LabelSel {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{}={}", self.name, quote(v)),
            None => f.write_str(&self.name),
        }
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Line(op, values) => {
                let values: Vec<String> = values.iter().map(|v| quote(v)).collect();
                write!(f, " {} {}", op.as_str(), values.join(" or "))
            }
            Stage::Json(params) if params.is_empty() => f.write_str(" | json"),
            Stage::Json(params) => {
                let params: Vec<String> = params
                    .iter()
                    .map(|(name, path)| match path {
                        Some(p) => format!("{name}={}", quote(p)),
                        None => name.clone(),
                    })
                    .collect();
                write!(f, " | json {}", params.join(", "))
            }
            Stage::Logfmt => f.write_str(" | logfmt"),
            Stage::Regexp(re) => write!(f, " | regexp {}", quote(re)),
            Stage::Pattern(p) => write!(f, " | pattern {}", quote(p)),
            Stage::Unpack => f.write_str(" | unpack"),
            Stage::Decolorize => f.write_str(" | decolorize"),
            Stage::Filter(pred) => write!(f, " | {pred}"),
            Stage::LineFormat(t) => write!(f, " | line_format {}", quote(t)),
            Stage::LabelFormat(items) => {
                let items: Vec<String> = items
                    .iter()
                    .map(|r| match r {
                        Rename::Label(dst, src) => format!("{dst}={src}"),
                        Rename::Template(dst, t) => format!("{dst}={}", quote(t)),
                    })
                    .collect();
                write!(f, " | label_format {}", items.join(", "))
            }
            Stage::Drop(items) => write!(f, " | drop {}", join(items)),
            Stage::Keep(items) => write!(f, " | keep {}", join(items)),
            Stage::Unwrap(label, None) => write!(f, " | unwrap {label}"),
            Stage::Unwrap(label, Some(conv)) => write!(f, " | unwrap {}({label})", conv.as_str()),
        }
    }
}

impl Display for LogExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{{{}}}", join(&self.selector))?;
        for stage in &self.stages {
            write!(f, "{stage}")?;
        }
        Ok(())
    }
}

impl Display for Grouping {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let word = if self.without { "without" } else { "by" };
        write!(f, "{word} ({})", self.labels.join(", "))
    }
}

impl Display for MetricExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricExpr::Range {
                func,
                param,
                log,
                range,
                offset,
                grouping,
            } => {
                f.write_str(func.name())?;
                f.write_char('(')?;
                if let Some(q) = param {
                    write!(f, "{}, ", number(*q))?;
                }
                write!(f, "{log}[{}]", range.1)?;
                if let Some((_, text)) = offset {
                    write!(f, " offset {text}")?;
                }
                f.write_char(')')?;
                if let Some(g) = grouping {
                    write!(f, " {g}")?;
                }
                Ok(())
            }
            MetricExpr::Vector {
                op,
                param,
                grouping,
                inner,
            } => {
                f.write_str(op.name())?;
                if let Some(g) = grouping {
                    write!(f, " {g} ")?;
                }
                f.write_char('(')?;
                if let Some(k) = param {
                    write!(f, "{}, ", number(*k))?;
                }
                write!(f, "{inner})")
            }
            MetricExpr::Binary {
                op,
                return_bool,
                lhs,
                rhs,
            } => {
                let b = if *return_bool { " bool" } else { "" };
                write!(f, "{lhs} {}{b} {rhs}", op.as_str())
            }
            MetricExpr::Number(n) => f.write_str(&number(*n)),
            MetricExpr::VectorOf(n) => write!(f, "vector({})", number(*n)),
            MetricExpr::Paren(inner) => write!(f, "({inner})"),
        }
    }
}

impl Display for Expr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Log(l) => write!(f, "{l}"),
            Expr::Metric(m) => write!(f, "{m}"),
        }
    }
}
