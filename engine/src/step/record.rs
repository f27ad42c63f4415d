//! How results are recorded: result sets as bounded JSON rows, server errors with their
//! numbers, and read-only queries whose rows (or error) become observations.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::env::{Env, DEFAULT_TIMEOUT};
use crate::sql::{BatchResult, SqlError, SqlValue};

/// A result set as recorded: column names and rows of JSON values (bounded).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Rows {
    /// Column names.
    pub columns: Vec<String>,
    /// The rows in the order the server sent them, one value per column.
    pub rows: Vec<Vec<serde_json::Value>>,
}

impl Rows {
    fn get(&self, row: usize, column: &str) -> Option<&serde_json::Value> {
        let i = self
            .columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(column))?;
        self.rows.get(row)?.get(i)
    }

    /// A column's value as text (numbers as their decimal text), None for NULL or missing.
    pub fn text(&self, row: usize, column: &str) -> Option<String> {
        match self.get(row, column)? {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A column's value as an integer.
    pub fn int(&self, row: usize, column: &str) -> Option<i64> {
        match self.get(row, column)? {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::Bool(b) => Some(i64::from(*b)),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }
}

/// Most rows of one result set kept in the journal.
const MAX_ROWS: usize = 200;

fn value_json(v: &SqlValue) -> serde_json::Value {
    match v {
        SqlValue::Null => serde_json::Value::Null,
        SqlValue::Int(i) if i.unsigned_abs() < (1 << 53) => json!(i),
        SqlValue::Int(i) => json!(i.to_string()),
        SqlValue::Bool(b) => json!(b),
        SqlValue::Text(s)
        | SqlValue::Decimal(s)
        | SqlValue::DateTime(s)
        | SqlValue::Guid(s)
        | SqlValue::Bytes(s) => json!(s),
    }
}

/// A batch's result sets, bounded, as recorded.
pub fn rows_of(result: &BatchResult) -> Vec<Rows> {
    result
        .result_sets
        .iter()
        .map(|rs| Rows {
            columns: rs.columns.clone(),
            rows: rs
                .rows
                .iter()
                .take(MAX_ROWS)
                .map(|r| r.iter().map(value_json).collect())
                .collect(),
        })
        .collect()
}

/// A SQL error as recorded: its number (None for a connection failure) and text.
pub fn sql_error_json(e: &SqlError) -> serde_json::Value {
    json!({"error": {"number": e.number(), "text": e.to_string()}})
}

/// A batch's results as recorded.
pub fn batch_json(result: &BatchResult) -> serde_json::Value {
    json!({
        "result_sets": rows_of(result),
        "messages": result.messages.iter().map(|m| json!({"number": m.number, "state": m.state, "severity": m.severity, "text": m.text})).collect::<Vec<_>>(),
        "rows_affected": result.rows_affected,
    })
}

/// Runs a read-only query for an observation: rows, or the error as recorded data.
pub async fn query(env: &Env, target: &str, text: &str) -> Result<Vec<Rows>, String> {
    env.sql(target, text, DEFAULT_TIMEOUT)
        .await
        .map(|r| rows_of(&r))
        .map_err(|e| e.to_string())
}
