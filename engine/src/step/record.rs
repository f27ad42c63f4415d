//! How results are recorded: result sets as bounded JSON rows, server errors with their
//! numbers, and read-only queries whose rows (or error) become observations.

use runledger_verifier::event::results::to_result;
use runledger_verifier::event::{SqlBatch, SqlError as RecordedError, SqlFailure, SqlMessage};
use serde_json::json;

use super::env::{Env, DEFAULT_TIMEOUT};
use crate::sql::{BatchResult, SqlError, SqlValue};

/// A result set as recorded: the format's, so the engine writes what readers decode.
pub use runledger_verifier::event::ResultSet as Rows;

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
pub fn sql_failure(e: &SqlError) -> SqlFailure {
    SqlFailure {
        error: RecordedError {
            number: e.number().map(i64::from),
            text: e.to_string(),
        },
        skipped: None,
        refused: false,
        reason: None,
    }
}

/// [`sql_failure`] as the JSON of a result.
pub fn sql_error_json(e: &SqlError) -> serde_json::Value {
    to_result(&sql_failure(e))
}

/// A batch's results as recorded.
pub fn sql_batch(result: &BatchResult) -> SqlBatch {
    SqlBatch {
        result_sets: rows_of(result),
        messages: result
            .messages
            .iter()
            .map(|m| SqlMessage {
                number: m.number,
                state: m.state,
                severity: m.severity,
                text: m.text.clone(),
            })
            .collect(),
        rows_affected: result.rows_affected.clone(),
        return_code: None,
        written: None,
    }
}

/// [`sql_batch`] as the JSON of a result.
pub fn batch_json(result: &BatchResult) -> serde_json::Value {
    to_result(&sql_batch(result))
}

/// Runs a read-only query for an observation: rows, or the error as recorded data.
pub async fn query(env: &Env, target: &str, text: &str) -> Result<Vec<Rows>, String> {
    env.sql(target, text, DEFAULT_TIMEOUT)
        .await
        .map(|r| rows_of(&r))
        .map_err(|e| e.to_string())
}
