//! LogQL's syntax tree: the subset edge-logger answers (stream selectors, line filters,
//! parsers, label filters, formatting, range and vector aggregations, binary operators).

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Log(LogExpr),
    Metric(MetricExpr),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    Eq,
    Ne,
    Re,
    Nre,
}

impl MatchOp {
    pub fn as_str(self) -> &'static str {
        match self {
            MatchOp::Eq => "=",
            MatchOp::Ne => "!=",
            MatchOp::Re => "=~",
            MatchOp::Nre => "!~",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Matcher {
    pub name: String,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LogExpr {
    pub selector: Vec<Matcher>,
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineOp {
    Contains,
    NotContains,
    Re,
    NotRe,
    Pattern,
    NotPattern,
}

impl LineOp {
    pub fn as_str(self) -> &'static str {
        match self {
            LineOp::Contains => "|=",
            LineOp::NotContains => "!=",
            LineOp::Re => "|~",
            LineOp::NotRe => "!~",
            LineOp::Pattern => "|>",
            LineOp::NotPattern => "!>",
        }
    }

    pub fn negated(self) -> bool {
        matches!(
            self,
            LineOp::NotContains | LineOp::NotRe | LineOp::NotPattern
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Re,
    Nre,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Re => "=~",
            CmpOp::Nre => "!~",
        }
    }
}

/// What a label filter compares with: text, or a number, duration (seconds) or byte count,
/// each kept with the text it was written as.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelValue {
    Text(String),
    Number(f64, String),
    Duration(f64, String),
    Bytes(f64, String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum LabelPred {
    Cmp {
        label: String,
        op: CmpOp,
        value: LabelValue,
    },
    And(Box<LabelPred>, Box<LabelPred>),
    Or(Box<LabelPred>, Box<LabelPred>),
}

/// `label_format` and `drop`/`keep` items.
#[derive(Debug, Clone, PartialEq)]
pub enum Rename {
    /// `dst=src`: the value of another label.
    Label(String, String),
    /// `dst="template"`.
    Template(String, String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct LabelSel {
    pub name: String,
    /// `name="value"`: only when the label has this value.
    pub value: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Bytes,
    Duration,
    DurationSeconds,
}

impl Conversion {
    pub fn as_str(self) -> &'static str {
        match self {
            Conversion::Bytes => "bytes",
            Conversion::Duration => "duration",
            Conversion::DurationSeconds => "duration_seconds",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// `|= "a" or "b"`: any of the values (for the negated ops: none of them).
    Line(LineOp, Vec<String>),
    /// `| json` (every field) or `| json a="x.y", b`.
    Json(Vec<(String, Option<String>)>),
    Logfmt,
    Regexp(String),
    Pattern(String),
    Unpack,
    Decolorize,
    Filter(LabelPred),
    LineFormat(String),
    LabelFormat(Vec<Rename>),
    Drop(Vec<LabelSel>),
    Keep(Vec<LabelSel>),
    Unwrap(String, Option<Conversion>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeFn {
    Count,
    Rate,
    Bytes,
    BytesRate,
    Absent,
    Sum,
    Avg,
    Min,
    Max,
    First,
    Last,
    Stddev,
    Stdvar,
    Quantile,
    RateCounter,
}

pub const RANGE_FNS: &[(&str, RangeFn)] = &[
    ("count_over_time", RangeFn::Count),
    ("rate", RangeFn::Rate),
    ("bytes_over_time", RangeFn::Bytes),
    ("bytes_rate", RangeFn::BytesRate),
    ("absent_over_time", RangeFn::Absent),
    ("sum_over_time", RangeFn::Sum),
    ("avg_over_time", RangeFn::Avg),
    ("min_over_time", RangeFn::Min),
    ("max_over_time", RangeFn::Max),
    ("first_over_time", RangeFn::First),
    ("last_over_time", RangeFn::Last),
    ("stddev_over_time", RangeFn::Stddev),
    ("stdvar_over_time", RangeFn::Stdvar),
    ("quantile_over_time", RangeFn::Quantile),
    ("rate_counter", RangeFn::RateCounter),
];

/// A function's name in its table.
fn name_in<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
    table
        .iter()
        .find(|(_, f)| *f == value)
        .map(|(n, _)| *n)
        .expect("every function is in its table")
}

impl RangeFn {
    pub fn name(self) -> &'static str {
        name_in(RANGE_FNS, self)
    }

    /// Whether it reads unwrapped values (else it counts lines or bytes).
    pub fn unwraps(self) -> bool {
        !matches!(
            self,
            RangeFn::Count | RangeFn::Bytes | RangeFn::BytesRate | RangeFn::Absent
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VecOp {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Stddev,
    Stdvar,
    Topk,
    Bottomk,
    Sort,
    SortDesc,
}

pub const VEC_OPS: &[(&str, VecOp)] = &[
    ("sum", VecOp::Sum),
    ("avg", VecOp::Avg),
    ("min", VecOp::Min),
    ("max", VecOp::Max),
    ("count", VecOp::Count),
    ("stddev", VecOp::Stddev),
    ("stdvar", VecOp::Stdvar),
    ("topk", VecOp::Topk),
    ("bottomk", VecOp::Bottomk),
    ("sort", VecOp::Sort),
    ("sort_desc", VecOp::SortDesc),
];

impl VecOp {
    pub fn name(self) -> &'static str {
        name_in(VEC_OPS, self)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grouping {
    pub without: bool,
    pub labels: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    Unless,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Or => "or",
            BinOp::And => "and",
            BinOp::Unless => "unless",
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Add => "+",
            BinOp::Sub => "-",
            BinOp::Mul => "*",
            BinOp::Div => "/",
            BinOp::Mod => "%",
            BinOp::Pow => "^",
        }
    }

    /// Binding strength: higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinOp::Or => 1,
            BinOp::And | BinOp::Unless => 2,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Ge | BinOp::Lt | BinOp::Le => 3,
            BinOp::Add | BinOp::Sub => 4,
            BinOp::Mul | BinOp::Div | BinOp::Mod => 5,
            BinOp::Pow => 6,
        }
    }

    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetricExpr {
    Range {
        func: RangeFn,
        /// `quantile_over_time`'s φ.
        param: Option<f64>,
        log: LogExpr,
        /// Milliseconds, with the text it was written as.
        range: (i64, String),
        offset: Option<(i64, String)>,
        grouping: Option<Grouping>,
    },
    Vector {
        op: VecOp,
        /// `topk`/`bottomk`'s k.
        param: Option<f64>,
        grouping: Option<Grouping>,
        inner: Box<MetricExpr>,
    },
    Binary {
        op: BinOp,
        /// `> bool`: comparisons answer 0 or 1 instead of filtering.
        return_bool: bool,
        lhs: Box<MetricExpr>,
        rhs: Box<MetricExpr>,
    },
    Number(f64),
    /// `vector(1)`: one series without labels (Grafana's health check asks `vector(1)+vector(1)`).
    VectorOf(f64),
    Paren(Box<MetricExpr>),
}
