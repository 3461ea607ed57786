//! The SQL primitives every statement is built from: a statement with its `?` binds (D1 takes
//! no named parameters), a WHERE clause assembled condition by condition, and D1's bind limit.
//! Pure: the D1 calls that run them are in `d1`.

use crate::error::{invalid_parameter as bad, AppError};

/// A value bound to a `?` of a statement. Serialised untagged (a JSON string or number), as
/// the event shards receive statements built at the edge.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum Bind {
    Text(String),
    Int(i64),
    Real(f64),
    /// SQL NULL (JSON null).
    Null,
}

/// A statement and its binds, in order.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SqlQuery {
    pub sql: String,
    pub binds: Vec<Bind>,
}

/// A WHERE clause built condition by condition, each condition's binds kept in its order:
/// the one place the log, group and stats queries assemble their filters.
#[derive(Debug, Default)]
pub struct Where {
    conditions: Vec<String>,
    binds: Vec<Bind>,
}

impl Where {
    /// One condition with its `?` binds, in order.
    pub fn add(&mut self, condition: impl Into<String>, binds: impl IntoIterator<Item = Bind>) {
        self.conditions.push(condition.into());
        self.binds.extend(binds);
    }

    /// `column IN (?, …)`; nothing when there are no values (no filter, not "match none").
    pub fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let marks = vec!["?"; values.len()].join(", ");
        self.add(
            format!("{column} IN ({marks})"),
            values.iter().cloned().map(Bind::Text),
        );
    }

    /// ` WHERE a AND b` (empty without conditions), and the binds in order.
    pub fn finish(self) -> (String, Vec<Bind>) {
        let clause = if self.conditions.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.conditions.join(" AND "))
        };
        (clause, self.binds)
    }
}

/// D1 binds at most 100 parameters per statement.
pub const MAX_BINDS: usize = 100;

/// A query built from many repeated filters (`tag.a=…&tag.b=…`, `level=a&level=b…`) could
/// exceed D1's parameter limit and fail as a 500; it is a 400 instead.
pub fn within_bind_limit(query: &SqlQuery) -> Result<(), AppError> {
    if query.binds.len() > MAX_BINDS {
        return Err(bad(format!(
            "too many filters: they need {} query parameters and the limit is {MAX_BINDS}",
            query.binds.len()
        )));
    }
    Ok(())
}
